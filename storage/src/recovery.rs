//! Opening a partition directory: cleaning up leftovers, completing interrupted
//! compaction swaps, loading segments and (after an unclean shutdown) CRC-checking
//! and truncating the tail. Also log truncation and small checkpoint files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use crate::batch::BatchHeader;
use crate::batch::{self, OFFSETS_PREFIX_LEN};
use crate::config::LogConfig;
use crate::error::{IoContext, Result, StorageError};
use crate::log::Log;
use crate::segment::{segment_path, BatchInfo, Cut, Scan, SegMeta, Segment};
use std::sync::atomic::Ordering;

impl Segment {
    /// Scans batches in `[from, file end)`, re-indexing them (the indexes must already
    /// be truncated to `from`) and updating size/next offset/max timestamp. With
    /// `validate` each batch's CRC is checked and the scan stops at the first bad one.
    pub fn scan_from(&self, from: u64, validate: bool, index_interval: u64) -> Result<Scan> {
        let file_len = self.file.metadata().ctx("stat segment", &self.log_path)?.len();
        let map = if file_len > 0 { Some(self.map(file_len)?) } else { None };
        let data: &[u8] = map.as_ref().map_or(&[], |m| &m[..file_len as usize]);
        let mut pos = from as usize;
        let mut error = None;
        let mut ix = self.ix.write();
        let mut meta = self.meta.lock();
        let mut next = self.next_offset();
        while pos < data.len() {
            let rest = &data[pos..];
            let h = if validate {
                batch::validate_batch(rest, pos)
            } else {
                BatchHeader::parse(rest).and_then(|h| {
                    if h.total_len() > rest.len() {
                        Err(StorageError::corrupt(pos, "truncated batch"))
                    } else {
                        Ok(h)
                    }
                })
            };
            let h = match h {
                Ok(h)
                    if h.base_offset < next
                        || h.last_offset_delta < 0
                        || h.base_offset
                            .checked_add(h.last_offset_delta as i64)
                            .is_none_or(|last| last - self.base_offset > u32::MAX as i64) =>
                {
                    error = Some((pos as u64, format!("offset {} not after {next}", h.base_offset)));
                    break;
                }
                Ok(h) => h,
                Err(e) => {
                    error = Some((pos as u64, e.to_string()));
                    break;
                }
            };
            let info = BatchInfo {
                base_offset: h.base_offset,
                last_offset: h.last_offset(),
                max_ts: h.max_timestamp,
                len: h.total_len(),
            };
            self.index_batch(&mut ix, &mut meta, &info, pos as u64, index_interval)?;
            next = h.next_offset();
            pos += h.total_len();
        }
        drop(meta);
        drop(ix);
        self.size.store(pos as u64, Ordering::Release);
        self.next_offset.store(next, Ordering::Release);
        Ok(Scan { valid_end: pos as u64, error })
    }

    /// Loads bookkeeping for an opened segment: trusts the indexes if they look
    /// consistent (rebuilding them otherwise, or when `rebuild`) and scans the tail
    /// after the last index entry (checking CRCs when `validate`). Problems in the
    /// tail are reported in the returned [`Scan`]; nothing is truncated here.
    pub fn load(&self, index_interval: u64, rebuild: bool, validate: bool) -> Result<Scan> {
        let size = self.size();
        let mut rebuild = rebuild;
        {
            let ix = self.ix.read();
            let rel_end = (size as i64).saturating_add(u32::MAX as i64); // offsets unknown yet
            if ix.offset.untrimmed()
                || ix.time.untrimmed()
                || (ix.time.len() == 0 && ix.offset.len() > 0)
                || !ix.offset.is_consistent(size, rel_end)
                || !ix.time.is_consistent(rel_end)
            {
                rebuild = true;
            }
        }
        if !rebuild && !self.index_points_at_batches(size)? {
            rebuild = true;
        }
        let from = if rebuild {
            self.reset_indexes()?;
            0
        } else {
            let ix = self.ix.read();
            let mut meta = self.meta.lock();
            // The time index's last entry covers every batch up to the last offset-index
            // point (and beyond for sealed segments); the tail scan adds the rest.
            if let Some((t, r)) = ix.time.last() {
                meta.max_ts = t;
                meta.max_ts_offset = self.base_offset + r as i64;
            }
            match ix.offset.last() {
                Some((r, p)) => {
                    self.next_offset.store(self.base_offset + r as i64, Ordering::Release);
                    p as u64
                }
                None => 0,
            }
        };
        let scan = self.scan_from(from, validate, index_interval)?;
        if scan.error.is_some() && from > 0 {
            // The index pointed somewhere odd: rebuild from scratch.
            self.reset_indexes()?;
            return self.scan_from(0, validate, index_interval);
        }
        Ok(scan)
    }

