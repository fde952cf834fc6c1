//! The share-offset admin operations (Kafka's AlterShareGroupOffsets and
//! DeleteShareGroupOffsets, `kafka-share-groups.sh --reset-offsets` and
//! `--delete-offsets`, and the console's reset), on a group without members:
//!
//! - setting starts: each named share-partition starts again at its offset with
//!   nothing in flight; a negative offset drops the share-partition's state, so
//!   its next fetch starts it by `share.auto.offset.reset`. The group is created
//!   (empty, epoch 0) when it does not exist, as Kafka creates it. Offsets are
//!   not checked against the log, as Kafka does not: a start below the log
//!   start moves up to it at the next fetch, one past the end waits for records.
//! - deleting a topic's state: every share-partition of the topic goes; a topic
//!   the group has no state for is reported, not an error of the call.
//!
//! Both write to `__share_group_state` before returning.
//!
//! The share-partitions of a deleted topic go too, as Kafka deletes their state:
//! the coordinator's tick looks for them whenever the metadata changed since its
//! last look (and once after a start, for topics deleted while it was down).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use uuid::Uuid;

use super::partition::SharePartition;
use super::store::{self, ShareKey, StateKey};
use super::{Result, ShareCoordinator, ShareError};

impl ShareCoordinator {
    /// Sets the starts of `group`'s share-partitions (topic id, partition,
    /// start); see the module docs. Refused while the group has members.
    pub async fn set_start_offsets(&self, group: &str, starts: &[(Uuid, i32, i64)]) -> Result<()> {
        let partition = self.store_partition(group);
        // In the group's turn throughout, memory changed only once the write is
        // done: a failed write changes nothing, and a first read of one of these
        // share-partitions (`prepare`, which takes the turn too) comes wholly
        // before or after.
        let _turn = self.writers[partition as usize].lock().await;
        let created = {
            let st = self.state.lock();
            match st.groups.get(group) {
                Some(g) if !g.members.is_empty() => return Err(ShareError::NotEmpty(group.to_string())),
                Some(_) => false,
                None => true,
            }
        };
        let mut entries: Vec<crate::internal::Entry> = Vec::with_capacity(starts.len() + 1);
        if created {
            entries.push((Some(StateKey::Group(group.to_string()).encode()), Some(store::encode_epoch(0))));
        }
        for &(topic_id, partition, start) in starts {
            let key = StateKey::Partition(ShareKey { group: group.to_string(), topic_id, partition }).encode();
            let value = (start >= 0).then(|| store::encode_snapshot(&SharePartition::new(start).snapshot()));
            entries.push((Some(key), value));
        }
        self.write(partition, entries).await?;
        let mut st = self.state.lock();
        if created {
            tracing::info!(group, "share group created by an offset reset");
            st.groups.entry(group.to_string()).or_default();
        }
        let gp = st.parts.entry(group.to_string()).or_default();
        for &(topic_id, partition, start) in starts {
            if start < 0 {
                gp.remove(&(topic_id, partition));
            } else {
                gp.insert((topic_id, partition), Arc::new(Mutex::new(SharePartition::new(start))));
            }
            tracing::info!(group, %topic_id, partition, start, "share-partition start offset set");
        }
        for &(topic_id, partition, _) in starts {
            st.pending.remove(&ShareKey { group: group.to_string(), topic_id, partition });
        }
        st.wake(group);
        Ok(())
    }

    /// Deletes the state of every share-partition of each topic for `group`;
    /// per topic, whether the group had any. Refused while the group has
    /// members.
    pub async fn delete_topic_states(&self, group: &str, topics: &[Uuid]) -> Result<Vec<bool>> {
        let partition = self.store_partition(group);
        let _turn = self.writers[partition as usize].lock().await;
        let (found, keys) = {
            let st = self.state.lock();
            let Some(g) = st.groups.get(group) else { return Err(ShareError::GroupNotFound(group.to_string())) };
            if !g.members.is_empty() {
                return Err(ShareError::NotEmpty(group.to_string()));
            }
            let mut keys = Vec::new();
            let found = topics
                .iter()
                .map(|t| {
                    let before = keys.len();
                    if let Some(gp) = st.parts.get(group) {
                        keys.extend(gp.keys().filter(|(id, _)| id == t).map(|&(topic_id, partition)| ShareKey {
                            group: group.to_string(),
                            topic_id,
                            partition,
                        }));
                    }
                    keys.len() > before
                })
                .collect();
            (found, keys)
        };
        self.erase(partition, &keys).await?;
        Ok(found)
    }

