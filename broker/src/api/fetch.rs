//! Fetch (key 1): hands out whole batches straight from the memory-mapped segments
//! (through each partition's `read`, bounded by its high watermark or, for
//! `read_committed`, its last stable offset) and long-polls until `min_bytes`
//! arrive or `max_wait_ms` passes. A long poll parks one waiter on the partitions
//! it reads, so only appends to those wake it. No fetch sessions yet: every
//! response has session id 0, which tells KIP-227 clients to send full requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::ResponseError;
use weir_storage::StorageError;

use super::routes::{decode, BoxFuture};
use super::{errors, fetch_encode, str_bytes, Outcome, RequestContext};
use crate::auth::{Operation, Resource};
use crate::partition::{FetchWaiter, Isolation, Partition};

const READ_COMMITTED: i8 = 1;

pub fn route(ctx: RequestContext, mut body: Bytes) -> BoxFuture {
    Box::pin(async move {
        let req = match decode::<FetchRequest>(&mut body, &ctx) {
            Ok(r) => r,
            Err(e) => return Outcome::Close(e),
        };
        let resp = handle(&ctx, req).await;
        super::error_codes::count(ctx.key, &resp);
        match fetch_encode::encode(&resp, ctx.version, ctx.correlation_id) {
            Ok(mut parts) => {
                let bytes = parts.iter().map(|p| p.len()).sum();
                let throttle = ctx.throttle(crate::quotas::throttle::Kind::Fetch, bytes);
                if throttle > 0 {
                    fetch_encode::set_throttle(&mut parts, ctx.version, throttle);
                }
                Outcome::RespondParts(parts)
            }
            Err(e) => Outcome::Close(e),
        }
    })
}

fn partition_error(index: i32, err: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(err.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Default::default()))
}

/// A requested topic, resolved once per request.
struct Wanted {
    /// The name to answer with.
    name: String,
    partitions: Option<Arc<[Arc<Partition>]>>,
    error: Option<ResponseError>,
}

fn resolve(ctx: &RequestContext, req: &FetchRequest) -> Vec<Wanted> {
    let broker = &ctx.broker;
    req.topics
        .iter()
        .map(|ft| {
            let name = if ctx.version >= 13 {
                broker.topics().by_id(&ft.topic_id).map(|t| t.name.clone())
            } else {
                Some(ft.topic.0.to_string())
            };
            let unknown =
                if ctx.version >= 13 { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
            let partitions = name.as_deref().and_then(|n| broker.partitions().topic(n));
            let error = match (&name, &partitions) {
                (Some(n), _) if !ctx.authorize(Operation::Read, Resource::Topic(n)) => {
                    Some(ResponseError::TopicAuthorizationFailed)
                }
                (Some(_), Some(_)) => None,
                _ => Some(unknown),
            };
            Wanted { name: name.unwrap_or_else(|| ft.topic.0.to_string()), partitions, error }
        })
        .collect()
}

/// One pass over the requested partitions, gathering at most `max_bytes`. Returns
/// the response topics, the bytes gathered, and whether any partition has an error
/// (which ends a long poll early).
fn read_once(
    req: &FetchRequest,
    wanted: &[Wanted],
    isolation: Isolation,
    max_bytes: usize,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut total = 0usize;
    let mut any_error = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    for (ft, w) in req.topics.iter().zip(wanted) {
        let mut parts = Vec::with_capacity(ft.partitions.len());
        for fp in &ft.partitions {
            if let Some(e) = w.error {
                any_error = true;
                parts.push(partition_error(fp.partition, e));
                continue;
            }
            let found = w.partitions.as_ref().and_then(|ps| usize::try_from(fp.partition).ok().and_then(|i| ps.get(i)));
            let Some(p) = found.filter(|p| !p.is_removed()) else {
                any_error = true;
                parts.push(partition_error(fp.partition, ResponseError::UnknownTopicOrPartition));
                continue;
            };
            if fp.current_leader_epoch > p.leader_epoch() {
                any_error = true;
                parts.push(partition_error(fp.partition, ResponseError::UnknownLeaderEpoch));
                continue;
            }
            let budget = (fp.partition_max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
            let mut pd = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_high_watermark(p.high_watermark())
                .with_last_stable_offset(p.last_stable_offset())
                .with_log_start_offset(p.log_start_offset())
                .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1));
            if isolation == Isolation::ReadCommitted {
                pd = pd.with_aborted_transactions(Some(vec![]));
            }
            if budget == 0 && total > 0 {
                parts.push(pd.with_records(Some(Default::default())));
                continue;
            }
            match p.read(fp.fetch_offset, budget, isolation, total == 0) {
                Ok(read) => {
                    total += read.records.len();
                    if isolation == Isolation::ReadCommitted {
                        let aborted = read
                            .aborted
                            .iter()
                            .map(|t| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(t.producer_id))
                                    .with_first_offset(t.first_offset)
                            })
                            .collect();
                        pd = pd.with_aborted_transactions(Some(aborted));
                    }
                    parts.push(
                        pd.with_high_watermark(read.high_watermark)
                            .with_last_stable_offset(read.last_stable_offset)
                            .with_log_start_offset(read.log_start_offset)
                            .with_records(Some(read.records)),
                    );
                }
                Err(e) => {
                    any_error = true;
                    if !matches!(e, StorageError::OffsetOutOfRange { .. } | StorageError::Offline { .. }) {
                        tracing::warn!(topic = %w.name, partition = fp.partition, error = %e, "fetch failed");
                    }
                    parts.push(pd.with_error_code(errors::storage(&e).code()).with_records(Some(Default::default())));
                }
            }
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(TopicName(str_bytes(w.name.clone())))
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
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let min_bytes = req.min_bytes.max(0) as usize;
    let broker_max = ctx.broker.settings().fetch_max_bytes;
    let max_bytes = if req.max_bytes > 0 { (req.max_bytes as usize).min(broker_max) } else { broker_max };
    let isolation =
        if req.isolation_level == READ_COMMITTED { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
    let wanted = resolve(ctx, &req);
    let mut shutdown = ctx.broker.shutdown_signal();
    let mut waiter: Option<Arc<FetchWaiter>> = None;
    loop {
        let (topics, total, any_error) = read_once(&req, &wanted, isolation, max_bytes);
        let done =
            total >= min_bytes || any_error || tokio::time::Instant::now() >= deadline || *shutdown.borrow_and_update();
        if done {
            return FetchResponse::default().with_session_id(0).with_responses(topics);
        }
        let Some(w) = waiter.as_ref() else {
            // Park before reading again: an append between that read and the wait
            // leaves a permit, so it is not missed.
            let w = FetchWaiter::new();
            for (ft, wt) in req.topics.iter().zip(&wanted) {
                for fp in &ft.partitions {
                    if let Some(p) = wt.partitions.as_ref().and_then(|ps| ps.get(fp.partition.max(0) as usize)) {
                        p.park(&w);
                    }
                }
            }
            waiter = Some(w);
            continue;
        };
        tokio::select! {
            _ = w.wait() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => {}
        }
    }
}
