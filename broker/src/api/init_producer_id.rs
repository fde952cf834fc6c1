//! InitProducerId (key 22): a producer id and epoch. Without a transactional id,
//! a fresh id with epoch 0 every time (as Kafka does for idempotent producers), so
//! a restarted producer never collides with its old sequence numbers. With one,
//! the transaction coordinator bumps the id's epoch, fencing earlier producers and
//! aborting their open transaction (KIP-360: a producer may name its current id and
//! epoch to recover from an abortable error).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::{blocking, errors, RequestContext};
use crate::auth::{Operation, Resource};
use crate::producer_clients::ProducerClient;

/// InitProducerId v4 introduced PRODUCER_FENCED.
const FENCED_SINCE: i16 = 4;

pub async fn handle(ctx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let fail = |e: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    let b = ctx.broker.clone();
    let note = |pid: i64, transactional_id: Option<String>| {
        let client = ProducerClient {
            client_id: ctx.client_id.clone().unwrap_or_default(),
            host: ctx.session.peer.ip().to_string(),
            transactional_id,
            at_ms: ctx.broker.clock().now_ms(),
        };
        ctx.broker.producer_clients().record(pid, client);
    };
    let Some(id) = req.transactional_id.map(|t| t.0.to_string()) else {
        // Idempotence: IDEMPOTENT_WRITE on the cluster, or WRITE on some topic (KIP-679).
        if !ctx.may(Operation::IdempotentWrite, Resource::Cluster)
            && !ctx.authorize_any(Operation::Write, Resource::Topic(""))
        {
            ctx.authorize(Operation::IdempotentWrite, Resource::Cluster); // the audit line
            return fail(ResponseError::ClusterAuthorizationFailed);
        }
        return match blocking(move || b.allocate_producer_id()).await {
            Ok(id) => {
                note(id, None);
                InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0)
            }
            Err(e) => {
                tracing::error!(error = %e, "could not allocate a producer id");
                fail(ResponseError::CoordinatorNotAvailable)
            }
        };
    };
    if !ctx.authorize(Operation::Write, Resource::TransactionalId(&id)) {
        return fail(ResponseError::TransactionalIdAuthorizationFailed);
    }
    if id == super::produce::COPY_TRANSACTIONAL_ID {
        // Reserved: it marks the mirror's offset-preserving copies.
        return fail(ResponseError::InvalidRequest);
    }
    let expected = (ctx.version >= 3 && req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    let timeout = req.transaction_timeout_ms;
    let tid = id.clone();
    match blocking(move || b.txn().init_producer_id(&id, timeout, expected)).await {
        Ok((pid, epoch)) => {
            note(pid, Some(tid));
            InitProducerIdResponse::default().with_producer_id(ProducerId(pid)).with_producer_epoch(epoch)
        }
        Err(e) => fail(errors::txn(&e, ctx.version, FENCED_SINCE)),
    }
}