    /// Drops the share-partitions of topics that no longer exist (module docs).
    pub(super) async fn sweep_deleted_topics(&self) {
        let at = self.meta.end_offset();
        if self.metadata_seen.swap(at, Ordering::Relaxed) == at {
            return;
        }
        let gone: BTreeMap<String, Vec<ShareKey>> = {
            let st = self.state.lock();
            let mut exists: HashMap<Uuid, bool> = HashMap::new();
            let mut gone: BTreeMap<String, Vec<ShareKey>> = BTreeMap::new();
            for (group, gp) in &st.parts {
                for &(topic_id, partition) in gp.keys() {
                    if !*exists.entry(topic_id).or_insert_with(|| self.meta.topic_by_id(&topic_id).is_some()) {
                        gone.entry(group.clone()).or_default().push(ShareKey {
                            group: group.clone(),
                            topic_id,
                            partition,
                        });
                    }
                }
            }
            gone
        };
        for (group, keys) in gone {
            let partition = self.store_partition(&group);
            let _turn = self.writers[partition as usize].lock().await;
            match self.erase(partition, &keys).await {
                Ok(()) => {
                    tracing::info!(
                        group,
                        share_partitions = keys.len(),
                        "state of a deleted topic's share-partitions deleted"
                    )
                }
                Err(e) => {
                    // Looked for again at the next tick.
                    self.metadata_seen.store(-1, Ordering::Relaxed);
                    tracing::error!(group, error = %e, "could not delete the state of a deleted topic's share-partitions");
                }
            }
        }
    }

    /// Writes tombstones for `keys` (the caller holds their partition's turn),
    /// then drops them from memory.
    async fn erase(&self, partition: i32, keys: &[ShareKey]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let entries = keys.iter().map(|k| (Some(StateKey::Partition(k.clone()).encode()), None)).collect();
        self.write(partition, entries).await?;
        let mut st = self.state.lock();
        for k in keys {
            if let Some(gp) = st.parts.get_mut(&k.group) {
                gp.remove(&(k.topic_id, k.partition));
            }
            st.pending.remove(k);
            tracing::info!(group = %k.group, topic_id = %k.topic_id, partition = k.partition, "share-partition state deleted");
        }
        Ok(())
    }

    /// Deletes an empty share group and its state (DeleteGroups). The group goes
    /// from memory at once (checked empty in the same step, so no member joins it
    /// between the check and the removal), then its tombstones are written; if they
    /// cannot be, the error says so and a restart finds the group as last written.
    pub async fn delete(&self, group: &str) -> Result<()> {
        // The group's turn first: an offset reset (which may create the group)
        // comes wholly before or after, never between the removal and the write.
        let partition = self.store_partition(group);
        let _turn = self.writers[partition as usize].lock().await;
        let keys: Vec<ShareKey> = {
            let mut st = self.state.lock();
            let Some(g) = st.groups.get(group) else { return Err(ShareError::GroupNotFound(group.to_string())) };
            if !g.members.is_empty() {
                return Err(ShareError::NotEmpty(group.to_string()));
            }
            st.groups.remove(group);
            st.sessions.remove_group(group);
            st.parked.remove(group);
            // Pending ones too: their first write may be in its turn already.
            let mut keys: Vec<ShareKey> = st.pending.iter().filter(|k| k.group == group).cloned().collect();
            let gp = st.parts.remove(group).unwrap_or_default();
            keys.extend(gp.into_keys().map(|(topic_id, partition)| ShareKey {
                group: group.to_string(),
                topic_id,
                partition,
            }));
            keys
        };
        // Members' records are tombstoned as they leave; one whose tombstone could
        // not be written goes now.
        let stale: Vec<String> = self
            .store
            .lock()
            .as_ref()
            .map(|s| s.lock().members.keys().filter(|(g, _)| g == group).map(|(_, m)| m.clone()).collect())
            .unwrap_or_default();
        let mut entries: Vec<crate::internal::Entry> =
            keys.iter().map(|k| (Some(StateKey::Partition(k.clone()).encode()), None)).collect();
        entries.extend(
            stale
                .into_iter()
                .map(|member| (Some(StateKey::Member { group: group.to_string(), member }.encode()), None)),
        );
        entries.push((Some(StateKey::Group(group.to_string()).encode()), None));
        self.write(partition, entries).await
    }
}
