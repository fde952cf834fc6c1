//! Coordinator operations of KIP-848 consumer groups: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe, session and revocation timeouts, and the member checks of
//! OffsetCommit / OffsetFetch (member epochs instead of generations).
//!
//! A group id is either a classic group or a consumer group. An empty group of one
//! kind becomes the other kind when a member of the other protocol joins it; its
//! committed offsets stay.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::assignor::{Assignment, ASSIGNORS};
use super::consumer::{same, ConsumerGroup, ConsumerMember};
use super::state::Group;
use super::store::OFFSETS_TOPIC;
use super::Coordinator;
use crate::configs::group_timeouts;
use crate::error::GroupError;
use crate::metadata::MetadataStore;

/// Member epoch of a member leaving the group.
pub const LEAVE_EPOCH: i32 = -1;
/// Member epoch of a static member leaving for now (it may come back).
pub const LEAVE_STATIC_EPOCH: i32 = -2;

/// Topics a regular expression never matches (Kafka's internal topics).
const INTERNAL_TOPICS: &[&str] = &[OFFSETS_TOPIC, "__transaction_state", crate::share::store::SHARE_STATE_TOPIC];

pub struct ConsumerHeartbeat {
    pub group: String,
    pub member_id: String,
    pub epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub topic_names: Option<Vec<String>>,
    pub regex: Option<String>,
    pub assignor: Option<String>,
    /// What the member owns, by topic id; None when unchanged since its last report.
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
    /// v0 lets the coordinator pick the member id; v1 members bring their own.
    pub version: i16,
}

#[derive(Debug)]
pub struct HeartbeatAnswer {
    pub member_id: String,
    pub epoch: i32,
    pub interval_ms: i32,
    /// The partitions the member owns now, when it must be told.
    pub assignment: Option<Assignment>,
}

pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub topic_names: Vec<String>,
    pub regex: Option<String>,
    pub assignment: Vec<(Uuid, String, Vec<i32>)>,
    pub target: Vec<(Uuid, String, Vec<i32>)>,
}

pub struct ConsumerGroupDescription {
    pub state: &'static str,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<ConsumerMemberDescription>,
}

fn validate(req: &ConsumerHeartbeat) -> Result<(), GroupError> {
    let invalid = |m: &str| Err(GroupError::InvalidRequest(m.to_string()));
    if req.group.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.version >= 1 && req.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    }
    if req.instance_id.as_deref() == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if req.epoch == 0 {
        if req.rebalance_timeout_ms < 0 {
            return invalid("RebalanceTimeoutMs must be provided in first request.");
        }
        if req.topic_names.is_none() && req.regex.is_none() {
            return invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.");
        }
        if req.owned.is_none() {
            return invalid("TopicPartitions must be empty when (re-)joining.");
        }
    } else if req.epoch < LEAVE_STATIC_EPOCH {
        return invalid(&format!("MemberEpoch {} is invalid.", req.epoch));
    } else if req.epoch > 0 && req.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    } else if req.epoch == LEAVE_STATIC_EPOCH && req.instance_id.is_none() {
        return invalid("InstanceId can't be null when MemberEpoch is -2.");
    }
    if let Some(a) = req.assignor.as_deref() {
        if !ASSIGNORS.contains(&a) {
            return Err(GroupError::UnsupportedAssignor(format!(
                "ServerAssignor {a} is not supported. Supported assignors: {}.",
                ASSIGNORS.join(", ")
            )));
        }
    }
    Ok(())
}

/// `^(?:re)$`: Kafka matches the whole topic name.
pub(super) fn compile(re: &str) -> Result<regex::Regex, GroupError> {
    regex::Regex::new(&format!("^(?:{re})$")).map_err(|e| {
        GroupError::InvalidRegularExpression(format!(
            "SubscribedTopicRegex `{re}` is not a valid regular expression: {e}"
        ))
    })
}

/// The topic ids (with names and partition counts) a member's subscription covers now.
fn resolve(m: &ConsumerMember, meta: &MetadataStore) -> Vec<(Uuid, String, i32)> {
    let mut out: Vec<(Uuid, String, i32)> =
        m.topic_names.iter().filter_map(|n| meta.topic(n)).map(|t| (t.id, t.name.clone(), t.partitions)).collect();
    if let Some(re) = &m.compiled {
        for t in meta.topics() {
            if !INTERNAL_TOPICS.contains(&t.name.as_str()) && re.is_match(&t.name) && !m.topic_names.contains(&t.name) {
                out.push((t.id, t.name.clone(), t.partitions));
            }
        }
    }
    out
}

