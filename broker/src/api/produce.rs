//! Produce (key 0): appends batches as the wire carries them; acks=-1 waits for the
//! durable flush (group commit) when the topic uses the default durable policy.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::ResponseError;
use tokio::task::JoinSet;
use weir_storage::{FlushPolicy, Log};

use super::{str_bytes, RequestContext};
use crate::error::storage_error;

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
    waits: Vec<(usize, usize, Arc<Log>, i64)>,
    timeout_ms: i32,
}

impl Staged {
    pub fn needs_wait(&self) -> bool {
        !self.waits.is_empty()
    }
}

/// Appends every partition's batches. Runs in request order on the connection's task,
/// so pipelined produces from one producer land in the order they were sent.
/// `None` for acks=0, which gets no response.
pub fn append(ctx: &RequestContext, req: ProduceRequest) -> Option<Staged> {
    let shared = &ctx.shared;
    let acks = req.acks;
    let mut responses: Vec<TopicProduceResponse> = Vec::with_capacity(req.topic_data.len());
    // (topic index, partition index, log, offset that must be durable)
    let mut waits: Vec<(usize, usize, Arc<Log>, i64)> = Vec::new();
    let mut appended = false;
    let min_isr_ok = |overrides: &std::collections::BTreeMap<String, String>| -> bool {
        let v = overrides
            .get("min.insync.replicas")
            .cloned()
            .or_else(|| shared.config.get("min.insync.replicas"))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(1);
        v <= 1
    };

    for topic in req.topic_data {
        let meta = if ctx.version >= 13 {
            shared.meta.topic_by_id(&topic.topic_id)
        } else {
            shared.meta.topic(topic.name.0.as_str())
        };
        let unknown =
            if ctx.version >= 13 { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        let mut parts = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let Some(meta) = meta.as_ref() else {
                parts.push(failed(p.index, unknown, None));
                continue;
            };
            if !matches!(acks, -1..=1) {
                parts.push(failed(p.index, ResponseError::InvalidRequiredAcks, None));
                continue;
            }
            let Some(log) = shared.partition(&meta.name, p.index) else {
                parts.push(failed(p.index, ResponseError::UnknownTopicOrPartition, None));
                continue;
            };
            if acks == -1 && !min_isr_ok(&meta.configs) {
                parts.push(failed(
                    p.index,
                    ResponseError::NotEnoughReplicas,
                    Some("min.insync.replicas is larger than the single in-sync replica of this broker".into()),
                ));
                continue;
            }
            let records = p.records.unwrap_or_default();
            let config = log.config();
            if records.is_empty() {
                parts.push(failed(
                    p.index,
                    ResponseError::CorruptMessage,
                    Some("produce request without records".into()),
                ));
                continue;
            }
            if records.len() as u64 > config.segment_bytes {
                parts.push(failed(
                    p.index,
                    ResponseError::RecordListTooLarge,
                    Some(format!("{} bytes of records exceed segment.bytes {}", records.len(), config.segment_bytes)),
                ));
                continue;
            }
            if crate::schema_validation::active(&meta.configs) {
                if let Err(why) = crate::schema_validation::validate(&meta.configs, &records, shared.schema_lookup()) {
                    tracing::debug!(topic = %meta.name, partition = p.index, reason = %why, "produce refused by schema validation");
                    parts.push(failed(p.index, ResponseError::InvalidRecord, Some(why)));
                    continue;
                }
            }
            if storage_has_transactional(&records) {
                parts.push(failed(
                    p.index,
                    ResponseError::InvalidTxnState,
                    Some("transactions are not supported by this broker yet".into()),
                ));
                continue;
            }
            match log.append(&records) {
                Ok(info) => {
                    appended |= !info.duplicate;
                    if info.duplicate {
                        tracing::debug!(topic = %meta.name, partition = p.index, base_offset = info.first_offset, "retried batch of an idempotent producer is already in the log");
                    }
                    metrics::counter!("weir_partition_bytes_in_total", "topic" => meta.name.clone())
                        .increment(records.len() as u64);
                    metrics::counter!("weir_partition_records_in_total", "topic" => meta.name.clone())
                        .increment(info.record_count as u64);
                    if acks == -1 && config.flush == FlushPolicy::Durable {
                        waits.push((responses.len(), parts.len(), log.clone(), info.last_offset + 1));
                    }
                    parts.push(
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_base_offset(info.first_offset)
                            .with_log_append_time_ms(info.log_append_time)
                            .with_log_start_offset(info.log_start_offset),
                    );
                }
                Err(e) => {
                    tracing::debug!(topic = %meta.name, partition = p.index, error = %e, "produce rejected");
                    parts.push(failed(p.index, storage_error(&e), Some(e.to_string())));
                }
            }
        }
        let mut tr = TopicProduceResponse::default().with_partition_responses(parts);
        if let Some(m) = meta.as_ref() {
            tr = tr.with_name(TopicName(str_bytes(m.name.clone()))).with_topic_id(m.id);
        } else {
            tr = tr.with_name(topic.name).with_topic_id(topic.topic_id);
        }
        responses.push(tr);
    }
    if appended {
        shared.notify_data();
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
        for (ti, pi, log, offset) in waits {
            set.spawn_blocking(move || (ti, pi, log.flush_to(offset)));
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
                        *r = failed(r.index, storage_error(&e), Some(e.to_string()));
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

/// Whether any batch is transactional (attributes bit 4).
fn storage_has_transactional(records: &[u8]) -> bool {
    let mut pos = 0;
    while let Ok(h) = weir_storage::batch::BatchHeader::parse(&records[pos..]) {
        if h.is_transactional() {
            return true;
        }
        pos += h.total_len();
        if pos >= records.len() {
            break;
        }
    }
    false
}
