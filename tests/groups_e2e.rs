//! End-to-end: the group coordinator (classic protocol) driven by librdkafka consumers
//! that subscribe, and by raw protocol members (kafka-protocol over TCP).
//!
//! No sleeps for correctness: every wait polls a condition under a generous deadline
//! and fails when the deadline passes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::clients::*;
use common::{free_port, wire, Weir};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::AdminOptions;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

/// No initial rebalance delay (joins complete as soon as every member is in), and a
/// small minimum session timeout so eviction tests stay short.
const ARGS: &[&str] = &["--set", "group.initial.rebalance.delay.ms=0", "--set", "group.min.session.timeout.ms=1000"];

const SESSION_MS: u64 = 6000;

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < DEADLINE, "timed out after {DEADLINE:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------------ consumers

/// Unique ids for ownership runs: a partition assigned to a consumer starts a run.
static RUNS: AtomicU64 = AtomicU64::new(1);

/// What a consumer's rebalance callbacks saw.
#[derive(Default)]
struct Tracker {
    /// Partition -> id of the run that started when it was (re)assigned.
    owned: Mutex<BTreeMap<i32, u64>>,
    assigns: AtomicUsize,
    revokes: AtomicUsize,
}

impl Tracker {
    fn partitions(&self) -> BTreeSet<i32> {
        self.owned.lock().unwrap().keys().copied().collect()
    }
    fn run_of(&self, p: i32) -> Option<u64> {
        self.owned.lock().unwrap().get(&p).copied()
    }
}

#[derive(Clone, Default)]
struct Ctx(Arc<Tracker>);

impl ClientContext for Ctx {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        if std::env::var_os("WEIR_TEST_RDKAFKA_DEBUG").is_some() {
            eprintln!("rdkafka {level:?} {fac}: {log_message}");
        }
    }
}

impl ConsumerContext for Ctx {
    fn post_rebalance(&self, _c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Assign(tpl) => {
                self.0.assigns.fetch_add(1, Ordering::SeqCst);
                let mut owned = self.0.owned.lock().unwrap();
                for e in tpl.elements() {
                    owned.insert(e.partition(), RUNS.fetch_add(1, Ordering::SeqCst));
                }
            }
            Rebalance::Revoke(tpl) => {
                self.0.revokes.fetch_add(1, Ordering::SeqCst);
                let mut owned = self.0.owned.lock().unwrap();
                for e in tpl.elements() {
                    owned.remove(&e.partition());
                }
            }
            Rebalance::Error(e) => panic!("rebalance error: {e}"),
        }
    }
}

fn group_consumer(addr: &str, group: &str, extra: &[(&str, &str)]) -> (BaseConsumer<Ctx>, Arc<Tracker>) {
    let ctx = Ctx::default();
    let tracker = ctx.0.clone();
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION_MS.to_string())
        .set("heartbeat.interval.ms", "300")
        .set("fetch.wait.max.ms", "50");
    if let Ok(d) = std::env::var("WEIR_TEST_RDKAFKA_DEBUG") {
        cfg.set("debug", d);
    }
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    (cfg.create_with_context(ctx).expect("consumer"), tracker)
}

/// The shared history of a group test, in the order things happened.
#[derive(Debug, Clone)]
enum Ev {
    /// A record handed to the application.
    Seen { run: u64, p: i32, o: i64 },
    /// About to send a synchronous commit (id).
    CommitStart { id: u64 },
    /// The commit `id` succeeded with these next offsets.
    CommitOk { id: u64, offsets: Vec<(i32, i64)> },
}

#[derive(Default)]
struct History {
    events: Mutex<Vec<Ev>>,
    seen: AtomicUsize,
    commit_ids: AtomicU64,
    failed_commits: AtomicUsize,
    /// Batches that lost a partition to a rebalance before they could commit it.
    revoked_in_hand: AtomicUsize,
}

impl History {
    fn push(&self, e: Ev) {
        self.events.lock().unwrap().push(e);
    }
}

