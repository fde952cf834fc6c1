//! Compaction: latest value per key, offsets preserved, tombstones, crash safety.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::batch::batches;
use crate::clock::{Clock, MockClock};
use crate::config::{CleanupPolicy, LogConfig};
use crate::testutil::{BatchBuilder, Record};

type Expected = BTreeMap<Vec<u8>, (i64, Option<Vec<u8>>)>;

fn config(delete_retention_ms: i64) -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        cleanup_policy: CleanupPolicy { delete: false, compact: true },
        delete_retention_ms,
        ..Default::default()
    }
}

/// Appends `n` records over 1000 keys (some tombstones) from `start`; updates `exp`.
fn fill(log: &Log, clock: &MockClock, start: u64, n: u64, exp: &mut Expected) {
    let mut i = start;
    let mut batch_no = start / 100;
    while i < start + n {
        let mut recs = Vec::new();
        for j in i..(i + 100).min(start + n) {
            let k = format!("key-{:04}", (j * 7919) % 1000).into_bytes();
            let tomb = (j / 1000) % 10 == 9 && ((j * 7919) % 1000) % 7 == 0;
            let v = (!tomb).then(|| format!("value-{j}").into_bytes());
            recs.push(Record { key: Some(k), value: v, timestamp: Some(clock.now_ms()), ..Default::default() });
        }
        let count = recs.len() as u64;
        let b = BatchBuilder::new(0).compression((batch_no % 5) as u8).records(recs.clone()).build();
        let info = log.append(&b).unwrap();
        for (o, r) in (info.first_offset..).zip(recs) {
            exp.insert(r.key.unwrap(), (o, r.value));
        }
        i += count;
        batch_no += 1;
    }
}

/// Every record in the log: key -> (offset, value); asserts keys are unique.
fn contents(log: &Log) -> Expected {
    let mut out = Expected::new();
    let mut next = log.log_start_offset();
    let mut last = -1;
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, true).unwrap();
        assert!(!r.records.is_empty());
        for b in batches(&r.records) {
            let (h, bytes) = b.unwrap();
            for rec in decode_records(bytes).unwrap() {
                assert!(rec.offset > last, "offsets increase");
                last = rec.offset;
                let k = rec.key.unwrap();
                assert!(out.insert(k.clone(), (rec.offset, rec.value)).is_none(), "duplicate key {k:?}");
            }
            next = h.next_offset();
        }
    }
    out
}

