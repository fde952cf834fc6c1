//! Log compaction (`cleanup.policy=compact` / `compact,delete`).
//!
//! A pass over one log:
//! 1. The cleanable range is every closed segment up to the first one that is
//!    younger than `min.compaction.lag.ms` (the active segment is never touched).
//!    The `cleaner-offset-checkpoint` file holds the first dirty offset; the pass
//!    runs only when dirty bytes / (clean + dirty bytes) >= `min.cleanable.dirty.ratio`.
//! 2. An offset map `key -> latest offset` is built from the dirty segments.
//! 3. All segments from the log start to the end of the dirty range are rewritten in
//!    groups (at most `segment.bytes` each) keeping, per key, only the latest record;
//!    records without a key and control batches are kept. Tombstones (null values)
//!    follow KIP-534: the first pass that keeps a batch holding a tombstone that is
//!    the latest for its key stamps the batch with a delete horizon (attributes bit
//!    6, the base timestamp becoming now + `delete.retention.ms`; record timestamps
//!    are unchanged, their deltas re-based), and a later pass drops the tombstone
//!    once that horizon has passed. So a tombstone lives at least
//!    `delete.retention.ms` after it was first cleaned, whatever timestamp its
//!    producer gave it, and a consumer that reads the topic from the start within
//!    that time sees every delete. Batches whose records all survive and need no
//!    stamp are copied verbatim; others are decoded and re-encoded with the same
//!    codec (gzip, snappy, lz4, zstd), base offset, last offset delta and producer
//!    fields, so offsets are preserved (gaps appear). A batch that loses every
//!    record but is the newest one its producer is remembered by is kept empty
//!    (header only, as Kafka's RETAIN_EMPTY), so the producer's sequence survives a
//!    rebuild of producer state from the log. Batches of aborted transactions are
//!    dropped (and never shadow a committed value in the offset map); nothing at or
//!    above the first open transaction is cleaned. A commit or abort marker whose
//!    transaction has no record left in the log is stamped the same way and dropped
//!    once its horizon has passed (so a consumer that read the transaction's data
//!    still finds its marker); an abort marker that stays keeps its
//!    aborted-transaction entry, one that goes takes it along. The pass walks from
//!    the log start, so every record of a transaction is seen before its marker.
//!    When the earliest horizon a pass stamped or kept has passed, the next
//!    background pass runs even with nothing dirty (in memory only, as Kafka's
//!    latest delete horizon: after a restart the next dirty pass finds them).
//! 4. Swap: the group is written to `cleaner.tmp/` and fsynced; then, under the log's
//!    write lock and only if the group's segments are unchanged, the new `.log` is
//!    renamed to `<base>.log.swap` in the partition dir and the directory fsynced
//!    (commit point), the old segments' files are deleted, the indexes and then the
//!    log are renamed into place and the segment list is updated. After a crash,
//!    `cleaner.tmp/` is discarded and a `.log.swap` replaces the segments its offset
//!    range covers (see recovery), so nothing is lost either way.

use std::collections::HashMap;
use std::io::IoSlice;
use std::path::Path;
use std::sync::Arc;

use crate::batch::{self, BatchHeader};
use crate::error::{IoContext, Result, StorageError};
use crate::log::Log;
use crate::record::{decode_records, encode_batch, BatchTemplate};
use crate::recovery::{fsync_dir, read_offset_file, remove_segment_files, write_offset_file};
use crate::segment::{segment_path, BatchInfo, Segment};

/// Temporary directory (inside the partition dir) for cleaner output.
pub(crate) const CLEANER_TMP_DIR: &str = "cleaner.tmp";
const CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// Bound on the offset map (sum of key lengths); larger dirty ranges are cleaned in
/// several passes.
const MAX_MAP_KEY_BYTES: usize = 256 << 20;

const FAIL_BEFORE_COMMIT: u8 = 1;
const FAIL_AFTER_COMMIT: u8 = 2;

