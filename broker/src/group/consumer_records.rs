//! KIP-848 consumer groups in `__consumer_offsets`, in Kafka's record schemas, so
//! a restart keeps every member at its epoch with its assignment.
//!
//! Keys (not flexible: an i16 record type, then i16-length strings):
//! 3 ConsumerGroupMetadata (group), 5 ConsumerGroupMemberMetadata (group,
//! member), 6 ConsumerGroupTargetAssignmentMetadata (group), 7
//! ConsumerGroupTargetAssignmentMember (group, member), 8
//! ConsumerGroupCurrentMemberAssignment (group, member). Values are version 0 and
//! flexible (compact strings and arrays, a tagged-field section after every
//! struct; unknown tags are skipped when read, none are written):
//! - 3: Epoch i32.
//! - 5: InstanceId?, RackId?, ClientId, ClientHost, SubscribedTopicNames[],
//!   SubscribedTopicRegex?, RebalanceTimeoutMs i32, ServerAssignor?.
//! - 6: AssignmentEpoch i32.
//! - 7: TopicPartitions[] of (TopicId uuid, Partitions[] i32).
//! - 8: MemberEpoch i32, PreviousMemberEpoch i32, State i8 (0 stable, 1
//!   unrevoked partitions, 2 unreleased partitions), AssignedPartitions[],
//!   PartitionsPendingRevocation[] (each as in 7).
//!
//! A static member that left for now is written with member epoch -2 and its
//! epoch as the previous one. Members speaking the classic protocol inside a
//! consumer group are not written: after a restart they rejoin, as before.

use std::collections::{BTreeMap, HashMap};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::assignor::Assignment;
use super::consumer::{ConsumerGroup, ConsumerMember, MemberState};
use super::records::{get_compact_string, get_i16, get_i32, get_uvarint, need, skip_tags, DecodeError, Key, R};

const STATIC_LEFT_EPOCH: i32 = -2;

/// A consumer-group record's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsumerKey {
    Metadata,
    Member(String),
    TargetMetadata,
    Target(String),
    Current(String),
}

impl ConsumerKey {
    pub fn record_type(&self) -> i16 {
        match self {
            ConsumerKey::Metadata => 3,
            ConsumerKey::Member(_) => 5,
            ConsumerKey::TargetMetadata => 6,
            ConsumerKey::Target(_) => 7,
            ConsumerKey::Current(_) => 8,
        }
    }

    pub fn member(&self) -> Option<&str> {
        match self {
            ConsumerKey::Member(m) | ConsumerKey::Target(m) | ConsumerKey::Current(m) => Some(m),
            _ => None,
        }
    }

    /// The key for `record_type` once the group id is read; `member` reads the member id.
    pub fn decode(record_type: i16, member: impl FnOnce() -> R<String>) -> R<ConsumerKey> {
        Ok(match record_type {
            3 => ConsumerKey::Metadata,
            5 => ConsumerKey::Member(member()?),
            6 => ConsumerKey::TargetMetadata,
            7 => ConsumerKey::Target(member()?),
            8 => ConsumerKey::Current(member()?),
            v => return Err(DecodeError(format!("unknown key version {v}"))),
        })
    }
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn put_compact_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => {
            put_uvarint(buf, s.len() as u64 + 1);
            buf.put_slice(s.as_bytes());
        }
        None => put_uvarint(buf, 0),
    }
}

/// A compact array's length (null reads as empty).
fn get_len(buf: &mut &[u8]) -> R<usize> {
    let n = get_uvarint(buf)? as usize;
    let len = n.saturating_sub(1);
    // Every element takes at least one byte: a bound before any allocation.
    need(buf, len, "array")?;
    Ok(len)
}

fn put_partitions(buf: &mut BytesMut, a: &Assignment) {
    let topics: Vec<_> = a.iter().filter(|(_, ps)| !ps.is_empty()).collect();
    put_uvarint(buf, topics.len() as u64 + 1);
    for (id, ps) in topics {
        buf.put_slice(id.as_bytes());
        put_uvarint(buf, ps.len() as u64 + 1);
        for p in ps {
            buf.put_i32(*p);
        }
        put_uvarint(buf, 0);
    }
}

