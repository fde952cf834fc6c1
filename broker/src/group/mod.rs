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
//! and the transitions that complete them send the answers. A 100 ms tick expires
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
        tracing::info!(groups = store.lock().len(), "group coordinator loaded");
        Ok(Arc::new_cyclic(|me| Coordinator {
            me: me.clone(),
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
            for (group, value) in self.tick(now) {
                self.persist_group(group, value).await;
            }
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

    pub(super) async fn persist_group(&self, group: String, value: GroupValue) {
        let key = Key::Group { group: group.clone() };
        if let Err(e) = self.write(&group, vec![(key, Some(value.encode()))]).await {
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
