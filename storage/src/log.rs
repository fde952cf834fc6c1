//! One partition log: an ordered map of segments plus offsets, flushing and retention.

use std::collections::BTreeMap;
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::batch::{self, BatchHeader, ATTRIBUTES_OFFSET, HEADER_LEN};
use crate::clock::Clock;
use crate::config::{FlushPolicy, LogConfig, TimestampType};
use crate::error::{Result, StorageError};
use crate::log_flush::{Attention, WriteOp};
use crate::producer::{Check, ProducerState};
use crate::recycle::SegmentPool;
use crate::segment::{BatchInfo, Segment};

/// Result of a successful append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// -1 unless the log uses LogAppendTime.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    pub max_timestamp: i64,
    pub record_count: i64,
    pub bytes: usize,
    /// An idempotent producer's retry of a batch already in the log: nothing was
    /// appended and the offsets are the original ones.
    pub duplicate: bool,
}

/// Result of a read: whole batches, zero-copy from the segment mapping.
#[derive(Clone, Debug)]
pub struct ReadInfo {
    pub records: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// A (timestamp, offset) pair for ListOffsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

#[derive(Default)]
pub(crate) struct FlushState {
    pub(crate) flushed: i64,
    pub(crate) in_progress: bool,
    /// Bumped by every truncation. A sync that overlapped a truncation must not
    /// publish its target: that target may lie above the new log end, and offsets
    /// re-appended there would then be reported durable without an fdatasync.
    pub(crate) generation: u64,
}

/// One partition. All methods take `&self`; appends (and other structural changes)
/// are serialised by an internal mutex, reads only take a brief shared lock.
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: RwLock<LogConfig>,
    /// Serialises appends, rolls, truncation, retention and segment swaps.
    pub(crate) write_lock: Mutex<()>,
    pub(crate) segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    pub(crate) log_start: AtomicI64,
    pub(crate) log_end: AtomicI64,
    pub(crate) flush: Mutex<FlushState>,
    pub(crate) flush_cv: Condvar,
    pub(crate) last_flush_ms: AtomicI64,
    pub(crate) dir_dirty: AtomicBool,
    pub(crate) closed: AtomicBool,
    /// Set by an I/O error that leaves what is on disk unknown (a failed
    /// fdatasync: the page cache may have dropped dirty pages; a failed write,
    /// roll or index append). Never cleared: appends and reads fail with
    /// [`StorageError::Offline`] until the broker restarts, when the missing
    /// clean-shutdown marker makes it recover the log. Disk full does not set it:
    /// a full disk leaves the log as it was, and writes resume when space is freed.
    pub(crate) offline: AtomicBool,
    /// Held by the log cleaner while it compacts this log.
    pub(crate) cleaner_lock: Mutex<crate::cleaner::CleanerState>,
    /// Idempotent-producer state; changed only with `write_lock` held.
    pub(crate) producers: Mutex<ProducerState>,
    /// `producers`' first unstable offset (i64::MAX: none), readable without a lock.
    pub(crate) unstable: AtomicI64,
    /// Where new segments find recycled files and deleted ones go.
    pub(crate) pool: Option<Arc<SegmentPool>>,
    /// The owner's background queue and this log's place in it (see [`Attention`]).
    pub(crate) attention: OnceLock<(Arc<Attention>, Weak<Log>)>,
    /// In that queue now.
    pub(crate) queued: AtomicBool,
}

pub(crate) const LOG_START_FILE: &str = "log-start-offset";
/// Page-cache mode: the background thread starts writeback of a segment once this
/// many bytes were appended since it last did (it looks every 50 ms, so above
/// 20 MB/s each tick writes out what the last 50 ms appended). Small on purpose: on
/// ext4, an append into a new file takes the inode's `i_data_sem`, which writeback
/// holds while it allocates blocks and converts them from unwritten (reading block
/// bitmaps, and with the `discard` mount option issuing discards, under the lock).
/// Writing out less at a time keeps each hold short: at 50 MB/s into a new topic,
/// with 4 MiB the produce path waited there 12-14 times per 10 s, 17-22 ms in all,
/// up to 2.8-3.9 ms at a time; with 1 MiB 3-11 times, 0.5-7.9 ms in all, at most
/// 2.5 ms (off-CPU stacks, `perf record -e sched:sched_switch -g`, four runs each;
/// one run with 32 MiB: 6 waits, one of 11 ms). Recycled files have their blocks
/// allocated and written, and appends into them do not wait there.
pub(crate) const WRITEBACK_EVERY: u64 = 1 << 20;

