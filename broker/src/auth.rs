//! The authorization hook: every handler asks, once per request and resource,
//! whether the session's principal may perform an operation on a resource, with
//! Kafka's operation and resource model. Today every broker allows everything
//! ([`AllowAll`]); ACLs plug in here as another [`Authorizer`].

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

pub trait Authorizer: Send + Sync {
    fn authorize(&self, session: &Session, operation: Operation, resource: Resource<'_>) -> bool;
}

/// No ACLs: everyone may do everything (Kafka without an authorizer).
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &Session, _: Operation, _: Resource<'_>) -> bool {
        true
    }
}
