//! `weir acl create|list|delete`, with rpk's flags (`rpk security acl`):
//! principals (`--allow-principal User:alice`, `--deny-principal`), hosts,
//! operations (`--operation read,describe`), resources (`--topic`, `--group`,
//! `--transactional-id`, `--cluster`) and `--resource-pattern-type`. Create
//! makes every combination of them; list and delete match with them as a
//! filter (a flag not given matches anything).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::native::acl::{name_of, parse_name, Acl, OPERATIONS, PATTERNS, PERMISSIONS, RESOURCE_TYPES};
use super::native::Native;
use super::{print_json, print_table, Conn, Format};
use rdkafka::bindings::{
    rd_kafka_AclOperation_t as Op, rd_kafka_AclPermissionType_t as Perm, rd_kafka_ResourcePatternType_t as Pat,
    rd_kafka_ResourceType_t as Res,
};

#[derive(Subcommand, Debug)]
pub enum AclCmd {
    /// Create ACLs.  e.g. weir acl create --allow-principal User:alice --operation read,describe --topic orders
    Create(AclFlags),
    /// List the ACLs that match the flags (none: every ACL).  e.g. weir acl list --topic orders
    List(AclFlags),
    /// Delete the ACLs that match the flags (at least a principal or a resource is required).
    /// e.g. weir acl delete --allow-principal User:alice --topic orders
    Delete(AclFlags),
}

#[derive(Args, Debug, Default)]
pub struct AclFlags {
    /// Principals allowed (User:NAME; `User:` is added when missing)
    #[arg(long, value_delimiter = ',')]
    allow_principal: Vec<String>,
    /// Principals denied
    #[arg(long, value_delimiter = ',')]
    deny_principal: Vec<String>,
    /// Hosts the allow principals may connect from (default: *)
    #[arg(long, value_delimiter = ',')]
    allow_host: Vec<String>,
    /// Hosts the deny principals are denied from (default: *)
    #[arg(long, value_delimiter = ',')]
    deny_host: Vec<String>,
    /// Operations: all, read, write, create, delete, alter, describe, cluster_action,
    /// describe_configs, alter_configs, idempotent_write
    #[arg(long, value_delimiter = ',')]
    operation: Vec<String>,
    /// Topics (a name, a prefix with --resource-pattern-type prefixed, or * for all)
    #[arg(long, value_delimiter = ',')]
    topic: Vec<String>,
    /// Consumer groups
    #[arg(long, value_delimiter = ',')]
    group: Vec<String>,
    /// Transactional ids
    #[arg(long, value_delimiter = ',')]
    transactional_id: Vec<String>,
    /// The cluster resource (kafka-cluster)
    #[arg(long)]
    cluster: bool,
    /// literal or prefixed (create; default literal); any, match, literal or prefixed (list, delete; default any)
    #[arg(long)]
    resource_pattern_type: Option<String>,
}

fn principal(p: &str) -> String {
    if p.contains(':') {
        p.to_string()
    } else {
        format!("User:{p}")
    }
}

impl AclFlags {
    fn resources(&self) -> Vec<(Res, String)> {
        let mut out = Vec::new();
        out.extend(self.topic.iter().map(|t| (Res::RD_KAFKA_RESOURCE_TOPIC, t.clone())));
        out.extend(self.group.iter().map(|g| (Res::RD_KAFKA_RESOURCE_GROUP, g.clone())));
        out.extend(self.transactional_id.iter().map(|t| (Res::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID, t.clone())));
        if self.cluster {
            out.push((Res::RD_KAFKA_RESOURCE_BROKER, "kafka-cluster".to_string()));
        }
        out
    }

    fn operations(&self) -> Result<Vec<Op>> {
        self.operation.iter().map(|o| parse_name(OPERATIONS, "operation", o)).collect()
    }