fn live(exp: &Expected, drop_tombstones: bool) -> Expected {
    exp.iter().filter(|(_, (_, v))| !(drop_tombstones && v.is_none())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn open(path: &Path, clock: &Arc<MockClock>, cfg: LogConfig, recover: bool) -> Log {
    Log::open(path.to_path_buf(), cfg, clock.clone(), recover).unwrap()
}

#[test]
fn compacts_100k_records_over_1k_keys_across_reopen() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("compacted-0");
    let clock = Arc::new(MockClock::new(1_000_000));
    let log = open(&path, &clock, config(0), false);
    let mut exp = Expected::new();
    fill(&log, &clock, 0, 100_000, &mut exp);
    log.roll().unwrap();
    let (segments, size) = (log.segment_count(), log.size_bytes());
    assert!(segments > 10, "{segments}");
    clock.advance(10);
    let stats = log.compact().unwrap().unwrap();
    assert!(stats.records_dropped > 98_000, "{stats:?}");
    assert!(
        log.segment_count() <= segments && log.size_bytes() < size / 20,
        "{segments} {size} {} {} {stats:?}",
        log.segment_count(),
        log.size_bytes()
    );
    // The first pass stamps the tombstones' horizon (now + delete.retention.ms = 0)...
    assert_eq!(contents(&log), live(&exp, false));
    // ...so the next background pass, with nothing dirty, drops them.
    assert!(maybe_clean(&log).unwrap(), "a passed delete horizon is worth a pass");
    let want = live(&exp, true);
    assert!(want.len() < 1000 && want.len() > 800);
    assert_eq!(contents(&log), want);
    assert_eq!(log.log_end_offset(), 100_000);
    // Nothing dirty: the background path does nothing.
    assert!(!maybe_clean(&log).unwrap());
    log.close().unwrap();
    drop(log);

    let log = open(&path, &clock, config(0), false);
    assert_eq!(contents(&log), want);
    // More updates, then compact again (clean + dirty sections).
    fill(&log, &clock, 100_000, 20_000, &mut exp);
    log.roll().unwrap();
    clock.advance(10);
    assert!(maybe_clean(&log).unwrap(), "dirty ratio is high");
    assert!(maybe_clean(&log).unwrap(), "the new tombstones' horizon has passed");
    let want = live(&exp, true);
    assert_eq!(contents(&log), want);
    drop(log);
    let log = open(&path, &clock, config(0), true);
    assert_eq!(contents(&log), want);
    assert_eq!(log.log_end_offset(), 120_000);
    // Second passes merge the small cleaned segments.
    assert!(log.segment_count() < segments / 2, "{}", log.segment_count());
}

#[test]
fn tombstones_kept_within_delete_retention() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("t-0");
    let clock = Arc::new(MockClock::new(1_000_000));
    let log = open(&path, &clock, config(60_000), false);
    let mut exp = Expected::new();
    fill(&log, &clock, 0, 20_000, &mut exp);
    log.roll().unwrap();
    log.compact().unwrap().unwrap();
    assert_eq!(contents(&log), live(&exp, false));
    clock.advance(59_999);
    assert!(!maybe_clean(&log).unwrap(), "nothing dirty, no horizon passed");
    assert_eq!(contents(&log), live(&exp, false));
    clock.advance(2);
    // Nothing is dirty, but the tombstones' horizon has passed.
    assert!(maybe_clean(&log).unwrap());
    assert_eq!(contents(&log), live(&exp, true));
    fill(&log, &clock, 20_000, 100, &mut exp);
    log.roll().unwrap();
    log.compact().unwrap().unwrap();
    // Old tombstones are gone now, fresh ones stay.
    let got = contents(&log);
    for (k, (o, v)) in &exp {
        match got.get(k) {
            Some(g) => assert_eq!(g, &(*o, v.clone())),
            None => assert!(v.is_none() && *o < 20_000),
        }
    }
}

#[test]
fn crash_mid_clean_loses_nothing() {
    for fail in [FAIL_BEFORE_COMMIT, FAIL_AFTER_COMMIT] {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("c-0");
        let clock = Arc::new(MockClock::new(1_000_000));
        let log = open(&path, &clock, config(0), false);
        let mut exp = Expected::new();
        fill(&log, &clock, 0, 30_000, &mut exp);
        log.roll().unwrap();
        let before: Vec<u8> = {
            let mut v = Vec::new();
            let mut next = 0;
            while next < log.log_end_offset() {
                let r = log.read(next, 1 << 20, true).unwrap();
                next = batches(&r.records).last().unwrap().unwrap().0.next_offset();
                v.extend_from_slice(&r.records);
            }
            v
        };
        clock.advance(10);
        FAIL_AT.with(|f| f.set(fail));
        assert!(log.compact().is_err());
        FAIL_AT.with(|f| f.set(0));
        drop(log); // crash
        let log = open(&path, &clock, config(0), true);
        assert_eq!(log.log_end_offset(), 30_000);
        assert!(!path.join(CLEANER_TMP_DIR).exists());
        if fail == FAIL_BEFORE_COMMIT {
            let mut v = Vec::new();
            let mut next = 0;
            while next < log.log_end_offset() {
                let r = log.read(next, 1 << 20, true).unwrap();
                next = batches(&r.records).last().unwrap().unwrap().0.next_offset();
                v.extend_from_slice(&r.records);
            }
            assert_eq!(v, before, "uncommitted clean leaves the log untouched");
        } else {
            // The committed swap of the first group was completed; later groups are
            // uncleaned, so keys may repeat: the latest occurrence must be right.
            let mut latest = Expected::new();
            let mut next = 0;
            while next < log.log_end_offset() {
                let r = log.read(next, 1 << 20, true).unwrap();
                for b in batches(&r.records) {
                    let (h, bytes) = b.unwrap();
                    for rec in decode_records(bytes).unwrap() {
                        latest.insert(rec.key.unwrap(), (rec.offset, rec.value));
                    }
                    next = h.next_offset();
                }
            }
            let want = live(&exp, true);
            for (k, v) in &want {
                assert_eq!(latest.get(k), Some(v));
            }
        }
        // Later passes finish the job (the second drops the stamped tombstones).
        log.compact().unwrap();
        log.compact().unwrap();
        assert_eq!(contents(&log), live(&exp, true));
    }
}

