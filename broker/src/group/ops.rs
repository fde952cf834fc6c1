//! Coordinator operations behind the group APIs (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups,
//! OffsetDelete), following Kafka's GroupCoordinator rules.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError as E;
use tokio::sync::oneshot;

use super::records::{GroupValue, Key, OffsetValue};
use super::state::{Group, GroupState, JoinResult, SyncResult};
use super::store::now_ms;
use super::{member_id, new_member, Coordinator};

pub struct JoinRequest {
    pub group: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// KIP-394: from JoinGroup v4 a new member must first obtain its id.
    pub require_known_member_id: bool,
}

pub struct CommitRequest {
    /// OffsetCommit request version (decides which error a stale member gets).
    pub version: i16,
    pub group: String,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    /// (topic, partition, offset, leader epoch, metadata)
    pub offsets: Vec<(String, i32, i64, i32, Option<String>)>,
}

pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

pub struct Description {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

fn code(e: E) -> i16 {
    e.code()
}

/// Join result for the current generation, as sent to `member`.
fn current_join(g: &Group, member: &str) -> JoinResult {
    let protocol = g.protocol.clone();
    let leader = g.leader.clone().unwrap_or_default();
    let members = if leader == member {
        let p = protocol.clone().unwrap_or_default();
        g.members.values().map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata_for(&p))).collect()
    } else {
        vec![]
    };
    JoinResult {
        error: 0,
        generation: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol,
        leader,
        member_id: member.to_string(),
        members,
    }
}