    /// (principal, host, permission) triples; `None` principal/host: any.
    fn who(&self, filter: bool) -> Vec<(Option<String>, Option<String>, Perm)> {
        let mut out = Vec::new();
        let hosts = |given: &Vec<String>| match (given.is_empty(), filter) {
            (true, true) => vec![None],
            (true, false) => vec![Some("*".to_string())],
            (false, _) => given.iter().cloned().map(Some).collect(),
        };
        for (ps, hs, perm) in [
            (&self.allow_principal, &self.allow_host, Perm::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW),
            (&self.deny_principal, &self.deny_host, Perm::RD_KAFKA_ACL_PERMISSION_TYPE_DENY),
        ] {
            for p in ps {
                for h in hosts(hs) {
                    out.push((Some(principal(p)), h, perm));
                }
            }
        }
        if out.is_empty() && filter {
            out.push((None, None, Perm::RD_KAFKA_ACL_PERMISSION_TYPE_ANY));
        }
        out
    }

    /// Every binding (create) or filter (list, delete) the flags describe.
    fn bindings(&self, filter: bool) -> Result<Vec<Acl>> {
        let pattern = match (&self.resource_pattern_type, filter) {
            (Some(p), _) => parse_name(PATTERNS, "resource pattern type", p)?,
            (None, true) => Pat::RD_KAFKA_RESOURCE_PATTERN_ANY,
            (None, false) => Pat::RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        };
        let mut resources: Vec<(Res, Option<String>)> =
            self.resources().into_iter().map(|(r, n)| (r, Some(n))).collect();
        let mut ops = self.operations()?;
        let who = self.who(filter);
        if !filter {
            if resources.is_empty() {
                bail!("say which resource: --topic, --group, --transactional-id or --cluster");
            }
            if ops.is_empty() {
                bail!("say which operation: --operation read,write,...");
            }
            if who.is_empty() {
                bail!("say who: --allow-principal or --deny-principal");
            }
        }
        if resources.is_empty() {
            resources.push((Res::RD_KAFKA_RESOURCE_ANY, None));
        }
        if ops.is_empty() {
            ops.push(Op::RD_KAFKA_ACL_OPERATION_ANY);
        }
        let mut out = Vec::new();
        for (rt, name) in &resources {
            for op in &ops {
                for (p, h, perm) in &who {
                    out.push(Acl {
                        resource_type: *rt,
                        name: name.clone(),
                        pattern,
                        principal: p.clone(),
                        host: h.clone(),
                        operation: *op,
                        permission: *perm,
                    });
                }
            }
        }
        Ok(out)
    }
}

fn row(a: &Acl) -> Vec<String> {
    vec![
        a.principal.clone().unwrap_or_default(),
        a.host.clone().unwrap_or_default(),
        name_of(RESOURCE_TYPES, a.resource_type).to_string(),
        a.name.clone().unwrap_or_default(),
        name_of(PATTERNS, a.pattern).to_string(),
        name_of(OPERATIONS, a.operation).to_string(),
        name_of(PERMISSIONS, a.permission).to_string(),
    ]
}

fn object(a: &Acl) -> Value {
    let r = row(a);
    json!({"principal": r[0], "host": r[1], "resource_type": r[2], "resource_name": r[3],
        "resource_pattern_type": r[4], "operation": r[5], "permission": r[6]})
}

const HEADERS: [&str; 7] =
    ["PRINCIPAL", "HOST", "RESOURCE-TYPE", "RESOURCE-NAME", "RESOURCE-PATTERN-TYPE", "OPERATION", "PERMISSION"];

pub async fn run(cmd: AclCmd, conn: Conn) -> Result<()> {
    tokio::task::block_in_place(|| run_blocking(cmd, &conn))
}