/// A subscribed consumer polling on its own thread.
struct Member {
    stop: Arc<AtomicBool>,
    tracker: Arc<Tracker>,
    handle: Option<JoinHandle<()>>,
}

impl Member {
    /// Consumes `topic`, committing synchronously after each poll batch, and records
    /// everything in `history`.
    fn spawn(addr: &str, group: &str, topic: &str, extra: &[(&str, &str)], history: Arc<History>) -> Member {
        let (c, tracker) = group_consumer(addr, group, extra);
        c.subscribe(&[topic]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, t, topic) = (stop.clone(), tracker.clone(), topic.to_string());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                // partition -> (run, next offset) of the records in hand
                let mut next: BTreeMap<i32, (u64, i64)> = BTreeMap::new();
                for _ in 0..200 {
                    let wait = if next.is_empty() { Duration::from_millis(100) } else { Duration::ZERO };
                    match c.poll(wait) {
                        Some(Ok(m)) => {
                            let p = m.partition();
                            let run = t.run_of(p).unwrap_or_else(|| panic!("record of unassigned partition {p}"));
                            history.push(Ev::Seen { run, p, o: m.offset() });
                            history.seen.fetch_add(1, Ordering::SeqCst);
                            next.insert(p, (run, m.offset() + 1));
                        }
                        Some(Err(e)) => panic!("consume error: {e}"),
                        None => break,
                    }
                }
                if next.is_empty() {
                    continue;
                }
                // "Processing" the batch takes a moment, so that rebalances tend to find
                // members with records in hand (the checks do not depend on it).
                std::thread::sleep(Duration::from_millis(3));
                // Commit only partitions still owned by the run that read them: one
                // revoked during the batch (rebalance callbacks run inside poll) may
                // already belong to another member, and a commit from this member's new
                // generation would not be fenced. Its records will be read again.
                let before = next.len();
                next.retain(|p, (run, _)| t.run_of(*p) == Some(*run));
                history.revoked_in_hand.fetch_add(before - next.len(), Ordering::SeqCst);
                if next.is_empty() {
                    continue;
                }
                let next: Vec<(i32, i64)> = next.into_iter().map(|(p, (_, o))| (p, o)).collect();
                let mut tpl = TopicPartitionList::new();
                for (p, o) in &next {
                    tpl.add_partition_offset(&topic, *p, Offset::Offset(*o)).unwrap();
                }
                let id = history.commit_ids.fetch_add(1, Ordering::SeqCst);
                history.push(Ev::CommitStart { id });
                match c.commit(&tpl, CommitMode::Sync) {
                    Ok(()) => history.push(Ev::CommitOk { id, offsets: next }),
                    // Fenced by a rebalance: these records may be seen again.
                    Err(_) => {
                        history.failed_commits.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            // Dropping closes the consumer: revoke, then LeaveGroup.
            drop(c);
        });
        Member { stop, tracker, handle: Some(handle) }
    }

