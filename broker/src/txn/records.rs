//! Kafka's `__transaction_state` key and value schemas, so Kafka's tools can read
//! the topic.
//!
//! Key (TransactionLogKey v0): `i16 version (0) | string transactional id`.
//! Value (TransactionLogValue v0): `i16 version (0) | i64 producer id | i16 producer
//! epoch | i32 transaction timeout ms | i8 status | [topic string, [i32
//! partition]] (nullable: null when the transaction holds no partitions) | i64
//! last update timestamp | i64 start timestamp`. A null value (tombstone) removes
//! an expired transactional id. Value v1 (flexible, tagged fields of KIP-890) is
//! read as far as v0 goes; we write v0.

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::state::TxnState;
use crate::group::records::{
    get_compact_string, get_i16, get_i32, get_i64, get_string, get_uvarint, need, put_string, skip_tags, DecodeError, R,
};

pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + transactional_id.len());
    b.put_i16(0);
    put_string(&mut b, transactional_id);
    b.freeze()
}

pub fn decode_key(mut buf: &[u8]) -> R<String> {
    match get_i16(&mut buf)? {
        0 => get_string(&mut buf),
        v => Err(DecodeError(format!("unknown transaction log key version {v}"))),
    }
}

/// What the log says of one transactional id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
}

impl TxnValue {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(64);
        b.put_i16(0);
        b.put_i64(self.producer_id);
        b.put_i16(self.producer_epoch);
        b.put_i32(self.timeout_ms);
        b.put_i8(self.state.code());
        if self.partitions.is_empty() {
            b.put_i32(-1);
        } else {
            let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
            for (t, p) in &self.partitions {
                match topics.last_mut() {
                    Some((last, ps)) if *last == t.as_str() => ps.push(*p),
                    _ => topics.push((t.as_str(), vec![*p])),
                }
            }
            b.put_i32(topics.len() as i32);
            for (t, ps) in topics {
                put_string(&mut b, t);
                b.put_i32(ps.len() as i32);
                for p in ps {
                    b.put_i32(p);
                }
            }
        }
        b.put_i64(self.last_update_ms);
        b.put_i64(self.start_ms);
        b.freeze()
    }

    pub fn decode(mut buf: &[u8]) -> R<TxnValue> {
        let version = get_i16(&mut buf)?;
        if !(0..=1).contains(&version) {
            return Err(DecodeError(format!("unknown transaction log value version {version}")));
        }
        let flexible = version >= 1;
        let producer_id = get_i64(&mut buf)?;
        let producer_epoch = get_i16(&mut buf)?;
        let timeout_ms = get_i32(&mut buf)?;
        need(&buf, 1, "status")?;
        let code = buf.get_i8();
        let state =
            TxnState::from_code(code).ok_or_else(|| DecodeError(format!("unknown transaction status {code}")))?;
        let mut partitions = BTreeSet::new();
        let topics = if flexible { get_uvarint(&mut buf)? as i64 - 1 } else { get_i32(&mut buf)? as i64 };
        for _ in 0..topics.max(0) {
            let topic =
                if flexible { get_compact_string(&mut buf)?.unwrap_or_default() } else { get_string(&mut buf)? };
            let n = if flexible { get_uvarint(&mut buf)? as i64 - 1 } else { get_i32(&mut buf)? as i64 };
            for _ in 0..n.max(0) {
                partitions.insert((topic.clone(), get_i32(&mut buf)?));
            }
            if flexible {
                skip_tags(&mut buf)?;
            }
        }
        let last_update_ms = get_i64(&mut buf)?;
        let start_ms = get_i64(&mut buf)?;
        Ok(TxnValue { producer_id, producer_epoch, timeout_ms, state, partitions, last_update_ms, start_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kafkas_layout() {
        let v = TxnValue {
            producer_id: 1000,
            producer_epoch: 3,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
            partitions: [("a".to_string(), 0), ("a".to_string(), 2), ("b".to_string(), 1)].into(),
            last_update_ms: 5,
            start_ms: 4,
        };
        let b = v.encode();
        assert_eq!(TxnValue::decode(&b).unwrap(), v);
        // version, producer id, epoch, timeout, status, then 2 topics.
        assert_eq!(&b[..2], &[0, 0]);
        assert_eq!(i64::from_be_bytes(b[2..10].try_into().unwrap()), 1000);
        assert_eq!(b[16], TxnState::Ongoing.code() as u8);
        assert_eq!(i32::from_be_bytes(b[17..21].try_into().unwrap()), 2);
        let empty = TxnValue { partitions: BTreeSet::new(), state: TxnState::Empty, ..v };
        let b = empty.encode();
        assert_eq!(i32::from_be_bytes(b[17..21].try_into().unwrap()), -1, "no partitions: a null array");
        assert_eq!(TxnValue::decode(&b).unwrap(), empty);
        assert_eq!(decode_key(&encode_key("my-txn")).unwrap(), "my-txn");
        assert!(TxnValue::decode(&b[..10]).is_err());
    }
}