impl Log {
    /// Opens (creating if needed) the log in `dir`. With `recover` (no clean shutdown)
    /// the tail is CRC-checked and truncated at the first bad batch.
    pub fn open(dir: PathBuf, config: LogConfig, clock: Arc<dyn Clock>, recover: bool) -> Result<Log> {
        Self::open_in(dir, config, clock, recover, None)
    }

    /// [`Log::open`] with a segment pool: new segments reuse its files and segments
    /// deleted by retention go to it.
    pub fn open_in(
        dir: PathBuf,
        config: LogConfig,
        clock: Arc<dyn Clock>,
        recover: bool,
        pool: Option<Arc<SegmentPool>>,
    ) -> Result<Log> {
        let checkpoint = crate::recovery::read_offset_file(&dir.join(LOG_START_FILE))?;
        let segments =
            crate::recovery::load_segments(&dir, &config, recover, checkpoint.unwrap_or(0), pool.as_deref())?;
        let first = *segments.keys().next().expect("at least one segment");
        let active = segments.values().next_back().expect("active segment").clone();
        let log_end = active.next_offset().max(active.base_offset);
        let log_start = checkpoint.unwrap_or(first).max(first).min(log_end);
        let now = clock.now_ms();
        if active.size() > 0 {
            active.meta.lock().rolling_ts.get_or_insert(now);
        }
        let log = Log {
            dir,
            clock,
            config: RwLock::new(config),
            write_lock: Mutex::new(()),
            segments: RwLock::new(segments),
            log_start: AtomicI64::new(log_start),
            log_end: AtomicI64::new(log_end),
            flush: Mutex::new(FlushState { flushed: log_end, ..Default::default() }),
            flush_cv: Condvar::new(),
            last_flush_ms: AtomicI64::new(now),
            dir_dirty: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            offline: AtomicBool::new(false),
            cleaner_lock: Mutex::new(crate::cleaner::CleanerState::default()),
            producers: Mutex::new(ProducerState::default()),
            unstable: AtomicI64::new(i64::MAX),
            pool,
            attention: OnceLock::new(),
            queued: AtomicBool::new(false),
        };
        for s in log.segment_list() {
            // Recovery may have cut the tail below markers the index recorded.
            s.txn.truncate_to(log_end)?;
        }
        log.load_producer_state()?;
        if recover {
            // Whatever survived recovery was fsynced by it or is unknown; be safe.
            log.flush.lock().flushed = log.log_start.load(Ordering::Acquire).min(log_end);
            log.flush()?;
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> LogConfig {
        self.config.read().clone()
    }
    pub fn update_config(&self, config: LogConfig) {
        *self.config.write() = config;
        // A shorter flush interval may make a flush due with no further append.
        self.want_attention();
    }
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(StorageError::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn active(&self) -> Arc<Segment> {
        self.segments.read().values().next_back().expect("active segment").clone()
    }

    /// Appends one or more concatenated RecordBatch v2. Everything is validated before
    /// anything is written; on error the log is unchanged.
    pub fn append(&self, records: &[u8]) -> Result<AppendInfo> {
        self.append_records(records, false)
    }

    /// Appends batches at the offsets they carry, byte for byte (no offset or
    /// LogAppendTime rewrite, no idempotence check): what a copy of another log
    /// appends, as a follower replica will and Weir's offset-preserving mirror
    /// topics do. Each batch must start at or past the log end (and past the
    /// one before it); the offsets in between stay empty, as compaction leaves
    /// them, and reads skip them. Producer state and the aborted-transactions
    /// index follow the batches' own control records, so read_committed works on
    /// the copy.
    pub fn append_at(&self, records: &[u8]) -> Result<AppendInfo> {
        self.append_records(records, true)
    }

    fn append_records(&self, records: &[u8], keep_offsets: bool) -> Result<AppendInfo> {
        if records.is_empty() {
            return Err(StorageError::InvalidRecord { reason: "empty record set".into() });
        }
        let cfg = self.config.read().clone();
        let mut parsed: Vec<(BatchHeader, usize)> = Vec::with_capacity(1);
        let mut pos = 0usize;
        while pos < records.len() {
            let rest = &records[pos..];
            let h = BatchHeader::parse(rest).map_err(|e| match e {
                StorageError::CorruptBatch { reason, .. } => StorageError::corrupt(pos, reason),
                other => other,
            })?;
            let len = h.total_len();
            if len > rest.len() {
                return Err(StorageError::corrupt(pos, format!("batch of {len} bytes but only {} left", rest.len())));
            }
            if len as u64 > cfg.max_message_bytes {
                return Err(StorageError::MessageTooLarge { size: len, max: cfg.max_message_bytes });
            }
            // One CRC pass; no record decoding.
            let crc = crc32c::crc32c(&rest[ATTRIBUTES_OFFSET..len]);
            if crc != h.crc {
                return Err(StorageError::corrupt(
                    pos,
                    format!("CRC mismatch: stored {:#010x}, computed {crc:#010x}", h.crc),
                ));
            }
            crate::batch::check_counts(&h, keep_offsets)?;
            parsed.push((h, pos));
            pos += len;
        }

        let _w = self.write_lock.lock();
        self.check_open()?;
        self.check_failed()?;
        let now = self.clock.now_ms();
        if !keep_offsets && parsed.iter().any(|(h, _)| ProducerState::is_idempotent(h)) {
            if parsed.len() > 1 {
                return Err(StorageError::InvalidRecord {
                    reason: "an idempotent producer's request must hold one batch per partition".into(),
                });
            }
            if let Check::Duplicate { first_offset, last_offset } = self.producers.lock().check(&parsed[0].0)? {
                return Ok(AppendInfo {
                    first_offset,
                    last_offset,
                    log_append_time: -1,
                    log_start_offset: self.log_start.load(Ordering::Acquire),
                    max_timestamp: parsed[0].0.max_timestamp,
                    record_count: parsed[0].0.record_count as i64,
                    bytes: 0,
                    duplicate: true,
                });
            }
        }
        let lat = !keep_offsets && cfg.message_timestamp_type == TimestampType::LogAppendTime;
        let mut next = self.log_end.load(Ordering::Acquire);
        if keep_offsets {
            let segment_base = self.active().base_offset;
            for (h, _) in &parsed {
                if h.base_offset < next {
                    return Err(StorageError::InvalidRecord {
                        reason: format!("a batch at offset {} is below the log end {next}", h.base_offset),
                    });
                }
                next = h
                    .base_offset
                    .checked_add(h.last_offset_delta as i64 + 1)
                    .ok_or_else(|| StorageError::InvalidRecord { reason: "offsets past i64::MAX".into() })?;
                // Segment-relative offsets are 32-bit; a jump that far from the
                // active segment's base is not taken (a roll starts at the log end).
                if next - 1 - segment_base > i32::MAX as i64 {
                    return Err(StorageError::InvalidRecord {
                        reason: format!("offset {} is too far past the segment at {segment_base}", next - 1),
                    });
                }
            }
            next = self.log_end.load(Ordering::Acquire);
        }
        let first_offset = if keep_offsets { parsed[0].0.base_offset } else { next };
        let mut headers: Vec<[u8; HEADER_LEN]> = Vec::with_capacity(parsed.len());
        let mut infos = Vec::with_capacity(parsed.len());
        let mut max_ts = -1i64;
        let mut record_count = 0i64;
        for (h, p) in &parsed {
            let mut hdr: [u8; HEADER_LEN] = records[*p..*p + HEADER_LEN].try_into().unwrap();
            if keep_offsets {
                next = h.base_offset;
            } else {
                batch::set_base_offset(&mut hdr, next);
            }
            let ts = if lat {
                batch::set_log_append_time(&mut hdr, now);
                let body = &records[p + HEADER_LEN..p + h.total_len()];
                let crc = crc32c::crc32c_append(crc32c::crc32c(&hdr[ATTRIBUTES_OFFSET..]), body);
                batch::set_crc(&mut hdr, crc);
                now
            } else {
                h.max_timestamp
            };
            max_ts = max_ts.max(ts);
            record_count += h.record_count as i64;
            infos.push(BatchInfo {
                base_offset: next,
                last_offset: next + h.last_offset_delta as i64,
                max_ts: ts,
                len: h.total_len(),
            });
            headers.push(hdr);
            next += h.last_offset_delta as i64 + 1;
        }
        let mut iov = Vec::with_capacity(parsed.len() * 2);
        for ((h, p), hdr) in parsed.iter().zip(&headers) {
            iov.push(IoSlice::new(hdr));
            iov.push(IoSlice::new(&records[p + HEADER_LEN..p + h.total_len()]));
        }

        let mut active = self.active();
        if self.should_roll(&active, &cfg, records.len() as u64, next - 1, now) {
            self.roll_locked(&cfg).inspect_err(|e| self.offline_after(WriteOp::Roll, e))?;
            active = self.active();
        }
        active
            .append(&iov, &infos, cfg.index_interval_bytes, now)
            .inspect_err(|e| self.offline_after(WriteOp::Append, e))?;
        self.log_end.store(next, Ordering::Release);
        {
            let mut producers = self.producers.lock();
            for ((h, p), info) in parsed.iter().zip(&infos) {
                let control = crate::txn::control_type(h, &records[*p..]);
                let done = producers.update(h, info.base_offset, info.max_ts.max(now), control);
                if let Some(t) = done.filter(|t| t.aborted) {
                    let lso = producers.first_unstable_offset().unwrap_or(t.last_offset + 1);
                    active
                        .txn
                        .append(crate::txn::AbortedTxn {
                            producer_id: t.producer_id,
                            first_offset: t.first_offset,
                            last_offset: t.last_offset,
                            last_stable_offset: lso,
                        })
                        .inspect_err(|e| self.offline_after(WriteOp::AbortedTxnIndex, e))?;
                }
            }
            self.unstable.store(producers.first_unstable_offset().unwrap_or(i64::MAX), Ordering::Release);
        }
        let info = AppendInfo {
            first_offset,
            last_offset: next - 1,
            log_append_time: if lat { now } else { -1 },
            log_start_offset: self.log_start.load(Ordering::Acquire),
            max_timestamp: max_ts,
            record_count,
            bytes: records.len(),
            duplicate: false,
        };
        drop(_w);
        self.want_attention();
        if let FlushPolicy::Interval { messages, .. } = cfg.flush {
            if next - self.flushed_offset() >= messages.max(1) {
                self.flush()?;
            }
        }
        Ok(info)
    }

    fn should_roll(&self, seg: &Segment, cfg: &LogConfig, bytes: u64, last_offset: i64, now: i64) -> bool {
        let size = seg.size();
        if size == 0 {
            return false;
        }
        size + bytes > cfg.segment_bytes
            || seg.index_full()
            || last_offset - seg.base_offset > i32::MAX as i64
            || seg.meta().rolling_ts.is_some_and(|t| now - t > cfg.segment_ms)
    }

    /// Seals the active segment and starts a new one at the log end. Caller holds
    /// the write lock.
    pub(crate) fn roll_locked(&self, cfg: &LogConfig) -> Result<()> {
        let active = self.active();
        if active.size() == 0 {
            return Ok(());
        }
        let base = self.log_end.load(Ordering::Acquire);
        self.snapshot_producers(cfg, base)?;
        let entries = (cfg.offset_index_entries(), cfg.time_index_entries());
        let seg = Segment::create_in(&self.dir, base, entries, self.pool.as_deref())?;
        active.seal()?;
        self.segments.write().insert(base, Arc::new(seg));
        self.dir_dirty.store(true, Ordering::Release);
        // The sealed segment was trimmed: the background pass syncs it (sync_trimmed).
        self.want_attention();
        tracing::debug!(dir = %self.dir.display(), base, "rolled segment");
        Ok(())
    }

    /// Rolls the active segment now (no-op when it is empty).
    pub fn roll(&self) -> Result<()> {
        let _w = self.write_lock.lock();
        self.check_open()?;
        let cfg = self.config();
        self.roll_locked(&cfg)
    }

    /// Rolls if the active segment is older than `segment.ms` (background thread).
    pub fn maybe_roll_by_time(&self) -> Result<bool> {
        let _w = self.write_lock.lock();
        self.check_open()?;
        let cfg = self.config();
        let active = self.active();
        let now = self.clock.now_ms();
        if active.size() > 0 && active.meta().rolling_ts.is_some_and(|t| now - t > cfg.segment_ms) {
            self.roll_locked(&cfg).inspect_err(|e| self.offline_after(WriteOp::Roll, e))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Whole batches from the one containing `offset`, bounded by `max_bytes` (the
    /// first batch whole when `min_one`). Zero-copy.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadInfo> {
        self.check_failed()?;
        let log_end = self.log_end.load(Ordering::Acquire);
        let log_start = self.log_start.load(Ordering::Acquire);
        if offset < log_start || offset > log_end {
            return Err(StorageError::OffsetOutOfRange { offset, log_start, log_end });
        }
        let mut info = ReadInfo { records: Bytes::new(), log_start_offset: log_start, log_end_offset: log_end };
        if offset == log_end {
            return Ok(info);
        }
        let mut key = {
            let segs = self.segments.read();
            segs.range(..=offset).next_back().or_else(|| segs.iter().next()).map(|(k, _)| *k)
        };
        while let Some(k) = key {
            let (seg, next) = {
                let segs = self.segments.read();
                let mut it = segs.range(k..);
                let seg = it.next().map(|(_, s)| s.clone());
                (seg, it.next().map(|(k, _)| *k))
            };
            let Some(seg) = seg else { break };
            if let Some(b) = seg.read(offset, max_bytes, min_one)? {
                info.records = b;
                return Ok(info);
            }
            key = next;
        }
        Ok(info)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log_end.load(Ordering::Acquire)
    }

    pub(crate) fn segment_list(&self) -> Vec<Arc<Segment>> {
        self.segments.read().values().cloned().collect()
    }

    /// First offset (>= log start) whose record timestamp >= `ts`.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<TimestampOffset>> {
        let start = self.log_start_offset();
        for seg in self.segment_list() {
            if seg.next_offset() <= start || seg.max_timestamp() < ts {
                continue;
            }
            if let Some(r) = seg.find_offset_by_timestamp(ts, start)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (ListOffsets MAX_TIMESTAMP).
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        let mut best: Option<(i64, Arc<Segment>)> = None;
        for seg in self.segment_list() {
            let m = seg.meta();
            if m.max_ts_offset >= 0 && best.as_ref().is_none_or(|(t, _)| *t < m.max_ts) {
                best = Some((m.max_ts, seg));
            }
        }
        best.and_then(|(_, s)| s.max_timestamp_record().ok().flatten())
    }

    /// Removes every batch with last offset >= `offset` (batch granularity). Below
    /// the log start offset the log is emptied and restarted at `offset`.
    pub fn truncate_to(&self, offset: i64) -> Result<()> {
        let _w = self.write_lock.lock();
        self.check_open()?;
        crate::recovery::truncate_log_locked(self, offset)
    }

    pub(crate) fn set_offsets_after_truncate(&self, log_start: i64, log_end: i64) -> Result<()> {
        if log_start != self.log_start_offset() {
            self.set_log_start(log_start)?;
        }
        self.log_end.store(log_end, Ordering::Release);
        {
            let mut st = self.flush.lock();
            st.flushed = st.flushed.min(log_end);
            st.generation = st.generation.wrapping_add(1);
        }
        self.dir_dirty.store(true, Ordering::Release);
        // Truncated batches may have been producers' latest: rebuild from the log.
        self.load_producer_state()
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.read().values().map(|s| s.size()).sum()
    }
    pub fn segment_count(&self) -> usize {
        self.segments.read().len()
    }
    /// Base offsets of all segments (for tests and tooling).
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.read().keys().copied().collect()
    }

    /// Flushes, trims the indexes and marks the log closed.
    pub fn close(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.flush()?;
        let _w = self.write_lock.lock();
        let cfg = self.config();
        self.snapshot_producers(&cfg, self.log_end.load(Ordering::Acquire))?;
        for s in self.segment_list() {
            s.seal()?;
            if s.trim_unsynced() {
                s.sync()?;
            }
            s.sync_indexes()?;
        }
        crate::recovery::fsync_dir(&self.dir)?;
        self.closed.store(true, Ordering::Release);
        Ok(())
    }

    /// Empties a closed log's segment list and returns the segments (a deleted
    /// partition's files go to the segment pool).
    pub(crate) fn take_segments(&self) -> Vec<Arc<Segment>> {
        debug_assert!(self.is_closed());
        let _w = self.write_lock.lock();
        std::mem::take(&mut *self.segments.write()).into_values().collect()
    }

    /// Runs a compaction pass now, ignoring `min.cleanable.dirty.ratio` (the
    /// background cleaner honours it). None when the policy is not `compact` or
    /// there is nothing to clean.
    pub fn compact(&self) -> Result<Option<crate::cleaner::CleanStats>> {
        crate::cleaner::clean(self, true)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
pub(crate) mod tests;

#[cfg(test)]
#[path = "log_append_at_tests.rs"]
mod append_at_tests;

#[path = "log_txn.rs"]
mod txn_state;
