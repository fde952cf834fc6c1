//! Every group, as a state machine over `__consumer_offsets`.
//!
//! The topic is an ordinary compacted topic with `offsets.topic.num.partitions`
//! partitions; a group lives on partition `abs(javaHash(group)) % partitions`, as in
//! Kafka, in Kafka's key/value schemas (`records.rs`). The fold:
//! - an offset commit sets that partition's committed offset (creating the group);
//!   its tombstone removes it;
//! - while the topic loads, a classic group's metadata record makes the group it
//!   describes, as Kafka loads it: Stable with the members of the generation
//!   written (so that after a restart they heartbeat on, no rebalance), Empty
//!   without members. Afterwards membership is ahead of the log and the records
//!   only seed a group nobody has joined since (generation, protocol type, state
//!   time);
//! - a group tombstone removes the group, unless members joined it meanwhile or
//!   offsets are left; while loading it also removes the classic membership (the
//!   group became a consumer group) and any consumer-group records read before it;
//! - KIP-848 consumer-group records (`consumer_records.rs`) are gathered while the
//!   topic loads and become the groups when it is loaded
//!   ([`GroupsState::finish_loading`]); afterwards the groups in memory are ahead
//!   of their records (they are written from the state), so the fold skips them.
//!   While loading, the later of a group's classic metadata and its consumer-group
//!   records says which kind it is (logs written before the upgrade's tombstone
//!   have both).

use std::collections::{BTreeMap, HashMap};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use bytes::Bytes;
use weir_storage::Clock;

use super::consumer::ConsumerGroup;
use super::consumer_records::{ConsumerKey, Loaded};
use super::records::{GroupValue, Key, OffsetValue};
use super::state::{Group, GroupState};
use crate::internal::{KeyValue, StateMachine};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A transaction's offset change, held until its marker: (group, topic,
/// partition, the offset or None for a tombstone).
type PendingOffset = (String, String, i32, Option<OffsetValue>);

pub struct GroupsState {
    groups: HashMap<String, Group>,
    clock: Arc<dyn Clock>,
    /// Offsets of open transactions, by (`__consumer_offsets` partition, producer
    /// id) (TxnOffsetCommit); each partition gets its own marker.
    pending: HashMap<(i32, i64), Vec<PendingOffset>>,
    /// Consumer groups' records while the topic loads; None once loaded.
    loading: Option<HashMap<String, Loaded>>,
}

impl GroupsState {
    pub fn new(clock: Arc<dyn Clock>) -> GroupsState {
        GroupsState { groups: HashMap::new(), clock, pending: HashMap::new(), loading: Some(HashMap::new()) }
    }

    /// Makes the consumer groups the loaded records describe; their ids.
    pub fn finish_loading(&mut self, default_assignor: &str) -> Vec<String> {
        let now = self.clock.now_ms();
        let mut restored = Vec::new();
        for (id, loaded) in self.loading.take().unwrap_or_default() {
            let Some(cg) = loaded.restore(default_assignor, now) else { continue };
            self.install_consumer(&id, cg, now);
            restored.push(id);
        }
        // Sessions of restored classic members start now, as in Kafka.
        for m in self.groups.values_mut().flat_map(|g| g.members.values_mut()) {
            m.last_heartbeat = now;
        }
        restored
    }

    /// Puts the consumer group that `records` (a group's records as last written)
    /// describe in place of the one in memory, as a restart would load it; no
    /// records, no group.
    pub fn restore_consumer(&mut self, id: &str, records: &BTreeMap<ConsumerKey, Bytes>, default_assignor: &str) {
        let now = self.clock.now_ms();
        let mut loaded = Loaded::default();
        for (k, v) in records {
            if let Err(e) = loaded.apply(k, Some(v), now) {
                tracing::warn!(group = %id, error = %e.0, "skipping undecodable consumer group record");
            }
        }
        match loaded.restore(default_assignor, now) {
            Some(cg) => self.install_consumer(id, cg, now),
            None => {
                let Some(g) = self.groups.get_mut(id) else { return };
                g.consumer = None;
                if !g.has_members() && g.offsets.is_empty() {
                    self.groups.remove(id);
                }
            }
        }
    }

    fn install_consumer(&mut self, id: &str, cg: ConsumerGroup, now: i64) {
        let g = self.group(id);
        // A downgrade taken back: the classic members it made go.
        g.clear_classic(now);
        g.generation = g.generation.max(cg.epoch);
        g.protocol_type = Some("consumer".into());
        g.state_timestamp = now;
        g.consumer = Some(Box::new(cg));
    }

