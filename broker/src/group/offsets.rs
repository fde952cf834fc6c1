//! Committed offsets: OffsetCommit (member commits with generation or member-epoch
//! checks, and simple commits by non-members to groups without members),
//! OffsetFetch, OffsetDelete and `offsets.retention.minutes`. Every change is a
//! record in `__consumer_offsets`, applied once it is on disk.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::records::{Key, OffsetValue};
use super::state::{Group, GroupState};
use super::{unknown_member, Coordinator};
use crate::error::GroupError;

/// A committed offset as OffsetFetch returns it.
pub type CommittedOffset = OffsetValue;

#[derive(Clone, Debug)]
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

pub struct CommitRequest {
    pub group: String,
    /// The classic generation, or the KIP-848 member epoch; -1 for simple commits.
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub offsets: Vec<OffsetToCommit>,
}

/// Per partition: committed, or why not.
pub type PartitionResults = Vec<Result<(), GroupError>>;

impl Coordinator {
    /// Checks the committer, then commits every partition that exists.
    pub async fn commit(&self, req: CommitRequest) -> Result<PartitionResults, GroupError> {
        let now = self.now();
        {
            let mut groups = self.store.lock();
            if !groups.contains_key(&req.group) && req.generation >= 0 {
                // Only a commit without a generation creates a (simple) group; the
                // API layer answers ILLEGAL_GENERATION to versions before 9.
                return Err(GroupError::GroupIdNotFound(format!("The group {} does not exist.", req.group)));
            }
            let g = groups.entry(req.group.clone()).or_insert_with(|| Group::new(&req.group, now));
            // Kafka's rule: a commit with generation (or member epoch) -1 comes from
            // a client outside group management (manual assign, admin tools); it
            // is accepted while the group has no members, whatever member id it names.
            let simple = req.generation < 0;
            if let Some(cg) = &g.consumer {
                if !(simple && cg.members.is_empty()) {
                    super::consumer_ops::check_member_epoch(cg, &req.member_id, req.generation)?;
                }
            } else if !(simple && g.members.is_empty()) {
                if req.generation >= 0 || !req.member_id.is_empty() || req.instance_id.is_some() {
                    super::membership::validate_classic_member(g, &req.member_id, req.instance_id.as_deref())?;
                    if req.generation != g.generation {
                        return Err(GroupError::IllegalGeneration);
                    }
                } else {
                    return Err(unknown_member(&req.member_id));
                }
                // Members learn the generation from JoinGroup before SyncGroup ends;
                // a commit then is retried after the rebalance. While the group only
                // prepares a rebalance, a member of the current generation commits.
                if g.state == GroupState::CompletingRebalance {
                    return Err(GroupError::RebalanceInProgress);
                }
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    m.last_heartbeat = now;
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
                records.push((key, Some(v.encode())));
            }
        }
        if let Err(e) = self.write(&req.group, records).await {
            tracing::error!(group = %req.group, error = %e, "offset commit failed");
            return Err(GroupError::CoordinatorNotAvailable);
        }
        Ok(results)
    }

    /// OffsetFetch v9+ from a consumer-group member: it must be in the group at the
    /// epoch it names. Other callers (admin tools, classic members) pass no member.
    pub fn check_fetch_member(&self, group: &str, member_id: &str, epoch: i32) -> Result<(), GroupError> {
        let groups = self.store.lock();
        match groups.get(group).and_then(|g| g.consumer.as_ref()) {
            Some(cg) => super::consumer_ops::check_member_epoch(cg, member_id, epoch),
            None => Ok(()),
        }
    }

    /// Committed offsets; `topics` None means every committed partition of the group.
    #[allow(clippy::type_complexity)]
    pub fn fetch_offsets(
        &self,
        group: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<(i32, Option<CommittedOffset>)>)> {
        let groups = self.store.lock();
        let offsets = groups.get(group).map(|g| &g.offsets);
        match topics {
            Some(list) => list
                .into_iter()
                .map(|(t, parts)| {
                    let ps =
                        parts.into_iter().map(|p| (p, offsets.and_then(|o| o.get(&(t.clone(), p)).cloned()))).collect();
                    (t, ps)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<CommittedOffset>)>> = BTreeMap::new();
                for ((t, p), v) in offsets.into_iter().flatten() {
                    by_topic.entry(t.clone()).or_default().push((*p, Some(v.clone())));
                }
                by_topic.into_iter().collect()
            }
        }
    }

