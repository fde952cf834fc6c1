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
//!
//! A group's records all go to one partition of the topic (by the hash of its
//! name), so they are read back in the order written.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

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
}

fn put_str(b: &mut BytesMut, s: &str) {
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
            _ => None,
        }
    }

    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            StateKey::Group(g) => g,
            StateKey::Partition(k) => &k.group,
        }
    }
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
            let _ = StateKey::decode(&junk);
        }
    }
}