    /// Whether an open transaction holds an offset of `group` for the partition
    /// (OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT).
    pub fn has_pending(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.pending.values().flatten().any(|(g, t, p, _)| g == group && t == topic && *p == partition)
    }

    /// Producer ids with offsets in an open transaction for `group`.
    pub fn pending_producers(&self, group: &str) -> Vec<i64> {
        self.pending.iter().filter(|(_, v)| v.iter().any(|(g, ..)| g == group)).map(|((_, pid), _)| *pid).collect()
    }

    fn set_offset(&mut self, group: String, topic: String, partition: i32, value: Option<OffsetValue>) {
        match value {
            Some(v) => {
                self.group(&group).offsets.insert((topic, partition), v);
            }
            None => {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.offsets.remove(&(topic, partition));
                }
            }
        }
    }

    fn group(&mut self, id: &str) -> &mut Group {
        let now = self.clock.now_ms();
        self.groups.entry(id.to_string()).or_insert_with(|| Group::new(id, now))
    }

    fn apply_group(&mut self, id: String, value: GroupValue) {
        let now = self.clock.now_ms();
        if let Some(loading) = self.loading.as_mut() {
            // The later record wins: any consumer-group records before it are stale.
            loading.remove(&id);
            self.group(&id).restore_classic(value, now);
            return;
        }
        let g = self.group(&id);
        let seedable = !g.has_members() && g.consumer.is_none() && g.state == GroupState::Empty;
        if seedable && value.generation >= g.generation {
            g.seed(&value, now);
        }
    }
}

impl Deref for GroupsState {
    type Target = HashMap<String, Group>;
    fn deref(&self) -> &Self::Target {
        &self.groups
    }
}

impl DerefMut for GroupsState {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.groups
    }
}

impl StateMachine for GroupsState {
    fn apply_marker(&mut self, partition: i32, producer_id: i64, commit: bool) {
        let Some(changes) = self.pending.remove(&(partition, producer_id)) else { return };
        if commit {
            for (group, topic, partition, v) in changes {
                self.set_offset(group, topic, partition, v);
            }
        }
    }

    fn apply(&mut self, partition: i32, record: &KeyValue) {
        let Some(key) = record.key.as_deref() else { return };
        let key = match Key::decode(key) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(partition, offset = record.offset, error = %e.0, "skipping undecodable key");
                return;
            }
        };
        let value = record.value.as_deref();
        match key {
            Key::Offset { group, topic, partition: p } => match value.map(OffsetValue::decode) {
                Some(Err(e)) => tracing::warn!(%group, error = %e.0, "skipping undecodable offset value"),
                v => {
                    let v = v.map(|r| r.expect("errors handled above"));
                    if record.transactional {
                        self.pending.entry((partition, record.producer_id)).or_default().push((group, topic, p, v));
                    } else {
                        self.set_offset(group, topic, p, v);
                    }
                }
            },
            Key::Consumer { group, key } => {
                let now = self.clock.now_ms();
                if let Some(loading) = self.loading.as_mut() {
                    // A consumer group's record (not its tombstone: a downgrade's come
                    // before the classic metadata) says the group is no longer classic.
                    if value.is_some() {
                        if let Some(g) = self.groups.get_mut(&group) {
                            g.clear_classic(now);
                        }
                    }
                    let l = loading.entry(group.clone()).or_default();
                    if let Err(e) = l.apply(&key, value, now) {
                        tracing::warn!(%group, error = %e.0, "skipping undecodable consumer group record");
                    }
                    if l.is_empty() {
                        loading.remove(&group);
                    }
                }
            }
            Key::Group { group } => match value.map(GroupValue::decode) {
                Some(Ok(v)) => self.apply_group(group, v),
                Some(Err(e)) => tracing::warn!(%group, error = %e.0, "skipping undecodable group value"),
                None if self.loading.is_some() => {
                    let now = self.clock.now_ms();
                    // The later record wins here too: an upgrade's consumer records
                    // come after this tombstone, a deleted group's before it.
                    if let Some(loading) = self.loading.as_mut() {
                        loading.remove(&group);
                    }
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.clear_classic(now);
                        if g.offsets.is_empty() {
                            self.groups.remove(&group);
                        }
                    }
                }
                None => {
                    if self.groups.get(&group).is_some_and(|g| !g.has_members() && g.offsets.is_empty()) {
                        self.groups.remove(&group);
                    }
                }
            },
        }
    }
}
