//! The transaction states and every transactional id's metadata, as a state
//! machine over `__transaction_state`: the coordinator computes a new value,
//! writes it (fsync) and the fold applies it, so memory never runs ahead of the log.
//!
//! Transitions (Kafka's): Empty → Ongoing (AddPartitionsToTxn / AddOffsetsToTxn);
//! Ongoing → PrepareCommit | PrepareAbort (EndTxn, or the coordinator aborting on
//! timeout or fencing) → CompleteCommit | CompleteAbort once every marker is on
//! disk; Complete* → Ongoing (next transaction) or Empty (InitProducerId);
//! Empty | Complete* → Dead (expired id, tombstone).

use std::collections::HashMap;

use super::records::{decode_key, TxnValue};
use crate::internal::{KeyValue, StateMachine};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub fn code(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_code(c: i8) -> Option<TxnState> {
        Some(match c {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// Kafka's name (DescribeTransactions, ListTransactions' state filter).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Markers are being written: other operations wait (CONCURRENT_TRANSACTIONS).
    pub fn is_completing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence)
    }
}

#[derive(Default)]
pub struct TxnStates {
    pub(super) by_id: HashMap<String, TxnValue>,
    /// Producer id -> transactional id.
    pub(super) by_producer: HashMap<i64, String>,
}

impl StateMachine for TxnStates {
    fn apply(&mut self, partition: i32, r: &KeyValue) {
        let Some(key) = r.key.as_deref() else { return };
        let id = match decode_key(key) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(partition, offset = r.offset, error = %e.0, "skipping an undecodable transaction log key");
                return;
            }
        };
        match r.value.as_deref().map(TxnValue::decode) {
            Some(Ok(v)) => {
                if let Some(old) = self.by_id.get(&id) {
                    if old.producer_id != v.producer_id {
                        self.by_producer.remove(&old.producer_id);
                    }
                }
                self.by_producer.insert(v.producer_id, id.clone());
                self.by_id.insert(id, v);
            }
            Some(Err(e)) => {
                tracing::warn!(partition, offset = r.offset, error = %e.0, "skipping an undecodable transaction log value")
            }
            None => {
                if let Some(old) = self.by_id.remove(&id) {
                    self.by_producer.remove(&old.producer_id);
                }
            }
        }
    }
}
