//! The classic group state machine (Empty, PreparingRebalance, CompletingRebalance,
//! Stable, Dead) and its members. Pure data: no I/O, no locks, no clocks of its own;
//! the coordinator passes `now` in (milliseconds of its injected clock) and acts on
//! what the transitions hand back.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::records::{GroupValue, MemberValue, OffsetValue};
use crate::error::GroupError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a waiting JoinGroup gets back.
#[derive(Clone, Debug)]
pub struct JoinResult {
    pub error: Option<GroupError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Non-empty for the leader only: (member id, instance id, metadata).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(member_id: &str, error: GroupError) -> JoinResult {
        JoinResult {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: vec![],
        }
    }
}

#[derive(Clone, Debug)]
pub struct SyncResult {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: GroupError) -> SyncResult {
        SyncResult { error: Some(error), protocol_type: None, protocol: None, assignment: Bytes::new() }
    }
}

pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat: i64,
    pub join_waiter: Option<oneshot::Sender<JoinResult>>,
    pub sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    /// Members blocked in JoinGroup or SyncGroup are not heartbeating; they are kept.
    pub fn is_waiting(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// KIP-394: member ids handed out with MEMBER_ID_REQUIRED, valid until the deadline.
    pub pending: HashMap<String, i64>,
    /// group.instance.id -> member id.
    pub static_members: HashMap<String, String>,
    pub rebalance_deadline: Option<i64>,
    /// While the first rebalance of an empty group waits for more members to arrive.
    pub initial_delay_until: Option<i64>,
    pub offsets: BTreeMap<(String, i32), OffsetValue>,
    pub state_timestamp: i64,
    /// Set when this is a KIP-848 consumer group; the classic fields then stay empty.
    pub consumer: Option<Box<super::consumer::ConsumerGroup>>,
}

impl Group {
    pub fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            offsets: BTreeMap::new(),
            state_timestamp: now_ms,
            consumer: None,
        }
    }

    /// `classic` or `consumer`, as ListGroups v5 names them.
    pub fn group_type(&self) -> &'static str {
        if self.consumer.is_some() {
            "consumer"
        } else {
            "classic"
        }
    }

    /// The state as ListGroups reports it, for either kind of group.
    pub fn state_name(&self) -> &'static str {
        match &self.consumer {
            Some(cg) => cg.state_name(),
            None => self.state.name(),
        }
    }

    /// Whether any member (of either protocol) is in the group.
    pub fn has_members(&self) -> bool {
        !self.members.is_empty() || self.consumer.as_ref().is_some_and(|c| !c.members.is_empty())
    }

    pub fn set_state(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp = now_ms;
    }

    /// Drops the classic membership (the group became a consumer group, or its
    /// classic metadata was written over): parked JoinGroup and SyncGroup calls get
    /// REBALANCE_IN_PROGRESS. The generation stays, so epochs only grow.
    pub fn clear_classic(&mut self, now_ms: i64) {
        for m in self.members.values_mut() {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinResult::error(&m.id, GroupError::RebalanceInProgress));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncResult::error(GroupError::RebalanceInProgress));
            }
        }
        self.members.clear();
        self.static_members.clear();
        self.pending.clear();
        self.protocol = None;
        self.leader = None;
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
        self.set_state(GroupState::Empty, now_ms);
    }

    /// What a metadata record says of a group beside its members: generation,
    /// protocol type, the time of its state.
    pub fn seed(&mut self, value: &GroupValue, now_ms: i64) {
        self.generation = value.generation;
        self.protocol_type = Some(value.protocol_type.clone()).filter(|p| !p.is_empty());
        self.state_timestamp = if value.current_state_timestamp > 0 { value.current_state_timestamp } else { now_ms };
    }

    /// The classic group its metadata record describes, as Kafka loads it: Stable
    /// with the members of the generation written (each supporting only the
    /// group's protocol, with its subscription and assignment), Empty without.
    /// Sessions start `now_ms`.
    pub fn restore_classic(&mut self, value: GroupValue, now_ms: i64) {
        self.clear_classic(now_ms);
        self.seed(&value, now_ms);
        if value.members.is_empty() {
            return;
        }
        let protocol = value.protocol.unwrap_or_default();
        let protocol_type = self.protocol_type.clone().unwrap_or_default();
        for m in value.members {
            if let Some(inst) = &m.group_instance_id {
                self.static_members.insert(inst.clone(), m.member_id.clone());
            }
            let member = Member {
                id: m.member_id.clone(),
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout as i64,
                rebalance_timeout_ms: m.rebalance_timeout as i64,
                protocol_type: protocol_type.clone(),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                last_heartbeat: now_ms,
                join_waiter: None,
                sync_waiter: None,
            };
            self.members.insert(m.member_id, member);
        }
        self.protocol = Some(protocol);
        self.leader =
            value.leader.filter(|l| self.members.contains_key(l)).or_else(|| self.members.keys().next().cloned());
        self.state = GroupState::Stable;
    }

    /// A protocol every member supports, chosen by the members' preference votes.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| self.members.values().all(|m| m.protocols.iter().any(|(p, _)| p == *n)))
            .collect();
        let mut votes: Vec<(usize, usize, &String)> = candidates
            .iter()
            .enumerate()
            .map(|(order, name)| {
                let v = self
                    .members
                    .values()
                    .filter(|m| {
                        m.protocols.iter().find(|(p, _)| candidates.contains(&p)).map(|(p, _)| p) == Some(*name)
                    })
                    .count();
                (v, usize::MAX - order, *name)
            })
            .collect();
        votes.sort();
        votes.last().map(|(_, _, n)| (*n).clone())
    }

    /// Whether a joining member's protocols can live with the group's current members.
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(name, _)| self.members.values().all(|m| m.protocols.iter().any(|(p, _)| p == name)))
    }

    pub fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0)
    }

    pub fn all_joined(&self) -> bool {
        self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// Group metadata as stored in `__consumer_offsets`.
    pub fn to_value(&self) -> GroupValue {
        let protocol = self.protocol.clone();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp,
            members: self
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms as i32,
                    session_timeout: m.session_timeout_ms as i32,
                    subscription: protocol.as_deref().map(|p| m.metadata_for(p)).unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            id: id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: protocols.iter().map(|p| (p.to_string(), Bytes::new())).collect(),
            assignment: Bytes::new(),
            last_heartbeat: 0,
            join_waiter: None,
            sync_waiter: None,
        }
    }

    #[test]
    fn protocol_selection_takes_the_most_preferred_common_protocol() {
        let mut g = Group::new("g", 0);
        g.protocol_type = Some("consumer".into());
        g.members.insert("a".into(), member("a", &["cooperative-sticky", "range"]));
        g.members.insert("b".into(), member("b", &["range", "cooperative-sticky"]));
        g.members.insert("c".into(), member("c", &["range"]));
        assert_eq!(g.select_protocol().as_deref(), Some("range"));
        assert!(g.supports("consumer", &[("range".into(), Bytes::new())]));
        assert!(!g.supports("consumer", &[("roundrobin".into(), Bytes::new())]));
        assert!(!g.supports("connect", &[("range".into(), Bytes::new())]));
    }
}
