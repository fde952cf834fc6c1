//! `weir topic create|list|describe|delete`, with rpk's flags
//! (`-p` partitions, `-r` replicas, `-c key=value` configs).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::metadata::Metadata;
use serde_json::{json, Value};

use super::{error_message, error_name, print_json, print_table, Conn, Format};

#[derive(Subcommand, Debug)]
pub enum TopicCmd {
    /// Create topics.  e.g. weir topic create orders -p 6 -r 1 -c retention.ms=86400000
    Create {
        #[arg(required = true)]
        topics: Vec<String>,
        /// Partitions (-1: the broker's num.partitions)
        #[arg(short = 'p', long, default_value_t = -1, allow_negative_numbers = true)]
        partitions: i32,
        /// Replication factor (-1: the broker's default.replication.factor)
        #[arg(short = 'r', long, default_value_t = -1, allow_negative_numbers = true)]
        replicas: i32,
        /// A topic config, KEY=VALUE (repeatable)
        #[arg(short = 'c', long = "topic-config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Only check that the topics could be created
        #[arg(long)]
        dry_run: bool,
    },
    /// List topics with their partitions and replicas.  e.g. weir topic list --format json
    List {
        /// Include internal topics (names starting with `_`)
        #[arg(short = 'i', long)]
        internal: bool,
    },
    /// A topic's partitions (leader, replicas, ISR, start and end offsets) and configs with their sources.
    Describe { topic: String },
    /// Delete topics.  e.g. weir topic delete orders payments
    Delete {
        #[arg(required = true)]
        topics: Vec<String>,
    },
}

fn admin(conn: &Conn) -> Result<AdminClient<DefaultClientContext>> {
    conn.client_config()?.create().context("cannot create the Kafka client")
}

pub async fn run(cmd: TopicCmd, conn: Conn) -> Result<()> {
    match cmd {
        TopicCmd::Create { topics, partitions, replicas, configs, dry_run } => {
            let mut pairs = Vec::new();
            for kv in &configs {
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("-c expects KEY=VALUE, got '{kv}'");
                };
                pairs.push((k.trim(), v.trim()));
            }
            let news: Vec<NewTopic> = topics
                .iter()
                .map(|t| {
                    pairs
                        .iter()
                        .fold(NewTopic::new(t, partitions, TopicReplication::Fixed(replicas)), |n, (k, v)| n.set(k, v))
                })
                .collect();
            let opts = AdminOptions::new().operation_timeout(Some(conn.timeout())).validate_only(dry_run);
            let results = admin(&conn)?.create_topics(&news, &opts).await.context("CreateTopics failed")?;
            super::report(&conn, "topic", results, if dry_run { "OK (dry run)" } else { "OK" })
        }
        TopicCmd::Delete { topics } => {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let opts = AdminOptions::new().operation_timeout(Some(conn.timeout()));
            let results = admin(&conn)?.delete_topics(&names, &opts).await.context("DeleteTopics failed")?;
            super::report(&conn, "topic", results, "OK")
        }
        TopicCmd::List { internal } => list(&conn, internal).await,
        TopicCmd::Describe { topic } => describe(&conn, &topic).await,
    }
}

/// Metadata off the async workers (librdkafka's call blocks).
async fn metadata(conn: &Conn, topic: Option<String>) -> Result<(AdminClient<DefaultClientContext>, Metadata)> {
    let (client, timeout) = (admin(conn)?, conn.timeout());
    tokio::task::spawn_blocking(move || {
        let md = client.inner().fetch_metadata(topic.as_deref(), timeout).context("Metadata request failed")?;
        Ok((client, md))
    })
    .await?
}

async fn list(conn: &Conn, internal: bool) -> Result<()> {
    let (_client, md) = metadata(conn, None).await?;
    let mut topics: Vec<(String, usize, usize)> = md
        .topics()
        .iter()
        .filter(|t| internal || !t.name().starts_with('_'))
        .map(|t| (t.name().to_string(), t.partitions().len(), t.partitions().first().map_or(0, |p| p.replicas().len())))
        .collect();
    topics.sort();
    match conn.format {
        Format::Json => print_json(&Value::Array(
            topics.iter().map(|(n, p, r)| json!({"name": n, "partitions": p, "replicas": r})).collect(),
        )),
        Format::Table => print_table(
            &["NAME", "PARTITIONS", "REPLICAS"],
            &topics.iter().map(|(n, p, r)| vec![n.clone(), p.to_string(), r.to_string()]).collect::<Vec<_>>(),
        ),
    }
    Ok(())
}

fn source_name(s: &ConfigSource) -> &'static str {
    match s {
        ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
        ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigSource::Default => "DEFAULT_CONFIG",
        ConfigSource::Unknown => "UNKNOWN",
    }
}

async fn describe(conn: &Conn, topic: &str) -> Result<()> {
    let (client, md) = metadata(conn, Some(topic.to_string())).await?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{topic}' is not in the cluster's metadata");
    };
    if let Some(e) = t.error() {
        let code = rdkafka::error::RDKafkaErrorCode::from(e);
        bail!("{}: {} (topic '{topic}')", error_name(code), error_message(code));
    }
    let mut parts = Vec::new();
    for p in t.partitions() {
        let id = p.id();
        let (low, high) = tokio::task::block_in_place(|| client.inner().fetch_watermarks(topic, id, conn.timeout()))
            .with_context(|| format!("ListOffsets of {topic}-{id} failed"))?;
        parts.push((p.id(), p.leader(), p.replicas().to_vec(), p.isr().to_vec(), low, high));
    }
    let spec = [ResourceSpecifier::Topic(topic)];
    let opts = AdminOptions::new().request_timeout(Some(conn.timeout()));
    let mut configs = BTreeMap::new();
    for r in client.describe_configs(&spec, &opts).await.context("DescribeConfigs failed")? {
        let r = r.map_err(|code| {
            anyhow::anyhow!("{}: {} (DescribeConfigs of '{topic}')", error_name(code), error_message(code))
        })?;
        for e in r.entries {
            configs.insert(e.name.clone(), (e.value.clone(), source_name(&e.source), e.is_sensitive));
        }
    }
    match conn.format {
        Format::Json => print_json(&json!({
            "name": topic,
            "partitions": parts.iter().map(|(id, leader, replicas, isr, low, high)| json!({
                "partition": id, "leader": leader, "replicas": replicas, "isr": isr,
                "log_start_offset": low, "high_watermark": high,
            })).collect::<Vec<_>>(),
            "configs": configs.iter().map(|(k, (v, src, sensitive))| json!({
                "name": k, "value": if *sensitive { None } else { v.clone() }, "source": src,
            })).collect::<Vec<_>>(),
        })),
        Format::Table => {
            println!("NAME        {topic}\nPARTITIONS  {}\n", parts.len());
            let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            let rows: Vec<Vec<String>> = parts
                .iter()
                .map(|(id, leader, replicas, isr, low, high)| {
                    vec![id.to_string(), leader.to_string(), ids(replicas), ids(isr), low.to_string(), high.to_string()]
                })
                .collect();
            print_table(&["PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK"], &rows);
            println!();
            let rows: Vec<Vec<String>> = configs
                .iter()
                .map(|(k, (v, src, sensitive))| {
                    let v = if *sensitive { "(sensitive)".to_string() } else { v.clone().unwrap_or_default() };
                    vec![k.clone(), v, src.to_string()]
                })
                .collect();
            print_table(&["KEY", "VALUE", "SOURCE"], &rows);
        }
    }
    Ok(())
}