    /// OffsetDelete: refuses partitions of topics the live group is subscribed to.
    /// `subscribed(metadata, topic)` reads a classic member's subscription.
    pub async fn delete_offsets(
        self: &Arc<Self>,
        group: &str,
        partitions: Vec<(String, i32)>,
        subscribed: impl Fn(&Bytes, &str) -> bool,
    ) -> Result<PartitionResults, GroupError> {
        let (results, keys) = {
            let groups = self.store.lock();
            let Some(g) = groups.get(group) else {
                return Err(GroupError::GroupIdNotFound(format!("Group {group} does not exist.")));
            };
            let protocol = g.protocol.clone().unwrap_or_default();
            let active = g.state != GroupState::Empty && g.protocol_type.as_deref() == Some("consumer");
            let consumer_subscribed = |t: &str| {
                g.consumer.as_ref().is_some_and(|cg| {
                    cg.members.values().any(|m| {
                        m.topic_names.iter().any(|n| n == t) || m.compiled.as_ref().is_some_and(|re| re.is_match(t))
                    })
                })
            };
            let mut results = Vec::new();
            let mut keys = Vec::new();
            for (t, p) in &partitions {
                if consumer_subscribed(t)
                    || active && g.members.values().any(|m| subscribed(&m.metadata_for(&protocol), t))
                {
                    results.push(Err(GroupError::GroupSubscribedToTopic));
                } else {
                    results.push(Ok(()));
                    if g.offsets.contains_key(&(t.clone(), *p)) {
                        keys.push((Key::Offset { group: group.to_string(), topic: t.clone(), partition: *p }, None));
                    }
                }
            }
            (results, keys)
        };
        self.write(group, keys).await.map_err(|_| GroupError::CoordinatorNotAvailable)?;
        Ok(results)
    }

    /// `offsets.retention.minutes`: offsets of groups that have been empty that long
    /// go, and the group with them when none is left.
    pub(super) async fn expire_offsets(&self) {
        let now = self.now();
        let retention = self.cfg.offsets_retention_ms;
        let expired_keys = |g: &Group| -> Vec<Key> {
            if g.state != GroupState::Empty || g.has_members() || g.state_timestamp + retention > now {
                return Vec::new();
            }
            let mut keys: Vec<Key> = g
                .offsets
                .iter()
                .filter(|(_, v)| v.commit_timestamp + retention <= now)
                .map(|((t, p), _)| Key::Offset { group: g.id.clone(), topic: t.clone(), partition: *p })
                .collect();
            if keys.len() == g.offsets.len() {
                keys.push(Key::Group { group: g.id.clone() });
            }
            keys
        };
        let candidates: Vec<String> = {
            let groups = self.store.lock();
            groups.values().filter(|g| !expired_keys(g).is_empty()).map(|g| g.id.clone()).collect()
        };
        for group in candidates {
            // Checked again in the group's turn, so that no consumer-protocol member
            // joins between the check and the tombstones.
            let _turn = self.consumer_turn(&group).await;
            let keys = self.store.lock().get(&group).map(expired_keys).unwrap_or_default();
            if keys.is_empty() {
                continue;
            }
            match self.write(&group, keys.into_iter().map(|k| (k, None)).collect()).await {
                Ok(()) => tracing::info!(%group, "expired committed offsets of an empty group"),
                Err(e) => tracing::warn!(%group, error = %e, "could not expire offsets"),
            }
            // A consumer group that went with its offsets: its own records go too.
            if let Err(e) = self.persist_consumer_in_turn(&group, None).await {
                tracing::warn!(%group, error = %e, "could not remove the consumer group's records");
            }
        }
    }
}
