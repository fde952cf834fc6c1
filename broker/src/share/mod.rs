//! Share groups (KIP-932, "queues for Kafka"): members read the same partitions
//! together, each record handed to one member at a time under a lock, and
//! acknowledged one by one (accepted, released for another delivery, rejected).
//!
//! - `group.rs`: membership (ShareGroupHeartbeat) and the assignment;
//! - `partition.rs`: a share-partition's records in flight (the state machine);
//! - `session.rs`: share sessions (ShareFetch's incremental partition lists);
//! - `store.rs`: `__share_group_state`, what survives a restart.
//!
//! Locking: the groups and sessions sit under one mutex held only for in-memory
//! work; each share-partition has its own mutex, held while its log is read and
//! its records acquired (a memory-mapped read), never across an await. Writes to
//! `__share_group_state` of one of its partitions take that partition's turn and
//! take the snapshots inside it, so a later state is never overwritten by an
//! earlier one. What a member acknowledged is on disk before it is answered, and
//! a share-partition's start is on disk before its first records are handed out,
//! so a restart hands out again at most what was not acknowledged (acquired
//! records come back available: a lock does not outlive the broker).
//!
//! Waking: a ShareFetch with nothing to acquire parks on its partitions (woken by
//! an append, or a transaction marker that moves the last stable offset) and on
//! its group (woken by a change of its share-partitions' records: released,
//! locks run out, acknowledgements that free in-flight room, a share-partition
//! initialized or its start reset; deleting state makes nothing available and
//! wakes no one). Only the log start moving under retention is not announced; a
//! parked fetch looks again each second for that.
//!
//! `share.isolation.level` (a group config): under `read_committed` a share-partition
//! reads up to the last stable offset and archives the batches of aborted
//! transactions (never handed out), as Kafka does.
//!
//! Not yet done: members are not persisted (after a restart they join again, as
//! after a session timeout).

mod admin;
pub mod group;
pub mod overview;
pub mod partition;
mod session;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use uuid::Uuid;
use weir_storage::Clock;

use crate::error::TopicError;
use crate::internal::InternalTopic;
use crate::internal::StateTopic;
use crate::metadata::MetadataStore;
use crate::partition::{FetchWaiter, Waiters};
use crate::settings::ShareGroupSettings;
use group::{Assignment, ShareGroup, ShareMember};
use partition::SharePartition;
pub use session::SessionError;
use session::Sessions;
use store::{Persisted, ShareKey, StateKey};

mod membership;
mod ops;
pub use membership::{ShareHeartbeat, ShareHeartbeatAnswer};
pub use ops::{AckBatch, AckOutcome, Acquired, ShareGroupDescription, Unstarted};
pub use session::FINAL_EPOCH;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ShareError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("Member {member} is not a member of group {group}.")]
    UnknownMember { group: String, member: String },
    #[error("The share group member has epoch {got} but the group has {expected}.")]
    FencedEpoch { got: i32, expected: i32 },
    #[error("Group {0} is not a share group.")]
    NotShareGroup(String),
    #[error("Share group {0} not found.")]
    GroupNotFound(String),
    #[error("The share group has reached its maximum size of {0}.")]
    GroupFull(usize),
    #[error("The group is not empty.")]
    NotEmpty(String),
    #[error("share group state could not be written: {0}")]
    Storage(String),
    #[error("the partition's log could not be read: {0}")]
    ReadLog(String),
}

pub type Result<T, E = ShareError> = std::result::Result<T, E>;

/// Opens `__share_group_state` (creating it when missing). Blocking.
pub type OpenStateTopic = Box<dyn Fn() -> Result<InternalTopic, TopicError> + Send + Sync>;

/// Whether a group of another kind (classic or consumer) has this id.
pub type OtherGroups = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// One group's share-partitions, by (topic id, partition).
type GroupParts = HashMap<(Uuid, i32), Arc<Mutex<SharePartition>>>;

struct State {
    groups: HashMap<String, ShareGroup>,
    /// By group first, so that a fetch finds its partitions without building a
    /// key and a member's release visits only its group's.
    parts: HashMap<String, GroupParts>,
    /// Share-partitions whose first start is being written.
    pending: std::collections::HashSet<ShareKey>,
    /// ShareFetches waiting for something of a group's to change.
    parked: HashMap<String, Waiters>,
    sessions: Sessions,
}

