//! Kafka's `__consumer_offsets` key and value schemas, so Kafka tools can read the topic.
//!
//! Keys start with an i16 schema version: 0 or 1 is an offset commit
//! (`group`, `topic`, `partition`), 2 is group metadata (`group`). Values start with
//! an i16 version too. We write OffsetCommitValue v3 (offset, leader epoch, metadata,
//! commit timestamp) and GroupMetadataValue v3 (with static member ids), and read
//! offset values v0-v3 and group values v0-v3. A null value is a tombstone. Strings
//! are i16-length-prefixed (nullable ones use -1), byte arrays i32-prefixed.

use bytes::{Buf, BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
    /// A KIP-848 consumer group's records (`consumer_records.rs`).
    Consumer {
        group: String,
        key: super::consumer_records::ConsumerKey,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only in v1 values; -1 otherwise.
    pub expire_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

#[derive(Debug)]
pub struct DecodeError(pub String);

pub(crate) type R<T> = Result<T, DecodeError>;

pub(crate) fn need(buf: &impl Buf, n: usize, what: &str) -> R<()> {
    if buf.remaining() < n {
        return Err(DecodeError(format!("truncated {what}")));
    }
    Ok(())
}

pub(crate) fn get_i16(buf: &mut impl Buf) -> R<i16> {
    need(buf, 2, "int16")?;
    Ok(buf.get_i16())
}
pub(crate) fn get_i32(buf: &mut impl Buf) -> R<i32> {
    need(buf, 4, "int32")?;
    Ok(buf.get_i32())
}
pub(crate) fn get_i64(buf: &mut impl Buf) -> R<i64> {
    need(buf, 8, "int64")?;
    Ok(buf.get_i64())
}
fn get_nullable_string(buf: &mut impl Buf) -> R<Option<String>> {
    let len = get_i16(buf)?;
    if len < 0 {
        return Ok(None);
    }
    need(buf, len as usize, "string")?;
    let b = buf.copy_to_bytes(len as usize);
    String::from_utf8(b.to_vec()).map(Some).map_err(|_| DecodeError("string is not UTF-8".into()))
}
pub(crate) fn get_string(buf: &mut impl Buf) -> R<String> {
    get_nullable_string(buf)?.ok_or_else(|| DecodeError("null string".into()))
}
fn get_bytes(buf: &mut impl Buf) -> R<Bytes> {
    let len = get_i32(buf)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    need(buf, len as usize, "bytes")?;
    Ok(buf.copy_to_bytes(len as usize))
}
/// Flexible versions' unsigned varint.
pub(crate) fn get_uvarint(buf: &mut &[u8]) -> R<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        need(buf, 1, "varint")?;
        let b = buf.get_u8();
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError("varint too long".into()))
}

/// A compact (flexible) nullable string.
pub(crate) fn get_compact_string(buf: &mut &[u8]) -> R<Option<String>> {
    let n = get_uvarint(buf)? as usize;
    if n == 0 {
        return Ok(None);
    }
    need(buf, n - 1, "string")?;
    let s = std::str::from_utf8(&buf[..n - 1]).map_err(|_| DecodeError("string is not UTF-8".into()))?.to_string();
    buf.advance(n - 1);
    Ok(Some(s))
}

/// Skips a tagged-field section.
pub(crate) fn skip_tags(buf: &mut &[u8]) -> R<()> {
    for _ in 0..get_uvarint(buf)? {
        get_uvarint(buf)?;
        let size = get_uvarint(buf)? as usize;
        need(buf, size, "tagged field")?;
        buf.advance(size);
    }
    Ok(())
}

pub(crate) fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}
fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}
fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

impl Key {
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        match self {
            Key::Offset { group, topic, partition } => {
                buf.put_i16(1);
                put_string(&mut buf, group);
                put_string(&mut buf, topic);
                buf.put_i32(*partition);
            }
            Key::Group { group } => {
                buf.put_i16(2);
                put_string(&mut buf, group);
            }
            Key::Consumer { group, key } => {
                buf.put_i16(key.record_type());
                put_string(&mut buf, group);
                if let Some(m) = key.member() {
                    put_string(&mut buf, m);
                }
            }
        }
        buf.freeze()
    }

    pub fn decode(mut buf: &[u8]) -> R<Key> {
        match get_i16(&mut buf)? {
            0 | 1 => Ok(Key::Offset {
                group: get_string(&mut buf)?,
                topic: get_string(&mut buf)?,
                partition: get_i32(&mut buf)?,
            }),
            2 => Ok(Key::Group { group: get_string(&mut buf)? }),
            v @ (3 | 5..=8) => {
                let group = get_string(&mut buf)?;
                let key = super::consumer_records::ConsumerKey::decode(v, || get_string(&mut buf))?;
                Ok(Key::Consumer { group, key })
            }
            v => Err(DecodeError(format!("unknown key version {v}"))),
        }
    }

    pub fn group(&self) -> &str {
        match self {
            Key::Offset { group, .. } | Key::Group { group } | Key::Consumer { group, .. } => group,
        }
    }
}

