//! Fetch (key 1): hands out whole batches straight from the memory-mapped segments
//! (through each partition's `read`, bounded by its high watermark or, for
//! `read_committed`, its last stable offset) and long-polls until `min_bytes`
//! arrive or `max_wait_ms` passes. A long poll parks one waiter on the partitions
//! it reads, so only appends to those wake it.
//!
//! From v7 a request may use an incremental fetch session (KIP-227,
//! [`crate::fetch_session`]): the session says which partitions to read, and the
//! answer carries only those with something new. The partitions to read are a flat
//! list; consecutive partitions of one topic share one topic entry in the
//! response (a session's order can name a topic more than once, as Kafka's can).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::ResponseError;
use uuid::Uuid;
use weir_storage::StorageError;

use super::routes::{decode, BoxFuture};
use super::{errors, fetch_encode, str_bytes, Outcome, RequestContext};
use crate::auth::{Operation, Resource};
use crate::fetch_session::{Answered, FetchTarget, Finished, SessionError, SessionRequest, TopicKey, FINAL_EPOCH};
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
        let mut out = match fetch_encode::encode(&resp, ctx.version, ctx.correlation_id) {
            Ok(parts) => Outcome::RespondParts(parts),
            Err(e) => Outcome::Close(e),
        };
        super::throttle_time::charge_fetch(&ctx, &mut out);
        out
    })
}

/// One partition's answer, kept small until it is known to go out: an
/// incremental fetch of a big session drops most of them.
struct Answer {
    partition: i32,
    error: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    records: Bytes,
    /// The aborted transactions a read_committed read overlaps (Kafka's field
    /// is an empty list otherwise).
    aborted: Vec<AbortedTransaction>,
}

impl Answer {
    fn error(partition: i32, err: ResponseError) -> Answer {
        Answer {
            partition,
            error: err.code(),
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            records: Bytes::new(),
            aborted: Vec::new(),
        }
    }

    fn into_wire(self) -> PartitionData {
        PartitionData::default()
            .with_partition_index(self.partition)
            .with_error_code(self.error)
            .with_high_watermark(self.high_watermark)
            .with_last_stable_offset(self.last_stable_offset)
            .with_log_start_offset(self.log_start_offset)
            .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1))
            .with_aborted_transactions(Some(self.aborted))
            .with_records(Some(self.records))
    }

    fn answered(&self) -> Answered {
        Answered {
            record_bytes: self.records.len(),
            high_watermark: self.high_watermark,
            log_start_offset: self.log_start_offset,
            error: self.error != 0,
        }
    }
}

/// The request's session fields and partitions in the session module's terms.
fn session_request(version: i16, req: &FetchRequest) -> SessionRequest {
    let by_id = version >= 13;
    let key = |id: Uuid, name: &str| if by_id { TopicKey::Id(id) } else { TopicKey::Name(Arc::from(name)) };
    let mut targets = Vec::with_capacity(req.topics.iter().map(|t| t.partitions.len()).sum());
    for ft in &req.topics {
        let topic = key(ft.topic_id, &ft.topic.0);
        targets.extend(ft.partitions.iter().map(|fp| FetchTarget {
            topic: topic.clone(),
            partition: fp.partition,
            fetch_offset: fp.fetch_offset,
            partition_max_bytes: fp.partition_max_bytes,
            current_leader_epoch: fp.current_leader_epoch,
            log_start_offset: fp.log_start_offset,
        }));
    }
    let forgotten = req
        .forgotten_topics_data
        .iter()
        .flat_map(|f| {
            let topic = key(f.topic_id, &f.topic.0);
            f.partitions.iter().map(move |&p| (topic.clone(), p))
        })
        .collect();
    // Before v7 there are no sessions: every fetch is full and sessionless.
    let (session_id, epoch) = if version >= 7 { (req.session_id, req.session_epoch) } else { (0, FINAL_EPOCH) };
    SessionRequest { session_id, epoch, uses_topic_ids: by_id, targets, forgotten }
}

fn session_error(e: SessionError) -> ResponseError {
    match e {
        SessionError::NotFound => ResponseError::FetchSessionIdNotFound,
        SessionError::InvalidEpoch => ResponseError::InvalidFetchSessionEpoch,
        SessionError::TopicIdMismatch => ResponseError::FetchSessionTopicIdError,
    }
}