impl State {
    fn wake(&self, group: &str) {
        if let Some(w) = self.parked.get(group) {
            w.wake();
        }
    }

    fn part(&self, group: &str, topic_id: Uuid, partition: i32) -> Option<&Arc<Mutex<SharePartition>>> {
        self.parts.get(group)?.get(&(topic_id, partition))
    }
}

pub struct ShareCoordinator {
    me: std::sync::Weak<ShareCoordinator>,
    state: Mutex<State>,
    /// `__share_group_state`, once it exists.
    store: Mutex<Option<Arc<StateTopic<Persisted>>>>,
    open_store: OpenStateTopic,
    /// Group ids are one namespace: a new share group may not take another's.
    other_groups: OtherGroups,
    /// One turn per `__share_group_state` partition.
    writers: Vec<tokio::sync::Mutex<()>>,
    meta: Arc<MetadataStore>,
    clock: Arc<dyn Clock>,
    cfg: ShareGroupSettings,
    /// The metadata log's end when share-partitions of deleted topics were last
    /// looked for (-1: never).
    metadata_seen: std::sync::atomic::AtomicI64,
    /// Tests: every write fails as a full disk's would.
    #[cfg(test)]
    fail_writes: std::sync::atomic::AtomicBool,
}

impl ShareCoordinator {
    /// Restores the share groups `__share_group_state` holds, if it exists.
    /// Blocking.
    pub(crate) fn open(
        existing: Option<InternalTopic>,
        open_store: OpenStateTopic,
        other_groups: OtherGroups,
        meta: Arc<MetadataStore>,
        cfg: ShareGroupSettings,
        clock: Arc<dyn Clock>,
    ) -> crate::Result<Arc<ShareCoordinator>> {
        let mut groups = HashMap::new();
        let mut parts: HashMap<String, GroupParts> = HashMap::new();
        let mut store = None;
        let mut writer_count = cfg.state_topic_partitions.max(1) as usize;
        if let Some(topic) = existing {
            writer_count = topic.partition_count() as usize;
            let st = StateTopic::open(topic, Persisted::default())?;
            {
                let p = st.lock();
                for (g, epoch) in &p.epochs {
                    groups.insert(g.clone(), ShareGroup { epoch: *epoch, ..Default::default() });
                }
                // Members keep their epochs; their sessions start again now. The
                // target is computed again at the first heartbeat (a new epoch).
                let now = clock.now_ms();
                for ((g, id), m) in &p.members {
                    if let Some(group) = groups.get_mut(g) {
                        group.members.insert(id.clone(), ShareMember { last_heartbeat: now, ..m.clone() });
                    }
                }
                for (k, snap) in &p.partitions {
                    let sp = Arc::new(Mutex::new(SharePartition::restore(snap)));
                    parts.entry(k.group.clone()).or_default().insert((k.topic_id, k.partition), sp);
                }
            }
            let share_partitions: usize = parts.values().map(HashMap::len).sum();
            let members: usize = groups.values().map(|g: &ShareGroup| g.members.len()).sum();
            tracing::info!(share_groups = groups.len(), members, share_partitions, "share groups loaded");
            store = Some(Arc::new(st));
        }
        Ok(Arc::new_cyclic(|me| ShareCoordinator {
            me: me.clone(),
            state: Mutex::new(State {
                groups,
                parts,
                pending: Default::default(),
                parked: HashMap::new(),
                sessions: Sessions::new(cfg.max_share_sessions),
            }),
            store: Mutex::new(store),
            open_store,
            other_groups,
            writers: (0..writer_count).map(|_| tokio::sync::Mutex::new(())).collect(),
            meta,
            clock,
            cfg,
            metadata_seen: std::sync::atomic::AtomicI64::new(-1),
            #[cfg(test)]
            fail_writes: Default::default(),
        }))
    }

