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
use super::store::{ShareKey, StateKey};
use super::{Result, ShareCoordinator, ShareError};

impl ShareCoordinator {
    /// Sets the starts of `group`'s share-partitions (topic id, partition,
    /// start); see the module docs. Refused while the group has members.
    pub async fn set_start_offsets(&self, group: &str, starts: &[(Uuid, i32, i64)]) -> Result<()> {
        let (keys, gone, created) = {
            let mut st = self.state.lock();
            let created = !st.groups.contains_key(group);
            let g = st.groups.entry(group.to_string()).or_default();
            if !g.members.is_empty() {
                return Err(ShareError::NotEmpty(group.to_string()));
            }
            let gp = st.parts.entry(group.to_string()).or_default();
            let (mut keys, mut gone) = (Vec::new(), Vec::new());
            for &(topic_id, partition, start) in starts {
                let key = ShareKey { group: group.to_string(), topic_id, partition };
                if start < 0 {
                    gp.remove(&(topic_id, partition));
                    gone.push(key);
                } else {
                    gp.insert((topic_id, partition), Arc::new(Mutex::new(SharePartition::new(start))));
                    keys.push(key);
                }
            }
            (keys, gone, created)
        };
        if created {
            tracing::info!(group, "share group created by an offset reset");
            self.persist_epoch(group).await?;
        }
        for &(topic_id, partition, start) in starts {
            tracing::info!(group, %topic_id, partition, start, "share-partition start offset set");
        }
        self.erase(group, gone).await?;
        self.persist_partitions(keys).await
    }

    /// Deletes the state of every share-partition of each topic for `group`;
    /// per topic, whether the group had any. Refused while the group has
    /// members.
    pub async fn delete_topic_states(&self, group: &str, topics: &[Uuid]) -> Result<Vec<bool>> {
        let (found, gone) = {
            let mut st = self.state.lock();
            let Some(g) = st.groups.get(group) else { return Err(ShareError::GroupNotFound(group.to_string())) };
            if !g.members.is_empty() {
                return Err(ShareError::NotEmpty(group.to_string()));
            }
            let Some(gp) = st.parts.get_mut(group) else { return Ok(vec![false; topics.len()]) };
            let mut gone = Vec::new();
            let found = topics
                .iter()
                .map(|t| {
                    let before = gone.len();
                    gp.retain(|&(topic_id, partition), _| {
                        let keep = topic_id != *t;
                        if !keep {
                            gone.push(ShareKey { group: group.to_string(), topic_id, partition });
                        }
                        keep
                    });
                    gone.len() > before
                })
                .collect();
            (found, gone)
        };
        for k in &gone {
            tracing::info!(group, topic_id = %k.topic_id, partition = k.partition, "share-partition state deleted");
        }
        self.erase(group, gone).await?;
        Ok(found)
    }

    /// Drops the share-partitions of topics that no longer exist (module docs).
    pub(super) async fn sweep_deleted_topics(&self) {
        let at = self.meta.end_offset();
        if self.metadata_seen.swap(at, Ordering::Relaxed) == at {
            return;
        }
        let gone: BTreeMap<String, Vec<ShareKey>> = {
            let mut st = self.state.lock();
            let mut exists: HashMap<Uuid, bool> = HashMap::new();
            let mut gone: BTreeMap<String, Vec<ShareKey>> = BTreeMap::new();
            for (group, gp) in st.parts.iter_mut() {
                gp.retain(|&(topic_id, partition), _| {
                    let keep = *exists.entry(topic_id).or_insert_with(|| self.meta.topic_by_id(&topic_id).is_some());
                    if !keep {
                        gone.entry(group.clone()).or_default().push(ShareKey {
                            group: group.clone(),
                            topic_id,
                            partition,
                        });
                    }
                    keep
                });
            }
            gone
        };
        for (group, keys) in gone {
            tracing::info!(group, share_partitions = keys.len(), "state of a deleted topic's share-partitions deleted");
            if let Err(e) = self.erase(&group, keys).await {
                tracing::error!(group, error = %e, "could not delete the state of a deleted topic's share-partitions");
            }
        }
    }

    /// Writes tombstones for share-partitions already taken out of memory.
    async fn erase(&self, group: &str, keys: Vec<ShareKey>) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let partition = self.store_partition(group);
        let _turn = self.writers[partition as usize].lock().await;
        let entries = keys.into_iter().map(|k| (Some(StateKey::Partition(k).encode()), None)).collect();
        self.write(partition, entries).await
    }
}