#[cfg(test)]
thread_local! {
    /// Test failpoint: make the next swap on this thread fail at a given step.
    pub(crate) static FAIL_AT: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

fn failpoint(_at: u8) -> Result<()> {
    #[cfg(test)]
    if FAIL_AT.with(|f| f.get()) == _at {
        return Err(StorageError::Closed);
    }
    Ok(())
}

/// Statistics of one cleaning pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_in: usize,
    pub segments_out: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub records_dropped: u64,
    pub markers_dropped: u64,
}

/// What a log's cleaner keeps between passes (behind the log's cleaner lock).
#[derive(Debug)]
pub(crate) struct CleanerState {
    /// The earliest delete horizon of a batch the last pass kept with something
    /// to drop once it passes (i64::MAX: none).
    due: i64,
}

impl Default for CleanerState {
    fn default() -> Self {
        CleanerState { due: i64::MAX }
    }
}

/// What a pass knows while it walks the log in offset order.
#[derive(Default)]
struct Walk {
    /// Producers whose current transaction still has a record in the cleaned log.
    retained: HashMap<i64, bool>,
    /// Offsets of the abort markers this pass dropped.
    dropped_aborts: std::collections::HashSet<i64>,
    /// Producer id -> last offset of the newest batch its state remembers.
    last_batches: HashMap<i64, i64>,
    /// The horizon this pass stamps on batches it keeps with tombstones.
    new_horizon: i64,
    /// The earliest horizon of a kept batch with tombstones or a removable marker.
    due: Option<i64>,
}

impl Walk {
    /// Whether `h` is the newest batch its producer's state remembers.
    fn is_last_batch(&self, h: &BatchHeader) -> bool {
        h.producer_id >= 0 && self.last_batches.get(&h.producer_id) == Some(&h.last_offset())
    }

    fn note_horizon(&mut self, horizon: i64) {
        self.due = Some(self.due.map_or(horizon, |d| d.min(horizon)));
    }

    /// The horizon to stamp on a batch this pass keeps, noted as due.
    fn stamp(&mut self) -> i64 {
        self.note_horizon(self.new_horizon);
        self.new_horizon
    }
}

/// Compacts `log` if its policy and dirty ratio call for it.
pub(crate) fn maybe_clean(log: &Log) -> Result<bool> {
    Ok(clean(log, false)?.is_some())
}

