//! What share groups keep on disk: records of `__share_group_state` (a compacted
//! internal topic, created with the first share group), read back at start-up.
//!
//! Keys and values are big-endian, each starting with an i16 version that says
//! what the record is:
//! - a group: key `0, group (i16 length + UTF-8)`; value `0, group epoch (i32)`.
//!   Written when the epoch changes; a tombstone when the group is deleted.
//! - a share-partition: key `1, group, topic id (16 bytes), partition (i32)`; value
//!   `0, start offset (i64), count (i32), count x (first offset i64, last offset
//!   i64, state i8, delivery count i16)`, the [`Snapshot`] of the partition (its
//!   start and the in-flight records that are not plainly available). Written
//!   whenever an acknowledgement, a release or a lock's end changes it; a
//!   tombstone when the group is deleted.
//! - a member: key `2, group, member id`; value `0, member epoch (i32), previous
//!   epoch (i32), rack id (i16 length, -1 for none), client id, client host,
//!   subscribed topics (i32 count, each a string), assignment (i32 count of
//!   topics, each a topic id (16 bytes), i32 count and the partitions (i32))`.
//!   Written when a member joins, changes its subscription or takes a new epoch
//!   and assignment; a tombstone when it leaves or its session times out. As in
//!   Kafka (its ShareGroupMemberMetadata and current-assignment records), a
//!   member keeps its epoch across a restart rather than rejoin from 0.
//!
//! A group's records all go to one partition of the topic (by the hash of its
//! name), so they are read back in the order written.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::group::{Assignment, ShareMember};
use super::partition::{RecordState, Snapshot};
use crate::internal::KeyValue;
use crate::internal::StateMachine;

pub const SHARE_STATE_TOPIC: &str = "__share_group_state";

/// The longest group id a record can name (its length is an i16).
pub const MAX_GROUP_ID_BYTES: usize = i16::MAX as usize;

/// How far past its start a snapshot may reach: in flight are at most
/// `group.share.partition.max.record.locks` (10,000 at most) offsets; a record
/// reaching further is refused rather than restored into that many slots.
const MAX_SNAPSHOT_SPAN: i64 = 100_000;

/// A share-partition of a group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareKey {
    pub group: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateKey {
    Group(String),
    Partition(ShareKey),
    Member { group: String, member: String },
}

/// `s` must fit an i16 length: callers refuse longer strings before they reach
/// state ([`MAX_GROUP_ID_BYTES`]).
fn put_str(b: &mut BytesMut, s: &str) {
    debug_assert!(s.len() <= MAX_GROUP_ID_BYTES, "a string too long for a record");
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn get_str(b: &mut &[u8]) -> Option<String> {
    if b.remaining() < 2 {
        return None;
    }
    let n = usize::try_from(b.get_i16()).ok()?;
    if b.remaining() < n {
        return None;
    }
    let s = std::str::from_utf8(&b[..n]).ok()?.to_string();
    b.advance(n);
    Some(s)
}

impl StateKey {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            StateKey::Group(g) => {
                b.put_i16(0);
                put_str(&mut b, g);
            }
            StateKey::Partition(k) => {
                b.put_i16(1);
                put_str(&mut b, &k.group);
                b.put_slice(k.topic_id.as_bytes());
                b.put_i32(k.partition);
            }
            StateKey::Member { group, member } => {
                b.put_i16(2);
                put_str(&mut b, group);
                put_str(&mut b, member);
            }
        }
        b.freeze()
    }

    pub fn decode(mut b: &[u8]) -> Option<StateKey> {
        if b.remaining() < 2 {
            return None;
        }
        match b.get_i16() {
            0 => {
                let g = get_str(&mut b)?;
                b.is_empty().then_some(StateKey::Group(g))
            }
            1 => {
                let group = get_str(&mut b)?;
                if b.remaining() != 20 {
                    return None;
                }
                let topic_id = Uuid::from_slice(&b[..16]).ok()?;
                b.advance(16);
                Some(StateKey::Partition(ShareKey { group, topic_id, partition: b.get_i32() }))
            }
            2 => {
                let group = get_str(&mut b)?;
                let member = get_str(&mut b)?;
                b.is_empty().then_some(StateKey::Member { group, member })
            }
            _ => None,
        }
    }

    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            StateKey::Group(g) => g,
            StateKey::Partition(k) => &k.group,
            StateKey::Member { group, .. } => group,
        }
    }
}

fn put_opt_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn get_opt_str(b: &mut &[u8]) -> Option<Option<String>> {
    if b.remaining() >= 2 && i16::from_be_bytes([b[0], b[1]]) == -1 {
        b.advance(2);
        return Some(None);
    }
    get_str(b).map(Some)
}

