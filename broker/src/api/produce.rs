//! Produce (key 0): appends batches as the wire carries them, through each
//! partition's `append_from_client`; acks=-1 waits for the durable flush (group
//! commit) when the topic uses the default durable policy.
//!
//! A request whose `transactional_id` is [`COPY_TRANSACTIONAL_ID`] carries
//! batches copied by `weir mirror` in offset-preserving mode: each is appended
//! at the offset it carries (`Partition::append_copied`), only to mirror
//! topics, and only for a principal allowed ClusterAction, as replication is.
//! Each partition's data may carry the tagged field [`COPY_EXPECTED_END_TAG`]
//! (an i64, big-endian): where the copier believes the log ends before it; a
//! log that ends short of it is refused the copy (OUT_OF_ORDER_SEQUENCE_NUMBER),
//! so a lost copy never leaves a hole. Nothing else about such a request is
//! transactional.
//!
//! The appends of one request run together, on the connection's task when the
//! request is small and on a blocking thread otherwise (file writes; a segment
//! roll creates files; see [`INLINE_APPEND_MAX_BYTES`]), finished before the
//! connection reads its next request, so one producer's pipelined requests land
//! in the order they were sent.
//! The wait for fsync then runs as a deferred task, so pipelined requests share
//! one fsync.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::ResponseError;
use tokio::task::JoinSet;

use super::routes::{decode, BoxFuture};
use super::{blocking, errors, respond, str_bytes, Outcome, RequestContext};
use crate::auth::{Operation, Resource};
use crate::partition::Partition;

/// The reserved `transactional_id` that marks a Produce request as an
/// offset-preserving copy (no transactional producer may use it).
pub const COPY_TRANSACTIONAL_ID: &str = "__weir_mirror_copy";

/// The Produce v9+ partition-level tagged field of a copy's expected log end.
/// Far above the tags Kafka numbers from 0, so a future Kafka field cannot
/// collide with it.
pub const COPY_EXPECTED_END_TAG: i32 = 0x5745;

/// A produce request up to this size appends on the connection's own task; a
/// larger one on a blocking thread. Handing an append to a blocking thread and
/// back costs two thread wake-ups (tens of microseconds on a busy two-core VM,
/// and most of the broker's CPU when many small requests arrive: one consumer
/// per partition at 50 MB/s over 1,000 partitions is some 50,000 one-record
/// requests a second, since librdkafka puts one partition in a request), more
/// than copying 64 KiB into the page cache. A big append keeps its hop: a MiB
/// batch holds a worker for a millisecond or more, which the other connections
/// of that worker would wait out. Either way the append runs to its end once
/// begun (a produce request is not cancelled with its connection).
const INLINE_APPEND_MAX_BYTES: usize = 64 << 10;

fn failed(index: i32, err: ResponseError, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(err.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message.map(str_bytes))
}

/// Appends done; what is left is waiting for durability (acks=-1 on durable topics).
pub struct Staged {
    responses: Vec<TopicProduceResponse>,
    /// (topic index, partition index, partition, offset that must be durable)
    waits: Vec<(usize, usize, Arc<Partition>, i64)>,
    timeout_ms: i32,
}

pub fn route(ctx: RequestContext, mut body: Bytes) -> BoxFuture {
    Box::pin(async move {
        let request_bytes = body.len();
        let req = match decode::<ProduceRequest>(&mut body, &ctx) {
            Ok(r) => r,
            Err(e) => return Outcome::Close(e),
        };
        let staged = if request_bytes <= INLINE_APPEND_MAX_BYTES {
            append(&ctx, req)
        } else {
            let c = ctx.clone();
            blocking(move || append(&c, req)).await
        };
        // Kafka measures a produce quota by the request's size, once it is handled.
        let throttle = ctx.throttle(crate::quotas::throttle::Kind::Produce, request_bytes);
        let Some(staged) = staged else { return Outcome::Silent };
        let version = ctx.version;
        let throttled = move |r: ProduceResponse| match version >= 1 {
            true => r.with_throttle_time_ms(throttle.min(i32::MAX as u64) as i32),
            false => r,
        };
        if staged.waits.is_empty() {
            return respond(&ctx, &throttled(finish(staged).await));
        }
        Outcome::Deferred(Box::pin(async move { respond(&ctx, &throttled(finish(staged).await)) }))
    })
}

