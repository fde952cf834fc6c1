//! One log segment: `<base>.log` + `<base>.index` + `<base>.timeindex`.
//!
//! Appends are serialised by the owning [`crate::Log`]; readers are lock-free on the
//! data path: they read the committed size (an atomic published after the write and
//! the index update) and slice a shared read-only mapping of the `.log` file.

use std::fs::{File, OpenOptions};
use std::io::IoSlice;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use memmap2::{Mmap, MmapOptions};
use parking_lot::{Mutex, RwLock};

use crate::batch;
use crate::error::{IoContext, Result, StorageError};
use crate::index::{OffsetIndex, TimeIndex};
use crate::recycle::SegmentPool;

/// `<dir>/<20-digit base offset><suffix>`.
pub(crate) fn segment_path(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}{suffix}"))
}

/// Bytes of address space the first mapping of an active segment reserves: the
/// default `segment.bytes`.
const ACTIVE_MAP_RESERVE: u64 = 1 << 30;

pub(crate) struct Indexes {
    pub offset: OffsetIndex,
    pub time: TimeIndex,
}

/// Mutable bookkeeping only the appender touches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegMeta {
    pub bytes_since_index: u64,
    /// Largest batch max timestamp (-1 when empty).
    pub max_ts: i64,
    /// Last offset of the batch carrying `max_ts` (-1 when empty).
    pub max_ts_offset: i64,
    /// Broker time of the first append to this segment (or of opening the log, for a
    /// non-empty active segment): the `segment.ms` reference point. Wall-clock based
    /// so that old client timestamps do not make every append roll.
    pub rolling_ts: Option<i64>,
}

/// Offsets and size of one batch to append.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_ts: i64,
    pub len: usize,
}

/// A slice of a shared mapping, the owner behind zero-copy `Bytes`.
struct MapSlice {
    map: Arc<Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

#[derive(Default)]
pub(crate) struct MapState {
    pub(crate) current: Option<Arc<Mmap>>,
    handed_out: Vec<Weak<Mmap>>,
}

pub(crate) struct Segment {
    pub base_offset: i64,
    pub dir: PathBuf,
    pub(crate) file: File,
    pub(crate) log_path: PathBuf,
    pub(crate) size: AtomicU64,
    pub(crate) next_offset: AtomicI64,
    pub(crate) ix: RwLock<Indexes>,
    pub(crate) meta: Mutex<SegMeta>,
    pub(crate) map: Mutex<MapState>,
    active: AtomicBool,
    /// Readers hold it shared while touching the mapping; truncation exclusively.
    pub(crate) guard: RwLock<()>,
    /// Position up to which writeback has been started (page-cache mode).
    writeback_from: AtomicU64,
    /// The file came from the segment pool: past `size` it holds old bytes, and it is
    /// trimmed when sealed.
    recycled: AtomicBool,
    /// Trimmed since the last fdatasync (the new length is not durable yet).
    trim_unsynced: AtomicBool,
    /// Transactions aborted by markers in this segment.
    pub(crate) txn: crate::txn::TxnIndex,
}

/// Outcome of [`Segment::truncate_to`].
pub(crate) enum Cut {
    /// Nothing at or after the offset.
    Nothing,
    /// The file was truncated in place.
    InPlace,
    /// Readers still hold mappings: the kept prefix was copied to this file, which
    /// the caller renames over the segment and reopens.
    Copied(PathBuf),
}

/// Result of scanning a range of the `.log` file batch by batch.
pub(crate) struct Scan {
    /// End of the last good batch.
    pub valid_end: u64,
    /// First problem found (position, reason), if any.
    pub error: Option<(u64, String)>,
}

impl Segment {
    /// Creates a new, empty active segment (replacing stale files of that name).
    pub fn create(dir: &Path, base: i64, index_entries: (usize, usize)) -> Result<Segment> {
        Self::create_in(dir, base, index_entries, None)
    }