/// A count read from a record, refused when fewer than `min_each` bytes a piece are left.
fn get_count(b: &mut &[u8], min_each: usize) -> Option<usize> {
    if b.remaining() < 4 {
        return None;
    }
    let n = usize::try_from(b.get_i32()).ok()?;
    (b.remaining() >= n.checked_mul(min_each)?).then_some(n)
}

pub fn encode_member(m: &ShareMember) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_i16(0);
    b.put_i32(m.epoch);
    b.put_i32(m.previous_epoch);
    put_opt_str(&mut b, m.rack_id.as_deref());
    put_str(&mut b, &m.client_id);
    put_str(&mut b, &m.client_host);
    b.put_i32(m.topics.len() as i32);
    for t in &m.topics {
        put_str(&mut b, t);
    }
    b.put_i32(m.assignment.len() as i32);
    for (id, parts) in &m.assignment {
        b.put_slice(id.as_bytes());
        b.put_i32(parts.len() as i32);
        for p in parts {
            b.put_i32(*p);
        }
    }
    b.freeze()
}

/// A member as written (`last_heartbeat` 0: whoever restores it starts its session).
pub fn decode_member(mut b: &[u8]) -> Option<ShareMember> {
    if b.remaining() < 10 || b.get_i16() != 0 {
        return None;
    }
    let (epoch, previous_epoch) = (b.get_i32(), b.get_i32());
    let rack_id = get_opt_str(&mut b)?;
    let client_id = get_str(&mut b)?;
    let client_host = get_str(&mut b)?;
    let mut topics = std::collections::BTreeSet::new();
    for _ in 0..get_count(&mut b, 2)? {
        topics.insert(get_str(&mut b)?);
    }
    let mut assignment = Assignment::new();
    for _ in 0..get_count(&mut b, 20)? {
        if b.remaining() < 20 {
            return None;
        }
        let id = Uuid::from_slice(&b[..16]).ok()?;
        b.advance(16);
        let parts = (0..get_count(&mut b, 4)?).map(|_| b.get_i32()).collect();
        assignment.insert(id, parts);
    }
    b.is_empty().then_some(ShareMember {
        epoch,
        previous_epoch,
        topics,
        rack_id,
        client_id,
        client_host,
        last_heartbeat: 0,
        assignment,
    })
}

pub fn encode_epoch(epoch: i32) -> Bytes {
    let mut b = BytesMut::with_capacity(6);
    b.put_i16(0);
    b.put_i32(epoch);
    b.freeze()
}

pub fn decode_epoch(mut b: &[u8]) -> Option<i32> {
    (b.remaining() >= 6 && b.get_i16() == 0).then(|| b.get_i32())
}

pub fn encode_snapshot(s: &Snapshot) -> Bytes {
    let mut b = BytesMut::with_capacity(14 + s.batches.len() * 19);
    b.put_i16(0);
    b.put_i64(s.start);
    b.put_i32(s.batches.len() as i32);
    for &(first, last, state, deliveries) in &s.batches {
        b.put_i64(first);
        b.put_i64(last);
        b.put_i8(state as i8);
        b.put_i16(deliveries as i16);
    }
    b.freeze()
}

pub fn decode_snapshot(mut b: &[u8]) -> Option<Snapshot> {
    if b.remaining() < 14 || b.get_i16() != 0 {
        return None;
    }
    let start = b.get_i64();
    if start < 0 {
        return None;
    }
    let n = usize::try_from(b.get_i32()).ok()?;
    if b.remaining() != n.checked_mul(19)? {
        return None;
    }
    let mut batches = Vec::with_capacity(n);
    let mut next = start;
    for _ in 0..n {
        let (first, last) = (b.get_i64(), b.get_i64());
        let state = RecordState::from_code(b.get_i8() as u8)?;
        let deliveries = u16::try_from(b.get_i16()).ok()?;
        // In order, within the partition, not overlapping.
        if first < next || last < first || last.checked_sub(start).is_none_or(|d| d >= MAX_SNAPSHOT_SPAN) {
            return None;
        }
        next = last.checked_add(1)?;
        batches.push((first, last, state, deliveries));
    }
    Some(Snapshot { start, batches })
}

/// The latest record of every key: what start-up restores.
#[derive(Default)]
pub struct Persisted {
    pub epochs: HashMap<String, i32>,
    pub partitions: HashMap<ShareKey, Snapshot>,
    /// Members by (group, member id), as written (`last_heartbeat` 0).
    pub members: HashMap<(String, String), ShareMember>,
}

