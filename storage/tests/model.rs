//! Property test: random appends, reads, rolls, retention, DeleteRecords, truncation
//! and reopen agree with a simple in-memory model of the log; with a segment pool in
//! half the cases, so that retention recycles segment files into later rolls.

use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;
use weir_storage::batch::{batches, set_base_offset};
use weir_storage::testutil::{BatchBuilder, Record};
use weir_storage::{Clock, Log, LogConfig, MockClock, SegmentPool, StorageError};

#[derive(Clone, Debug)]
enum Op {
    Append { batches: Vec<(u8, u16, u8)> }, // (records, value len, codec)
    Read { at: u16, max_bytes: u16, min_one: bool },
    Roll,
    Retention { advance_ms: u16 },
    DeleteRecords { at: u16 },
    Truncate { at: u16 },
    Reopen { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((1u8..6, 0u16..300, 0u8..5), 1..4).prop_map(|batches| Op::Append { batches }),
        4 => (any::<u16>(), 1u16..3000, any::<bool>()).prop_map(|(at, max_bytes, min_one)| Op::Read { at, max_bytes, min_one }),
        1 => Just(Op::Roll),
        1 => (0u16..8000).prop_map(|advance_ms| Op::Retention { advance_ms }),
        1 => any::<u16>().prop_map(|at| Op::DeleteRecords { at }),
        1 => any::<u16>().prop_map(|at| Op::Truncate { at }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

#[derive(Clone, Debug)]
struct Cfg {
    segment_bytes: u64,
    index_interval: u64,
    index_bytes: u64,
    retention_bytes: i64,
    recycle: bool,
}

fn cfg() -> impl Strategy<Value = Cfg> {
    (300u64..4000, 0u64..600, 12u64..240, prop_oneof![Just(-1i64), 500i64..5000], any::<bool>()).prop_map(
        |(segment_bytes, index_interval, index_bytes, retention_bytes, recycle)| Cfg {
            segment_bytes,
            index_interval,
            index_bytes,
            retention_bytes,
            recycle,
        },
    )
}

struct Model {
    /// (base offset, last offset, bytes as stored)
    batches: Vec<(i64, i64, Vec<u8>)>,
    start: i64,
    end: i64,
}

fn pick(at: u16, lo: i64, hi: i64) -> i64 {
    // Mostly in range, sometimes just outside.
    let span = (hi - lo + 3).max(1);
    lo - 1 + (at as i64 % span)
}

fn check_range(log: &Log, m: &Model, from: i64) {
    let mut next = from;
    let mut expect = m.batches.iter().filter(|b| b.1 >= from).peekable();
    while next < m.end {
        let r = log.read(next, 5000, true).unwrap();
        assert!(!r.records.is_empty(), "no data at {next} < end {}", m.end);
        for b in batches(&r.records) {
            let (h, bytes) = b.unwrap();
            let (base, _, want) = expect.next().expect("model has batch");
            assert_eq!(h.base_offset, *base);
            assert_eq!(bytes, &want[..]);
            next = h.next_offset();
        }
    }
    assert!(expect.peek().is_none());
}

fn run(cfg: Cfg, ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("t-0");
    let clock = Arc::new(MockClock::new(1_000_000));
    let config = LogConfig {
        segment_bytes: cfg.segment_bytes,
        index_interval_bytes: cfg.index_interval,
        segment_index_bytes: cfg.index_bytes,
        retention_bytes: cfg.retention_bytes,
        retention_ms: 10_000,
        ..Default::default()
    };
    let pool = Arc::new(SegmentPool::open(dir.path()).unwrap());
    pool.set_budget(if cfg.recycle { 1 << 20 } else { 0 });
    let open =
        |recover| Log::open_in(path.clone(), config.clone(), clock.clone(), recover, Some(pool.clone())).unwrap();
    let mut log = open(false);
    let mut m = Model { batches: Vec::new(), start: 0, end: 0 };
    let mut serial = 0u64;
    for op in ops {
        match op {
            Op::Append { batches: spec } => {
                let mut buf = Vec::new();
                let mut made = Vec::new();
                let mut next = m.end;
                for (n, vlen, codec) in spec {
                    serial += 1;
                    let mut b = BatchBuilder::new(0)
                        .compression(codec)
                        .timestamp(clock.now_ms())
                        .records(
                            (0..n).map(|i| Record::kv(format!("k{serial}-{i}"), vec![serial as u8; vlen as usize])),
                        )
                        .build();
                    buf.extend_from_slice(&b);
                    set_base_offset(&mut b, next);
                    made.push((next, next + n as i64 - 1, b));
                    next += n as i64;
                }
                let info = log.append(&buf).unwrap();
                assert_eq!(info.first_offset, m.end);
                assert_eq!(info.last_offset, next - 1);
                m.batches.extend(made);
                m.end = next;
            }
            Op::Read { at, max_bytes, min_one } => {
                let off = pick(at, m.start, m.end);
                let r = log.read(off, max_bytes as usize, min_one);
                if off < m.start || off > m.end {
                    assert!(matches!(r, Err(StorageError::OffsetOutOfRange { .. })), "{off} {r:?}");
                    continue;
                }
                let r = r.unwrap();
                assert_eq!((r.log_start_offset, r.log_end_offset), (m.start, m.end));
                if off == m.end {
                    assert!(r.records.is_empty());
                    continue;
                }
                let mut expect = m.batches.iter().filter(|b| b.1 >= off);
                let mut n = 0;
                for b in batches(&r.records) {
                    let (_, bytes) = b.unwrap();
                    assert_eq!(bytes, &expect.next().unwrap().2[..]);
                    n += 1;
                }
                if min_one {
                    assert!(n >= 1);
                }
                assert!(r.records.len() <= max_bytes as usize || n == 1);
            }
            Op::Roll => log.roll().unwrap(),
            Op::Retention { advance_ms } => {
                clock.advance(advance_ms as i64);
                let before = log.segment_count();
                let deleted = log.apply_retention().unwrap();
                pool.process();
                assert_eq!(log.segment_count(), before - deleted);
                let start = log.log_start_offset();
                assert!(start >= m.start && start <= m.end);
                m.start = start;
            }
            Op::DeleteRecords { at } => {
                let off = pick(at, m.start, m.end);
                match log.delete_records_before(off) {
                    Ok(s) => {
                        assert!(off <= m.end && off >= 0);
                        m.start = m.start.max(off);
                        assert_eq!(s, m.start);
                    }
                    Err(StorageError::OffsetOutOfRange { .. }) => assert!(off > m.end || off < 0),
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Truncate { at } => {
                let off = pick(at, m.start, m.end).max(0);
                log.truncate_to(off).unwrap();
                if off < m.start {
                    m.batches.clear();
                    m.start = off;
                    m.end = off;
                } else if off < m.end {
                    if let Some(i) = m.batches.iter().position(|b| b.1 >= off) {
                        m.end = m.batches[i].0;
                        m.batches.truncate(i);
                    } else {
                        m.end = off;
                    }
                    m.start = m.start.min(m.end);
                }
            }
            Op::Reopen { clean } => {
                if clean {
                    log.close().unwrap();
                }
                drop(log);
                log = open(!clean);
            }
        }
        assert_eq!(log.log_start_offset(), m.start, "start");
        assert_eq!(log.log_end_offset(), m.end, "end");
        m.batches.retain(|b| b.1 >= m.start);
    }
    check_range(&log, &m, m.start);
    log.close().unwrap();
    drop(log);
    let log = open(true);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (m.start, m.end));
    check_range(&log, &m, m.start);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn log_agrees_with_model(cfg in cfg(), ops in prop::collection::vec(op(), 1..60)) {
        run(cfg, ops);
    }
}