    fn close(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("consumer thread");
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Checks the exact at-least-once contract of a history on one topic whose
/// partitions hold `ends[p]` records:
/// - within a run (one consumer owning a partition between two rebalances) records
///   come in offset order without gaps or repeats;
/// - a run starts exactly at the partition's last successful commit sent before it
///   started (or 0 when nothing was committed). Commits fenced by a rebalance fail,
///   and one that is not fenced reached the coordinator before the new owner asked
///   for the committed offset, so this is exact, not a bound. The only records seen
///   twice are therefore those after the previous owner's last commit;
/// - every record was seen.
fn check_history(events: &[Ev], ends: &BTreeMap<i32, i64>) -> usize {
    let mut started: BTreeMap<u64, usize> = BTreeMap::new(); // commit id -> event index
    for (i, e) in events.iter().enumerate() {
        if let Ev::CommitStart { id } = e {
            started.insert(*id, i);
        }
    }
    // Successful commits per partition as (start index, offset).
    let mut commits: BTreeMap<i32, Vec<(usize, i64)>> = BTreeMap::new();
    for e in events {
        if let Ev::CommitOk { id, offsets } = e {
            for (p, o) in offsets {
                commits.entry(*p).or_default().push((started[id], *o));
            }
        }
    }
    for c in commits.values_mut() {
        c.sort();
    }
    let mut current: BTreeMap<i32, (u64, i64)> = BTreeMap::new(); // p -> (run, next offset)
    let mut seen: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    let mut duplicates = 0;
    for (i, e) in events.iter().enumerate() {
        let Ev::Seen { run, p, o } = e else { continue };
        match current.get_mut(p) {
            Some((r, next)) if r == run => {
                assert_eq!(*o, *next, "partition {p}: run {run} skipped or repeated (event {i})");
                *next += 1;
            }
            _ => {
                let committed = commits
                    .get(p)
                    .and_then(|c| c.iter().take_while(|(start, _)| *start < i).last())
                    .map(|(_, o)| *o)
                    .unwrap_or(0);
                assert_eq!(
                    *o, committed,
                    "partition {p}: run {run} started at {o}, but the last commit before it was {committed} (event {i})"
                );
                current.insert(*p, (*run, o + 1));
            }
        }
        if !seen.entry(*p).or_default().insert(*o) {
            duplicates += 1;
        }
    }
    for (p, end) in ends {
        let s = seen.get(p).map(|s| s.len()).unwrap_or(0);
        assert_eq!(s as i64, *end, "partition {p}: distinct records seen");
        assert_eq!(seen[p].last().copied(), Some(end - 1), "partition {p}: last offset seen");
    }
    duplicates
}

// ------------------------------------------------------------------ raw protocol

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// ConsumerProtocolSubscription v0: the topics, no user data.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

/// ConsumerProtocolAssignment: topic -> partitions.
fn decode_assignment(mut b: &[u8]) -> BTreeMap<String, BTreeSet<i32>> {
    let mut out = BTreeMap::new();
    if b.is_empty() {
        return out;
    }
    let _version = b.get_i16();
    for _ in 0..b.get_i32() {
        let len = b.get_i16() as usize;
        let topic = String::from_utf8(b[..len].to_vec()).unwrap();
        b.advance(len);
        let parts: BTreeSet<i32> = (0..b.get_i32()).map(|_| b.get_i32()).collect();
        out.insert(topic, parts);
    }
    out
}

/// A raw member: JoinGroup (twice: KIP-394 hands out the member id first), then
/// SyncGroup. Returns the open connection, the member id and the assignment.
fn raw_join(addr: &str, group: &str, topic: &str) -> (std::net::TcpStream, String, BTreeSet<i32>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut req = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_session_timeout_ms(SESSION_MS as i32)
        .with_rebalance_timeout_ms(60_000)
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(sb("range"))
            .with_metadata(subscription(&[topic]))]);
    let r: JoinGroupResponse = wire::call(&mut s, ApiKey::JoinGroup, 5, &req);
    assert_eq!(r.error_code, 79, "MEMBER_ID_REQUIRED first");
    req = req.with_member_id(r.member_id.clone());
    let r: JoinGroupResponse = wire::call(&mut s, ApiKey::JoinGroup, 5, &req);
    assert_eq!(r.error_code, 0, "join");
    assert_ne!(r.leader, r.member_id, "the librdkafka member stays leader");
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id(r.generation_id)
        .with_member_id(r.member_id.clone());
    let sr: SyncGroupResponse = wire::call(&mut s, ApiKey::SyncGroup, 3, &sync);
    assert_eq!(sr.error_code, 0, "sync");
    let parts = decode_assignment(&sr.assignment).remove(topic).unwrap_or_default();
    (s, r.member_id.to_string(), parts)
}