/// Runs a cleaning pass (`force` ignores the dirty ratio). Returns None if there was
/// nothing to do.
pub(crate) fn clean(log: &Log, force: bool) -> Result<Option<CleanStats>> {
    let cfg = log.config();
    if !cfg.cleanup_policy.compact || log.is_closed() {
        return Ok(None);
    }
    let mut state = log.cleaner_lock.lock();
    let now = log.clock.now_ms();
    // Tombstones or markers whose horizon has passed are worth a pass by themselves.
    let horizon_due = state.due <= now;
    let segs = log.segment_list();
    let closed = &segs[..segs.len() - 1];
    // Cleanable: closed segments older than the compaction lag, as a prefix.
    let lag_ok =
        |s: &Segment| cfg.min_compaction_lag_ms <= 0 || s.largest_timestamp() <= now - cfg.min_compaction_lag_ms;
    let stable = log.first_unstable_offset().unwrap_or(i64::MAX);
    let cleanable = closed.iter().take_while(|s| lag_ok(s) && s.next_offset() <= stable).count();
    let cleanable = &closed[..cleanable];
    if cleanable.is_empty() {
        return Ok(None);
    }
    let first_dirty = read_offset_file(&log.dir().join(CHECKPOINT))?.unwrap_or(i64::MIN);
    let clean_bytes: u64 = cleanable.iter().filter(|s| s.next_offset() <= first_dirty).map(|s| s.size()).sum();
    let dirty: Vec<&Arc<Segment>> = cleanable.iter().filter(|s| s.next_offset() > first_dirty).collect();
    let dirty_bytes: u64 = dirty.iter().map(|s| s.size()).sum();
    if (dirty.is_empty() || dirty_bytes == 0) && !horizon_due {
        return Ok(None);
    }
    let ratio = dirty_bytes as f64 / (clean_bytes + dirty_bytes) as f64;
    if !force && !horizon_due && ratio < cfg.min_cleanable_dirty_ratio {
        return Ok(None);
    }

    let aborted = log.aborted_transactions(i64::MIN, i64::MAX);
    // Offset map over the dirty segments (possibly only a prefix of them).
    let mut map: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut key_bytes = 0usize;
    // With nothing dirty (a pass for passed horizons) the clean part is rewritten.
    let mut end = dirty.first().map_or(first_dirty, |s| s.base_offset);
    for s in &dirty {
        if key_bytes > MAX_MAP_KEY_BYTES {
            break;
        }
        for_each_batch(s, |h, bytes| {
            if h.is_control() || is_aborted(h, &aborted) {
                return Ok(());
            }
            for r in decode_records(bytes)? {
                if let Some(k) = r.key {
                    key_bytes += k.len();
                    map.insert(k, r.offset);
                }
            }
            Ok(())
        })?;
        // First offset after this (closed) segment: the next segment's base.
        end = segs.iter().map(|x| x.base_offset).find(|b| *b > s.base_offset).expect("closed segment has a successor");
    }
    let to_clean: Vec<Arc<Segment>> = cleanable.iter().filter(|s| s.base_offset < end).cloned().collect();

    let tmp = log.dir().join(CLEANER_TMP_DIR);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).ctx("remove cleaner temp dir", &tmp)?;
    }
    std::fs::create_dir_all(&tmp).ctx("create cleaner temp dir", &tmp)?;
    let mut stats = CleanStats::default();
    let mut walk = Walk {
        last_batches: log.producers.lock().last_data_offsets(),
        new_horizon: now.saturating_add(cfg.delete_retention_ms.max(0)),
        ..Walk::default()
    };
    let mut complete = true;
    let mut i = 0;
    while i < to_clean.len() {
        // Group consecutive segments within segment.bytes and a u32 offset span.
        let mut j = i + 1;
        let mut size = to_clean[i].size();
        while j < to_clean.len()
            && size + to_clean[j].size() <= cfg.segment_bytes
            && to_clean[j].next_offset() - to_clean[i].base_offset < i32::MAX as i64
        {
            size += to_clean[j].size();
            j += 1;
        }
        let group = &to_clean[i..j];
        let out = write_cleaned(log, &tmp, group, &map, &aborted, now, &mut walk, &mut stats)?;
        complete &= swap_in(log, group, out)?;
        stats.segments_in += group.len();
        stats.segments_out += 1;
        i = j;
    }
    std::fs::remove_dir_all(&tmp).ctx("remove cleaner temp dir", &tmp)?;
    let due = walk.due.unwrap_or(i64::MAX);
    state.due = if complete { due } else { state.due.min(due) };
    if complete {
        write_offset_file(log.dir(), CHECKPOINT, end)?;
    }
    tracing::info!(dir = %log.dir().display(), ?stats, "cleaned log");
    Ok(Some(stats))
}

/// Whether `h` holds data of a transaction that was aborted.
fn is_aborted(h: &BatchHeader, aborted: &[crate::txn::AbortedTxn]) -> bool {
    h.is_transactional()
        && !h.is_control()
        && aborted.iter().any(|t| {
            t.producer_id == h.producer_id && h.base_offset >= t.first_offset && h.base_offset <= t.last_offset
        })
}

fn for_each_batch(s: &Segment, mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<()>) -> Result<()> {
    let size = s.size();
    if size == 0 {
        return Ok(());
    }
    let map = s.map(size)?;
    for b in batch::batches(&map[..size as usize]) {
        let (h, bytes) = b?;
        f(&h, bytes)?;
    }
    Ok(())
}

