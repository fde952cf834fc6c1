//! Server-side assignors of KIP-848 consumer groups: `uniform` (the default) and
//! `range`. Both are pure functions of the members' subscriptions, the partition
//! counts of the subscribed topics and the previous target assignment, so the same
//! inputs always give the same answer (members are visited in id order).
//!
//! - `uniform` keeps every partition where it was when its owner still subscribes to
//!   the topic, hands out the rest to the least-loaded subscriber, then moves
//!   partitions from the most- to the least-loaded members until no move would make
//!   the spread smaller. With identical subscriptions the counts differ by at most one.
//! - `range` splits each topic's partitions into contiguous ranges over its subscribers
//!   in member-id order (the first `n % m` members get one extra), so members line up
//!   on co-partitioned topics.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use uuid::Uuid;

/// Partitions per topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";
pub const ASSIGNORS: &[&str] = &[UNIFORM, RANGE];

pub struct MemberSubscription<'a> {
    pub id: &'a str,
    pub topics: &'a BTreeSet<Uuid>,
    /// The member's previous target assignment (stickiness).
    pub previous: Option<&'a Assignment>,
}

pub fn count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

/// Computes a target assignment for every member. `partitions`: topic id -> count.
pub fn assign(
    assignor: &str,
    members: &[MemberSubscription<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    match assignor {
        RANGE => range(members, partitions),
        _ => uniform(members, partitions),
    }
}

fn range(members: &[MemberSubscription<'_>], partitions: &BTreeMap<Uuid, i32>) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members.iter().map(|m| (m.id.to_string(), Assignment::new())).collect();
    for (topic, &n) in partitions {
        let mut subs: Vec<&str> = members.iter().filter(|m| m.topics.contains(topic)).map(|m| m.id).collect();
        if subs.is_empty() || n <= 0 {
            continue;
        }
        subs.sort_unstable();
        let (per, extra) = (n as usize / subs.len(), n as usize % subs.len());
        let mut next = 0i32;
        for (i, id) in subs.into_iter().enumerate() {
            let take = (per + usize::from(i < extra)) as i32;
            if take > 0 {
                out.get_mut(id).expect("member").entry(*topic).or_default().extend(next..next + take);
            }
            next += take;
        }
    }
    out
}

fn uniform(members: &[MemberSubscription<'_>], partitions: &BTreeMap<Uuid, i32>) -> BTreeMap<String, Assignment> {
    // Members are numbered in id order, so (load, index) orders ties by id.
    let mut sorted: Vec<&MemberSubscription<'_>> = members.iter().collect();
    sorted.sort_unstable_by_key(|m| m.id);
    let mut out: Vec<Assignment> = vec![Assignment::new(); sorted.len()];
    let mut taken: HashSet<(Uuid, i32)> = HashSet::new();
    // 1. Stickiness: previous assignments that are still valid.
    for (i, m) in sorted.iter().enumerate() {
        let Some(prev) = m.previous else { continue };
        for (topic, parts) in prev {
            let Some(&n) = partitions.get(topic) else { continue };
            if !m.topics.contains(topic) {
                continue;
            }
            for &p in parts.iter().filter(|&&p| p < n) {
                if taken.insert((*topic, p)) {
                    out[i].entry(*topic).or_default().insert(p);
                }
            }
        }
    }
    let mut loads = Loads::new(out.iter().map(count).collect());
    // 2. Unowned partitions go to the least-loaded subscriber.
    for (topic, &n) in partitions {
        for p in 0..n {
            if taken.contains(&(*topic, p)) {
                continue;
            }
            let Some(to) = loads.receiver(&sorted, topic, usize::MAX) else { break };
            loads.add(to, 1);
            out[to].entry(*topic).or_default().insert(p);
        }
    }
    // 3. Balance: move a partition from a member to a subscriber with at least two
    // fewer. Every move lowers the sum of squared loads, so this ends. Donors are
    // tried from the most loaded (ties by id), each topic of a donor in order, and
    // the first with a receiver gives up its highest partition.
    while let Some((donor, to, topic)) = loads.next_move(&sorted, &out) {
        let set = out[donor].get_mut(&topic).expect("donor owns the topic");
        let p = set.pop_last().expect("non-empty");
        if set.is_empty() {
            out[donor].remove(&topic);
        }
        out[to].entry(topic).or_default().insert(p);
        loads.add(donor, -1);
        loads.add(to, 1);
    }
    sorted.iter().zip(out).map(|(m, a)| (m.id.to_string(), a)).collect()
}

/// Members' partition counts, also kept ordered by (count, index) so the least and
/// most loaded are found without a scan: a join storm recomputes the target of a
/// group of hundreds of members once per join.
struct Loads {
    of: Vec<usize>,
    order: BTreeSet<(usize, usize)>,
}

impl Loads {
    fn new(of: Vec<usize>) -> Loads {
        let order = of.iter().enumerate().map(|(i, l)| (*l, i)).collect();
        Loads { of, order }
    }

    fn add(&mut self, i: usize, by: isize) {
        self.order.remove(&(self.of[i], i));
        self.of[i] = self.of[i].checked_add_signed(by).expect("load stays non-negative");
        self.order.insert((self.of[i], i));
    }

    /// The least-loaded subscriber of `topic` (ties by id) with fewer than `below`.
    fn receiver(&self, members: &[&MemberSubscription<'_>], topic: &Uuid, below: usize) -> Option<usize> {
        self.order.iter().take_while(|(l, _)| *l < below).map(|(_, i)| *i).find(|i| members[*i].topics.contains(topic))
    }

    /// The next balancing move as (donor, receiver, topic), if any move is left.
    fn next_move(&self, members: &[&MemberSubscription<'_>], out: &[Assignment]) -> Option<(usize, usize, Uuid)> {
        let least = self.order.first()?.0;
        let mut level = self.order.last()?.0;
        // A receiver has at least two fewer than its donor, so donors at or below
        // the least load + 1 have none.
        while level >= least + 2 {
            for &(_, donor) in self.order.range((level, 0)..=(level, usize::MAX)) {
                for topic in out[donor].keys() {
                    if let Some(to) = self.receiver(members, topic, level - 1) {
                        return Some((donor, to, *topic));
                    }
                }
            }
            level = self.order.range(..(level, 0)).next_back()?.0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The first, plainly quadratic form of `uniform`: the specification the
    /// indexed one must match exactly.
    fn uniform_reference(
        members: &[MemberSubscription<'_>],
        partitions: &BTreeMap<Uuid, i32>,
    ) -> BTreeMap<String, Assignment> {
        let mut sorted: Vec<&MemberSubscription<'_>> = members.iter().collect();
        sorted.sort_unstable_by_key(|m| m.id);
        let mut out: BTreeMap<String, Assignment> = BTreeMap::new();
        let mut loads: BTreeMap<&str, usize> = BTreeMap::new();
        let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
        // 1. Stickiness: previous assignments that are still valid.
        for m in &sorted {
            let mut a = Assignment::new();
            if let Some(prev) = m.previous {
                for (topic, parts) in prev {
                    let Some(&n) = partitions.get(topic) else { continue };
                    if !m.topics.contains(topic) {
                        continue;
                    }
                    for &p in parts.iter().filter(|&&p| p < n) {
                        if taken.insert((*topic, p)) {
                            a.entry(*topic).or_default().insert(p);
                        }
                    }
                }
            }
            loads.insert(m.id, count(&a));
            out.insert(m.id.to_string(), a);
        }
        // 2. Unowned partitions go to the least-loaded subscriber.
        for (topic, &n) in partitions {
            let subs: Vec<&str> = sorted.iter().filter(|m| m.topics.contains(topic)).map(|m| m.id).collect();
            if subs.is_empty() {
                continue;
            }
            for p in 0..n {
                if taken.contains(&(*topic, p)) {
                    continue;
                }
                let id = *subs.iter().min_by_key(|id| (loads[**id], **id)).expect("subscribers");
                *loads.get_mut(id).expect("load") += 1;
                out.get_mut(id).expect("member").entry(*topic).or_default().insert(p);
                taken.insert((*topic, p));
            }
        }
        // 3. Balance: move a partition from a member to a subscriber with at least two
        // fewer. Every move lowers the sum of squared loads, so this ends.
        loop {
            let mut moved = false;
            let mut by_load: Vec<&str> = sorted.iter().map(|m| m.id).collect();
            by_load.sort_unstable_by_key(|id| (std::cmp::Reverse(loads[id]), *id));
            'donors: for donor in by_load {
                let donor_load = loads[donor];
                let owned: Vec<(Uuid, i32)> =
                    out[donor].iter().flat_map(|(t, ps)| ps.iter().rev().map(move |p| (*t, *p))).collect();
                for (topic, p) in owned {
                    let target = sorted
                        .iter()
                        .filter(|m| m.id != donor && m.topics.contains(&topic) && loads[m.id] + 1 < donor_load)
                        .map(|m| m.id)
                        .min_by_key(|id| (loads[*id], *id));
                    if let Some(to) = target {
                        let from = out.get_mut(donor).expect("donor");
                        let set = from.get_mut(&topic).expect("topic");
                        set.remove(&p);
                        if set.is_empty() {
                            from.remove(&topic);
                        }
                        out.get_mut(to).expect("receiver").entry(topic).or_default().insert(p);
                        *loads.get_mut(donor).expect("load") -= 1;
                        *loads.get_mut(to).expect("load") += 1;
                        moved = true;
                        break 'donors;
                    }
                }
            }
            if !moved {
                break;
            }
        }
        out
    }

    fn topics(n: usize) -> Vec<Uuid> {
        (0..n).map(|i| Uuid::from_u128(i as u128 + 1)).collect()
    }

    fn check_complete(
        out: &BTreeMap<String, Assignment>,
        subs: &[(String, BTreeSet<Uuid>)],
        parts: &BTreeMap<Uuid, i32>,
    ) {
        let mut seen = BTreeSet::new();
        for (id, a) in out {
            let mine = &subs.iter().find(|(m, _)| m == id).unwrap().1;
            for (t, ps) in a {
                assert!(mine.contains(t), "{id} got a topic it does not subscribe to");
                for p in ps {
                    assert!(*p < parts[t]);
                    assert!(seen.insert((*t, *p)), "partition {t}/{p} assigned twice");
                }
            }
        }
        for (t, n) in parts {
            if subs.iter().any(|(_, s)| s.contains(t)) {
                for p in 0..*n {
                    assert!(seen.contains(&(*t, p)), "partition {t}/{p} unassigned");
                }
            }
        }
    }

    fn run(
        assignor: &str,
        subs: &[(String, BTreeSet<Uuid>)],
        parts: &BTreeMap<Uuid, i32>,
        prev: &BTreeMap<String, Assignment>,
    ) -> BTreeMap<String, Assignment> {
        let members: Vec<MemberSubscription<'_>> =
            subs.iter().map(|(id, t)| MemberSubscription { id, topics: t, previous: prev.get(id) }).collect();
        assign(assignor, &members, parts)
    }

    #[test]
    fn range_gives_contiguous_ranges_in_member_order() {
        let t = topics(2);
        let parts: BTreeMap<Uuid, i32> = [(t[0], 7), (t[1], 2)].into();
        let all: BTreeSet<Uuid> = t.iter().copied().collect();
        let subs = vec![("b".to_string(), all.clone()), ("a".to_string(), all.clone()), ("c".to_string(), all)];
        let out = run(RANGE, &subs, &parts, &BTreeMap::new());
        assert_eq!(out["a"][&t[0]], [0, 1, 2].into());
        assert_eq!(out["b"][&t[0]], [3, 4].into());
        assert_eq!(out["c"][&t[0]], [5, 6].into());
        assert_eq!(out["a"][&t[1]], [0].into());
        assert_eq!(out["b"][&t[1]], [1].into());
        assert!(!out["c"].contains_key(&t[1]));
        check_complete(&out, &subs, &parts);
    }

    #[test]
    fn uniform_is_sticky_when_a_member_joins() {
        let t = topics(1);
        let parts: BTreeMap<Uuid, i32> = [(t[0], 6)].into();
        let s: BTreeSet<Uuid> = t.iter().copied().collect();
        let two = vec![("a".to_string(), s.clone()), ("b".to_string(), s.clone())];
        let first = run(UNIFORM, &two, &parts, &BTreeMap::new());
        assert_eq!(count(&first["a"]), 3);
        let three = vec![("a".to_string(), s.clone()), ("b".to_string(), s.clone()), ("c".to_string(), s)];
        let second = run(UNIFORM, &three, &parts, &first);
        for id in ["a", "b", "c"] {
            assert_eq!(count(&second[id]), 2, "{id}");
        }
        // a and b each gave up exactly one partition and kept the others.
        for id in ["a", "b"] {
            assert!(second[id][&t[0]].is_subset(&first[id][&t[0]]), "{id} lost partitions it could keep");
        }
    }

    proptest! {
        #[test]
        fn every_subscribed_partition_is_assigned_once_and_uniform_balances(
            nmembers in 1usize..8,
            counts in proptest::collection::vec(0i32..12, 1..5),
            masks in proptest::collection::vec(1u8..16, 8),
            homogeneous in any::<bool>(),
            rounds in 1usize..4,
        ) {
            let t = topics(counts.len());
            let parts: BTreeMap<Uuid, i32> = t.iter().copied().zip(counts.iter().copied()).collect();
            let subs: Vec<(String, BTreeSet<Uuid>)> = (0..nmembers)
                .map(|i| {
                    let mask = if homogeneous { 0xff } else { masks[i] };
                    let s = t.iter().enumerate().filter(|(j, _)| mask & (1 << (j % 8)) != 0).map(|(_, u)| *u).collect();
                    (format!("m{i}"), s)
                })
                .collect();
            for assignor in ASSIGNORS {
                let mut prev = BTreeMap::new();
                for r in 0..rounds {
                    // Members come and go between rounds.
                    let live: Vec<(String, BTreeSet<Uuid>)> =
                        subs.iter().enumerate().filter(|(i, _)| (i + r) % 3 != 0 || nmembers == 1).map(|(_, s)| s.clone()).collect();
                    let out = run(assignor, &live, &parts, &prev);
                    check_complete(&out, &live, &parts);
                    if *assignor == UNIFORM && homogeneous {
                        let loads: Vec<usize> = out.values().map(count).collect();
                        let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
                        prop_assert!(hi - lo <= 1, "loads {:?}", loads);
                    }
                    prev = out;
                }
            }
        }

        #[test]
        fn uniform_matches_its_reference_form(
            nmembers in 1usize..30,
            counts in proptest::collection::vec(0i32..60, 1..5),
            masks in proptest::collection::vec(1u8..16, 30),
            // Previous owners may overlap, be out of range or be unsubscribed.
            previous in proptest::collection::vec(proptest::collection::vec((0usize..5, 0i32..70), 0..20), 30),
        ) {
            let t = topics(counts.len());
            let parts: BTreeMap<Uuid, i32> = t.iter().copied().zip(counts.iter().copied()).collect();
            let ids: Vec<String> = (0..nmembers).map(|i| format!("m{:02}", (i * 7) % 30)).collect();
            let subs: Vec<BTreeSet<Uuid>> = (0..nmembers)
                .map(|i| t.iter().enumerate().filter(|(j, _)| masks[i] & (1 << j) != 0).map(|(_, u)| *u).collect())
                .collect();
            let prev: Vec<Assignment> = previous
                .iter()
                .map(|tps| {
                    let mut a = Assignment::new();
                    for (j, p) in tps {
                        a.entry(Uuid::from_u128(*j as u128 + 1)).or_default().insert(*p);
                    }
                    a
                })
                .collect();
            let members: Vec<MemberSubscription<'_>> = (0..nmembers)
                .map(|i| MemberSubscription { id: &ids[i], topics: &subs[i], previous: Some(&prev[i]) })
                .collect();
            prop_assert_eq!(uniform(&members, &parts), uniform_reference(&members, &parts));
        }
    }
}
