//! Log-level behaviour: validation, offsets, rolling, retention, truncation,
//! timestamps, reopen and group commit.

use super::*;
use crate::batch::{batches, validate_batch};
use crate::clock::MockClock;
use crate::config::CleanupPolicy;
use crate::testutil::{simple_batch, BatchBuilder, Record};

struct T {
    _dir: tempfile::TempDir,
    path: PathBuf,
    clock: Arc<MockClock>,
}

impl T {
    fn new() -> T {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("topic-0");
        T { _dir: d, path, clock: Arc::new(MockClock::new(1_000_000)) }
    }
    fn open(&self, cfg: LogConfig) -> Log {
        Log::open(self.path.clone(), cfg, self.clock.clone(), false).unwrap()
    }
    fn reopen(&self, cfg: LogConfig, recover: bool) -> Log {
        Log::open(self.path.clone(), cfg, self.clock.clone(), recover).unwrap()
    }
}

fn base_offsets(b: &[u8]) -> Vec<i64> {
    batches(b).map(|r| r.unwrap().0.base_offset).collect()
}

/// Every offset the log returns from its start, in order.
pub(crate) fn all_offsets(log: &Log) -> Vec<i64> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        for b in batches(&r.records) {
            let h = b.unwrap().0;
            out.extend(h.base_offset..=h.last_offset());
            next = h.next_offset();
        }
    }
    out
}

#[test]
fn append_assigns_offsets_and_reads_back() {
    let t = T::new();
    let log = t.open(LogConfig::default());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let b = simple_batch(3, 10, 5);
    let i = log.append(&b).unwrap();
    assert_eq!((i.first_offset, i.last_offset, i.record_count), (0, 2, 3));
    let mut two = simple_batch(2, 10, 6);
    two.extend(simple_batch(4, 10, 7));
    let i = log.append(&two).unwrap();
    assert_eq!((i.first_offset, i.last_offset, i.record_count, i.max_timestamp), (3, 8, 6, 7));
    assert_eq!(log.log_end_offset(), 9);
    let r = log.read(0, 1 << 20, true).unwrap();
    assert_eq!(base_offsets(&r.records), vec![0, 3, 5]);
    assert_eq!(&r.records[8..b.len()], &b[8..]); // bytes as sent, bar the base offset
    assert_eq!(base_offsets(&log.read(4, 1 << 20, true).unwrap().records), vec![3, 5]);
    assert!(log.read(9, 100, true).unwrap().records.is_empty());
    assert!(matches!(
        log.read(10, 100, true),
        Err(StorageError::OffsetOutOfRange { offset: 10, log_start: 0, log_end: 9 })
    ));
    assert!(matches!(log.read(-1, 100, true), Err(StorageError::OffsetOutOfRange { .. })));
}

#[test]
fn failed_appends_leave_log_unchanged() {
    let t = T::new();
    let log = t.open(LogConfig { max_message_bytes: 2000, ..Default::default() });
    log.append(&simple_batch(2, 10, 0)).unwrap();
    let size = log.size_bytes();
    let good = simple_batch(1, 10, 0);
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    let mut two = good.clone();
    two.extend(&bad_crc); // second batch bad: first must not be written either
    let mut trailing = good.clone();
    trailing.extend([1, 2, 3]);
    let mut magic1 = good.clone();
    magic1[batch::MAGIC_OFFSET] = 1;
    let empty = BatchBuilder::new(0).build();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (bad_crc, "corrupt"),
        (two, "corrupt"),
        (trailing, "corrupt"),
        (magic1, "magic"),
        (empty, "invalid"),
        (simple_batch(1, 3000, 0), "too large"),
        (Vec::new(), "invalid"),
        (good[..good.len() - 1].to_vec(), "corrupt"),
    ];
    for (c, what) in cases {
        let e = log.append(&c).unwrap_err();
        let ok = match what {
            "corrupt" => matches!(e, StorageError::CorruptBatch { .. }),
            "magic" => matches!(e, StorageError::UnsupportedMagic { magic: 1 }),
            "invalid" => matches!(e, StorageError::InvalidRecord { .. }),
            _ => matches!(e, StorageError::MessageTooLarge { max: 2000, .. }),
        };
        assert!(ok, "{what}: {e:?}");
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(log.size_bytes(), size);
    }
    assert_eq!(log.append(&good).unwrap().first_offset, 2);
}