impl Coordinator {
    fn prepare_rebalance(&self, g: &mut Group, now: Instant) {
        if g.state == GroupState::CompletingRebalance {
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncResult {
                        error: code(E::RebalanceInProgress),
                        protocol_type: None,
                        protocol: None,
                        assignment: Bytes::new(),
                    });
                }
            }
        }
        if g.state != GroupState::PreparingRebalance {
            g.set_state(GroupState::PreparingRebalance, now_ms());
            g.rebalance_deadline = Some(now + g.max_rebalance_timeout());
            tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), "preparing to rebalance");
        }
    }

    /// Completes the join phase when every member has rejoined (and any initial delay
    /// is over), or when forced by the rebalance timeout. Returns group metadata to
    /// persist when the group became empty.
    fn maybe_complete_join(&self, g: &mut Group, now: Instant, force: bool) -> Option<GroupValue> {
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
            g.set_state(GroupState::Empty, now_ms());
            tracing::info!(group = %g.id, generation = g.generation, "group is empty");
            return Some(g.to_value());
        }
        g.protocol = g.select_protocol();
        if !g.leader.as_ref().is_some_and(|l| g.members.contains_key(l)) {
            g.leader = g.members.keys().next().cloned();
        }
        g.set_state(GroupState::CompletingRebalance, now_ms());
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

    fn remove_member(&self, g: &mut Group, id: &str) {
        if let Some(m) = g.members.remove(id) {
            if let Some(inst) = &m.instance_id {
                if g.static_members.get(inst).map(String::as_str) == Some(id) {
                    g.static_members.remove(inst);
                }
            }
            if let Some(w) = m.join_waiter {
                let _ = w.send(JoinResult::error(id, code(E::UnknownMemberId)));
            }
            if let Some(w) = m.sync_waiter {
                let _ = w.send(SyncResult {
                    error: code(E::UnknownMemberId),
                    protocol_type: None,
                    protocol: None,
                    assignment: Bytes::new(),
                });
            }
        }
    }

    /// After members left: rebalance or finish the current one.
    fn after_departure(&self, g: &mut Group, now: Instant) -> Option<GroupValue> {
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(g, now);
                self.maybe_complete_join(g, now, false)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(g, now, false),
            _ => None,
        }
    }

    pub async fn join(&self, req: JoinRequest) -> JoinResult {
        let (rx, persist) = {
            let mut groups = self.groups.lock();
            match self.join_locked(&mut groups, req) {
                Ok(r) => return r,
                Err(pending) => pending,
            }
        };
        if let Some((group, value)) = persist {
            self.persist_group(group, value).await;
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => JoinResult::error("", code(E::UnknownMemberId)),
        }
    }

    #[allow(clippy::type_complexity, clippy::result_large_err)]
    fn join_locked(
        &self,
        groups: &mut std::collections::HashMap<String, Group>,
        req: JoinRequest,
    ) -> Result<JoinResult, (oneshot::Receiver<JoinResult>, Option<(String, GroupValue)>)> {
        let now = Instant::now();
        if req.group.is_empty() {
            return Ok(JoinResult::error(&req.member_id, code(E::InvalidGroupId)));
        }
        if req.session_timeout < self.cfg.min_session || req.session_timeout > self.cfg.max_session {
            return Ok(JoinResult::error(&req.member_id, code(E::InvalidSessionTimeout)));
        }
        if !req.member_id.is_empty() && !groups.contains_key(&req.group) {
            return Ok(JoinResult::error(&req.member_id, code(E::UnknownMemberId)));
        }
        let g = groups.entry(req.group.clone()).or_insert_with(|| Group::new(&req.group, now_ms()));
        if let Some(cg) = &g.consumer {
            if !cg.members.is_empty() {
                return Ok(JoinResult::error(&req.member_id, code(E::InconsistentGroupProtocol)));
            }
            // An empty consumer group becomes a classic one; generations continue
            // from its epoch.
            g.generation = g.generation.max(cg.epoch);
            g.consumer = None;
            g.protocol_type = None;
        }
        if !g.supports(&req.protocol_type, &req.protocols) {
            return Ok(JoinResult::error(&req.member_id, code(E::InconsistentGroupProtocol)));
        }
        let (tx, rx) = oneshot::channel();
        let mut member = req.member_id.clone();
        // A member added by this request always makes the group rebalance: only known
        // members with unchanged protocols get the current generation back.
        let mut is_new = false;
        if member.is_empty() {
            if let Some(inst) = &req.instance_id {
                if let Some(old) = g.static_members.get(inst).cloned() {
                    // A static member restarting: it takes over its old identity without a
                    // rebalance when nothing about it changed.
                    let new_id = member_id(inst);
                    let mut m = g.members.remove(&old).expect("static member");
                    if let Some(w) = m.join_waiter.take() {
                        let _ = w.send(JoinResult::error(&old, code(E::FencedInstanceId)));
                    }
                    if let Some(w) = m.sync_waiter.take() {
                        let _ = w.send(SyncResult {
                            error: code(E::FencedInstanceId),
                            protocol_type: None,
                            protocol: None,
                            assignment: Bytes::new(),
                        });
                    }
                    let unchanged = g.protocol.as_ref().is_some_and(|p| {
                        m.metadata_for(p)
                            == req.protocols.iter().find(|(n, _)| n == p).map(|(_, b)| b.clone()).unwrap_or_default()
                    });
                    m.id = new_id.clone();
                    m.protocols = req.protocols.clone();
                    m.session_timeout = req.session_timeout;
                    m.rebalance_timeout = req.rebalance_timeout;
                    m.last_heartbeat = now;
                    g.members.insert(new_id.clone(), m);
                    g.static_members.insert(inst.clone(), new_id.clone());
                    if g.leader.as_deref() == Some(old.as_str()) {
                        g.leader = Some(new_id.clone());
                    }
                    if g.state == GroupState::Stable && unchanged {
                        let mut r = current_join(g, &new_id);
                        r.members.clear(); // the assignment stands; no need to compute one
                        return Ok(r);
                    }
                    member = new_id;
                } else {
                    member = member_id(inst);
                    g.static_members.insert(inst.clone(), member.clone());
                    g.members.insert(member.clone(), new_member(&req, member.clone(), now));
                    is_new = true;
                }
            } else {
                member = member_id(&req.client_id);
                if req.require_known_member_id {
                    g.pending.insert(member.clone(), now + req.session_timeout);
                    return Ok(JoinResult::error(&member, code(E::MemberIdRequired)));
                }
                g.members.insert(member.clone(), new_member(&req, member.clone(), now));
                is_new = true;
            }
        } else if g.pending.remove(&member).is_some() {
            if g.members.len() >= self.cfg.max_size {
                return Ok(JoinResult::error(&member, code(E::GroupMaxSizeReached)));
            }
            g.members.insert(member.clone(), new_member(&req, member.clone(), now));
            is_new = true;
        } else if !g.members.contains_key(&member) {
            return Ok(JoinResult::error(&member, code(E::UnknownMemberId)));
        } else if let Some(inst) = &req.instance_id {
            if g.static_members.get(inst) != Some(&member) {
                return Ok(JoinResult::error(&member, code(E::FencedInstanceId)));
            }
        }
        if g.protocol_type.is_none() || g.members.len() == 1 {
            g.protocol_type = Some(req.protocol_type.clone());
        }
        let m = g.members.get_mut(&member).expect("member present");
        let changed = is_new || m.protocols != req.protocols;
        m.protocols = req.protocols.clone();
        m.session_timeout = req.session_timeout;
        m.rebalance_timeout = req.rebalance_timeout;
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
            let delay = self.cfg.initial_delay.min(req.rebalance_timeout);
            g.initial_delay_until = Some(now + delay);
        } else if let Some(until) = g.initial_delay_until {
            // More members are arriving: wait a little longer, within the rebalance timeout.
            let cap = g.rebalance_deadline.unwrap_or(until);
            g.initial_delay_until = Some((now + self.cfg.initial_delay).min(cap));
        }
        self.prepare_rebalance(g, now);
        let persist = self.maybe_complete_join(g, now, false).map(|v| (g.id.clone(), v));
        Err((rx, persist))
    }

    pub async fn sync(
        &self,
        group: &str,
        generation: i32,
        member: &str,
        instance_id: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        let err = |e: E| SyncResult { error: code(e), protocol_type: None, protocol: None, assignment: Bytes::new() };
        let (rx, persist) = {
            let mut groups = self.groups.lock();
            let Some(g) = groups.get_mut(group) else { return err(E::UnknownMemberId) };
            let Some(m) = g.members.get(member) else { return err(E::UnknownMemberId) };
            if let Some(inst) = instance_id {
                if m.instance_id.as_deref() != Some(inst) {
                    return err(E::FencedInstanceId);
                }
            }
            if generation != g.generation {
                return err(E::IllegalGeneration);
            }
            // SyncGroup counts as a heartbeat (as in Kafka): the session restarts now,
            // not at the end of the join phase, however long the leader took to assign.
            let now = Instant::now();
            g.members.get_mut(member).expect("member").last_heartbeat = now;
            let m = &g.members[member];
            match g.state {
                GroupState::PreparingRebalance => return err(E::RebalanceInProgress),
                GroupState::Stable => {
                    return SyncResult {
                        error: 0,
                        protocol_type: g.protocol_type.clone(),
                        protocol: g.protocol.clone(),
                        assignment: m.assignment.clone(),
                    }
                }
                GroupState::Empty | GroupState::Dead => return err(E::UnknownMemberId),
                GroupState::CompletingRebalance => {}
            }
            let (tx, rx) = oneshot::channel();
            g.members.get_mut(member).expect("member").sync_waiter = Some(tx);
            let mut persist = None;
            if g.leader.as_deref() == Some(member) {
                let mut given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
                for m in g.members.values_mut() {
                    m.assignment = given.remove(&m.id).unwrap_or_default();
                    m.last_heartbeat = now;
                }
                g.set_state(GroupState::Stable, now_ms());
                tracing::info!(group = %g.id, generation = g.generation, "rebalance complete: group is stable");
                let waiters: Vec<_> = g
                    .members
                    .values_mut()
                    .filter_map(|m| m.sync_waiter.take().map(|w| (w, m.assignment.clone())))
                    .collect();
                persist = Some((g.id.clone(), g.to_value(), waiters, g.protocol_type.clone(), g.protocol.clone()));
            }
            (rx, persist)
        };
        if let Some((group, value, waiters, ptype, proto)) = persist {
            self.persist_group(group, value).await;
            for (w, assignment) in waiters {
                let _ =
                    w.send(SyncResult { error: 0, protocol_type: ptype.clone(), protocol: proto.clone(), assignment });
            }
        }
        rx.await.unwrap_or_else(|_| err(E::UnknownMemberId))
    }

    pub fn heartbeat(&self, group: &str, generation: i32, member: &str, instance_id: Option<&str>) -> i16 {
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group) else { return code(E::UnknownMemberId) };
        let state = g.state;
        let current = g.generation;
        let Some(m) = g.members.get_mut(member) else { return code(E::UnknownMemberId) };
        if let Some(inst) = instance_id {
            if m.instance_id.as_deref() != Some(inst) {
                return code(E::FencedInstanceId);
            }
        }
        if generation != current {
            return code(E::IllegalGeneration);
        }
        m.last_heartbeat = Instant::now();
        match state {
            GroupState::PreparingRebalance => code(E::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => 0,
            GroupState::Empty | GroupState::Dead => code(E::UnknownMemberId),
        }
    }

    /// Removes members (by member id, or by instance id for static members).
    /// Returns the top-level error and one error per member.
    pub async fn leave(&self, group: &str, members: Vec<(String, Option<String>)>) -> (i16, Vec<i16>) {
        let (result, persist) = {
            let mut groups = self.groups.lock();
            let Some(g) = groups.get_mut(group) else {
                return (code(E::UnknownMemberId), members.iter().map(|_| code(E::UnknownMemberId)).collect());
            };
            let now = Instant::now();
            let mut errors = Vec::with_capacity(members.len());
            for (id, inst) in &members {
                let target = match inst {
                    Some(inst) => match g.static_members.get(inst) {
                        Some(known) if id.is_empty() || known == id => Some(known.clone()),
                        Some(_) => {
                            errors.push(code(E::FencedInstanceId));
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
                        errors.push(0);
                    }
                    None => errors.push(code(E::UnknownMemberId)),
                }
            }
            let persist =
                if errors.contains(&0) { self.after_departure(g, now).map(|v| (g.id.clone(), v)) } else { None };
            ((0, errors), persist)
        };
        if let Some((g, v)) = persist {
            self.persist_group(g, v).await;
        }
        result
    }

    /// Expires sessions and ends timed-out rebalances; returns group metadata to persist.
    pub(super) fn tick(&self, now: Instant) -> Vec<(String, GroupValue)> {
        let mut out = Vec::new();
        let mut groups = self.groups.lock();
        for g in groups.values_mut() {
            self.tick_consumer(g, now);
            g.pending.retain(|_, deadline| *deadline > now);
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| !m.is_waiting() && m.last_heartbeat + m.session_timeout <= now)
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
        out
    }

    pub(super) async fn persist_group(&self, group: String, value: GroupValue) {
        let key = Key::Group { group: group.clone() };
        if let Err(e) = self.write(&group, vec![(key, Some(value.encode()))], || {}).await {
            tracing::error!(%group, error = %e, "could not persist group metadata");
        }
    }

    /// Durably writes records for a group, then runs `apply` (under the partition's
    /// write lock, so memory follows log order).
    async fn write(
        self: &Coordinator,
        group: &str,
        records: Vec<(Key, Option<Bytes>)>,
        apply: impl FnOnce() + Send + 'static,
    ) -> crate::error::Result<()> {
        let me = self.arc();
        let group = group.to_string();
        crate::api::blocking(move || {
            let p = me.store.partition_of(&group) as usize;
            let _w = me.write_locks[p % me.write_locks.len()].lock();
            me.store.write(&group, records)?;
            apply();
            Ok(())
        })
        .await
    }

    pub async fn commit(
        self: &Arc<Self>,
        req: CommitRequest,
        topic_exists: impl Fn(&str, i32) -> bool,
    ) -> Result<Vec<i16>, i16> {
        let now_ts = now_ms();
        {
            let mut groups = self.groups.lock();
            let g = groups.entry(req.group.clone()).or_insert_with(|| Group::new(&req.group, now_ts));
            let simple = req.generation < 0 && req.member_id.is_empty();
            if let Some(cg) = &g.consumer {
                if !(simple && cg.members.is_empty()) {
                    super::consumer_ops::check_member_epoch(cg, &req.member_id, req.generation, req.version)?;
                }
            } else if !(simple && g.members.is_empty()) {
                if g.state == GroupState::CompletingRebalance {
                    return Err(code(E::RebalanceInProgress));
                }
                let Some(m) = g.members.get_mut(&req.member_id) else { return Err(code(E::UnknownMemberId)) };
                if let Some(inst) = &req.instance_id {
                    if m.instance_id.as_deref() != Some(inst.as_str()) {
                        return Err(code(E::FencedInstanceId));
                    }
                }
                if req.generation != g.generation {
                    return Err(code(E::IllegalGeneration));
                }
                m.last_heartbeat = Instant::now();
            }
        }
        let mut errors = Vec::with_capacity(req.offsets.len());
        let mut records = Vec::new();
        let mut applied = Vec::new();
        for (topic, partition, offset, epoch, metadata) in req.offsets {
            let metadata = metadata.unwrap_or_default();
            if !topic_exists(&topic, partition) {
                errors.push(code(E::UnknownTopicOrPartition));
            } else if metadata.len() > self.cfg.max_metadata_bytes {
                errors.push(code(E::OffsetMetadataTooLarge));
            } else {
                errors.push(0);
                let v = OffsetValue {
                    offset,
                    leader_epoch: epoch,
                    metadata,
                    commit_timestamp: now_ts,
                    expire_timestamp: -1,
                };
                records.push((
                    Key::Offset { group: req.group.clone(), topic: topic.clone(), partition },
                    Some(v.encode()),
                ));
                applied.push(((topic, partition), v));
            }
        }
        let me = self.clone();
        let group = req.group.clone();
        let result = self
            .write(&req.group, records, move || {
                let mut groups = me.groups.lock();
                let g = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ts));
                g.offsets.extend(applied);
            })
            .await;
        match result {
            Ok(()) => Ok(errors),
            Err(e) => {
                tracing::error!(group = %req.group, error = %e, "offset commit failed");
                Err(code(E::CoordinatorNotAvailable))
            }
        }
    }

    /// OffsetFetch v9+ from a consumer-group member: it must be in the group at the
    /// epoch it names. Other callers (admin tools, classic members) pass no member.
    pub fn check_fetch_member(&self, group: &str, member_id: &str, epoch: i32) -> Result<(), i16> {
        let groups = self.groups.lock();
        match groups.get(group).and_then(|g| g.consumer.as_ref()) {
            Some(cg) => super::consumer_ops::check_member_epoch(cg, member_id, epoch, 9),
            None => Ok(()),
        }
    }

    pub fn is_consumer_group(&self, group: &str) -> bool {
        self.groups.lock().get(group).is_some_and(|g| g.consumer.is_some())
    }

    /// Committed offsets; `topics` None means every committed partition of the group.
    #[allow(clippy::type_complexity)]
    pub fn fetch_offsets(
        &self,
        group: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<(i32, Option<OffsetValue>)>)> {
        let groups = self.groups.lock();
        let offsets = groups.get(group).map(|g| &g.offsets);
        match topics {
            Some(list) => list
                .into_iter()
                .map(|(t, parts)| {
                    let ps =
                        parts.into_iter().map(|p| (p, offsets.and_then(|o| o.get(&(t.clone(), p)).cloned()))).collect();
                    (t, ps)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<OffsetValue>)>> = BTreeMap::new();
                for ((t, p), v) in offsets.into_iter().flatten() {
                    by_topic.entry(t.clone()).or_default().push((*p, Some(v.clone())));
                }
                by_topic.into_iter().collect()
            }
        }
    }

    /// Every live group: (id, protocol type, state name, group type).
    pub fn list(&self) -> Vec<(String, String, &'static str, &'static str)> {
        let groups = self.groups.lock();
        let mut out: Vec<_> = groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| (g.id.clone(), g.protocol_type.clone().unwrap_or_default(), g.state_name(), g.group_type()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// A classic group's description; None for unknown and for consumer groups.
    pub fn describe(&self, group: &str) -> Option<Description> {
        let groups = self.groups.lock();
        let g = groups.get(group).filter(|g| g.consumer.is_none())?;
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(Description {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable { protocol.clone() } else { String::new() },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata_for(&protocol) } else { Bytes::new() },
                    assignment: if stable { m.assignment.clone() } else { Bytes::new() },
                })
                .collect(),
        })
    }

    /// DeleteGroups: only groups without members; writes tombstones for everything.
    pub async fn delete_group(self: &Arc<Self>, group: &str) -> i16 {
        let keys: Vec<Key> = {
            let groups = self.groups.lock();
            let Some(g) = groups.get(group) else { return code(E::GroupIdNotFound) };
            if g.has_members() {
                return code(E::NonEmptyGroup);
            }
            let mut keys: Vec<Key> = g
                .offsets
                .keys()
                .map(|(t, p)| Key::Offset { group: group.to_string(), topic: t.clone(), partition: *p })
                .collect();
            keys.push(Key::Group { group: group.to_string() });
            keys
        };
        let me = self.clone();
        let id = group.to_string();
        let r = self
            .write(group, keys.into_iter().map(|k| (k, None)).collect(), move || {
                me.groups.lock().remove(&id);
            })
            .await;
        if r.is_err() {
            return code(E::CoordinatorNotAvailable);
        }
        tracing::info!(%group, "group deleted");
        0
    }

    /// OffsetDelete: refuses partitions of topics the live group is subscribed to.
    pub async fn delete_offsets(
        self: &Arc<Self>,
        group: &str,
        partitions: Vec<(String, i32)>,
        subscribed: impl Fn(&Bytes, &str) -> bool,
    ) -> Result<Vec<i16>, i16> {
        let (errors, keys) = {
            let groups = self.groups.lock();
            let Some(g) = groups.get(group) else { return Err(code(E::GroupIdNotFound)) };
            let protocol = g.protocol.clone().unwrap_or_default();
            let active = g.state != GroupState::Empty && g.protocol_type.as_deref() == Some("consumer");
            let consumer_subscribed = |t: &str| {
                g.consumer.as_ref().is_some_and(|cg| {
                    cg.members.values().any(|m| {
                        m.topic_names.iter().any(|n| n == t) || m.compiled.as_ref().is_some_and(|re| re.is_match(t))
                    })
                })
            };
            let mut errors = Vec::new();
            let mut keys = Vec::new();
            for (t, p) in &partitions {
                if consumer_subscribed(t)
                    || active && g.members.values().any(|m| subscribed(&m.metadata_for(&protocol), t))
                {
                    errors.push(code(E::GroupSubscribedToTopic));
                } else {
                    errors.push(0);
                    if g.offsets.contains_key(&(t.clone(), *p)) {
                        keys.push((Key::Offset { group: group.to_string(), topic: t.clone(), partition: *p }, None));
                    }
                }
            }
            (errors, keys)
        };
        let me = self.clone();
        let id = group.to_string();
        let remove: Vec<(String, i32)> =
            partitions.into_iter().zip(errors.iter()).filter(|(_, e)| **e == 0).map(|(tp, _)| tp).collect();
        self.write(group, keys, move || {
            if let Some(g) = me.groups.lock().get_mut(&id) {
                for tp in remove {
                    g.offsets.remove(&tp);
                }
            }
        })
        .await
        .map_err(|_| code(E::CoordinatorNotAvailable))?;
        Ok(errors)
    }

    /// `offsets.retention.minutes`: offsets of groups that have been empty that long go.
    pub(super) async fn expire_offsets(&self) {
        let now = now_ms();
        let retention = self.cfg.offsets_retention.as_millis() as i64;
        let expired: Vec<(String, Vec<Key>)> = {
            let groups = self.groups.lock();
            groups
                .values()
                .filter(|g| g.state == GroupState::Empty && !g.has_members() && g.state_timestamp + retention <= now)
                .map(|g| {
                    let mut keys: Vec<Key> = g
                        .offsets
                        .iter()
                        .filter(|(_, v)| v.commit_timestamp + retention <= now)
                        .map(|((t, p), _)| Key::Offset { group: g.id.clone(), topic: t.clone(), partition: *p })
                        .collect();
                    if keys.len() == g.offsets.len() {
                        keys.push(Key::Group { group: g.id.clone() });
                    }
                    (g.id.clone(), keys)
                })
                .filter(|(_, k)| !k.is_empty())
                .collect()
        };
        for (group, keys) in expired {
            let me = self.arc();
            let id = group.clone();
            let drop_keys = keys.clone();
            let r = self
                .write(&group, keys.into_iter().map(|k| (k, None)).collect(), move || {
                    let mut groups = me.groups.lock();
                    if let Some(g) = groups.get_mut(&id) {
                        for k in &drop_keys {
                            if let Key::Offset { topic, partition, .. } = k {
                                g.offsets.remove(&(topic.clone(), *partition));
                            }
                        }
                        if g.offsets.is_empty() && g.members.is_empty() {
                            groups.remove(&id);
                        }
                    }
                })
                .await;
            match r {
                Ok(()) => tracing::info!(%group, "expired committed offsets of an empty group"),
                Err(e) => tracing::warn!(%group, error = %e, "could not expire offsets"),
            }
        }
    }
}
