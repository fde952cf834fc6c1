//! AddOffsetsToTxn (key 25): the group's `__consumer_offsets` partition joins the
//! producer's transaction, so TxnOffsetCommit can write there.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use kafka_protocol::ResponseError;

use super::{blocking, errors, RequestContext};
use crate::auth::{Operation, Resource};

/// AddOffsetsToTxn v2 introduced PRODUCER_FENCED.
const FENCED_SINCE: i16 = 2;

pub async fn handle(ctx: &RequestContext, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let id = req.transactional_id.0.to_string();
    let group = req.group_id.0.to_string();
    if !ctx.authorize(Operation::Write, Resource::TransactionalId(&id)) {
        return AddOffsetsToTxnResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    if !ctx.authorize(Operation::Read, Resource::Group(&group)) {
        return AddOffsetsToTxnResponse::default().with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let b = ctx.broker.clone();
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    let code = match blocking(move || b.txn().add_offsets(&id, pid, epoch, &group)).await {
        Ok(()) => 0,
        Err(e) => errors::txn(&e, ctx.version, FENCED_SINCE).code(),
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
