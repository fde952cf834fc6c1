//! Completing a transaction: Prepare* written, then a marker into each of its
//! partitions, then Complete* (see the module doc of [`super`]). A completion
//! that fails part way is retried (at start-up and by the tick) with only the
//! partitions not yet marked.

use std::collections::BTreeSet;

use weir_storage::ControlType;

use super::{TxnCoordinator, TxnState, TxnValue};
use crate::error::{BrokerError, TxnError};

impl TxnCoordinator {
    /// Prepare, markers, complete (see the module doc). `v` holds the epoch the
    /// markers carry.
    pub(super) fn write_markers_and_complete(
        &self,
        id: &str,
        mut v: TxnValue,
        commit: bool,
    ) -> Result<TxnValue, TxnError> {
        let now = self.now();
        v.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        v.last_update_ms = now;
        self.persist(id, Some(&v))?;
        self.complete(id, v)
    }

    /// A prepared transaction's markers, then its completion. Retried after a
    /// failure (at start-up and on each tick) with only the partitions not yet
    /// marked (remembered in memory: after a restart all are marked again, and
    /// a second marker closes nothing, its producer having no open transaction
    /// there any more, and changes nothing for readers).
    pub(super) fn complete(&self, id: &str, mut v: TxnValue) -> Result<TxnValue, TxnError> {
        let commit = v.state == TxnState::PrepareCommit;
        let kind = if commit { ControlType::Commit } else { ControlType::Abort };
        // Partitions a failed attempt of this very transaction (producer id and
        // epoch) already marked, on disk: not marked again on each retry.
        let key = (v.producer_id, v.producer_epoch);
        let mut done: BTreeSet<(String, i32)> = match self.marked.lock().remove(id) {
            Some((k, set)) if k == key => set,
            _ => BTreeSet::new(),
        };
        let result = self.write_markers(id, &v, kind, &mut done);
        if let Err(e) = result {
            self.marked.lock().insert(id.to_string(), (key, done));
            return Err(e);
        }
        v.state = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        v.partitions.clear();
        v.last_update_ms = self.now();
        if let Err(e) = self.persist(id, Some(&v)) {
            self.marked.lock().insert(id.to_string(), (key, done));
            return Err(e);
        }
        tracing::debug!(transactional.id = %id, producer.id = v.producer_id, commit, "transaction complete");
        Ok(v)
    }

    /// Writes the markers of `v`'s partitions not in `done`, adding each one
    /// on disk to it. Every marker is appended and its writeback started before
    /// the first fdatasync, so the partitions' syncs overlap rather than follow
    /// one another; after a failed append, those appended before it are still
    /// synced (and count as done).
    fn write_markers(
        &self,
        id: &str,
        v: &TxnValue,
        kind: ControlType,
        done: &mut BTreeSet<(String, i32)>,
    ) -> Result<(), TxnError> {
        let failed = |topic: &str, partition: i32, e: BrokerError| {
            tracing::error!(transactional.id = %id, %topic, partition, error = %e, "could not write a transaction marker");
            TxnError::CoordinatorNotAvailable
        };
        let mut appended = Vec::with_capacity(v.partitions.len());
        let mut first_error = None;
        let todo: Vec<&(String, i32)> = v.partitions.iter().filter(|tp| !done.contains(*tp)).collect();
        for (topic, partition) in todo {
            #[cfg(test)]
            if self.fail_marker.lock().as_ref().is_some_and(|(t, p)| t == topic && p == partition) {
                first_error = Some(TxnError::CoordinatorNotAvailable);
                break;
            }
            if topic == crate::group::store::OFFSETS_TOPIC {
                match self.groups.write_marker(*partition, kind, v.producer_id, v.producer_epoch) {
                    Ok(()) => {
                        done.insert((topic.clone(), *partition));
                        continue;
                    }
                    Err(e) => {
                        first_error = Some(failed(topic, *partition, e));
                        break;
                    }
                }
            }
            // A deleted topic has nothing left to mark.
            let Some(p) = self.partitions.get(topic, *partition).filter(|p| !p.is_removed()) else { continue };
            match p.append_control(kind, v.producer_id, v.producer_epoch, 0) {
                Ok(info) => appended.push((p, info.last_offset + 1, topic, *partition)),
                Err(e) => {
                    first_error = Some(failed(topic, *partition, e.into()));
                    break;
                }
            }
        }
        for (p, ..) in &appended {
            p.start_flush();
        }
        for (p, end, topic, partition) in appended {
            match p.flush_to(end) {
                Ok(()) => {
                    done.insert((topic.clone(), partition));
                }
                Err(e) => {
                    let e = failed(topic, partition, e.into());
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
