//! Kafka's ACL model, with its wire codes: a binding is a resource pattern
//! (resource type, name, LITERAL or PREFIXED) and an entry (principal, host,
//! operation, ALLOW or DENY). Filters (DescribeAcls, DeleteAcls) may say ANY
//! for each part and MATCH for the pattern type (the ACLs that apply to a
//! resource name: the same literal name, the `*` wildcard, and prefixes of it).

use serde::{Deserialize, Serialize};

pub mod resource_type {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const DELEGATION_TOKEN: i8 = 6;
    pub const USER: i8 = 7;
}

pub mod pattern_type {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

pub mod operation {
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
    pub const CREATE_TOKENS: i8 = 13;
    pub const DESCRIBE_TOKENS: i8 = 14;
}

pub mod permission {
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// The name of the one cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
pub const WILDCARD: &str = "*";

/// One ACL, as stored in the metadata log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: i8,
    pub name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// A DescribeAcls or DeleteAcls filter; `None` matches anything.
#[derive(Clone, Debug)]
pub struct AclFilter {
    pub resource_type: i8,
    pub name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

/// Why a creation or a filter is refused (Kafka answers INVALID_REQUEST with these).
pub type Invalid = String;

fn known(code: i8, lo: i8, hi: i8) -> bool {
    (lo..=hi).contains(&code)
}

/// `User:alice` → ("User", "alice"); Kafka's principals are `Type:name`.
pub fn split_principal(p: &str) -> Option<(&str, &str)> {
    p.split_once(':').filter(|(t, n)| !t.is_empty() && !n.is_empty())
}

impl AclBinding {
    /// Kafka's checks of a new ACL.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !known(self.resource_type, resource_type::TOPIC, resource_type::USER) {
            return Err("Invalid resource type".into());
        }
        if self.pattern_type != pattern_type::LITERAL && self.pattern_type != pattern_type::PREFIXED {
            return Err("Invalid pattern type".into());
        }
        if self.name.is_empty() {
            return Err("Resource name should not be empty".into());
        }
        if self.resource_type == resource_type::CLUSTER
            && (self.name != CLUSTER_NAME || self.pattern_type != pattern_type::LITERAL)
        {
            return Err(format!("The only valid name for the CLUSTER resource is {CLUSTER_NAME}"));
        }
        if split_principal(&self.principal).is_none() {
            return Err(format!("Could not parse principal from `{}`", self.principal));
        }
        if self.host.is_empty() {
            return Err("Invalid host".into());
        }
        if self.host != WILDCARD && self.host.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("Invalid host '{}': an IP address or *", self.host));
        }
        if !known(self.operation, operation::ALL, operation::DESCRIBE_TOKENS) {
            return Err("Invalid operation".into());
        }
        if self.permission != permission::ALLOW && self.permission != permission::DENY {
            return Err("Invalid permission type".into());
        }
        Ok(())
    }

    /// Does this ACL's pattern apply to a resource of `ty` named `name`?
    pub fn applies_to(&self, ty: i8, name: &str) -> bool {
        self.resource_type == ty
            && match self.pattern_type {
                pattern_type::LITERAL => self.name == name || self.name == WILDCARD,
                pattern_type::PREFIXED => name.starts_with(&self.name),
                _ => false,
            }
    }
}

impl AclFilter {
    /// Kafka's checks of a filter (UNKNOWN codes are refused; ANY is allowed).
    pub fn validate(&self) -> Result<(), Invalid> {
        if !known(self.resource_type, resource_type::ANY, resource_type::USER) {
            return Err("Invalid resource type filter".into());
        }
        if !known(self.pattern_type, pattern_type::ANY, pattern_type::PREFIXED) {
            return Err("Invalid pattern type filter".into());
        }
        if !known(self.operation, operation::ANY, operation::DESCRIBE_TOKENS) {
            return Err("Invalid operation filter".into());
        }
        if !known(self.permission, permission::ANY, permission::ALLOW) {
            return Err("Invalid permission type filter".into());
        }
        Ok(())
    }

    pub fn matches(&self, b: &AclBinding) -> bool {
        let ty = self.resource_type == resource_type::ANY || self.resource_type == b.resource_type;
        let pattern = match (self.pattern_type, &self.name) {
            (pattern_type::ANY, None) | (pattern_type::MATCH, None) => true,
            (pattern_type::ANY, Some(n)) => &b.name == n,
            (pattern_type::MATCH, Some(n)) => b.applies_to(b.resource_type, n),
            (p, None) => b.pattern_type == p,
            (p, Some(n)) => b.pattern_type == p && &b.name == n,
        };
        let principal = self.principal.as_ref().is_none_or(|p| p == &b.principal);
        let host = self.host.as_ref().is_none_or(|h| h == &b.host);
        let op = self.operation == operation::ANY || self.operation == b.operation;
        let perm = self.permission == permission::ANY || self.permission == b.permission;
        ty && pattern && principal && host && op && perm
    }
}

/// Kafka's names, for logs and the console.
pub fn operation_name(op: i8) -> &'static str {
    match op {
        operation::ALL => "ALL",
        operation::READ => "READ",
        operation::WRITE => "WRITE",
        operation::CREATE => "CREATE",
        operation::DELETE => "DELETE",
        operation::ALTER => "ALTER",
        operation::DESCRIBE => "DESCRIBE",
        operation::CLUSTER_ACTION => "CLUSTER_ACTION",
        operation::DESCRIBE_CONFIGS => "DESCRIBE_CONFIGS",
        operation::ALTER_CONFIGS => "ALTER_CONFIGS",
        operation::IDEMPOTENT_WRITE => "IDEMPOTENT_WRITE",
        operation::CREATE_TOKENS => "CREATE_TOKENS",
        operation::DESCRIBE_TOKENS => "DESCRIBE_TOKENS",
        _ => "UNKNOWN",
    }
}

pub fn resource_type_name(ty: i8) -> &'static str {
    match ty {
        resource_type::TOPIC => "TOPIC",
        resource_type::GROUP => "GROUP",
        resource_type::CLUSTER => "CLUSTER",
        resource_type::TRANSACTIONAL_ID => "TRANSACTIONAL_ID",
        resource_type::DELEGATION_TOKEN => "DELEGATION_TOKEN",
        resource_type::USER => "USER",
        _ => "UNKNOWN",
    }
}

impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pattern = if self.pattern_type == pattern_type::PREFIXED { "PREFIXED" } else { "LITERAL" };
        let perm = if self.permission == permission::ALLOW { "ALLOW" } else { "DENY" };
        write!(
            f,
            "{} {}:{} ({pattern}) {} {} from {}",
            perm,
            resource_type_name(self.resource_type),
            self.name,
            self.principal,
            operation_name(self.operation),
            self.host
        )
    }
}
