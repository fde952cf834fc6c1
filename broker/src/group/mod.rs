//! Group coordinator: the classic consumer-group protocol, KIP-848 consumer groups
//! and committed offsets.
//!
//! All groups sit in one state machine over `__consumer_offsets` (`store.rs`, a
//! [`StateTopic`]) whose lock is never held across an await or an fsync. Offset
//! commits, deletions and classic group metadata are records appended and fsynced
//! first and applied to the state by the same fold that loads the topic at
//! start-up, so the groups after a restart are the groups before it. Membership
//! (who is in a group, rebalances, heartbeats) lives in memory and changes under
//! that lock; JoinGroup and SyncGroup park on oneshot channels stored in the member,
//! and the transitions that complete them send the answers. What a member is told
//! is on disk first: a classic group's assignment before it becomes Stable, a
//! KIP-848 group's records before the heartbeat is answered; a write that fails
//! is answered with COORDINATOR_NOT_AVAILABLE and leaves the group as its log
//! says (a rebalance; the records as last written). A 100 ms tick expires
//! sessions, ends rebalances whose timeout passed, and expires offsets of empty
//! groups. Time comes from the injected [`Clock`], so every timeout is testable
//! with a mock clock.
//!
//! Operations are split by API: `join.rs` (JoinGroup and the join barrier),
//! `sync.rs`, `membership.rs` (Heartbeat, LeaveGroup, the tick), `offsets.rs`
//! (OffsetCommit, OffsetFetch, OffsetDelete, expiry), `admin.rs` (ListGroups,
//! DescribeGroups, DeleteGroups), and `consumer_ops.rs` for KIP-848.

pub mod assignor;
pub mod consumer;
pub mod consumer_records;
pub mod overview;
pub mod records;
pub mod state;
pub mod store;

mod admin;
mod consumer_ops;
mod join;
mod membership;
mod migration;
mod offsets;
mod sync;
mod txn;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use weir_storage::Clock;

use crate::error::{GroupError, Result};
use crate::internal::{InternalTopic, StateTopic};
use crate::metadata::MetadataStore;
use crate::partition::ReplicaManager;
use crate::settings::{BrokerSettings, ConsumerGroupSettings, GroupSettings};
pub use admin::{Description, ListedGroup, MemberDescription};
pub use consumer_ops::{ConsumerGroupDescription, ConsumerHeartbeat, ConsumerMemberDescription, HeartbeatAnswer};
use consumer_records::ConsumerKey;
pub use join::JoinRequest;
pub use migration::MigrationPolicy;
pub use offsets::{CommitRequest, CommittedOffset, OffsetToCommit};
use records::{GroupValue, Key};
use state::{GroupState, Member};
use store::{GroupsState, OFFSETS_TOPIC};
pub use txn::TxnCommitRequest;

pub struct Coordinator {
    me: Weak<Coordinator>,
    store: StateTopic<GroupsState>,
    /// Per KIP-848 group, its records as last written.
    consumer_written: parking_lot::Mutex<HashMap<String, BTreeMap<ConsumerKey, Bytes>>>,
    /// One turn per `__consumer_offsets` partition for consumer-group writes.
    consumer_writers: Vec<tokio::sync::Mutex<()>>,
    clock: Arc<dyn Clock>,
    meta: Arc<MetadataStore>,
    partitions: Arc<ReplicaManager>,
    cfg: GroupSettings,
    consumer_cfg: ConsumerGroupSettings,
}

