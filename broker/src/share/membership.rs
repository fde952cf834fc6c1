//! ShareGroupHeartbeat and session timeouts: the changes to a share group's
//! members and epoch, each made in the group's `__share_group_state` turn and
//! written before it is answered.
//!
//! A heartbeat holds the turn from before it changes the group until its write
//! is done, so nothing else changes the group in between (another heartbeat, a
//! session timing out, an offset reset or a delete take the turn too). A write
//! that fails puts the group back as it was and the heartbeat is answered
//! COORDINATOR_NOT_AVAILABLE: the member retries with the epoch it had, and is
//! never told an epoch or assignment that a restart would not find. A heartbeat
//! that only says the member is alive (most of them) writes nothing and takes
//! no turn, so it never waits behind the group's acknowledgement writes.
//!
//! A session timeout that cannot be written stays done in memory (the member is
//! gone and told nothing); a restart finds the member again and its session
//! times out again.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::store::{self, ShareKey, StateKey};
use super::{Assignment, Result, ShareCoordinator, ShareError, ShareGroup, ShareMember};

/// A ShareGroupHeartbeat, in domain terms.
#[derive(Clone, Debug)]
pub struct ShareHeartbeat {
    pub group: String,
    pub member_id: String,
    pub epoch: i32,
    pub rack_id: Option<String>,
    /// None: unchanged since the last heartbeat.
    pub topics: Option<Vec<String>>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareHeartbeatAnswer {
    pub member_id: String,
    pub epoch: i32,
    pub interval_ms: i32,
    /// Present when the member's assignment is new to it.
    pub assignment: Option<Assignment>,
}

/// A group's epoch, topics seen and target.
type Targeted = (i32, Vec<(String, Uuid, i32)>, BTreeMap<String, Assignment>);

/// What a heartbeat changed in its group, to put back if its write fails.
struct Undo {
    /// The heartbeat created the group.
    created: bool,
    /// The member as it was (None: it was not in the group).
    member: Option<ShareMember>,
    /// The group's epoch, topics seen and target, when the epoch moved.
    group: Option<Targeted>,
}

impl Undo {
    fn new(created: bool, g: &ShareGroup, member: &str) -> Undo {
        Undo { created, member: g.members.get(member).cloned(), group: None }
    }

