//! Fetch responses without copying record bytes: the response is written as a list
//! of parts, small encoded pieces between the partitions' record sets, and the
//! record sets themselves are the zero-copy slices of the memory-mapped segments
//! that `Log::read` handed out. The connection writes the parts with one vectored
//! write, so the bytes go from the page cache to the socket in a single copy.
//!
//! Layout (Kafka's FetchResponse, v4-v18): throttle time, error code and session id
//! (v7+), then the topics (name; v13+ topic id) with their partitions. Everything
//! but the records is encoded by kafka-protocol: each PartitionData is encoded with
//! `records: None`, which ends it with a null length (i32 -1, or varint 0 in
//! flexible versions, followed by the empty tag buffer we always send), and that
//! null is replaced by the real length and the record bytes. The unit test checks
//! the result equals kafka-protocol's own encoding for every version.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn put_array_len(buf: &mut BytesMut, n: usize, flexible: bool) {
    if flexible {
        put_uvarint(buf, n as u64 + 1);
    } else {
        buf.put_i32(n as i32);
    }
}

/// The response frame (size prefix included) as parts to write in order; the
/// size, the response header and `throttle_time_ms` are in the first part.
pub fn encode(resp: &FetchResponse, version: i16, correlation_id: i32) -> Result<Vec<Bytes>, String> {
    let flexible = version >= 12;
    let mut parts: Vec<Bytes> = Vec::new();
    let mut cur = BytesMut::with_capacity(256);
    cur.put_i32(0); // size, patched below
    let header_version = ApiKey::Fetch.response_header_version(version);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut cur, header_version)
        .map_err(|e| format!("encode Fetch response header: {e}"))?;
    cur.put_i32(resp.throttle_time_ms);
    if version >= 7 {
        cur.put_i16(resp.error_code);
        cur.put_i32(resp.session_id);
    }
    put_array_len(&mut cur, resp.responses.len(), flexible);
    for topic in &resp.responses {
        if version >= 13 {
            cur.put_slice(topic.topic_id.as_bytes());
        } else {
            let name = topic.topic.0.as_bytes();
            if flexible {
                put_uvarint(&mut cur, name.len() as u64 + 1);
            } else {
                cur.put_i16(name.len() as i16);
            }
            cur.put_slice(name);
        }
        put_array_len(&mut cur, topic.partitions.len(), flexible);
        for p in &topic.partitions {
            encode_partition(p, version, &mut cur, &mut parts)?;
        }
        if flexible {
            cur.put_u8(0); // no tagged fields
        }
    }
    if flexible {
        cur.put_u8(0);
    }
    parts.push(cur.freeze());
    let total: usize = parts.iter().map(Bytes::len).sum::<usize>() - 4;
    let mut first = BytesMut::from(&parts[0][..]);
    first[..4].copy_from_slice(&(total as i32).to_be_bytes());
    parts[0] = first.freeze();
    Ok(parts)
}

fn encode_partition(p: &PartitionData, version: i16, cur: &mut BytesMut, parts: &mut Vec<Bytes>) -> Result<(), String> {
    let flexible = version >= 12;
    let records = p.records.clone();
    let mut bare = p.clone();
    bare.records = None;
    let at = cur.len();
    bare.encode(cur, version).map_err(|e| format!("encode Fetch partition v{version}: {e}"))?;
    // Drop the null records (and, flexible, the empty tag buffer after them).
    let tail = if flexible { 2 } else { 4 };
    debug_assert!(cur.len() >= at + tail);
    cur.truncate(cur.len() - tail);
    match records {
        None => {
            if flexible {
                cur.put_u8(0);
            } else {
                cur.put_i32(-1);
            }
        }
        Some(r) => {
            if flexible {
                put_uvarint(cur, r.len() as u64 + 1);
            } else {
                cur.put_i32(r.len() as i32);
            }
            if !r.is_empty() {
                parts.push(std::mem::replace(cur, BytesMut::with_capacity(256)).freeze());
                parts.push(r);
            }
        }
    }
    if flexible {
        cur.put_u8(0); // no tagged fields
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse};
    use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn sample(version: i16, seed: u64) -> FetchResponse {
        let mut topics = Vec::new();
        for t in 0..(seed % 3 + 1) {
            let mut parts = Vec::new();
            for p in 0..(seed % 4) {
                let records = match (seed + p + t) % 3 {
                    0 => None,
                    1 => Some(Bytes::new()),
                    _ => Some(Bytes::from(vec![(seed + p) as u8; (200 * (p + 1)) as usize])),
                };
                let aborted = if (seed + p).is_multiple_of(2) {
                    None
                } else {
                    Some(vec![AbortedTransaction::default().with_producer_id(ProducerId(7)).with_first_offset(3)])
                };
                let mut pd = PartitionData::default()
                    .with_partition_index(p as i32)
                    .with_error_code((seed % 2) as i16)
                    .with_high_watermark(100 + p as i64)
                    .with_last_stable_offset(90)
                    .with_aborted_transactions(aborted)
                    .with_records(records);
                if version >= 5 {
                    pd = pd.with_log_start_offset(5);
                }
                if version >= 11 {
                    pd = pd.with_preferred_read_replica(BrokerId(-1));
                }
                parts.push(pd);
            }
            let name = TopicName(StrBytes::from_string(format!("topic-{t}-{}", "x".repeat(seed as usize % 200))));
            topics.push(
                FetchableTopicResponse::default()
                    .with_topic(if version < 13 { name } else { Default::default() })
                    .with_topic_id(if version >= 13 {
                        uuid::Uuid::from_u128(seed as u128 + t as u128)
                    } else {
                        uuid::Uuid::nil()
                    })
                    .with_partitions(parts),
            );
        }
        let mut r = FetchResponse::default().with_throttle_time_ms(seed as i32).with_responses(topics);
        if version >= 7 {
            r = r.with_error_code(0).with_session_id(0);
        }
        r
    }

    #[test]
    fn parts_equal_kafka_protocol_encoding_in_every_version() {
        for version in 4..=18 {
            for seed in 0..40 {
                let resp = sample(version, seed);
                let want = super::super::encode_response(ApiKey::Fetch, version, 99, &resp).unwrap();
                let parts = encode(&resp, version, 99).unwrap();
                let got: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
                assert_eq!(got, want.to_vec(), "version {version}, seed {seed}");
                // Record sets are their own parts: no copy of them was made.
                for t in &resp.responses {
                    for p in &t.partitions {
                        if let Some(r) = p.records.as_ref().filter(|r| !r.is_empty()) {
                            assert!(parts.iter().any(|x| x.as_ptr() == r.as_ptr()), "records copied");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_throttle_written_into_encoded_parts_is_what_kafka_protocol_encodes() {
        for version in 4..=18 {
            let resp = sample(version, 3);
            let mut out = super::super::Outcome::RespondParts(encode(&resp, version, 99).unwrap());
            super::super::throttle_time::raise(&mut out, ApiKey::Fetch, version, 1234);
            let super::super::Outcome::RespondParts(parts) = out else { unreachable!() };
            let want =
                super::super::encode_response(ApiKey::Fetch, version, 99, &resp.clone().with_throttle_time_ms(1234))
                    .unwrap();
            let got: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
            assert_eq!(got, want.to_vec(), "version {version}");
        }
    }
}
