//! EndTxn (key 26): commits or aborts the producer's transaction. Answered once
//! every marker is on disk and the transaction is complete.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::{blocking, errors, RequestContext};
use crate::auth::{Operation, Resource};

/// EndTxn v2 introduced PRODUCER_FENCED.
const FENCED_SINCE: i16 = 2;

pub async fn handle(ctx: &RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let id = req.transactional_id.0.to_string();
    let resp = EndTxnResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    if !ctx.authorize(Operation::Write, Resource::TransactionalId(&id)) {
        return resp.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    let b = ctx.broker.clone();
    let (pid, epoch, commit) = (req.producer_id.0, req.producer_epoch, req.committed);
    match blocking(move || b.txn().end_txn(&id, pid, epoch, commit)).await {
        Ok(()) => resp,
        Err(e) => resp.with_error_code(errors::txn(&e, ctx.version, FENCED_SINCE).code()),
    }
}