#[test]
fn log_append_time_sets_timestamp_and_crc() {
    let t = T::new();
    let log = t.open(LogConfig { message_timestamp_type: TimestampType::LogAppendTime, ..Default::default() });
    let i = log.append(&simple_batch(3, 10, 5)).unwrap();
    assert_eq!(i.log_append_time, 1_000_000);
    let r = log.read(0, 1 << 20, true).unwrap();
    let h = validate_batch(&r.records, 0).unwrap();
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, 1_000_000);
    let recs = crate::record::decode_records(&r.records).unwrap();
    assert!(recs.iter().all(|r| r.timestamp == 1_000_000));
    assert_eq!(log.max_timestamp().unwrap().timestamp, 1_000_000);
}

#[test]
fn rolls_on_segment_bytes() {
    let t = T::new();
    let b = simple_batch(1, 100, 0);
    let log = t.open(LogConfig { segment_bytes: (b.len() * 3) as u64, ..Default::default() });
    for _ in 0..10 {
        log.append(&b).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 6, 9]);
    assert_eq!(all_offsets(&log), (0..10).collect::<Vec<_>>());
    // A batch bigger than segment.bytes still goes into an (empty) segment.
    log.roll().unwrap();
    log.roll().unwrap(); // no-op on an empty active segment
    assert_eq!(log.segment_count(), 5);
}

#[test]
fn rolls_on_segment_ms_with_mock_clock() {
    let t = T::new();
    let log = t.open(LogConfig { segment_ms: 1000, ..Default::default() });
    let now = t.clock.now_ms();
    log.append(&simple_batch(1, 10, now)).unwrap();
    t.clock.advance(1000);
    log.append(&simple_batch(1, 10, now + 1000)).unwrap();
    assert_eq!(log.segment_count(), 1);
    t.clock.advance(1);
    log.append(&simple_batch(1, 10, now + 1001)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    // Background-style roll of an idle partition.
    t.clock.advance(5000);
    assert!(log.maybe_roll_by_time().unwrap());
    assert!(!log.maybe_roll_by_time().unwrap());
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 3]);
}

#[test]
fn rolls_when_index_full() {
    let t = T::new();
    let log = t.open(LogConfig {
        index_interval_bytes: 1,
        segment_index_bytes: 12 * 3, // 3 time entries, 4 offset entries
        ..Default::default()
    });
    for i in 0..20 {
        log.append(&simple_batch(1, 10, i)).unwrap();
    }
    assert!(log.segment_count() > 3);
    assert_eq!(all_offsets(&log), (0..20).collect::<Vec<_>>());
    for seg in log.segment_list() {
        let ix = seg.ix.read();
        assert!(ix.offset.len() <= 4 && ix.time.len() <= 3);
    }
}

/// Records without timestamps (-1) are not infinitely old: such a segment
/// ages by its file's modification time, as Kafka's `largestTimestamp`.
#[test]
fn segments_without_timestamps_age_by_their_file() {
    let t = T::new();
    let b = simple_batch(1, 100, -1);
    let cfg = LogConfig { segment_bytes: b.len() as u64 * 2, retention_ms: 10_000, ..Default::default() };
    let log = t.open(cfg);
    for _ in 0..4 {
        log.append(&b).unwrap();
    }
    assert_eq!(log.segment_count(), 2);
    t.clock.advance(1_000_000);
    assert_eq!(log.apply_retention().unwrap(), 0, "written just now (by the file's time)");
    // The closed segment's file last written at the mock clock's start.
    let file = std::fs::File::options().write(true).open(t.path.join("00000000000000000000.log")).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_000_000)).unwrap();
    assert_eq!(log.apply_retention().unwrap(), 1);
    assert_eq!(log.log_start_offset(), 2);
}

