//! Staying in a classic group and leaving it: Heartbeat, LeaveGroup, and the tick
//! that expires sessions and ends rebalances whose timeout passed.

use bytes::Bytes;

use super::join::fenced;
use super::records::GroupValue;
use super::state::{Group, GroupState, JoinResult, SyncResult};
use super::{unknown_member, Coordinator};
use crate::error::GroupError;

impl Coordinator {
    pub(super) fn remove_member(&self, g: &mut Group, id: &str) {
        if let Some(m) = g.members.remove(id) {
            if let Some(inst) = &m.instance_id {
                if g.static_members.get(inst).map(String::as_str) == Some(id) {
                    g.static_members.remove(inst);
                }
            }
            if let Some(w) = m.join_waiter {
                let _ = w.send(JoinResult::error(id, unknown_member(id)));
            }
            if let Some(w) = m.sync_waiter {
                let _ = w.send(SyncResult {
                    error: Some(unknown_member(id)),
                    protocol_type: None,
                    protocol: None,
                    assignment: Bytes::new(),
                });
            }
        }
    }

    /// After members left: rebalance or finish the current one.
    fn after_departure(&self, g: &mut Group, now: i64) -> Option<GroupValue> {
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(g, now);
                self.maybe_complete_join(g, now, false)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(g, now, false),
            _ => None,
        }
    }

    pub fn heartbeat(
        &self,
        group: &str,
        generation: i32,
        member: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        let now = self.now();
        let mut groups = self.store.lock();
        let Some(g) = groups.get_mut(group) else { return Err(unknown_member(member)) };
        if g.consumer.is_some() {
            return self.classic_heartbeat_consumer(g, generation, member, instance_id, now);
        }
        validate_classic_member(g, member, instance_id)?;
        let state = g.state;
        let current = g.generation;
        let Some(m) = g.members.get_mut(member) else { return Err(unknown_member(member)) };
        if generation != current {
            return Err(GroupError::IllegalGeneration);
        }
        m.last_heartbeat = now;
        match state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
            GroupState::Empty | GroupState::Dead => Err(unknown_member(member)),
        }
    }

    /// Removes members (by member id, or by instance id for static members): one
    /// answer per member, or an error for the whole request.
    pub async fn leave(
        &self,
        group: &str,
        members: Vec<(String, Option<String>)>,
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        // Classic members leaving a consumer group change its records.
        let turn = self.classic_turn(group).await;
        let (results, persist, turn) = {
            let (mut groups, turn) = self.lock_in_turn(group, turn).await;
            let Some(g) = groups.get_mut(group) else {
                return Err(GroupError::UnknownMemberId(format!("Group {group} has no members.")));
            };
            let now = self.now();
            if g.consumer.is_some() {
                (self.classic_leave_consumer(g, &members, now), None, turn)
            } else {
                let results = self.leave_classic(g, &members);
                let left = results.iter().any(Result::is_ok);
                let persist = if left { self.after_departure(g, now).map(|v| (g.id.clone(), v)) } else { None };
                (results, Some(persist), turn)
            }
        };
        match persist {
            Some(persist) => {
                drop(turn);
                if let Some((g, v)) = persist {
                    self.persist_group(g, v).await;
                }
            }
            None => {
                if results.iter().any(Result::is_ok) && !self.persist_after_classic(group, turn, None).await {
                    return Err(GroupError::CoordinatorNotAvailable);
                }
            }
        }
        Ok(results)
    }

    fn leave_classic(&self, g: &mut Group, members: &[(String, Option<String>)]) -> Vec<Result<(), GroupError>> {
        let mut results = Vec::with_capacity(members.len());
        for (id, inst) in members {
            let target = match inst {
                Some(inst) => match g.static_members.get(inst) {
                    Some(known) if id.is_empty() || known == id => Some(known.clone()),
                    Some(_) => {
                        results.push(Err(fenced(inst)));
                        continue;
                    }
                    None => None,
                },
                None => g.members.contains_key(id).then(|| id.clone()),
            };
            match target {
                Some(t) => {
                    tracing::info!(group = %g.id, member = %t, "member left the group");
                    self.remove_member(g, &t);
                    results.push(Ok(()));
                }
                None => results.push(Err(unknown_member(id))),
            }
        }
        results
    }

    /// Expires sessions and ends timed-out rebalances; returns classic group
    /// metadata to persist and the consumer groups that changed.
    pub(super) fn tick(&self, now: i64) -> (Vec<(String, GroupValue)>, Vec<String>) {
        let mut out = Vec::new();
        let mut consumer = Vec::new();
        let mut groups = self.store.lock();
        for g in groups.values_mut() {
            if self.tick_consumer(g, now) {
                consumer.push(g.id.clone());
            }
            g.pending.retain(|_, deadline| *deadline > now);
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| !m.is_waiting() && m.last_heartbeat + m.session_timeout_ms <= now)
                .map(|m| m.id.clone())
                .collect();
            let mut persist = None;
            if !expired.is_empty() {
                for id in &expired {
                    tracing::info!(group = %g.id, member = %id, "member session expired");
                    self.remove_member(g, id);
                }
                persist = self.after_departure(g, now);
            }
            if g.state == GroupState::PreparingRebalance {
                let timed_out = g.rebalance_deadline.is_some_and(|d| now >= d);
                persist = persist.or(self.maybe_complete_join(g, now, timed_out));
            }
            if let Some(v) = persist {
                out.push((g.id.clone(), v));
            }
        }
        (out, consumer)
    }
}

/// Kafka's member check for requests to a classic group (JoinGroup of a known
/// member, SyncGroup, Heartbeat, OffsetCommit): a static member is known by its
/// instance id, and a request naming that id with another member id comes from a
/// member the instance has since replaced, which is fenced rather than told to rejoin
/// (a rejoin would take the instance id back and the two would swap it forever).
pub(super) fn validate_classic_member(g: &Group, member_id: &str, instance_id: Option<&str>) -> Result<(), GroupError> {
    match instance_id {
        Some(inst) => match g.static_members.get(inst) {
            None => Err(unknown_member(member_id)),
            Some(id) if id != member_id => Err(fenced(inst)),
            Some(_) => Ok(()),
        },
        None if g.members.contains_key(member_id) => Ok(()),
        None => Err(unknown_member(member_id)),
    }
}
