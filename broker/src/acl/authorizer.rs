//! Weir's ACL authorizer (`authorizer.class.name`), deciding as Kafka's
//! StandardAuthorizer does:
//! 1. a principal of `super.users` may do everything;
//! 2. the ACLs that apply to the resource are its literal name's, the `*`
//!    wildcard's and those of every prefix pattern of the name;
//! 3. among those for the principal (or `User:*`) and the client's host (or
//!    `*`), a DENY of the operation (or ALL) refuses, whatever allows;
//! 4. an ALLOW of the operation, of ALL, or of one implying it (READ, WRITE,
//!    DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS)
//!    permits;
//! 5. a resource no ACL applies to at all is allowed only with
//!    `allow.everyone.if.no.acl.found=true`.
//!
//! The ACLs are indexed once per change (by type, then literal name or prefix),
//! so a decision allocates nothing and does not grow with the number of ACLs:
//! hash lookups of the resource's name, of `*`, and of each of its prefixes
//! (one per character boundary), and a walk of the few entries found.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::model::{operation, pattern_type, permission, resource_type, AclBinding, CLUSTER_NAME, WILDCARD};
use crate::auth::{Authorizer, Operation, Resource};
use crate::metadata::MetadataStore;
use crate::net::{Principal, Session};

/// One ACL, ready to be matched.
#[derive(Debug)]
struct Entry {
    kind: String,
    /// `None`: every principal of the kind (`User:*`).
    name: Option<String>,
    /// `None`: every host.
    host: Option<IpAddr>,
    operation: i8,
    allow: bool,
}

impl Entry {
    fn of(b: &AclBinding) -> Option<Entry> {
        let (kind, name) = super::model::split_principal(&b.principal)?;
        Some(Entry {
            kind: kind.to_string(),
            name: (name != WILDCARD).then(|| name.to_string()),
            host: if b.host == WILDCARD { None } else { Some(b.host.parse().ok()?) },
            operation: b.operation,
            allow: b.permission == permission::ALLOW,
        })
    }

    fn is_for(&self, p: &Principal, host: IpAddr) -> bool {
        self.kind == p.kind && self.name.as_deref().is_none_or(|n| n == p.name) && self.host.is_none_or(|h| h == host)
    }
}

fn implies(granted: i8, asked: i8) -> bool {
    granted == asked
        || granted == operation::ALL
        || (asked == operation::DESCRIBE
            && matches!(granted, operation::READ | operation::WRITE | operation::DELETE | operation::ALTER))
        || (asked == operation::DESCRIBE_CONFIGS && granted == operation::ALTER_CONFIGS)
}

/// Every ACL, indexed for decisions.
#[derive(Default, Debug)]
pub struct AclSet {
    literal: HashMap<i8, HashMap<String, Vec<Entry>>>,
    prefixed: HashMap<i8, HashMap<String, Vec<Entry>>>,
}