impl Coordinator {
    /// Loads committed offsets and groups from `offsets` (`__consumer_offsets`).
    /// Blocking.
    pub(crate) fn open(
        offsets: InternalTopic,
        meta: Arc<MetadataStore>,
        partitions: Arc<ReplicaManager>,
        settings: &BrokerSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Coordinator>> {
        let store = StateTopic::open(offsets, GroupsState::new(clock.clone()))?;
        let restored = store.lock().finish_loading(&settings.consumer_group.assignors[0]);
        let mut consumer_written = HashMap::new();
        {
            let mut groups = store.lock();
            for id in &restored {
                let Some(cg) = groups.get_mut(id).and_then(|g| g.consumer.as_deref_mut()) else { continue };
                // What each member's subscription covers now, without a new epoch.
                let members: Vec<String> = cg.members.keys().cloned().collect();
                for m in &members {
                    consumer_ops::refresh_topics(cg, m, &meta);
                }
                consumer_written.insert(id.clone(), consumer_records::records_of(cg));
            }
        }
        tracing::info!(groups = store.lock().len(), consumer_groups = restored.len(), "group coordinator loaded");
        let writers = (0..store.topic().partition_count()).map(|_| tokio::sync::Mutex::new(())).collect();
        Ok(Arc::new_cyclic(|me| Coordinator {
            me: me.clone(),
            consumer_written: parking_lot::Mutex::new(consumer_written),
            consumer_writers: writers,
            store,
            clock,
            meta,
            partitions,
            cfg: settings.group.clone(),
            consumer_cfg: settings.consumer_group.clone(),
        }))
    }

    /// Runs the periodic work until `shutdown` changes.
    pub async fn run_timers(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_expiry = self.now();
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            let now = self.now();
            self.periodic(now).await;
            if now - last_expiry >= 60_000 {
                last_expiry = now;
                self.expire_offsets().await;
            }
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn arc(&self) -> Arc<Coordinator> {
        self.me.upgrade().expect("the coordinator outlives its operations")
    }

    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        self.store.lock().get(group).map(|g| g.state)
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_for(&self, group: &str) -> i32 {
        records::partition_for(group, self.store.topic().partition_count())
    }

    /// Durably writes records for a group; the state applies them once on disk.
    async fn write(&self, group: &str, records: Vec<(Key, Option<Bytes>)>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let me = self.arc();
        let partition = self.partition_for(group);
        crate::blocking(move || {
            let entries = records.into_iter().map(|(k, v)| (Some(k.encode()), v)).collect();
            me.store.write(partition, entries)
        })
        .await
    }

    /// The tick's work and the writes it calls for.
    pub(super) async fn periodic(&self, now: i64) {
        let (classic, consumer) = self.tick(now);
        for (group, value) in classic {
            self.persist_group(group, value).await;
        }
        for group in consumer {
            if let Err(e) = self.persist_consumer(&group, None).await {
                tracing::error!(%group, error = %e, "could not persist the consumer group");
            }
        }
    }

    /// The turn of a group's `__consumer_offsets` partition for KIP-848 writes.
    pub(super) async fn consumer_turn(&self, group: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.consumer_writers[self.partition_for(group) as usize].lock().await
    }

    /// The group's turn for a classic request (JoinGroup, LeaveGroup) that may
    /// change a consumer group's records: taken when the group is a consumer group
    /// (one with members changes; an empty one becomes classic, its records go).
    pub(super) async fn classic_turn(&self, group: &str) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.is_consumer_group(group) {
            Some(self.consumer_turn(group).await)
        } else {
            None
        }
    }

    /// The groups, locked, with the group's turn if it is a consumer group now.
    /// `turn` is what [`Coordinator::classic_turn`] took; a group that became a
    /// consumer group since (a consumer-protocol member upgraded it) gets its turn
    /// taken now, the lock let go meanwhile, so a classic request never changes a
    /// consumer group outside its turn.
    pub(super) async fn lock_in_turn<'a>(
        &'a self,
        group: &str,
        mut turn: Option<tokio::sync::MutexGuard<'a, ()>>,
    ) -> (crate::internal::StateGuard<'a, GroupsState>, Option<tokio::sync::MutexGuard<'a, ()>>) {
        loop {
            {
                let groups = self.store.lock();
                if turn.is_some() || groups.get(group).is_none_or(|g| g.consumer.is_none()) {
                    return (groups, turn);
                }
            }
            turn = Some(self.consumer_turn(group).await);
        }
    }

    /// After a classic request: the consumer group's records it changed written
    /// (`turn` from [`Coordinator::classic_turn`], or taken now if the group became
    /// a consumer group meanwhile). False when the write failed and the change was
    /// taken back.
    pub(super) async fn persist_after_classic(
        &self,
        group: &str,
        turn: Option<tokio::sync::MutexGuard<'_, ()>>,
        member: Option<&str>,
    ) -> bool {
        if turn.is_none() && !self.is_consumer_group(group) {
            return true;
        }
        let _turn = match turn {
            Some(t) => t,
            None => self.consumer_turn(group).await,
        };
        self.persist_consumer_in_turn(group, member).await.is_ok()
    }

    /// Writes what changed in a KIP-848 group since its records were last written
    /// (tombstones for what is gone; all of it when the group went). Writes of one
    /// `__consumer_offsets` partition are taken in turn, each computed when its
    /// turn comes, so the log's order is the state's and a caller returns only
    /// after every change it made is on disk. `member`: the one member a heartbeat
    /// changed, if it can have changed no other ([`consumer_records::diff`]).
    pub(super) async fn persist_consumer(&self, group: &str, member: Option<&str>) -> Result<()> {
        let _turn = self.consumer_turn(group).await;
        self.persist_consumer_in_turn(group, member).await
    }

