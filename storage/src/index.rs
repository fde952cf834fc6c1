//! Sparse, memory-mapped segment indexes.
//!
//! * Offset index (`.index`): 8-byte entries `(u32 relative offset, u32 position)`,
//!   big-endian, strictly increasing in both fields. An entry points at the start of
//!   a batch whose base offset is `segment base + relative offset`. Entries are added
//!   when more than `index.interval.bytes` were appended since the last entry, so the
//!   first batch of a segment (position 0) is never indexed and every entry has
//!   position > 0.
//! * Time index (`.timeindex`): 12-byte entries `(i64 timestamp, u32 relative offset)`
//!   with strictly increasing timestamps: "the largest timestamp among batches up to
//!   and including the batch whose last offset is `relative offset`".
//!
//! The active segment's index files are extended to `segment.index.bytes` as
//! sparse files and trimmed to their entries on roll/close: a closed index's
//! length is exactly `entries * entry size`, and one found at the full length was
//! not trimmed (an unclean shutdown), so its entry count is unknown and it is
//! rebuilt. Blocks are allocated (posix_fallocate) only ahead of the entries, in
//! steps that double from one page up to [`RESERVE_STEP_MAX`]: a write through
//! the mapping never lands in a hole (which on a full disk is SIGBUS, not an
//! error), and an idle partition holds a page per index on disk instead of
//! `segment.index.bytes` each (two internal topics of 50 partitions would
//! otherwise pin 2 GiB at every start).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use crate::error::{IoContext, Result, StorageError};

/// Common machinery of the two index kinds: a file, its mapping and an entry count.
#[derive(Debug)]
struct IndexFile {
    path: PathBuf,
    /// Open only while a resize or a trim needs it: an index lives in its
    /// mapping, so a partition holds one descriptor (its active log), not three,
    /// and 10,000 partitions fit the usual descriptor limits.
    file: Option<File>,
    mmap: Option<MmapMut>,
    entries: usize,
    max_entries: usize,
    entry_size: usize,
    /// Opened for appending but the file was not trimmed (unclean shutdown): the
    /// entry count is unknown and the index must be rebuilt.
    untrimmed: bool,
    /// Bytes from the start of the file whose blocks are known to be allocated:
    /// entries are written only below this.
    reserved: usize,
    /// Trimmed to its entries and durable (a closed segment's index).
    sealed: bool,
}