impl Coordinator {
    /// A heartbeat, answered once the group's records it changed are on disk.
    pub async fn consumer_heartbeat(&self, req: ConsumerHeartbeat) -> Result<HeartbeatAnswer, GroupError> {
        let group = req.group.clone();
        let _turn = self.consumer_turn(&group).await;
        let answer = self.consumer_heartbeat_in_memory(req);
        // A heartbeat changes its own member (the one answered for: a static
        // member leaving may be found by its instance id), or bumps the group.
        // Even a refused heartbeat may have changed the group (a fenced member is
        // removed on rejoin): then the whole group is compared.
        let member = answer.as_ref().ok().map(|a| a.member_id.as_str());
        self.persist_consumer_in_turn(&group, member).await.map_err(|_| GroupError::CoordinatorNotAvailable)?;
        answer
    }

    fn consumer_heartbeat_in_memory(&self, mut req: ConsumerHeartbeat) -> Result<HeartbeatAnswer, GroupError> {
        validate(&req)?;
        let compiled = match req.regex.as_deref() {
            Some(re) if !re.is_empty() => Some(compile(re)?),
            _ => None,
        };
        if req.version == 0 && req.epoch == 0 && req.member_id.is_empty() {
            req.member_id = Uuid::new_v4().to_string();
        }
        let now = self.now();
        // Read before the group lock: the group's own configs, else the broker's.
        let timeouts = group_timeouts(&self.consumer_cfg, &self.meta, &req.group);
        let mut groups = self.store.lock();
        let gid = req.group.clone();
        let g = self.consumer_group_for(&mut groups, &req, now)?;
        let cg = g.consumer.as_mut().expect("consumer group");
        if req.epoch == LEAVE_EPOCH || req.epoch == LEAVE_STATIC_EPOCH {
            let answer = leave(cg, &gid, &req, now);
            if answer.is_ok() {
                self.maybe_downgrade(g, now);
            }
            return answer;
        }
        let mut bump = if req.epoch == 0 { self.join_member(cg, &gid, &req, now)? } else { check_member(cg, &req)? };
        bump |= update_member(cg, &mut req, compiled, now);
        bump |= refresh_topics(cg, &req.member_id, &self.meta);
        if bump {
            cg.bump();
            tracing::debug!(group = %gid, group_epoch = cg.epoch, assignor = %cg.assignor, "new target assignment");
        }
        let before = cg.members[&req.member_id].assigned.clone();
        let changed = cg.reconcile(&req.member_id, req.owned.as_ref(), now);
        let m = &cg.members[&req.member_id];
        let out_of_sync = req.owned.as_ref().is_some_and(|o| !same(o, &m.assigned));
        let send = req.epoch == 0 || changed || out_of_sync || !same(&before, &m.assigned);
        Ok(HeartbeatAnswer {
            member_id: m.id.clone(),
            epoch: m.epoch,
            interval_ms: timeouts.heartbeat_interval_ms as i32,
            assignment: send.then(|| m.assigned.clone()),
        })
    }

    /// The group the heartbeat is for, made a consumer group when it is a new id or
    /// an empty classic group.
    fn consumer_group_for<'g>(
        &self,
        groups: &'g mut std::collections::HashMap<String, Group>,
        req: &ConsumerHeartbeat,
        now: i64,
    ) -> Result<&'g mut Group, GroupError> {
        let gid = &req.group;
        let unknown = || GroupError::UnknownMemberId(format!("Group {gid} has no member {}.", req.member_id));
        if !groups.contains_key(gid) {
            if req.epoch != 0 {
                return Err(unknown());
            }
            groups.insert(gid.clone(), Group::new(gid, now));
        }
        let g = groups.get_mut(gid).expect("group");
        if g.consumer.is_none() {
            if req.epoch != 0 {
                return Err(unknown());
            }
            if !g.members.is_empty() {
                // A consumer-protocol member joins a classic group with members.
                self.upgrade_classic_group(g, now)?;
                return Ok(g);
            }
            // An empty classic group (perhaps only committed offsets) becomes a
            // consumer group; its generation seeds the group epoch so epochs only grow.
            let default_assignor = &self.consumer_cfg.assignors[0];
            g.consumer = Some(Box::new(ConsumerGroup::new(g.generation.max(0), default_assignor)));
            g.protocol_type = Some("consumer".into());
        }
        Ok(g)
    }

    /// A member joining (epoch 0): new, rejoining after it was fenced, or a static
    /// member taking over its departed identity. Returns whether the epoch bumps.
    fn join_member(
        &self,
        cg: &mut ConsumerGroup,
        gid: &str,
        req: &ConsumerHeartbeat,
        now: i64,
    ) -> Result<bool, GroupError> {
        let mut bump = false;
        if let Some(inst) = &req.instance_id {
            if let Some(old) = cg.static_members.get(inst).cloned() {
                if old != req.member_id {
                    if !cg.members[&old].departed {
                        return Err(GroupError::UnreleasedInstanceId(format!(
                            "Static member {old} with instance id {inst} is still in the group."
                        )));
                    }
                    if cg.members.contains_key(&req.member_id) {
                        cg.remove(&req.member_id);
                        bump = true;
                    }
                    cg.replace_static(&old, &req.member_id);
                    tracing::info!(group = %gid, member = %req.member_id, instance = %inst, "static member rejoined and keeps its assignment");
                    return Ok(bump);
                }
            }
        }
        if cg.members.contains_key(&req.member_id) {
            // A member rejoining after it was fenced owns nothing any more.
            cg.remove(&req.member_id);
        }
        let max = self.consumer_cfg.max_size;
        if cg.members.len() >= max {
            return Err(GroupError::GroupMaxSizeReached(format!(
                "The consumer group has reached its maximum capacity of {max} members."
            )));
        }
        let mut m = ConsumerMember::new(req.member_id.clone(), now);
        m.instance_id = req.instance_id.clone();
        if let Some(inst) = &req.instance_id {
            cg.static_members.insert(inst.clone(), m.id.clone());
        }
        cg.members.insert(m.id.clone(), m);
        tracing::info!(group = %gid, member = %req.member_id, "member joined the group");
        Ok(true)
    }
}

