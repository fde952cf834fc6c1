//! MirrorMaker 2's internal records in MM2's own binary form, so that Kafka's
//! `RemoteClusterUtils` and MM2 tooling read what Weir writes and the other way
//! round. Each is a Kafka `Struct`: fields in order, `STRING` as an int16
//! big-endian length and UTF-8 bytes, `INT32`/`INT64` big-endian.
//!
//! - OffsetSync (`mm2-offset-syncs.{cluster}.internal`): key `topic` STRING,
//!   `partition` INT32; value `upstreamOffset` INT64, `offset` INT64; no header.
//! - Checkpoint (`{source}.checkpoints.internal`): key `group` STRING, `topic`
//!   STRING, `partition` INT32; value a header `version` INT16 (0), then
//!   `upstreamOffset` INT64, `offset` INT64, `metadata` STRING.
//! - Heartbeat (`heartbeats`): key `sourceClusterAlias` STRING,
//!   `targetClusterAlias` STRING; value the header, then `timestamp` INT64.
//!
//! All three go to partition 0 of a one-partition compacted topic. Readers are as
//! lenient as MM2's: any header version is read as version 0, trailing bytes are
//! ignored.

use crate::error::MirrorError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetSync {
    pub topic: String,
    pub partition: i32,
    pub upstream_offset: i64,
    pub downstream_offset: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub upstream_offset: i64,
    pub downstream_offset: i64,
    pub metadata: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub source_cluster_alias: String,
    pub target_cluster_alias: String,
    pub timestamp: i64,
}

const VERSION: i16 = 0;

fn put_string(out: &mut Vec<u8>, s: &str) {
    // Kafka's STRING is at most i16::MAX bytes; longer names cannot be topics or groups.
    let b = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    out.extend_from_slice(&(b.len() as i16).to_be_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MirrorError> {
        if self.b.len() < n {
            return Err(MirrorError::Format {
                what: self.what,
                why: format!("{n} more bytes needed, {} left", self.b.len()),
            });
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, MirrorError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn i32(&mut self) -> Result<i32, MirrorError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn i64(&mut self) -> Result<i64, MirrorError> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn string(&mut self) -> Result<String, MirrorError> {
        let n = self.i16()?;
        if n < 0 {
            return Err(MirrorError::Format { what: self.what, why: "a null string where one is required".into() });
        }
        let what = self.what;
        let bytes = self.take(n as usize)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| MirrorError::Format { what, why: format!("not UTF-8: {e}") })
    }
}

impl OffsetSync {
    pub fn key(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.topic.len() + 6);
        put_string(&mut out, &self.topic);
        out.extend_from_slice(&self.partition.to_be_bytes());
        out
    }

    pub fn value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.upstream_offset.to_be_bytes());
        out.extend_from_slice(&self.downstream_offset.to_be_bytes());
        out
    }

    pub fn decode(key: &[u8], value: &[u8]) -> Result<OffsetSync, MirrorError> {
        let mut k = Reader { b: key, what: "OffsetSync" };
        let mut v = Reader { b: value, what: "OffsetSync" };
        Ok(OffsetSync {
            topic: k.string()?,
            partition: k.i32()?,
            upstream_offset: v.i64()?,
            downstream_offset: v.i64()?,
        })
    }
}

impl Checkpoint {
    pub fn key(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_string(&mut out, &self.group);
        put_string(&mut out, &self.topic);
        out.extend_from_slice(&self.partition.to_be_bytes());
        out
    }

    pub fn value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.metadata.len());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&self.upstream_offset.to_be_bytes());
        out.extend_from_slice(&self.downstream_offset.to_be_bytes());
        put_string(&mut out, &self.metadata);
        out
    }

    pub fn decode(key: &[u8], value: &[u8]) -> Result<Checkpoint, MirrorError> {
        let mut v = Reader { b: value, what: "Checkpoint" };
        let _version = v.i16()?;
        let (upstream_offset, downstream_offset, metadata) = (v.i64()?, v.i64()?, v.string()?);
        let mut k = Reader { b: key, what: "Checkpoint" };
        Ok(Checkpoint {
            group: k.string()?,
            topic: k.string()?,
            partition: k.i32()?,
            upstream_offset,
            downstream_offset,
            metadata,
        })
    }
}