#[test]
fn rewritten_batches_keep_their_codec() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("codecs-0");
    let clock = Arc::new(MockClock::new(1_000_000));
    let log = open(&path, &clock, config(0), false);
    let mut exp = Expected::new();
    // Batch b holds offsets [100 b, 100 b + 100) and uses codec b % 5.
    fill(&log, &clock, 0, 20_000, &mut exp);
    log.roll().unwrap();
    clock.advance(10);
    log.compact().unwrap().unwrap();
    log.compact().unwrap().unwrap(); // drops the tombstones the first stamped
    let mut seen_codecs = std::collections::BTreeSet::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, true).unwrap();
        for b in batches(&r.records) {
            let (h, bytes) = b.unwrap();
            let recs = decode_records(bytes).unwrap();
            let origin = recs[0].offset / 100;
            assert!(recs.iter().all(|r| r.offset / 100 == origin), "records of one original batch per batch");
            let codec = (h.attributes & 0x7) as i64;
            assert_eq!(codec, origin % 5, "batch at {} keeps codec {}", h.base_offset, origin % 5);
            seen_codecs.insert(codec);
            next = h.next_offset();
        }
    }
    assert_eq!(seen_codecs.len(), 5, "none, gzip, snappy, lz4 and zstd batches were all rewritten");
    assert_eq!(contents(&log), live(&exp, true));
}

#[test]
fn min_cleanable_dirty_ratio_decides_when_to_clean() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("ratio-0");
    let clock = Arc::new(MockClock::new(1_000_000));
    // Tombstones stay (an hour's horizon): only the ratio decides here.
    let cfg = LogConfig { min_cleanable_dirty_ratio: 0.5, ..config(3_600_000) };
    let log = open(&path, &clock, cfg, false);
    let mut exp = Expected::new();
    fill(&log, &clock, 0, 30_000, &mut exp);
    log.roll().unwrap();
    clock.advance(10);
    assert!(maybe_clean(&log).unwrap(), "everything is dirty at first");
    let clean = log.size_bytes();
    // A little new data: dirty / (clean + dirty) stays below 0.5.
    fill(&log, &clock, 30_000, 200, &mut exp);
    log.roll().unwrap();
    clock.advance(10);
    assert!(log.size_bytes() - clean < clean, "test set-up: the dirty part is the smaller one");
    assert!(!maybe_clean(&log).unwrap(), "below min.cleanable.dirty.ratio: not cleaned");
    // Enough new data to pass the ratio.
    fill(&log, &clock, 30_200, 20_000, &mut exp);
    log.roll().unwrap();
    clock.advance(10);
    assert!(maybe_clean(&log).unwrap(), "above min.cleanable.dirty.ratio: cleaned");
    assert_eq!(contents(&log), live(&exp, false));
}