    /// Spot-checks the offset index against the log: its first, middle and last
    /// entries must each point at a batch whose base offset is the one recorded.
    /// Ordering and bounds checks cannot see an index of another log, or one whose
    /// entries were shifted.
    fn index_points_at_batches(&self, size: u64) -> Result<bool> {
        let ix = self.ix.read();
        let n = ix.offset.len();
        if n == 0 || size == 0 {
            return Ok(true);
        }
        let map = self.map(size)?;
        let data: &[u8] = &map[..size as usize];
        for i in [0, n / 2, n - 1] {
            let (rel, pos) = ix.offset.entry(i);
            let ok =
                BatchHeader::parse(&data[pos as usize..]).is_ok_and(|h| h.base_offset == self.base_offset + rel as i64);
            if !ok {
                tracing::warn!(segment = %self.log_path.display(), entry = i, "offset index disagrees with the log; rebuilding it");
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Cuts the file to `len` bytes (recovery) and fsyncs it.
    pub fn truncate_file(&self, len: u64) -> Result<()> {
        self.map.lock().current = None;
        self.file.set_len(len).ctx("truncate segment", &self.log_path)?;
        self.file.sync_all().ctx("fsync segment", &self.log_path)?;
        self.size.store(len, Ordering::Release);
        Ok(())
    }

    pub fn reset_indexes(&self) -> Result<()> {
        let mut ix = self.ix.write();
        ix.offset.truncate_to(0);
        ix.time.truncate_to(0);
        *self.meta.lock() = SegMeta { bytes_since_index: 0, max_ts: -1, max_ts_offset: -1, rolling_ts: None };
        self.next_offset.store(self.base_offset, Ordering::Release);
        Ok(())
    }

    /// Full validating scan used by recovery: re-indexes everything and truncates the
    /// file at the first torn/corrupt batch. Returns the number of bytes cut.
    pub fn recover(&self, index_interval: u64) -> Result<u64> {
        let file_len = self.file.metadata().ctx("stat segment", &self.log_path)?.len();
        let scan = self.load(index_interval, true, true)?;
        if scan.valid_end < file_len {
            if let Some((pos, reason)) = &scan.error {
                tracing::warn!(path = %self.log_path.display(), pos, reason = %reason, "truncating corrupt log tail");
            }
            self.truncate_file(scan.valid_end)?;
        }
        Ok(file_len - scan.valid_end)
    }
}

/// fsyncs a directory so renames/creations/unlinks in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).ctx("fsync dir", dir)
}

/// Reads a decimal offset checkpoint; None if absent.
pub(crate) fn read_offset_file(path: &Path) -> Result<Option<i64>> {
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| StorageError::corrupt(0, format!("bad checkpoint file {}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io("read checkpoint", path, e)),
    }
}

/// Atomically replaces `dir/name` with `offset` (temp file, fsync, rename, fsync dir).
pub(crate) fn write_offset_file(dir: &Path, name: &str, offset: i64) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let mut f = File::create(&tmp).ctx("create checkpoint", &tmp)?;
    f.write_all(format!("{offset}\n").as_bytes()).ctx("write checkpoint", &tmp)?;
    f.sync_all().ctx("fsync checkpoint", &tmp)?;
    std::fs::rename(&tmp, &dst).ctx("rename checkpoint", &dst)?;
    fsync_dir(dir)
}

fn parse_base(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
        stem.parse().ok()
    } else {
        None
    }
}

fn remove_if_exists(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("remove", p, e)),
    }
}

