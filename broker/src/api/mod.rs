//! Request dispatch: frame → header → route (`routes.rs`) → handler, inside a
//! tracing span per request (Kafka's names: `api`, `api.version`,
//! `correlation.id`, `client.id`, `peer`), with the route's metrics. One file
//! per Kafka API; handlers call the [`BrokerHandle`] and map its typed errors to
//! Kafka codes with `errors.rs`.

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::ResponseError;
use tracing::Instrument;

use crate::auth::{Operation, Resource};
use crate::handle::BrokerHandle;
use crate::net::Session;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod add_raft_voter;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod alter_replica_log_dirs;
pub mod alter_share_group_offsets;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_delegation_token;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_share_group_offsets;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_delegation_token;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_share_group_offsets;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod error_codes;
pub mod errors;
pub mod expire_delegation_token;
pub mod fetch;
pub mod fetch_encode;
pub mod find_coordinator;
pub mod get_telemetry_subscriptions;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_config_resources;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod metrics;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod push_telemetry;
pub mod remove_raft_voter;
pub mod renew_delegation_token;
pub mod routes;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod share_acknowledge;
pub mod share_fetch;
pub mod share_group_describe;
pub mod share_group_heartbeat;
pub mod stats;
pub mod sync_group;
pub mod throttle_time;
pub mod txn_offset_commit;
pub mod unregister_broker;
pub mod update_features;
pub mod write_txn_markers;

use self::metrics::ApiMetrics;
use routes::Handler;

/// What the connection does with a request.
pub enum Outcome {
    /// A complete response frame, size prefix included.
    Respond(BytesMut),
    /// A response frame in parts (size prefix in the first), written in order with
    /// vectored writes: record sets stay zero-copy slices of the segments.
    RespondParts(Vec<Bytes>),
    /// acks=0 produce: nothing is sent back.
    Silent,
    /// The request cannot be answered in the protocol; Kafka closes the connection.
    Close(String),
    /// A last response (a failed authentication), then the connection closes.
    Final(BytesMut, String),
    /// The request's effects are done; its response waits for something that must not
    /// hold up the next request (acks=all waiting for fsync). Runs as its own task.
    Deferred(routes::BoxFuture),
}

/// One request, as its handler sees it.
#[derive(Clone)]
pub struct RequestContext {
    pub broker: BrokerHandle,
    pub session: Arc<Session>,
    pub key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
}

/// The message of a group description refused by [`RequestContext::may_describe_group_topics`], Kafka's words.
pub const GROUP_TOPICS_UNDESCRIBABLE: &str =
    "The group has described topic(s) that the client is not authorized to describe.";

impl RequestContext {
    /// The authorization hook: may this session do `operation` on `resource`?
    /// A refusal is written to the audit log (target `weir::audit`).
    pub fn authorize(&self, operation: Operation, resource: Resource<'_>) -> bool {
        let allowed = self.may(operation, resource);
        if !allowed {
            let (ty, name) = crate::acl::authorizer::resource_key(&resource);
            tracing::info!(target: "weir::audit", principal = %self.session.principal(), host = %self.session.peer.ip(),
                operation = crate::acl::model::operation_name(operation.code() as i8),
                resource_type = crate::acl::model::resource_type_name(ty), resource_name = name,
                api = self.api_name(), "denied");
        }
        allowed
    }

