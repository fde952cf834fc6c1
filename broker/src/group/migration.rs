//! Live migration between the classic protocol and KIP-848 consumer groups, as
//! Kafka 4.x does it with `group.consumer.migration.policy` (default
//! `bidirectional`):
//!
//! - Upgrade: a ConsumerGroupHeartbeat joining a classic group with members turns
//!   it into a consumer group (Kafka's `validateOnlineUpgrade` checks and messages).
//!   Every classic member becomes a member of the consumer group that still speaks
//!   the classic protocol: its subscription and assignment come from its
//!   ConsumerProtocol subscription and assignment, its member epoch is the
//!   generation. Parked JoinGroup/SyncGroup calls get REBALANCE_IN_PROGRESS.
//! - Classic members of a consumer group keep using JoinGroup, SyncGroup,
//!   Heartbeat and LeaveGroup: a join updates the member and reconciles it at once
//!   (generation = member epoch, no leader: the server assigns); SyncGroup returns
//!   its partitions; Heartbeat answers REBALANCE_IN_PROGRESS when the member must
//!   rejoin (the group epoch moved on, it has partitions to revoke, or partitions it
//!   waits for are free now).
//! - Downgrade: when the last member using the consumer protocol leaves or is
//!   fenced and classic members remain, the group becomes a classic group at
//!   generation = group epoch, keeping every member's assignment, and rebalances.
//!
//! Committed offsets never move: they belong to the group id.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{consumer_protocol_assignment, ConsumerProtocolAssignment};
use kafka_protocol::messages::{ConsumerProtocolSubscription, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use uuid::Uuid;

use super::assignor::Assignment;
use super::consumer::{ConsumerGroup, ConsumerMember, MemberState};
use super::join::JoinRequest;
use super::state::{Group, GroupState, JoinResult, Member, SyncResult};
use super::Coordinator;
use crate::error::GroupError;
use crate::metadata::MetadataStore;

/// What a consumer-group member that speaks the classic protocol brought to its
/// last JoinGroup.
#[derive(Clone, Debug)]
pub struct ClassicMember {
    pub session_timeout_ms: i64,
    /// (protocol name, ConsumerProtocol subscription) in the member's order.
    pub protocols: Vec<(String, Bytes)>,
}

impl ClassicMember {
    fn protocol_name(&self) -> String {
        self.protocols.first().map(|p| p.0.clone()).unwrap_or_default()
    }
    /// The ConsumerProtocol version the member speaks (its first protocol's).
    fn version(&self) -> i16 {
        self.protocols.first().and_then(|p| p.1.get(..2)).map_or(0, |b| i16::from_be_bytes([b[0], b[1]]))
    }
}

/// `group.consumer.migration.policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MigrationPolicy {
    pub upgrade: bool,
    pub downgrade: bool,
}

impl MigrationPolicy {
    pub fn parse(v: &str) -> Option<MigrationPolicy> {
        let (upgrade, downgrade) = match v.trim().to_ascii_lowercase().as_str() {
            "bidirectional" => (true, true),
            "upgrade" => (true, false),
            "downgrade" => (false, true),
            "disabled" => (false, false),
            _ => return None,
        };
        Some(MigrationPolicy { upgrade, downgrade })
    }
}

/// A ConsumerProtocol payload: a version, then the message at that version
/// (a newer version is read as the newest this broker knows, as Kafka does).
fn decode_versioned<T: Decodable + Message>(data: &[u8]) -> Option<T> {
    if data.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([data[0], data[1]]).clamp(T::VERSIONS.min, T::VERSIONS.max);
    let mut body = Bytes::copy_from_slice(&data[2..]);
    T::decode(&mut body, version).ok()
}

pub(super) struct Subscription {
    pub topics: Vec<String>,
    pub owned: Vec<(String, Vec<i32>)>,
    pub rack: Option<String>,
}

