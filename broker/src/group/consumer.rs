//! KIP-848 consumer groups: the group epoch, the target assignment the server-side
//! assignor computed for it, and each member's reconciliation towards its target.
//! Pure data like `state.rs`: the coordinator passes `now` in and does the I/O.
//!
//! Invariants:
//! - `assignment_epoch == epoch` after every change: the target is recomputed
//!   synchronously whenever the group epoch is bumped (member joined or left,
//!   subscription or subscribed topic metadata changed).
//! - A partition is owned by at most one member: `owners` maps every partition in
//!   some member's `assigned` or `revoking` set to that member, and a member is
//!   given a partition of its target only when nobody else owns it.
//! - A member's epoch advances to the target epoch only after it has revoked what
//!   its target no longer holds (it reports that in the `TopicPartitions` it owns).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use super::assignor::{self, Assignment, MemberSubscription};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// At the target epoch with everything of its target it can have.
    Stable,
    /// Must give up `revoking` before it may move to the target epoch.
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still own.
    UnreleasedPartitions,
}

pub struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub revoking: Assignment,
    /// Subscribed topic names, sorted and without duplicates.
    pub topic_names: Vec<String>,
    pub regex: Option<String>,
    pub compiled: Option<regex::Regex>,
    pub assignor: Option<String>,
    pub rebalance_timeout_ms: i64,
    pub last_heartbeat: i64,
    pub revoke_deadline: Option<i64>,
    /// Topic ids the subscription resolved to at the member's last heartbeat.
    pub subscribed: BTreeSet<Uuid>,
    /// A static member that left with epoch -2: it keeps its assignment until its
    /// session expires, so that a restart under the same instance id takes it over.
    pub departed: bool,
    /// Set for a member that speaks the classic protocol (JoinGroup, SyncGroup,
    /// Heartbeat) in a consumer group: live migration, see `migration.rs`.
    pub classic: Option<super::migration::ClassicMember>,
}

impl ConsumerMember {
    pub fn new(id: String, now: i64) -> ConsumerMember {
        ConsumerMember {
            id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            revoking: Assignment::new(),
            topic_names: Vec::new(),
            regex: None,
            compiled: None,
            assignor: None,
            rebalance_timeout_ms: 300_000,
            last_heartbeat: now,
            revoke_deadline: None,
            subscribed: BTreeSet::new(),
            departed: false,
            classic: None,
        }
    }

    fn owned(&self) -> impl Iterator<Item = (Uuid, i32)> + '_ {
        self.assigned.iter().chain(self.revoking.iter()).flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
    }
}

pub struct ConsumerGroup {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// group.instance.id -> member id.
    pub static_members: HashMap<String, String>,
    pub target: BTreeMap<String, Assignment>,
    pub owners: HashMap<(Uuid, i32), String>,
    /// Name and partition count of every topic some member subscribes to.
    pub topics: BTreeMap<Uuid, (String, i32)>,
    /// The assignor that computed the current target.
    pub assignor: String,
    pub default_assignor: String,
}

pub fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter().any(|(t, ps)| b.get(t).is_some_and(|qs| !ps.is_disjoint(qs)))
}

pub fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    a.iter().all(|(t, ps)| ps.is_empty() || b.get(t).is_some_and(|qs| ps.is_subset(qs)))
}

/// Equality that ignores topics with no partitions.
pub fn same(a: &Assignment, b: &Assignment) -> bool {
    is_subset(a, b) && is_subset(b, a)
}

impl ConsumerGroup {
    pub fn new(epoch: i32, default_assignor: &str) -> ConsumerGroup {
        ConsumerGroup {
            epoch,
            assignment_epoch: epoch,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            target: BTreeMap::new(),
            owners: HashMap::new(),
            topics: BTreeMap::new(),
            assignor: default_assignor.to_string(),
            default_assignor: default_assignor.to_string(),
        }
    }