fn describe(weir: &Weir, group: &str) -> describe_groups_response::DescribedGroup {
    let mut s = wire::connect(weir);
    let r: DescribeGroupsResponse = wire::call(
        &mut s,
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]),
    );
    r.groups.into_iter().next().unwrap()
}

fn list_groups(weir: &Weir, states: &[&str]) -> Vec<(String, String)> {
    let mut s = wire::connect(weir);
    let req = ListGroupsRequest::default().with_states_filter(states.iter().map(|s| sb(s)).collect());
    let r: ListGroupsResponse = wire::call(&mut s, ApiKey::ListGroups, 4, &req);
    assert_eq!(r.error_code, 0);
    r.groups.into_iter().map(|g| (g.group_id.0.to_string(), g.group_state.to_string())).collect()
}

fn produce_round_robin(addr: &str, topic: &str, partitions: usize, range: std::ops::Range<usize>) {
    let (p, deliveries) = producer(addr, &[("acks", "all")]);
    let n = range.len();
    for i in range {
        send(&p, topic, (i % partitions) as i32, i);
    }
    flush(&p);
    assert_eq!(deliveries.acked().len(), n, "{:?}", deliveries.errors().first());
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_read_300k_records_while_members_join_and_leave() {
    const TOTAL: usize = 300_000;
    const PARTS: usize = 6;
    let weir = Weir::start_with(ARGS);
    let topic = "churn";
    let group = "churn-g";
    create_topic(&weir.addr, topic, PARTS as i32, &[]).await;
    let history = Arc::new(History::default());

    let mut a = Member::spawn(&weir.addr, group, topic, &[], history.clone());
    // The producer waits at two gates so each membership change overlaps with data:
    // records 150k.. only once the two late joiners own partitions, 250k.. only once
    // the member that leaves is gone and the rest own every partition.
    let gate1 = Arc::new(AtomicBool::new(false));
    let gate2 = Arc::new(AtomicBool::new(false));
    let producing = {
        let (addr, g1, g2) = (weir.addr.clone(), gate1.clone(), gate2.clone());
        std::thread::spawn(move || {
            let (p, deliveries) = producer(&addr, &[("acks", "all")]);
            for i in 0..TOTAL {
                if i == 150_000 {
                    wait_for("both late joiners to own partitions", || g1.load(Ordering::SeqCst));
                }
                if i == 250_000 {
                    wait_for("the leaver to be gone", || g2.load(Ordering::SeqCst));
                }
                send(&p, topic, (i % PARTS) as i32, i);
                if i % 2000 == 1999 {
                    std::thread::sleep(Duration::from_millis(2)); // spread the load a little
                }
            }
            flush(&p);
            assert_eq!(deliveries.acked().len(), TOTAL, "{:?}", deliveries.errors().first());
        })
    };

    wait_for("50k records seen by the first member", || history.seen.load(Ordering::SeqCst) >= 50_000);
    assert_eq!(a.tracker.partitions().len(), PARTS, "the only member owns everything");
    let mut b = Member::spawn(&weir.addr, group, topic, &[], history.clone());
    let mut c = Member::spawn(&weir.addr, group, topic, &[], history.clone());
    wait_for("the late joiners to own partitions", || {
        !b.tracker.partitions().is_empty() && !c.tracker.partitions().is_empty()
    });
    gate1.store(true, Ordering::SeqCst);

    wait_for("180k records seen", || history.seen.load(Ordering::SeqCst) >= 180_000);
    c.close(); // a clean leave, while records keep arriving
    wait_for("the two remaining members to own all partitions", || {
        let (pa, pb) = (a.tracker.partitions(), b.tracker.partitions());
        pa.is_disjoint(&pb) && pa.len() + pb.len() == PARTS && !pa.is_empty() && !pb.is_empty()
    });
    gate2.store(true, Ordering::SeqCst);
    producing.join().expect("producer");

    // Done when every partition's last record is committed.
    let ends: BTreeMap<i32, i64> = (0..PARTS as i32).map(|p| (p, (TOTAL / PARTS) as i64)).collect();
    wait_for("every record committed", || {
        let events = history.events.lock().unwrap();
        let mut last: BTreeMap<i32, i64> = BTreeMap::new();
        for e in events.iter() {
            if let Ev::CommitOk { offsets, .. } = e {
                for (p, o) in offsets {
                    last.insert(*p, *o);
                }
            }
        }
        last == ends
    });
    a.close();
    b.close();

    let events = history.events.lock().unwrap().clone();
    let duplicates = check_history(&events, &ends);
    eprintln!(
        "churn: {} records delivered, {duplicates} redelivered after a rebalance, {} fenced commits, \
         {} partitions revoked with records in hand",
        history.seen.load(Ordering::SeqCst),
        history.failed_commits.load(Ordering::SeqCst),
        history.revoked_in_hand.load(Ordering::SeqCst)
    );
    let d = describe(&weir, group);
    assert_eq!((d.error_code, d.group_state.as_str(), d.members.len()), (0, "Empty", 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_heartbeating_is_evicted_and_its_partitions_move() {
    let weir = Weir::start_with(ARGS);
    let (topic, group) = ("evict", "evict-g");
    create_topic(&weir.addr, topic, 6, &[]).await;
    let (c, tracker) = group_consumer(&weir.addr, group, &[]);
    c.subscribe(&[topic]).unwrap();
    wait_for("the consumer to own all 6 partitions", || {
        c.poll(Duration::from_millis(50));
        tracker.partitions().len() == 6
    });

    // The raw member blocks in JoinGroup until the consumer rejoins, so it runs on a
    // thread while this one keeps polling (rebalance callbacks run inside poll).
    let raw = {
        let weir_addr = weir.addr.clone();
        std::thread::spawn(move || {
            let (sock, id, parts) = raw_join(&weir_addr, group, topic);
            (sock, id, parts, Instant::now())
        })
    };
    while !raw.is_finished() {
        c.poll(Duration::from_millis(50));
    }
    let (_sock, raw_id, raw_parts, synced) = raw.join().expect("raw member");
    assert_eq!(raw_parts.len(), 3, "range assigns half of 6 partitions to the raw member");
    wait_for("the consumer to own the other half", || {
        c.poll(Duration::from_millis(50));
        tracker.partitions() == (0..6).filter(|p| !raw_parts.contains(p)).collect()
    });
    let d = describe(&weir, group);
    assert_eq!(d.group_state.as_str(), "Stable");
    assert!(d.members.iter().any(|m| m.member_id.as_str() == raw_id));

    // The raw member now goes silent (its connection stays open, as a hung process's
    // would): after its session timeout it is evicted and the consumer gets everything.
    wait_for("the consumer to own all 6 partitions again", || {
        c.poll(Duration::from_millis(50));
        tracker.partitions().len() == 6
    });
    let after = synced.elapsed();
    assert!(
        after >= Duration::from_millis(SESSION_MS - 1000),
        "evicted after {after:?}, before its {SESSION_MS} ms session timeout"
    );
    let d = describe(&weir, group);
    assert_eq!(d.members.len(), 1, "only the consumer is left");
    assert!(d.members.iter().all(|m| m.member_id.as_str() != raw_id));
    // The evicted member's heartbeat is refused.
    let mut s = wire::connect(&weir);
    let hb =
        HeartbeatRequest::default().with_group_id(GroupId(sb(group))).with_generation_id(1).with_member_id(sb(&raw_id));
    let r: HeartbeatResponse = wire::call(&mut s, ApiKey::Heartbeat, 3, &hb);
    assert_eq!(r.error_code, 25, "UNKNOWN_MEMBER_ID");
}

/// Consumes `n` records from a subscribed consumer, checking that each partition
/// starts at `start[p]` and continues without gaps; returns the next offsets.
fn consume_subscribed(c: &BaseConsumer<Ctx>, n: usize, start: &BTreeMap<i32, i64>) -> BTreeMap<i32, i64> {
    let mut next = start.clone();
    let mut got = 0;
    let started = Instant::now();
    while got < n {
        assert!(started.elapsed() < DEADLINE, "consumed {got} of {n}");
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let want = next.get(&m.partition()).copied().unwrap_or(0);
                assert_eq!(m.offset(), want, "partition {}: resumes exactly", m.partition());
                next.insert(m.partition(), m.offset() + 1);
                got += 1;
            }
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    next
}

fn committed(c: &BaseConsumer<Ctx>, topic: &str, parts: i32) -> BTreeMap<i32, i64> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..parts {
        tpl.add_partition(topic, p);
    }
    let r = c.committed_offsets(tpl, DEADLINE).unwrap();
    r.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_restart_and_a_new_consumer_resumes_after_them() {
    let port = free_port();
    let mut weir = Weir::start_with(ARGS);
    // Restart needs a fixed address: move to one now.
    weir.stop();
    weir.addr = format!("127.0.0.1:{port}");
    weir.restart();
    let (topic, group) = ("resume", "resume-g");
    create_topic(&weir.addr, topic, 3, &[]).await;
    produce_round_robin(&weir.addr, topic, 3, 0..3000);

    let (c, _) = group_consumer(&weir.addr, group, &[]);
    c.subscribe(&[topic]).unwrap();
    let next = consume_subscribed(&c, 1234, &BTreeMap::new());
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &next {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
    assert_eq!(committed(&c, topic, 3), next);
    drop(c); // leaves the group

    // A clean restart, then a crash: commits are durable once acknowledged.
    assert_eq!(weir.stop().code(), Some(0));
    weir.restart();
    let (c, _) = group_consumer(&weir.addr, group, &[]);
    assert_eq!(committed(&c, topic, 3), next, "committed offsets after a restart");
    c.subscribe(&[topic]).unwrap();
    let next2 = consume_subscribed(&c, 1000, &next);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &next2 {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
    drop(c);
    weir.kill();
    weir.restart();

    let (c, _) = group_consumer(&weir.addr, group, &[]);
    c.subscribe(&[topic]).unwrap();
    let remaining = 3000 - next2.values().sum::<i64>() as usize;
    let end = consume_subscribed(&c, remaining, &next2);
    assert_eq!(end, (0..3).map(|p| (p, 1000)).collect(), "read to the end, exactly once");
    assert!(c.poll(Duration::from_millis(300)).is_none(), "nothing beyond the end");
    drop(c);
    assert_eq!(weir.stop().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarting_within_its_session_keeps_its_partitions_without_a_rebalance() {
    let weir = Weir::start_with(ARGS);
    let (topic, group) = ("static", "static-g");
    create_topic(&weir.addr, topic, 4, &[]).await;
    let history = Arc::new(History::default());
    let cfg = |inst: &'static str| -> [(&'static str, &'static str); 2] {
        [("group.instance.id", inst), ("session.timeout.ms", "30000")]
    };
    // s1 joins first, so it is the leader: the harder case.
    let mut s1 = Member::spawn(&weir.addr, group, topic, &cfg("s1"), history.clone());
    wait_for("s1 to own all partitions", || s1.tracker.partitions().len() == 4);
    let s2 = Member::spawn(&weir.addr, group, topic, &cfg("s2"), history.clone());
    wait_for("s1 and s2 to share the partitions", || {
        s1.tracker.partitions().len() == 2 && s2.tracker.partitions().len() == 2
    });
    let before = describe(&weir, group);
    assert_eq!(before.group_state.as_str(), "Stable");
    let s1_parts = s1.tracker.partitions();
    let s2_rebalances = (s2.tracker.assigns.load(Ordering::SeqCst), s2.tracker.revokes.load(Ordering::SeqCst));
    let old_s1 =
        before.members.iter().find(|m| m.group_instance_id.as_deref() == Some("s1")).unwrap().member_id.clone();

    // librdkafka does not send LeaveGroup when a static member closes (KIP-345).
    s1.close();
    assert_eq!(describe(&weir, group).members.len(), 2, "s1 is still a member while its session lasts");
    let s1b = Member::spawn(&weir.addr, group, topic, &cfg("s1"), history.clone());
    wait_for("the restarted s1 to get its partitions", || !s1b.tracker.partitions().is_empty());
    assert_eq!(s1b.tracker.partitions(), s1_parts, "same partitions after the restart");
    // In the eager protocol a rebalance cannot complete before every member revoked,
    // so s2's unchanged callback counts prove there was none.
    assert_eq!(
        (s2.tracker.assigns.load(Ordering::SeqCst), s2.tracker.revokes.load(Ordering::SeqCst)),
        s2_rebalances,
        "s2 saw no rebalance"
    );
    let after = describe(&weir, group);
    assert_eq!(after.group_state.as_str(), "Stable");
    assert_eq!(after.members.len(), 2);
    let new_s1 = after.members.iter().find(|m| m.group_instance_id.as_deref() == Some("s1")).unwrap();
    assert_ne!(new_s1.member_id, old_s1, "the restarted member has a new member id");
    let parts = decode_assignment(&new_s1.member_assignment).remove(topic).unwrap_or_default();
    assert_eq!(parts, s1_parts, "DescribeGroups shows the kept assignment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_describe_and_delete_groups() {
    let weir = Weir::start_with(ARGS);
    let (topic, group) = ("adm-groups", "adm-g");
    create_topic(&weir.addr, topic, 2, &[]).await;
    produce_round_robin(&weir.addr, topic, 2, 0..10);
    let (c, tracker) = group_consumer(&weir.addr, group, &[("client.id", "adm-client")]);
    c.subscribe(&[topic]).unwrap();
    let next = consume_subscribed(&c, 10, &BTreeMap::new());
    assert_eq!(tracker.partitions().len(), 2);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &next {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();

    // librdkafka's group list (ListGroups + DescribeGroups).
    let list = c.fetch_group_list(Some(group), DEADLINE).unwrap();
    let g = &list.groups()[0];
    assert_eq!((g.name(), g.state(), g.protocol_type(), g.protocol()), (group, "Stable", "consumer", "range"));
    assert_eq!(g.members().len(), 1);
    assert_eq!(g.members()[0].client_id(), "adm-client");
    let assignment = decode_assignment(g.members()[0].assignment().unwrap());
    assert_eq!(assignment[topic], [0, 1].into());
    // Raw ListGroups with state filters (v4).
    assert!(list_groups(&weir, &[]).contains(&(group.to_string(), "Stable".to_string())));
    assert!(list_groups(&weir, &["stable"]).iter().any(|(g, _)| g == group));
    assert!(!list_groups(&weir, &["Empty"]).iter().any(|(g, _)| g == group));

    let a = admin(&weir.addr);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let r = a.delete_groups(&[group], &opts).await.unwrap();
    assert_eq!(r[0].clone().unwrap_err().1, RDKafkaErrorCode::NonEmptyGroup);

    drop(c); // leaves: the group is empty but keeps its offsets
    wait_for("the group to be empty", || describe(&weir, group).group_state.as_str() == "Empty");
    assert!(list_groups(&weir, &["Empty"]).iter().any(|(g, _)| g == group));
    let (probe, _) = group_consumer(&weir.addr, group, &[]);
    assert_eq!(committed(&probe, topic, 2), next);

    let r = a.delete_groups(&[group, "no-such-group"], &opts).await.unwrap();
    assert_eq!(r[0].clone().unwrap(), group);
    assert_eq!(r[1].clone().unwrap_err().1, RDKafkaErrorCode::GroupIdNotFound);
    assert!(!list_groups(&weir, &[]).iter().any(|(g, _)| g == group));
    assert!(committed(&probe, topic, 2).is_empty(), "offsets deleted with the group");
    let d = describe(&weir, group);
    // Before v6, DescribeGroups answers an unknown group with state Dead and no error.
    assert_eq!((d.error_code, d.group_state.as_str(), d.members.len()), (0, "Dead", 0));
}

/// Java's `String.hashCode` (for ASCII), which places a group on a partition.
fn java_hash(s: &str) -> i32 {
    s.bytes().fold(0i32, |h, b| h.wrapping_mul(31).wrapping_add(b as i32))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_offsets_records_use_kafkas_key_and_value_schemas() {
    let weir = Weir::start_with(ARGS);
    let (topic, group) = ("decode", "decode-g");
    create_topic(&weir.addr, topic, 2, &[]).await;
    produce_round_robin(&weir.addr, topic, 2, 0..100);

    // Simple (non-member) commits: two for partition 0 (the second wins), one for 1.
    let (c, _) = group_consumer(&weir.addr, group, &[]);
    let t0 = store_now_ms();
    let commit = |p: i32, o: i64, meta: &str| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(o)).unwrap();
        tpl.find_partition(topic, p).expect("added").set_metadata(meta);
        c.commit(&tpl, CommitMode::Sync).unwrap();
    };
    commit(0, 10, "first");
    commit(0, 42, "meta-zero");
    commit(1, 7, "");
    let t1 = store_now_ms();

    // Read every record of __consumer_offsets by assignment.
    let reader = consumer(&weir.addr);
    let mut found: Vec<(i32, Bytes, Option<Bytes>)> = Vec::new();
    for p in 0..50 {
        let (lo, hi) = reader.fetch_watermarks("__consumer_offsets", p, DEADLINE).unwrap();
        if hi > lo {
            for (_, r) in read_partition(&weir.addr, "__consumer_offsets", p, Offset::Beginning, (hi - lo) as usize) {
                found.push((p, Bytes::from(r.key.unwrap()), r.value.map(Bytes::from)));
            }
        }
    }
    let want_partition = java_hash(group).unsigned_abs() as i32 % 50;
    let mut latest: BTreeMap<(String, i32), (i64, i32, String, i64)> = BTreeMap::new();
    let mut commits = 0;
    for (p, mut key, value) in found {
        let version = key.get_i16();
        assert!((0..=2).contains(&version), "key version {version}");
        let g = get_str(&mut key);
        if version == 2 || g != group {
            continue;
        }
        assert_eq!(version, 1, "OffsetCommitKey v1");
        let t = get_str(&mut key);
        let partition = key.get_i32();
        assert!(key.is_empty(), "nothing after the key fields");
        assert_eq!(p, want_partition, "abs(hashCode(group)) % 50");
        let mut v = value.expect("a value, not a tombstone");
        assert_eq!(v.get_i16(), 3, "OffsetCommitValue v3");
        let offset = v.get_i64();
        let epoch = v.get_i32();
        let metadata = get_str(&mut v);
        let ts = v.get_i64();
        assert!(v.is_empty(), "nothing after the value fields");
        latest.insert((t, partition), (offset, epoch, metadata, ts));
        commits += 1;
    }
    assert_eq!(commits, 3, "one record per committed partition per commit");
    assert_eq!(latest.len(), 2);
    let (o, e, m, ts) = &latest[&(topic.to_string(), 0)];
    assert_eq!((*o, *e, m.as_str()), (42, -1, "meta-zero"));
    assert!((t0..=t1).contains(ts), "commit timestamp {ts} within [{t0}, {t1}]");
    let (o, _, m, _) = &latest[&(topic.to_string(), 1)];
    assert_eq!((*o, m.as_str()), (7, ""));
}

fn get_str(b: &mut Bytes) -> String {
    let len = b.get_i16();
    assert!(len >= 0, "non-null string");
    let s = b.split_to(len as usize);
    String::from_utf8(s.to_vec()).unwrap()
}

fn store_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