#[test]
fn retention_by_time_and_size_never_deletes_active() {
    let t = T::new();
    let b = simple_batch(1, 100, 0);
    let now = t.clock.now_ms();
    let cfg = LogConfig { segment_bytes: b.len() as u64 * 2, retention_ms: 10_000, ..Default::default() };
    let log = t.open(cfg.clone());
    for i in 0..10 {
        log.append(&simple_batch(1, 100, now + i * 1000)).unwrap();
    }
    assert_eq!(log.segment_count(), 5);
    let held = log.read(0, 1 << 20, true).unwrap().records;
    let held_copy = held.to_vec();
    assert_eq!(log.apply_retention().unwrap(), 0);
    t.clock.advance(13_500); // segments with max ts <= now+3000 expire
    assert_eq!(log.apply_retention().unwrap(), 2);
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(&held[..], &held_copy[..], "reader bytes survive deletion");
    assert!(matches!(log.read(0, 100, true), Err(StorageError::OffsetOutOfRange { .. })));
    t.clock.advance(1_000_000);
    assert_eq!(log.apply_retention().unwrap(), 2);
    assert_eq!(log.segment_count(), 1, "active segment stays");
    assert_eq!(log.log_start_offset(), 8);
    assert_eq!(all_offsets(&log), vec![8, 9]);
    // Size retention.
    let t2 = T::new();
    let log = t2.open(LogConfig { retention_ms: -1, retention_bytes: b.len() as i64 * 4, ..cfg.clone() });
    for _ in 0..10 {
        log.append(&b).unwrap();
    }
    assert_eq!(log.apply_retention().unwrap(), 3);
    assert_eq!(log.size_bytes(), b.len() as u64 * 4);
    assert_eq!(log.log_start_offset(), 6);
    // compact-only logs ignore retention.
    let t3 = T::new();
    let log = t3.open(LogConfig {
        retention_bytes: 0,
        cleanup_policy: CleanupPolicy { delete: false, compact: true },
        ..cfg
    });
    for _ in 0..10 {
        log.append(&b).unwrap();
    }
    assert_eq!(log.apply_retention().unwrap(), 0);
}

#[test]
fn delete_records_moves_start_persistently() {
    let t = T::new();
    let b = simple_batch(2, 100, 0);
    let cfg = LogConfig { segment_bytes: b.len() as u64 * 2, ..Default::default() };
    let log = t.open(cfg.clone());
    for _ in 0..5 {
        log.append(&b).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 4, 8]);
    assert!(matches!(log.delete_records_before(11), Err(StorageError::OffsetOutOfRange { .. })));
    assert_eq!(log.delete_records_before(5).unwrap(), 5);
    assert_eq!(log.segment_base_offsets(), vec![4, 8]);
    assert_eq!(log.delete_records_before(3).unwrap(), 5);
    // Read inside the first batch (4..5) returns it whole.
    assert_eq!(base_offsets(&log.read(5, 1 << 20, true).unwrap().records)[0], 4);
    assert!(log.read(4, 100, true).is_err());
    log.close().unwrap();
    let log = t.reopen(cfg.clone(), false);
    assert_eq!(log.log_start_offset(), 5);
    assert_eq!(log.delete_records_before(10).unwrap(), 10);
    assert_eq!(log.segment_count(), 1);
    assert!(log.read(10, 100, true).unwrap().records.is_empty());
    log.append(&b).unwrap();
    assert_eq!(all_offsets(&log), vec![10, 11]);
}

