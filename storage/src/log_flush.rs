//! Durability of a [`Log`]: group commit (`flush_to`), the page-cache policy's
//! interval flushes and writeback, and taking a log offline after an I/O error
//! that leaves its state on disk unknown (any failed fdatasync among them).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::config::FlushPolicy;
use crate::error::{Result, StorageError};
use crate::log::{Log, WRITEBACK_EVERY};

impl Log {
    pub(crate) fn check_failed(&self) -> Result<()> {
        if self.offline.load(Ordering::Acquire) {
            return Err(StorageError::Offline { path: self.dir.clone() });
        }
        Ok(())
    }

    /// Whether an I/O error took the log offline (see [`Log::offline`]).
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Takes the log offline after `e` from `op`, unless `e` leaves the log as
    /// it was and may pass (see [`takes_offline`]).
    pub(crate) fn offline_after(&self, op: WriteOp, e: &StorageError) {
        if takes_offline(op, e) && !self.offline.swap(true, Ordering::AcqRel) {
            tracing::error!(dir = %self.dir.display(), op = op.name(), error = %e,
                "log offline after an I/O error: its produce and fetch requests fail until the broker restarts and recovers it");
            metrics::counter!("weir_log_offline_total").increment(1);
        }
    }
}

/// The writes whose failure may take a log offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteOp {
    Append,
    Roll,
    AbortedTxnIndex,
    Fdatasync,
}

impl WriteOp {
    fn name(self) -> &'static str {
        match self {
            WriteOp::Append => "append",
            WriteOp::Roll => "roll",
            WriteOp::AbortedTxnIndex => "aborted transaction index append",
            WriteOp::Fdatasync => "fdatasync",
        }
    }
}

/// Whether an error from `op` leaves the log's state on disk unknown.
fn takes_offline(op: WriteOp, e: &StorageError) -> bool {
    match e {
        // After a failed fdatasync the page cache may have dropped the pages it
        // could not write, whatever the errno.
        StorageError::Io { .. } | StorageError::DiskFull { .. } if op == WriteOp::Fdatasync => true,
        // Out of space, or over the process's file-size limit: the write was cut
        // back and the log is as it was; writes resume when there is room.
        StorageError::Io { source, .. } => source.raw_os_error() != Some(libc::EFBIG),
        _ => false,
    }
}

/// The logs the owner's background pass (every 50 ms) looks at next: those
/// appended to or rolled since its last pass, and those whose interval flush may
/// come due by age alone. A log is in the queue at most once (`Log::queued`). An
/// idle partition costs the pass nothing: visiting every log on every pass cost
/// a broker with 10,000 partitions about a tenth of a core, idle or not.
#[derive(Default)]
pub(crate) struct Attention(Mutex<Vec<Weak<Log>>>);

impl Attention {
    /// The queued logs that still exist, each marked as no longer queued: an
    /// append from here on queues its log again.
    pub(crate) fn take(&self) -> Vec<Arc<Log>> {
        let queued = std::mem::take(&mut *self.0.lock());
        let logs: Vec<Arc<Log>> = queued.iter().filter_map(Weak::upgrade).collect();
        for log in &logs {
            // A read-modify-write, as in `want_attention`: an appender either sees
            // `false` and queues the log again, or its append is visible to the pass.
            log.queued.swap(false, Ordering::AcqRel);
        }
        logs
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().len()
    }
}

impl Log {
    /// Joins `queue`, and is looked at on its next pass.
    pub(crate) fn attach(self: &Arc<Self>, queue: Arc<Attention>) {
        if self.attention.set((queue, Arc::downgrade(self))).is_ok() {
            self.want_attention();
        }
    }

    /// Asks the owner's background pass to look at this log (after an append, a
    /// roll, a configuration change). Without an owner (a log opened alone) it
    /// does nothing.
    pub(crate) fn want_attention(&self) {
        if let Some((queue, me)) = self.attention.get() {
            if !self.queued.swap(true, Ordering::AcqRel) {
                queue.0.lock().push(me.clone());
            }
        }
    }

    /// Whether an interval flush may come due with no further append: records
    /// not yet flushed and a finite `log.flush.interval.ms`.
    pub(crate) fn due_by_age(&self) -> bool {
        let FlushPolicy::Interval { ms, .. } = self.config.read().flush else {
            return false;
        };
        ms != i64::MAX && !self.is_closed() && self.log_end_offset() > self.flushed_offset()
    }