    /// [`Segment::create`], writing into a file from `pool` when it has one.
    pub(crate) fn create_in(
        dir: &Path,
        base: i64,
        index_entries: (usize, usize),
        pool: Option<&SegmentPool>,
    ) -> Result<Segment> {
        for s in [".log", ".index", ".timeindex", crate::txn::TXN_INDEX_SUFFIX] {
            let p = segment_path(dir, base, s);
            if p.exists() {
                std::fs::remove_file(&p).ctx("remove stale segment file", &p)?;
            }
        }
        let reused = pool.is_some_and(|p| p.take(&segment_path(dir, base, ".log")));
        let seg = Self::open_files(dir, base, index_entries, true)?;
        if reused {
            seg.size.store(0, Ordering::Release);
            seg.writeback_from.store(0, Ordering::Release);
            seg.recycled.store(true, Ordering::Release);
        }
        Ok(seg)
    }

    /// Opens files without looking at the contents (next offset = base, size = len).
    pub fn open_files(dir: &Path, base: i64, entries: (usize, usize), active: bool) -> Result<Segment> {
        let log_path = segment_path(dir, base, ".log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .ctx("open segment", &log_path)?;
        let size = file.metadata().ctx("stat segment", &log_path)?.len();
        let offset = OffsetIndex::open(&segment_path(dir, base, ".index"), entries.0, active)?;
        let time = TimeIndex::open(&segment_path(dir, base, ".timeindex"), entries.1, active)?;
        let txn = crate::txn::TxnIndex::open(dir, base)?;
        Ok(Segment {
            base_offset: base,
            dir: dir.to_path_buf(),
            file,
            log_path,
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(base),
            ix: RwLock::new(Indexes { offset, time }),
            meta: Mutex::new(SegMeta { bytes_since_index: 0, max_ts: -1, max_ts_offset: -1, rolling_ts: None }),
            map: Mutex::new(MapState::default()),
            active: AtomicBool::new(active),
            guard: RwLock::new(()),
            writeback_from: AtomicU64::new(size),
            recycled: AtomicBool::new(false),
            trim_unsynced: AtomicBool::new(false),
            txn,
        })
    }

    /// Starts (does not wait for) writeback of what was appended since the last
    /// call, once at least `every` bytes are pending. In page-cache mode nothing
    /// else writes the data out until the kernel's dirty limits are reached, and
    /// then it throttles the appending thread for whole seconds; a steady trickle
    /// of writeback keeps dirty pages low instead. Durability is unchanged: no
    /// fsync, nothing is reported flushed.
    pub fn start_writeback(&self, every: u64) {
        // Only whole pages: the partial last page is still being appended to, and a
        // page under writeback can make the next write into it wait for the device
        // (stable pages).
        let end = self.size() & !4095;
        let from = self.writeback_from.load(Ordering::Acquire);
        if end < from.saturating_add(every) {
            return;
        }
        if self.writeback_from.compare_exchange(from, end, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return; // another appender just did it
        }
        self.write_out(from, end - from);
    }

    /// Starts writeback of everything past the trickle's position to the end of
    /// the file, the partial last page included, without waiting: for a caller
    /// about to fdatasync this segment among others, so their writes overlap.
    pub fn start_writeback_to_end(&self) {
        self.write_out(self.writeback_from.load(Ordering::Acquire), 0);
    }

    /// `sync_file_range(SYNC_FILE_RANGE_WRITE)` of `len` bytes from `from` (0: to the
    /// end of the file). Only a hint: a failure is logged, never reported.
    fn write_out(&self, from: u64, len: u64) {
        // SAFETY: a valid descriptor; the range starts within the file.
        let rc = unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                from as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if rc != 0 {
            tracing::debug!(segment = %self.log_path.display(), error = %std::io::Error::last_os_error(), "sync_file_range failed");
        }
    }

    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }
    /// Offset after the last batch (== base offset when empty).
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }
    /// Marks the segment as the active one again (after truncation).
    pub fn make_active(&self) {
        self.active.store(true, Ordering::Release);
        self.map.lock().current = None;
    }
    pub fn meta(&self) -> SegMeta {
        *self.meta.lock()
    }
    pub fn max_timestamp(&self) -> i64 {
        self.meta.lock().max_ts
    }