pub(crate) fn remove_segment_files(dir: &Path, base: i64) -> Result<()> {
    for s in [".log", ".index", ".timeindex", crate::txn::TXN_INDEX_SUFFIX] {
        remove_if_exists(&segment_path(dir, base, s))?;
    }
    Ok(())
}

/// Offset after the last complete batch of a file (headers only), or None if empty.
fn file_end_offset(path: &Path) -> Result<Option<i64>> {
    let f = OpenOptions::new().read(true).open(path).ctx("open swap", path)?;
    let len = f.metadata().ctx("stat swap", path)?.len();
    let mut pos = 0u64;
    let mut end = None;
    let mut buf = [0u8; OFFSETS_PREFIX_LEN];
    while pos + OFFSETS_PREFIX_LEN as u64 <= len {
        f.read_exact_at(&mut buf, pos).ctx("read swap", path)?;
        let (_, blen, last) = batch::peek_offsets(&buf);
        if blen < batch::HEADER_LEN || pos + blen as u64 > len {
            break;
        }
        end = Some(last + 1);
        pos += blen as u64;
    }
    Ok(end)
}

/// Finishes a compaction swap interrupted by a crash: the `.log.swap` file is
/// complete (it was fsynced before being renamed to `.swap`), so it replaces every
/// old segment whose base offset lies in its offset range.
fn complete_swap(dir: &Path, base: i64, logs: &mut BTreeSet<i64>) -> Result<()> {
    let swap = segment_path(dir, base, ".log.swap");
    let end = file_end_offset(&swap)?.unwrap_or(base + 1).max(base + 1);
    let replaced: Vec<i64> = logs.range(base..end).copied().collect();
    for b in replaced {
        remove_segment_files(dir, b)?;
        logs.remove(&b);
    }
    remove_segment_files(dir, base)?;
    let dst = segment_path(dir, base, ".log");
    std::fs::rename(&swap, &dst).ctx("rename swap", &dst)?;
    logs.insert(base);
    tracing::info!(dir = %dir.display(), base, "completed interrupted compaction swap");
    fsync_dir(dir)
}