impl OffsetValue {
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i16(3);
        buf.put_i64(self.offset);
        buf.put_i32(self.leader_epoch);
        put_string(&mut buf, &self.metadata);
        buf.put_i64(self.commit_timestamp);
        buf.freeze()
    }

    pub fn decode(mut buf: &[u8]) -> R<OffsetValue> {
        let version = get_i16(&mut buf)?;
        if !(0..=3).contains(&version) {
            return Err(DecodeError(format!("unsupported offset value version {version}")));
        }
        let offset = get_i64(&mut buf)?;
        let leader_epoch = if version >= 3 { get_i32(&mut buf)? } else { -1 };
        let metadata = get_nullable_string(&mut buf)?.unwrap_or_default();
        let commit_timestamp = get_i64(&mut buf)?;
        let expire_timestamp = if version == 1 { get_i64(&mut buf)? } else { -1 };
        Ok(OffsetValue { offset, leader_epoch, metadata, commit_timestamp, expire_timestamp })
    }
}

impl GroupValue {
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i16(3);
        put_string(&mut buf, &self.protocol_type);
        buf.put_i32(self.generation);
        put_nullable_string(&mut buf, self.protocol.as_deref());
        put_nullable_string(&mut buf, self.leader.as_deref());
        buf.put_i64(self.current_state_timestamp);
        buf.put_i32(self.members.len() as i32);
        for m in &self.members {
            put_string(&mut buf, &m.member_id);
            put_nullable_string(&mut buf, m.group_instance_id.as_deref());
            put_string(&mut buf, &m.client_id);
            put_string(&mut buf, &m.client_host);
            buf.put_i32(m.rebalance_timeout);
            buf.put_i32(m.session_timeout);
            put_bytes(&mut buf, &m.subscription);
            put_bytes(&mut buf, &m.assignment);
        }
        buf.freeze()
    }

    pub fn decode(mut buf: &[u8]) -> R<GroupValue> {
        let version = get_i16(&mut buf)?;
        if !(0..=3).contains(&version) {
            return Err(DecodeError(format!("unsupported group value version {version}")));
        }
        let protocol_type = get_string(&mut buf)?;
        let generation = get_i32(&mut buf)?;
        let protocol = get_nullable_string(&mut buf)?;
        let leader = get_nullable_string(&mut buf)?;
        let current_state_timestamp = if version >= 2 { get_i64(&mut buf)? } else { -1 };
        let count = get_i32(&mut buf)?.max(0);
        let mut members = Vec::with_capacity(count.min(10_000) as usize);
        for _ in 0..count {
            let member_id = get_string(&mut buf)?;
            let group_instance_id = if version >= 3 { get_nullable_string(&mut buf)? } else { None };
            let client_id = get_string(&mut buf)?;
            let client_host = get_string(&mut buf)?;
            let session_timeout;
            let rebalance_timeout;
            if version >= 1 {
                rebalance_timeout = get_i32(&mut buf)?;
                session_timeout = get_i32(&mut buf)?;
            } else {
                session_timeout = get_i32(&mut buf)?;
                rebalance_timeout = session_timeout;
            }
            let subscription = get_bytes(&mut buf)?;
            let assignment = get_bytes(&mut buf)?;
            members.push(MemberValue {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout,
                session_timeout,
                subscription,
                assignment,
            });
        }
        Ok(GroupValue { protocol_type, generation, protocol, leader, current_state_timestamp, members })
    }
}

/// Java's `String.hashCode`, which Kafka uses to place a group on a partition.
pub fn java_string_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    h
}

/// `Utils.abs(groupId.hashCode) % partitions`, as Kafka places groups.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let h = java_string_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        let k = Key::Offset { group: "g".into(), topic: "t".into(), partition: 3 };
        assert_eq!(Key::decode(&k.encode()).unwrap(), k);
        let g = Key::Group { group: "grp".into() };
        assert_eq!(Key::decode(&g.encode()).unwrap(), g);
        let v = OffsetValue {
            offset: 42,
            leader_epoch: 0,
            metadata: "m".into(),
            commit_timestamp: 7,
            expire_timestamp: -1,
        };
        assert_eq!(OffsetValue::decode(&v.encode()).unwrap(), v);
        let gv = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 99,
            members: vec![MemberValue {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 300000,
                session_timeout: 45000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(GroupValue::decode(&gv.encode()).unwrap(), gv);
    }

    /// Bytes as Kafka 3.x writes them (OffsetCommitKey v1 / OffsetCommitValue v3),
    /// laid out by hand from the schema.
    #[test]
    fn decodes_kafka_layout() {
        let mut key = vec![0, 1, 0, 2, b'g', b'1', 0, 1, b't'];
        key.extend_from_slice(&5i32.to_be_bytes());
        assert_eq!(Key::decode(&key).unwrap(), Key::Offset { group: "g1".into(), topic: "t".into(), partition: 5 });
        let mut value = vec![0, 3];
        value.extend_from_slice(&100i64.to_be_bytes());
        value.extend_from_slice(&(-1i32).to_be_bytes());
        value.extend_from_slice(&[0, 0]);
        value.extend_from_slice(&1234i64.to_be_bytes());
        let v = OffsetValue::decode(&value).unwrap();
        assert_eq!((v.offset, v.leader_epoch, v.metadata.as_str(), v.commit_timestamp), (100, -1, "", 1234));
        assert!(Key::decode(&[0, 9]).is_err());
        assert!(OffsetValue::decode(&[0, 3, 1]).is_err());
    }

    #[test]
    fn partitioning_matches_java() {
        // "hello".hashCode() == 99162322 in Java.
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(partition_for("hello", 50), 99162322 % 50);
        assert!((0..50).contains(&partition_for("polygenelubricants", 50)));
    }
}
