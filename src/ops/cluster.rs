//! `weir cluster info|health|config`, as `rpk cluster info|health|config`:
//! info is DescribeCluster (the cluster id, the controller, the brokers);
//! health reads Metadata for brokers that replicas name but that are not up,
//! partitions without a leader and partitions whose ISR is short (exit 1 when
//! any is found, so a probe can use it); config describes a broker's configs
//! with their sources, or changes the cluster-wide defaults incrementally.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use serde_json::{json, Value};

use super::native::{AlterOp, ConfigKind, Native};
use super::{error_message, error_name, print_json, print_table, Conn, Format};

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// The cluster id, the controller and the brokers.  e.g. weir cluster info --format json
    Info,
    /// Brokers down, leaderless and under-replicated partitions; exits 1 when unhealthy.
    Health,
    /// A broker's configs with their sources, or change its dynamic configs.
    /// e.g. weir cluster config --broker 1;  weir cluster config --set log.cleaner.threads=2
    Config {
        /// The broker (default: the controller)
        #[arg(long)]
        broker: Option<i32>,
        /// Set a dynamic broker config, KEY=VALUE (repeatable)
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Remove a dynamic broker config, going back to the static value (repeatable)
        #[arg(long, value_name = "KEY")]
        delete: Vec<String>,
    },
}

pub async fn run(cmd: ClusterCmd, conn: Conn) -> Result<()> {
    match cmd {
        ClusterCmd::Info => tokio::task::block_in_place(|| info(&conn)),
        ClusterCmd::Health => tokio::task::block_in_place(|| health(&conn)),
        ClusterCmd::Config { broker, set, delete } => {
            let native = Native::new(&conn)?;
            let id = match broker {
                Some(b) => b,
                None => {
                    let c = tokio::task::block_in_place(|| native.describe_cluster())?;
                    c.controller.or(c.brokers.first().map(|b| b.id)).context("the cluster named no broker")?
                }
            };
            if set.is_empty() && delete.is_empty() {
                return describe_broker(&conn, native.admin(), id).await;
            }
            let ops = super::topic::config_ops(&set, &delete, &[], &[])?;
            tokio::task::block_in_place(|| native.incremental_alter(ConfigKind::Broker, &id.to_string(), &ops))
                .map_err(|e| anyhow::anyhow!("{e} (broker {id})"))?;
            for (k, op, v) in &ops {
                match op {
                    AlterOp::Delete => out!("{k}: default removed"),
                    _ => out!("{k}={v}"),
                }
            }
            Ok(())
        }
    }
}

fn info(conn: &Conn) -> Result<()> {
    let c = Native::new(conn)?.describe_cluster()?;
    let mut brokers = c.brokers;
    brokers.sort_by_key(|b| b.id);
    match conn.format {
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &json!({
                "cluster_id": c.cluster_id, "controller": c.controller,
                "brokers": brokers.iter().map(|b| json!({"id": b.id, "host": b.host, "port": b.port, "rack": b.rack}))
                    .collect::<Vec<_>>(),
            }),
        ),
        Format::Table => {
            out!("CLUSTER     {}", c.cluster_id.as_deref().unwrap_or("-"));
            out!("CONTROLLER  {}\n", c.controller.map_or("-".into(), |c| c.to_string()));
            let rows: Vec<Vec<String>> = brokers
                .iter()
                .map(|b| {
                    let id = if Some(b.id) == c.controller { format!("{}*", b.id) } else { b.id.to_string() };
                    vec![id, b.host.clone(), b.port.to_string(), b.rack.clone().unwrap_or_default()]
                })
                .collect();
            print_table(&["ID", "HOST", "PORT", "RACK"], &rows);
        }
    }
    Ok(())
}

fn health(conn: &Conn) -> Result<()> {
    let native = Native::new(conn)?;
    let c = native.describe_cluster()?;
    let md = native.admin().inner().fetch_metadata(None, conn.timeout()).context("Metadata request failed")?;
    let up: BTreeSet<i32> = md.brokers().iter().map(|b| b.id()).collect();
    let (mut named, mut leaderless, mut under) = (BTreeSet::new(), Vec::new(), Vec::new());
    for t in md.topics() {
        for p in t.partitions() {
            named.extend(p.replicas().iter().copied());
            if p.leader() < 0 || !up.contains(&p.leader()) {
                leaderless.push(format!("{}-{}", t.name(), p.id()));
            } else if p.isr().len() < p.replicas().len() {
                under.push(format!("{}-{}", t.name(), p.id()));
            }
        }
    }
    let down: Vec<i32> = named.difference(&up).copied().collect();
    let mut reasons = Vec::new();
    if c.controller.is_none() {
        reasons.push("no_controller");
    }
    if !down.is_empty() {
        reasons.push("nodes_down");
    }
    if !leaderless.is_empty() {
        reasons.push("leaderless_partitions");
    }
    if !under.is_empty() {
        reasons.push("under_replicated_partitions");
    }
    let healthy = reasons.is_empty();
    match conn.format {
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &json!({
                "healthy": healthy, "unhealthy_reasons": reasons, "controller": c.controller,
                "nodes": up, "nodes_down": down, "leaderless_partitions": leaderless,
                "under_replicated_partitions": under,
            }),
        ),
        Format::Table => {
            let list = |v: Vec<String>| if v.is_empty() { "[]".to_string() } else { format!("[{}]", v.join(", ")) };
            out!("Healthy:                     {healthy}");
            out!("Unhealthy reasons:           {}", list(reasons.iter().map(|r| r.to_string()).collect()));
            out!("Controller ID:               {}", c.controller.map_or("-".into(), |c| c.to_string()));
            out!("All nodes:                   {}", list(up.iter().map(i32::to_string).collect()));
            out!("Nodes down:                  {}", list(down.iter().map(i32::to_string).collect()));
            out!("Leaderless partitions:       {}", list(leaderless));
            out!("Under-replicated partitions: {}", list(under));
        }
    }
    if !healthy {
        bail!("the cluster is unhealthy: {}", reasons.join(", "));
    }
    Ok(())
}

async fn describe_broker(conn: &Conn, client: &AdminClient<DefaultClientContext>, id: i32) -> Result<()> {
    let opts = AdminOptions::new().request_timeout(Some(conn.timeout()));
    let mut rows = Vec::new();
    for r in client.describe_configs(&[ResourceSpecifier::Broker(id)], &opts).await.context("DescribeConfigs failed")? {
        let r = r.map_err(|code| anyhow::anyhow!("{}: {} (broker {id})", error_name(code), error_message(code)))?;
        for e in r.entries {
            rows.push((e.name.clone(), if e.is_sensitive { None } else { e.value.clone() }, e.is_sensitive, e.source));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    match conn.format {
        Format::Json | Format::Yaml => print_json(conn.format, &Value::Array(
            rows.iter()
                .map(|(k, v, s, src)| {
                    json!({"name": k, "value": v, "sensitive": s, "source": super::topic::source_name(src)})
                })
                .collect(),
        )),
        Format::Table => print_table(
            &["KEY", "VALUE", "SOURCE"],
            &rows
                .iter()
                .map(|(k, v, s, src)| {
                    let v = if *s { "(sensitive)".to_string() } else { v.clone().unwrap_or_default() };
                    vec![k.clone(), v, super::topic::source_name(src).to_string()]
                })
                .collect::<Vec<_>>(),
        ),
    }
    Ok(())
}