    pub fn settings(&self) -> &ShareGroupSettings {
        &self.cfg
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Parks `waiter` on `group`: it is woken by the next change to the group's
    /// share-partitions (see the module docs).
    pub fn park(&self, group: &str, waiter: &Arc<FetchWaiter>) {
        let mut st = self.state.lock();
        match st.parked.get(group) {
            Some(w) => w.register(waiter),
            None => st.parked.entry(group.to_string()).or_default().register(waiter),
        }
    }

    pub fn is_share_group(&self, group: &str) -> bool {
        self.state.lock().groups.contains_key(group)
    }

    /// Runs the periodic work (session timeouts, lock timeouts) until `shutdown`.
    pub async fn run_timers(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(std::time::Duration::from_millis(100));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            self.tick(self.now()).await;
        }
    }

    /// Removes members whose session ended and frees records whose lock ended,
    /// writing what changed.
    pub async fn tick(&self, now: i64) {
        self.sweep_deleted_topics().await;
        let mut changed = self.expire_members(now).await;
        {
            let mut st = self.state.lock();
            let State { sessions, groups, .. } = &mut *st;
            sessions.evict_idle(now, self.cfg.session_timeout_ms, |g, m| {
                groups.get(g).is_some_and(|g| g.members.contains_key(m))
            });
            for (group, gp) in &st.parts {
                for (&(topic_id, partition), p) in gp {
                    let mut p = p.lock();
                    // A delivery whose lock ran out counts.
                    if p.next_deadline().is_some_and(|d| d <= now) && p.expire(now, self.cfg.delivery_count_limit) {
                        changed.push(ShareKey { group: group.clone(), topic_id, partition });
                    }
                }
            }
        }
        changed.sort();
        changed.dedup();
        if let Err(e) = self.persist_partitions(changed).await {
            tracing::error!(error = %e, "could not write released share-group records");
        }
    }

    /// The subscribed topics that exist: (name, id, partition count), by name.
    fn topics_of(&self, names: &std::collections::BTreeSet<String>) -> Vec<(String, Uuid, i32)> {
        names.iter().filter_map(|n| self.meta.topic(n).map(|t| (t.name.clone(), t.id, t.partitions))).collect()
    }

    fn store(&self) -> Result<Arc<StateTopic<Persisted>>> {
        if let Some(s) = self.store.lock().as_ref() {
            return Ok(s.clone());
        }
        let topic = (self.open_store)().map_err(|e| ShareError::Storage(e.to_string()))?;
        let st = StateTopic::open(topic, Persisted::default()).map_err(|e| ShareError::Storage(e.to_string()))?;
        let mut slot = self.store.lock();
        Ok(slot.get_or_insert_with(|| Arc::new(st)).clone())
    }

    fn store_partition(&self, group: &str) -> i32 {
        crate::group::records::partition_for(group, self.writers.len() as i32)
    }

    /// Appends to `__share_group_state` (created first if need be) and waits until
    /// the records are durable.
    async fn write(&self, partition: i32, entries: Vec<crate::internal::Entry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        #[cfg(test)]
        if self.fail_writes.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ShareError::Storage("No space left on device (os error 28)".into()));
        }
        let me = self.me.upgrade().ok_or_else(|| ShareError::Storage("the broker is closing".into()))?;
        crate::blocking(move || {
            let store = me.store()?;
            store.write(partition, entries).map_err(|e| ShareError::Storage(e.to_string()))
        })
        .await
    }

    /// Writes the current snapshot of each share-partition, taken in its
    /// partition's turn.
    async fn persist_partitions(&self, keys: Vec<ShareKey>) -> Result<()> {
        {
            let st = self.state.lock();
            let mut last: Option<&str> = None;
            for k in &keys {
                if last != Some(k.group.as_str()) {
                    st.wake(&k.group);
                    last = Some(&k.group);
                }
            }
        }
        let mut by_partition: BTreeMap<i32, Vec<ShareKey>> = BTreeMap::new();
        for k in keys {
            by_partition.entry(self.store_partition(&k.group)).or_default().push(k);
        }
        for (partition, keys) in by_partition {
            let _turn = self.writers[partition as usize].lock().await;
            let entries: Vec<crate::internal::Entry> = {
                let st = self.state.lock();
                keys.iter()
                    .filter_map(|k| {
                        let p = st.part(&k.group, k.topic_id, k.partition)?;
                        let snap = p.lock().snapshot();
                        Some((Some(StateKey::Partition(k.clone()).encode()), Some(store::encode_snapshot(&snap))))
                    })
                    .collect()
            };
            self.write(partition, entries).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
