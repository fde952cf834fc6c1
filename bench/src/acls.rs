//! Setting up the ACL row of `weir-bench security`: ACLs created with a raw
//! CreateAcls request (librdkafka's Rust binding has no ACL API), as a super
//! user on the broker's PLAINTEXT listener.

use anyhow::{bail, Context, Result};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::StrBytes;

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
        let (resp, _): (CreateAclsResponse, _) = crate::wire::call(&mut s, ApiKey::CreateAcls, VERSION, &req)?;
        if let Some(r) = resp.results.iter().find(|r| r.error_code != 0) {
            bail!("CreateAcls refused: error {} {:?}", r.error_code, r.error_message);
        }
    }
    Ok(())
}
