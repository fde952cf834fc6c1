//! ACL bindings (CreateAcls, DescribeAcls, DeleteAcls) and SCRAM credentials
//! (DescribeUserScramCredentials, AlterUserScramCredentials) through
//! librdkafka. Names are Kafka's: resource types TOPIC, GROUP, CLUSTER
//! (librdkafka's BROKER), TRANSACTIONAL_ID; pattern types LITERAL, PREFIXED,
//! MATCH, ANY; operations and permissions as `kafka-acls.sh` prints them.

use anyhow::{bail, Result};
use rdkafka::bindings as rd;

use super::{cstring, nonnull, slice, text, Native, Refusal};

use rd::rd_kafka_AclOperation_t as Op;
use rd::rd_kafka_AclPermissionType_t as Perm;
use rd::rd_kafka_ResourcePatternType_t as Pat;
use rd::rd_kafka_ResourceType_t as Res;

/// One binding, or (with ANY/MATCH values and `None` strings) a filter of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub resource_type: Res,
    pub name: Option<String>,
    pub pattern: Pat,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Op,
    pub permission: Perm,
}

pub const RESOURCE_TYPES: &[(&str, Res)] = &[
    ("ANY", Res::RD_KAFKA_RESOURCE_ANY),
    ("TOPIC", Res::RD_KAFKA_RESOURCE_TOPIC),
    ("GROUP", Res::RD_KAFKA_RESOURCE_GROUP),
    ("CLUSTER", Res::RD_KAFKA_RESOURCE_BROKER),
    ("TRANSACTIONAL_ID", Res::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID),
];
pub const PATTERNS: &[(&str, Pat)] = &[
    ("ANY", Pat::RD_KAFKA_RESOURCE_PATTERN_ANY),
    ("MATCH", Pat::RD_KAFKA_RESOURCE_PATTERN_MATCH),
    ("LITERAL", Pat::RD_KAFKA_RESOURCE_PATTERN_LITERAL),
    ("PREFIXED", Pat::RD_KAFKA_RESOURCE_PATTERN_PREFIXED),
];
pub const OPERATIONS: &[(&str, Op)] = &[
    ("ANY", Op::RD_KAFKA_ACL_OPERATION_ANY),
    ("ALL", Op::RD_KAFKA_ACL_OPERATION_ALL),
    ("READ", Op::RD_KAFKA_ACL_OPERATION_READ),
    ("WRITE", Op::RD_KAFKA_ACL_OPERATION_WRITE),
    ("CREATE", Op::RD_KAFKA_ACL_OPERATION_CREATE),
    ("DELETE", Op::RD_KAFKA_ACL_OPERATION_DELETE),
    ("ALTER", Op::RD_KAFKA_ACL_OPERATION_ALTER),
    ("DESCRIBE", Op::RD_KAFKA_ACL_OPERATION_DESCRIBE),
    ("CLUSTER_ACTION", Op::RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION),
    ("DESCRIBE_CONFIGS", Op::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS),
    ("ALTER_CONFIGS", Op::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS),
    ("IDEMPOTENT_WRITE", Op::RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE),
];
pub const PERMISSIONS: &[(&str, Perm)] = &[
    ("ANY", Perm::RD_KAFKA_ACL_PERMISSION_TYPE_ANY),
    ("DENY", Perm::RD_KAFKA_ACL_PERMISSION_TYPE_DENY),
    ("ALLOW", Perm::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW),
];

/// Kafka's name of a librdkafka enum value, by the tables above.
pub fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], v: T) -> &'static str {
    table.iter().find(|(_, x)| *x == v).map_or("UNKNOWN", |(n, _)| n)
}