    /// The segment's age for retention and compaction lag (Kafka's
    /// `largestTimestamp`): its largest record timestamp, or when it holds
    /// none (records without timestamps, -1) the `.log` file's modification
    /// time, so such records are not taken for infinitely old. A file that
    /// cannot be looked at counts as new: kept, never deleted by mistake.
    pub fn largest_timestamp(&self) -> i64 {
        let max = self.max_timestamp();
        if max >= 0 {
            return max;
        }
        std::fs::metadata(self.log_path())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(i64::MAX, |d| d.as_millis() as i64)
    }
    pub fn index_full(&self) -> bool {
        let ix = self.ix.read();
        ix.offset.is_full() || ix.time.is_full()
    }

    /// A mapping of the `.log` covering at least `needed` bytes.
    pub fn map(&self, needed: u64) -> Result<Arc<Mmap>> {
        let mut st = self.map.lock();
        if let Some(m) = &st.current {
            if m.len() as u64 >= needed {
                return Ok(m.clone());
            }
        }
        let len = if self.is_active() {
            // Map past EOF so the mapping is reused while the file grows; only bytes
            // below the committed size are ever touched. Reserving the default
            // segment.bytes at once means a segment is normally mapped once: each
            // regrowth replaced a mapping whose munmap (page tables of everything
            // read through it) took 2-6 ms at 128-256 MiB, on the thread serving
            // fetches. Address space is all it costs (1 TiB for 1,000 partitions,
            // of 128 TiB).
            needed.max(1).next_power_of_two().max(ACTIVE_MAP_RESERVE)
        } else {
            needed.max(self.size()).max(1)
        };
        // SAFETY: bytes below the committed size are never modified in place; the file
        // only shrinks (truncate_to) after checking no mapping is still referenced.
        let m = unsafe { MmapOptions::new().len(len as usize).map(&self.file) }.ctx("mmap segment", &self.log_path)?;
        let m = Arc::new(m);
        st.handed_out.retain(|w| w.strong_count() > 0);
        st.handed_out.push(Arc::downgrade(&m));
        st.current = Some(m.clone());
        Ok(m)
    }

    /// True if a mapping (e.g. behind `Bytes` held by a reader) is still alive.
    pub(crate) fn mappings_in_use(&self) -> bool {
        let mut st = self.map.lock();
        st.current = None;
        st.handed_out.retain(|w| w.strong_count() > 0);
        !st.handed_out.is_empty()
    }

    pub(crate) fn bytes(map: &Arc<Mmap>, start: u64, end: u64) -> Bytes {
        if start == end {
            return Bytes::new();
        }
        Bytes::from_owner(MapSlice { map: map.clone(), start: start as usize, end: end as usize })
    }