/// A member leaving for good (epoch -1) or, static, for now (epoch -2).
fn leave(cg: &mut ConsumerGroup, gid: &str, req: &ConsumerHeartbeat, now: i64) -> Result<HeartbeatAnswer, GroupError> {
    let id = match (&req.instance_id, cg.members.contains_key(&req.member_id)) {
        (_, true) => req.member_id.clone(),
        (Some(inst), false) => match cg.static_members.get(inst) {
            Some(id) => id.clone(),
            None => return Err(GroupError::UnknownMemberId(format!("Unknown instance {inst}."))),
        },
        (None, false) => return Err(GroupError::UnknownMemberId(format!("Unknown member {}.", req.member_id))),
    };
    if req.epoch == LEAVE_STATIC_EPOCH {
        let m = cg.members.get_mut(&id).expect("member");
        m.departed = true;
        m.last_heartbeat = now;
        tracing::info!(group = %gid, member = %id, instance = ?req.instance_id, "static member left for now; its partitions wait for it");
    } else {
        cg.remove(&id);
        cg.bump();
        tracing::info!(group = %gid, member = %id, group_epoch = cg.epoch, "member left the group");
    }
    Ok(HeartbeatAnswer { member_id: id, epoch: req.epoch, interval_ms: 0, assignment: None })
}

/// A heartbeat of a member in the group: it must be there, at its epoch (or
/// retrying a request whose response it lost).
fn check_member(cg: &ConsumerGroup, req: &ConsumerHeartbeat) -> Result<bool, GroupError> {
    let Some(m) = cg.members.get(&req.member_id) else {
        return Err(GroupError::UnknownMemberId(format!("Unknown member {}.", req.member_id)));
    };
    if m.departed {
        return Err(GroupError::UnknownMemberId(format!("Member {} left the group.", m.id)));
    }
    if req.instance_id.is_some() && m.instance_id != req.instance_id {
        return Err(GroupError::FencedInstanceId("The instance id does not match the member.".into()));
    }
    let retry_of_lost_response =
        req.epoch == m.previous_epoch && req.owned.as_ref().is_some_and(|o| super::consumer::is_subset(o, &m.assigned));
    if req.epoch != m.epoch && !retry_of_lost_response {
        return Err(GroupError::FencedMemberEpoch(format!(
            "The member epoch {} is fenced; the current epoch is {}.",
            req.epoch, m.epoch
        )));
    }
    Ok(false)
}

/// Takes what the heartbeat says of the member; returns whether its subscription
/// or assignor changed (the epoch bumps).
fn update_member(
    cg: &mut ConsumerGroup,
    req: &mut ConsumerHeartbeat,
    compiled: Option<regex::Regex>,
    now: i64,
) -> bool {
    let mut bump = false;
    let m = cg.members.get_mut(&req.member_id).expect("member");
    m.last_heartbeat = now;
    m.client_id = req.client_id.clone();
    m.client_host = req.client_host.clone();
    if req.rebalance_timeout_ms > 0 {
        m.rebalance_timeout_ms = req.rebalance_timeout_ms as i64;
    }
    if req.rack_id.is_some() {
        m.rack_id = req.rack_id.clone();
    }
    if req.assignor.is_some() && m.assignor != req.assignor {
        m.assignor = req.assignor.clone();
        bump = true;
    }
    if let Some(mut names) = req.topic_names.take() {
        names.sort();
        names.dedup();
        if names != m.topic_names {
            m.topic_names = names;
            bump = true;
        }
    }
    if let Some(re) = req.regex.take() {
        let re = Some(re).filter(|r| !r.is_empty());
        if re != m.regex {
            m.regex = re;
            m.compiled = compiled;
            bump = true;
        }
    }
    bump
}

