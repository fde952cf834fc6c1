//! Transactions in a partition log: control batches (commit and abort markers) and
//! the aborted-transaction index of each segment.
//!
//! A control batch is Kafka's: attributes with the transactional and control bits,
//! the transaction's producer id and epoch, base sequence -1, and one record whose
//! key is `i16 version (0) | i16 type (0 abort, 1 commit)` and whose value is
//! `i16 version (0) | i32 coordinator epoch`.
//!
//! `<base>.txnindex` lists the transactions aborted by markers in that segment, in
//! Kafka's format: entries of 34 bytes, `i16 version (0) | i64 producer id | i64
//! first offset | i64 last offset (the marker's) | i64 last stable offset (after it
//! completed)`, appended in offset order. The file exists only for segments that
//! hold an abort marker. Entries of the active segment are written as markers are
//! appended and fsynced when the segment is sealed; after a crash the producer-state
//! replay (which covers at least the active segment) adds any that are missing,
//! and truncation removes those past the new end. A read_committed fetch is given
//! every aborted transaction that overlaps the range it returns.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::batch::{self, BatchHeader, ATTR_CONTROL, ATTR_TRANSACTIONAL, HEADER_LEN};
use crate::error::{IoContext, Result};
use crate::record::{encode_batch, BatchTemplate, DecodedRecord};

pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
const ENTRY_LEN: usize = 34;

/// What a control batch marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
}

/// A transaction aborted in this log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// Offset of the abort marker.
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

/// A transaction that a marker completed (the log's producer state reports it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub aborted: bool,
}

/// A control batch for `producer_id`/`epoch` (offset 0: the log assigns it).
pub fn control_batch(kind: ControlType, producer_id: i64, epoch: i16, coordinator_epoch: i32, now: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(if kind == ControlType::Commit { 1i16 } else { 0i16 }).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let mut t = BatchTemplate::new(0, batch::COMPRESSION_NONE);
    t.attributes = ATTR_TRANSACTIONAL | ATTR_CONTROL;
    t.producer_id = producer_id;
    t.producer_epoch = epoch;
    t.base_sequence = -1;
    let rec = DecodedRecord { offset: 0, timestamp: now, key: Some(key), value: Some(value), headers: vec![] };
    encode_batch(&t, &[rec]).expect("an uncompressed batch always encodes")
}

/// The type of the control batch at the start of `batch` (None when it is not a
/// control batch or its record cannot be read).
pub fn control_type(h: &BatchHeader, batch: &[u8]) -> Option<ControlType> {
    if !h.is_control() || h.compression() != batch::COMPRESSION_NONE {
        return None;
    }
    let body = batch.get(HEADER_LEN..h.total_len().min(batch.len()))?;
    let mut pos = 0;
    let _len = varint(body, &mut pos)?;
    pos += 1; // attributes
    varint(body, &mut pos)?; // timestamp delta
    varint(body, &mut pos)?; // offset delta
    let key_len = varint(body, &mut pos)?;
    if key_len < 4 {
        return None;
    }
    let key = body.get(pos..pos + 4)?;
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(ControlType::Abort),
        1 => Some(ControlType::Commit),
        _ => None,
    }
}

fn varint(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    None
}

/// One segment's aborted-transaction index, in memory and in its file.
pub(crate) struct TxnIndex {
    path: PathBuf,
    entries: Mutex<Vec<AbortedTxn>>,
    /// Appended to since the last sync.
    dirty: Mutex<bool>,
}

impl TxnIndex {
    pub(crate) fn path_for(dir: &Path, base: i64) -> PathBuf {
        crate::segment::segment_path(dir, base, TXN_INDEX_SUFFIX)
    }

    /// Loads the file if there is one; whole entries only (a torn tail is dropped).
    pub(crate) fn open(dir: &Path, base: i64) -> Result<TxnIndex> {
        let path = Self::path_for(dir, base);
        let entries = match std::fs::read(&path) {
            Ok(data) => data.chunks_exact(ENTRY_LEN).filter_map(decode).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(crate::StorageError::io("read txn index", &path, e)),
        };
        Ok(TxnIndex { path, entries: Mutex::new(entries), dirty: Mutex::new(false) })
    }

    pub(crate) fn entries(&self) -> Vec<AbortedTxn> {
        self.entries.lock().clone()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.lock().is_empty()
    }

    /// Appends the entries overlapping `[from, to)` to `out`.
    pub(crate) fn collect_overlapping(&self, from: i64, to: i64, out: &mut Vec<AbortedTxn>) {
        let entries = self.entries.lock();
        out.extend(entries.iter().filter(|t| t.first_offset < to && t.last_offset >= from));
    }