    /// Kafka's check of a group heartbeat's subscribed topic names: DESCRIBE on
    /// each; the message naming those refused, if any.
    pub fn undescribable_topics<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let hidden: Vec<&str> =
            names.into_iter().filter(|t| !self.authorize(Operation::Describe, Resource::Topic(t))).collect();
        (!hidden.is_empty()).then(|| format!("Unauthorized topics: {}", hidden.join(", ")))
    }

    /// Kafka's check of a KIP-848 or share group's description: the caller may
    /// describe every topic its members are assigned (each name checked once,
    /// a denial audited). Where it may not, the group is refused whole
    /// ([`GROUP_TOPICS_UNDESCRIBABLE`]) rather than shown without them.
    pub fn may_describe_group_topics<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> bool {
        let names: std::collections::BTreeSet<&str> = names.into_iter().collect();
        names.into_iter().all(|t| self.authorize(Operation::Describe, Resource::Topic(t)))
    }

    /// Records `bytes` against the client's byte-rate quota of `kind`: how long
    /// it is throttled (ms; 0 when under its quota or without one). The
    /// connection reads nothing more from the client until then.
    pub fn throttle(&self, kind: crate::quotas::throttle::Kind, bytes: usize) -> u64 {
        throttle_time::charge(&self.broker, &self.session, kind, self.client_id.as_deref(), bytes)
    }

    /// The most one fetch may carry under the client's fetch quota, if any.
    pub fn fetch_quota_bound(&self) -> Option<usize> {
        let user = &self.session.principal().name;
        self.broker.core.throttler.fetch_bound(user, self.client_id.as_deref().unwrap_or(""))
    }

    /// Kafka's `authorizeByResourceType`: `operation` on some resource of
    /// `resource`'s type (its name is ignored).
    pub fn authorize_any(&self, operation: Operation, resource: Resource<'_>) -> bool {
        self.broker.authorizer().authorize_any(&self.session, operation, resource)
    }

    /// As [`RequestContext::authorize`], without the audit line: for what Kafka
    /// filters out silently (topics of a full Metadata request, groups of
    /// ListGroups, authorized-operations fields).
    pub fn may(&self, operation: Operation, resource: Resource<'_>) -> bool {
        self.broker.authorizer().authorize(&self.session, operation, resource)
    }

    /// An `*_authorized_operations` field: a bit per operation (by its Kafka code)
    /// that the caller may perform on `resource`, asked of the authorizer one by
    /// one as Kafka does; the omitted marker when the client did not ask.
    pub fn authorized_operations(&self, asked: bool, resource: Resource<'_>) -> i32 {
        if !asked {
            return crate::auth::AUTHORIZED_OPS_OMITTED;
        }
        resource
            .supported_operations()
            .iter()
            .filter(|op| self.may(**op, resource))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }

    /// The client's host as Kafka reports it in group descriptions (`/1.2.3.4`).
    pub fn client_host(&self) -> String {
        format!("/{}", self.session.peer.ip())
    }
}

pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Encodes a response frame: size, response header, body.
pub fn encode_response<R: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<BytesMut, String> {
    let header_version = key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| body.compute_size(version).map(|b| h + b))
        .map_err(|e| format!("cannot size {key:?} v{version} response: {e}"))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header
        .encode(&mut buf, header_version)
        .and_then(|_| body.encode(&mut buf, version))
        .map_err(|e| format!("cannot encode {key:?} v{version} response: {e}"))?;
    Ok(buf)
}

impl RequestContext {
    /// Kafka's name of this request's API (the route's, as metrics name it).
    pub fn api_name(&self) -> &'static str {
        routes::route(self.key as i16).map_or("Unknown", |r| r.name)
    }
}

/// The response to `ctx`'s request (its errors counted), or a closed connection
/// if it cannot be encoded.
pub fn respond<R: Encodable + error_codes::ErrorCodes>(ctx: &RequestContext, body: &R) -> Outcome {
    error_codes::count(ctx.key, body);
    match encode_response(ctx.key, ctx.version, ctx.correlation_id, body) {
        Ok(buf) => Outcome::Respond(buf),
        Err(e) => Outcome::Close(e),
    }
}