    /// [`Coordinator::persist_consumer`] for a caller that holds the group's turn
    /// (a heartbeat takes it before it changes the group, so that no other
    /// heartbeat's change can be taken back with its own). A write that fails
    /// takes the change back: the group returns to its records as last written,
    /// as a restart would find it.
    ///
    /// As in Kafka, a classic group turned consumer group (live upgrade) writes a
    /// tombstone of its classic metadata before its first records, and a consumer
    /// group turned classic (downgrade) writes its classic metadata after the
    /// tombstones of its records, so that the log (and a compacted one) says which
    /// it is now.
    pub(super) async fn persist_consumer_in_turn(&self, group: &str, member: Option<&str>) -> Result<()> {
        let (records, undo, revertible) = {
            let groups = self.store.lock();
            let g = groups.get(group);
            let cg = g.and_then(|g| g.consumer.as_deref());
            let mut written = self.consumer_written.lock();
            let before = written.remove(group).unwrap_or_default();
            let first = before.is_empty();
            // A downgrade leaves a classic group of members that were written in the
            // consumer group; a classic member taking over an emptied consumer group
            // (whose records may still name members that expired) was not.
            let downgrade = cg.is_none()
                && g.is_some_and(|g| g.members.keys().any(|id| before.contains_key(&ConsumerKey::Member(id.clone()))));
            let consumer_records::Diff { changes, undo, now } = consumer_records::diff(cg, before, member);
            let mut records: Vec<(Key, Option<Bytes>)> = Vec::with_capacity(changes.len() + 1);
            let classic_key = || Key::Group { group: group.to_string() };
            // A group with a generation has had classic metadata written.
            let joined = cg.is_some_and(|c| !c.members.is_empty());
            if first && joined && g.is_some_and(|g| g.generation > 0) {
                records.push((classic_key(), None));
            }
            let downgraded = g.filter(|_| downgrade);
            // Taking back a change means putting the consumer group back: only for a
            // consumer group, or one just downgraded, never over a live classic group
            // whose leftover records could not be removed.
            let revertible = cg.is_some() || downgrade;
            records.extend(changes.into_iter().map(|(k, v)| (Key::consumer(group, k), v)));
            if let Some(g) = downgraded {
                records.push((classic_key(), Some(g.to_value().encode())));
            }
            if !now.is_empty() {
                written.insert(group.to_string(), now);
            }
            (records, undo, revertible)
        };
        let result = self.write(group, records).await;
        if let Err(e) = &result {
            if revertible {
                tracing::error!(%group, error = %e, "could not persist the consumer group; it returns to its records as last written");
            } else {
                tracing::warn!(%group, error = %e, "could not remove the records of a former consumer group; kept to try again");
            }
            self.revert_consumer(group, undo, revertible);
        }
        result
    }

    /// The records as last written, again, after a failed write; with `restore`,
    /// the group in memory too.
    fn revert_consumer(&self, group: &str, undo: Vec<(ConsumerKey, Option<Bytes>)>, restore: bool) {
        let mut groups = self.store.lock();
        let mut written = self.consumer_written.lock();
        let records = consumer_records::Diff::undone(written.remove(group).unwrap_or_default(), undo);
        if !restore {
            if !records.is_empty() {
                written.insert(group.to_string(), records);
            }
            return;
        }
        groups.restore_consumer(group, &records, &self.consumer_cfg.assignors[0]);
        if let Some(cg) = groups.get_mut(group).and_then(|g| g.consumer.as_deref_mut()) {
            let members: Vec<String> = cg.members.keys().cloned().collect();
            for m in &members {
                consumer_ops::refresh_topics(cg, m, &self.meta);
            }
        }
        if !records.is_empty() {
            written.insert(group.to_string(), records);
        }
    }

    /// Durably writes a classic group's metadata.
    async fn write_group(&self, group: &str, value: &GroupValue) -> Result<()> {
        self.write(group, vec![(Key::Group { group: group.to_string() }, Some(value.encode()))]).await
    }

    /// [`Coordinator::write_group`] where a failure is only logged (the group went
    /// empty: nobody waits on the answer, as in Kafka).
    pub(super) async fn persist_group(&self, group: String, value: GroupValue) {
        if let Err(e) = self.write_group(&group, &value).await {
            tracing::error!(%group, error = %e, "could not persist group metadata");
        }
    }

    /// The topic a group's records go to (for tests and tools).
    pub fn offsets_topic(&self) -> &str {
        OFFSETS_TOPIC
    }
}

/// A fresh member id: `<prefix>-<uuid>`, as Kafka builds them.
fn member_id(prefix: &str) -> String {
    format!("{}-{}", if prefix.is_empty() { "member" } else { prefix }, uuid::Uuid::new_v4())
}

fn new_member(req: &JoinRequest, id: String, now: i64) -> Member {
    Member {
        id,
        instance_id: req.instance_id.clone(),
        client_id: req.client_id.clone(),
        client_host: req.client_host.clone(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        protocol_type: req.protocol_type.clone(),
        protocols: req.protocols.clone(),
        assignment: Default::default(),
        last_heartbeat: now,
        join_waiter: None,
        sync_waiter: None,
    }
}

/// Errors a member of either protocol gets for an unknown member id.
fn unknown_member(id: &str) -> GroupError {
    GroupError::UnknownMemberId(format!("The member id {id} is not known to the group."))
}

#[cfg(test)]
mod tests;
