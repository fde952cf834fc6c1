//! Raw Kafka requests over a blocking socket, for rows that need what
//! librdkafka's Rust binding does not offer (CreateAcls, fetch sessions).

use std::io::{Read, Write};
use std::net::TcpStream;

use anyhow::{bail, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Bytes on the wire of one exchange, size prefixes included.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sizes {
    pub request: usize,
    pub response: usize,
}

/// A protocol string from a `&str`.
pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Sends `req` as `key` v`version` and reads its response.
pub fn call<Req: Encodable, Resp: Decodable>(
    s: &mut TcpStream,
    key: ApiKey,
    version: i16,
    req: &Req,
) -> Result<(Resp, Sizes)> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("weir-bench")));
    let mut body = BytesMut::new();
    header.encode(&mut body, key.request_header_version(version))?;
    req.encode(&mut body, version)?;
    let mut frame = BytesMut::with_capacity(body.len() + 4);
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    s.write_all(&frame)?;
    let mut size = [0u8; 4];
    s.read_exact(&mut size)?;
    let mut buf = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut buf)?;
    let sizes = Sizes { request: frame.len(), response: buf.len() + 4 };
    let mut b = Bytes::from(buf);
    ResponseHeader::decode(&mut b, key.response_header_version(version))?;
    let resp = Resp::decode(&mut b, version)?;
    if b.has_remaining() {
        bail!("{key:?} response has {} bytes too many", b.remaining());
    }
    Ok((resp, sizes))
}

/// Walks the record batches of a fetched `records` field (a partial batch at
/// the end, as a size-limited response may carry, is left out): the offset after
/// the last whole batch, if any, and how many records the whole batches hold.
pub fn walk(records: &[u8]) -> (Option<i64>, u64) {
    let word = |b: &[u8], at: usize| i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let (mut at, mut next, mut count) = (0usize, None, 0u64);
    // 61 bytes: a batch header up to and including its record count.
    while records.len() - at >= 61 {
        let b = &records[at..];
        let len = word(b, 8) as usize + 12;
        if b.len() < len {
            break;
        }
        let base = (i64::from(word(b, 0)) << 32) | i64::from(word(b, 4) as u32);
        next = Some(base + i64::from(word(b, 23)) + 1);
        count += word(b, 57) as u64;
        at += len;
    }
    (next, count)
}

#[cfg(test)]
mod tests {
    use super::walk;

    fn batch(base: i64, records: i32) -> Vec<u8> {
        let mut b = vec![0u8; 61 + 10];
        b[0..8].copy_from_slice(&base.to_be_bytes());
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[23..27].copy_from_slice(&(records - 1).to_be_bytes());
        b[57..61].copy_from_slice(&records.to_be_bytes());
        b
    }

    #[test]
    fn walks_whole_batches_and_leaves_a_partial_one() {
        let mut r = batch(5_000_000_000, 3);
        r.extend(batch(5_000_000_003, 2));
        assert_eq!(walk(&r), (Some(5_000_000_005), 5));
        let partial = batch(5_000_000_005, 4);
        r.extend(&partial[..40]);
        assert_eq!(walk(&r), (Some(5_000_000_005), 5));
        assert_eq!(walk(&[]), (None, 0));
    }
}
