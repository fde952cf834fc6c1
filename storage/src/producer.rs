//! Producer state of one partition: for each producer id, its epoch, the sequence
//! numbers and offsets of its last five batches, and the first offset of its open
//! transaction, if any (the partition's last stable offset is the smallest of those).
//!
//! Invariant: the state equals what replaying every batch header from the log start
//! to the log end would produce (minus expired producers). It is kept in memory,
//! updated under the log's write lock in the same critical section as the append it
//! describes, and snapshotted to `producer-state.snapshot`:
//!
//! ```text
//! i16 version (2) | i64 offset (state covers batches below it) | i32 count |
//!   count x { i64 producer id | i16 epoch | i64 last timestamp |
//!             i64 first offset of the open transaction (-1: none) | i8 n |
//!             n x { i32 first seq | i32 last seq | i64 first offset | i64 last offset } } |
//! u32 CRC-32C of everything before it
//! ```
//!
//! (Version 1, without the transaction field, is still read.)
//!
//! written atomically (temp file, fsync, rename) when a segment is rolled and when the
//! log is closed. On open the snapshot is loaded if it is intact and not beyond the
//! log end, and the batch headers after its offset are replayed (headers only, no
//! records), so a crash never lets a retried batch in as a duplicate.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

use bytes::{Buf, BufMut};

use crate::batch::BatchHeader;
use crate::error::{Result, StorageError};
use crate::txn::{CompletedTxn, ControlType};

pub(crate) const SNAPSHOT_FILE: &str = "producer-state.snapshot";
const VERSION: i16 = 2;
/// Kafka keeps the last five batches per producer (max.in.flight is at most 5).
const CACHED_BATCHES: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
struct CachedBatch {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    epoch: i16,
    last_timestamp: i64,
    batches: VecDeque<CachedBatch>,
    /// First offset of the producer's open transaction.
    txn_first_offset: Option<i64>,
}

#[derive(Default, Debug)]
pub(crate) struct ProducerState {
    entries: HashMap<i64, Entry>,
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
}

/// One producer as a partition knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerSummary {
    pub producer_id: i64,
    pub epoch: i16,
    /// -1 when no batch with a sequence is remembered.
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// First offset of its open transaction.
    pub txn_first_offset: Option<i64>,
}

/// What to do with a batch of an idempotent producer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Append,
    /// Already in the log at these offsets: answer success without appending.
    Duplicate {
        first_offset: i64,
        last_offset: i64,
    },
}

