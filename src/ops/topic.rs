//! `weir topic create|list|describe|alter-config|add-partitions|delete|trim`,
//! with rpk's flags (`-p` partitions, `-r` replicas, `-c key=value` configs;
//! `alter-config --set/--delete` is IncrementalAlterConfigs, so only the keys
//! named change; `trim` is DeleteRecords).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::metadata::Metadata;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use super::native::{AlterOp, ConfigKind, Native};
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
    /// Change a topic's configs; only the keys named change.
    /// e.g. weir topic alter-config orders --set retention.ms=3600000 --delete cleanup.policy
    AlterConfig {
        topic: String,
        /// KEY=VALUE to set (repeatable)
        #[arg(short = 's', long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// KEY to remove, going back to the broker's default (repeatable)
        #[arg(short = 'd', long, value_name = "KEY")]
        delete: Vec<String>,
        /// KEY=VALUE to add to a list config (repeatable)
        #[arg(long, value_name = "KEY=VALUE")]
        append: Vec<String>,
        /// KEY=VALUE to remove from a list config (repeatable)
        #[arg(long, value_name = "KEY=VALUE")]
        subtract: Vec<String>,
    },
    /// Add partitions to topics.  e.g. weir topic add-partitions orders --num 3
    AddPartitions {
        #[arg(required = true)]
        topics: Vec<String>,
        /// How many partitions to add
        #[arg(short = 'n', long)]
        num: usize,
    },
    /// Delete topics.  e.g. weir topic delete orders payments
    Delete {
        #[arg(required = true)]
        topics: Vec<String>,
    },
    /// Delete the records before an offset (DeleteRecords).  e.g. weir topic trim orders -p 0 --offset 1000
    Trim {
        topic: String,
        /// Only this partition (default: every partition)
        #[arg(short = 'p', long)]
        partition: Option<i32>,
        /// The new log start offset; `end` (or -1) deletes every record up to the high watermark
        #[arg(short = 'o', long, allow_negative_numbers = true)]
        offset: String,
    },
}

/// IncrementalAlterConfigs operations from the flags' KEY=VALUE and KEY lists.
pub fn config_ops(
    set: &[String],
    delete: &[String],
    append: &[String],
    subtract: &[String],
) -> Result<Vec<(String, AlterOp, String)>> {
    let mut ops = Vec::new();
    for (list, op) in [(set, AlterOp::Set), (append, AlterOp::Append), (subtract, AlterOp::Subtract)] {
        for kv in list {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("expected KEY=VALUE, got '{kv}'");
            };
            ops.push((k.trim().to_string(), op, v.trim().to_string()));
        }
    }
    ops.extend(delete.iter().map(|k| (k.trim().to_string(), AlterOp::Delete, String::new())));
    if ops.is_empty() {
        bail!("nothing to change: give --set KEY=VALUE or --delete KEY");
    }
    Ok(ops)
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
        TopicCmd::AlterConfig { topic, set, delete, append, subtract } => {
            let ops = config_ops(&set, &delete, &append, &subtract)?;
            let native = Native::new(&conn)?;
            tokio::task::block_in_place(|| native.incremental_alter(ConfigKind::Topic, &topic, &ops))
                .map_err(|e| anyhow::anyhow!("{e} (topic '{topic}')"))?;
            super::report(&conn, "topic", vec![Ok(topic)], "OK")
        }
        TopicCmd::AddPartitions { topics, num } => {
            let mut news = Vec::new();
            for t in &topics {
                let (_c, md) = metadata(&conn, Some(t.clone())).await?;
                let current =
                    md.topics().iter().find(|x| x.name() == t && x.error().is_none()).map(|x| x.partitions().len());
                let Some(current) = current else {
                    bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{t}' does not exist");
                };
                news.push(NewPartitions::new(t, current + num));
            }
            let opts = AdminOptions::new().operation_timeout(Some(conn.timeout()));
            let results = admin(&conn)?.create_partitions(&news, &opts).await.context("CreatePartitions failed")?;
            super::report(&conn, "topic", results, &format!("OK (+{num} partitions)"))
        }
        TopicCmd::Trim { topic, partition, offset } => trim(&conn, &topic, partition, &offset).await,
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
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &Value::Array(topics.iter().map(|(n, p, r)| json!({"name": n, "partitions": p, "replicas": r})).collect()),
        ),
        Format::Table => print_table(
            &["NAME", "PARTITIONS", "REPLICAS"],
            &topics.iter().map(|(n, p, r)| vec![n.clone(), p.to_string(), r.to_string()]).collect::<Vec<_>>(),
        ),
    }
    Ok(())
}

