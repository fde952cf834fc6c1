//! Access control lists with Kafka's model (`model.rs`) and decisions
//! (`authorizer.rs`), on when `authorizer.class.name` is set. ACLs live in the
//! metadata log (`AclsCreated` / `AclsDeleted` events, a set of bindings);
//! CreateAcls, DescribeAcls and DeleteAcls manage them through the
//! [`BrokerHandle`] methods below. Every change, and every refused request, is
//! written to the audit log (tracing target `weir::audit`).

pub mod authorizer;
pub mod model;

pub use authorizer::{AclAuthorizer, AclSet};
pub use model::{AclBinding, AclFilter};

use crate::error::BrokerError;
use crate::handle::BrokerHandle;

/// The names `authorizer.class.name` accepts for Weir's authorizer: Kafka's
/// (KRaft and ZooKeeper-era) and Weir's own.
pub const AUTHORIZER_CLASSES: &[&str] =
    &["org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer", "weir"];

/// Parses `super.users`: `User:admin;User:ops`.
pub fn parse_super_users(value: &str) -> Result<Vec<crate::net::Principal>, String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|p| match model::split_principal(p) {
            Some((kind, name)) => Ok(crate::net::Principal { kind: kind.to_string(), name: name.to_string() }),
            None => Err(format!("'{p}' is not a principal (Type:name, e.g. User:admin)")),
        })
        .collect()
}

impl BrokerHandle {
    /// Whether ACLs are checked (an authorizer is configured).
    pub fn acls_enabled(&self) -> bool {
        self.authorizer().enabled()
    }

    /// Every ACL a filter matches.
    pub fn describe_acls(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.core.meta.acl_bindings().into_iter().filter(|b| filter.matches(b)).collect()
    }

    /// Checks each ACL and stores the valid ones together; each gets its
    /// outcome. Blocking.
    pub fn create_acls(&self, acls: Vec<AclBinding>, by: &str) -> Result<Vec<Result<(), String>>, BrokerError> {
        let outcomes: Vec<Result<(), String>> = acls.iter().map(AclBinding::validate).collect();
        let valid: Vec<AclBinding> =
            acls.into_iter().zip(&outcomes).filter(|(_, o)| o.is_ok()).map(|(a, _)| a).collect();
        if !valid.is_empty() {
            for a in &valid {
                tracing::info!(target: "weir::audit", principal = by, acl = %a, "ACL created");
            }
            self.core.meta.commit(crate::metadata::Event::AclsCreated { acls: valid })?;
        }
        Ok(outcomes)
    }

    /// Deletes what each filter matches, all in one change; each filter gets
    /// the ACLs it deleted. Blocking.
    pub fn delete_acls(&self, filters: &[AclFilter], by: &str) -> Result<Vec<Vec<AclBinding>>, BrokerError> {
        let meta = &self.core.meta;
        meta.with_writer(|w| {
            let all = meta.acl_bindings();
            let matched: Vec<Vec<AclBinding>> =
                filters.iter().map(|f| all.iter().filter(|b| f.matches(b)).cloned().collect()).collect();
            let mut gone: Vec<AclBinding> = matched.iter().flatten().cloned().collect();
            gone.sort();
            gone.dedup();
            if !gone.is_empty() {
                for a in &gone {
                    tracing::info!(target: "weir::audit", principal = by, acl = %a, "ACL deleted");
                }
                w.commit(crate::metadata::Event::AclsDeleted { acls: gone })?;
            }
            Ok(matched)
        })
    }
}

#[cfg(test)]
mod tests;
