use std::collections::BTreeMap;
use std::sync::Arc;

use weir_storage::testutil::{simple_batch, BatchBuilder, Record};
use weir_storage::{LogManager, MockClock};

use super::*;
use crate::config::BrokerConfig;

fn manager(dir: &std::path::Path, config: BrokerConfig) -> ReplicaManager {
    let logs = Arc::new(LogManager::open(dir, Arc::new(MockClock::new(1_000))).unwrap());
    ReplicaManager::new(logs, Arc::new(config))
}

fn open(rm: &ReplicaManager, topic: &str, partitions: i32, overrides: &[(&str, &str)]) {
    let o: BTreeMap<String, String> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    rm.open_topic(topic, Uuid::new_v4(), partitions, &o).unwrap();
}

#[test]
fn an_append_wakes_only_the_fetches_parked_on_its_partition() {
    let dir = tempfile::tempdir().unwrap();
    let rm = manager(dir.path(), BrokerConfig::default());
    open(&rm, "a", 2, &[]);
    open(&rm, "b", 1, &[]);
    let (a0, a1, b0) = (rm.get("a", 0).unwrap(), rm.get("a", 1).unwrap(), rm.get("b", 0).unwrap());
    let on_a0 = FetchWaiter::new();
    let on_a1_and_b0 = FetchWaiter::new();
    a0.park(&on_a0);
    a1.park(&on_a1_and_b0);
    b0.park(&on_a1_and_b0);

    a0.append_from_client(&simple_batch(3, 10, 1_000), 1, None, None).unwrap();
    assert_eq!((on_a0.wakes(), on_a1_and_b0.wakes()), (1, 0));
    b0.append_from_client(&simple_batch(1, 10, 1_000), 1, None, None).unwrap();
    assert_eq!((on_a0.wakes(), on_a1_and_b0.wakes()), (1, 1));
    a0.append_internal(&simple_batch(1, 10, 1_000)).unwrap();
    assert_eq!((on_a0.wakes(), on_a1_and_b0.wakes()), (2, 1));
}

#[tokio::test]
async fn a_wake_between_read_and_wait_is_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let rm = manager(dir.path(), BrokerConfig::default());
    open(&rm, "t", 1, &[]);
    let p = rm.get("t", 0).unwrap();
    let w = FetchWaiter::new();
    p.park(&w);
    assert!(p.read(0, 1 << 20, Isolation::ReadUncommitted, true).unwrap().records.is_empty());
    p.append_from_client(&simple_batch(1, 10, 1_000), 1, None, None).unwrap();
    // The append came before the wait: the wait still completes.
    tokio::time::timeout(std::time::Duration::from_secs(5), w.wait()).await.expect("woken");
    assert!(!p.read(0, 1 << 20, Isolation::ReadUncommitted, true).unwrap().records.is_empty());
}

#[test]
fn finished_fetches_are_swept_from_idle_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let rm = manager(dir.path(), BrokerConfig::default());
    open(&rm, "idle", 1, &[]);
    let p = rm.get("idle", 0).unwrap();
    let live = FetchWaiter::new();
    p.park(&live);
    for _ in 0..1000 {
        p.park(&FetchWaiter::new()); // a fetch that parks, times out and ends
    }
    assert!(p.waiters.len() <= 16, "dead waiters pile up: {}", p.waiters.len());
    p.wake_all();
    assert_eq!(p.waiters.len(), 1);
    assert_eq!(live.wakes(), 1);
}