pub(super) fn decode_subscription(metadata: &[u8]) -> Option<Subscription> {
    let s: ConsumerProtocolSubscription = decode_versioned(metadata)?;
    Some(Subscription {
        topics: s.topics.iter().map(|t| t.to_string()).collect(),
        owned: s.owned_partitions.iter().map(|tp| (tp.topic.0.to_string(), tp.partitions.clone())).collect(),
        rack: s.rack_id.map(|r| r.to_string()).filter(|r| !r.is_empty()),
    })
}

fn decode_assignment(data: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    if data.is_empty() {
        return Some(Vec::new());
    }
    let a: ConsumerProtocolAssignment = decode_versioned(data)?;
    Some(a.assigned_partitions.iter().map(|tp| (tp.topic.0.to_string(), tp.partitions.clone())).collect())
}

/// A ConsumerProtocol assignment at `version` (capped at the newest known).
pub(super) fn encode_assignment(version: i16, parts: &[(String, Vec<i32>)]) -> Bytes {
    let version = version.clamp(0, ConsumerProtocolAssignment::VERSIONS.max);
    let a = ConsumerProtocolAssignment::default().with_assigned_partitions(
        parts
            .iter()
            .map(|(t, ps)| {
                consumer_protocol_assignment::TopicPartition::default()
                    .with_topic(TopicName(StrBytes::from_string(t.clone())))
                    .with_partitions(ps.clone())
            })
            .collect(),
    );
    let mut out = BytesMut::new();
    out.put_i16(version);
    a.encode(&mut out, version).expect("a ConsumerProtocol assignment encodes");
    out.freeze()
}

fn by_id(parts: &[(String, Vec<i32>)], meta: &MetadataStore) -> Assignment {
    let mut a = Assignment::new();
    for (name, ps) in parts {
        if let Some(t) = meta.topic(name) {
            a.entry(t.id).or_default().extend(ps.iter().copied());
        }
    }
    a
}

fn by_name(a: &Assignment, cg: &ConsumerGroup) -> Vec<(String, Vec<i32>)> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .filter_map(|(id, ps)| cg.topics.get(id).map(|(n, _)| (n.clone(), ps.iter().copied().collect())))
        .collect()
}

fn not_classic(id: &str) -> GroupError {
    GroupError::UnknownMemberId(format!("Member {id} does not use the classic protocol."))
}

impl Coordinator {
    /// Kafka's `validateOnlineUpgrade`, then the conversion (see the module doc).
    pub(super) fn upgrade_classic_group(&self, g: &mut Group, now: i64) -> Result<(), GroupError> {
        let gid = g.id.clone();
        let refuse = |why: &str| {
            Err(GroupError::GroupIdNotFound(format!(
                "Cannot upgrade classic group {gid} to consumer group because {why}."
            )))
        };
        if !self.consumer_cfg.migration.upgrade {
            return refuse("online upgrade is disabled");
        }
        if g.protocol_type.as_deref() != Some("consumer") {
            return refuse("the group does not use the consumer embedded protocol");
        }
        if g.members.len() > self.consumer_cfg.max_size {
            return refuse("the group size exceeds the consumer group maximum size");
        }
        let protocol = g.protocol.clone().or_else(|| g.select_protocol()).unwrap_or_default();
        let mut members = Vec::with_capacity(g.members.len());
        for m in g.members.values() {
            let (Some(sub), Some(assigned)) =
                (decode_subscription(&m.metadata_for(&protocol)), decode_assignment(&m.assignment))
            else {
                return refuse("the embedded consumer protocol is malformed");
            };
            members.push((m.id.clone(), sub, assigned));
        }
        let mut cg = ConsumerGroup::new(g.generation.max(0), &self.consumer_cfg.assignors[0]);
        for (id, sub, assigned) in members {
            let old = &g.members[&id];
            let mut m = ConsumerMember::new(id.clone(), now);
            m.instance_id = old.instance_id.clone();
            m.client_id = old.client_id.clone();
            m.client_host = old.client_host.clone();
            m.rebalance_timeout_ms = old.rebalance_timeout_ms;
            m.epoch = cg.epoch;
            m.previous_epoch = cg.epoch;
            m.rack_id = sub.rack;
            let mut names = sub.topics;
            names.sort();
            names.dedup();
            for name in &names {
                if let Some(t) = self.meta.topic(name) {
                    m.subscribed.insert(t.id);
                    cg.topics.insert(t.id, (t.name.clone(), t.partitions));
                }
            }
            m.topic_names = names;
            m.assigned = by_id(&assigned, &self.meta);
            m.classic =
                Some(ClassicMember { session_timeout_ms: old.session_timeout_ms, protocols: old.protocols.clone() });
            for (t, ps) in &m.assigned {
                for p in ps {
                    cg.owners.insert((*t, *p), id.clone());
                }
            }
            cg.target.insert(id.clone(), m.assigned.clone());
            if let Some(inst) = &m.instance_id {
                cg.static_members.insert(inst.clone(), id.clone());
            }
            cg.members.insert(id, m);
        }
        g.clear_classic(now);
        tracing::info!(group = %g.id, members = cg.members.len(), group_epoch = cg.epoch, "converted the classic group to a consumer group");
        g.consumer = Some(Box::new(cg));
        Ok(())
    }