    /// Blocks until everything below `offset` is fdatasync'ed. Concurrent callers
    /// share one fdatasync (group commit): a caller arriving while a sync runs waits
    /// for it and syncs again only if its offset is still not covered.
    pub fn flush_to(&self, offset: i64) -> Result<()> {
        let mut st = self.flush.lock();
        loop {
            if self.is_offline() {
                drop(st);
                return self.check_failed();
            }
            // Clamp on every pass: a truncation may have lowered the log end below
            // `offset`, which would otherwise never be reached (endless fdatasyncs).
            if st.flushed >= offset.min(self.log_end_offset()) {
                return Ok(());
            }
            if st.in_progress {
                self.flush_cv.wait(&mut st);
                continue;
            }
            st.in_progress = true;
            let from = st.flushed;
            let generation = st.generation;
            drop(st);
            let target = self.log_end_offset();
            let res = self.sync_range(from);
            st = self.flush.lock();
            st.in_progress = false;
            match res {
                Ok(()) if st.generation != generation => {
                    // Truncated meanwhile: publish nothing; waiters sync again.
                }
                Ok(()) => {
                    st.flushed = st.flushed.max(target);
                    self.last_flush_ms.store(self.clock.now_ms(), Ordering::Release);
                }
                Err(e) => {
                    self.offline_after(WriteOp::Fdatasync, &e);
                    self.flush_cv.notify_all();
                    return Err(e);
                }
            }
            self.flush_cv.notify_all();
        }
    }

    fn sync_range(&self, from: i64) -> Result<()> {
        if self.dir_dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = crate::recovery::fsync_dir(&self.dir) {
                self.dir_dirty.store(true, Ordering::Release);
                return Err(e);
            }
        }
        // A trimmed recycled segment is synced even when its data already was: its
        // old length must not outlive a crash once later data is reported durable
        // (recovery would read past its end and drop every later segment).
        let segs: Vec<_> = self
            .segments
            .read()
            .values()
            .filter(|s| s.next_offset() > from || s.is_active() || s.trim_unsynced())
            .cloned()
            .collect();
        for s in segs {
            s.sync()?;
        }
        Ok(())
    }

    /// Starts writing out what was appended and is not yet durable, without waiting
    /// (sync_file_range). A caller that must make several logs durable starts them
    /// all, then calls [`Log::flush_to`] on each: the devices' writes overlap instead
    /// of following one another, fdatasync by fdatasync.
    pub fn start_flush(&self) {
        if self.is_offline() || self.flushed_offset() >= self.log_end_offset() {
            return;
        }
        self.active().start_writeback_to_end();
    }

    /// flush_to(log_end_offset).
    pub fn flush(&self) -> Result<()> {
        self.flush_to(self.log_end_offset())
    }

    /// Offset below which everything is durable.
    pub fn flushed_offset(&self) -> i64 {
        self.flush.lock().flushed
    }

    /// Interval policy check (background thread): flush when too many messages are
    /// unflushed or the last flush is too old.
    pub fn maybe_flush_interval(&self) -> Result<bool> {
        if self.is_closed() {
            return Ok(false);
        }
        let FlushPolicy::Interval { messages, ms } = self.config.read().flush else {
            return Ok(false);
        };
        let unflushed = self.log_end_offset() - self.flushed_offset();
        if unflushed <= 0 {
            return Ok(false);
        }
        let age = self.clock.now_ms() - self.last_flush_ms.load(Ordering::Acquire);
        if unflushed >= messages.max(1) || age >= ms {
            self.flush()?;
            return Ok(true);
        }
        // Here, on the background thread, not on the append path: starting
        // writeback can block while the device queue is full.
        self.active().start_writeback(WRITEBACK_EVERY);
        Ok(false)
    }

    /// fdatasyncs segments trimmed at a roll (background thread; page-cache mode has
    /// no flush that would).
    pub fn sync_trimmed(&self) -> Result<()> {
        for s in self.segment_list() {
            if s.trim_unsynced() {
                s.sync()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_errors_take_a_log_offline() {
        let io =
            |errno| StorageError::io("append", std::path::Path::new("/d"), std::io::Error::from_raw_os_error(errno));
        assert!(takes_offline(WriteOp::Append, &io(libc::EIO)));
        assert!(takes_offline(WriteOp::Roll, &io(libc::ENOENT)));
        assert!(!takes_offline(WriteOp::Append, &io(libc::ENOSPC)), "a full disk passes");
        assert!(!takes_offline(WriteOp::Append, &io(libc::EFBIG)), "so does the file-size limit");
        assert!(takes_offline(WriteOp::Fdatasync, &io(libc::ENOSPC)), "a failed fdatasync never does");
        assert!(!takes_offline(WriteOp::Append, &StorageError::InvalidRecord { reason: "x".into() }));
    }
}
