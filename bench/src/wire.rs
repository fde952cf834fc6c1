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
