//! ShareFetch (key 78): a share-group member's fetch (KIP-932). In order: the
//! share session step (which partitions the session reads), the acknowledgements
//! it carries (applied and on disk before the answer), then records acquired for
//! the member from each of the session's partitions, long-polling up to
//! `max_wait_ms` while nothing can be acquired. Each partition answers with the
//! batches holding its acquired records and the acquired ranges (with their
//! delivery counts); a client hands out only records inside them. A partition
//! whose by_duration start finds no record that recent is looked at again on
//! each wake-up of the long poll and, still unstarted when it ends, answers
//! OFFSET_NOT_AVAILABLE with Kafka's message. Kafka answers a fetch whose every
//! partition failed at once; librdkafka then asks again at once (10,000 times a
//! second against Weir), so this waits out `max_wait_ms` instead. The response
//! counts against the fetch byte-rate quota, as Kafka's does. It is encoded into
//! one buffer (the records copied): written from the segments in parts, as Fetch
//! responses are, it cost the broker more CPU per GB at these response sizes
//! (docs/performance.md, "Share-group row").

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, NodeEndpoint, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{BrokerId, GroupId, ShareFetchRequest, ShareFetchResponse};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::routes::{decode, BoxFuture};
use super::{errors, str_bytes, Outcome, RequestContext};
use crate::auth::{Operation, Resource};
use crate::partition::{FetchWaiter, Partition};
use crate::share::{AckBatch, AckOutcome};

const MAX_SESSIONS_PER_CONNECTION: usize = 64;

/// A partition of the session, resolved once per request.
struct Target {
    topic_id: Uuid,
    index: i32,
    /// None when it cannot be read (its error is in the answer) or is not in the
    /// session (only acknowledged).
    partition: Option<Arc<Partition>>,
    answer: PartitionData,
    /// Worth sending: records, an error, or acknowledgement results.
    send: bool,
    /// The timestamp by_duration looks for while it finds no record that recent
    /// to start the share-partition at (answered OFFSET_NOT_AVAILABLE).
    unstarted: Option<i64>,
}

/// Acknowledgement batches as sent: (first offset, last offset, types).
pub fn ack_batches<'a>(batches: impl Iterator<Item = (i64, i64, &'a [i8])>) -> Vec<AckBatch> {
    batches.map(|(first, last, types)| AckBatch { first, last, types: types.to_vec() }).collect()
}

/// A partition's acknowledgement error code (0: done).
pub fn ack_code(o: AckOutcome) -> i16 {
    match o {
        AckOutcome::Done => 0,
        AckOutcome::InvalidRecordState => ResponseError::InvalidRecordState.code(),
        AckOutcome::InvalidRequest => ResponseError::InvalidRequest.code(),
        AckOutcome::NotPersisted => ResponseError::CoordinatorNotAvailable.code(),
    }
}