/// KIP-534: a tombstone lives `delete.retention.ms` past the pass that first kept
/// it, even when its producer stamped it with an ancient timestamp (a mirror
/// copying old data, a replayed export); record timestamps survive the stamp.
#[test]
fn a_tombstone_with_an_old_timestamp_outlives_its_first_pass_by_delete_retention() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("old-0");
    let clock = Arc::new(MockClock::new(1_000_000));
    let log = open(&path, &clock, config(60_000), false);
    log.append(&BatchBuilder::new(0).records([Record::kv("a", "1").ts(1), Record::kv("b", "2").ts(2)]).build())
        .unwrap();
    log.append(
        &BatchBuilder::new(0)
            .compression(1)
            .records([Record::tombstone("a").ts(5), Record::kv("c", "3").ts(6)])
            .build(),
    )
    .unwrap();
    log.roll().unwrap();
    log.compact().unwrap().unwrap();
    let tomb = |log: &Log| contents(log).get(b"a".as_slice()).cloned();
    assert_eq!(tomb(&log), Some((2, None)), "kept by the pass that first saw it");
    let r = log.read(2, 1 << 20, true).unwrap();
    let (h, bytes) = batches(&r.records).next().unwrap().unwrap();
    assert_eq!(h.delete_horizon(), Some(1_060_000));
    assert_eq!(h.compression(), 1, "the codec stays");
    let ts: Vec<i64> = decode_records(bytes).unwrap().iter().map(|r| r.timestamp).collect();
    assert_eq!(ts, vec![5, 6], "record timestamps are re-based, not changed");
    assert_eq!(h.max_timestamp, 6);

    clock.advance(59_999);
    assert!(!maybe_clean(&log).unwrap());
    assert_eq!(tomb(&log), Some((2, None)));
    clock.advance(1);
    assert!(maybe_clean(&log).unwrap(), "the horizon has passed");
    assert_eq!(tomb(&log), None);
    let want: Expected =
        [(b"b".to_vec(), (1, Some(b"2".to_vec()))), (b"c".to_vec(), (3, Some(b"3".to_vec())))].into_iter().collect();
    assert_eq!(contents(&log), want, "offsets are preserved");
    // A restart forgets when the next horizon is due, not the horizons themselves.
    drop(log);
    let log = open(&path, &clock, config(60_000), true);
    assert_eq!(tomb(&log), None);
    assert!(!maybe_clean(&log).unwrap());
}

/// A batch that loses every record but is the newest its producer is remembered
/// by stays, empty: rebuilt from the log, the producer state still knows the
/// batch's sequence, so a retry of it is a duplicate rather than new data.
#[test]
fn a_producers_last_batch_is_kept_empty() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("pid-0");
    let clock = Arc::new(MockClock::new(1_000_000));
    let log = open(&path, &clock, config(0), false);
    let retry = BatchBuilder::new(0).producer(9, 0, 0).compression(4).records([Record::kv("k", "old")]).build();
    log.append(&retry).unwrap(); // 0
    log.append(&BatchBuilder::new(0).records([Record::kv("k", "new")]).build()).unwrap(); // 1
    log.roll().unwrap();
    log.compact().unwrap().unwrap();
    let r = log.read(0, 1 << 20, true).unwrap();
    let (h, _) = batches(&r.records).next().unwrap().unwrap();
    assert_eq!((h.base_offset, h.record_count, h.producer_id, h.base_sequence), (0, 0, 9, 0), "kept, empty");
    assert_eq!(h.compression(), 0);
    assert_eq!(contents(&log).get(b"k".as_slice()), Some(&(1, Some(b"new".to_vec()))));

    log.close().unwrap();
    drop(log);
    std::fs::remove_file(path.join(crate::producer::SNAPSHOT_FILE)).unwrap();
    let log = open(&path, &clock, config(0), true);
    assert!(log.active_producers().iter().any(|p| p.producer_id == 9 && p.last_sequence == 0));
    let again = log.append(&retry).unwrap();
    assert!(again.duplicate, "{again:?}");
    assert_eq!(log.log_end_offset(), 2);
}
