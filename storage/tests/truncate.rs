//! Truncation racing with readers and flushes.
//!
//! - A flush in progress while `truncate_to` runs must not publish a flushed offset
//!   above the new log end; otherwise later appends at the re-used offsets would be
//!   reported durable (flush_to returns at once) without an fdatasync.
//! - Copy-on-truncate (a reader still holds bytes of the segment) must give the
//!   replacement segment its own index files. The old segment object, still used by
//!   in-flight readers and ListOffsets, maps the old index inodes; if the new segment
//!   shared them, trimming them on its next roll would shrink a file another mapping
//!   still covers (SIGBUS in the stale reader).

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use weir_storage::batch::batches;
use weir_storage::testutil::simple_batch;
use weir_storage::{Log, LogConfig, SystemClock};

#[test]
fn flushed_offset_never_exceeds_log_end_after_concurrent_truncate() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path().join("t-0"), LogConfig::default(), Arc::new(SystemClock), false).unwrap());
    // ~60 KiB batches of 1 record so each fdatasync has real work to do.
    let b = simple_batch(1, 60_000, 0);
    let mut bad = 0;
    for _ in 0..200 {
        for _ in 0..8 {
            log.append(&b).unwrap();
        }
        let end = log.log_end_offset();
        std::thread::scope(|s| {
            let l = log.clone();
            s.spawn(move || l.flush().unwrap());
            // Let the flusher read its target and enter fdatasync.
            std::thread::yield_now();
            log.truncate_to(end - 4).unwrap();
        });
        if log.flushed_offset() > log.log_end_offset() {
            bad += 1;
            // Re-append at the truncated offsets: flush_to now returns without syncing.
            let info = log.append(&b).unwrap();
            assert!(
                log.flushed_offset() <= info.last_offset,
                "offset {} reported durable before any fdatasync (flushed {}, end {})",
                info.last_offset,
                log.flushed_offset(),
                log.log_end_offset()
            );
        }
    }
    assert_eq!(bad, 0);
}

#[test]
fn copied_truncation_uses_fresh_index_inodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-0");
    let cfg = LogConfig { index_interval_bytes: 1, ..Default::default() };
    let log = Log::open(path.clone(), cfg.clone(), Arc::new(SystemClock), false).unwrap();
    for i in 0..50 {
        log.append(&simple_batch(2, 100, i)).unwrap();
    }
    let held = log.read(0, 1 << 20, true).unwrap().records; // forces the copy path
    let ino = |sfx: &str| std::fs::metadata(path.join(format!("{:020}{sfx}", 0))).unwrap().ino();
    let (ix, tix) = (ino(".index"), ino(".timeindex"));
    log.truncate_to(41).unwrap();
    assert_eq!(log.log_end_offset(), 40);
    assert_ne!(ino(".index"), ix, "offset index inode shared with the stale segment");
    assert_ne!(ino(".timeindex"), tix, "time index inode shared with the stale segment");
    assert_eq!(batches(&held).count(), 50, "held bytes intact");
    // The new segment is fully usable: indexed reads, time lookups, roll, reopen.
    let r = log.read(30, 1, true).unwrap().records;
    assert_eq!(batches(&r).next().unwrap().unwrap().0.base_offset, 30);
    assert_eq!(log.offset_for_timestamp(17).unwrap().unwrap().offset, 34);
    log.append(&simple_batch(2, 100, 99)).unwrap();
    log.roll().unwrap();
    log.close().unwrap();
    drop(log);
    let log = Log::open(path, cfg, Arc::new(SystemClock), false).unwrap();
    assert_eq!(log.log_end_offset(), 42);
    assert_eq!(log.offset_for_timestamp(99).unwrap().unwrap().offset, 40);
}
