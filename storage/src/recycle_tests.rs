//! Segment recycling through the log manager: reuse, the old bytes a reused file
//! keeps, readers of retired files, the budget, retention and trimming.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::batches;
use crate::clock::MockClock;
use crate::config::{FlushPolicy, LogConfig};
use crate::log::tests::all_offsets as offsets;
use crate::log::Log;
use crate::manager::{LogManager, TopicPartition};
use crate::segment::segment_path;
use crate::testutil::simple_batch;

const TS: i64 = 1_000_000;

fn manager(dir: &Path, budget: u64) -> LogManager {
    let m = LogManager::open(dir, Arc::new(MockClock::new(TS))).unwrap();
    m.segment_pool().set_budget(budget);
    m
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn first_log(dir: &Path, name: &str) -> PathBuf {
    segment_path(&dir.join(name), 0, ".log")
}

#[test]
fn a_deleted_partitions_file_is_reused_and_its_old_batches_never_come_back() {
    let d = tempfile::tempdir().unwrap();
    let m = manager(d.path(), 1 << 20);
    let b = simple_batch(1, 1000, TS);
    let a = m.get_or_create(&TopicPartition::new("a", 0), LogConfig::default()).unwrap();
    for _ in 0..10 {
        a.append(&b).unwrap();
    }
    let old_size = a.size_bytes();
    drop(a);
    m.delete(&TopicPartition::new("a", 0)).unwrap();
    assert_eq!(m.segment_pool().ready_count(), 1);
    assert_eq!(m.segment_pool().bytes(), old_size);

    // Same batch shapes: the old batch right after the new data has the base offset
    // the new log expects next.
    let log = m.get_or_create(&TopicPartition::new("b", 0), LogConfig::default()).unwrap();
    assert_eq!(m.segment_pool().ready_count(), 0);
    assert_eq!(file_len(&first_log(d.path(), "b-0")), old_size, "the pooled file was reused");
    for _ in 0..4 {
        log.append(&b).unwrap();
    }
    assert_eq!(offsets(&log), vec![0, 1, 2, 3]);

    // A crash now: recovery scans the file to its end.
    let crashed = d.path().join("crashed-0");
    copy_dir(&d.path().join("b-0"), &crashed);
    let recovered = Log::open(crashed, LogConfig::default(), Arc::new(MockClock::new(TS)), true).unwrap();
    assert_eq!(recovered.log_end_offset(), 4);
    assert_eq!(offsets(&recovered), vec![0, 1, 2, 3]);

    // A clean close trims the file to the data.
    let size = log.size_bytes();
    drop(log);
    m.shutdown().unwrap();
    assert_eq!(file_len(&first_log(d.path(), "b-0")), size);
    let m = manager(d.path(), 1 << 20);
    let log = m.get_or_create(&TopicPartition::new("b", 0), LogConfig::default()).unwrap();
    assert_eq!(offsets(&log), vec![0, 1, 2, 3]);
    assert!(!d.path().join(crate::recycle::RECYCLE_DIR).exists(), "emptied at startup");
}

#[test]
fn a_file_a_reader_still_maps_is_left_alone_until_the_reader_lets_go() {
    let d = tempfile::tempdir().unwrap();
    let m = manager(d.path(), 1 << 20);
    let a = m.get_or_create(&TopicPartition::new("a", 0), LogConfig::default()).unwrap();
    for _ in 0..5 {
        a.append(&simple_batch(2, 500, TS)).unwrap();
    }
    let held = a.read(0, 1 << 20, true).unwrap().records;
    drop(a);
    m.delete(&TopicPartition::new("a", 0)).unwrap();
    assert_eq!(m.segment_pool().ready_count(), 0, "waiting for the reader");
    m.segment_pool().process();
    assert_eq!(m.segment_pool().ready_count(), 0);
    assert_eq!(batches(&held).filter(|b| b.is_ok()).count(), 5, "the reader's bytes are unchanged");
    drop(held);
    m.segment_pool().process();
    assert_eq!(m.segment_pool().ready_count(), 1);
}

#[test]
fn files_over_the_budget_are_deleted_and_a_zero_budget_recycles_nothing() {
    for budget in [0, 100] {
        let d = tempfile::tempdir().unwrap();
        let m = manager(d.path(), budget);
        let a = m.get_or_create(&TopicPartition::new("a", 0), LogConfig::default()).unwrap();
        a.append(&simple_batch(1, 1000, TS)).unwrap();
        drop(a);
        m.delete(&TopicPartition::new("a", 0)).unwrap();
        assert_eq!(m.segment_pool().bytes(), 0);
        let log = m.get_or_create(&TopicPartition::new("b", 0), LogConfig::default()).unwrap();
        assert_eq!(file_len(&first_log(d.path(), "b-0")), 0, "a new file");
        drop(log);
        m.shutdown().unwrap();
    }
}

#[test]
fn retention_recycles_segments_and_a_roll_trims_and_syncs_the_reused_file() {
    let d = tempfile::tempdir().unwrap();
    let m = manager(d.path(), 1 << 20);
    let b = simple_batch(1, 1000, TS);
    let cfg = LogConfig {
        segment_bytes: b.len() as u64 * 3,
        retention_bytes: b.len() as i64 * 6,
        flush: FlushPolicy::Durable,
        ..Default::default()
    };
    let log = m.get_or_create(&TopicPartition::new("r", 0), cfg).unwrap();
    for _ in 0..9 {
        log.append(&b).unwrap(); // segments at 0, 3, 6
    }
    assert_eq!(log.apply_retention().unwrap(), 1);
    assert_eq!(log.log_start_offset(), 3);
    assert!(!segment_path(log.dir(), 0, ".log").exists());
    assert!(!segment_path(log.dir(), 0, ".index").exists());
    m.segment_pool().process();
    assert_eq!(m.segment_pool().ready_count(), 1);

    // The next roll writes into the retired file; one batch (flushed), then another
    // roll, which trims it: the next flush must sync it although its data was.
    log.append(&b).unwrap();
    log.flush().unwrap();
    assert_eq!(m.segment_pool().ready_count(), 0);
    let reused = segment_path(log.dir(), 9, ".log");
    assert_eq!(file_len(&reused), b.len() as u64 * 3);
    log.roll().unwrap();
    assert_eq!(file_len(&reused), b.len() as u64, "trimmed when sealed");
    let sealed = log.segment_list().into_iter().find(|s| s.base_offset == 9).unwrap();
    assert!(sealed.trim_unsynced());
    log.append(&b).unwrap();
    log.flush().unwrap();
    assert!(!sealed.trim_unsynced(), "synced before later data is durable");
    assert_eq!(offsets(&log), (3..11).collect::<Vec<_>>());

    // Reopened cleanly, the trimmed segment is exactly its batches.
    drop((log, sealed));
    m.shutdown().unwrap();
    let m = manager(d.path(), 1 << 20);
    let log = m.get_or_create(&TopicPartition::new("r", 0), LogConfig::default()).unwrap();
    assert_eq!(offsets(&log), (3..11).collect::<Vec<_>>());
}