impl IndexFile {
    /// Opens or creates; entries = file length / entry size. When `preallocate`
    /// (the active segment), the file is extended to `max_entries` as a sparse file.
    fn open(path: &Path, entry_size: usize, max_entries: usize, preallocate: bool) -> Result<IndexFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ctx("open index", path)?;
        let len = file.metadata().ctx("stat index", path)?.len() as usize;
        let entries = len / entry_size;
        let untrimmed = preallocate && len > 0 && len >= max_entries * entry_size;
        let mut idx = IndexFile {
            path: path.to_path_buf(),
            file: Some(file),
            mmap: None,
            entries,
            max_entries: max_entries.max(entries),
            entry_size,
            untrimmed,
            // An untrimmed file's allocation is unknown: allocating again what is
            // already allocated is cheap.
            reserved: if untrimmed { 0 } else { len },
            sealed: !preallocate,
        };
        if untrimmed {
            idx.entries = 0;
        }
        if preallocate {
            match idx.resize(idx.max_entries * entry_size) {
                Ok(()) => {}
                // Opening must work on a full disk, so that what is stored can still
                // be read; the first append that needs an index entry then fails.
                Err(StorageError::DiskFull { .. }) => {
                    tracing::warn!(path = %path.display(), "disk full: index not extended");
                    idx.remap()?;
                }
                Err(e) => return Err(e),
            }
        } else {
            idx.remap()?;
            idx.file = None;
        }
        Ok(idx)
    }

    fn handle(&mut self) -> Result<&File> {
        if self.file.is_none() {
            let f = OpenOptions::new().read(true).write(true).open(&self.path).ctx("reopen index", &self.path)?;
            self.file = Some(f);
        }
        Ok(self.file.as_ref().expect("index file open"))
    }

    fn remap(&mut self) -> Result<()> {
        self.mmap = None;
        let path = self.path.clone();
        let file = self.handle()?;
        let len = file.metadata().ctx("stat index", &path)?.len();
        if len > 0 {
            // SAFETY: index files are private to this process; only this struct
            // writes them, through this mapping.
            let m = unsafe { MmapMut::map_mut(file) }.ctx("mmap index", &path)?;
            // Entries are written one at a time at the end and looked up by binary
            // search: readahead would fault in (and zero, and dirty) large folios of a
            // mostly empty file on every first touch, stalling appends in writeback
            // throttling when many partitions are active.
            let _ = m.advise(memmap2::Advice::Random);
            self.mmap = Some(m);
        }
        Ok(())
    }

    fn resize(&mut self, len: usize) -> Result<()> {
        if let Some(m) = self.mmap.take() {
            m.flush_async().ctx("msync index", &self.path)?;
        }
        let path = self.path.clone();
        let file = self.handle()?;
        // Growing leaves a hole (no blocks); `reserve` allocates ahead of the entries.
        file.set_len(len as u64).ctx("resize index", &path)?;
        self.reserved = self.reserved.min(len);
        self.remap()?;
        self.file = None;
        Ok(())
    }

    /// Makes sure the blocks up to `end` are allocated, allocating the next step.
    fn reserve(&mut self, end: usize) -> Result<()> {
        let full = self.max_entries * self.entry_size;
        if self.mmap.as_ref().map_or(0, |m| m.len()) < full {
            // Opened on a full disk without being extended.
            self.resize(full)?;
        }
        let step = self.reserved.clamp(PAGE, RESERVE_STEP_MAX);
        let target = (self.reserved + step).next_multiple_of(PAGE).max(end).min(full);
        let path = self.path.clone();
        let file = self.handle()?;
        allocate(file, target as u64).ctx("allocate index", &path)?;
        self.reserved = target;
        self.file = None;
        Ok(())
    }

    fn entry(&self, i: usize) -> &[u8] {
        let m = self.mmap.as_ref().expect("index mapped");
        &m[i * self.entry_size..(i + 1) * self.entry_size]
    }

    fn push(&mut self, bytes: &[u8]) -> Result<bool> {
        if self.entries >= self.max_entries {
            return Ok(false);
        }
        let at = self.entries * self.entry_size;
        if at + self.entry_size > self.reserved {
            self.reserve(at + self.entry_size)?;
        }
        let m = self.mmap.as_mut().expect("index mapped");
        m[at..at + self.entry_size].copy_from_slice(bytes);
        self.entries += 1;
        Ok(true)
    }

    /// Trims the file to its entries, makes it durable and closes the descriptor.
    fn trim(&mut self) -> Result<()> {
        if self.sealed {
            return Ok(());
        }
        self.resize(self.entries * self.entry_size)?;
        self.fsync()?;
        self.file = None;
        self.sealed = true;
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        if !self.sealed {
            return self.fsync();
        }
        if let Some(m) = &self.mmap {
            m.flush().ctx("msync index", &self.path)?;
        }
        Ok(())
    }

    /// msync of the mapping, then fsync of the file: its size (extended or
    /// trimmed) is metadata msync does not make durable, and the descriptor is
    /// opened for the purpose when none is held.
    fn fsync(&self) -> Result<()> {
        if let Some(m) = &self.mmap {
            m.flush().ctx("msync index", &self.path)?;
        }
        let f = match &self.file {
            Some(f) => f.try_clone().ctx("fsync index", &self.path)?,
            None => File::open(&self.path).ctx("reopen index", &self.path)?,
        };
        f.sync_all().ctx("fsync index", &self.path)
    }
}

/// Offset index: relative offset -> file position.
#[derive(Debug)]
pub(crate) struct OffsetIndex {
    f: IndexFile,
}

impl OffsetIndex {
    pub const ENTRY: usize = 8;

    pub fn open(path: &Path, max_entries: usize, preallocate: bool) -> Result<OffsetIndex> {
        let f = IndexFile::open(path, Self::ENTRY, max_entries, preallocate)?;
        Ok(OffsetIndex { f })
    }

    pub fn len(&self) -> usize {
        self.f.entries
    }
    pub fn is_full(&self) -> bool {
        self.f.entries >= self.f.max_entries
    }
    /// The file was found at its full length (not trimmed): contents unknown.
    pub fn untrimmed(&self) -> bool {
        self.f.untrimmed
    }
    pub fn entry(&self, i: usize) -> (u32, u32) {
        let e = self.f.entry(i);
        (u32::from_be_bytes(e[0..4].try_into().unwrap()), u32::from_be_bytes(e[4..8].try_into().unwrap()))
    }
    pub fn last(&self) -> Option<(u32, u32)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// Appends an entry; returns false (and does nothing) when full.
    pub fn append(&mut self, rel_offset: u32, position: u32) -> Result<bool> {
        let mut b = [0u8; 8];
        b[0..4].copy_from_slice(&rel_offset.to_be_bytes());
        b[4..8].copy_from_slice(&position.to_be_bytes());
        self.f.push(&b)
    }

