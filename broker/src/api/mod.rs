//! Request routing. [`SERVED`] is the single table that both routes requests and
//! builds the ApiVersions response, so we never advertise an API we do not serve.
//! Every served API accepts every version the `kafka-protocol` crate can decode.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use crate::Shared;

pub mod alter_configs;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_topic_partitions;
pub mod fetch;
pub mod fetch_encode;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;

/// APIs this broker serves.
pub static SERVED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DeleteRecords,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::DescribeLogDirs,
    ApiKey::CreatePartitions,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DescribeCluster,
    ApiKey::DescribeTopicPartitions,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::ListGroups,
    ApiKey::DescribeGroups,
    ApiKey::DeleteGroups,
    ApiKey::OffsetDelete,
    ApiKey::InitProducerId,
    ApiKey::ConsumerGroupHeartbeat,
    ApiKey::ConsumerGroupDescribe,
];

pub fn served_versions(key: ApiKey) -> Option<VersionRange> {
    use kafka_protocol::messages::{OffsetCommitRequest, OffsetFetchRequest};
    use kafka_protocol::protocol::Message;
    if !SERVED.contains(&key) {
        return None;
    }
    let r = key.valid_versions();
    // A few keys list a newer version than the crate can decode a request for.
    let decodable = match key {
        ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS.max,
        ApiKey::InitProducerId => kafka_protocol::messages::InitProducerIdRequest::VERSIONS.max,
        ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS.max,
        _ => r.max,
    };
    Some(VersionRange { min: r.min, max: r.max.min(decodable) })
}

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
    /// The request's effects are done; its response waits for something that must not
    /// hold up the next request (acks=all waiting for fsync). Runs as its own task.
    Deferred(Pin<Box<dyn Future<Output = Outcome> + Send>>),
}

/// Fields of the request header every handler may want.
pub struct RequestContext {
    pub shared: Arc<Shared>,
    pub version: i16,
    pub client_id: Option<String>,
    pub peer: std::net::SocketAddr,
}

pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

pub fn code(e: ResponseError) -> i16 {
    e.code()
}

fn api_name(key: ApiKey) -> &'static str {
    // Debug names (`Produce`, `Fetch`, ...) are what Kafka's request metrics use too.
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DeleteRecords => "DeleteRecords",
        ApiKey::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::DescribeLogDirs => "DescribeLogDirs",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::DescribeTopicPartitions => "DescribeTopicPartitions",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::DeleteGroups => "DeleteGroups",
        ApiKey::OffsetDelete => "OffsetDelete",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::ConsumerGroupHeartbeat => "ConsumerGroupHeartbeat",
        ApiKey::ConsumerGroupDescribe => "ConsumerGroupDescribe",
        _ => "Other",
    }
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

fn decode<T: Decodable>(body: &mut Bytes, key: ApiKey, version: i16) -> Result<T, String> {
    T::decode(body, version).map_err(|e| format!("malformed {key:?} v{version} request: {e}"))
}

