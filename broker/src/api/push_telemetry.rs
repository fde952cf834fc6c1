//! PushTelemetry (key 72, KIP-714): a client's metrics, kept by the broker and
//! exported on `/metrics` (see `crate::telemetry`), with Kafka's refusals.

use kafka_protocol::messages::{PushTelemetryRequest, PushTelemetryResponse};
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::telemetry::PushError;

pub fn handle(ctx: &RequestContext, req: PushTelemetryRequest) -> PushTelemetryResponse {
    let now = ctx.broker.clock().now_ms();
    let r = ctx.broker.telemetry().push(
        req.client_instance_id,
        req.subscription_id,
        req.terminating,
        req.compression_type,
        &req.metrics,
        now,
    );
    let code = match r {
        Ok(()) => 0,
        Err(PushError::UnknownSubscription) => ResponseError::UnknownSubscriptionId.code(),
        Err(PushError::TooEarly) => ResponseError::ThrottlingQuotaExceeded.code(),
        Err(PushError::TooLarge) => ResponseError::TelemetryTooLarge.code(),
        Err(PushError::UnsupportedCompression) => ResponseError::UnsupportedCompressionType.code(),
        Err(PushError::Invalid(reason)) => {
            tracing::debug!(client.id = ctx.client_id.as_deref().unwrap_or(""), %reason, "telemetry push refused");
            ResponseError::InvalidRecord.code()
        }
    };
    PushTelemetryResponse::default().with_error_code(code)
}
