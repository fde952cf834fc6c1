//! A share group's membership (ShareGroupHeartbeat) and assignment.
//!
//! As in KIP-848 the member id is the client's (a UUID it made), a member joins
//! with epoch 0 and leaves with -1, and the group epoch moves whenever the
//! members, their subscriptions or the subscribed topics' partitions change. Share
//! groups have no revocation phase: several members may read one partition, so a
//! member takes the group's epoch and its new assignment on its next heartbeat.
//!
//! The assignment spreads each topic's partitions over the members subscribed to
//! it, in member-id order: with no more members than partitions each partition goes
//! to one member (counts differ by at most one); with more members than partitions
//! each member gets one partition and the partitions are shared as evenly as the
//! numbers allow, as Kafka's `simple` assignor does.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

#[derive(Clone, Debug)]
pub struct ShareMember {
    pub epoch: i32,
    /// The epoch before the current one: a heartbeat that crossed an epoch change
    /// with the previous epoch is not fenced.
    pub previous_epoch: i32,
    pub topics: BTreeSet<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub last_heartbeat: i64,
    /// What it was last told it owns.
    pub assignment: Assignment,
}

#[derive(Clone, Debug, Default)]
pub struct ShareGroup {
    pub epoch: i32,
    pub members: BTreeMap<String, ShareMember>,
    /// (topic, id, partitions) of every subscribed topic when the target was
    /// computed; a change moves the epoch.
    pub topics_seen: Vec<(String, Uuid, i32)>,
    pub target: BTreeMap<String, Assignment>,
}

impl ShareGroup {
    pub fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else {
            "Stable"
        }
    }

    /// Every topic some member subscribes to.
    pub fn subscribed(&self) -> BTreeSet<String> {
        self.members.values().flat_map(|m| m.topics.iter().cloned()).collect()
    }

    /// Recomputes the target assignment from `topics` (the subscribed topics that
    /// exist: name, id, partition count).
    pub fn assign(&mut self, topics: Vec<(String, Uuid, i32)>) {
        let mut target: BTreeMap<String, Assignment> =
            self.members.keys().map(|m| (m.clone(), Assignment::new())).collect();
        for (name, id, count) in &topics {
            let members: Vec<&String> =
                self.members.iter().filter(|(_, m)| m.topics.contains(name)).map(|(id, _)| id).collect();
            if members.is_empty() || *count <= 0 {
                continue;
            }
            let n = members.len();
            let parts = *count as usize;
            if n <= parts {
                for p in 0..parts {
                    target.get_mut(members[p % n]).expect("member").entry(*id).or_default().insert(p as i32);
                }
            } else {
                for (i, m) in members.iter().enumerate() {
                    target.get_mut(*m).expect("member").entry(*id).or_default().insert((i % parts) as i32);
                }
            }
        }
        self.topics_seen = topics;
        self.target = target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(topics: &[&str]) -> ShareMember {
        ShareMember {
            epoch: 0,
            previous_epoch: 0,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            last_heartbeat: 0,
            assignment: Assignment::new(),
        }
    }

    fn owned(g: &ShareGroup, m: &str, t: Uuid) -> Vec<i32> {
        g.target[m].get(&t).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    #[test]
    fn partitions_spread_over_members_and_shared_when_members_outnumber_them() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut g = ShareGroup::default();
        for (id, topics) in [("m1", &["a", "b"][..]), ("m2", &["a"][..]), ("m3", &["a", "b"][..])] {
            g.members.insert(id.into(), member(topics));
        }
        g.assign(vec![("a".into(), a, 5), ("b".into(), b, 2)]);
        assert_eq!(owned(&g, "m1", a), vec![0, 3]);
        assert_eq!(owned(&g, "m2", a), vec![1, 4]);
        assert_eq!(owned(&g, "m3", a), vec![2]);
        // b: two subscribers, two partitions; m2 does not subscribe to b.
        assert_eq!(owned(&g, "m1", b), vec![0]);
        assert_eq!(owned(&g, "m3", b), vec![1]);
        assert!(owned(&g, "m2", b).is_empty());
        g.assign(vec![("a".into(), a, 2), ("b".into(), b, 2)]);
        // Three members, two partitions of a: every member has one, 0 is shared.
        assert_eq!((owned(&g, "m1", a), owned(&g, "m2", a), owned(&g, "m3", a)), (vec![0], vec![1], vec![0]));
    }
}