#[test]
fn truncate_to_across_segments_and_reopen() {
    let t = T::new();
    let b = simple_batch(2, 100, 0);
    let cfg = LogConfig { segment_bytes: b.len() as u64 * 2, index_interval_bytes: 1, ..Default::default() };
    let log = t.open(cfg.clone());
    for _ in 0..6 {
        log.append(&b).unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 4, 8]);
    log.truncate_to(6).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 4]);
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.flushed_offset(), 6);
    log.truncate_to(5).unwrap(); // mid-batch: the whole batch 4..5 goes
    assert_eq!(log.log_end_offset(), 4);
    log.append(&b).unwrap();
    assert_eq!(all_offsets(&log), (0..6).collect::<Vec<_>>());
    log.close().unwrap();
    let log = t.reopen(cfg.clone(), true);
    assert_eq!(all_offsets(&log), (0..6).collect::<Vec<_>>());
    log.truncate_to(0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    log.delete_records_before(0).unwrap();
    log.append(&b).unwrap();
    log.truncate_to(1).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    // Truncating below the start offset restarts the log there.
    log.append(&b).unwrap();
    log.append(&b).unwrap();
    log.delete_records_before(3).unwrap();
    log.truncate_to(1).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (1, 1));
    assert_eq!(log.append(&b).unwrap().first_offset, 1);
}

#[test]
fn timestamp_lookups_across_segments() {
    let t = T::new();
    let log = t.open(LogConfig { segment_bytes: 300, index_interval_bytes: 1, ..Default::default() });
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp(), None);
    let ts = [50, 10, 20, 80, 30, 90, 40, 60];
    for t in ts {
        log.append(&simple_batch(1, 100, t)).unwrap();
    }
    assert!(log.segment_count() > 2);
    for target in 0..100 {
        let want = ts
            .iter()
            .enumerate()
            .find(|(_, t)| **t >= target)
            .map(|(i, t)| TimestampOffset { timestamp: *t, offset: i as i64 });
        assert_eq!(log.offset_for_timestamp(target).unwrap(), want, "ts {target}");
    }
    assert_eq!(log.max_timestamp(), Some(TimestampOffset { timestamp: 90, offset: 5 }));
    log.close().unwrap();
    let log = t.reopen(LogConfig::default(), false);
    assert_eq!(log.max_timestamp(), Some(TimestampOffset { timestamp: 90, offset: 5 }));
    assert_eq!(log.offset_for_timestamp(81).unwrap().unwrap().offset, 5);
    log.delete_records_before(6).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap().unwrap().offset, 6);
}

#[test]
fn reopen_clean_and_after_crash_keeps_everything() {
    let t = T::new();
    let cfg = LogConfig { segment_bytes: 4096, index_interval_bytes: 256, ..Default::default() };
    let log = t.open(cfg.clone());
    let mut sent = Vec::new();
    for i in 0..100 {
        let b = BatchBuilder::new(0)
            .compression((i % 5) as u8)
            .records((0..3).map(|j| Record::kv(format!("k{j}"), format!("v{i}-{j}")).ts(i)))
            .build();
        log.append(&b).unwrap();
        sent.push(b);
    }
    let read_all = |log: &Log| {
        let mut got = Vec::new();
        let mut next = 0;
        while next < log.log_end_offset() {
            let r = log.read(next, 1000, true).unwrap().records;
            for b in batches(&r) {
                next = b.unwrap().0.next_offset();
            }
            got.extend_from_slice(&r);
        }
        got
    };
    let full = read_all(&log);
    assert!(full.len() > 8192);
    log.close().unwrap();
    assert!(log.append(&sent[0]).is_err());
    for recover in [false, true] {
        let log = t.reopen(cfg.clone(), recover);
        assert_eq!(log.log_end_offset(), 300);
        assert_eq!(read_all(&log), full);
        drop(log); // no close: indexes stay at full length, as after a crash
    }
    // Indexes deleted: rebuilt on a clean open too.
    for e in std::fs::read_dir(&t.path).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "index" || x == "timeindex") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let log = t.reopen(cfg, false);
    assert_eq!(read_all(&log), full);
    assert_eq!(log.offset_for_timestamp(50).unwrap().unwrap().offset, 150);
}

#[test]
fn group_commit_shares_fsyncs() {
    let t = T::new();
    let log = Arc::new(t.open(LogConfig::default()));
    let b = simple_batch(1, 100, 0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            let log = log.clone();
            let b = b.clone();
            s.spawn(move || {
                for _ in 0..50 {
                    let i = log.append(&b).unwrap();
                    log.flush_to(i.last_offset + 1).unwrap();
                    assert!(log.flushed_offset() > i.last_offset);
                }
            });
        }
    });
    assert_eq!(log.flushed_offset(), 400);
    log.flush_to(1000).unwrap(); // beyond the end: clamps
}