fn get_partitions(buf: &mut &[u8]) -> R<Assignment> {
    let mut a = Assignment::new();
    for _ in 0..get_len(buf)? {
        need(buf, 16, "uuid")?;
        let id = Uuid::from_slice(&buf[..16]).map_err(|e| DecodeError(e.to_string()))?;
        buf.advance(16);
        let ps = a.entry(id).or_default();
        for _ in 0..get_len(buf)? {
            ps.insert(get_i32(buf)?);
        }
        skip_tags(buf)?;
    }
    Ok(a)
}

fn value(f: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    f(&mut buf);
    put_uvarint(&mut buf, 0);
    buf.freeze()
}

fn state_code(s: MemberState) -> i8 {
    match s {
        MemberState::Stable => 0,
        MemberState::UnrevokedPartitions => 1,
        MemberState::UnreleasedPartitions => 2,
    }
}

/// Every record a consumer group is made of now, by key.
pub fn records_of(cg: &ConsumerGroup) -> BTreeMap<ConsumerKey, Bytes> {
    let mut out = group_records(cg);
    for m in cg.members.values().filter(|m| m.classic.is_none()) {
        member_records(cg, m, &mut out);
    }
    out
}

/// The group's own records (its epoch and its target's).
pub fn group_records(cg: &ConsumerGroup) -> BTreeMap<ConsumerKey, Bytes> {
    let mut out = BTreeMap::new();
    out.insert(ConsumerKey::Metadata, value(|b| b.put_i32(cg.epoch)));
    out.insert(ConsumerKey::TargetMetadata, value(|b| b.put_i32(cg.assignment_epoch)));
    out
}

/// Whether `written` holds member records for exactly the group's written
/// members (those not speaking the classic protocol), in one ordered pass.
pub fn same_members(cg: &ConsumerGroup, written: &BTreeMap<ConsumerKey, Bytes>) -> bool {
    let mut ids = cg.members.values().filter(|m| m.classic.is_none()).map(|m| m.id.as_str());
    let mut keys =
        written.range(ConsumerKey::Member(String::new())..ConsumerKey::TargetMetadata).map(|(k, _)| k.member());
    loop {
        match (ids.next(), keys.next()) {
            (None, None) => return true,
            (Some(a), Some(Some(b))) if a == b => {}
            _ => return false,
        }
    }
}

/// A change of a group's records: what to write, what it replaces, and the
/// records once it is written.
pub struct Diff {
    pub changes: Vec<(ConsumerKey, Option<Bytes>)>,
    /// Each changed key's value before the change (None: it was not there), so
    /// that a change that could not be written can be taken back.
    pub undo: Vec<(ConsumerKey, Option<Bytes>)>,
    pub now: BTreeMap<ConsumerKey, Bytes>,
}

impl Diff {
    /// The records as they were before the change, from the records after it.
    pub fn undone(
        mut now: BTreeMap<ConsumerKey, Bytes>,
        undo: Vec<(ConsumerKey, Option<Bytes>)>,
    ) -> BTreeMap<ConsumerKey, Bytes> {
        for (k, v) in undo {
            match v {
                Some(v) => now.insert(k, v),
                None => now.remove(&k),
            };
        }
        now
    }
}

