//! A log's transactions: markers appended, the last stable offset, and the
//! aborted transactions a read_committed fetch needs.

use super::*;

impl Log {
    /// Appends a transaction marker (commit or abort) for `producer_id`; it ends
    /// that producer's open transaction here. Blocking, like [`Log::append`].
    pub fn append_control(
        &self,
        kind: crate::txn::ControlType,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<AppendInfo> {
        let batch = crate::txn::control_batch(kind, producer_id, epoch, coordinator_epoch, self.clock.now_ms());
        self.append(&batch)
    }

    /// The first offset of the oldest open transaction; the last stable offset is
    /// this or, with none open, the log end.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        Some(self.unstable.load(Ordering::Acquire)).filter(|o| *o != i64::MAX)
    }

    /// Open transactions: (producer id, epoch, first offset), oldest first.
    pub fn open_transactions(&self) -> Vec<(i64, i16, i64)> {
        self.producers.lock().open_transactions()
    }

    /// Aborted transactions overlapping `[from, to)`: aborted before `to` began and
    /// not finished before `from` (what a read_committed fetch of that range needs).
    pub fn aborted_transactions(&self, from: i64, to: i64) -> Vec<crate::txn::AbortedTxn> {
        let mut out = Vec::new();
        // A marker lies in its segment but can abort data of earlier ones, so every
        // segment that has aborts is looked at; most logs have none at all.
        for s in self.segments.read().values() {
            s.txn.collect_overlapping(from, to, &mut out);
        }
        out.sort_by_key(|t| t.first_offset);
        out
    }
}