/// A topic id as Kafka writes it (`Uuid.toString`: URL-safe base64, unpadded).
fn kafka_uuid(id: &Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn refused(code: ResponseError, message: Option<String>) -> ShareFetchResponse {
    ShareFetchResponse::default().with_error_code(code.code()).with_error_message(message.map(str_bytes))
}

/// A ShareFetch's or ShareAcknowledge's group and member, or the error the
/// request is refused with: share groups on, both ids given, READ on the group,
/// and the group a share group (a member joins with ShareGroupHeartbeat first).
#[allow(clippy::type_complexity)]
pub fn checked(
    ctx: &RequestContext,
    group: Option<&GroupId>,
    member: Option<&kafka_protocol::protocol::StrBytes>,
) -> Result<(String, String), (ResponseError, Option<String>)> {
    if !ctx.broker.share_groups_enabled() {
        return Err((ResponseError::UnsupportedVersion, None));
    }
    let (Some(group), Some(member)) = (group, member) else {
        return Err((ResponseError::InvalidRequest, Some("GroupId and MemberId are required".into())));
    };
    let (group, member) = (group.0.to_string(), member.to_string());
    if group.is_empty() || member.is_empty() {
        return Err((ResponseError::InvalidRequest, Some("GroupId and MemberId can't be empty.".into())));
    }
    if !ctx.authorize(Operation::Read, Resource::Group(&group)) {
        return Err((ResponseError::GroupAuthorizationFailed, None));
    }
    if !ctx.broker.shares().is_share_group(&group) {
        return Err((ResponseError::GroupIdNotFound, Some(format!("Share group {group} not found."))));
    }
    Ok((group, member))
}

/// Remembers that this connection used the member's share session, so that its
/// close ends the session.
pub fn note_session(ctx: &RequestContext, group: &str, member: &str) {
    let mut used = ctx.session.share_sessions.lock();
    if !used.iter().any(|(g, m)| g == group && m == member) {
        // Bounded: a connection that went through many member ids forgets the
        // oldest (their sessions still end when idle).
        if used.len() >= MAX_SESSIONS_PER_CONNECTION {
            used.remove(0);
        }
        used.push((group.to_string(), member.to_string()));
    }
}

/// The partition behind (topic id, index), or the error a partition answers with.
pub fn resolve(ctx: &RequestContext, topic_id: Uuid, index: i32) -> Result<Arc<Partition>, ResponseError> {
    let Some(t) = ctx.broker.topics().by_id(&topic_id) else { return Err(ResponseError::UnknownTopicId) };
    if !ctx.authorize(Operation::Read, Resource::Topic(&t.name)) {
        return Err(ResponseError::TopicAuthorizationFailed);
    }
    ctx.broker
        .partitions()
        .get(&t.name, index)
        .filter(|p| !p.is_removed())
        .ok_or(ResponseError::UnknownTopicOrPartition)
}

pub fn node_endpoints(ctx: &RequestContext) -> Vec<NodeEndpoint> {
    let c = ctx.broker.cluster();
    c.endpoint(&ctx.session.listener)
        .map(|e| {
            vec![NodeEndpoint::default()
                .with_node_id(BrokerId(c.node_id()))
                .with_host(str_bytes(e.host.clone()))
                .with_port(e.port)]
        })
        .unwrap_or_default()
}

pub fn route(ctx: RequestContext, mut body: Bytes) -> BoxFuture {
    Box::pin(async move {
        let req = match decode::<ShareFetchRequest>(&mut body, &ctx) {
            Ok(r) => r,
            Err(e) => return Outcome::Close(e),
        };
        let resp = handle(&ctx, req).await;
        let mut out = super::respond(&ctx, &resp);
        super::throttle_time::charge_fetch(&ctx, &mut out);
        out
    })
}

pub async fn handle(ctx: &RequestContext, req: ShareFetchRequest) -> ShareFetchResponse {
    let (group, member) = match checked(ctx, req.group_id.as_ref(), req.member_id.as_ref()) {
        Ok(ids) => ids,
        Err((code, message)) => return refused(code, message),
    };
    let shares = ctx.broker.shares().clone();
    let mut add = Vec::new();
    let mut acks: Vec<(Uuid, i32, Vec<AckBatch>)> = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            add.push((t.topic_id, p.partition_index));
            if !p.acknowledgement_batches.is_empty() {
                let batches =
                    p.acknowledgement_batches.iter().map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types[..]));
                acks.push((t.topic_id, p.partition_index, ack_batches(batches)));
            }
        }
    }
    let forget: Vec<(Uuid, i32)> =
        req.forgotten_topics_data.iter().flat_map(|f| f.partitions.iter().map(move |p| (f.topic_id, *p))).collect();
    let epoch = req.share_session_epoch;
    let plan = match shares.fetch_session(&group, &member, epoch, &add, &forget, !acks.is_empty(), ctx.session.id).await
    {
        Ok(plan) => {
            if !plan.closed {
                note_session(ctx, &group, &member);
            }
            plan
        }
        Err(e) => {
            let message = match &e {
                crate::share::SessionError::InvalidRequest(m) => Some(m.clone()),
                _ => None,
            };
            return refused(errors::share_session(&e), message);
        }
    };
    // Acknowledgements of partitions this member may not read fail there.
    let mut ack_results: Vec<(Uuid, i32, i16)> = Vec::new();
    let mut allowed = Vec::new();
    for (t, p, batches) in acks {
        match resolve(ctx, t, p) {
            Ok(_) => allowed.push((t, p, batches)),
            Err(e) => ack_results.push((t, p, e.code())),
        }
    }
    // A final fetch closes the session: what the member still holds goes back.
    for (t, p, o) in shares.acknowledge(&group, &member, allowed, plan.closed).await {
        ack_results.push((t, p, ack_code(o)));
    }
    let leader = |p: &Partition| {
        LeaderIdAndEpoch::default().with_leader_id(ctx.broker.cluster().node_id()).with_leader_epoch(p.leader_epoch())
    };
    let mut targets: Vec<Target> = plan
        .partitions
        .iter()
        .map(|&(topic_id, index)| {
            // Records are never null: librdkafka refuses a null record set.
            let answer = PartitionData::default().with_partition_index(index).with_records(Some(Bytes::new()));
            match resolve(ctx, topic_id, index) {
                Ok(p) => {
                    let answer = answer.with_current_leader(leader(&p));
                    Target { topic_id, index, partition: Some(p), answer, send: false, unstarted: None }
                }
                Err(e) => {
                    let answer = answer.with_error_code(e.code());
                    Target { topic_id, index, partition: None, answer, send: true, unstarted: None }
                }
            }
        })
        .collect();
    for (t, p, code) in &ack_results {
        match targets.iter_mut().find(|x| x.topic_id == *t && x.index == *p) {
            Some(x) => {
                x.answer.acknowledge_error_code = *code;
                x.send = true;
            }
            None => targets.push(Target {
                topic_id: *t,
                index: *p,
                partition: None,
                answer: PartitionData::default()
                    .with_partition_index(*p)
                    .with_records(Some(Bytes::new()))
                    .with_acknowledge_error_code(*code),
                send: true,
                unstarted: None,
            }),
        }
    }
    if !plan.closed {
        fetch_records(ctx, &req, &group, &member, &mut targets).await;
    }
    for t in targets.iter_mut() {
        if let Some(timestamp) = t.unstarted.take() {
            // Kafka's answer, which clients take as "retry after a metadata refresh".
            let topic = t.partition.as_ref().map(|p| p.topic()).unwrap_or_default();
            let message = format!(
                "Offset for timestamp {timestamp} not found for topic partition: {}:{topic}-{}",
                kafka_uuid(&t.topic_id),
                t.index
            );
            t.answer.error_code = ResponseError::OffsetNotAvailable.code();
            t.answer.error_message = Some(str_bytes(message));
            t.send = true;
        }
    }
    let mut responses: Vec<ShareFetchableTopicResponse> = Vec::new();
    for t in targets.into_iter().filter(|t| t.send) {
        match responses.last_mut().filter(|r| r.topic_id == t.topic_id) {
            Some(r) => r.partitions.push(t.answer),
            None => responses
                .push(ShareFetchableTopicResponse::default().with_topic_id(t.topic_id).with_partitions(vec![t.answer])),
        }
    }
    ShareFetchResponse::default()
        .with_acquisition_lock_timeout_ms(shares.settings().record_lock_duration_ms as i32)
        .with_responses(responses)
        .with_node_endpoints(node_endpoints(ctx))
}

