//! Retention (`retention.ms`, `retention.bytes`) and DeleteRecords: both move the
//! log start offset and delete whole closed segments from the front of the log.

use std::sync::atomic::Ordering;

use crate::error::{Result, StorageError};
use crate::log::{Log, LOG_START_FILE};
use crate::segment::Segment;

impl Log {
    pub(crate) fn set_log_start(&self, offset: i64) -> Result<()> {
        crate::recovery::write_offset_file(&self.dir, LOG_START_FILE, offset)?;
        self.log_start.store(offset, Ordering::Release);
        Ok(())
    }

    /// DeleteRecords: moves the log start offset up (persisted) and deletes segments
    /// wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        let _w = self.write_lock.lock();
        self.check_open()?;
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset > end || offset < 0 {
            return Err(StorageError::OffsetOutOfRange { offset, log_start: start, log_end: end });
        }
        if offset > start {
            self.set_log_start(offset)?;
            self.delete_prefix_locked(|_, _| false)?;
        }
        Ok(self.log_start_offset())
    }

    /// Deletes the longest prefix of closed segments for which `expired(segment,
    /// bytes remaining in the log)` holds or which lie wholly below the log start
    /// offset; then moves the log start offset to the first remaining segment.
    fn delete_prefix_locked(&self, mut expired: impl FnMut(&Segment, u64) -> bool) -> Result<usize> {
        let start = self.log_start_offset();
        let segs = self.segment_list();
        let mut remaining: u64 = segs.iter().map(|s| s.size()).sum();
        let mut doomed = Vec::new();
        for pair in segs.windows(2) {
            let (seg, next) = (&pair[0], &pair[1]);
            if next.base_offset <= start || expired(seg, remaining) {
                remaining -= seg.size();
                doomed.push(seg.clone());
            } else {
                break;
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        {
            let mut map = self.segments.write();
            for s in &doomed {
                map.remove(&s.base_offset);
            }
        }
        for s in &doomed {
            match &self.pool {
                Some(pool) if pool.retire(s.clone(), s.log_path()) => s.delete_index_files()?,
                _ => s.delete_files()?,
            }
        }
        let first = *self.segments.read().keys().next().expect("active remains");
        if first > start {
            self.set_log_start(first)?;
        }
        tracing::info!(dir = %self.dir.display(), count = doomed.len(), "deleted segments");
        Ok(doomed.len())
    }

    /// Retention by `retention.ms` (segment max timestamp) and `retention.bytes`;
    /// deletes whole closed segments only. Returns the number deleted.
    pub fn apply_retention(&self) -> Result<usize> {
        let _w = self.write_lock.lock();
        self.check_open()?;
        let cfg = self.config();
        let now = self.clock.now_ms();
        let delete = cfg.cleanup_policy.delete;
        self.delete_prefix_locked(|seg, remaining| {
            if !delete {
                return false;
            }
            let by_time = cfg.retention_ms >= 0 && now.saturating_sub(seg.largest_timestamp()) > cfg.retention_ms;
            let by_size = cfg.retention_bytes >= 0
                && remaining.saturating_sub(seg.size()) >= cfg.retention_bytes as u64
                && remaining > cfg.retention_bytes as u64;
            by_time || by_size
        })
    }
}