/// A topic the fetch reads, resolved once per request.
struct Topic {
    /// The name to answer with.
    name: String,
    id: Uuid,
    partitions: Option<Arc<[Arc<Partition>]>>,
    error: Option<ResponseError>,
}

impl Topic {
    fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        self.partitions.as_ref().and_then(|ps| usize::try_from(index).ok().and_then(|i| ps.get(i)))
    }
}

/// Consecutive targets of one topic: `targets[start..end]` read `topics[topic]`.
struct Run {
    start: usize,
    end: usize,
    topic: usize,
}

/// Splits the targets into runs and resolves (and authorizes) each distinct topic once.
fn resolve(ctx: &RequestContext, targets: &[FetchTarget]) -> (Vec<Topic>, Vec<Run>) {
    let broker = &ctx.broker;
    let mut topics: Vec<Topic> = Vec::new();
    let mut seen: HashMap<&TopicKey, usize> = HashMap::new();
    let mut runs: Vec<Run> = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        if let Some(r) = runs.last_mut().filter(|r| targets[r.start].topic == t.topic) {
            r.end = i + 1;
            continue;
        }
        let topic = *seen.entry(&t.topic).or_insert_with(|| {
            let (name, id, unknown) = match &t.topic {
                TopicKey::Id(id) => {
                    (broker.topics().by_id(id).map(|m| m.name.clone()), *id, ResponseError::UnknownTopicId)
                }
                TopicKey::Name(n) => (Some(n.to_string()), Uuid::nil(), ResponseError::UnknownTopicOrPartition),
            };
            let partitions = name.as_deref().and_then(|n| broker.partitions().topic(n));
            let error = match (&name, &partitions) {
                (Some(n), _) if !ctx.authorize(Operation::Read, Resource::Topic(n)) => {
                    Some(ResponseError::TopicAuthorizationFailed)
                }
                (Some(_), Some(_)) => None,
                _ => Some(unknown),
            };
            topics.push(Topic { name: name.unwrap_or_default(), id, partitions, error });
            topics.len() - 1
        });
        runs.push(Run { start: i, end: i + 1, topic });
    }
    (topics, runs)
}

/// One pass over the targets, gathering at most `max_bytes`. Returns one answer
/// per target, the bytes gathered, and whether any partition has an error (which
/// ends a long poll early).
fn read_once(
    targets: &[FetchTarget],
    topics: &[Topic],
    runs: &[Run],
    isolation: Isolation,
    max_bytes: usize,
) -> (Vec<Answer>, usize, bool) {
    let mut total = 0usize;
    let mut any_error = false;
    let mut out = Vec::with_capacity(targets.len());
    let committed = isolation == Isolation::ReadCommitted;
    for run in runs {
        let topic = &topics[run.topic];
        for fp in &targets[run.start..run.end] {
            if let Some(e) = topic.error {
                any_error = true;
                out.push(Answer::error(fp.partition, e));
                continue;
            }
            let Some(p) = topic.partition(fp.partition).filter(|p| !p.is_removed()) else {
                any_error = true;
                out.push(Answer::error(fp.partition, ResponseError::UnknownTopicOrPartition));
                continue;
            };
            if fp.current_leader_epoch > p.leader_epoch() {
                any_error = true;
                out.push(Answer::error(fp.partition, ResponseError::UnknownLeaderEpoch));
                continue;
            }
            let budget = (fp.partition_max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
            let mut a = Answer {
                partition: fp.partition,
                error: 0,
                high_watermark: p.high_watermark(),
                last_stable_offset: p.last_stable_offset(),
                log_start_offset: p.log_start_offset(),
                records: Bytes::new(),
                aborted: Vec::new(),
            };
            if budget == 0 && total > 0 {
                out.push(a);
                continue;
            }
            match p.read(fp.fetch_offset, budget, isolation, total == 0) {
                Ok(read) => {
                    total += read.records.len();
                    if committed {
                        a.aborted = read
                            .aborted
                            .iter()
                            .map(|t| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(t.producer_id))
                                    .with_first_offset(t.first_offset)
                            })
                            .collect();
                    }
                    a.high_watermark = read.high_watermark;
                    a.last_stable_offset = read.last_stable_offset;
                    a.log_start_offset = read.log_start_offset;
                    a.records = read.records;
                    out.push(a);
                }
                Err(e) => {
                    any_error = true;
                    if !matches!(e, StorageError::OffsetOutOfRange { .. } | StorageError::Offline { .. }) {
                        tracing::warn!(topic = %topic.name, partition = fp.partition, error = %e, "fetch failed");
                    }
                    a.error = errors::storage(&e).code();
                    out.push(a);
                }
            }
        }
    }
    (out, total, any_error)
}