impl StateMachine for Persisted {
    fn apply(&mut self, partition: i32, record: &KeyValue) {
        let Some(key) = record.key.as_deref().and_then(StateKey::decode) else {
            tracing::warn!(
                topic = SHARE_STATE_TOPIC,
                partition,
                offset = record.offset,
                "record with an unknown key skipped"
            );
            return;
        };
        let value = record.value.as_deref();
        match key {
            StateKey::Group(g) => match value.map(decode_epoch) {
                None => {
                    self.epochs.remove(&g);
                }
                Some(Some(e)) => {
                    self.epochs.insert(g, e);
                }
                Some(None) => tracing::warn!(
                    topic = SHARE_STATE_TOPIC,
                    partition,
                    offset = record.offset,
                    "bad group record skipped"
                ),
            },
            StateKey::Partition(k) => match value.map(decode_snapshot) {
                None => {
                    self.partitions.remove(&k);
                }
                Some(Some(s)) => {
                    self.partitions.insert(k, s);
                }
                Some(None) => tracing::warn!(
                    topic = SHARE_STATE_TOPIC,
                    partition,
                    offset = record.offset,
                    "bad share-partition record skipped"
                ),
            },
            StateKey::Member { group, member } => match value.map(decode_member) {
                None => {
                    self.members.remove(&(group, member));
                }
                Some(Some(m)) => {
                    self.members.insert((group, member), m);
                }
                Some(None) => tracing::warn!(
                    topic = SHARE_STATE_TOPIC,
                    partition,
                    offset = record.offset,
                    "bad share group member record skipped"
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn g_bytes() -> Vec<u8> {
        StateKey::Group("g".into()).encode().to_vec()
    }

    #[test]
    fn keys_read_back() {
        let k = StateKey::Partition(ShareKey { group: "g".into(), topic_id: Uuid::from_u128(7), partition: 3 });
        assert_eq!(StateKey::decode(&k.encode()), Some(k));
        let g = StateKey::Group("grüppe".into());
        assert_eq!(StateKey::decode(&g.encode()), Some(g));
        assert_eq!(StateKey::decode(&[0, 2, 0]), None);
        let mut trailing = g_bytes();
        trailing.push(0);
        assert_eq!(StateKey::decode(&trailing), None, "a key is read whole or not at all");
        // A snapshot reaching further than any partition can have in flight, or
        // starting below 0, is refused.
        let far = Snapshot { start: 0, batches: vec![(0, MAX_SNAPSHOT_SPAN, RecordState::Archived, 1)] };
        assert_eq!(decode_snapshot(&encode_snapshot(&far)), None);
        let max = Snapshot { start: i64::MAX - 5, batches: vec![(i64::MAX, i64::MAX, RecordState::Archived, 1)] };
        assert_eq!(decode_snapshot(&encode_snapshot(&max)), None);
        assert_eq!(decode_snapshot(&encode_snapshot(&Snapshot { start: -1, batches: vec![] })), None);
        assert_eq!(StateKey::decode(&[0, 9]), None);
        assert_eq!(decode_epoch(&encode_epoch(12)), Some(12));
        let k = StateKey::Member { group: "g".into(), member: "m-1".into() };
        assert_eq!(StateKey::decode(&k.encode()), Some(k));
    }

    #[test]
    fn members_read_back_whole_or_not_at_all() {
        let m = ShareMember {
            epoch: 7,
            previous_epoch: 5,
            topics: ["a".to_string(), "bé".to_string()].into(),
            rack_id: None,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            last_heartbeat: 0,
            assignment: [(Uuid::from_u128(1), [0, 2].into()), (Uuid::from_u128(2), [].into())].into(),
        };
        let bytes = encode_member(&m);
        let back = decode_member(&bytes).expect("reads back");
        assert_eq!((back.epoch, back.previous_epoch, &back.topics, &back.assignment), (7, 5, &m.topics, &m.assignment));
        assert_eq!((back.rack_id, back.client_id.as_str(), back.client_host.as_str()), (None, "client", "/127.0.0.1"));
        let racked = ShareMember { rack_id: Some("r1".into()), ..m };
        assert_eq!(decode_member(&encode_member(&racked)).and_then(|m| m.rack_id).as_deref(), Some("r1"));
        for cut in 0..bytes.len() {
            assert!(decode_member(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut trailing = bytes.to_vec();
        trailing.push(0);
        assert!(decode_member(&trailing).is_none());
    }

    proptest! {
        #[test]
        fn snapshots_read_back_and_any_bytes_are_read_or_refused(
            start in 0i64..1000,
            runs in proptest::collection::vec((0i64..5, 0i64..5, 0u8..3, 0u16..6), 0..20),
            junk in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let states = [RecordState::Available, RecordState::Acknowledged, RecordState::Archived];
            let mut next = start;
            let mut batches = Vec::new();
            for (gap, len, st, d) in runs {
                let first = next + gap;
                batches.push((first, first + len, states[st as usize], d));
                next = first + len + 1;
            }
            let s = Snapshot { start, batches };
            prop_assert_eq!(decode_snapshot(&encode_snapshot(&s)), Some(s));
            let _ = decode_snapshot(&junk);
            let _ = decode_member(&junk);
            let _ = StateKey::decode(&junk);
        }
    }
}