    /// Keeps the group's epoch and target as they are before it moves.
    fn epoch_moves(&mut self, g: &ShareGroup) {
        if self.group.is_none() {
            self.group = Some((g.epoch, g.topics_seen.clone(), g.target.clone()));
        }
    }
}

impl ShareCoordinator {
    pub async fn heartbeat(&self, hb: ShareHeartbeat) -> Result<ShareHeartbeatAnswer> {
        validate(&hb)?;
        if let Some(answer) = self.alive(&hb) {
            return Ok(answer);
        }
        let partition = self.store_partition(&hb.group);
        let _turn = self.writers[partition as usize].lock().await;
        // Looked at again in the turn (the handler looked before it): a group of
        // another kind may have been made meanwhile.
        if hb.epoch == 0 && !self.is_share_group(&hb.group) && (self.other_groups)(&hb.group) {
            return Err(ShareError::NotShareGroup(hb.group));
        }
        let now = self.now();
        // The answer; with what to write, and how to take it back.
        let (answer, change) = {
            let mut st = self.state.lock();
            if hb.epoch == -1 {
                let Some(g) = st.groups.get_mut(&hb.group) else {
                    return Err(ShareError::GroupNotFound(hb.group));
                };
                let mut undo = Undo::new(false, g, &hb.member_id);
                if undo.member.is_none() {
                    return Err(ShareError::UnknownMember { group: hb.group, member: hb.member_id });
                }
                undo.epoch_moves(g);
                g.members.remove(&hb.member_id);
                tracing::info!(group = %hb.group, member_id = %hb.member_id, "share group member left");
                g.epoch += 1;
                let topics = self.topics_of(&g.subscribed());
                g.assign(topics);
                // Its share session and the records it holds stay until the client
                // ends the session (a leaving consumer sends its last acknowledgements
                // after the leave, as Kafka's does) or the session times out.
                let answer = ShareHeartbeatAnswer {
                    member_id: hb.member_id.clone(),
                    epoch: -1,
                    interval_ms: self.cfg.heartbeat_interval_ms as i32,
                    assignment: None,
                };
                (answer, Some(undo))
            } else {
                let mut bumped = false;
                let mut undo;
                if hb.epoch == 0 {
                    let existing = st.groups.get(&hb.group);
                    let full = existing.is_some_and(|g| {
                        !g.members.contains_key(&hb.member_id) && g.members.len() >= self.cfg.max_size
                    });
                    if full {
                        return Err(ShareError::GroupFull(self.cfg.max_size));
                    }
                    let created = existing.is_none();
                    let g = st.groups.entry(hb.group.clone()).or_default();
                    undo = Undo::new(created, g, &hb.member_id);
                    let topics: BTreeSet<String> = hb.topics.iter().flatten().cloned().collect();
                    if undo.member.as_ref().is_none_or(|p| p.topics != topics) {
                        bumped = true;
                    }
                    if undo.member.is_none() {
                        tracing::info!(group = %hb.group, member_id = %hb.member_id, "share group member joined");
                    }
                    g.members.insert(
                        hb.member_id.clone(),
                        ShareMember {
                            epoch: 0,
                            previous_epoch: 0,
                            topics,
                            rack_id: hb.rack_id.clone(),
                            client_id: hb.client_id.clone(),
                            client_host: hb.client_host.clone(),
                            last_heartbeat: now,
                            assignment: Assignment::new(),
                        },
                    );
                } else {
                    let Some(g) = st.groups.get_mut(&hb.group) else {
                        return Err(ShareError::GroupNotFound(hb.group));
                    };
                    undo = Undo::new(false, g, &hb.member_id);
                    let Some(m) = g.members.get_mut(&hb.member_id) else {
                        return Err(ShareError::UnknownMember { group: hb.group, member: hb.member_id });
                    };
                    if hb.epoch != m.epoch && hb.epoch != m.previous_epoch {
                        return Err(ShareError::FencedEpoch { got: hb.epoch, expected: m.epoch });
                    }
                    m.last_heartbeat = now;
                    if let Some(topics) = &hb.topics {
                        let topics: BTreeSet<String> = topics.iter().cloned().collect();
                        if topics != m.topics {
                            m.topics = topics;
                            bumped = true;
                        }
                    }
                }
                let g = st.groups.get_mut(&hb.group).expect("the group is there");
                let topics = self.topics_of(&g.subscribed());
                if bumped || topics != g.topics_seen {
                    undo.epoch_moves(g);
                    g.epoch += 1;
                    g.assign(topics);
                }
                let (group_epoch, target) = (g.epoch, g.target.get(&hb.member_id).cloned().unwrap_or_default());
                let m = g.members.get_mut(&hb.member_id).expect("the member is there");
                let assignment = if m.epoch != group_epoch || hb.epoch == 0 {
                    m.previous_epoch = if hb.epoch == 0 { 0 } else { m.epoch };
                    m.epoch = group_epoch;
                    m.assignment = target.clone();
                    Some(target)
                } else {
                    None
                };
                // A new epoch and assignment is all a heartbeat writes of a member (a
                // join or a new subscription brings one); a heartbeat that only says
                // the member is alive writes nothing.
                let write = assignment.is_some() || undo.group.is_some();
                let answer = ShareHeartbeatAnswer {
                    member_id: hb.member_id.clone(),
                    epoch: group_epoch,
                    interval_ms: self.cfg.heartbeat_interval_ms as i32,
                    assignment,
                };
                (answer, write.then_some(undo))
            }
        };
        let Some(undo) = change else { return Ok(answer) };
        let entries = {
            let st = self.state.lock();
            st.groups.get(&hb.group).map(|g| group_entries(&hb.group, g, std::slice::from_ref(&hb.member_id)))
        };
        if let Err(e) = self.write(partition, entries.unwrap_or_default()).await {
            tracing::error!(group = %hb.group, member_id = %hb.member_id, error = %e,
                "could not write the share group's epoch and member; the heartbeat is taken back");
            self.take_back(&hb.group, &hb.member_id, undo, now);
            return Err(e);
        }
        Ok(answer)
    }

    /// The answer to a heartbeat that changes nothing but the member's last
    /// heartbeat (in step with the group, the same subscription, the subscribed
    /// topics' partitions as they were), given without the group's turn: it
    /// writes nothing, so it need not wait behind the group's writes.
    fn alive(&self, hb: &ShareHeartbeat) -> Option<ShareHeartbeatAnswer> {
        if hb.epoch <= 0 {
            return None;
        }
        let mut st = self.state.lock();
        let g = st.groups.get_mut(&hb.group)?;
        let m = g.members.get(&hb.member_id)?;
        let in_step = (hb.epoch == m.epoch || hb.epoch == m.previous_epoch) && m.epoch == g.epoch;
        let same =
            hb.topics.as_ref().is_none_or(|t| t.len() == m.topics.len() && t.iter().all(|t| m.topics.contains(t)));
        if !in_step || !same || self.topics_of(&g.subscribed()) != g.topics_seen {
            return None;
        }
        let now = self.now();
        g.members.get_mut(&hb.member_id).expect("the member is there").last_heartbeat = now;
        Some(ShareHeartbeatAnswer {
            member_id: hb.member_id.clone(),
            epoch: g.epoch,
            interval_ms: self.cfg.heartbeat_interval_ms as i32,
            assignment: None,
        })
    }