/// The response's topics: each run's partitions that `include` keeps (all when None).
fn assemble(
    topics: &[Topic],
    runs: &[Run],
    answers: Vec<Answer>,
    include: Option<&[bool]>,
) -> Vec<FetchableTopicResponse> {
    let mut answers = answers.into_iter().enumerate();
    let mut out: Vec<FetchableTopicResponse> = Vec::with_capacity(runs.len());
    for run in runs {
        let parts: Vec<PartitionData> = answers
            .by_ref()
            .take(run.end - run.start)
            .filter(|(i, _)| include.is_none_or(|inc| inc[*i]))
            .map(|(_, a)| a.into_wire())
            .collect();
        if parts.is_empty() && include.is_some() {
            continue;
        }
        let topic = &topics[run.topic];
        out.push(
            FetchableTopicResponse::default()
                .with_topic(TopicName(str_bytes(topic.name.clone())))
                .with_topic_id(topic.id)
                .with_partitions(parts),
        );
    }
    out
}

pub async fn handle(ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    let sessions = ctx.broker.fetch_sessions();
    let plan = match sessions.begin(session_request(ctx.version, &req), ctx.broker.clock().now_ms()) {
        Ok(plan) => plan,
        Err(e) => return FetchResponse::default().with_error_code(session_error(e).code()),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let min_bytes = req.min_bytes.max(0) as usize;
    let broker_max = ctx.broker.settings().fetch_max_bytes;
    let max_bytes = if req.max_bytes > 0 { (req.max_bytes as usize).min(broker_max) } else { broker_max };
    // Never more than the client's fetch quota lets through in 10 s (Kafka's
    // bound), so the throttle that follows pays for it.
    let max_bytes = ctx.fetch_quota_bound().map_or(max_bytes, |q| max_bytes.min(q));
    // As Kafka: a fetch never waits for more than it may carry.
    let min_bytes = min_bytes.min(max_bytes);
    let isolation =
        if req.isolation_level == READ_COMMITTED { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
    let (topics, runs) = resolve(ctx, &plan.targets);
    let mut shutdown = ctx.broker.shutdown_signal();
    let mut waiter: Option<Arc<FetchWaiter>> = None;
    let answers = loop {
        let (answers, total, any_error) = read_once(&plan.targets, &topics, &runs, isolation, max_bytes);
        // Nothing to read (a session being closed, as the Java consumer does
        // when it closes, or all forgotten) is answered at once, as Kafka does.
        let done = plan.targets.is_empty()
            || total >= min_bytes
            || any_error
            || tokio::time::Instant::now() >= deadline
            || *shutdown.borrow_and_update();
        if done {
            break answers;
        }
        let Some(w) = waiter.as_ref() else {
            // Park before reading again: an append between that read and the wait
            // leaves a permit, so it is not missed.
            let w = FetchWaiter::new();
            for run in &runs {
                for t in &plan.targets[run.start..run.end] {
                    if let Some(p) = topics[run.topic].partition(t.partition) {
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
    };
    let answered: Vec<Answered> = answers.iter().map(Answer::answered).collect();
    match sessions.finish(&plan, &answered, ctx.broker.clock().now_ms()) {
        Finished::Error(e) => FetchResponse::default().with_error_code(session_error(e).code()),
        Finished::Respond { session_id, include } => FetchResponse::default()
            .with_session_id(session_id)
            .with_responses(assemble(&topics, &runs, answers, include.as_deref())),
    }
}
