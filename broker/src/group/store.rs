//! Every group, as a state machine over `__consumer_offsets`.
//!
//! The topic is an ordinary compacted topic with `offsets.topic.num.partitions`
//! partitions; a group lives on partition `abs(javaHash(group)) % partitions`, as in
//! Kafka, in Kafka's key/value schemas (`records.rs`). The fold:
//! - an offset commit sets that partition's committed offset (creating the group);
//!   its tombstone removes it;
//! - group metadata seeds a group that has no members yet (at start-up, or a group
//!   nobody has joined since): generation, protocol type, state time. Classic
//!   membership is ahead of the log while a group has members, so their metadata
//!   records change nothing in memory;
//! - a group tombstone removes the group, unless members joined it meanwhile.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use weir_storage::Clock;

use super::records::{GroupValue, Key, OffsetValue};
use super::state::{Group, GroupState};
use crate::internal::{KeyValue, StateMachine};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

pub struct GroupsState {
    groups: HashMap<String, Group>,
    clock: Arc<dyn Clock>,
}

impl GroupsState {
    pub fn new(clock: Arc<dyn Clock>) -> GroupsState {
        GroupsState { groups: HashMap::new(), clock }
    }

    fn group(&mut self, id: &str) -> &mut Group {
        let now = self.clock.now_ms();
        self.groups.entry(id.to_string()).or_insert_with(|| Group::new(id, now))
    }

    fn apply_group(&mut self, id: String, value: GroupValue) {
        let now = self.clock.now_ms();
        let g = self.group(&id);
        let seedable = !g.has_members() && g.consumer.is_none() && g.state == GroupState::Empty;
        if seedable && value.generation >= g.generation {
            g.generation = value.generation;
            g.protocol_type = Some(value.protocol_type).filter(|p| !p.is_empty());
            g.state_timestamp = if value.current_state_timestamp > 0 { value.current_state_timestamp } else { now };
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
                Some(Ok(v)) => {
                    self.group(&group).offsets.insert((topic, p), v);
                }
                Some(Err(e)) => tracing::warn!(%group, error = %e.0, "skipping undecodable offset value"),
                None => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.offsets.remove(&(topic, p));
                    }
                }
            },
            Key::Group { group } => match value.map(GroupValue::decode) {
                Some(Ok(v)) => self.apply_group(group, v),
                Some(Err(e)) => tracing::warn!(%group, error = %e.0, "skipping undecodable group value"),
                None => {
                    if self.groups.get(&group).is_some_and(|g| !g.has_members()) {
                        self.groups.remove(&group);
                    }
                }
            },
        }
    }
}
