//! Producer state of a [`Log`] (idempotence and open transactions): snapshots
//! beside the log, and the rebuild from batch headers after the snapshot offset,
//! which also restores aborted-transaction index entries a crash lost.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::batch::BatchHeader;
use crate::config::LogConfig;
use crate::error::Result;
use crate::log::Log;
use crate::producer::ProducerState;

impl Log {
    /// Every producer this partition remembers, by id.
    pub fn active_producers(&self) -> Vec<crate::producer::ProducerSummary> {
        self.producers.lock().summaries()
    }

    /// Number of idempotent producers this partition remembers.
    pub fn producer_count(&self) -> usize {
        self.producers.lock().len()
    }

    pub(crate) fn snapshot_producers(&self, cfg: &LogConfig, offset: i64) -> Result<()> {
        let mut p = self.producers.lock();
        p.expire(self.clock.now_ms(), cfg.producer_id_expiration_ms);
        p.write_snapshot(&self.dir, offset)
    }

    /// Loads the producer snapshot and replays batch headers after it (or the whole
    /// log when there is no usable snapshot).
    pub(crate) fn load_producer_state(&self) -> Result<()> {
        let end = self.log_end.load(Ordering::Acquire);
        let first = self.segments.read().keys().next().copied().unwrap_or(0);
        let (mut state, from) = match ProducerState::read_snapshot(&self.dir) {
            Some((s, offset)) if offset <= end => (s, offset.max(first)),
            Some((_, offset)) => {
                // Past the end (the log was cut below it): it describes batches
                // that are gone, and once the log grows past it again it would
                // be taken for true. Removed, as Kafka's `truncateAndReload`
                // removes it.
                let path = self.dir.join(crate::producer::SNAPSHOT_FILE);
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), offset, end, error = %e, "could not remove a producer snapshot past the log end");
                }
                self.dir_dirty.store(true, Ordering::Release);
                (ProducerState::default(), first)
            }
            None => (ProducerState::default(), first),
        };
        let mut offset = from;
        while offset < end {
            let chunk = match self.read_unchecked(offset, 1 << 20) {
                Some(b) if !b.is_empty() => b,
                _ => break,
            };
            let mut pos = 0;
            let before = offset;
            while pos + crate::batch::HEADER_LEN <= chunk.len() {
                let Ok(h) = BatchHeader::parse(&chunk[pos..]) else { break };
                if h.last_offset() >= offset {
                    let control = crate::txn::control_type(&h, &chunk[pos..]);
                    if let Some(t) = state.update(&h, h.base_offset, h.max_timestamp, control).filter(|t| t.aborted) {
                        let lso = state.first_unstable_offset().unwrap_or(t.last_offset + 1);
                        let seg = self.segments.read().range(..=t.last_offset).next_back().map(|(_, s)| s.clone());
                        if let Some(seg) = seg {
                            seg.txn.append(crate::txn::AbortedTxn {
                                producer_id: t.producer_id,
                                first_offset: t.first_offset,
                                last_offset: t.last_offset,
                                last_stable_offset: lso,
                            })?;
                        }
                    }
                }
                offset = offset.max(h.next_offset());
                pos += h.total_len();
            }
            if offset == before {
                break;
            }
        }
        self.unstable.store(state.first_unstable_offset().unwrap_or(i64::MAX), Ordering::Release);
        *self.producers.lock() = state;
        Ok(())
    }

    /// `read` without the log-start check (replay may start below it).
    fn read_unchecked(&self, offset: i64, max_bytes: usize) -> Option<Bytes> {
        let seg = {
            let segs = self.segments.read();
            segs.range(..=offset).next_back().map(|(_, s)| s.clone())
        }?;
        match seg.read(offset, max_bytes, true) {
            Ok(Some(b)) if !b.is_empty() => Some(b),
            _ => {
                // Past this segment's end: continue in the next one.
                let next = self.segments.read().range(offset + 1..).next().map(|(_, s)| s.clone())?;
                next.read(next.base_offset, max_bytes, true).ok().flatten()
            }
        }
    }
}