    /// Adds an entry unless one for the same marker is there (replay after a crash).
    pub(crate) fn append(&self, e: AbortedTxn) -> Result<()> {
        let mut entries = self.entries.lock();
        if entries.iter().any(|x| x.last_offset == e.last_offset) {
            return Ok(());
        }
        let mut f = OpenOptions::new().create(true).append(true).open(&self.path).ctx("open txn index", &self.path)?;
        f.write_all(&encode(&e)).ctx("append txn index", &self.path)?;
        entries.push(e);
        *self.dirty.lock() = true;
        Ok(())
    }

    /// Keeps the entries whose marker is below `offset`, rewriting the file.
    pub(crate) fn truncate_to(&self, offset: i64) -> Result<()> {
        let mut entries = self.entries.lock();
        if entries.iter().all(|e| e.last_offset < offset) {
            return Ok(());
        }
        entries.retain(|e| e.last_offset < offset);
        self.rewrite(&entries)
    }

    /// Replaces the entries (a compacted segment takes those of the ones it
    /// replaces).
    pub(crate) fn replace(&self, new: Vec<AbortedTxn>) -> Result<()> {
        let mut entries = self.entries.lock();
        *entries = new;
        self.rewrite(&entries)
    }

    fn rewrite(&self, entries: &[AbortedTxn]) -> Result<()> {
        if entries.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(crate::StorageError::io("remove txn index", &self.path, e))
                }
                _ => Ok(()),
            };
        }
        let tmp = self.path.with_extension("txnindex.tmp");
        let data: Vec<u8> = entries.iter().flat_map(encode).collect();
        let mut f = File::create(&tmp).ctx("create txn index", &tmp)?;
        f.write_all(&data).ctx("write txn index", &tmp)?;
        f.sync_data().ctx("sync txn index", &tmp)?;
        std::fs::rename(&tmp, &self.path).ctx("rename txn index", &self.path)?;
        *self.dirty.lock() = false;
        Ok(())
    }

    /// fdatasyncs the file if entries were appended since the last sync.
    pub(crate) fn sync(&self) -> Result<()> {
        let mut dirty = self.dirty.lock();
        if *dirty {
            if let Ok(f) = File::open(&self.path) {
                f.sync_data().ctx("sync txn index", &self.path)?;
            }
            *dirty = false;
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

fn encode(e: &AbortedTxn) -> [u8; ENTRY_LEN] {
    let mut b = [0u8; ENTRY_LEN];
    b[2..10].copy_from_slice(&e.producer_id.to_be_bytes());
    b[10..18].copy_from_slice(&e.first_offset.to_be_bytes());
    b[18..26].copy_from_slice(&e.last_offset.to_be_bytes());
    b[26..34].copy_from_slice(&e.last_stable_offset.to_be_bytes());
    b
}

fn decode(b: &[u8]) -> Option<AbortedTxn> {
    if i16::from_be_bytes([b[0], b[1]]) != 0 {
        return None;
    }
    let at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().unwrap());
    Some(AbortedTxn { producer_id: at(2), first_offset: at(10), last_offset: at(18), last_stable_offset: at(26) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_batches_are_kafkas_and_read_back() {
        for kind in [ControlType::Commit, ControlType::Abort] {
            let b = control_batch(kind, 42, 3, 7, 1_000);
            let h = batch::validate_batch(&b, 0).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.record_count), (42, 3, -1, 1));
            assert_eq!(control_type(&h, &b), Some(kind));
            let r = &crate::record::decode_records(&b).unwrap()[0];
            let value = r.value.as_ref().unwrap();
            assert_eq!(i32::from_be_bytes(value[2..6].try_into().unwrap()), 7, "coordinator epoch");
        }
        let plain = crate::testutil::simple_batch(1, 10, 0);
        assert_eq!(control_type(&BatchHeader::parse(&plain).unwrap(), &plain), None);
    }

    #[test]
    fn the_index_survives_reopen_truncation_and_a_torn_tail() {
        let d = tempfile::tempdir().unwrap();
        let ix = TxnIndex::open(d.path(), 100).unwrap();
        assert!(ix.is_empty() && !ix.path().exists(), "no file until an abort");
        let e =
            |last| AbortedTxn { producer_id: 1, first_offset: 100, last_offset: last, last_stable_offset: last + 1 };
        ix.append(e(110)).unwrap();
        ix.append(e(120)).unwrap();
        ix.append(e(120)).unwrap(); // replayed: not twice
        ix.sync().unwrap();
        assert_eq!(TxnIndex::open(d.path(), 100).unwrap().entries(), vec![e(110), e(120)]);
        // A torn last entry is ignored.
        let mut f = OpenOptions::new().append(true).open(ix.path()).unwrap();
        f.write_all(&[0, 0, 1]).unwrap();
        assert_eq!(TxnIndex::open(d.path(), 100).unwrap().entries().len(), 2);
        ix.truncate_to(115).unwrap();
        assert_eq!(TxnIndex::open(d.path(), 100).unwrap().entries(), vec![e(110)]);
        ix.truncate_to(0).unwrap();
        assert!(!ix.path().exists());
    }
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod log_tests;
