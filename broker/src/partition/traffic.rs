//! A partition's traffic: bytes and records in (appended by producers and
//! mirror copies) and out (handed to fetches). Each is a Prometheus counter
//! labelled with the topic (`weir_partition_{bytes,records}_{in,out}_total`)
//! and a total the console reads for its rates and history. Counted per
//! append and per read, never per record: records out come from batch
//! headers' record counts.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::Counter;
use weir_storage::batch::BatchHeader;

/// The totals since the partition was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficTotals {
    pub bytes_in: u64,
    pub records_in: u64,
    pub bytes_out: u64,
    pub records_out: u64,
}

pub(super) struct Traffic {
    bytes_in: Counter,
    records_in: Counter,
    bytes_out: Counter,
    records_out: Counter,
    totals: [AtomicU64; 4],
}

impl Traffic {
    pub(super) fn new(topic: &str) -> Traffic {
        let label = topic.to_string();
        Traffic {
            bytes_in: metrics::counter!("weir_partition_bytes_in_total", "topic" => label.clone()),
            records_in: metrics::counter!("weir_partition_records_in_total", "topic" => label.clone()),
            bytes_out: metrics::counter!("weir_partition_bytes_out_total", "topic" => label.clone()),
            records_out: metrics::counter!("weir_partition_records_out_total", "topic" => label),
            totals: Default::default(),
        }
    }

    pub(super) fn appended(&self, bytes: u64, records: u64) {
        self.bytes_in.increment(bytes);
        self.records_in.increment(records);
        self.totals[0].fetch_add(bytes, Ordering::Relaxed);
        self.totals[1].fetch_add(records, Ordering::Relaxed);
    }

    /// A read of whole batches `batches` handed to a fetch.
    pub(super) fn read(&self, batches: &[u8]) {
        if batches.is_empty() {
            return;
        }
        let records = data_records(batches);
        self.bytes_out.increment(batches.len() as u64);
        self.records_out.increment(records);
        self.totals[2].fetch_add(batches.len() as u64, Ordering::Relaxed);
        self.totals[3].fetch_add(records, Ordering::Relaxed);
    }

    pub(super) fn totals(&self) -> TrafficTotals {
        let t = |i: usize| self.totals[i].load(Ordering::Relaxed);
        TrafficTotals { bytes_in: t(0), records_in: t(1), bytes_out: t(2), records_out: t(3) }
    }
}

/// Records in the data batches of `buf` (control batches left out), from the
/// headers alone: no CRC, no record decoding.
fn data_records(mut buf: &[u8]) -> u64 {
    let mut n = 0u64;
    while let Ok(h) = BatchHeader::parse(buf) {
        if !h.is_control() {
            n += h.record_count.max(0) as u64;
        }
        let len = h.total_len();
        if len == 0 || len > buf.len() {
            break;
        }
        buf = &buf[len..];
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(records: i32, control: bool) -> Vec<u8> {
        // A v2 header with an empty record section: enough for header parsing.
        let mut b = vec![0u8; 61];
        let len: i32 = 61 - 12;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[16] = 2; // magic
        let attrs: i16 = if control { 0x20 } else { 0 };
        b[21..23].copy_from_slice(&attrs.to_be_bytes());
        b[57..61].copy_from_slice(&records.to_be_bytes());
        b
    }

    #[test]
    fn counts_data_records_from_headers() {
        let mut buf = batch(3, false);
        buf.extend(batch(1, true));
        buf.extend(batch(5, false));
        assert_eq!(data_records(&buf), 8);
        assert_eq!(data_records(&buf[..70]), 3, "a torn tail stops the walk");
        assert_eq!(data_records(&[]), 0);
    }
}