impl AclSet {
    pub fn build<'a>(bindings: impl IntoIterator<Item = &'a AclBinding>) -> AclSet {
        let mut set = AclSet::default();
        for b in bindings {
            let Some(e) = Entry::of(b) else { continue };
            let index = match b.pattern_type {
                pattern_type::PREFIXED => &mut set.prefixed,
                _ => &mut set.literal,
            };
            index.entry(b.resource_type).or_default().entry(b.name.clone()).or_default().push(e);
        }
        set
    }

    /// The decision for `principal` at `host`: `Some(allowed)` when an ACL
    /// applies to the resource, `None` when none does.
    pub fn decide(&self, principal: &Principal, host: IpAddr, op: i8, ty: i8, name: &str) -> Option<bool> {
        let literal = self.literal.get(&ty);
        let exact = literal.and_then(|m| m.get(name)).into_iter().flatten();
        let wildcard = literal.and_then(|m| m.get(WILDCARD)).into_iter().flatten();
        let prefixes = self.prefixed.get(&ty);
        let prefixed = prefixes
            .into_iter()
            .flat_map(|m| (0..=name.len()).filter(|i| name.is_char_boundary(*i)).filter_map(move |i| m.get(&name[..i])))
            .flatten();
        let (mut any, mut allowed) = (false, false);
        for e in exact.chain(wildcard).chain(prefixed) {
            any = true;
            if !e.is_for(principal, host) {
                continue;
            }
            if !e.allow && (e.operation == op || e.operation == operation::ALL) {
                return Some(false);
            }
            allowed |= e.allow && implies(e.operation, op);
        }
        any.then_some(allowed)
    }

    /// Is some resource of type `ty` allowed: an ALLOW for the principal that a
    /// DENY on every name (`*`, or the empty prefix) does not cancel? `None`
    /// when no ACL of the type exists.
    pub fn decide_any(&self, principal: &Principal, host: IpAddr, op: i8, ty: i8) -> Option<bool> {
        let literal = self.literal.get(&ty).into_iter().flat_map(|m| m.iter().map(|(n, es)| (n.as_str(), es, false)));
        let prefixed = self.prefixed.get(&ty).into_iter().flat_map(|m| m.iter().map(|(n, es)| (n.as_str(), es, true)));
        let (mut any, mut allowed) = (false, false);
        for (name, entries, prefix) in literal.chain(prefixed) {
            for e in entries.iter() {
                any = true;
                if !e.is_for(principal, host) {
                    continue;
                }
                let everything = name == WILDCARD && !prefix || name.is_empty() && prefix;
                if !e.allow && everything && (e.operation == op || e.operation == operation::ALL) {
                    return Some(false);
                }
                allowed |= e.allow && implies(e.operation, op);
            }
        }
        any.then_some(allowed)
    }
}

pub struct AclAuthorizer {
    meta: Arc<MetadataStore>,
    /// Bumped by the metadata log whenever ACLs change.
    version: Arc<AtomicU64>,
    current: RwLock<(u64, Arc<AclSet>)>,
    super_users: Vec<Principal>,
    allow_everyone_if_no_acl_found: bool,
}

impl AclAuthorizer {
    pub fn new(meta: Arc<MetadataStore>, super_users: Vec<Principal>, allow_everyone: bool) -> AclAuthorizer {
        let version = meta.acl_version();
        let (v, set) = meta.acl_set();
        AclAuthorizer {
            meta,
            version,
            current: RwLock::new((v, set)),
            super_users,
            allow_everyone_if_no_acl_found: allow_everyone,
        }
    }

    fn set(&self) -> Arc<AclSet> {
        let want = self.version.load(Ordering::Acquire);
        {
            let cur = self.current.read();
            if cur.0 == want {
                return cur.1.clone();
            }
        }
        let (v, set) = self.meta.acl_set();
        *self.current.write() = (v, set.clone());
        set
    }
}

/// Kafka's resource type code and name of a resource.
pub fn resource_key<'a>(r: &Resource<'a>) -> (i8, &'a str) {
    match *r {
        Resource::Cluster => (resource_type::CLUSTER, CLUSTER_NAME),
        Resource::Topic(n) => (resource_type::TOPIC, n),
        Resource::Group(n) => (resource_type::GROUP, n),
        Resource::TransactionalId(n) => (resource_type::TRANSACTIONAL_ID, n),
    }
}

impl Authorizer for AclAuthorizer {
    fn authorize(&self, session: &Session, op: Operation, resource: Resource<'_>) -> bool {
        let principal = session.principal();
        if self.super_users.iter().any(|s| s == principal) {
            return true;
        }
        let (ty, name) = resource_key(&resource);
        self.set()
            .decide(principal, session.peer.ip(), op.code() as i8, ty, name)
            .unwrap_or(self.allow_everyone_if_no_acl_found)
    }

    fn authorize_any(&self, session: &Session, op: Operation, resource: Resource<'_>) -> bool {
        let principal = session.principal();
        if self.super_users.iter().any(|s| s == principal) {
            return true;
        }
        let (ty, _) = resource_key(&resource);
        self.set()
            .decide_any(principal, session.peer.ip(), op.code() as i8, ty)
            .unwrap_or(self.allow_everyone_if_no_acl_found)
    }

    fn enabled(&self) -> bool {
        true
    }
}