    /// Largest entry with relative offset <= `rel`, as (relative offset, position).
    pub fn lookup(&self, rel: i64) -> Option<(u32, u32)> {
        let n = self.len();
        if n == 0 || rel < self.entry(0).0 as i64 {
            return None;
        }
        let (mut lo, mut hi) = (0usize, n); // invariant: entry(lo) <= rel, entry(hi) > rel
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.entry(mid).0 as i64 <= rel {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(self.entry(lo))
    }

    /// Removes entries with relative offset >= `rel`.
    pub fn truncate_to(&mut self, rel: i64) {
        while self.last().is_some_and(|(r, _)| r as i64 >= rel) {
            self.f.entries -= 1;
        }
    }

    /// Checks entries are strictly increasing and within `(0, log_size)`.
    pub fn is_consistent(&self, log_size: u64, rel_end: i64) -> bool {
        let mut prev: Option<(u32, u32)> = None;
        for i in 0..self.len() {
            let (r, p) = self.entry(i);
            if p == 0 || p as u64 >= log_size || r as i64 >= rel_end {
                return false;
            }
            if prev.is_some_and(|(pr, pp)| r <= pr || p <= pp) {
                return false;
            }
            prev = Some((r, p));
        }
        true
    }

    pub fn trim(&mut self) -> Result<()> {
        self.f.trim()
    }
    pub fn sync(&self) -> Result<()> {
        self.f.sync()
    }
}

/// Time index: max timestamp so far -> relative offset of that batch's last record.
#[derive(Debug)]
pub(crate) struct TimeIndex {
    f: IndexFile,
}

impl TimeIndex {
    pub const ENTRY: usize = 12;

    pub fn open(path: &Path, max_entries: usize, preallocate: bool) -> Result<TimeIndex> {
        let f = IndexFile::open(path, Self::ENTRY, max_entries, preallocate)?;
        Ok(TimeIndex { f })
    }

    pub fn len(&self) -> usize {
        self.f.entries
    }
    pub fn is_full(&self) -> bool {
        self.f.entries >= self.f.max_entries
    }
    /// The file was found at its full length (not trimmed): contents unknown.
    pub fn untrimmed(&self) -> bool {
        self.f.untrimmed
    }
    pub fn entry(&self, i: usize) -> (i64, u32) {
        let e = self.f.entry(i);
        (i64::from_be_bytes(e[0..8].try_into().unwrap()), u32::from_be_bytes(e[8..12].try_into().unwrap()))
    }
    pub fn last(&self) -> Option<(i64, u32)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// Appends `(ts, rel)` if `ts` is larger than the last entry's timestamp and the
    /// index is not full. Returns whether an entry was added.
    pub fn maybe_append(&mut self, ts: i64, rel: u32) -> Result<bool> {
        if self.last().is_some_and(|(t, r)| ts <= t || rel < r) {
            return Ok(false);
        }
        let mut b = [0u8; 12];
        b[0..8].copy_from_slice(&ts.to_be_bytes());
        b[8..12].copy_from_slice(&rel.to_be_bytes());
        self.f.push(&b)
    }

