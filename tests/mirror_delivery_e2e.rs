//! End-to-end: the replicator killed with SIGKILL at random points while
//! records are being produced and copied (issue 17). With
//! `B.exactly.once.source.support=enabled`, a read-committed consumer of B sees
//! every record of A exactly once, in order; without it, every record at least
//! once, and each partition's copy rewinds at most once per kill (to the last
//! committed position: the duplicates are what was in flight). Exactly once
//! turned on and off between runs copies nothing twice.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clients::*;
use common::mirror::*;
use common::Weir;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;
const RECORDS: usize = 40_000;
const KILLS: usize = 5;

/// Produces `RECORDS` numbered records over a few seconds, spread over the partitions.
fn produce_slowly(addr: String, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (p, _) = producer(&addr, &[]);
        for chunk in 0..RECORDS / 1000 {
            for i in chunk * 1000..(chunk + 1) * 1000 {
                send(&p, "orders", (i % PARTITIONS as usize) as i32, i);
            }
            flush(&p);
            std::thread::sleep(Duration::from_millis(150));
        }
        done.store(true, Ordering::SeqCst);
    })
}

/// Every record of one partition of B with its offset, read committed, until
/// `want` have been read and nothing more arrives for a second.
fn read_all(addr: &str, topic: &str, partition: i32, want: usize) -> Vec<(i64, TestRecord)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "mirror-delivery-check")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    let mut quiet_since = Instant::now();
    loop {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push((m.offset(), from_message(&m)));
                quiet_since = Instant::now();
            }
            Some(Err(e)) => panic!("consume error: {e}"),
            None if out.len() >= want && quiet_since.elapsed() > Duration::from_secs(1) => return out,
            None => {}
        }
        assert!(started.elapsed() < DEADLINE, "read {} of {want} records of {topic}/{partition}", out.len());
    }
}

/// A small deterministic generator, seeded from the clock and printed, so a
/// failing run can be repeated.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// What a run leaves: each partition's records as B holds them, and the
/// positions the flow had committed on A (at least once keeps them there)
/// just before each kill.
struct Run {
    copies: Vec<Vec<(i64, TestRecord)>>,
    committed_before_kill: Vec<Vec<i64>>,
    b: Weir,
    a: Weir,
}