/// Parses one request frame (without its size prefix) and runs its handler.
pub async fn dispatch(
    broker: &BrokerHandle,
    metrics: &ApiMetrics,
    session: &Arc<Session>,
    mut frame: Bytes,
) -> Outcome {
    if frame.len() < 8 {
        return Outcome::Close(format!("request frame of {} bytes is shorter than a request header", frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Some(route) = routes::route(raw_key) else {
        return Outcome::Close(match ApiKey::try_from(raw_key) {
            Ok(key) => format!("API {key:?} (key {raw_key}) is not served by this broker"),
            Err(_) => format!("unknown API key {raw_key}"),
        });
    };
    let key = route.key;
    if version < route.versions.min || version > route.versions.max {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer with a v0 response so the client can pick a version we have.
            let resp = api_versions::response(ResponseError::UnsupportedVersion.code());
            error_codes::count(key, &resp);
            return match encode_response(key, 0, correlation_id, &resp) {
                Ok(buf) => Outcome::Respond(buf),
                Err(e) => Outcome::Close(e),
            };
        }
        return Outcome::Close(format!(
            "unsupported version {version} of {key:?} (we serve {}-{})",
            route.versions.min, route.versions.max
        ));
    }
    let header = match RequestHeader::decode(&mut frame, key.request_header_version(version)) {
        Ok(h) => h,
        Err(e) => return Outcome::Close(format!("malformed request header: {e}")),
    };
    let client_id = header.client_id.as_ref().map(|c| c.to_string());
    let span = tracing::debug_span!(
        "request",
        api = route.name,
        api.version = version,
        correlation.id = correlation_id,
        client.id = client_id.as_deref().unwrap_or(""),
        peer = %session.peer,
    );
    // Request-time quotas (`request_percentage`): the client id outlives the context.
    let quota_client = (!QUOTA_EXEMPT.contains(&key) && broker.request_quotas()).then(|| client_id.clone());
    let ctx =
        RequestContext { broker: broker.clone(), session: session.clone(), key, version, correlation_id, client_id };
    span.in_scope(|| tracing::debug!(request.bytes = frame.len() + 8, "received"));
    let m = metrics.of(route);
    let started = Instant::now();
    m.requests.increment(1);
    m.request_bytes.increment(frame.len() as u64 + 8);
    let mut busy = std::time::Duration::ZERO;
    let mut outcome = match (route.handler, &quota_client) {
        (Handler::Sync(f), _) => span.in_scope(|| f(&ctx, frame)),
        (Handler::Async(f), None) => f(ctx, frame).instrument(span.clone()).await,
        (Handler::Async(f), Some(_)) => {
            throttle_time::Busy { fut: f(ctx, frame), busy: &mut busy }.instrument(span.clone()).await
        }
    };
    let request_throttle = match quota_client {
        // An acks=0 produce is not charged request time, as in Kafka.
        Some(_) if matches!(outcome, Outcome::Silent) => 0,
        Some(client) => {
            let busy = if matches!(route.handler, Handler::Sync(_)) { started.elapsed() } else { busy };
            throttle_time::record_request(broker, session, client.as_deref(), busy)
        }
        None => 0,
    };
    if request_throttle > 0 {
        throttle_time::raise(&mut outcome, key, version, request_throttle);
    }
    let stats = &stats::ROUTE_STATS[route.index];
    let record = |out: &Outcome| {
        let took = started.elapsed().as_secs_f64();
        m.latency.record(took);
        stats.record_latency(took);
        match out {
            Outcome::Respond(buf) | Outcome::Final(buf, _) => m.response_bytes.increment(buf.len() as u64),
            Outcome::RespondParts(parts) => m.response_bytes.increment(parts.iter().map(|p| p.len() as u64).sum()),
            _ => {}
        }
    };
    match outcome {
        Outcome::Deferred(fut) => {
            let (latency, response_bytes) = (m.latency.clone(), m.response_bytes.clone());
            Outcome::Deferred(Box::pin(
                async move {
                    let mut out = fut.await;
                    if request_throttle > 0 {
                        throttle_time::raise(&mut out, key, version, request_throttle);
                    }
                    log_outcome(&out, started);
                    let took = started.elapsed().as_secs_f64();
                    latency.record(took);
                    stats.record_latency(took);
                    if let Outcome::Respond(buf) = &out {
                        response_bytes.increment(buf.len() as u64);
                    }
                    out
                }
                .instrument(span),
            ))
        }
        other => {
            record(&other);
            span.in_scope(|| log_outcome(&other, started));
            other
        }
    }
}

/// APIs whose time counts against no quota, as in Kafka: what a client needs
/// to connect and authenticate.
const QUOTA_EXEMPT: [ApiKey; 3] = [ApiKey::ApiVersions, ApiKey::SaslHandshake, ApiKey::SaslAuthenticate];

/// One debug line per request, inside its span (API, version, correlation id,
/// client id, peer): `RUST_LOG=weir_broker=debug` traces a client's conversation.
fn log_outcome(out: &Outcome, started: Instant) {
    let elapsed_us = started.elapsed().as_micros() as u64;
    match out {
        Outcome::Respond(buf) => tracing::debug!(response.bytes = buf.len(), elapsed_us, "answered"),
        Outcome::RespondParts(parts) => {
            let bytes: usize = parts.iter().map(|p| p.len()).sum();
            tracing::debug!(response.bytes = bytes, elapsed_us, "answered");
        }
        Outcome::Silent => tracing::debug!(elapsed_us, "done, no response (acks=0)"),
        Outcome::Close(reason) => tracing::debug!(elapsed_us, reason = %reason, "refused; closing the connection"),
        Outcome::Final(buf, reason) => {
            tracing::debug!(response.bytes = buf.len(), elapsed_us, reason = %reason, "answered; closing the connection")
        }
        Outcome::Deferred(_) => tracing::debug!(elapsed_us, "done; the response waits for the flush"),
    }
}

/// Runs blocking storage/metadata work (fsync, file creation) off the async workers.
pub use crate::blocking;
