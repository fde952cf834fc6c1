//! Transactional offset commits (TxnOffsetCommit): the offsets are written into
//! the group's `__consumer_offsets` partition as a transaction's records (the
//! producer's id and epoch), held by the state until the transaction coordinator's
//! marker lands there, then applied (commit) or dropped (abort).

use weir_storage::ControlType;

use super::join::fenced;
use super::offsets::{OffsetToCommit, PartitionResults};
use super::records::{Key, OffsetValue};
use super::state::{Group, GroupState};
use super::{unknown_member, Coordinator};
use crate::error::{BrokerError, GroupError};
use crate::internal::Writer;

pub struct TxnCommitRequest {
    pub group: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The classic generation or member epoch; -1 with an empty member id: no
    /// membership check (a producer outside the group, as Kafka allows).
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub offsets: Vec<OffsetToCommit>,
}

impl Coordinator {
    /// Writes a transaction marker into a `__consumer_offsets` partition and
    /// applies it (the transaction coordinator's EndTxn). Blocking.
    pub(crate) fn write_marker(
        &self,
        partition: i32,
        kind: ControlType,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(), BrokerError> {
        self.store.write_marker(partition, kind, producer_id, epoch)
    }

    /// Whether an open transaction holds an offset of `group` for the partition.
    pub fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.store.lock().has_pending(group, topic, partition)
    }

    /// TxnOffsetCommit: checks the committer as OffsetCommit does, then writes the
    /// offsets as part of the producer's transaction.
    pub async fn txn_commit(&self, req: TxnCommitRequest) -> Result<PartitionResults, GroupError> {
        let now = self.now();
        {
            let mut groups = self.store.lock();
            let g = groups.entry(req.group.clone()).or_insert_with(|| Group::new(&req.group, now));
            let unchecked = req.generation < 0 && req.member_id.is_empty();
            if let Some(cg) = &g.consumer {
                if !unchecked {
                    super::consumer_ops::check_member_epoch(cg, &req.member_id, req.generation)?;
                }
            } else if !unchecked && !g.members.is_empty() {
                if g.state == GroupState::CompletingRebalance {
                    return Err(GroupError::RebalanceInProgress);
                }
                let Some(m) = g.members.get(&req.member_id) else { return Err(unknown_member(&req.member_id)) };
                if let Some(inst) = &req.instance_id {
                    if m.instance_id.as_deref() != Some(inst.as_str()) {
                        return Err(fenced(inst));
                    }
                }
                if req.generation != g.generation {
                    return Err(GroupError::IllegalGeneration);
                }
            }
        }
        let mut results = Vec::with_capacity(req.offsets.len());
        let mut records = Vec::new();
        for o in req.offsets {
            let metadata = o.metadata.unwrap_or_default();
            if !self.meta.topic(&o.topic).is_some_and(|t| o.partition >= 0 && o.partition < t.partitions) {
                results.push(Err(GroupError::UnknownTopicOrPartition));
            } else if metadata.len() > self.cfg.offset_metadata_max_bytes {
                results.push(Err(GroupError::OffsetMetadataTooLarge));
            } else {
                results.push(Ok(()));
                let v = OffsetValue {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata,
                    commit_timestamp: now,
                    expire_timestamp: -1,
                };
                let key = Key::Offset { group: req.group.clone(), topic: o.topic, partition: o.partition };
                records.push((Some(key.encode()), Some(v.encode())));
            }
        }
        if !records.is_empty() {
            let me = self.arc();
            let partition = self.partition_for(&req.group);
            let writer = Writer::Transaction { producer_id: req.producer_id, epoch: req.producer_epoch };
            let written = crate::blocking(move || me.store.write_as(partition, records, writer)).await;
            if let Err(e) = written {
                tracing::error!(group = %req.group, error = %e, "transactional offset commit failed");
                return Err(match e {
                    BrokerError::Storage(weir_storage::StorageError::InvalidProducerEpoch { .. }) => {
                        GroupError::ProducerFenced
                    }
                    _ => GroupError::CoordinatorNotAvailable,
                });
            }
        }
        Ok(results)
    }
}