/// Writes the cleaned version of `group` to `tmp/<base>.*` and returns the segment.
#[allow(clippy::too_many_arguments)]
fn write_cleaned(
    log: &Log,
    tmp: &Path,
    group: &[Arc<Segment>],
    map: &HashMap<Vec<u8>, i64>,
    aborted: &[crate::txn::AbortedTxn],
    now: i64,
    walk: &mut Walk,
    stats: &mut CleanStats,
) -> Result<Segment> {
    let cfg = log.config();
    let base = group[0].base_offset;
    let out = Segment::create(tmp, base, (cfg.offset_index_entries(), cfg.time_index_entries()))?;
    for s in group {
        stats.bytes_in += s.size();
        for_each_batch(s, |h, bytes| {
            let kept_bytes;
            let passed = h.delete_horizon().is_some_and(|at| at <= now);
            let write: &[u8] = if h.is_control() {
                let had_records = walk.retained.remove(&h.producer_id).unwrap_or(false);
                let kind = crate::txn::control_type(h, bytes);
                if kind.is_none() || had_records {
                    bytes
                } else if passed {
                    if kind == Some(crate::txn::ControlType::Abort) {
                        walk.dropped_aborts.insert(h.base_offset);
                    }
                    stats.markers_dropped += 1;
                    return Ok(());
                } else if let Some(at) = h.delete_horizon() {
                    walk.note_horizon(at);
                    bytes
                } else {
                    let horizon = walk.stamp();
                    kept_bytes = reencode(h, &decode_records(bytes)?, Some(horizon))?;
                    &kept_bytes
                }
            } else if is_aborted(h, aborted) {
                stats.records_dropped += h.record_count.max(0) as u64;
                if !walk.is_last_batch(h) {
                    return Ok(());
                }
                // Kept empty: its abort marker (and index entry) stay with it.
                walk.retained.insert(h.producer_id, true);
                kept_bytes = empty_batch(h, bytes)?;
                &kept_bytes
            } else {
                let recs = decode_records(bytes)?;
                let n = recs.len();
                let kept: Vec<_> = recs
                    .into_iter()
                    .filter(|r| match &r.key {
                        None => true,
                        Some(k) => match map.get(k) {
                            Some(&latest) if latest > r.offset => false,
                            _ => !(r.value.is_none() && passed),
                        },
                    })
                    .collect();
                stats.records_dropped += (n - kept.len()) as u64;
                if kept.is_empty() && !walk.is_last_batch(h) {
                    return Ok(());
                }
                if h.is_transactional() {
                    // Even emptied, it is part of the transaction its marker closes.
                    walk.retained.insert(h.producer_id, true);
                }
                if kept.is_empty() {
                    kept_bytes = empty_batch(h, bytes)?;
                    &kept_bytes
                } else {
                    let tombstones = kept.iter().any(|r| r.key.is_some() && r.value.is_none());
                    let stamp = match h.delete_horizon() {
                        Some(at) if tombstones => {
                            walk.note_horizon(at);
                            None
                        }
                        None if tombstones => Some(walk.stamp()),
                        _ => None,
                    };
                    if kept.len() == n && stamp.is_none() {
                        bytes
                    } else {
                        kept_bytes = reencode(h, &kept, stamp)?;
                        &kept_bytes
                    }
                }
            };
            append_batch(&out, write, cfg.index_interval_bytes, now)
        })?;
    }
    let entries: Vec<crate::txn::AbortedTxn> =
        group.iter().flat_map(|s| s.txn.entries()).filter(|e| !walk.dropped_aborts.contains(&e.last_offset)).collect();
    if !entries.is_empty() {
        // Their data is gone from this range; the entries keep the index whole.
        out.txn.replace(entries)?;
    }
    out.seal()?;
    out.sync()?;
    out.sync_indexes()?;
    stats.bytes_out += out.size();
    Ok(out)
}