    /// Writes batches (already offset-assigned) at the end of the file, then indexes
    /// them and publishes the new size. On a write error the file is cut back.
    pub fn append(&self, bufs: &[IoSlice<'_>], batches: &[BatchInfo], index_interval: u64, now: i64) -> Result<()> {
        let start = self.size();
        let total: usize = batches.iter().map(|b| b.len).sum();
        if let Err(e) = write_all_vectored_at(&self.file, bufs, start) {
            let _ = self.file.set_len(start);
            return Err(StorageError::io("append", &self.log_path, e));
        }
        let mut ix = self.ix.write();
        let mut meta = self.meta.lock();
        let saved = *meta;
        if meta.rolling_ts.is_none() {
            meta.rolling_ts = Some(now);
        }
        let mut pos = start;
        let mut res = Ok(());
        for b in batches {
            if res.is_ok() {
                res = self.index_batch(&mut ix, &mut meta, b, pos, index_interval);
            }
            pos += b.len as u64;
        }
        if let Err(e) = res {
            // Leave everything exactly as before.
            if let Some(first) = batches.first() {
                ix.offset.truncate_to(first.base_offset - self.base_offset);
                ix.time.truncate_to(first.base_offset - self.base_offset);
            }
            *meta = saved;
            let _ = self.file.set_len(start);
            return Err(e);
        }
        drop(meta);
        drop(ix);
        self.size.store(start + total as u64, Ordering::Release);
        if let Some(last) = batches.last() {
            self.next_offset.store(last.last_offset + 1, Ordering::Release);
        }
        Ok(())
    }

    pub(crate) fn index_batch(
        &self,
        ix: &mut Indexes,
        meta: &mut SegMeta,
        b: &BatchInfo,
        pos: u64,
        interval: u64,
    ) -> Result<()> {
        if b.max_ts > meta.max_ts || meta.max_ts_offset < 0 {
            meta.max_ts = b.max_ts;
            meta.max_ts_offset = b.last_offset;
        }
        if meta.bytes_since_index > interval {
            ix.offset.append((b.base_offset - self.base_offset) as u32, pos as u32)?;
            ix.time.maybe_append(meta.max_ts, (meta.max_ts_offset - self.base_offset) as u32)?;
            meta.bytes_since_index = 0;
        }
        meta.bytes_since_index += b.len as u64;
        Ok(())
    }

    /// Position and header prefix of the first batch (at or after the index hint)
    /// with last offset >= `offset`, below `limit`.
    /// Removes batches whose last offset >= `offset` and makes the segment active
    /// again. If readers may still hold mappings of the tail, the kept prefix is copied
    /// to a new file instead (shrinking a mapped file would SIGBUS them).
    pub fn truncate_to(&self, offset: i64, index_interval: u64) -> Result<Cut> {
        let _g = self.guard.write();
        let limit = self.size();
        if offset >= self.next_offset() {
            return Ok(Cut::Nothing);
        }
        let map = if limit > 0 { Some(self.map(limit)?) } else { None };
        let (pos, cut_base) = match &map {
            None => (0, self.base_offset),
            Some(m) => match self.locate(m, offset, limit) {
                Some(p) => (p, batch::peek_offsets(&m[p as usize..]).0),
                None => return Ok(Cut::Nothing),
            },
        };
        drop(map);
        if self.mappings_in_use() {
            return Ok(Cut::Copied(self.copy_prefix(pos, ".truncating")?));
        }
        {
            let mut ix = self.ix.write();
            ix.offset.truncate_to(cut_base - self.base_offset);
            ix.time.truncate_to(cut_base - self.base_offset);
        }
        self.txn.truncate_to(cut_base)?;
        self.file.set_len(pos).ctx("truncate segment", &self.log_path)?;
        self.size.store(pos, Ordering::Release);
        *self.meta.lock() = SegMeta { bytes_since_index: 0, max_ts: -1, max_ts_offset: -1, rolling_ts: None };
        self.next_offset.store(self.base_offset, Ordering::Release);
        self.active.store(true, Ordering::Release);
        let scan = self.load(index_interval, false, false)?;
        if let Some((p, reason)) = scan.error {
            return Err(StorageError::corrupt(p as usize, reason));
        }
        Ok(Cut::InPlace)
    }

    /// Writes the first `len` bytes to `<base>.log<suffix>` (for copy-on-truncate).
    fn copy_prefix(&self, len: u64, suffix: &str) -> Result<PathBuf> {
        let p = segment_path(&self.dir, self.base_offset, &format!(".log{suffix}"));
        let mut out = File::create(&p).ctx("create segment copy", &p)?;
        let mut src = self.file.try_clone().ctx("dup segment", &self.log_path)?;
        std::io::Seek::seek(&mut src, std::io::SeekFrom::Start(0)).ctx("seek", &self.log_path)?;
        std::io::copy(&mut std::io::Read::take(src, len), &mut out).ctx("copy segment", &p)?;
        out.sync_all().ctx("fsync segment copy", &p)?;
        Ok(p)
    }

    /// Turns the active segment into a closed one: final time-index entry, trimmed
    /// indexes, exact-size mapping from now on.
    pub fn seal(&self) -> Result<()> {
        let mut ix = self.ix.write();
        let meta = self.meta();
        if meta.max_ts_offset >= 0 {
            let _ = ix.time.maybe_append(meta.max_ts, (meta.max_ts_offset - self.base_offset) as u32)?;
        }
        ix.offset.trim()?;
        ix.time.trim()?;
        self.txn.sync()?;
        if self.recycled.swap(false, Ordering::AcqRel) {
            // Old bytes past the end must go before the file is a closed segment, whose
            // length is taken as its size when the log is opened again. Mappings may
            // reach past the new end; readers never touch bytes at or above `size`.
            let len = self.file.metadata().ctx("stat segment", &self.log_path)?.len();
            if len > self.size() {
                self.file.set_len(self.size()).ctx("trim recycled segment", &self.log_path)?;
                self.trim_unsynced.store(true, Ordering::Release);
            }
        }
        self.active.store(false, Ordering::Release);
        self.map.lock().current = None;
        Ok(())
    }

    /// Trimmed (see [`Segment::seal`]) and not fdatasynced since.
    pub fn trim_unsynced(&self) -> bool {
        self.trim_unsynced.load(Ordering::Acquire)
    }

    /// Makes the data (and a trimmed length) durable (fdatasync).
    pub fn sync(&self) -> Result<()> {
        let trimmed = self.trim_unsynced();
        let started = std::time::Instant::now();
        // SAFETY: a valid descriptor.
        let r = unsafe { libc::fdatasync(self.file.as_raw_fd()) };
        // Failed syncs too: a slow failing disk is what this histogram is for.
        metrics::histogram!("weir_storage_fsync_latency_seconds").record(started.elapsed().as_secs_f64());
        if r != 0 {
            return Err(StorageError::io("fdatasync", &self.log_path, std::io::Error::last_os_error()));
        }
        if trimmed {
            self.trim_unsynced.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// fsyncs the indexes (close / clean shutdown).
    pub fn sync_indexes(&self) -> Result<()> {
        let ix = self.ix.read();
        ix.offset.sync()?;
        ix.time.sync()
    }

    /// Unlinks the three files. Open handles and mappings stay valid.
    pub fn delete_files(&self) -> Result<()> {
        self.unlink(&[".log", ".index", ".timeindex", crate::txn::TXN_INDEX_SUFFIX])
    }

    /// Unlinks the index files (the `.log` went to the segment pool).
    pub fn delete_index_files(&self) -> Result<()> {
        self.unlink(&[".index", ".timeindex", crate::txn::TXN_INDEX_SUFFIX])
    }

    fn unlink(&self, suffixes: &[&str]) -> Result<()> {
        for s in suffixes {
            let p = segment_path(&self.dir, self.base_offset, s);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("delete segment", &p, e)),
            }
        }
        Ok(())
    }
}

/// `pwritev` until every byte of `bufs` is written at `pos`.
fn write_all_vectored_at(file: &File, bufs: &[IoSlice<'_>], mut pos: u64) -> std::io::Result<()> {
    if bufs.len() == 1 {
        return file.write_all_at(&bufs[0], pos);
    }
    let mut idx = 0usize;
    let mut skip = 0usize; // bytes already written of bufs[idx]
    while idx < bufs.len() {
        let mut iov: Vec<libc::iovec> = Vec::with_capacity((bufs.len() - idx).min(1024));
        for (i, b) in bufs[idx..].iter().take(1024).enumerate() {
            let s = if i == 0 { &b[skip..] } else { &b[..] };
            iov.push(libc::iovec { iov_base: s.as_ptr() as *mut libc::c_void, iov_len: s.len() });
        }
        // SAFETY: iovecs point into live slices for the duration of the call.
        let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int, pos as libc::off_t) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut n = n as usize;
        pos += n as u64;
        while idx < bufs.len() && n >= bufs[idx].len() - skip {
            n -= bufs[idx].len() - skip;
            idx += 1;
            skip = 0;
        }
        skip += n;
    }
    Ok(())
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