/// The changes that bring `before` (the records last written) to the group's
/// records now (`cg` None: the group is gone), and the records now. With
/// `member`, when the group's epochs and set of members are as written, only that
/// member's records and the group's are encoded and compared (a group of
/// hundreds is not re-encoded on every heartbeat): a heartbeat that bumps no
/// epoch and adds or removes no member changes no other member's records.
pub fn diff(cg: Option<&ConsumerGroup>, before: BTreeMap<ConsumerKey, Bytes>, member: Option<&str>) -> Diff {
    let undo_of = |changes: &[(ConsumerKey, Option<Bytes>)], before: &BTreeMap<ConsumerKey, Bytes>| {
        changes.iter().map(|(k, _)| (k.clone(), before.get(k).cloned())).collect()
    };
    if let (Some(cg), Some(id)) = (cg, member) {
        let mut part = group_records(cg);
        if part.iter().all(|(k, v)| before.get(k) == Some(v)) && same_members(cg, &before) {
            if let Some(m) = cg.members.get(id).filter(|m| m.classic.is_none()) {
                member_records(cg, m, &mut part);
            }
            let changes: Vec<_> = part
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect();
            let undo = undo_of(&changes, &before);
            let mut now = before;
            now.extend(part);
            return Diff { changes, undo, now };
        }
    }
    let now = cg.map(records_of).unwrap_or_default();
    let mut changes: Vec<(ConsumerKey, Option<Bytes>)> =
        now.iter().filter(|(k, v)| before.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    changes.extend(before.keys().filter(|k| !now.contains_key(*k)).map(|k| (k.clone(), None)));
    let undo = undo_of(&changes, &before);
    Diff { changes, undo, now }
}

/// One member's records.
pub fn member_records(cg: &ConsumerGroup, m: &ConsumerMember, out: &mut BTreeMap<ConsumerKey, Bytes>) {
    {
        out.insert(
            ConsumerKey::Member(m.id.clone()),
            value(|b| {
                put_compact_string(b, m.instance_id.as_deref());
                put_compact_string(b, m.rack_id.as_deref());
                put_compact_string(b, Some(&m.client_id));
                put_compact_string(b, Some(&m.client_host));
                put_uvarint(b, m.topic_names.len() as u64 + 1);
                for t in &m.topic_names {
                    put_compact_string(b, Some(t));
                }
                put_compact_string(b, m.regex.as_deref());
                b.put_i32(m.rebalance_timeout_ms.clamp(-1, i32::MAX as i64) as i32);
                put_compact_string(b, m.assignor.as_deref());
            }),
        );
        if let Some(t) = cg.target.get(&m.id) {
            out.insert(ConsumerKey::Target(m.id.clone()), value(|b| put_partitions(b, t)));
        }
        let (epoch, previous) = if m.departed { (STATIC_LEFT_EPOCH, m.epoch) } else { (m.epoch, m.previous_epoch) };
        out.insert(
            ConsumerKey::Current(m.id.clone()),
            value(|b| {
                b.put_i32(epoch);
                b.put_i32(previous);
                b.put_i8(state_code(m.state));
                put_partitions(b, &m.assigned);
                put_partitions(b, &m.revoking);
            }),
        );
    }
}

/// What a member's records say, while the topic loads.
#[derive(Default)]
struct LoadedMember {
    metadata: Option<ConsumerMember>,
    target: Option<Assignment>,
    /// (epoch, previous epoch, state, assigned, revoking)
    current: Option<(i32, i32, MemberState, Assignment, Assignment)>,
}

/// A consumer group's records read so far at start-up; later records replace
/// earlier ones and tombstones remove them, as compaction would.
#[derive(Default)]
pub struct Loaded {
    epoch: Option<i32>,
    assignment_epoch: Option<i32>,
    members: HashMap<String, LoadedMember>,
}

impl Loaded {
    pub fn is_empty(&self) -> bool {
        self.epoch.is_none() && self.assignment_epoch.is_none() && self.members.is_empty()
    }

    /// Applies one record (`value` None: a tombstone).
    pub fn apply(&mut self, key: &ConsumerKey, value: Option<&[u8]>, now: i64) -> R<()> {
        let member = key.member().map(str::to_string);
        let Some(mut buf) = value else {
            match key {
                ConsumerKey::Metadata => self.epoch = None,
                ConsumerKey::TargetMetadata => self.assignment_epoch = None,
                ConsumerKey::Member(m) => {
                    if let Some(l) = self.members.get_mut(m) {
                        l.metadata = None;
                    }
                }
                ConsumerKey::Target(m) => {
                    if let Some(l) = self.members.get_mut(m) {
                        l.target = None;
                    }
                }
                ConsumerKey::Current(m) => {
                    if let Some(l) = self.members.get_mut(m) {
                        l.current = None;
                    }
                }
            }
            self.members.retain(|_, l| l.metadata.is_some() || l.target.is_some() || l.current.is_some());
            return Ok(());
        };
        let version = get_i16(&mut buf)?;
        if version != 0 {
            return Err(DecodeError(format!("unsupported consumer group value version {version}")));
        }
        match key {
            ConsumerKey::Metadata => self.epoch = Some(get_i32(&mut buf)?),
            ConsumerKey::TargetMetadata => self.assignment_epoch = Some(get_i32(&mut buf)?),
            ConsumerKey::Member(id) => {
                let mut m = ConsumerMember::new(id.clone(), now);
                m.instance_id = get_compact_string(&mut buf)?;
                m.rack_id = get_compact_string(&mut buf)?;
                m.client_id = get_compact_string(&mut buf)?.unwrap_or_default();
                m.client_host = get_compact_string(&mut buf)?.unwrap_or_default();
                for _ in 0..get_len(&mut buf)? {
                    m.topic_names.extend(get_compact_string(&mut buf)?);
                }
                m.regex = get_compact_string(&mut buf)?;
                m.rebalance_timeout_ms = get_i32(&mut buf)? as i64;
                m.assignor = get_compact_string(&mut buf)?;
                let entry = self.members.entry(member.expect("a member key")).or_default();
                entry.metadata = Some(m);
            }
            ConsumerKey::Target(_) => {
                let t = get_partitions(&mut buf)?;
                self.members.entry(member.expect("a member key")).or_default().target = Some(t);
            }
            ConsumerKey::Current(_) => {
                let epoch = get_i32(&mut buf)?;
                let previous = get_i32(&mut buf)?;
                need(&buf, 1, "state")?;
                let state = match buf.get_i8() {
                    1 => MemberState::UnrevokedPartitions,
                    2 => MemberState::UnreleasedPartitions,
                    _ => MemberState::Stable,
                };
                let assigned = get_partitions(&mut buf)?;
                let revoking = get_partitions(&mut buf)?;
                self.members.entry(member.expect("a member key")).or_default().current =
                    Some((epoch, previous, state, assigned, revoking));
            }
        }
        skip_tags(&mut buf)
    }

    /// The group the records describe; members without both metadata and a
    /// current assignment are left out (they rejoin). Sessions start `now`.
    pub fn restore(self, default_assignor: &str, now: i64) -> Option<ConsumerGroup> {
        let epoch = self.epoch?;
        let mut cg = ConsumerGroup::new(epoch, default_assignor);
        cg.assignment_epoch = self.assignment_epoch.unwrap_or(epoch).min(epoch);
        for (id, l) in self.members {
            let (Some(mut m), Some((member_epoch, previous, state, assigned, revoking))) = (l.metadata, l.current)
            else {
                continue;
            };
            if member_epoch == STATIC_LEFT_EPOCH {
                (m.epoch, m.previous_epoch, m.departed) = (previous, previous, true);
            } else {
                (m.epoch, m.previous_epoch) = (member_epoch, previous);
            }
            m.state = state;
            m.assigned = assigned;
            m.revoking = revoking;
            m.last_heartbeat = now;
            if m.state == MemberState::UnrevokedPartitions {
                m.revoke_deadline = Some(now + m.rebalance_timeout_ms);
            }
            m.compiled = m.regex.as_deref().and_then(|re| super::consumer_ops::compile(re).ok());
            if let Some(inst) = &m.instance_id {
                cg.static_members.insert(inst.clone(), id.clone());
            }
            if let Some(t) = l.target {
                cg.target.insert(id.clone(), t);
            }
            cg.members.insert(id, m);
        }
        cg.restore_owners();
        Some(cg)
    }
}

impl Key {
    pub(super) fn consumer(group: &str, key: ConsumerKey) -> Key {
        Key::Consumer { group: group.to_string(), key }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_survives_its_records() {
        let t = Uuid::from_u128(7);
        let mut cg = ConsumerGroup::new(4, "uniform");
        let mut m = ConsumerMember::new("m1".into(), 0);
        m.instance_id = Some("i1".into());
        m.client_id = "c".into();
        m.client_host = "/127.0.0.1".into();
        m.topic_names = vec!["orders".into()];
        m.regex = Some("ord.*".into());
        m.assignor = Some("range".into());
        m.epoch = 4;
        m.previous_epoch = 3;
        m.state = MemberState::UnrevokedPartitions;
        m.assigned = [(t, [0, 1].into())].into();
        m.revoking = [(t, [2].into())].into();
        cg.members.insert("m1".into(), m);
        cg.target.insert("m1".into(), [(t, [0, 1].into())].into());
        let records = records_of(&cg);
        assert_eq!(records.len(), 5);

        let mut loaded = Loaded::default();
        for (k, v) in &records {
            loaded.apply(k, Some(v), 0).unwrap();
        }
        let back = loaded.restore("uniform", 100).unwrap();
        assert_eq!((back.epoch, back.assignment_epoch), (4, 4));
        let m = &back.members["m1"];
        assert_eq!((m.epoch, m.previous_epoch, m.state), (4, 3, MemberState::UnrevokedPartitions));
        assert_eq!(m.assigned, [(t, [0, 1].into())].into());
        assert_eq!(m.revoking, [(t, [2].into())].into());
        assert_eq!(
            (m.instance_id.as_deref(), m.regex.as_deref(), m.assignor.as_deref()),
            (Some("i1"), Some("ord.*"), Some("range"))
        );
        assert!(m.compiled.is_some());
        assert_eq!(m.revoke_deadline, Some(100 + m.rebalance_timeout_ms));
        assert_eq!(back.static_members["i1"], "m1");
        assert_eq!(back.owners.len(), 3);
        assert_eq!(records_of(&back), records, "written again the same");

        // A tombstone of the member's current assignment drops it.
        let mut loaded = Loaded::default();
        for (k, v) in &records {
            loaded.apply(k, Some(v), 0).unwrap();
        }
        loaded.apply(&ConsumerKey::Current("m1".into()), None, 0).unwrap();
        assert!(loaded.restore("uniform", 0).unwrap().members.is_empty());
    }

    fn group_of(ids: &[&str]) -> ConsumerGroup {
        let mut cg = ConsumerGroup::new(3, "uniform");
        for id in ids {
            let mut m = ConsumerMember::new(id.to_string(), 0);
            m.topic_names = vec!["t".into()];
            m.epoch = 3;
            cg.members.insert(id.to_string(), m);
        }
        cg
    }

    #[test]
    fn a_one_member_diff_finds_what_the_whole_group_diff_finds() {
        let t = Uuid::from_u128(1);
        let mut cg = group_of(&["a", "b", "c"]);
        let Diff { changes: first, now: written, undo } = diff(Some(&cg), BTreeMap::new(), Some("a"));
        assert_eq!(first.len(), 2 + 3 * 2, "everything, the first time (no targets yet)");
        assert!(Diff::undone(written.clone(), undo).is_empty(), "undone, nothing was written");

        // b's heartbeat moved b alone: both ways find the same one change.
        cg.members.get_mut("b").unwrap().assigned = [(t, [0].into())].into();
        let Diff { changes: partial, now: after, undo } = diff(Some(&cg), written.clone(), Some("b"));
        let Diff { changes: full, now: after_full, undo: undo_full } = diff(Some(&cg), written.clone(), None);
        assert_eq!(partial, full);
        assert_eq!(partial.len(), 1);
        assert_eq!(after, after_full);
        assert_eq!(Diff::undone(after.clone(), undo), written, "undone, b's records are as written");
        assert_eq!(Diff::undone(after_full, undo_full), written);

        // A member replaced by another without a new epoch (a static member taking
        // over): the set differs, so the whole group is compared and the old one's
        // records go.
        let swapped = group_of(&["a", "c", "d"]);
        let Diff { changes, now: swapped_now, undo } = diff(Some(&swapped), after.clone(), Some("d"));
        assert!(changes.contains(&(ConsumerKey::Member("b".into()), None)), "{changes:?}");
        assert!(changes.iter().any(|(k, v)| *k == ConsumerKey::Member("d".into()) && v.is_some()));
        assert_eq!(Diff::undone(swapped_now, undo), after, "undone, b is back and d gone");

        // The group gone: tombstones for all of it.
        let Diff { changes: gone, now, undo } = diff(None, after.clone(), Some("a"));
        assert!(now.is_empty());
        assert_eq!(gone.len(), 2 + 3 * 2);
        assert!(gone.iter().all(|(_, v)| v.is_none()));
        assert_eq!(Diff::undone(now, undo), after, "undone, the group is back");
    }

    #[test]
    fn truncated_values_are_errors_not_panics() {
        let mut cg = ConsumerGroup::new(1, "uniform");
        let mut m = ConsumerMember::new("m".into(), 0);
        m.topic_names = vec!["a".into()];
        cg.members.insert("m".into(), m);
        for (k, v) in records_of(&cg) {
            for cut in 0..v.len() {
                assert!(Loaded::default().apply(&k, Some(&v[..cut]), 0).is_err(), "{k:?} cut at {cut}");
            }
        }
    }
}