/// `records` (what is kept of batch `h`) re-encoded in `h`'s codec and fields;
/// with `horizon`, stamped with it in place of the base timestamp.
fn reencode(h: &BatchHeader, records: &[crate::record::DecodedRecord], horizon: Option<i64>) -> Result<Vec<u8>> {
    let mut t = BatchTemplate::from_header(h);
    if let Some(at) = horizon {
        t.attributes |= batch::ATTR_DELETE_HORIZON;
        t.base_timestamp = Some(at);
    }
    if !h.is_log_append_time() {
        t.max_timestamp = None;
    }
    encode_batch(&t, records)
}

/// Batch `h` (`bytes`) without its records: header fields (offsets, producer id,
/// epoch and sequences) only, uncompressed.
fn empty_batch(h: &BatchHeader, bytes: &[u8]) -> Result<Vec<u8>> {
    if h.record_count == 0 {
        return Ok(bytes.to_vec());
    }
    let mut t = BatchTemplate::from_header(h);
    t.attributes &= !0x7;
    encode_batch(&t, &[])
}

fn append_batch(out: &Segment, write: &[u8], index_interval_bytes: u64, now: i64) -> Result<()> {
    let nh = BatchHeader::parse(write)?;
    let info = BatchInfo {
        base_offset: nh.base_offset,
        last_offset: nh.last_offset(),
        max_ts: nh.max_timestamp,
        len: write.len(),
    };
    out.append(&[IoSlice::new(write)], &[info], index_interval_bytes, now)
}

/// Atomically replaces `group` by the cleaned segment (see the module doc).
/// Returns false if the log changed meanwhile and the output was discarded.
fn swap_in(log: &Log, group: &[Arc<Segment>], cleaned: Segment) -> Result<bool> {
    let dir = log.dir().to_path_buf();
    let tmp = dir.join(CLEANER_TMP_DIR);
    let base = cleaned.base_offset;
    drop(cleaned);
    failpoint(FAIL_BEFORE_COMMIT)?;
    let _w = log.write_lock.lock();
    log.check_open()?;
    {
        let map = log.segments.read();
        let unchanged = group.iter().all(|s| map.get(&s.base_offset).is_some_and(|m| Arc::ptr_eq(m, s)))
            && map.keys().next_back().is_some_and(|last| *last > group[group.len() - 1].base_offset);
        if !unchanged {
            tracing::info!(dir = %dir.display(), base, "log changed during cleaning; discarding");
            return Ok(false);
        }
    }
    let swap = segment_path(&dir, base, ".log.swap");
    std::fs::rename(segment_path(&tmp, base, ".log"), &swap).ctx("rename cleaned segment", &swap)?;
    fsync_dir(&dir)?; // commit point
    failpoint(FAIL_AFTER_COMMIT)?;
    for s in group {
        remove_segment_files(&dir, s.base_offset)?;
    }
    for sfx in [".index", ".timeindex"] {
        let to = segment_path(&dir, base, sfx);
        std::fs::rename(segment_path(&tmp, base, sfx), &to).ctx("rename cleaned index", &to)?;
    }
    let txn = segment_path(&tmp, base, crate::txn::TXN_INDEX_SUFFIX);
    if txn.exists() {
        let to = segment_path(&dir, base, crate::txn::TXN_INDEX_SUFFIX);
        std::fs::rename(&txn, &to).ctx("rename cleaned txn index", &to)?;
    }
    let dst = segment_path(&dir, base, ".log");
    std::fs::rename(&swap, &dst).ctx("rename swapped segment", &dst)?;
    fsync_dir(&dir)?;
    let cfg = log.config();
    let seg = Segment::open_files(&dir, base, (cfg.offset_index_entries(), cfg.time_index_entries()), false)?;
    let scan = seg.load(cfg.index_interval_bytes, false, false)?;
    if let Some((p, reason)) = scan.error {
        return Err(StorageError::corrupt(p as usize, reason));
    }
    let mut map = log.segments.write();
    for s in group {
        map.remove(&s.base_offset);
    }
    map.insert(base, Arc::new(seg));
    Ok(true)
}

#[cfg(test)]
#[path = "cleaner_tests.rs"]
mod tests;