fn run_blocking(cmd: AclCmd, conn: &Conn) -> Result<()> {
    let native = Native::new(conn)?;
    match cmd {
        AclCmd::Create(flags) => {
            let acls = flags.bindings(false)?;
            let results = native.create_acls(&acls)?;
            let failed = results.iter().filter(|r| r.is_some()).count();
            match conn.format {
                Format::Json | Format::Yaml => print_json(
                    conn.format,
                    &Value::Array(
                        acls.iter()
                            .zip(&results)
                            .map(|(a, r)| {
                                let mut o = object(a);
                                o["error"] =
                                    r.as_ref().map_or(Value::Null, |r| json!({"code": r.code, "message": r.message}));
                                o
                            })
                            .collect(),
                    ),
                ),
                Format::Table => {
                    let rows: Vec<Vec<String>> = acls
                        .iter()
                        .zip(&results)
                        .map(|(a, r)| {
                            let mut row = row(a);
                            row.push(r.as_ref().map_or("OK".to_string(), |r| r.to_string()));
                            row
                        })
                        .collect();
                    let mut headers = HEADERS.to_vec();
                    headers.push("STATUS");
                    print_table(&headers, &rows);
                }
            }
            if failed > 0 {
                bail!("{failed} of {} ACLs were not created", acls.len());
            }
            Ok(())
        }
        AclCmd::List(flags) => {
            let mut found = Vec::new();
            for f in flags.bindings(true)? {
                for a in native.describe_acls(&f)? {
                    if !found.contains(&a) {
                        found.push(a);
                    }
                }
            }
            found.sort_by_key(row);
            print_acls(conn, &found);
            Ok(())
        }
        AclCmd::Delete(flags) => {
            if flags.resources().is_empty() && flags.allow_principal.is_empty() && flags.deny_principal.is_empty() {
                bail!("delete needs a principal or a resource to match (use `weir acl list` to see what exists)");
            }
            let filters = flags.bindings(true)?;
            let mut deleted = Vec::new();
            let mut refusals = Vec::new();
            for r in native.delete_acls(&filters)? {
                match r {
                    Ok(acls) => deleted.extend(acls),
                    Err(refusal) => refusals.push(refusal),
                }
            }
            print_acls(conn, &deleted);
            if let Some(r) = refusals.first() {
                bail!("DeleteAcls: {r}");
            }
            if deleted.is_empty() {
                eprintln!("no ACL matched");
            }
            Ok(())
        }
    }
}

fn print_acls(conn: &Conn, acls: &[Acl]) {
    match conn.format {
        Format::Json | Format::Yaml => print_json(conn.format, &Value::Array(acls.iter().map(object).collect())),
        Format::Table => print_table(&HEADERS, &acls.iter().map(row).collect::<Vec<_>>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_makes_every_combination() {
        let f = AclFlags {
            allow_principal: vec!["alice".into(), "User:bob".into()],
            operation: vec!["read".into(), "describe".into()],
            topic: vec!["orders".into()],
            group: vec!["billing".into()],
            ..Default::default()
        };
        let acls = f.bindings(false).unwrap();
        assert_eq!(acls.len(), 2 * 2 * 2);
        assert!(acls.iter().all(|a| a.host.as_deref() == Some("*")));
        assert!(acls.iter().any(|a| a.principal.as_deref() == Some("User:alice")));
        assert!(acls.iter().all(|a| a.pattern == Pat::RD_KAFKA_RESOURCE_PATTERN_LITERAL));
        assert!(AclFlags { topic: vec!["t".into()], ..Default::default() }.bindings(false).is_err());
    }

    #[test]
    fn an_empty_filter_matches_everything() {
        let acls = AclFlags::default().bindings(true).unwrap();
        assert_eq!(acls.len(), 1);
        let a = &acls[0];
        assert_eq!((a.resource_type, a.pattern), (Res::RD_KAFKA_RESOURCE_ANY, Pat::RD_KAFKA_RESOURCE_PATTERN_ANY));
        assert_eq!(
            (a.operation, a.permission),
            (Op::RD_KAFKA_ACL_OPERATION_ANY, Perm::RD_KAFKA_ACL_PERMISSION_TYPE_ANY)
        );
        assert!(a.principal.is_none() && a.host.is_none() && a.name.is_none());
    }
}
