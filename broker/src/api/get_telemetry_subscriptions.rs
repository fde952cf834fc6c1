//! GetTelemetrySubscriptions (key 71, KIP-714): which metrics this client should
//! push and how often (see `crate::telemetry`). A client without an instance id
//! gets one.

use kafka_protocol::messages::{GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse};
use uuid::Uuid;

use super::{str_bytes, RequestContext};
use crate::telemetry::{ClientAttributes, MAX_BYTES};

/// The codecs pushes may use, Kafka's preference first: zstd, lz4, gzip, snappy.
const ACCEPTED_CODECS: [i8; 4] = [4, 3, 1, 2];

pub fn handle(ctx: &RequestContext, req: GetTelemetrySubscriptionsRequest) -> GetTelemetrySubscriptionsResponse {
    let instance = if req.client_instance_id.is_nil() { Uuid::new_v4() } else { req.client_instance_id };
    let (software_name, software_version) = ctx.session.software.get().cloned().unwrap_or_default();
    let client = ClientAttributes {
        client_id: ctx.client_id.clone().unwrap_or_default(),
        software_name,
        software_version,
        source_address: ctx.session.peer.ip().to_string(),
        source_port: ctx.session.peer.port().to_string(),
    };
    let sub = ctx.broker.telemetry_subscription(instance, &client);
    ctx.broker.telemetry().subscribe(instance, client, sub.clone(), ctx.broker.clock().now_ms());
    GetTelemetrySubscriptionsResponse::default()
        .with_client_instance_id(instance)
        .with_subscription_id(sub.id)
        .with_accepted_compression_types(ACCEPTED_CODECS.to_vec())
        .with_push_interval_ms(sub.interval_ms as i32)
        .with_telemetry_max_bytes(MAX_BYTES as i32)
        .with_delta_temporality(false)
        .with_requested_metrics(sub.metrics.into_iter().map(str_bytes).collect())
}