#[test]
fn reads_stop_at_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let rm = manager(dir.path(), BrokerConfig::default());
    open(&rm, "t", 1, &[]);
    let p = rm.get("t", 0).unwrap();
    p.append_from_client(&simple_batch(2, 10, 1_000), 1, None, None).unwrap();
    p.append_from_client(&simple_batch(3, 10, 1_000), 1, None, None).unwrap();
    let whole = p.read(0, 1 << 20, Isolation::ReadUncommitted, true).unwrap();
    assert_eq!((whole.high_watermark, whole.last_stable_offset), (5, 5));
    // A bound inside the data keeps only the batches that start below it.
    let first = cut_at(whole.records.clone(), 2);
    assert_eq!(weir_storage::batch::BatchHeader::parse(&first).unwrap().total_len(), first.len());
    assert_eq!(cut_at(whole.records.clone(), 3).len(), whole.records.len());
    assert!(cut_at(whole.records, 0).is_empty());
    // At the bound there is nothing yet; past the log end is out of range.
    assert!(p.read(5, 1 << 20, Isolation::ReadCommitted, true).unwrap().records.is_empty());
    assert!(matches!(p.read(6, 1 << 20, Isolation::ReadUncommitted, true), Err(StorageError::OffsetOutOfRange { .. })));
}

#[test]
fn client_appends_are_checked_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let rm = manager(dir.path(), BrokerConfig::default());
    open(&rm, "isr", 1, &[("min.insync.replicas", "2")]);
    open(&rm, "small", 1, &[("segment.bytes", "100")]);
    let isr = rm.get("isr", 0).unwrap();
    let batch = simple_batch(1, 10, 1_000);
    assert!(matches!(isr.append_from_client(&batch, -1, None, None), Err(AppendError::NotEnoughReplicas(2))));
    assert!(isr.append_from_client(&batch, 1, None, None).is_ok(), "acks=1 does not wait for replicas");
    assert!(matches!(isr.append_from_client(&[], 1, None, None), Err(AppendError::NoRecords)));
    let txn = BatchBuilder::new(0).producer(7, 0, 0).transactional(true).record(Record::value("x")).build();
    assert!(matches!(isr.append_from_client(&txn, 1, None, None), Err(AppendError::TransactionalBatch)));
    let small = rm.get("small", 0).unwrap();
    let big = simple_batch(5, 100, 1_000);
    assert!(matches!(small.append_from_client(&big, 1, None, None), Err(AppendError::RecordListTooLarge { .. })));
    assert_eq!((isr.log_end_offset(), small.log_end_offset()), (1, 0));
}

#[test]
fn acks_all_on_durable_topics_must_wait_for_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let rm = manager(dir.path(), BrokerConfig::default());
    open(&rm, "durable", 1, &[]);
    open(&rm, "paged", 1, &[("flush.messages", "1000")]);
    let batch = simple_batch(1, 10, 1_000);
    let d = rm.get("durable", 0).unwrap();
    assert!(d.append_from_client(&batch, -1, None, None).unwrap().needs_flush);
    assert!(!d.append_from_client(&batch, 1, None, None).unwrap().needs_flush);
    assert!(!rm.get("paged", 0).unwrap().append_from_client(&batch, -1, None, None).unwrap().needs_flush);
}

fn mirror_batch(base: i64, n: usize) -> Vec<u8> {
    BatchBuilder::new(base).records((0..n).map(|i| Record::value(format!("v{i}")))).build()
}

#[test]
fn copied_batches_keep_their_offsets_and_a_resent_copy_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let rm = manager(dir.path(), BrokerConfig::default());
    open(&rm, "plain", 1, &[]);
    open(&rm, "A.t", 1, &[("weir.mirror.source", "A:t")]);
    let plain = rm.get("plain", 0).unwrap();
    assert!(matches!(plain.append_copied(&mirror_batch(0, 1), 1, None), Err(AppendError::NotAMirror { .. })));
    let m = rm.get("A.t", 0).unwrap();
    let (first, second) = (mirror_batch(5, 3), mirror_batch(10, 2));
    let mut both = first.clone();
    both.extend(&second);
    assert_eq!(m.append_copied(&first, 1, Some(0)).unwrap().info.first_offset, 5);
    // Sent again with the next batch (a lost response): the first is skipped.
    let again = m.append_copied(&both, 1, Some(5)).unwrap();
    assert_eq!((again.info.first_offset, again.info.last_offset), (10, 11));
    assert!(m.append_copied(&both, 1, None).unwrap().info.duplicate);
    assert_eq!((m.log_end_offset(), m.high_watermark()), (12, 12));
    let read = m.read(0, 1 << 20, Isolation::ReadUncommitted, true).unwrap();
    assert_eq!(&read.records[..], &both[..], "byte for byte");
    // Client produce stays refused.
    assert!(matches!(
        m.append_from_client(&simple_batch(1, 1, 1), 1, None, None),
        Err(AppendError::MirrorTopic { .. })
    ));
}