pub(super) fn source_name(s: &ConfigSource) -> &'static str {
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
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &json!({
                "name": topic,
                "partitions": parts.iter().map(|(id, leader, replicas, isr, low, high)| json!({
                    "partition": id, "leader": leader, "replicas": replicas, "isr": isr,
                    "log_start_offset": low, "high_watermark": high,
                })).collect::<Vec<_>>(),
                "configs": configs.iter().map(|(k, (v, src, sensitive))| json!({
                    "name": k, "value": if *sensitive { None } else { v.clone() }, "source": src,
                })).collect::<Vec<_>>(),
            }),
        ),
        Format::Table => {
            out!("NAME        {topic}\nPARTITIONS  {}\n", parts.len());
            let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            let rows: Vec<Vec<String>> = parts
                .iter()
                .map(|(id, leader, replicas, isr, low, high)| {
                    vec![id.to_string(), leader.to_string(), ids(replicas), ids(isr), low.to_string(), high.to_string()]
                })
                .collect();
            print_table(&["PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK"], &rows);
            out!();
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

/// DeleteRecords before `offset` ("end"/-1: the high watermark) in one or every partition.
async fn trim(conn: &Conn, topic: &str, partition: Option<i32>, offset: &str) -> Result<()> {
    let offset = match offset.trim() {
        "end" | "-1" => Offset::End,
        o => Offset::Offset(o.parse().with_context(|| format!("--offset expects a number or `end`, got '{o}'"))?),
    };
    let (client, md) = metadata(conn, Some(topic.to_string())).await?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic && t.error().is_none()) else {
        bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{topic}' does not exist");
    };
    let mut tpl = TopicPartitionList::new();
    for p in t.partitions().iter().map(|p| p.id()).filter(|p| partition.is_none_or(|want| want == *p)) {
        tpl.add_partition_offset(topic, p, offset).context("bad offset")?;
    }
    if tpl.count() == 0 {
        bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{topic}' has no partition {}", partition.unwrap_or(-1));
    }
    let opts = AdminOptions::new().operation_timeout(Some(conn.timeout()));
    let result = client.delete_records(&tpl, &opts).await.context("DeleteRecords failed")?;
    let mut rows = Vec::new();
    let mut failed = 0;
    for e in result.elements() {
        let outcome = match e.error() {
            Ok(()) => Ok(match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            }),
            Err(err) => {
                failed += 1;
                let code = err.rdkafka_error_code().unwrap_or(rdkafka::error::RDKafkaErrorCode::Unknown);
                Err((error_name(code), error_message(code)))
            }
        };
        rows.push((e.partition(), outcome));
    }
    rows.sort_by_key(|r| r.0);
    match conn.format {
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &Value::Array(
                rows.iter()
                    .map(|(p, o)| match o {
                        Ok(low) => json!({"topic": topic, "partition": p, "log_start_offset": low, "error": null}),
                        Err((c, m)) => json!({"topic": topic, "partition": p, "error": {"code": c, "message": m}}),
                    })
                    .collect(),
            ),
        ),
        Format::Table => print_table(
            &["TOPIC", "PARTITION", "LOG-START-OFFSET"],
            &rows
                .iter()
                .map(|(p, o)| {
                    let s = match o {
                        Ok(low) => low.to_string(),
                        Err((c, m)) => format!("{c}: {m}"),
                    };
                    vec![topic.to_string(), p.to_string(), s]
                })
                .collect::<Vec<_>>(),
        ),
    }
    if failed > 0 {
        bail!("{failed} of {} partitions were not trimmed", rows.len());
    }
    Ok(())
}