fn last_seq(h: &BatchHeader) -> i32 {
    // Sequences wrap from i32::MAX to 0.
    ((h.base_sequence as i64 + h.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerState {
    pub(crate) fn is_idempotent(h: &BatchHeader) -> bool {
        h.producer_id >= 0
    }

    pub(crate) fn check(&self, h: &BatchHeader) -> Result<Check> {
        if h.is_control() || (h.is_transactional() && h.base_sequence < 0) {
            // Markers, and records a coordinator writes for a transaction (Kafka's
            // TxnOffsetCommit), carry no sequence; from an older epoch they are stale.
            return match self.entries.get(&h.producer_id) {
                Some(e) if h.producer_epoch < e.epoch => Err(StorageError::InvalidProducerEpoch {
                    producer_id: h.producer_id,
                    epoch: h.producer_epoch,
                    current: e.epoch,
                }),
                _ => Ok(Check::Append),
            };
        }
        let Some(e) = self.entries.get(&h.producer_id) else {
            // A producer we do not know (new, or expired): any sequence starts it.
            return Ok(Check::Append);
        };
        if h.producer_epoch < e.epoch {
            return Err(StorageError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                current: e.epoch,
            });
        }
        if h.producer_epoch > e.epoch {
            if h.base_sequence != 0 {
                return Err(StorageError::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                });
            }
            return Ok(Check::Append);
        }
        let last = last_seq(h);
        if let Some(b) = e.batches.iter().find(|b| b.first_seq == h.base_sequence && b.last_seq == last) {
            return Ok(Check::Duplicate { first_offset: b.first_offset, last_offset: b.last_offset });
        }
        let expected = e.batches.back().map(|b| next_seq(b.last_seq)).unwrap_or(h.base_sequence);
        if h.base_sequence != expected {
            return Err(StorageError::OutOfOrderSequence {
                producer_id: h.producer_id,
                expected,
                got: h.base_sequence,
            });
        }
        Ok(Check::Append)
    }

    /// Records an appended batch (`base_offset` as assigned in the log); `control`
    /// is the marker type of a control batch. Returns the transaction a marker
    /// completed.
    pub(crate) fn update(
        &mut self,
        h: &BatchHeader,
        base_offset: i64,
        timestamp: i64,
        control: Option<ControlType>,
    ) -> Option<CompletedTxn> {
        if !Self::is_idempotent(h) {
            return None;
        }
        let e = self.entries.entry(h.producer_id).or_insert_with(|| Entry {
            epoch: h.producer_epoch,
            last_timestamp: timestamp,
            batches: VecDeque::new(),
            txn_first_offset: None,
        });
        if h.producer_epoch > e.epoch || (h.producer_epoch != e.epoch && !h.is_control()) {
            e.epoch = h.producer_epoch;
            e.batches.clear();
        }
        e.last_timestamp = e.last_timestamp.max(timestamp);
        if h.is_control() {
            let first = e.txn_first_offset.take()?;
            self.ongoing.remove(&first);
            return Some(CompletedTxn {
                producer_id: h.producer_id,
                first_offset: first,
                last_offset: base_offset,
                aborted: control != Some(ControlType::Commit),
            });
        }
        if h.is_transactional() && e.txn_first_offset.is_none() {
            e.txn_first_offset = Some(base_offset);
            self.ongoing.insert(base_offset, h.producer_id);
        }
        if h.base_sequence < 0 {
            return None; // no sequence to remember
        }
        e.batches.push_back(CachedBatch {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            first_offset: base_offset,
            last_offset: base_offset + h.last_offset_delta as i64,
        });
        while e.batches.len() > CACHED_BATCHES {
            e.batches.pop_front();
        }
        None
    }

    /// Every producer this partition remembers (DescribeProducers).
    pub(crate) fn summaries(&self) -> Vec<ProducerSummary> {
        let mut out: Vec<ProducerSummary> = self
            .entries
            .iter()
            .map(|(id, e)| ProducerSummary {
                producer_id: *id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                txn_first_offset: e.txn_first_offset,
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// Each producer's last data offset (of the newest batch it remembers): the
    /// cleaner keeps that batch, emptied if need be, so a rebuild from the log
    /// still finds the producer's sequence (Kafka's RETAIN_EMPTY).
    pub(crate) fn last_data_offsets(&self) -> HashMap<i64, i64> {
        self.entries.iter().filter_map(|(id, e)| Some((*id, e.batches.back()?.last_offset))).collect()
    }

    /// The first offset of the oldest open transaction.
    pub(crate) fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Open transactions: (producer id, epoch, first offset), oldest first.
    pub(crate) fn open_transactions(&self) -> Vec<(i64, i16, i64)> {
        self.ongoing.iter().map(|(first, pid)| (*pid, self.entries.get(pid).map_or(-1, |e| e.epoch), *first)).collect()
    }

    /// Drops producers idle for longer than `expiration_ms` (producer.id.expiration.ms);
    /// never one with an open transaction.
    pub(crate) fn expire(&mut self, now: i64, expiration_ms: i64) {
        self.entries
            .retain(|_, e| e.txn_first_offset.is_some() || e.last_timestamp.saturating_add(expiration_ms) > now);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn encode(&self, offset: i64) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 + self.entries.len() * 64);
        buf.put_i16(VERSION);
        buf.put_i64(offset);
        buf.put_i32(self.entries.len() as i32);
        let mut ids: Vec<&i64> = self.entries.keys().collect();
        ids.sort();
        for id in ids {
            let e = &self.entries[id];
            buf.put_i64(*id);
            buf.put_i16(e.epoch);
            buf.put_i64(e.last_timestamp);
            buf.put_i64(e.txn_first_offset.unwrap_or(-1));
            buf.put_i8(e.batches.len() as i8);
            for b in &e.batches {
                buf.put_i32(b.first_seq);
                buf.put_i32(b.last_seq);
                buf.put_i64(b.first_offset);
                buf.put_i64(b.last_offset);
            }
        }
        let crc = crc32c::crc32c(&buf);
        buf.put_u32(crc);
        buf
    }

    /// Decodes a snapshot; `None` when it is damaged (then the log is replayed).
    pub(crate) fn decode(data: &[u8]) -> Option<(ProducerState, i64)> {
        if data.len() < 18 {
            return None;
        }
        let (body, crc) = data.split_at(data.len() - 4);
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut b = body;
        let version = b.get_i16();
        if version != 1 && version != VERSION {
            return None;
        }
        let entry_fixed = if version == 1 { 19 } else { 27 };
        let offset = b.get_i64();
        let count = b.get_i32();
        let mut entries = HashMap::new();
        for _ in 0..count.max(0) {
            if b.remaining() < entry_fixed {
                return None;
            }
            let id = b.get_i64();
            let epoch = b.get_i16();
            let last_timestamp = b.get_i64();
            let txn_first_offset = if version >= 2 { Some(b.get_i64()).filter(|o| *o >= 0) } else { None };
            let n = b.get_i8().max(0) as usize;
            if b.remaining() < n * 24 {
                return None;
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(CachedBatch {
                    first_seq: b.get_i32(),
                    last_seq: b.get_i32(),
                    first_offset: b.get_i64(),
                    last_offset: b.get_i64(),
                });
            }
            entries.insert(id, Entry { epoch, last_timestamp, batches, txn_first_offset });
        }
        if b.has_remaining() {
            return None;
        }
        let ongoing = entries.iter().filter_map(|(id, e)| e.txn_first_offset.map(|first| (first, *id))).collect();
        Some((ProducerState { entries, ongoing }, offset))
    }

    pub(crate) fn write_snapshot(&self, dir: &Path, offset: i64) -> Result<()> {
        let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
        let path = dir.join(SNAPSHOT_FILE);
        let data = self.encode(offset);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&data)?;
            f.sync_data()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| StorageError::io("write producer snapshot", &path, e))?;
        crate::recovery::fsync_dir(dir)
    }

    pub(crate) fn read_snapshot(dir: &Path) -> Option<(ProducerState, i64)> {
        let data = std::fs::read(dir.join(SNAPSHOT_FILE)).ok()?;
        let decoded = Self::decode(&data);
        if decoded.is_none() {
            tracing::warn!(dir = %dir.display(), "producer state snapshot is damaged; rebuilding from the log");
        }
        decoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, delta: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: delta,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: delta + 1,
        }
    }

    #[test]
    fn duplicates_gaps_and_epochs() {
        let mut s = ProducerState::default();
        let b0 = header(7, 0, 0, 9);
        assert_eq!(s.check(&b0).unwrap(), Check::Append);
        s.update(&b0, 100, 1, None);
        let b1 = header(7, 0, 10, 4);
        assert_eq!(s.check(&b1).unwrap(), Check::Append);
        s.update(&b1, 110, 2, None);
        // A retry of either cached batch is a duplicate with its original offsets.
        assert_eq!(s.check(&b0).unwrap(), Check::Duplicate { first_offset: 100, last_offset: 109 });
        assert_eq!(s.check(&header(7, 0, 10, 4)).unwrap(), Check::Duplicate { first_offset: 110, last_offset: 114 });
        // A gap.
        assert!(matches!(s.check(&header(7, 0, 16, 0)), Err(StorageError::OutOfOrderSequence { expected: 15, .. })));
        // A stale epoch.
        assert!(matches!(s.check(&header(7, -1, 15, 0)), Err(StorageError::InvalidProducerEpoch { .. })));
        // A new epoch must start at sequence 0.
        assert!(s.check(&header(7, 1, 15, 0)).is_err());
        assert_eq!(s.check(&header(7, 1, 0, 0)).unwrap(), Check::Append);
        // Only five batches are remembered.
        for i in 0..6 {
            let h = header(8, 0, i, 0);
            s.update(&h, 200 + i as i64, 3, None);
        }
        assert!(s.check(&header(8, 0, 0, 0)).unwrap_err().to_string().contains("sequence"));
        assert_eq!(s.check(&header(8, 0, 5, 0)).unwrap(), Check::Duplicate { first_offset: 205, last_offset: 205 });
    }

    #[test]
    fn sequences_wrap() {
        let mut s = ProducerState::default();
        let h = header(1, 0, i32::MAX - 1, 1);
        s.update(&h, 0, 0, None);
        assert_eq!(s.check(&header(1, 0, 0, 0)).unwrap(), Check::Append);
    }

    #[test]
    fn snapshot_round_trips_and_detects_damage() {
        let mut s = ProducerState::default();
        s.update(&header(3, 2, 0, 1), 10, 5, None);
        s.update(&header(4, 0, 0, 0), 12, 6, None);
        let data = s.encode(13);
        let (back, offset) = ProducerState::decode(&data).unwrap();
        assert_eq!(offset, 13);
        assert_eq!(back.entries, s.entries);
        let mut bad = data.clone();
        bad[10] ^= 1;
        assert!(ProducerState::decode(&bad).is_none());
        s.expire(100, 50);
        assert_eq!(s.len(), 0);
    }
}