/// Loads every segment of `dir` (creating the directory and a first segment at
/// `start_hint` if there is none).
pub(crate) fn load_segments(
    dir: &Path,
    cfg: &LogConfig,
    recover: bool,
    start_hint: i64,
    pool: Option<&crate::recycle::SegmentPool>,
) -> Result<BTreeMap<i64, Arc<Segment>>> {
    std::fs::create_dir_all(dir).ctx("create log dir", dir)?;
    let mut logs = BTreeSet::new();
    let mut indexes = BTreeSet::new();
    let mut swaps = Vec::new();
    for entry in std::fs::read_dir(dir).ctx("list log dir", dir)? {
        let entry = entry.ctx("list log dir", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name == crate::cleaner::CLEANER_TMP_DIR {
            std::fs::remove_dir_all(&path).ctx("remove cleaner temp dir", &path)?;
        } else if [".cleaned", ".deleted", ".truncating", ".tmp"].iter().any(|s| name.ends_with(s)) {
            remove_if_exists(&path)?;
        } else if let Some(b) = parse_base(&name, ".log.swap") {
            swaps.push(b);
        } else if name.ends_with(".swap") {
            remove_if_exists(&path)?; // index swaps: indexes are rebuilt
        } else if let Some(b) = parse_base(&name, ".log") {
            logs.insert(b);
        } else if let Some(b) = parse_base(&name, ".index").or_else(|| parse_base(&name, ".timeindex")) {
            indexes.insert(b);
        }
    }
    for b in swaps {
        complete_swap(dir, b, &mut logs)?;
    }
    for b in indexes.difference(&logs) {
        remove_segment_files(dir, *b)?;
    }
    let entries = (cfg.offset_index_entries(), cfg.time_index_entries());
    let interval = cfg.index_interval_bytes;
    let bases: Vec<i64> = logs.into_iter().collect();
    let mut segs = BTreeMap::new();
    for (i, &base) in bases.iter().enumerate() {
        let last = i + 1 == bases.len();
        let missing = !segment_path(dir, base, ".index").exists() || !segment_path(dir, base, ".timeindex").exists();
        let seg = Segment::open_files(dir, base, entries, last)?;
        if recover && last {
            let cut = seg.recover(interval)?;
            if cut > 0 {
                tracing::warn!(dir = %dir.display(), base, bytes = cut, "recovery truncated active segment");
            }
            segs.insert(base, Arc::new(seg));
            break;
        }
        let scan = seg.load(interval, missing, recover)?;
        if let Some((pos, reason)) = scan.error {
            if !recover {
                return Err(StorageError::corrupt(pos as usize, format!("{}: {reason}", seg.log_path().display())));
            }
            // Corruption in a closed segment: it becomes the last one, cut at the
            // last good batch, and everything after it is dropped.
            tracing::warn!(dir = %dir.display(), base, pos, reason = %reason, "recovery truncating closed segment and later segments");
            seg.truncate_file(scan.valid_end)?;
            drop(seg);
            for &b in &bases[i + 1..] {
                remove_segment_files(dir, b)?;
            }
            let seg = Segment::open_files(dir, base, entries, true)?;
            seg.recover(interval)?;
            segs.insert(base, Arc::new(seg));
            fsync_dir(dir)?;
            break;
        }
        segs.insert(base, Arc::new(seg));
    }
    if segs.is_empty() {
        segs.insert(start_hint, Arc::new(Segment::create_in(dir, start_hint, entries, pool)?));
        fsync_dir(dir)?;
    }
    Ok(segs)
}

/// `Log::truncate_to` with the write lock held.
pub(crate) fn truncate_log_locked(log: &Log, offset: i64) -> Result<()> {
    let end = log.log_end_offset();
    if offset >= end {
        return Ok(());
    }
    let cfg = log.config();
    let dir = log.dir().to_path_buf();
    let entries = (cfg.offset_index_entries(), cfg.time_index_entries());
    let start = log.log_start_offset();
    let all: Vec<Arc<Segment>> = log.segments.read().values().cloned().collect();
    let (keep, doomed): (Vec<_>, Vec<_>) =
        if offset < start { (Vec::new(), all) } else { all.into_iter().partition(|s| s.base_offset < offset) };
    {
        let mut map = log.segments.write();
        for s in &doomed {
            map.remove(&s.base_offset);
        }
    }
    for s in &doomed {
        s.delete_files()?;
    }
    let Some(last) = keep.last() else {
        let seg = Segment::create_in(&dir, offset, entries, log.pool.as_deref())?;
        log.segments.write().insert(offset, Arc::new(seg));
        return log.set_offsets_after_truncate(offset, offset);
    };
    match last.truncate_to(offset, cfg.index_interval_bytes)? {
        Cut::Nothing | Cut::InPlace => {}
        Cut::Copied(tmp) => {
            std::fs::rename(&tmp, last.log_path()).ctx("rename truncated segment", last.log_path())?;
            // The old segment (still used by in-flight readers) keeps its index
            // mappings: give the new one fresh index inodes, so trimming them later
            // (roll/close) cannot shrink a file a stale reader still maps (SIGBUS).
            for sfx in [".index", ".timeindex"] {
                remove_if_exists(&segment_path(&dir, last.base_offset, sfx))?;
            }
            let seg = Segment::open_files(&dir, last.base_offset, entries, true)?;
            let scan = seg.load(cfg.index_interval_bytes, true, false)?;
            if let Some((p, reason)) = scan.error {
                return Err(StorageError::corrupt(p as usize, reason));
            }
            log.segments.write().insert(last.base_offset, Arc::new(seg));
        }
    }
    let active = log.active();
    active.make_active();
    let new_end = active.next_offset().max(active.base_offset);
    for s in log.segment_list() {
        s.txn.truncate_to(new_end)?;
    }
    log.set_offsets_after_truncate(start.min(new_end), new_end)
}