#[test]
fn interval_flush_policy() {
    let t = T::new();
    let log = t.open(LogConfig { flush: FlushPolicy::Interval { messages: 5, ms: 1000 }, ..Default::default() });
    for _ in 0..4 {
        log.append(&simple_batch(1, 10, 0)).unwrap();
    }
    assert_eq!(log.flushed_offset(), 0);
    log.append(&simple_batch(1, 10, 0)).unwrap();
    assert_eq!(log.flushed_offset(), 5, "message count triggers a flush");
    log.append(&simple_batch(1, 10, 0)).unwrap();
    assert!(!log.maybe_flush_interval().unwrap());
    t.clock.advance(1000);
    assert!(log.maybe_flush_interval().unwrap());
    assert_eq!(log.flushed_offset(), 6);
    let never =
        t.open(LogConfig { flush: FlushPolicy::Interval { messages: i64::MAX, ms: i64::MAX }, ..Default::default() });
    drop(never);
}

#[test]
fn starting_a_flush_reports_nothing_durable_until_flush_to() {
    let t = T::new();
    let log =
        t.open(LogConfig { flush: FlushPolicy::Interval { messages: i64::MAX, ms: i64::MAX }, ..Default::default() });
    log.start_flush(); // nothing appended: nothing to do
    for _ in 0..3 {
        log.append(&simple_batch(2, 700, 0)).unwrap();
    }
    log.start_flush();
    assert_eq!(log.flushed_offset(), 0, "writeback started is not durability");
    log.flush_to(6).unwrap();
    assert_eq!(log.flushed_offset(), 6);
    log.start_flush(); // all flushed: nothing to do
    assert_eq!(all_offsets(&log), (0..6).collect::<Vec<_>>());
}

// ------------------------------------------------------------ idempotent producers

fn idem(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    BatchBuilder::new(0)
        .producer(pid, epoch, seq)
        .records((0..n).map(|i| Record::value(format!("p{pid}-s{}", seq as usize + i))))
        .build()
}

#[test]
fn idempotent_retries_gaps_and_old_epochs() {
    let t = T::new();
    let log = t.open(LogConfig::default());
    log.append(&simple_batch(2, 10, 0)).unwrap();
    let a = log.append(&idem(7, 0, 0, 3)).unwrap();
    assert_eq!((a.first_offset, a.last_offset, a.duplicate), (2, 4, false));
    let b = log.append(&idem(7, 0, 3, 2)).unwrap();
    assert_eq!((b.first_offset, b.last_offset), (5, 6));
    // A retry of either batch: success with the original offsets, nothing appended.
    let end = log.log_end_offset();
    let r = log.append(&idem(7, 0, 0, 3)).unwrap();
    assert_eq!((r.first_offset, r.last_offset, r.duplicate), (2, 4, true));
    assert_eq!(log.log_end_offset(), end);
    // A gap and an old epoch are refused and leave the log as it was.
    assert!(matches!(log.append(&idem(7, 0, 9, 1)), Err(StorageError::OutOfOrderSequence { expected: 5, got: 9, .. })));
    log.append(&idem(7, 1, 0, 1)).unwrap(); // epoch bump (KIP-360) starts at 0
    assert!(matches!(log.append(&idem(7, 0, 5, 1)), Err(StorageError::InvalidProducerEpoch { .. })));
    assert_eq!(log.log_end_offset(), end + 1);
    // Two batches of one idempotent producer in one request are refused.
    let mut two = idem(8, 0, 0, 1);
    two.extend_from_slice(&idem(8, 0, 1, 1));
    assert!(log.append(&two).is_err());
    assert_eq!(log.log_end_offset(), end + 1);
}