/// Parses one request frame (without its size prefix) and runs its handler.
pub async fn dispatch(shared: Arc<Shared>, mut frame: Bytes, peer: std::net::SocketAddr) -> Outcome {
    if frame.len() < 8 {
        return Outcome::Close(format!("request frame of {} bytes is shorter than a request header", frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Ok(key) = ApiKey::try_from(raw_key) else {
        return Outcome::Close(format!("unknown API key {raw_key}"));
    };
    let Some(range) = served_versions(key) else {
        return Outcome::Close(format!("API {key:?} (key {raw_key}) is not served by this broker"));
    };
    if version < range.min || version > range.max {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer with a v0 response so the client can pick a version we have.
            let resp = api_versions::response(ResponseError::UnsupportedVersion.code());
            return respond(encode_response(key, 0, correlation_id, &resp));
        }
        return Outcome::Close(format!(
            "unsupported version {version} of {key:?} (we serve {}-{})",
            range.min, range.max
        ));
    }
    let header = match RequestHeader::decode(&mut frame, key.request_header_version(version)) {
        Ok(h) => h,
        Err(e) => return Outcome::Close(format!("malformed request header: {e}")),
    };
    let ctx = RequestContext { shared, version, client_id: header.client_id.as_ref().map(|c| c.to_string()), peer };
    let name = api_name(key);
    let started = Instant::now();
    metrics::counter!("weir_kafka_requests_total", "api" => name).increment(1);
    metrics::counter!("weir_kafka_request_bytes_total", "api" => name).increment(frame.len() as u64 + 8);
    let result = route(&ctx, key, &mut frame, correlation_id).await;
    match result {
        Outcome::Respond(buf) => {
            metrics::histogram!("weir_kafka_request_latency_seconds", "api" => name)
                .record(started.elapsed().as_secs_f64());
            metrics::counter!("weir_kafka_response_bytes_total", "api" => name).increment(buf.len() as u64);
            Outcome::Respond(buf)
        }
        Outcome::RespondParts(parts) => {
            metrics::histogram!("weir_kafka_request_latency_seconds", "api" => name)
                .record(started.elapsed().as_secs_f64());
            let len: usize = parts.iter().map(Bytes::len).sum();
            metrics::counter!("weir_kafka_response_bytes_total", "api" => name).increment(len as u64);
            Outcome::RespondParts(parts)
        }
        Outcome::Deferred(fut) => Outcome::Deferred(Box::pin(async move {
            let out = fut.await;
            metrics::histogram!("weir_kafka_request_latency_seconds", "api" => name)
                .record(started.elapsed().as_secs_f64());
            if let Outcome::Respond(buf) = &out {
                metrics::counter!("weir_kafka_response_bytes_total", "api" => name).increment(buf.len() as u64);
            }
            out
        })),
        other => {
            metrics::histogram!("weir_kafka_request_latency_seconds", "api" => name)
                .record(started.elapsed().as_secs_f64());
            other
        }
    }
}

fn respond(r: Result<BytesMut, String>) -> Outcome {
    match r {
        Ok(buf) => Outcome::Respond(buf),
        Err(e) => Outcome::Close(e),
    }
}

macro_rules! handle {
    ($ctx:expr, $key:expr, $body:expr, $corr:expr, $module:ident, $req:ty, async) => {{
        match decode::<$req>($body, $key, $ctx.version) {
            Ok(req) => respond(encode_response($key, $ctx.version, $corr, &$module::handle($ctx, req).await)),
            Err(e) => Outcome::Close(e),
        }
    }};
    ($ctx:expr, $key:expr, $body:expr, $corr:expr, $module:ident, $req:ty) => {{
        match decode::<$req>($body, $key, $ctx.version) {
            Ok(req) => respond(encode_response($key, $ctx.version, $corr, &$module::handle($ctx, req))),
            Err(e) => Outcome::Close(e),
        }
    }};
}

async fn route(ctx: &RequestContext, key: ApiKey, body: &mut Bytes, corr: i32) -> Outcome {
    use kafka_protocol::messages::*;
    match key {
        ApiKey::Produce => match decode::<ProduceRequest>(body, key, ctx.version) {
            Ok(req) => match produce::append(ctx, req) {
                None => Outcome::Silent,
                Some(staged) if staged.needs_wait() => {
                    let version = ctx.version;
                    Outcome::Deferred(Box::pin(async move {
                        respond(encode_response(key, version, corr, &produce::finish(staged).await))
                    }))
                }
                Some(staged) => respond(encode_response(key, ctx.version, corr, &produce::finish(staged).await)),
            },
            Err(e) => Outcome::Close(e),
        },
        ApiKey::Fetch => match decode::<FetchRequest>(body, key, ctx.version) {
            Ok(req) => match fetch_encode::encode(&fetch::handle(ctx, req).await, ctx.version, corr) {
                Ok(parts) => Outcome::RespondParts(parts),
                Err(e) => Outcome::Close(e),
            },
            Err(e) => Outcome::Close(e),
        },
        ApiKey::ListOffsets => handle!(ctx, key, body, corr, list_offsets, ListOffsetsRequest),
        ApiKey::Metadata => handle!(ctx, key, body, corr, metadata, MetadataRequest, async),
        ApiKey::ApiVersions => handle!(ctx, key, body, corr, api_versions, ApiVersionsRequest),
        ApiKey::CreateTopics => handle!(ctx, key, body, corr, create_topics, CreateTopicsRequest, async),
        ApiKey::DeleteTopics => handle!(ctx, key, body, corr, delete_topics, DeleteTopicsRequest, async),
        ApiKey::DeleteRecords => handle!(ctx, key, body, corr, delete_records, DeleteRecordsRequest, async),
        ApiKey::OffsetForLeaderEpoch => {
            handle!(ctx, key, body, corr, offset_for_leader_epoch, OffsetForLeaderEpochRequest)
        }
        ApiKey::DescribeConfigs => handle!(ctx, key, body, corr, describe_configs, DescribeConfigsRequest),
        ApiKey::AlterConfigs => handle!(ctx, key, body, corr, alter_configs, AlterConfigsRequest, async),
        ApiKey::DescribeLogDirs => handle!(ctx, key, body, corr, describe_log_dirs, DescribeLogDirsRequest),
        ApiKey::CreatePartitions => handle!(ctx, key, body, corr, create_partitions, CreatePartitionsRequest, async),
        ApiKey::IncrementalAlterConfigs => {
            handle!(ctx, key, body, corr, incremental_alter_configs, IncrementalAlterConfigsRequest, async)
        }
        ApiKey::DescribeCluster => handle!(ctx, key, body, corr, describe_cluster, DescribeClusterRequest),
        ApiKey::DescribeTopicPartitions => {
            handle!(ctx, key, body, corr, describe_topic_partitions, DescribeTopicPartitionsRequest)
        }
        ApiKey::FindCoordinator => handle!(ctx, key, body, corr, find_coordinator, FindCoordinatorRequest),
        ApiKey::JoinGroup => handle!(ctx, key, body, corr, join_group, JoinGroupRequest, async),
        ApiKey::SyncGroup => handle!(ctx, key, body, corr, sync_group, SyncGroupRequest, async),
        ApiKey::Heartbeat => handle!(ctx, key, body, corr, heartbeat, HeartbeatRequest),
        ApiKey::LeaveGroup => handle!(ctx, key, body, corr, leave_group, LeaveGroupRequest, async),
        ApiKey::OffsetCommit => handle!(ctx, key, body, corr, offset_commit, OffsetCommitRequest, async),
        ApiKey::OffsetFetch => handle!(ctx, key, body, corr, offset_fetch, OffsetFetchRequest),
        ApiKey::ListGroups => handle!(ctx, key, body, corr, list_groups, ListGroupsRequest),
        ApiKey::DescribeGroups => handle!(ctx, key, body, corr, describe_groups, DescribeGroupsRequest),
        ApiKey::DeleteGroups => handle!(ctx, key, body, corr, delete_groups, DeleteGroupsRequest, async),
        ApiKey::OffsetDelete => handle!(ctx, key, body, corr, offset_delete, OffsetDeleteRequest, async),
        ApiKey::InitProducerId => handle!(ctx, key, body, corr, init_producer_id, InitProducerIdRequest, async),
        ApiKey::ConsumerGroupHeartbeat => {
            handle!(ctx, key, body, corr, consumer_group_heartbeat, ConsumerGroupHeartbeatRequest)
        }
        ApiKey::ConsumerGroupDescribe => {
            handle!(ctx, key, body, corr, consumer_group_describe, ConsumerGroupDescribeRequest)
        }
        _ => Outcome::Close(format!("API {key:?} is not served by this broker")),
    }
}

/// Runs blocking storage/metadata work (fsync, file creation) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
