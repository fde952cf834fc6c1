//! The authorization hook: every handler asks, once per request and resource,
//! whether the session's principal may perform an operation on a resource, with
//! Kafka's operation and resource model. Without `authorizer.class.name` every
//! principal may do everything ([`AllowAll`]); with it, `acl::AclAuthorizer`
//! decides.

use crate::net::Session;

/// Kafka's `AclOperation`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

/// Kafka's resource types, with the resource's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource<'a> {
    Cluster,
    Topic(&'a str),
    Group(&'a str),
    TransactionalId(&'a str),
}

impl Operation {
    /// Kafka's `AclOperation` code (the bit it sets in authorized-operations fields).
    pub fn code(self) -> u8 {
        match self {
            Operation::Read => 3,
            Operation::Write => 4,
            Operation::Create => 5,
            Operation::Delete => 6,
            Operation::Alter => 7,
            Operation::Describe => 8,
            Operation::ClusterAction => 9,
            Operation::DescribeConfigs => 10,
            Operation::AlterConfigs => 11,
            Operation::IdempotentWrite => 12,
        }
    }
}

impl Resource<'_> {
    /// The operations Kafka defines for this resource type (`AclEntry.supportedOperations`).
    pub fn supported_operations(&self) -> &'static [Operation] {
        use Operation::*;
        match self {
            Resource::Topic(_) => &[Read, Write, Create, Describe, Delete, Alter, DescribeConfigs, AlterConfigs],
            Resource::Group(_) => &[Read, Describe, Delete],
            Resource::Cluster => {
                &[Create, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, Alter, Describe]
            }
            Resource::TransactionalId(_) => &[Describe, Write],
        }
    }
}

/// The value of an `*_authorized_operations` field when the client did not ask.
pub const AUTHORIZED_OPS_OMITTED: i32 = i32::MIN;

pub trait Authorizer: Send + Sync {
    fn authorize(&self, session: &Session, operation: Operation, resource: Resource<'_>) -> bool;

    /// Kafka's `authorizeByResourceType`: may the principal do `operation` on
    /// some topic (some resource of `resource`'s type)? Idempotent producers
    /// need WRITE on any topic (KIP-679) when they lack IDEMPOTENT_WRITE.
    fn authorize_any(&self, _session: &Session, _operation: Operation, _resource: Resource<'_>) -> bool {
        true
    }

    /// Whether ACLs are in force (an authorizer is configured): the ACL APIs
    /// answer SECURITY_DISABLED otherwise.
    fn enabled(&self) -> bool {
        false
    }
}

/// No ACLs: everyone may do everything (Kafka without an authorizer).
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &Session, _: Operation, _: Resource<'_>) -> bool {
        true
    }
}