#[test]
fn producer_state_survives_a_clean_reopen_and_a_crash() {
    let t = T::new();
    let cfg = LogConfig::default();
    {
        let log = t.open(cfg.clone());
        log.append(&idem(3, 0, 0, 2)).unwrap();
        log.close().unwrap(); // writes the snapshot
    }
    {
        let log = t.reopen(cfg.clone(), false);
        assert!(log.append(&idem(3, 0, 0, 2)).unwrap().duplicate, "from the snapshot");
        log.append(&idem(3, 0, 2, 2)).unwrap();
        log.flush().unwrap();
        // A crash: no close, so the snapshot is older than the log.
    }
    let log = t.reopen(cfg.clone(), true);
    let r = log.append(&idem(3, 0, 2, 2)).unwrap();
    assert!(r.duplicate, "rebuilt from the batch headers after the snapshot");
    assert_eq!((r.first_offset, r.last_offset), (2, 3));
    drop(log);
    // No snapshot at all: the whole log is replayed.
    std::fs::remove_file(t.path.join(crate::producer::SNAPSHOT_FILE)).unwrap();
    let log = t.reopen(cfg, true);
    assert!(log.append(&idem(3, 0, 0, 2)).unwrap().duplicate);
    assert!(matches!(log.append(&idem(3, 0, 7, 1)), Err(StorageError::OutOfOrderSequence { expected: 4, .. })));
}

#[test]
fn truncation_forgets_the_truncated_batches_of_producers() {
    let t = T::new();
    let log = t.open(LogConfig::default());
    log.append(&idem(5, 0, 0, 1)).unwrap();
    log.append(&idem(5, 0, 1, 1)).unwrap();
    log.truncate_to(1).unwrap();
    // Sequence 1 is gone with its batch: its retry is appended again, not a duplicate.
    let r = log.append(&idem(5, 0, 1, 1)).unwrap();
    assert_eq!((r.first_offset, r.duplicate), (1, false));
}

#[test]
fn idle_producers_expire_after_producer_id_expiration_ms() {
    let t = T::new();
    let cfg = LogConfig { producer_id_expiration_ms: 60_000, ..Default::default() };
    let log = t.open(cfg);
    log.append(&BatchBuilder::new(0).producer(1, 0, 0).timestamp(t.clock.now_ms()).record(Record::value("a")).build())
        .unwrap();
    t.clock.advance(30_000);
    log.append(&BatchBuilder::new(0).producer(2, 0, 0).timestamp(t.clock.now_ms()).record(Record::value("b")).build())
        .unwrap();
    assert_eq!(log.producer_count(), 2);
    t.clock.advance(40_000); // producer 1 idle 70 s, producer 2 idle 40 s
    log.roll().unwrap();
    assert_eq!(log.producer_count(), 1);
    // Forgotten: any sequence starts it again.
    assert!(!log.append(&idem(1, 0, 9, 1)).unwrap().duplicate);
}

#[test]
fn an_io_error_takes_only_that_log_offline_until_it_is_reopened() {
    let t = T::new();
    let other_path = t.path.with_file_name("topic-1");
    let cfg = LogConfig { segment_bytes: 500, ..Default::default() };
    let log = t.open(cfg.clone());
    let other = Log::open(other_path, cfg.clone(), t.clock.clone(), false).unwrap();
    log.append(&simple_batch(3, 100, 0)).unwrap();
    // The directory goes away under the log: the next roll cannot create its segment.
    std::fs::remove_dir_all(&t.path).unwrap();
    let rolled = log.append(&simple_batch(3, 100, 0));
    assert!(matches!(rolled, Err(StorageError::Io { .. })), "{rolled:?}");
    assert!(log.is_offline());
    assert!(matches!(log.append(&simple_batch(1, 10, 0)), Err(StorageError::Offline { .. })));
    assert!(matches!(log.read(0, 1 << 20, true), Err(StorageError::Offline { .. })));
    assert!(matches!(log.flush(), Err(StorageError::Offline { .. })));
    assert!(log.close().is_err(), "an offline log does not close cleanly (so it is recovered)");
    // Its neighbour is untouched.
    for _ in 0..3 {
        other.append(&simple_batch(3, 100, 0)).unwrap();
    }
    assert!(!other.is_offline());
    assert_eq!(all_offsets(&other), (0..9).collect::<Vec<_>>());
}
