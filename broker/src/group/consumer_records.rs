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
//!   SubscribedTopicRegex?, RebalanceTimeoutMs i32, ServerAssignor?; tagged
//!   field 0, only for a member speaking the classic protocol: the nullable struct
//!   ClassicMemberMetadata (KIP-893: an i8 1 for present, -1 for null, then
//!   SessionTimeoutMs i32, SupportedProtocols[] of (Name, Metadata bytes)).
//! - 6: AssignmentEpoch i32.
//! - 7: TopicPartitions[] of (TopicId uuid, Partitions[] i32).
//! - 8: MemberEpoch i32, PreviousMemberEpoch i32, State i8 (0 stable, 1
//!   unrevoked partitions, 2 unreleased partitions), AssignedPartitions[],
//!   PartitionsPendingRevocation[] (each as in 7).
//!
//! A static member that left for now is written with member epoch -2 and its
//! epoch as the previous one. Members speaking the classic protocol inside a
//! consumer group are written as the others, with their classic metadata (as
//! Kafka writes them), so that after a restart they heartbeat on.

use std::collections::{BTreeMap, HashMap};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::assignor::Assignment;
use super::consumer::{ConsumerGroup, ConsumerMember, MemberState};
use super::migration::ClassicMember;
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
    value_tagged(f, None)
}

/// A value whose tagged-field section holds `tag0` (already encoded) as tag 0.
fn value_tagged(f: impl FnOnce(&mut BytesMut), tag0: Option<&[u8]>) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    f(&mut buf);
    match tag0 {
        Some(t) => {
            put_uvarint(&mut buf, 1);
            put_uvarint(&mut buf, 0);
            put_uvarint(&mut buf, t.len() as u64);
            buf.put_slice(t);
        }
        None => put_uvarint(&mut buf, 0),
    }
    buf.freeze()
}

/// ClassicMemberMetadata as a present nullable struct: the marker 1 (KIP-893,
/// as Kafka's generated code writes it), SessionTimeoutMs, SupportedProtocols.
fn encode_classic(c: &ClassicMember) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i8(1);
    b.put_i32(c.session_timeout_ms.clamp(0, i32::MAX as i64) as i32);
    put_uvarint(&mut b, c.protocols.len() as u64 + 1);
    for (name, metadata) in &c.protocols {
        put_compact_string(&mut b, Some(name));
        put_uvarint(&mut b, metadata.len() as u64 + 1);
        b.put_slice(metadata);
        put_uvarint(&mut b, 0);
    }
    put_uvarint(&mut b, 0);
    b
}

/// A nullable ClassicMemberMetadata; a negative marker is null (as Kafka reads it).
fn decode_classic(mut buf: &[u8]) -> R<Option<ClassicMember>> {
    need(&buf, 1, "nullable struct marker")?;
    if buf.get_i8() < 0 {
        return Ok(None);
    }
    let session_timeout_ms = get_i32(&mut buf)? as i64;
    let mut protocols = Vec::new();
    for _ in 0..get_len(&mut buf)? {
        let name = get_compact_string(&mut buf)?.unwrap_or_default();
        let n = get_uvarint(&mut buf)?.saturating_sub(1) as usize;
        need(&buf, n, "protocol metadata")?;
        protocols.push((name, Bytes::copy_from_slice(&buf[..n])));
        buf.advance(n);
        skip_tags(&mut buf)?;
    }
    skip_tags(&mut buf)?;
    if !buf.is_empty() {
        return Err(DecodeError("bytes left after ClassicMemberMetadata".into()));
    }
    Ok(Some(ClassicMember { session_timeout_ms, protocols }))
}

/// A tagged-field section, keeping tag 0's data (the others are skipped).
fn get_tag0<'a>(buf: &mut &'a [u8]) -> R<Option<&'a [u8]>> {
    let mut tag0 = None;
    for _ in 0..get_uvarint(buf)? {
        let tag = get_uvarint(buf)?;
        let size = get_uvarint(buf)? as usize;
        need(buf, size, "tagged field")?;
        let (data, rest) = buf.split_at(size);
        if tag == 0 {
            tag0 = Some(data);
        }
        *buf = rest;
    }
    Ok(tag0)
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
    for m in cg.members.values() {
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

/// Whether `written` holds member records for exactly the group's members, in
/// one ordered pass.
pub fn same_members(cg: &ConsumerGroup, written: &BTreeMap<ConsumerKey, Bytes>) -> bool {
    let mut ids = cg.members.keys().map(String::as_str);
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
            if let Some(m) = cg.members.get(id) {
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
        let classic = m.classic.as_ref().map(encode_classic);
        out.insert(
            ConsumerKey::Member(m.id.clone()),
            value_tagged(
                |b| {
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
                },
                classic.as_deref(),
            ),
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
                m.classic = get_tag0(&mut buf)?.map(decode_classic).transpose()?.flatten();
                let entry = self.members.entry(member.expect("a member key")).or_default();
                entry.metadata = Some(m);
                return Ok(());
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
#[path = "consumer_records_tests.rs"]
mod tests;