    /// Last entry whose timestamp is < `ts`: every batch up to its offset has only
    /// timestamps < `ts`.
    pub fn last_below(&self, ts: i64) -> Option<(i64, u32)> {
        let n = self.len();
        if n == 0 || self.entry(0).0 >= ts {
            return None;
        }
        let (mut lo, mut hi) = (0usize, n);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.entry(mid).0 < ts {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(self.entry(lo))
    }

    /// Removes entries with relative offset >= `rel`.
    pub fn truncate_to(&mut self, rel: i64) {
        while self.last().is_some_and(|(_, r)| r as i64 >= rel) {
            self.f.entries -= 1;
        }
    }

    pub fn is_consistent(&self, rel_end: i64) -> bool {
        let mut prev: Option<(i64, u32)> = None;
        for i in 0..self.len() {
            let (t, r) = self.entry(i);
            if r as i64 >= rel_end || prev.is_some_and(|(pt, pr)| t <= pt || r < pr) {
                return false;
            }
            prev = Some((t, r));
        }
        true
    }

    pub fn trim(&mut self) -> Result<()> {
        self.f.trim()
    }
    pub fn sync(&self) -> Result<()> {
        self.f.sync()
    }
}

const PAGE: usize = 4096;

/// The largest step by which an active index's allocated blocks grow.
const RESERVE_STEP_MAX: usize = 1 << 20;

/// Allocates the blocks of `file`'s first `len` bytes, growing it if shorter
/// (posix_fallocate; glibc falls back to writing zeros where the filesystem
/// cannot allocate).
fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a valid open descriptor; the call only changes the file's size and blocks.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx = OffsetIndex::open(&p, 10, true).unwrap();
        assert_eq!(idx.lookup(5), None);
        for i in 1..=10u32 {
            assert!(idx.append(i * 10, i * 100).unwrap());
        }
        assert!(idx.is_full());
        assert!(!idx.append(200, 2000).unwrap());
        assert_eq!(idx.lookup(5), None);
        assert_eq!(idx.lookup(10), Some((10, 100)));
        assert_eq!(idx.lookup(15), Some((10, 100)));
        assert_eq!(idx.lookup(99), Some((90, 900)));
        assert_eq!(idx.lookup(1000), Some((100, 1000)));
        idx.truncate_to(50);
        assert_eq!(idx.len(), 4);
        assert_eq!(idx.lookup(1000), Some((40, 400)));
        assert!(idx.is_consistent(401, 41));
        assert!(!idx.is_consistent(400, 41));
        idx.trim().unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 32);
        drop(idx);
        // Reopen trimmed (closed) and extended (active).
        let idx = OffsetIndex::open(&p, 10, false).unwrap();
        assert_eq!(idx.len(), 4);
        drop(idx);
        let mut idx = OffsetIndex::open(&p, 10, true).unwrap();
        assert_eq!(idx.len(), 4);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 80);
        idx.append(60, 600).unwrap();
        drop(idx);
        // Untrimmed file after a crash: contents unknown, must be rebuilt.
        let idx = OffsetIndex::open(&p, 10, true).unwrap();
        assert!(idx.untrimmed());
        assert_eq!(idx.len(), 0);
    }

    #[test]
    fn an_active_index_allocates_blocks_only_ahead_of_its_entries() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let allocated = || std::fs::metadata(&p).unwrap().blocks() * 512;
        let max = 10 * 1024 * 1024 / OffsetIndex::ENTRY;
        let mut idx = OffsetIndex::open(&p, max, true).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), (max * OffsetIndex::ENTRY) as u64);
        assert!(allocated() < 64 * 1024, "an empty index holds {} bytes", allocated());
        let n = 50_000u32;
        for i in 1..=n {
            assert!(idx.append(i, i * 10).unwrap());
        }
        let used = n as u64 * OffsetIndex::ENTRY as u64;
        assert!(allocated() >= used, "{} bytes allocated under {used} bytes of entries", allocated());
        assert!(allocated() < 2 * used + 64 * 1024, "{} bytes allocated for {used}", allocated());
        assert_eq!(idx.lookup(n as i64), Some((n, n * 10)));
        assert_eq!(idx.lookup(12_345), Some((12_345, 123_450)));
        idx.trim().unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), used);
        drop(idx);
        // Reopened for appending: extended again, the old entries kept.
        let mut idx = OffsetIndex::open(&p, max, true).unwrap();
        assert!(!idx.untrimmed());
        assert_eq!(idx.len(), n as usize);
        assert!(idx.append(n + 1, (n + 1) * 10).unwrap());
        assert_eq!(idx.lookup(i64::from(n) + 5), Some((n + 1, (n + 1) * 10)));
    }

    #[test]
    fn time_index_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.timeindex");
        let mut idx = TimeIndex::open(&p, 4, true).unwrap();
        assert_eq!(idx.last_below(100), None);
        assert!(idx.maybe_append(100, 0).unwrap());
        assert!(!idx.maybe_append(100, 3).unwrap());
        assert!(!idx.maybe_append(90, 3).unwrap());
        assert!(idx.maybe_append(200, 5).unwrap());
        assert!(idx.maybe_append(300, 9).unwrap());
        assert_eq!(idx.last_below(100), None);
        assert_eq!(idx.last_below(101), Some((100, 0)));
        assert_eq!(idx.last_below(300), Some((200, 5)));
        assert_eq!(idx.last_below(1000), Some((300, 9)));
        assert!(idx.maybe_append(400, 12).unwrap());
        assert!(idx.is_full());
        assert!(!idx.maybe_append(500, 13).unwrap());
        idx.truncate_to(9);
        assert_eq!(idx.last(), Some((200, 5)));
        idx.trim().unwrap();
        drop(idx);
        let idx = TimeIndex::open(&p, 4, true).unwrap();
        assert_eq!(idx.len(), 2);
        assert!(!idx.untrimmed());
    }
}
