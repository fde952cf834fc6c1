//! JoinGroup and the join barrier of the classic protocol: Empty or Stable →
//! PreparingRebalance (members rejoin, parked on their JoinGroup) →
//! CompletingRebalance (every member answered, the leader with the member list)
//! once all known members rejoined and the initial delay is over, or when the
//! rebalance timeout forces it (members that did not rejoin are removed).

use bytes::Bytes;
use tokio::sync::oneshot;

use super::records::GroupValue;
use super::state::{Group, GroupState, JoinResult, SyncResult};
use super::store::GroupsState;
use super::{member_id, new_member, unknown_member, Coordinator};
use crate::error::GroupError;

pub struct JoinRequest {
    pub group: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// KIP-394: from JoinGroup v4 a new member must first obtain its id.
    pub require_known_member_id: bool,
}

/// Join result for the current generation, as sent to `member`.
pub(super) fn current_join(g: &Group, member: &str) -> JoinResult {
    let protocol = g.protocol.clone();
    let leader = g.leader.clone().unwrap_or_default();
    let members = if leader == member {
        let p = protocol.clone().unwrap_or_default();
        g.members.values().map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata_for(&p))).collect()
    } else {
        vec![]
    };
    JoinResult {
        error: None,
        generation: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol,
        leader,
        member_id: member.to_string(),
        members,
    }
}

/// A join that must wait for the rebalance, and group metadata to persist first.
type Pending = (oneshot::Receiver<JoinResult>, Option<(String, GroupValue)>);