/// Topic metadata: deleted topics and partition counts of the group's topics, and
/// what `member`'s subscription resolves to now. Returns whether any changed.
pub(super) fn refresh_topics(cg: &mut ConsumerGroup, member: &str, meta: &MetadataStore) -> bool {
    let mut bump = false;
    let mut gone: Vec<Uuid> = Vec::new();
    for (id, (_, n)) in cg.topics.iter_mut() {
        match meta.topic_by_id(id) {
            None => gone.push(*id),
            Some(t) if t.partitions != *n => {
                *n = t.partitions;
                bump = true;
            }
            Some(_) => {}
        }
    }
    for id in &gone {
        cg.topics.remove(id);
        for m in cg.members.values_mut() {
            m.subscribed.remove(id);
        }
        bump = true;
    }
    let m = cg.members.get_mut(member).expect("member");
    let resolved = resolve(m, meta);
    let ids: BTreeSet<Uuid> = resolved.iter().map(|(id, ..)| *id).collect();
    if ids != m.subscribed {
        m.subscribed = ids;
        bump = true;
    }
    for (id, name, n) in resolved {
        if cg.topics.get(&id).map(|(_, c)| *c) != Some(n) {
            cg.topics.insert(id, (name, n));
            bump = true;
        }
    }
    bump
}

impl Coordinator {
    /// Expires consumer-group members whose session or revocation time ran out;
    /// whether any did.
    pub(super) fn tick_consumer(&self, g: &mut Group, now: i64) -> bool {
        let Some(cg) = g.consumer.as_mut() else { return false };
        let session = group_timeouts(&self.consumer_cfg, &self.meta, &g.id).session_timeout_ms;
        let expired: Vec<(String, &'static str)> = cg
            .members
            .values()
            .filter_map(|m| {
                // A member speaking the classic protocol has its own session timeout.
                let session = m.classic.as_ref().map_or(session, |c| c.session_timeout_ms);
                if m.last_heartbeat + session <= now {
                    Some((m.id.clone(), "session timed out"))
                } else if m.revoke_deadline.is_some_and(|d| d <= now) {
                    Some((m.id.clone(), "did not revoke its partitions within its rebalance timeout"))
                } else {
                    None
                }
            })
            .collect();
        if expired.is_empty() {
            return false;
        }
        for (id, why) in &expired {
            tracing::info!(group = %g.id, member = %id, reason = why, "member fenced");
            cg.remove(id);
        }
        cg.bump();
        g.state_timestamp = now;
        self.maybe_downgrade(g, now);
        true
    }

    pub fn describe_consumer_group(&self, group: &str) -> Option<ConsumerGroupDescription> {
        let groups = self.store.lock();
        let cg = groups.get(group)?.consumer.as_ref()?;
        let named = |a: &Assignment| -> Vec<(Uuid, String, Vec<i32>)> {
            a.iter()
                .filter(|(_, ps)| !ps.is_empty())
                .map(|(id, ps)| {
                    let name = cg.topics.get(id).map(|(n, _)| n.clone()).unwrap_or_default();
                    (*id, name, ps.iter().copied().collect())
                })
                .collect()
        };
        let empty = Assignment::new();
        Some(ConsumerGroupDescription {
            state: cg.state_name(),
            epoch: cg.epoch,
            assignment_epoch: cg.assignment_epoch,
            assignor: cg.assignor.clone(),
            members: cg
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    epoch: if m.departed { LEAVE_STATIC_EPOCH } else { m.epoch },
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    topic_names: m.topic_names.clone(),
                    regex: m.regex.clone(),
                    assignment: named(&m.assigned),
                    target: named(cg.target.get(&m.id).unwrap_or(&empty)),
                })
                .collect(),
        })
    }
}

/// OffsetCommit / OffsetFetch by a consumer-group member: the member must exist and
/// send its current epoch. (Clients older than OffsetCommit v9 know no
/// STALE_MEMBER_EPOCH; the API layer answers them ILLEGAL_GENERATION.)
pub(super) fn check_member_epoch(cg: &ConsumerGroup, member_id: &str, epoch: i32) -> Result<(), GroupError> {
    let Some(m) = cg.members.get(member_id).filter(|m| !m.departed) else {
        return Err(GroupError::UnknownMemberId(format!("Unknown member {member_id}.")));
    };
    if epoch != m.epoch {
        // A member speaking the classic protocol sends its generation (its epoch).
        if m.classic.is_some() {
            return Err(GroupError::IllegalGeneration);
        }
        return Err(GroupError::StaleMemberEpoch);
    }
    Ok(())
}