#[test]
fn promotion_aborts_copied_transactions_left_open() {
    let dir = tempfile::tempdir().unwrap();
    let rm = manager(dir.path(), BrokerConfig::default());
    open(&rm, "A.t", 1, &[("weir.mirror.source", "A:t")]);
    let m = rm.get("A.t", 0).unwrap();
    let open_txn = BatchBuilder::new(0).producer(77, 3, 0).transactional(true).record(Record::value("x")).build();
    m.append_copied(&open_txn, 1, Some(0)).unwrap();
    assert_eq!(m.open_transactions(), vec![(77, 3, 0)]);
    assert_eq!(m.last_stable_offset(), 0);
    rm.update_settings("A.t", &BTreeMap::new());
    assert!(m.open_transactions().is_empty(), "its end never arrived: aborted");
    assert_eq!(m.last_stable_offset(), m.log_end_offset());
    let read = m.read(0, 1 << 20, Isolation::ReadCommitted, true).unwrap();
    assert_eq!(read.aborted.len(), 1, "read_committed consumers skip it");
    // Now a plain topic: copies are refused, producers write on.
    assert!(matches!(m.append_copied(&mirror_batch(5, 1), 1, None), Err(AppendError::NotAMirror { .. })));
    m.append_from_client(&simple_batch(1, 1, 1), 1, None, None).unwrap();
}

#[test]
fn a_copy_that_would_leave_a_hole_is_refused_and_long_copies_go_in_segment_runs() {
    let dir = tempfile::tempdir().unwrap();
    let rm = manager(dir.path(), BrokerConfig::default());
    open(&rm, "A.t", 1, &[("weir.mirror.source", "A:t"), ("segment.bytes", "1024")]);
    let m = rm.get("A.t", 0).unwrap();
    m.append_copied(&mirror_batch(0, 2), 1, Some(0)).unwrap();
    // The copy of 2..4 was lost; the one after it expects the log at 4.
    let r = m.append_copied(&mirror_batch(4, 1), 1, Some(4));
    assert!(matches!(r, Err(AppendError::CopyGap { expected: 4, end: 2, .. })), "{r:?}");
    assert_eq!(m.log_end_offset(), 2, "nothing appended");
    // A copy longer than segment.bytes goes in runs that each fit.
    let batches: Vec<Vec<u8>> = (0..8).map(|i| mirror_batch(2 + i * 10, 10)).collect();
    let all: Vec<u8> = batches.concat();
    assert!(all.len() > 1024 && batches.iter().all(|b| b.len() < 1024));
    let done = m.append_copied(&all, 1, Some(2)).unwrap();
    assert_eq!((done.info.first_offset, done.info.last_offset, done.info.record_count), (2, 81, 80));
    assert_eq!(m.log_end_offset(), 82);
    let read = m.read(2, 1 << 20, Isolation::ReadUncommitted, true).unwrap();
    assert!(read.records.starts_with(&batches[0]), "byte for byte");
    // A single batch larger than a segment cannot be kept as it is.
    let big = BatchBuilder::new(100).records((0..40).map(|i| Record::value(format!("value-{i:040}")))).build();
    assert!(big.len() > 1024);
    assert!(matches!(m.append_copied(&big, 1, None), Err(AppendError::RecordListTooLarge { .. })));
}