/// Appends every partition's batches. `None` for acks=0, which gets no response.
/// Blocking.
pub fn append(ctx: &RequestContext, req: ProduceRequest) -> Option<Staged> {
    let broker = &ctx.broker;
    let acks = req.acks;
    let by_id = ctx.version >= 13;
    let unknown = if by_id { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
    let mut responses: Vec<TopicProduceResponse> = Vec::with_capacity(req.topic_data.len());
    let mut waits = Vec::new();
    let copy = req.transactional_id.as_ref().is_some_and(|t| t.0.as_str() == COPY_TRANSACTIONAL_ID);
    let copy_allowed = copy && ctx.authorize(Operation::ClusterAction, Resource::Cluster);
    // A transactional producer needs WRITE on its transactional id, else the whole request fails.
    let txn_refused = !copy
        && req
            .transactional_id
            .as_ref()
            .is_some_and(|t| !ctx.authorize(Operation::Write, Resource::TransactionalId(t.0.as_str())));
    for topic in req.topic_data {
        let name = if by_id {
            broker.topics().by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.name.0.to_string())
        };
        let parts = name.as_deref().and_then(|n| broker.partitions().topic(n));
        let allowed = if copy {
            copy_allowed
        } else {
            name.as_deref().is_none_or(|n| ctx.authorize(Operation::Write, Resource::Topic(n)))
        };
        let mut out = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            if txn_refused {
                out.push(failed(p.index, ResponseError::TransactionalIdAuthorizationFailed, None));
                continue;
            }
            if !allowed && copy {
                out.push(failed(p.index, ResponseError::ClusterAuthorizationFailed, None));
                continue;
            }
            // Before the existence check: a refused principal does not learn which topics exist.
            if !allowed && name.is_some() {
                out.push(failed(p.index, ResponseError::TopicAuthorizationFailed, None));
                continue;
            }
            let Some(parts) = parts.as_ref() else {
                out.push(failed(p.index, unknown, None));
                continue;
            };
            if !matches!(acks, -1..=1) {
                out.push(failed(p.index, ResponseError::InvalidRequiredAcks, None));
                continue;
            }
            let Some(partition) = usize::try_from(p.index).ok().and_then(|i| parts.get(i)) else {
                out.push(failed(p.index, ResponseError::UnknownTopicOrPartition, None));
                continue;
            };
            let records = p.records.unwrap_or_default();
            let txn = crate::txn::RequestVerifier {
                coordinator: broker.txn().as_ref(),
                transactional_id: req.transactional_id.as_ref().map(|t| t.0.as_str()),
            };
            let appended = if copy {
                let expected = p
                    .unknown_tagged_fields
                    .get(&COPY_EXPECTED_END_TAG)
                    .and_then(|b| <[u8; 8]>::try_from(&b[..]).ok())
                    .map(i64::from_be_bytes);
                partition.append_copied(&records, acks, expected)
            } else {
                partition.append_from_client(&records, acks, broker.schema_lookup(), Some(&txn))
            };
            match appended {
                Ok(done) => {
                    let info = &done.info;
                    if info.duplicate {
                        tracing::debug!(topic = %partition.topic(), partition = p.index, base_offset = info.first_offset, "retried batch of an idempotent producer is already in the log");
                    }
                    if done.needs_flush {
                        waits.push((responses.len(), out.len(), partition.clone(), info.last_offset + 1));
                    }
                    out.push(
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_base_offset(info.first_offset)
                            .with_log_append_time_ms(info.log_append_time)
                            .with_log_start_offset(info.log_start_offset),
                    );
                }
                Err(e) => {
                    tracing::debug!(topic = %partition.topic(), partition = p.index, error = %e, "produce rejected");
                    let mut r = failed(p.index, errors::append(&e), Some(e.to_string()));
                    if let crate::partition::AppendError::KeylessRecords { records, .. } = &e {
                        // v8+: which records, so the client can fail just those.
                        r = r.with_record_errors(
                            records
                                .iter()
                                .map(|i| {
                                    BatchIndexAndErrorMessage::default()
                                        .with_batch_index(*i)
                                        .with_batch_index_error_message(Some(str_bytes(e.to_string())))
                                })
                                .collect(),
                        );
                    }
                    out.push(r);
                }
            }
        }
        let mut tr = TopicProduceResponse::default().with_partition_responses(out);
        tr = match (&name, &parts) {
            (Some(n), Some(ps)) => tr
                .with_name(TopicName(str_bytes(n.clone())))
                .with_topic_id(ps.first().map(|p| p.topic_id()).unwrap_or_default()),
            _ => tr.with_name(topic.name).with_topic_id(topic.topic_id),
        };
        responses.push(tr);
    }
    if acks == 0 {
        return None;
    }
    Some(Staged { responses, waits, timeout_ms: req.timeout_ms })
}

/// Waits (off the connection's task) until the appended data is durable, bounded by
/// the request's timeout, and builds the response.
pub async fn finish(staged: Staged) -> ProduceResponse {
    let Staged { mut responses, waits, timeout_ms } = staged;
    if !waits.is_empty() {
        let mut outstanding: Vec<(usize, usize)> = waits.iter().map(|w| (w.0, w.1)).collect();
        let mut set = JoinSet::new();
        for (ti, pi, partition, offset) in waits {
            set.spawn_blocking(move || (ti, pi, partition.flush_to(offset)));
        }
        // A zero timeout cannot be met by any fsync; wait for one rather than fail.
        let timeout = if timeout_ms > 0 { timeout_ms as u64 } else { 30_000 };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout);
        loop {
            match tokio::time::timeout_at(deadline, set.join_next()).await {
                Ok(Some(Ok((ti, pi, result)))) => {
                    outstanding.retain(|w| *w != (ti, pi));
                    if let Err(e) = result {
                        tracing::error!(error = %e, "flush failed");
                        let r = &mut responses[ti].partition_responses[pi];
                        *r = failed(r.index, errors::storage(&e), Some(e.to_string()));
                    }
                }
                Ok(Some(Err(e))) => tracing::error!(error = %e, "flush task failed"),
                Ok(None) => break,
                Err(_) => {
                    // The data stays appended, as in Kafka; the client learns it is not
                    // known to be durable.
                    set.detach_all();
                    tracing::warn!(unfinished = outstanding.len(), "acks=all produce timed out waiting for fsync");
                    for (ti, pi) in outstanding.drain(..) {
                        let r = &mut responses[ti].partition_responses[pi];
                        *r =
                            failed(r.index, ResponseError::RequestTimedOut, Some("timed out waiting for fsync".into()));
                    }
                    break;
                }
            }
        }
    }
    ProduceResponse::default().with_responses(responses)
}