/// Runs the copy with `KILLS` SIGKILLs at random points, then to the end.
async fn copy_with_kills(extra: &str) -> Run {
    let (a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", PARTITIONS, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_file(dir.path(), &a.addr, &b.addr, extra);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    println!("kill seed {seed}");
    let mut rng = Lcg(seed);
    let mut committed_before_kill = Vec::new();
    let done = Arc::new(AtomicBool::new(false));
    let producing = produce_slowly(a.addr.clone(), done.clone());
    for kill in 0..KILLS {
        let mirror = Mirror::start(&config);
        let after = 300 + rng.next(1500);
        std::thread::sleep(Duration::from_millis(after));
        let positions = committed(&a.addr, "__weir-mirror.A->B", "orders", PARTITIONS);
        println!("kill {kill} after {after} ms, positions committed on A {positions:?}");
        committed_before_kill.push(positions);
        mirror.kill();
    }
    producing.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    let mirror = Mirror::start(&config);
    let per_partition = RECORDS / PARTITIONS as usize;
    let copies: Vec<Vec<(i64, TestRecord)>> =
        (0..PARTITIONS).map(|p| read_all(&b.addr, "A.orders", p, per_partition)).collect();
    assert!(mirror.stop().success());
    Run { copies, committed_before_kill, b, a }
}

fn source(partition: i32) -> Vec<TestRecord> {
    (0..RECORDS).filter(|i| i % PARTITIONS as usize == partition as usize).map(record).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_holds_every_record_once_through_sigkills() {
    // The offset syncs on the target, so they commit with their records.
    let extra = "B.exactly.once.source.support = enabled\noffset-syncs.topic.location = target\n";
    let Run { copies, b, .. } = copy_with_kills(extra).await;
    for (p, got) in copies.iter().enumerate() {
        let want = source(p as i32);
        assert_eq!(got.len(), want.len(), "partition {p}: records on B");
        assert!(got.iter().map(|(_, r)| r).eq(want.iter()), "partition {p}: B holds A's records once each, in order");
    }
    // Every committed offset sync points at the copy of its record (A has no
    // transactions: a record's upstream offset is its index in A's partition).
    let syncs = read_all(&b.addr, "mm2-offset-syncs.A.internal", 0, 1);
    assert!(!syncs.is_empty());
    for (_, s) in &syncs {
        let sync =
            weir_mirror::formats::OffsetSync::decode(s.key.as_deref().unwrap(), s.value.as_deref().unwrap()).unwrap();
        let copy = &copies[sync.partition as usize];
        let (_, at) = copy.iter().find(|(o, _)| *o >= sync.downstream_offset).expect("a record at the sync");
        assert_eq!(
            *at,
            record(sync.upstream_offset as usize * PARTITIONS as usize + sync.partition as usize),
            "{sync:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_loses_nothing_and_repeats_only_what_was_in_flight() {
    let run = copy_with_kills("").await;
    let mut duplicates = 0;
    for (p, got) in run.copies.iter().enumerate() {
        let want = source(p as i32);
        // Walk B's copy against A's: a record is either the next one of A, or
        // the copy rewound to an earlier one (a restart from the committed
        // position) and repeats from there. A's partition holds no
        // transactions, so a record's index in `want` is its offset on A.
        let mut next = 0;
        let mut rewinds = 0;
        for (_, r) in got {
            if next < want.len() && *r == want[next] {
                next += 1;
                continue;
            }
            let at = want[..next].iter().rposition(|w| w == r).expect("a record A never had");
            assert!(rewinds < KILLS, "partition {p}: more rewinds than the {KILLS} kills");
            // Rewinds come in kill order, and the n-th rewind is caused by the
            // n-th kill or a later one; positions only move forward, so it
            // restarts at or after what was committed before the n-th kill.
            // (A restart from the beginning, or from a stale position, fails
            // here; how much it repeats depends on timing and is not judged.)
            let floor = run.committed_before_kill[rewinds][p];
            assert!(
                at as i64 >= floor,
                "partition {p}: rewind {rewinds} restarted at {at}, before the position {floor} committed before kill {rewinds}"
            );
            rewinds += 1;
            duplicates += next - at;
            next = at + 1;
        }
        assert_eq!(next, want.len(), "partition {p}: every record of A reached B");
        assert!(rewinds <= KILLS, "partition {p}: {rewinds} rewinds for {KILLS} kills");
    }
    let end = committed(&run.a.addr, "__weir-mirror.A->B", "orders", PARTITIONS);
    assert_eq!(end, vec![(RECORDS / PARTITIONS as usize) as i64; PARTITIONS as usize], "final positions on A");
    println!("at least once: {duplicates} records copied twice through {KILLS} kills");
}

/// Exactly once keeps its position on B, at least once on A. Turned off, on
/// and off again, each run resumes after what the other copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_exactly_once_on_and_off_copies_nothing_twice() {
    const PER_RUN: usize = 200;
    let (a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", PARTITIONS, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let eos = "B.exactly.once.source.support = enabled\n";
    let (p, _) = producer(&a.addr, &[]);
    let group = "__weir-mirror.A->B";
    for (run, extra) in ["", eos, "", eos].into_iter().enumerate() {
        for i in run * PER_RUN..(run + 1) * PER_RUN {
            send(&p, "orders", (i % PARTITIONS as usize) as i32, i);
        }
        flush(&p);
        let sub = dir.path().join(run.to_string());
        std::fs::create_dir_all(&sub).unwrap();
        let mirror = Mirror::start(&mm2_file(&sub, &a.addr, &b.addr, extra));
        // Each partition's next source offset, held where this mode keeps it.
        let want = vec![((run + 1) * PER_RUN / PARTITIONS as usize) as i64; PARTITIONS as usize];
        let (addr, topic) = if extra.is_empty() { (&a.addr, "orders") } else { (&b.addr, "A.orders") };
        wait_for(&format!("run {run}'s position"), || {
            (committed(addr, group, topic, PARTITIONS) == want).then_some(())
        });
        assert!(mirror.stop().success());
    }
    let per_partition = 4 * PER_RUN / PARTITIONS as usize;
    for partition in 0..PARTITIONS {
        let got: Vec<TestRecord> =
            read_all(&b.addr, "A.orders", partition, per_partition).into_iter().map(|(_, r)| r).collect();
        let want: Vec<TestRecord> =
            (0..4 * PER_RUN).filter(|i| i % PARTITIONS as usize == partition as usize).map(record).collect();
        assert_eq!(got.len(), want.len(), "partition {partition}: records on B");
        assert!(got == want, "partition {partition}: B holds A's records once each, in order");
    }
}
