//! Setting up the ACL row of `weir-bench security`: ACLs created with a raw
//! CreateAcls request (librdkafka's Rust binding has no ACL API), as a super
//! user on the broker's PLAINTEXT listener.

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, CreateAclsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

const VERSION: i16 = 1;

/// Creates `acls` (resource type, name, pattern type, principal, operation,
/// permission) through `bootstrap`, failing on any refusal.
pub fn create(bootstrap: &str, acls: &[(i8, String, i8, String, i8, i8)]) -> Result<()> {
    let mut s = std::net::TcpStream::connect(bootstrap).context("connect for CreateAcls")?;
    for chunk in acls.chunks(500) {
        let creations = chunk
            .iter()
            .map(|(ty, name, pattern, principal, op, perm)| {
                AclCreation::default()
                    .with_resource_type(*ty)
                    .with_resource_name(StrBytes::from_string(name.clone()))
                    .with_resource_pattern_type(*pattern)
                    .with_principal(StrBytes::from_string(principal.clone()))
                    .with_host(StrBytes::from_static_str("*"))
                    .with_operation(*op)
                    .with_permission_type(*perm)
            })
            .collect();
        let req = CreateAclsRequest::default().with_creations(creations);
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::CreateAcls as i16)
            .with_request_api_version(VERSION)
            .with_correlation_id(1);
        let mut body = BytesMut::new();
        header.encode(&mut body, ApiKey::CreateAcls.request_header_version(VERSION))?;
        req.encode(&mut body, VERSION)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        s.write_all(&frame)?;
        let mut size = [0u8; 4];
        s.read_exact(&mut size)?;
        let mut buf = vec![0u8; i32::from_be_bytes(size) as usize];
        s.read_exact(&mut buf)?;
        let mut b = Bytes::from(buf);
        ResponseHeader::decode(&mut b, ApiKey::CreateAcls.response_header_version(VERSION))?;
        let resp = CreateAclsResponse::decode(&mut b, VERSION)?;
        if b.has_remaining() {
            bail!("CreateAcls response has {} bytes too many", b.remaining());
        }
        if let Some(r) = resp.results.iter().find(|r| r.error_code != 0) {
            bail!("CreateAcls refused: error {} {:?}", r.error_code, r.error_message);
        }
    }
    Ok(())
}
