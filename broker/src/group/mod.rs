//! Group coordinator: the classic consumer-group protocol and committed offsets.
//!
//! All groups sit behind one mutex that is never held across an await or an fsync.
//! JoinGroup and SyncGroup park on oneshot channels stored in the member; the
//! transitions that complete them send the answers. A 100 ms tick expires sessions,
//! ends rebalances whose timeout passed, and expires offsets of empty groups. Offsets
//! and group metadata are made durable in `__consumer_offsets` before they are
//! applied in memory or acknowledged.

pub mod assignor;
pub mod consumer;
pub mod overview;
pub mod records;
pub mod state;
pub mod store;

mod consumer_ops;
mod ops;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::config::BrokerConfig;
use crate::error::Result;
use crate::Shared;
pub use consumer_ops::{
    ConsumerConfig, ConsumerGroupDescription, ConsumerHeartbeat, ConsumerMemberDescription, HeartbeatAnswer,
};
pub use ops::{CommitRequest, Description, JoinRequest, MemberDescription};
use state::{Group, GroupState, Member};
use store::{now_ms, OffsetStore};

pub struct GroupConfig {
    pub min_session: Duration,
    pub max_session: Duration,
    pub initial_delay: Duration,
    pub offsets_retention: Duration,
    pub max_metadata_bytes: usize,
    pub max_size: usize,
}

impl GroupConfig {
    pub fn from(c: &BrokerConfig) -> GroupConfig {
        let ms = |k: &str| Duration::from_millis(c.get_i64(k).max(0) as u64);
        GroupConfig {
            min_session: ms("group.min.session.timeout.ms"),
            max_session: ms("group.max.session.timeout.ms"),
            initial_delay: ms("group.initial.rebalance.delay.ms"),
            offsets_retention: Duration::from_secs(c.get_i64("offsets.retention.minutes").max(1) as u64 * 60),
            max_metadata_bytes: c.get_i64("offset.metadata.max.bytes").max(0) as usize,
            max_size: c.get_i64("group.max.size").max(1) as usize,
        }
    }
}

pub struct Coordinator {
    me: Weak<Coordinator>,
    groups: Mutex<HashMap<String, Group>>,
    store: OffsetStore,
    cfg: GroupConfig,
    consumer_cfg: ConsumerConfig,
    /// Serialises writes per `__consumer_offsets` partition so the log order is the
    /// order in which commits are applied in memory.
    write_locks: Vec<Mutex<()>>,
}

impl Coordinator {
    /// Creates `__consumer_offsets` if needed and loads committed offsets and groups.
    pub fn open(shared: &Shared) -> Result<Arc<Coordinator>> {
        let (store, loaded) = OffsetStore::open(shared)?;
        let now = now_ms();
        let mut groups: HashMap<String, Group> = HashMap::new();
        for (id, offsets) in loaded.offsets {
            if offsets.is_empty() {
                continue;
            }
            groups.entry(id.clone()).or_insert_with(|| Group::new(&id, now)).offsets = offsets;
        }
        for (id, value) in loaded.groups {
            // Members are not restored: after a restart they rejoin (their heartbeats get
            // UNKNOWN_MEMBER_ID), which keeps generations increasing and assignments fresh.
            let g = groups.entry(id.clone()).or_insert_with(|| Group::new(&id, now));
            g.generation = value.generation;
            g.protocol_type = Some(value.protocol_type).filter(|p| !p.is_empty());
            g.state_timestamp = if value.current_state_timestamp > 0 { value.current_state_timestamp } else { now };
        }
        tracing::info!(groups = groups.len(), "group coordinator loaded");
        let partitions = store.partitions() as usize;
        Ok(Arc::new_cyclic(|me| Coordinator {
            me: me.clone(),
            groups: Mutex::new(groups),
            store,
            cfg: GroupConfig::from(&shared.config),
            consumer_cfg: ConsumerConfig::from(&shared.config),
            write_locks: (0..partitions).map(|_| Mutex::new(())).collect(),
        }))
    }

    /// Runs the periodic work until shutdown.
    pub async fn run_timers(self: Arc<Self>, shared: Arc<Shared>) {
        let mut shutdown = shared.shutdown.subscribe();
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_expiry = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            let persist = self.tick(std::time::Instant::now());
            for (group, value) in persist {
                self.persist_group(group, value).await;
            }
            if last_expiry.elapsed() >= Duration::from_secs(60) {
                last_expiry = std::time::Instant::now();
                self.expire_offsets().await;
            }
        }
    }

    fn arc(&self) -> Arc<Coordinator> {
        self.me.upgrade().expect("the coordinator outlives its operations")
    }

    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        self.groups.lock().get(group).map(|g| g.state)
    }
}

impl ConsumerConfig {
    pub fn from(c: &BrokerConfig) -> ConsumerConfig {
        let ms = |k: &str| Duration::from_millis(c.get_i64(k).max(1) as u64);
        let assignors = c.get("group.consumer.assignors").unwrap_or_default();
        ConsumerConfig {
            session_timeout: ms("group.consumer.session.timeout.ms"),
            heartbeat_interval: ms("group.consumer.heartbeat.interval.ms"),
            max_size: c.get_i64("group.consumer.max.size").max(1) as usize,
            default_assignor: assignors.split(',').next().unwrap_or(assignor::UNIFORM).trim().to_string(),
        }
    }
}

/// A fresh member id: `<prefix>-<uuid>`, as Kafka builds them.
fn member_id(prefix: &str) -> String {
    format!("{}-{}", if prefix.is_empty() { "member" } else { prefix }, uuid::Uuid::new_v4())
}

fn new_member(req: &JoinRequest, id: String, now: std::time::Instant) -> Member {
    Member {
        id,
        instance_id: req.instance_id.clone(),
        client_id: req.client_id.clone(),
        client_host: req.client_host.clone(),
        session_timeout: req.session_timeout,
        rebalance_timeout: req.rebalance_timeout,
        protocol_type: req.protocol_type.clone(),
        protocols: req.protocols.clone(),
        assignment: Default::default(),
        last_heartbeat: now,
        join_waiter: None,
        sync_waiter: None,
    }
}