    /// After a member left or was fenced: a consumer group whose members all speak
    /// the classic protocol becomes a classic group (Kafka's online downgrade).
    pub(super) fn maybe_downgrade(&self, g: &mut Group, now: i64) {
        let Some(cg) = g.consumer.as_ref() else { return };
        if cg.members.is_empty() || cg.members.values().any(|m| m.classic.is_none()) {
            return;
        }
        if !self.consumer_cfg.migration.downgrade || cg.members.len() > self.cfg.max_size {
            tracing::info!(group = %g.id, "cannot downgrade the consumer group to a classic group (policy or size)");
            return;
        }
        let cg = g.consumer.take().expect("consumer group");
        g.generation = cg.epoch;
        g.protocol_type = Some("consumer".into());
        for m in cg.members.values() {
            let classic = m.classic.as_ref().expect("classic members only");
            let assignment = encode_assignment(classic.version(), &by_name(&m.assigned, &cg));
            g.members.insert(
                m.id.clone(),
                Member {
                    id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: classic.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocol_type: "consumer".into(),
                    protocols: classic.protocols.clone(),
                    assignment,
                    last_heartbeat: now,
                    join_waiter: None,
                    sync_waiter: None,
                },
            );
            if let Some(inst) = &m.instance_id {
                g.static_members.insert(inst.clone(), m.id.clone());
            }
        }
        g.protocol = g.select_protocol();
        g.leader = g.members.keys().next().cloned();
        g.set_state(GroupState::Stable, now);
        tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), "converted the consumer group to a classic group");
        self.prepare_rebalance(g, now);
    }

    /// JoinGroup of a classic member into a consumer group.
    pub(super) fn classic_join_consumer(&self, g: &mut Group, req: &JoinRequest, now: i64) -> JoinResult {
        let first = req.protocols.first();
        let sub = first.and_then(|p| decode_subscription(&p.1));
        let (Some((protocol, _)), Some(sub), "consumer") = (first, sub, req.protocol_type.as_str()) else {
            return JoinResult::error(&req.member_id, GroupError::InconsistentGroupProtocol);
        };
        let mut id = req.member_id.clone();
        if id.is_empty() {
            id = Uuid::new_v4().to_string();
            if req.require_known_member_id && req.instance_id.is_none() {
                return JoinResult::error(&id, GroupError::MemberIdRequired);
            }
        }
        let cg = g.consumer.as_mut().expect("consumer group");
        if let Some(inst) = &req.instance_id {
            if let Some(old) = cg.static_members.get(inst).cloned() {
                if old != id {
                    cg.replace_static(&old, &id);
                }
            }
        }
        let mut bump = false;
        if !cg.members.contains_key(&id) {
            let max = self.consumer_cfg.max_size;
            if cg.members.len() >= max {
                return JoinResult::error(
                    &id,
                    GroupError::GroupMaxSizeReached(format!(
                        "The consumer group has reached its maximum capacity of {max} members."
                    )),
                );
            }
            let mut m = ConsumerMember::new(id.clone(), now);
            m.instance_id = req.instance_id.clone();
            if let Some(inst) = &req.instance_id {
                cg.static_members.insert(inst.clone(), id.clone());
            }
            cg.members.insert(id.clone(), m);
            bump = true;
            tracing::info!(group = %g.id, member = %id, "classic member joined the consumer group");
        }
        let m = cg.members.get_mut(&id).expect("member");
        if m.classic.is_none() && !bump {
            return JoinResult::error(&id, not_classic(&id));
        }
        m.last_heartbeat = now;
        m.departed = false;
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        if sub.rack.is_some() {
            m.rack_id = sub.rack.clone();
        }
        m.classic =
            Some(ClassicMember { session_timeout_ms: req.session_timeout_ms, protocols: req.protocols.clone() });
        let mut names = sub.topics.clone();
        names.sort();
        names.dedup();
        if names != m.topic_names {
            m.topic_names = names;
            bump = true;
        }
        bump |= super::consumer_ops::refresh_topics(cg, &id, &self.meta);
        if bump {
            cg.bump();
        }
        let owned = by_id(&sub.owned, &self.meta);
        cg.reconcile(&id, Some(&owned), now);
        let m = &cg.members[&id];
        JoinResult {
            error: None,
            generation: m.epoch,
            protocol_type: Some("consumer".into()),
            protocol: Some(protocol.clone()),
            leader: String::new(),
            member_id: id,
            members: vec![],
        }
    }

    /// The member of a consumer group a classic request is for (Kafka's
    /// `validateConsumerGroupMember` and classic-protocol check).
    fn classic_member<'c>(
        cg: &'c mut ConsumerGroup,
        member: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<&'c mut ConsumerMember, GroupError> {
        let id = match instance_id {
            None => member.to_string(),
            Some(inst) => match cg.static_members.get(inst) {
                None => {
                    return Err(GroupError::UnknownMemberId(format!(
                        "Member with instance id {inst} is not a member of the group."
                    )))
                }
                Some(known) if known != member => return Err(super::join::fenced(inst)),
                Some(known) => known.clone(),
            },
        };
        let m = cg.members.get_mut(&id).ok_or_else(|| super::unknown_member(&id))?;
        if m.classic.is_none() {
            return Err(not_classic(&id));
        }
        if generation != m.epoch {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(m)
    }

    /// SyncGroup of a classic member of a consumer group: its partitions.
    pub(super) fn classic_sync_consumer(
        &self,
        g: &mut Group,
        generation: i32,
        member: &str,
        instance_id: Option<&str>,
        now: i64,
    ) -> SyncResult {
        let cg = g.consumer.as_mut().expect("consumer group");
        let epoch = cg.epoch;
        let m = match Self::classic_member(cg, member, instance_id, generation) {
            Ok(m) => m,
            Err(e) => return SyncResult::error(e),
        };
        if epoch > m.epoch && m.state != MemberState::UnrevokedPartitions {
            return SyncResult::error(GroupError::RebalanceInProgress);
        }
        m.last_heartbeat = now;
        let classic = m.classic.clone().expect("classic member");
        let assigned = m.assigned.clone();
        let cg = g.consumer.as_ref().expect("consumer group");
        SyncResult {
            error: None,
            protocol_type: Some("consumer".into()),
            protocol: Some(classic.protocol_name()),
            assignment: encode_assignment(classic.version(), &by_name(&assigned, cg)),
        }
    }

    /// Heartbeat of a classic member of a consumer group: REBALANCE_IN_PROGRESS
    /// when it must rejoin to move on.
    pub(super) fn classic_heartbeat_consumer(
        &self,
        g: &mut Group,
        generation: i32,
        member: &str,
        instance_id: Option<&str>,
        now: i64,
    ) -> Result<(), GroupError> {
        let cg = g.consumer.as_mut().expect("consumer group");
        let epoch = cg.epoch;
        let m = Self::classic_member(cg, member, instance_id, generation)?;
        m.last_heartbeat = now;
        let (id, state) = (m.id.clone(), m.state);
        let waiting_on_others = || {
            let empty = Assignment::new();
            let target = cg.target.get(&id).unwrap_or(&empty);
            let assigned = &cg.members[&id].assigned;
            let want: BTreeSet<(Uuid, i32)> = target
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
                .filter(|(t, p)| !assigned.get(t).is_some_and(|a| a.contains(p)))
                .collect();
            want.iter().any(|tp| cg.owners.get(tp).is_some_and(|o| *o != id))
        };
        let rejoin = cg.members[&id].epoch < epoch
            || state == MemberState::UnrevokedPartitions
            || (state == MemberState::UnreleasedPartitions && !waiting_on_others());
        if rejoin {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// LeaveGroup of classic members of a consumer group; then maybe a downgrade.
    pub(super) fn classic_leave_consumer(
        &self,
        g: &mut Group,
        members: &[(String, Option<String>)],
        now: i64,
    ) -> Vec<Result<(), GroupError>> {
        let cg = g.consumer.as_mut().expect("consumer group");
        let mut results = Vec::with_capacity(members.len());
        let mut left = false;
        for (id, inst) in members {
            let target = match inst {
                Some(inst) => match cg.static_members.get(inst) {
                    Some(known) if id.is_empty() || known == id => Ok(known.clone()),
                    Some(_) => Err(super::join::fenced(inst)),
                    None => Err(super::unknown_member(id)),
                },
                None if cg.members.contains_key(id) => Ok(id.clone()),
                None => Err(super::unknown_member(id)),
            };
            let r = target.and_then(|t| match cg.members[&t].classic {
                None => Err(not_classic(&t)),
                Some(_) => {
                    cg.remove(&t);
                    tracing::info!(group = %g.id, member = %t, "classic member left the consumer group");
                    left = true;
                    Ok(())
                }
            });
            results.push(r);
        }
        if left {
            cg.bump();
            self.maybe_downgrade(g, now);
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_protocol_payloads_round_trip_at_the_members_version() {
        let a = encode_assignment(3, &[("t".into(), vec![0, 2])]);
        assert_eq!(&a[..2], &[0, 3]);
        assert_eq!(decode_assignment(&a).unwrap(), vec![("t".to_string(), vec![0, 2])]);
        assert_eq!(decode_assignment(&[]).unwrap(), vec![]);
        let sub = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("t")])
            .with_owned_partitions(vec![
                kafka_protocol::messages::consumer_protocol_subscription::TopicPartition::default()
                    .with_topic(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![1]),
            ]);
        let mut buf = BytesMut::new();
        buf.put_i16(1);
        sub.encode(&mut buf, 1).unwrap();
        let s = decode_subscription(&buf).unwrap();
        assert_eq!((s.topics, s.owned), (vec!["t".to_string()], vec![("t".to_string(), vec![1])]));
        // A version newer than the broker knows is read as the newest it knows
        // (fields a newer version adds come after those).
        let mut newer = BytesMut::new();
        newer.put_i16(9);
        sub.encode(&mut newer, 3).unwrap();
        newer.put_slice(b"fields of v9");
        assert_eq!(decode_subscription(&newer).unwrap().topics, vec!["t".to_string()]);
        assert!(decode_subscription(&[0]).is_none());
        assert_eq!(MigrationPolicy::parse("Bidirectional"), Some(MigrationPolicy { upgrade: true, downgrade: true }));
        assert_eq!(MigrationPolicy::parse("sideways"), None);
    }
}