impl Coordinator {
    pub(super) fn prepare_rebalance(&self, g: &mut Group, now: i64) {
        if g.state == GroupState::CompletingRebalance {
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncResult::error(GroupError::RebalanceInProgress));
                }
            }
        }
        if g.state != GroupState::PreparingRebalance {
            g.set_state(GroupState::PreparingRebalance, now);
            g.rebalance_deadline = Some(now + g.max_rebalance_timeout_ms());
            tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), "preparing to rebalance");
        }
    }

    /// Completes the join phase when every member has rejoined (and any initial delay
    /// is over), or when forced by the rebalance timeout. Returns group metadata to
    /// persist when the group became empty.
    pub(super) fn maybe_complete_join(&self, g: &mut Group, now: i64, force: bool) -> Option<GroupValue> {
        if g.state != GroupState::PreparingRebalance {
            return None;
        }
        let delayed = g.initial_delay_until.is_some_and(|t| now < t);
        if !force && (delayed || !g.all_joined()) {
            return None;
        }
        g.initial_delay_until = None;
        // Members that did not rejoin in time leave the group.
        let gone: Vec<String> = g.members.values().filter(|m| m.join_waiter.is_none()).map(|m| m.id.clone()).collect();
        for id in gone {
            self.remove_member(g, &id);
        }
        g.generation += 1;
        g.rebalance_deadline = None;
        if g.members.is_empty() {
            g.protocol = None;
            g.leader = None;
            g.set_state(GroupState::Empty, now);
            tracing::info!(group = %g.id, generation = g.generation, "group is empty");
            return Some(g.to_value());
        }
        g.protocol = g.select_protocol();
        if !g.leader.as_ref().is_some_and(|l| g.members.contains_key(l)) {
            g.leader = g.members.keys().next().cloned();
        }
        g.set_state(GroupState::CompletingRebalance, now);
        tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), protocol = ?g.protocol, "rebalance: join complete");
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in ids {
            let result = current_join(g, &id);
            let m = g.members.get_mut(&id).expect("member");
            m.last_heartbeat = now;
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(result);
            }
        }
        None
    }

    pub async fn join(&self, req: JoinRequest) -> JoinResult {
        let group = req.group.clone();
        // A classic member joining a consumer group changes its records.
        let turn = self.classic_turn(&group).await;
        let (joined, turn) = {
            let (mut groups, turn) = self.lock_in_turn(&group, turn).await;
            (self.join_locked(&mut groups, req), turn)
        };
        let (rx, persist) = match joined {
            Ok(r) => {
                let member = r.error.is_none().then_some(r.member_id.as_str());
                if self.persist_after_classic(&group, turn, member).await {
                    return r;
                }
                return JoinResult::error(&r.member_id, GroupError::CoordinatorNotAvailable);
            }
            Err(pending) => {
                // An empty consumer group became this classic group: its records go
                // (a failure is logged; they are kept to be removed later).
                if turn.is_some() {
                    self.persist_after_classic(&group, turn, None).await;
                }
                pending
            }
        };
        if let Some((group, value)) = persist {
            self.persist_group(group, value).await;
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => JoinResult::error("", unknown_member("")),
        }
    }

    #[allow(clippy::result_large_err)]
    fn join_locked(&self, groups: &mut GroupsState, req: JoinRequest) -> Result<JoinResult, Pending> {
        let now = self.now();
        if req.group.is_empty() {
            return Ok(JoinResult::error(&req.member_id, GroupError::InvalidGroupId));
        }
        if req.session_timeout_ms < self.cfg.min_session_timeout_ms
            || req.session_timeout_ms > self.cfg.max_session_timeout_ms
        {
            return Ok(JoinResult::error(&req.member_id, GroupError::InvalidSessionTimeout));
        }
        if !req.member_id.is_empty() && !groups.contains_key(&req.group) {
            return Ok(JoinResult::error(&req.member_id, unknown_member(&req.member_id)));
        }
        let g = groups.entry(req.group.clone()).or_insert_with(|| Group::new(&req.group, now));
        if let Some(cg) = &g.consumer {
            if !cg.members.is_empty() {
                // A classic member joins a consumer group (live migration).
                return Ok(self.classic_join_consumer(g, &req, now));
            }
            // An empty consumer group becomes a classic one; generations continue
            // from its epoch.
            g.generation = g.generation.max(cg.epoch);
            g.consumer = None;
            g.protocol_type = None;
        }
        if !g.supports(&req.protocol_type, &req.protocols) {
            return Ok(JoinResult::error(&req.member_id, GroupError::InconsistentGroupProtocol));
        }
        let (tx, rx) = oneshot::channel();
        let mut member = req.member_id.clone();
        // A member added by this request always makes the group rebalance: only known
        // members with unchanged protocols get the current generation back.
        let mut is_new = false;
        if member.is_empty() {
            if let Some(inst) = &req.instance_id {
                if let Some(old) = g.static_members.get(inst).cloned() {
                    match self.replace_static_member(g, &req, &old, now) {
                        Ok(r) => return Ok(r),
                        Err(new_id) => member = new_id,
                    }
                } else {
                    member = member_id(inst);
                    g.static_members.insert(inst.clone(), member.clone());
                    g.members.insert(member.clone(), new_member(&req, member.clone(), now));
                    is_new = true;
                }
            } else {
                member = member_id(&req.client_id);
                if req.require_known_member_id {
                    g.pending.insert(member.clone(), now + req.session_timeout_ms);
                    return Ok(JoinResult::error(&member, GroupError::MemberIdRequired));
                }
                g.members.insert(member.clone(), new_member(&req, member.clone(), now));
                is_new = true;
            }
        } else if g.pending.remove(&member).is_some() {
            if g.members.len() >= self.cfg.max_size {
                return Ok(JoinResult::error(
                    &member,
                    GroupError::GroupMaxSizeReached(format!(
                        "The group has reached its maximum size of {} members.",
                        self.cfg.max_size
                    )),
                ));
            }
            g.members.insert(member.clone(), new_member(&req, member.clone(), now));
            is_new = true;
        } else if let Err(e) = super::membership::validate_classic_member(g, &member, req.instance_id.as_deref()) {
            return Ok(JoinResult::error(&member, e));
        } else if !g.members.contains_key(&member) {
            return Ok(JoinResult::error(&member, unknown_member(&member)));
        }
        if g.protocol_type.is_none() || g.members.len() == 1 {
            g.protocol_type = Some(req.protocol_type.clone());
        }
        let m = g.members.get_mut(&member).expect("member present");
        let changed = is_new || m.protocols != req.protocols;
        m.protocols = req.protocols.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.last_heartbeat = now;
        match g.state {
            GroupState::CompletingRebalance if !changed => return Ok(current_join(g, &member)),
            GroupState::Stable if !changed && g.leader.as_deref() != Some(member.as_str()) => {
                return Ok(current_join(g, &member))
            }
            _ => {}
        }
        g.members.get_mut(&member).expect("member").join_waiter = Some(tx);
        if g.state == GroupState::Empty {
            let delay = self.cfg.initial_rebalance_delay_ms.min(req.rebalance_timeout_ms);
            g.initial_delay_until = Some(now + delay);
        } else if let Some(until) = g.initial_delay_until {
            // More members are arriving: wait a little longer, within the rebalance timeout.
            let cap = g.rebalance_deadline.unwrap_or(until);
            g.initial_delay_until = Some((now + self.cfg.initial_rebalance_delay_ms).min(cap));
        }
        self.prepare_rebalance(g, now);
        let persist = self.maybe_complete_join(g, now, false).map(|v| (g.id.clone(), v));
        Err((rx, persist))
    }

    /// A static member restarting: it takes over its old identity, without a
    /// rebalance when nothing about it changed (`Ok`: the answer). `Err`: its new
    /// member id, and the join goes on as a rejoin.
    fn replace_static_member(
        &self,
        g: &mut Group,
        req: &JoinRequest,
        old: &str,
        now: i64,
    ) -> Result<JoinResult, String> {
        let inst = req.instance_id.clone().expect("static member");
        let new_id = member_id(&inst);
        let mut m = g.members.remove(old).expect("static member");
        if let Some(w) = m.join_waiter.take() {
            let _ = w.send(JoinResult::error(old, fenced(&inst)));
        }
        if let Some(w) = m.sync_waiter.take() {
            let _ = w.send(SyncResult::error(fenced(&inst)));
        }
        let unchanged = g.protocol.as_ref().is_some_and(|p| {
            m.metadata_for(p) == req.protocols.iter().find(|(n, _)| n == p).map(|(_, b)| b.clone()).unwrap_or_default()
        });
        m.id = new_id.clone();
        m.protocols = req.protocols.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.last_heartbeat = now;
        g.members.insert(new_id.clone(), m);
        g.static_members.insert(inst, new_id.clone());
        if g.leader.as_deref() == Some(old) {
            g.leader = Some(new_id.clone());
        }
        if g.state == GroupState::Stable && unchanged {
            let mut r = current_join(g, &new_id);
            r.members.clear(); // the assignment stands; no need to compute one
            return Ok(r);
        }
        Err(new_id)
    }
}

pub(super) fn fenced(instance: &str) -> GroupError {
    GroupError::FencedInstanceId(format!("The instance id {instance} is used by another member of the group."))
}
