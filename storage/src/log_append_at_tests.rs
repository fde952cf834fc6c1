//! `Log::append_at`: batches kept at their own offsets, byte for byte.

use super::*;
use crate::batch::batches;
use crate::clock::MockClock;
use crate::testutil::{BatchBuilder, Record};
use crate::txn::ControlType;

fn open(dir: &Path, cfg: LogConfig) -> Log {
    Log::open(dir.join("copy-0"), cfg, Arc::new(MockClock::new(1_000_000)), false).unwrap()
}

fn batch_at(base: i64, n: usize) -> Vec<u8> {
    BatchBuilder::new(base).timestamp(5_000).records((0..n).map(|i| Record::value(format!("v{i}")))).build()
}

/// A control batch of `kind` at `offset`: the base offset is outside the CRC.
fn marker_at(offset: i64, kind: ControlType, pid: i64) -> Vec<u8> {
    let mut b = crate::txn::control_batch(kind, pid, 0, 0, 6_000);
    b[..8].copy_from_slice(&offset.to_be_bytes());
    b
}

#[test]
fn batches_keep_their_offsets_and_bytes_and_reads_skip_the_gaps() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    let (first, second) = (batch_at(10, 3), batch_at(20, 2));
    let mut both = first.clone();
    both.extend_from_slice(&second);
    let info = log.append_at(&both).unwrap();
    assert_eq!((info.first_offset, info.last_offset, info.record_count), (10, 21, 5));
    assert_eq!(log.log_end_offset(), 22);
    // Offsets 0..10 and 13..20 hold nothing: a read there starts at the next batch.
    let r = log.read(0, 1 << 20, true).unwrap();
    assert_eq!(&r.records[..], &both[..], "the bytes as given, offsets and CRCs included");
    let r = log.read(15, 1 << 20, true).unwrap();
    assert_eq!(&r.records[..], &second[..]);
    // Appends go on after the copy as usual.
    let next = log.append(&batch_at(0, 1)).unwrap();
    assert_eq!(next.first_offset, 22);
}

#[test]
fn a_batch_below_the_log_end_is_refused_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    log.append_at(&batch_at(5, 2)).unwrap();
    let err = log.append_at(&batch_at(6, 1)).unwrap_err();
    assert!(matches!(err, StorageError::InvalidRecord { .. }), "{err}");
    // Out of order within one request too.
    let mut two = batch_at(10, 2);
    two.extend_from_slice(&batch_at(11, 1));
    assert!(log.append_at(&two).is_err());
    assert_eq!(log.log_end_offset(), 7);
    assert_eq!(log.read(0, 1 << 20, true).unwrap().records.len(), batch_at(5, 2).len());
}

#[test]
fn log_append_time_topics_keep_the_source_timestamps() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig { message_timestamp_type: TimestampType::LogAppendTime, ..LogConfig::default() };
    let log = open(d.path(), cfg);
    let b = batch_at(0, 2);
    log.append_at(&b).unwrap();
    assert_eq!(&log.read(0, 1 << 20, true).unwrap().records[..], &b[..]);
}

#[test]
fn copied_transactions_are_tracked_for_read_committed() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    let txn = BatchBuilder::new(0)
        .producer(7, 0, 0)
        .transactional(true)
        .records((0..3).map(|i| Record::value(format!("t{i}"))))
        .build();
    log.append_at(&txn).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(0), "an open transaction holds the LSO");
    log.append_at(&marker_at(3, ControlType::Abort, 7)).unwrap();
    assert_eq!(log.first_unstable_offset(), None);
    let aborted = log.aborted_transactions(0, 4);
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id, aborted[0].first_offset, aborted[0].last_offset), (7, 0, 3));
}

#[test]
fn a_copy_with_gaps_survives_a_reopen() {
    let d = tempfile::tempdir().unwrap();
    {
        let log = open(d.path(), LogConfig::default());
        log.append_at(&batch_at(100, 4)).unwrap();
        log.append_at(&batch_at(200, 1)).unwrap();
        log.flush().unwrap();
    }
    let log =
        Log::open(d.path().join("copy-0"), LogConfig::default(), Arc::new(MockClock::new(2_000_000)), true).unwrap();
    assert_eq!(log.log_end_offset(), 201);
    let offsets: Vec<i64> =
        batches(&log.read(0, 1 << 20, true).unwrap().records).map(|b| b.unwrap().0.base_offset).collect();
    assert_eq!(offsets, [100, 200]);
}

#[test]
fn offsets_too_far_for_the_segment_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    let err = log.append_at(&batch_at(5_000_000_000, 1)).unwrap_err();
    assert!(err.to_string().contains("too far"), "{err}");
    assert!(log.append_at(&batch_at(i64::MAX - 1, 3)).is_err(), "offsets past i64::MAX");
    assert_eq!(log.log_end_offset(), 0);
}

/// A client's batch is dense and carries no delete horizon; a copy of another
/// log may be gapped (compacted) or stamped by its cleaner.
#[test]
fn gapped_or_horizon_stamped_batches_are_refused_from_clients_and_kept_in_copies() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    let mut t = crate::record::BatchTemplate::new(0, 0);
    t.last_offset_delta = Some(4); // 2 records over 5 offsets, as compaction leaves them
    let recs: Vec<crate::record::DecodedRecord> = [0, 4]
        .iter()
        .map(|o| crate::record::DecodedRecord {
            offset: *o,
            timestamp: 7,
            value: Some(b"v".to_vec()),
            ..Default::default()
        })
        .collect();
    let gapped = crate::record::encode_batch(&t, &recs).unwrap();
    t.last_offset_delta = Some(1);
    t.attributes |= crate::batch::ATTR_DELETE_HORIZON;
    let second = crate::record::DecodedRecord { offset: 1, ..recs[1].clone() };
    let stamped = crate::record::encode_batch(&t, &[recs[0].clone(), second]).unwrap();
    for bad in [&gapped, &stamped] {
        let err = log.append(bad).unwrap_err();
        assert!(matches!(err, StorageError::InvalidRecord { .. }), "{err}");
    }
    assert_eq!(log.log_end_offset(), 0, "nothing was appended");
    let info = log.append_at(&gapped).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 4));
    let mut later = stamped.clone();
    later[..8].copy_from_slice(&5i64.to_be_bytes());
    assert_eq!(log.append_at(&later).unwrap().last_offset, 6);
}
