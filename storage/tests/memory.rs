//! Resident memory does not grow with the amount of data stored: appending and
//! reading back 512 MiB leaves the process's anonymous memory (heap, not the page
//! cache or the file-backed index and segment mappings) within a small bound.
//! Alone in its test binary, so no other test's allocations are counted.

use std::sync::Arc;

use weir_storage::testutil::simple_batch;
use weir_storage::{FlushPolicy, Log, LogConfig, SystemClock};

fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).expect("RssAnon in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn anonymous_memory_stays_flat_while_512_mib_are_written_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 32 << 20,
        // Page-cache mode: this test is about memory, not fsync.
        flush: FlushPolicy::Interval { messages: i64::MAX, ms: i64::MAX },
        ..Default::default()
    };
    let log = Log::open(dir.path().join("big-0"), cfg, Arc::new(SystemClock), false).unwrap();
    let batch = simple_batch(16, 1024, 0); // ~16 KiB
                                           // Warm up allocator pools and the first segment before measuring.
    for _ in 0..64 {
        log.append(&batch).unwrap();
    }
    let before = rss_anon_kib();
    let target = 512u64 << 20;
    while log.size_bytes() < target {
        log.append(&batch).unwrap();
    }
    let after_write = rss_anon_kib();
    // Read everything back in fetch-sized pieces, touching every byte.
    let mut next = 0;
    let mut checksum = 0u64;
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, true).unwrap();
        checksum = r.records.iter().fold(checksum, |a, b| a.wrapping_add(*b as u64));
        let last = weir_storage::batch::batches(&r.records).last().unwrap().unwrap().0;
        next = last.base_offset + last.last_offset_delta as i64 + 1;
    }
    assert_ne!(checksum, 0);
    let after_read = rss_anon_kib();
    eprintln!(
        "RssAnon: {before} KiB before, {after_write} KiB after writing, {after_read} KiB after reading {} MiB in {} segments",
        log.size_bytes() >> 20,
        log.segment_count()
    );
    let bound = 24 * 1024; // KiB
    assert!(
        after_write.saturating_sub(before) < bound,
        "writing grew anonymous memory by {} KiB",
        after_write - before
    );
    assert!(after_read.saturating_sub(before) < bound, "reading grew anonymous memory by {} KiB", after_read - before);
}
