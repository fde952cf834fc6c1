//! Fetch (key 1): hands out whole batches straight from the memory-mapped segments
//! and long-polls until `min_bytes` arrive or `max_wait_ms` passes. No fetch sessions
//! yet: every response has session id 0, which tells KIP-227 clients to send full
//! fetch requests.

use std::time::Duration;

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::ResponseError;
use weir_storage::StorageError;

use super::{str_bytes, RequestContext};
use crate::error::storage_error;

const READ_COMMITTED: i8 = 1;

fn partition_error(index: i32, err: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(err.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Default::default()))
}

/// One pass over the requested partitions, gathering at most `max_bytes`. Returns
/// the response topics, the bytes gathered, and whether any partition has an error
/// (which ends a long poll early).
fn read_once(ctx: &RequestContext, req: &FetchRequest, max_bytes: usize) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let shared = &ctx.shared;
    let mut total = 0usize;
    let mut any_error = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    for ft in &req.topics {
        let meta = if ctx.version >= 13 {
            shared.meta.topic_by_id(&ft.topic_id)
        } else {
            shared.meta.topic(ft.topic.0.as_str())
        };
        let unknown =
            if ctx.version >= 13 { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        let mut parts = Vec::with_capacity(ft.partitions.len());
        for fp in &ft.partitions {
            let Some(meta) = meta.as_ref() else {
                any_error = true;
                parts.push(partition_error(fp.partition, unknown));
                continue;
            };
            let Some(log) = shared.partition(&meta.name, fp.partition) else {
                any_error = true;
                parts.push(partition_error(fp.partition, ResponseError::UnknownTopicOrPartition));
                continue;
            };
            if fp.current_leader_epoch > 0 {
                any_error = true;
                parts.push(partition_error(fp.partition, ResponseError::UnknownLeaderEpoch));
                continue;
            }
            let budget = (fp.partition_max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
            let hw = log.log_end_offset();
            let mut pd = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_high_watermark(hw)
                .with_last_stable_offset(hw)
                .with_log_start_offset(log.log_start_offset())
                .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1));
            if req.isolation_level == READ_COMMITTED {
                pd = pd.with_aborted_transactions(Some(vec![]));
            }
            if budget == 0 && total > 0 {
                parts.push(pd.with_records(Some(Default::default())));
                continue;
            }
            match log.read(fp.fetch_offset, budget, total == 0) {
                Ok(read) => {
                    total += read.records.len();
                    metrics::counter!("weir_partition_bytes_out_total", "topic" => meta.name.clone())
                        .increment(read.records.len() as u64);
                    parts.push(
                        pd.with_high_watermark(read.log_end_offset)
                            .with_last_stable_offset(read.log_end_offset)
                            .with_log_start_offset(read.log_start_offset)
                            .with_records(Some(read.records)),
                    );
                }
                Err(e) => {
                    any_error = true;
                    if !matches!(e, StorageError::OffsetOutOfRange { .. }) {
                        tracing::warn!(topic = %meta.name, partition = fp.partition, error = %e, "fetch failed");
                    }
                    parts.push(pd.with_error_code(storage_error(&e).code()).with_records(Some(Default::default())));
                }
            }
        }
        let name = meta.as_ref().map(|m| m.name.clone()).unwrap_or_else(|| ft.topic.0.to_string());
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(TopicName(str_bytes(name)))
                .with_topic_id(ft.topic_id)
                .with_partitions(parts),
        );
    }
    (topics, total, any_error)
}

pub async fn handle(ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    if ctx.version >= 7 && req.session_id != 0 {
        return FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code());
    }
    let shared = ctx.shared.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let min_bytes = req.min_bytes.max(0) as usize;
    // The client's limit, capped by the broker's; looked up once, not on every pass
    // of a long poll.
    let broker_max = shared.config.get_i64("fetch.max.bytes").max(1024) as usize;
    let max_bytes = if req.max_bytes > 0 { (req.max_bytes as usize).min(broker_max) } else { broker_max };
    let mut data = shared.data_version.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        // Mark the current data version seen before reading, so an append that lands
        // after this read wakes us up.
        data.borrow_and_update();
        let (topics, total, any_error) = read_once(ctx, &req, max_bytes);
        let done =
            total >= min_bytes || any_error || tokio::time::Instant::now() >= deadline || *shutdown.borrow_and_update();
        if done {
            return FetchResponse::default().with_session_id(0).with_responses(topics);
        }
        tokio::select! {
            _ = data.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => {}
        }
    }
}