    /// Kafka's group states for consumer groups.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.epoch {
            "Assigning"
        } else if self.members.values().any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The assignor most members ask for (ties go to the earlier one in
    /// [`assignor::ASSIGNORS`]), else the broker's default.
    fn choose_assignor(&self) -> String {
        let mut votes: BTreeMap<usize, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(pos) = m.assignor.as_deref().and_then(|a| assignor::ASSIGNORS.iter().position(|x| *x == a)) {
                *votes.entry(pos).or_default() += 1;
            }
        }
        match votes.iter().max_by_key(|(pos, n)| (**n, std::cmp::Reverse(**pos))) {
            Some((pos, _)) => assignor::ASSIGNORS[*pos].to_string(),
            None => self.default_assignor.clone(),
        }
    }

    /// Bumps the group epoch and computes the target assignment for it.
    pub fn bump(&mut self) {
        self.epoch += 1;
        let wanted: BTreeSet<Uuid> = self.members.values().flat_map(|m| m.subscribed.iter().copied()).collect();
        self.topics.retain(|id, _| wanted.contains(id));
        self.assignor = self.choose_assignor();
        let partitions: BTreeMap<Uuid, i32> = self.topics.iter().map(|(id, (_, n))| (*id, *n)).collect();
        let subs: Vec<MemberSubscription<'_>> = self
            .members
            .values()
            .map(|m| MemberSubscription { id: &m.id, topics: &m.subscribed, previous: self.target.get(&m.id) })
            .collect();
        let target = assignor::assign(&self.assignor, &subs, &partitions);
        self.target = target;
        self.assignment_epoch = self.epoch;
    }

    /// Rebuilds who owns each partition from the members (after a restore).
    pub fn restore_owners(&mut self) {
        self.owners.clear();
        for m in self.members.values() {
            for tp in m.owned() {
                self.owners.insert(tp, m.id.clone());
            }
        }
        self.assignor = self.choose_assignor();
    }

    fn set_owners(&mut self, id: &str, before: Vec<(Uuid, i32)>) {
        for tp in before {
            if self.owners.get(&tp).map(String::as_str) == Some(id) {
                self.owners.remove(&tp);
            }
        }
        let m = &self.members[id];
        for tp in m.owned() {
            self.owners.insert(tp, id.to_string());
        }
    }

    /// Moves a member towards its target; `owned` is what the member reported owning
    /// (None when it did not say). Returns whether its assigned partitions changed.
    pub fn reconcile(&mut self, id: &str, owned: Option<&Assignment>, now: i64) -> bool {
        let target_epoch = self.assignment_epoch;
        let Some(m) = self.members.get(id) else { return false };
        let advance = match m.state {
            MemberState::Stable => m.epoch != target_epoch,
            MemberState::UnrevokedPartitions => owned.is_some_and(|o| !intersects(o, &m.revoking)),
            MemberState::UnreleasedPartitions => true,
        };
        if !advance || m.departed {
            return false;
        }
        let empty = Assignment::new();
        let target = self.target.get(id).unwrap_or(&empty);
        let (mut keep, mut revoke, mut want) = (Assignment::new(), Assignment::new(), Vec::new());
        let topics: BTreeSet<&Uuid> = target.keys().chain(m.assigned.keys()).collect();
        for t in topics {
            let none = BTreeSet::new();
            let have = m.assigned.get(t).unwrap_or(&none);
            let should = target.get(t).unwrap_or(&none);
            let k: BTreeSet<i32> = have.intersection(should).copied().collect();
            let r: BTreeSet<i32> = have.difference(should).copied().collect();
            want.extend(should.difference(have).map(|p| (*t, *p)));
            if !k.is_empty() {
                keep.insert(*t, k);
            }
            if !r.is_empty() {
                revoke.insert(*t, r);
            }
        }
        let before: Vec<(Uuid, i32)> = m.owned().collect();
        let old_assigned = m.assigned.clone();
        let m = self.members.get_mut(id).expect("member");
        if !revoke.is_empty() {
            m.assigned = keep;
            m.revoking = revoke;
            m.state = MemberState::UnrevokedPartitions;
            m.revoke_deadline = Some(now + m.rebalance_timeout_ms);
        } else {
            let mut unreleased = false;
            for (t, p) in want {
                match self.owners.get(&(t, p)) {
                    Some(owner) if owner != id => unreleased = true,
                    _ => {
                        keep.entry(t).or_default().insert(p);
                    }
                }
            }
            m.assigned = keep;
            m.revoking = Assignment::new();
            m.revoke_deadline = None;
            if m.epoch != target_epoch {
                m.previous_epoch = m.epoch;
                m.epoch = target_epoch;
            }
            m.state = if unreleased { MemberState::UnreleasedPartitions } else { MemberState::Stable };
        }
        let changed = !same(&old_assigned, &m.assigned);
        self.set_owners(id, before);
        changed
    }

    /// Removes a member and releases its partitions. The caller bumps the epoch.
    pub fn remove(&mut self, id: &str) -> Option<ConsumerMember> {
        let m = self.members.remove(id)?;
        for tp in m.owned() {
            if self.owners.get(&tp).map(String::as_str) == Some(id) {
                self.owners.remove(&tp);
            }
        }
        self.target.remove(id);
        if let Some(inst) = &m.instance_id {
            if self.static_members.get(inst).map(String::as_str) == Some(id) {
                self.static_members.remove(inst);
            }
        }
        Some(m)
    }

    /// A restarted static member takes over the identity of the one that departed:
    /// its epoch, assignment and target, without a rebalance.
    pub fn replace_static(&mut self, old: &str, new_id: &str) {
        let Some(mut m) = self.members.remove(old) else { return };
        let before: Vec<(Uuid, i32)> = m.owned().collect();
        m.id = new_id.to_string();
        m.departed = false;
        if let Some(t) = self.target.remove(old) {
            self.target.insert(new_id.to_string(), t);
        }
        if let Some(inst) = &m.instance_id {
            self.static_members.insert(inst.clone(), new_id.to_string());
        }
        self.members.insert(new_id.to_string(), m);
        for tp in before {
            self.owners.insert(tp, new_id.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(parts: &[i32]) -> Assignment {
        [(Uuid::from_u128(1), parts.iter().copied().collect())].into()
    }

    fn join(g: &mut ConsumerGroup, id: &str, now: i64) {
        let mut m = ConsumerMember::new(id.to_string(), now);
        m.subscribed.insert(Uuid::from_u128(1));
        g.members.insert(id.to_string(), m);
        g.topics.insert(Uuid::from_u128(1), ("t".into(), 4));
        g.bump();
        g.reconcile(id, Some(&Assignment::new()), now);
    }

    #[test]
    fn a_partition_moves_only_after_its_owner_revoked_it() {
        let now = 0;
        let mut g = ConsumerGroup::new(0, "uniform");
        join(&mut g, "a", now);
        assert_eq!(g.members["a"].assigned, tp(&[0, 1, 2, 3]));
        assert_eq!(g.members["a"].epoch, 1);
        join(&mut g, "b", now);
        // b is at epoch 2 but gets nothing until a gives partitions up.
        assert_eq!(g.members["b"].epoch, 2);
        assert_eq!(g.members["b"].state, MemberState::UnreleasedPartitions);
        assert!(g.members["b"].assigned.values().all(|p| p.is_empty()));
        assert_eq!(g.state_name(), "Reconciling");
        // a learns of the new target: revoke first, epoch unchanged.
        assert!(g.reconcile("a", None, now));
        let a = &g.members["a"];
        assert_eq!((a.epoch, a.state), (1, MemberState::UnrevokedPartitions));
        let kept = a.assigned.clone();
        let revoking = a.revoking.clone();
        assert_eq!(assignor::count(&kept), 2);
        // Still owning the revoked partitions: nothing happens.
        let mut still = kept.clone();
        for (t, ps) in &revoking {
            still.entry(*t).or_default().extend(ps);
        }
        assert!(!g.reconcile("a", Some(&still), now));
        assert!(!g.reconcile("b", Some(&Assignment::new()), now));
        // a acknowledges the revocation: it moves to epoch 2, then b gets them.
        g.reconcile("a", Some(&kept), now);
        assert_eq!((g.members["a"].epoch, g.members["a"].state), (2, MemberState::Stable));
        assert!(g.reconcile("b", Some(&Assignment::new()), now));
        assert_eq!(g.members["b"].assigned, revoking);
        assert_eq!(g.state_name(), "Stable");
        assert_eq!(g.owners.len(), 4);
    }

    #[test]
    fn removing_a_member_releases_its_partitions() {
        let now = 0;
        let mut g = ConsumerGroup::new(0, "uniform");
        join(&mut g, "a", now);
        join(&mut g, "b", now);
        g.remove("a");
        g.bump();
        assert!(g.reconcile("b", Some(&Assignment::new()), now));
        assert_eq!(g.members["b"].assigned, tp(&[0, 1, 2, 3]));
    }
}
