//! RecordBatch validation and the log's append, read, recovery and compaction.
//!
//! Input: one flags byte, then the bytes a Produce request carries for one
//! partition (concatenated RecordBatch v2). Flags: bit 0 rewrites each batch's
//! CRC to match, so mutations reach past the CRC check; bit 1 appends the input
//! twice (an idempotent producer's retry); bit 2 closes the log and reopens it
//! with recovery; bit 3 makes the log compacted and compacts it; bit 4 uses
//! LogAppendTime. Each run gets a fresh log in a temporary directory, with
//! segments small enough that an append rolls them.
//!
//! Checked, beyond "no panic": an accepted append moves the log end to its last
//! offset + 1; what is read back passes validation; recovery after a close
//! keeps every appended offset.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use weir_storage::batch::{batches, BatchHeader, ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_LEN};
use weir_storage::record::{decode_records, decompress, recompress};
use weir_storage::{CleanupPolicy, Clock, Log, LogConfig, SystemClock, TimestampType};

/// Rewrites the CRC of each whole batch in `buf` (stops at the first that
/// does not parse or runs past the end).
fn fix_crcs(buf: &mut [u8]) {
    let mut pos = 0;
    while let Ok(h) = BatchHeader::parse(&buf[pos..]) {
        let end = pos + h.total_len();
        if end > buf.len() || h.total_len() < ATTRIBUTES_OFFSET {
            return;
        }
        let crc = weir_storage::batch::compute_crc(&buf[pos..end]);
        buf[pos + CRC_OFFSET..pos + ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
}

fn config(flags: u8) -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        segment_index_bytes: 1024,
        index_interval_bytes: 64,
        cleanup_policy: CleanupPolicy { delete: flags & 8 == 0, compact: flags & 8 != 0 },
        message_timestamp_type: if flags & 16 != 0 { TimestampType::LogAppendTime } else { TimestampType::CreateTime },
        ..LogConfig::default()
    }
}

fn read_all(log: &Log) -> bytes::Bytes {
    log.read(log.log_start_offset(), 1 << 24, true).expect("reading an open log").records
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, payload)) = data.split_first() else { return };
    let mut input = payload.to_vec();
    if flags & 1 != 0 {
        fix_crcs(&mut input);
    }
    // The codecs on their own: a batch's records section decompressed as each codec.
    for (h, batch) in batches(&input).flatten() {
        let _ = decode_records(batch);
        let _ = decompress(h.compression(), &batch[HEADER_LEN.min(batch.len())..]);
        let _ = recompress(batch, 4, 3);
    }

    let dir = tempfile::tempdir().expect("temporary directory");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let log = Log::open(dir.path().join("t-0"), config(flags), clock.clone(), false).expect("a new log opens");
    let rounds = if flags & 2 != 0 { 2 } else { 1 };
    for _ in 0..rounds {
        let before = log.log_end_offset();
        if let Ok(info) = log.append(&input) {
            assert!(info.last_offset >= info.first_offset, "{info:?}");
            if !info.duplicate {
                assert_eq!(info.first_offset, before, "an append starts at the log end");
                assert_eq!(log.log_end_offset(), info.last_offset + 1, "the log end follows the append");
            }
        }
    }
    let end = log.log_end_offset();
    let read = read_all(&log);
    for b in batches(&read) {
        let (_, batch) = b.expect("what the log returns validates");
        let _ = decode_records(batch);
    }
    if flags & 8 != 0 {
        let _ = log.roll();
        let _ = log.compact();
        for b in batches(&read_all(&log)) {
            b.expect("what compaction leaves validates");
        }
    }
    if flags & 4 != 0 {
        let start = log.log_start_offset();
        log.close().expect("close");
        drop(log);
        let log = Log::open(dir.path().join("t-0"), config(flags), clock, true).expect("the log reopens");
        assert_eq!(log.log_end_offset(), end, "recovery keeps every appended offset");
        assert_eq!(log.log_start_offset(), start);
        for b in batches(&read_all(&log)) {
            b.expect("what recovery keeps validates");
        }
        log.close().expect("close");
    } else {
        log.close().expect("close");
    }
});