/// A value by its Kafka name, any case, `-` or `_` (`describe-configs`).
pub fn parse_name<T: Copy>(table: &[(&'static str, T)], what: &str, s: &str) -> Result<T> {
    let want = s.trim().to_ascii_uppercase().replace('-', "_");
    match table.iter().find(|(n, _)| *n == want) {
        Some((_, v)) => Ok(*v),
        None => bail!("unknown {what} '{s}' (one of {})", table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")),
    }
}

/// An owned binding or filter object, freed on drop.
struct Binding(*mut rd::rd_kafka_AclBinding_t);
impl Drop for Binding {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_AclBinding(Filter)_new, freed once here.
        unsafe { rd::rd_kafka_AclBinding_destroy(self.0) }
    }
}

impl Acl {
    fn native(&self, filter: bool) -> Result<Binding> {
        let opt = |s: &Option<String>| s.as_deref().map(cstring).transpose();
        let (name, principal, host) = (opt(&self.name)?, opt(&self.principal)?, opt(&self.host)?);
        let ptr = |c: &Option<std::ffi::CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        let mut err = [0 as std::ffi::c_char; 256];
        let new = if filter { rd::rd_kafka_AclBindingFilter_new } else { rd::rd_kafka_AclBinding_new };
        // SAFETY: the strings outlive the call, which copies them; err is a writable buffer of its size.
        let b = unsafe {
            new(
                self.resource_type,
                ptr(&name),
                self.pattern,
                ptr(&principal),
                ptr(&host),
                self.operation,
                self.permission,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if b.is_null() {
            // SAFETY: librdkafka wrote a NUL-terminated message.
            bail!("{}", unsafe { text(err.as_ptr()) }.unwrap_or_else(|| "invalid ACL".into()));
        }
        Ok(Binding(b))
    }

    /// Copies a binding out of a result.
    ///
    /// # Safety
    /// `b` is live for the call.
    unsafe fn read(b: *const rd::rd_kafka_AclBinding_t) -> Acl {
        // SAFETY: as the caller guarantees; strings are copied.
        unsafe {
            Acl {
                resource_type: rd::rd_kafka_AclBinding_restype(b),
                name: text(rd::rd_kafka_AclBinding_name(b)),
                pattern: rd::rd_kafka_AclBinding_resource_pattern_type(b),
                principal: text(rd::rd_kafka_AclBinding_principal(b)),
                host: text(rd::rd_kafka_AclBinding_host(b)),
                operation: rd::rd_kafka_AclBinding_operation(b),
                permission: rd::rd_kafka_AclBinding_permission_type(b),
            }
        }
    }
}

impl Native {
    /// CreateAcls: per binding, the refusal if any.
    pub fn create_acls(&self, acls: &[Acl]) -> Result<Vec<Option<Refusal>>> {
        let owned = acls.iter().map(|a| a.native(false)).collect::<Result<Vec<_>>>()?;
        let mut arr: Vec<_> = owned.iter().map(|b| b.0).collect();
        let ev = self.call(rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS, "CreateAcls", |rk, o, q| {
            // SAFETY: the array and its bindings are live for the call, which copies them.
            unsafe { rd::rd_kafka_CreateAcls(rk, arr.as_mut_ptr(), arr.len(), o, q) }
        })?;
        // SAFETY: the event is this call's result; errors are copied out before it is dropped.
        unsafe {
            let r = nonnull(rd::rd_kafka_event_CreateAcls_result(ev.0), "CreateAcls")?;
            let mut n = 0;
            Ok(slice(rd::rd_kafka_CreateAcls_result_acls(r, &mut n), n)
                .iter()
                .map(|&a| Refusal::from_error(rd::rd_kafka_acl_result_error(a)))
                .collect())
        }
    }

    /// DescribeAcls: the bindings that match the filter.
    pub fn describe_acls(&self, filter: &Acl) -> Result<Vec<Acl>> {
        let f = filter.native(true)?;
        let ev = self.call(rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS, "DescribeAcls", |rk, o, q| {
            // SAFETY: the filter is live for the call, which copies it.
            unsafe { rd::rd_kafka_DescribeAcls(rk, f.0, o, q) }
        })?;
        // SAFETY: the event is this call's result; bindings are copied out before it is dropped.
        unsafe {
            let r = nonnull(rd::rd_kafka_event_DescribeAcls_result(ev.0), "DescribeAcls")?;
            let mut n = 0;
            Ok(slice(rd::rd_kafka_DescribeAcls_result_acls(r, &mut n), n).iter().map(|&b| Acl::read(b)).collect())
        }
    }

    /// DeleteAcls: per filter, the bindings deleted, or the refusal.
    pub fn delete_acls(&self, filters: &[Acl]) -> Result<Vec<Result<Vec<Acl>, Refusal>>> {
        let owned = filters.iter().map(|a| a.native(true)).collect::<Result<Vec<_>>>()?;
        let mut arr: Vec<_> = owned.iter().map(|b| b.0).collect();
        let ev = self.call(rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS, "DeleteAcls", |rk, o, q| {
            // SAFETY: the array and its filters are live for the call, which copies them.
            unsafe { rd::rd_kafka_DeleteAcls(rk, arr.as_mut_ptr(), arr.len(), o, q) }
        })?;
        // SAFETY: the event is this call's result; everything is copied out before it is dropped.
        unsafe {
            let r = nonnull(rd::rd_kafka_event_DeleteAcls_result(ev.0), "DeleteAcls")?;
            let mut n = 0;
            Ok(slice(rd::rd_kafka_DeleteAcls_result_responses(r, &mut n), n)
                .iter()
                .map(|&resp| match Refusal::from_error(rd::rd_kafka_DeleteAcls_result_response_error(resp)) {
                    Some(refusal) => Err(refusal),
                    None => {
                        let mut m = 0;
                        let acls = rd::rd_kafka_DeleteAcls_result_response_matching_acls(resp, &mut m);
                        Ok(slice(acls, m).iter().map(|&b| Acl::read(b)).collect())
                    }
                })
                .collect())
        }
    }

    /// DescribeUserScramCredentials of these users (none: all): per user, its
    /// mechanisms with iterations, or the refusal.
    pub fn describe_users(&self, users: &[String]) -> Result<Vec<(String, UserCredentials)>> {
        let names = users.iter().map(|u| cstring(u)).collect::<Result<Vec<_>>>()?;
        let mut ptrs: Vec<*const std::ffi::c_char> = names.iter().map(|c| c.as_ptr()).collect();
        let ev = self.call(
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEUSERSCRAMCREDENTIALS,
            "DescribeUserScramCredentials",
            // SAFETY: the names are live for the call, which copies them.
            |rk, o, q| unsafe { rd::rd_kafka_DescribeUserScramCredentials(rk, ptrs.as_mut_ptr(), ptrs.len(), o, q) },
        )?;
        // SAFETY: the event is this call's result; everything is copied out before it is dropped.
        unsafe {
            let r =
                nonnull(rd::rd_kafka_event_DescribeUserScramCredentials_result(ev.0), "DescribeUserScramCredentials")?;
            let mut n = 0;
            let descs = slice(rd::rd_kafka_DescribeUserScramCredentials_result_descriptions(r, &mut n), n);
            Ok(descs
                .iter()
                .map(|&d| {
                    let user = text(rd::rd_kafka_UserScramCredentialsDescription_user(d)).unwrap_or_default();
                    let creds = match Refusal::from_error(rd::rd_kafka_UserScramCredentialsDescription_error(d)) {
                        Some(refusal) => Err(refusal),
                        None => Ok((0..rd::rd_kafka_UserScramCredentialsDescription_scramcredentialinfo_count(d))
                            .map(|i| {
                                let info = rd::rd_kafka_UserScramCredentialsDescription_scramcredentialinfo(d, i);
                                let mech = match rd::rd_kafka_ScramCredentialInfo_mechanism(info) {
                                    rd::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_512 => Scram::Sha512,
                                    _ => Scram::Sha256,
                                };
                                (mech, rd::rd_kafka_ScramCredentialInfo_iterations(info))
                            })
                            .collect()),
                    };
                    (user, creds)
                })
                .collect())
        }
    }

    /// AlterUserScramCredentials: upserts (`Some(password)`, salt chosen by
    /// librdkafka at random) and deletions (`None`); per user, the refusal if any.
    pub fn alter_users(
        &self,
        changes: &[(String, Scram, i32, Option<String>)],
    ) -> Result<Vec<(String, Option<Refusal>)>> {
        struct Alteration(*mut rd::rd_kafka_UserScramCredentialAlteration_t);
        impl Drop for Alteration {
            fn drop(&mut self) {
                // SAFETY: created below, freed once here.
                unsafe { rd::rd_kafka_UserScramCredentialAlteration_destroy(self.0) }
            }
        }
        let mut owned = Vec::new();
        for (user, mech, iterations, password) in changes {
            let u = cstring(user)?;
            let m = mech.native();
            // SAFETY: the strings outlive the calls, which copy them.
            let a = unsafe {
                match password {
                    Some(p) => rd::rd_kafka_UserScramCredentialUpsertion_new(
                        u.as_ptr(),
                        m,
                        *iterations,
                        p.as_ptr(),
                        p.len(),
                        std::ptr::null(),
                        0,
                    ),
                    None => rd::rd_kafka_UserScramCredentialDeletion_new(u.as_ptr(), m),
                }
            };
            owned.push(Alteration(a));
        }
        let mut arr: Vec<_> = owned.iter().map(|a| a.0).collect();
        let ev = self.call(
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ALTERUSERSCRAMCREDENTIALS,
            "AlterUserScramCredentials",
            // SAFETY: the array and its alterations are live for the call, which copies them.
            |rk, o, q| unsafe { rd::rd_kafka_AlterUserScramCredentials(rk, arr.as_mut_ptr(), arr.len(), o, q) },
        )?;
        // SAFETY: the event is this call's result; everything is copied out before it is dropped.
        unsafe {
            let r = nonnull(rd::rd_kafka_event_AlterUserScramCredentials_result(ev.0), "AlterUserScramCredentials")?;
            let mut n = 0;
            Ok(slice(rd::rd_kafka_AlterUserScramCredentials_result_responses(r, &mut n), n)
                .iter()
                .map(|&resp| {
                    let user = text(rd::rd_kafka_AlterUserScramCredentials_result_response_user(resp));
                    let refusal =
                        Refusal::from_error(rd::rd_kafka_AlterUserScramCredentials_result_response_error(resp));
                    (user.unwrap_or_default(), refusal)
                })
                .collect())
        }
    }
}

/// A user's mechanisms with their iterations, or why they could not be described.
pub type UserCredentials = Result<Vec<(Scram, i32)>, Refusal>;

/// SCRAM mechanisms, by their SASL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scram {
    #[value(name = "SCRAM-SHA-256", alias = "scram-sha-256")]
    Sha256,
    #[value(name = "SCRAM-SHA-512", alias = "scram-sha-512")]
    Sha512,
}

impl Scram {
    pub fn name(self) -> &'static str {
        match self {
            Scram::Sha256 => "SCRAM-SHA-256",
            Scram::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn native(self) -> rd::rd_kafka_ScramMechanism_t {
        match self {
            Scram::Sha256 => rd::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_256,
            Scram::Sha512 => rd::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_512,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(
            parse_name(OPERATIONS, "operation", "describe-configs").unwrap(),
            Op::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS
        );
        assert_eq!(name_of(RESOURCE_TYPES, Res::RD_KAFKA_RESOURCE_BROKER), "CLUSTER");
        assert_eq!(parse_name(PATTERNS, "pattern type", "Prefixed").unwrap(), Pat::RD_KAFKA_RESOURCE_PATTERN_PREFIXED);
        assert!(parse_name(PERMISSIONS, "permission", "maybe").unwrap_err().to_string().contains("ALLOW"));
    }

    #[test]
    fn bindings_are_checked_by_librdkafka() {
        let bad = Acl {
            resource_type: Res::RD_KAFKA_RESOURCE_ANY,
            name: Some("x".into()),
            pattern: Pat::RD_KAFKA_RESOURCE_PATTERN_LITERAL,
            principal: Some("User:a".into()),
            host: Some("*".into()),
            operation: Op::RD_KAFKA_ACL_OPERATION_READ,
            permission: Perm::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
        };
        // A binding (not a filter) cannot have resource type ANY.
        assert!(bad.native(false).is_err());
        assert!(bad.native(true).is_ok());
    }
}
