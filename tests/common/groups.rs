//! Shared harness of the consumer-group tests: librdkafka consumers whose rebalance
//! callbacks are tracked, members polling on their own threads, and the check that
//! a history of deliveries and commits keeps the at-least-once contract exactly.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use super::clients::{create_topic, flush, producer, send, DEADLINE};
use super::Weir;

/// Session timeout the classic-protocol consumers ask for.
pub const SESSION_MS: u64 = 6000;

pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < DEADLINE, "timed out after {DEADLINE:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------------ consumers

/// Unique ids for ownership runs: a partition assigned to a consumer starts a run.
pub static RUNS: AtomicU64 = AtomicU64::new(1);

/// What a consumer's rebalance callbacks saw.
#[derive(Default)]
pub struct Tracker {
    /// Partition -> id of the run that started when it was (re)assigned.
    pub owned: Mutex<BTreeMap<i32, u64>>,
    pub assigns: AtomicUsize,
    pub revokes: AtomicUsize,
}

impl Tracker {
    pub fn partitions(&self) -> BTreeSet<i32> {
        self.owned.lock().unwrap().keys().copied().collect()
    }
    pub fn run_of(&self, p: i32) -> Option<u64> {
        self.owned.lock().unwrap().get(&p).copied()
    }
}

#[derive(Clone, Default)]
pub struct Ctx(pub Arc<Tracker>);

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

pub fn group_consumer(addr: &str, group: &str, extra: &[(&str, &str)]) -> (BaseConsumer<Ctx>, Arc<Tracker>) {
    let ctx = Ctx::default();
    let tracker = ctx.0.clone();
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50");
    // With group.protocol=consumer the broker sets both (librdkafka refuses them).
    if !extra.contains(&("group.protocol", "consumer")) {
        cfg.set("session.timeout.ms", SESSION_MS.to_string()).set("heartbeat.interval.ms", "300");
    }
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
pub enum Ev {
    /// A record handed to the application.
    Seen { run: u64, p: i32, o: i64 },
    /// About to send a synchronous commit (id).
    CommitStart { id: u64 },
    /// The commit `id` succeeded with these next offsets.
    CommitOk { id: u64, offsets: Vec<(i32, i64)> },
}

#[derive(Default)]
pub struct History {
    pub events: Mutex<Vec<Ev>>,
    pub seen: AtomicUsize,
    pub commit_ids: AtomicU64,
    pub failed_commits: AtomicUsize,
    /// Batches that lost a partition to a rebalance before they could commit it.
    pub revoked_in_hand: AtomicUsize,
}

impl History {
    pub fn push(&self, e: Ev) {
        self.events.lock().unwrap().push(e);
    }
}

/// A subscribed consumer polling on its own thread.
pub struct Member {
    stop: Arc<AtomicBool>,
    pub tracker: Arc<Tracker>,
    handle: Option<JoinHandle<()>>,
}

impl Member {
    /// Consumes `topic`, committing synchronously after each poll batch, and records
    /// everything in `history`.
    pub fn spawn(addr: &str, group: &str, topic: &str, extra: &[(&str, &str)], history: Arc<History>) -> Member {
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
                        // The broker restarting (a test may restart it): librdkafka
                        // reports the lost connection and reconnects by itself.
                        Some(Err(KafkaError::MessageConsumption(
                            RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
                        ))) => break,
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

    pub fn close(&mut self) {
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
pub fn check_history(events: &[Ev], ends: &BTreeMap<i32, i64>) -> usize {
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

pub fn produce_round_robin(addr: &str, topic: &str, partitions: usize, range: std::ops::Range<usize>) {
    let (p, deliveries) = producer(addr, &[("acks", "all")]);
    let n = range.len();
    for i in range {
        send(&p, topic, (i % partitions) as i32, i);
    }
    flush(&p);
    assert_eq!(deliveries.acked().len(), n, "{:?}", deliveries.errors().first());
}

/// Consumes `n` records from a subscribed consumer, checking that each partition
/// starts at `start[p]` and continues without gaps; returns the next offsets.
pub fn consume_subscribed(c: &BaseConsumer<Ctx>, n: usize, start: &BTreeMap<i32, i64>) -> BTreeMap<i32, i64> {
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

pub fn committed(c: &BaseConsumer<Ctx>, topic: &str, parts: i32) -> BTreeMap<i32, i64> {
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

/// Three consumers of one group read 300k records from 6 partitions while two
/// members join and one leaves mid-stream; every record is seen and the history
/// keeps the at-least-once contract exactly (see [`check_history`]). The topic is
/// named after the group.
pub async fn churn(weir: &Weir, group: &str, extra: &[(&str, &str)]) {
    const TOTAL: usize = 300_000;
    const PARTS: usize = 6;

    let topic = group;
    create_topic(&weir.addr, topic, PARTS as i32, &[]).await;
    let history = Arc::new(History::default());

    let mut a = Member::spawn(&weir.addr, group, topic, extra, history.clone());
    // The producer waits at two gates so each membership change overlaps with data:
    // records 150k.. only once the two late joiners own partitions, 250k.. only once
    // the member that leaves is gone and the rest own every partition.
    let gate1 = Arc::new(AtomicBool::new(false));
    let gate2 = Arc::new(AtomicBool::new(false));
    let producing = {
        let (addr, g1, g2, topic) = (weir.addr.clone(), gate1.clone(), gate2.clone(), topic.to_string());
        std::thread::spawn(move || {
            let (p, deliveries) = producer(&addr, &[("acks", "all")]);
            for i in 0..TOTAL {
                if i == 150_000 {
                    wait_for("both late joiners to own partitions", || g1.load(Ordering::SeqCst));
                }
                if i == 250_000 {
                    wait_for("the leaver to be gone", || g2.load(Ordering::SeqCst));
                }
                send(&p, &topic, (i % PARTS) as i32, i);
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
    let mut b = Member::spawn(&weir.addr, group, topic, extra, history.clone());
    let mut c = Member::spawn(&weir.addr, group, topic, extra, history.clone());
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
}