impl Heartbeat {
    pub fn key(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_string(&mut out, &self.source_cluster_alias);
        put_string(&mut out, &self.target_cluster_alias);
        out
    }

    pub fn value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out
    }

    pub fn decode(key: &[u8], value: &[u8]) -> Result<Heartbeat, MirrorError> {
        let mut v = Reader { b: value, what: "Heartbeat" };
        let _version = v.i16()?;
        let timestamp = v.i64()?;
        let mut k = Reader { b: key, what: "Heartbeat" };
        Ok(Heartbeat { source_cluster_alias: k.string()?, target_cluster_alias: k.string()?, timestamp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
    }

    /// The bytes Kafka's MM2 writes for the same records.
    #[test]
    fn bytes_are_mm2s() {
        let s = OffsetSync { topic: "t".into(), partition: 0, upstream_offset: 5, downstream_offset: 7 };
        assert_eq!(hex(&s.key()), "00 01 74 00 00 00 00");
        assert_eq!(hex(&s.value()), "00 00 00 00 00 00 00 05 00 00 00 00 00 00 00 07");
        let c = Checkpoint {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            upstream_offset: 5,
            downstream_offset: 7,
            metadata: String::new(),
        };
        assert_eq!(hex(&c.key()), "00 01 67 00 01 74 00 00 00 00");
        assert_eq!(hex(&c.value()), "00 00 00 00 00 00 00 00 00 05 00 00 00 00 00 00 00 07 00 00");
        let h = Heartbeat {
            source_cluster_alias: "A".into(),
            target_cluster_alias: "B".into(),
            timestamp: 1_700_000_000_000,
        };
        assert_eq!(hex(&h.key()), "00 01 41 00 01 42");
        assert_eq!(hex(&h.value()), "00 00 00 00 01 8b cf e5 68 00");
    }

    #[test]
    fn readers_are_as_lenient_as_mm2s_and_refuse_what_cannot_be_read() {
        let mut v =
            Heartbeat { source_cluster_alias: "A".into(), target_cluster_alias: "B".into(), timestamp: 9 }.value();
        v[1] = 7; // another header version
        v.extend_from_slice(b"trailing");
        let h = Heartbeat::decode(&[0, 1, b'A', 0, 1, b'B'], &v).unwrap();
        assert_eq!(h.timestamp, 9);
        assert!(matches!(
            OffsetSync::decode(&[0, 5, b'a'], &[0; 16]),
            Err(MirrorError::Format { what: "OffsetSync", .. })
        ));
        assert!(Checkpoint::decode(&[0xff, 0xff], &[0; 20]).is_err(), "a null group");
    }

    proptest! {
        #[test]
        fn every_record_round_trips(topic in "\\PC{0,40}", group in "\\PC{0,40}", partition: i32, up: i64, down: i64, meta in "\\PC{0,20}", ts: i64) {
            let s = OffsetSync { topic: topic.clone(), partition, upstream_offset: up, downstream_offset: down };
            prop_assert_eq!(OffsetSync::decode(&s.key(), &s.value()).unwrap(), s);
            let c = Checkpoint { group: group.clone(), topic: topic.clone(), partition, upstream_offset: up, downstream_offset: down, metadata: meta };
            prop_assert_eq!(Checkpoint::decode(&c.key(), &c.value()).unwrap(), c);
            let h = Heartbeat { source_cluster_alias: group, target_cluster_alias: topic, timestamp: ts };
            prop_assert_eq!(Heartbeat::decode(&h.key(), &h.value()).unwrap(), h);
        }
    }
}
