//! InitProducerId (key 22): a fresh producer id for idempotent producers. Each call
//! gets a new id with epoch 0 (as Kafka does for producers without a transactional
//! id), so a restarted producer never collides with its old sequence numbers.
//! Transactional ids are refused until transactions exist.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::{blocking, RequestContext};

pub async fn handle(ctx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let fail = |e: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.is_some() {
        return fail(ResponseError::InvalidRequest);
    }
    let b = ctx.broker.clone();
    match blocking(move || b.allocate_producer_id()).await {
        Ok(id) => InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "could not allocate a producer id");
            fail(ResponseError::CoordinatorNotAvailable)
        }
    }
}