    /// Puts `group` back as it was before a heartbeat of `member` at `now` (the
    /// caller holds the group's turn, so nothing else changed it since), but for
    /// the heartbeat itself: the member was heard from, so its session does not
    /// run out while writes fail.
    fn take_back(&self, group: &str, member: &str, undo: Undo, now: i64) {
        let mut st = self.state.lock();
        if undo.created {
            st.groups.remove(group);
            return;
        }
        let Some(g) = st.groups.get_mut(group) else { return };
        match undo.member {
            Some(m) => g.members.insert(member.to_string(), ShareMember { last_heartbeat: now, ..m }),
            None => g.members.remove(member),
        };
        if let Some((epoch, topics_seen, target)) = undo.group {
            (g.epoch, g.topics_seen, g.target) = (epoch, topics_seen, target);
        }
    }

    /// Removes the members whose session ended, each group in its turn, and
    /// writes the group's new epoch and the members' tombstones (module docs).
    /// What they held goes back in the same step, their delivery counted (they
    /// failed), so that a member rejoining under the same id never has what it
    /// acquires anew released for its old self. The share-partitions that
    /// changed, to be written (may repeat: the caller sorts and dedups).
    pub(super) async fn expire_members(&self, now: i64) -> Vec<ShareKey> {
        let timeout = self.cfg.session_timeout_ms;
        let late = |m: &ShareMember| m.last_heartbeat + timeout <= now;
        let groups: Vec<String> = {
            let st = self.state.lock();
            st.groups.iter().filter(|(_, g)| g.members.values().any(late)).map(|(id, _)| id.clone()).collect()
        };
        let mut released = Vec::new();
        for group in groups {
            let partition = self.store_partition(&group);
            let _turn = self.writers[partition as usize].lock().await;
            let entries = {
                let mut st = self.state.lock();
                // Looked at again in the turn: a heartbeat may have come first.
                let Some(g) = st.groups.get_mut(&group) else { continue };
                let expired: Vec<String> =
                    g.members.iter().filter(|(_, m)| late(m)).map(|(id, _)| id.clone()).collect();
                if expired.is_empty() {
                    continue;
                }
                for m in &expired {
                    tracing::info!(group = %group, member_id = %m, "share group member's session timed out");
                    g.members.remove(m);
                }
                g.epoch += 1;
                let topics = self.topics_of(&g.subscribed());
                g.assign(topics);
                let entries = group_entries(&group, g, &expired);
                for m in &expired {
                    st.sessions.remove(&group, m);
                    released.extend(self.release_locked(&st.parts, &group, m, true));
                }
                entries
            };
            if let Err(e) = self.write(partition, entries).await {
                tracing::error!(group = %group, error = %e, "could not write the share group's epoch and members");
            }
        }
        released
    }
}

/// The checks of a heartbeat that need no state.
fn validate(hb: &ShareHeartbeat) -> Result<()> {
    if hb.group.is_empty() {
        return Err(ShareError::InvalidRequest("GroupId can't be empty.".into()));
    }
    if hb.member_id.is_empty() {
        return Err(ShareError::InvalidRequest("MemberId can't be empty.".into()));
    }
    // Each is written in a record with an i16 length.
    let max = store::MAX_GROUP_ID_BYTES;
    let long =
        [("GroupId", Some(hb.group.as_str())), ("MemberId", Some(&hb.member_id)), ("RackId", hb.rack_id.as_deref())]
            .into_iter()
            .chain(hb.topics.iter().flatten().map(|t| ("SubscribedTopicNames", Some(t.as_str()))))
            .find(|(_, v)| v.is_some_and(|v| v.len() > max));
    if let Some((field, _)) = long {
        return Err(ShareError::InvalidRequest(format!("{field} can't be longer than {max} bytes.")));
    }
    if hb.rack_id.as_deref() == Some("") {
        return Err(ShareError::InvalidRequest("RackId can't be empty.".into()));
    }
    if hb.epoch < -1 {
        return Err(ShareError::InvalidRequest("MemberEpoch is invalid.".into()));
    }
    if hb.epoch == 0 && hb.topics.as_ref().is_none_or(|t| t.is_empty()) {
        return Err(ShareError::InvalidRequest("SubscribedTopicNames must be set in first request.".into()));
    }
    Ok(())
}

/// `group`'s epoch record and the records of the `members` named, as they are
/// now (a tombstone for one no longer there). The epoch is written beside
/// every member, so a member's epoch never reaches the log ahead of the group's.
fn group_entries(group: &str, g: &ShareGroup, members: &[String]) -> Vec<crate::internal::Entry> {
    let mut entries = Vec::with_capacity(members.len() + 1);
    entries.push((Some(StateKey::Group(group.to_string()).encode()), Some(store::encode_epoch(g.epoch))));
    for id in members {
        let key = StateKey::Member { group: group.to_string(), member: id.clone() };
        entries.push((Some(key.encode()), g.members.get(id).map(store::encode_member)));
    }
    entries
}