/// Acquires records for the member from its session's partitions, waiting up to
/// `max_wait_ms` for some to arrive when none can be acquired.
async fn fetch_records(
    ctx: &RequestContext,
    req: &ShareFetchRequest,
    group: &str,
    member: &str,
    targets: &mut [Target],
) {
    let shares = ctx.broker.shares().clone();
    let readable: Vec<(Uuid, Arc<Partition>)> =
        targets.iter().filter_map(|t| t.partition.as_ref().map(|p| (t.topic_id, p.clone()))).collect();
    let member: Arc<str> = Arc::from(member);
    let isolation = shares.isolation(group);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let broker_max = ctx.broker.settings().fetch_max_bytes;
    let max_bytes = if req.max_bytes > 0 { (req.max_bytes as usize).min(broker_max) } else { broker_max };
    let max_records = if req.max_records > 0 { req.max_records as usize } else { 500 };
    let mut shutdown = ctx.broker.shutdown_signal();
    let mut waiter: Option<Arc<FetchWaiter>> = None;
    loop {
        // Each look starts what it can: a by_duration share-partition waiting for
        // a record that recent starts as soon as one arrives. One still waiting at
        // the end is answered OFFSET_NOT_AVAILABLE, as Kafka answers it, though only
        // then: answered at once, clients ask again at once.
        let unstarted = match shares.prepare(group, &readable).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(group, error = %e, "share-partitions could not be initialized");
                for t in targets.iter_mut().filter(|t| t.partition.is_some()) {
                    t.answer.error_code = ResponseError::CoordinatorNotAvailable.code();
                    t.unstarted = None;
                    t.send = true;
                }
                return;
            }
        };
        for t in targets.iter_mut().filter(|t| t.partition.is_some()) {
            t.unstarted =
                unstarted.iter().find(|u| u.topic_id == t.topic_id && u.partition == t.index).map(|u| u.timestamp);
        }
        let mut records_left = max_records;
        let mut bytes_left = max_bytes;
        let mut any = false;
        for t in targets.iter_mut() {
            let Some(p) = t.partition.as_ref().filter(|_| t.unstarted.is_none()) else { continue };
            if records_left == 0 || bytes_left == 0 {
                break;
            }
            match shares.acquire(group, &member, t.topic_id, p, records_left, bytes_left, isolation) {
                Ok(a) if !a.ranges.is_empty() => {
                    let n: i64 = a.ranges.iter().map(|r| r.last - r.first + 1).sum();
                    records_left = records_left.saturating_sub(n as usize);
                    bytes_left = bytes_left.saturating_sub(a.records.len());
                    t.answer.records = Some(a.records);
                    t.answer.acquired_records = a
                        .ranges
                        .iter()
                        .map(|r| {
                            AcquiredRecords::default()
                                .with_first_offset(r.first)
                                .with_last_offset(r.last)
                                .with_delivery_count(r.deliveries as i16)
                        })
                        .collect();
                    t.send = true;
                    any = true;
                }
                Ok(_) => {}
                Err(e) => {
                    t.answer.error_code = errors::storage(&e).code();
                    t.send = true;
                    any = true;
                }
            }
        }
        if any || tokio::time::Instant::now() >= deadline || *shutdown.borrow_and_update() {
            return;
        }
        let Some(w) = waiter.as_ref() else {
            // Parked before reading again, so an append in between is not missed.
            let w = FetchWaiter::new();
            for (_, p) in &readable {
                p.park(&w);
            }
            shares.park(group, &w);
            waiter = Some(w);
            continue;
        };
        // The log start moving under retention is not announced (module docs of
        // `share`): look again now and then.
        let poll = tokio::time::Instant::now() + Duration::from_secs(1);
        tokio::select! {
            _ = w.wait() => {}
            _ = tokio::time::sleep_until(deadline.min(poll)) => {}
            _ = shutdown.changed() => {}
        }
    }
}
