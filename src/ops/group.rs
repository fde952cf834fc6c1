//! `weir group list|describe|reset-offsets|delete|delete-offsets`, as
//! kafka-consumer-groups does them: describe shows members with their
//! assignments and, per partition, the committed offset, the end offset and
//! the lag; reset-offsets prints the plan (a dry run) unless `--execute`, and
//! refuses a group that has members, with kafka-consumer-groups' message;
//! `--to-datetime` takes its format (`2026-12-05T10:00:00.000`, UTC unless an
//! offset such as `+01:00` or `Z` follows) or epoch milliseconds.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use super::native::groups::Description;
use super::native::Native;
use super::{error_message, error_name, print_json, print_table, Conn, Format};

#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    /// List consumer groups with their state and members.  e.g. weir group list --format json
    List,
    /// A group's members and, per partition, its committed offset, the end offset and the lag.
    Describe { group: String },
    /// Move a group's committed offsets (a dry run unless --execute).
    /// e.g. weir group reset-offsets billing --topic orders --to-earliest --execute
    #[command(group(ArgGroup::new("to").required(true)
        .args(["to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime"])))]
    #[command(group(ArgGroup::new("which").required(true).args(["topic", "all_topics"])))]
    ResetOffsets {
        group: String,
        #[command(flatten)]
        scope: super::ResetScope,
        #[command(flatten)]
        to: super::ResetTo,
        /// Move each committed offset by N (negative: back), kept within the partition
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        shift_by: Option<i64>,
        /// Commit the new offsets (without it, only the plan is printed)
        #[arg(long)]
        execute: bool,
    },
    /// Delete groups (they must have no members).
    Delete {
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Delete a group's committed offsets of a topic (OffsetDelete; refused for partitions the group consumes).
    /// e.g. weir group delete-offsets billing --topic orders
    DeleteOffsets {
        group: String,
        #[arg(long)]
        topic: String,
        /// Only this partition
        #[arg(long)]
        partition: Option<i32>,
    },
}

/// A consumer that joins nothing: for reading and committing `group`'s offsets.
fn consumer(conn: &Conn, group: &str) -> Result<BaseConsumer> {
    let mut c = conn.client_config()?;
    c.set("group.id", group).set("enable.auto.commit", "false");
    c.create().context("cannot create the Kafka client")
}

/// Per (topic, partition): committed offset, log start, log end.
type Offsets = BTreeMap<(String, i32), (i64, i64, i64)>;

/// The group as DescribeConsumerGroups tells it (ConsumerGroupDescribe for a
/// KIP-848 group, DescribeGroups for a classic one); a refusal fails.
fn describe_one(conn: &Conn, group: &str) -> Result<Description> {
    let native = Native::new(conn)?;
    let mut d = tokio::task::block_in_place(|| native.describe_consumer_groups(&[group]))?;
    match d.pop() {
        Some(Description { error: Some(e), .. }) => bail!("{e} (group '{group}')"),
        Some(d) => Ok(d),
        None => bail!("DescribeConsumerGroups: no answer for group '{group}'"),
    }
}

/// The protocol type a group reports: "consumer", or none for a group that only commits offsets.
fn protocol_type(simple: bool) -> &'static str {
    if simple {
        ""
    } else {
        "consumer"
    }
}

/// One row of `group list`: a listed group with its members counted where it
/// could be described (`null`, and a warning, where it could not).
fn list(conn: &Conn) -> Result<Vec<Value>> {
    let native = Native::new(conn)?;
    let (mut listed, refused) = tokio::task::block_in_place(|| native.list_consumer_groups())?;
    // A broker that did not answer leaves the list incomplete: a failure, as kafka-consumer-groups has it.
    if let Some(r) = refused.first() {
        bail!("ListGroups: {r}");
    }
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    // Two brokers may both list a group moving between coordinators; librdkafka
    // refuses to describe a name twice.
    listed.dedup_by(|a, b| a.id == b.id);
    let names: Vec<&str> = listed.iter().map(|g| g.id.as_str()).collect();
    let described = tokio::task::block_in_place(|| native.describe_consumer_groups(&names))?;
    // librdkafka does not promise its answers in the order asked.
    let described: std::collections::HashMap<&str, _> = described.iter().map(|d| (d.id.as_str(), d)).collect();
    Ok(listed
        .iter()
        .map(|l| {
            let d = described.get(l.id.as_str()).copied();
            if let Some(e) = d.and_then(|d| d.error.as_ref()) {
                eprintln!("warning: group '{}' could not be described: {e}", l.id);
            }
            let d = d.filter(|d| d.error.is_none());
            // The description is the later look; the listing stands in where it failed.
            let (state, kind) = d.map_or((&l.state, &l.kind), |d| (&d.state, &d.kind));
            json!({"group": l.id, "state": state, "type": kind,
                "members": d.map(|d| d.members.len()), "protocol_type": protocol_type(l.simple)})
        })
        .collect())
}

/// (topic, partition) -> (committed, log start, end) for every partition the group has an offset in.
fn offsets(conn: &Conn, group: &str) -> Result<Offsets> {
    let c = consumer(conn, group)?;
    let timeout = conn.timeout();
    tokio::task::block_in_place(|| {
        let md = c.fetch_metadata(None, timeout).context("Metadata request failed")?;
        let mut all = TopicPartitionList::new();
        for t in md.topics() {
            for p in t.partitions() {
                all.add_partition(t.name(), p.id());
            }
        }
        let committed = c.committed_offsets(all, timeout).context("OffsetFetch failed")?;
        let mut out = BTreeMap::new();
        for e in committed.elements() {
            if let Offset::Offset(o) = e.offset() {
                let (low, high) =
                    c.fetch_watermarks(e.topic(), e.partition(), timeout).context("ListOffsets failed")?;
                out.insert((e.topic().to_string(), e.partition()), (o, low, high));
            }
        }
        Ok(out)
    })
}

pub async fn run(cmd: GroupCmd, conn: Conn) -> Result<()> {
    // librdkafka cannot make a consumer of the empty group id, and Kafka refuses it anyway.
    if let GroupCmd::Describe { group } | GroupCmd::ResetOffsets { group, .. } | GroupCmd::DeleteOffsets { group, .. } =
        &cmd
    {
        if group.is_empty() {
            bail!("INVALID_GROUP_ID: The group id is empty.");
        }
    }
    match cmd {
        GroupCmd::List => {
            let rows = list(&conn)?;
            match conn.format {
                Format::Json | Format::Yaml => print_json(conn.format, &Value::Array(rows)),
                Format::Table => print_table(
                    &["GROUP", "STATE", "TYPE", "MEMBERS", "PROTOCOL-TYPE"],
                    &rows
                        .iter()
                        .map(|g| {
                            ["group", "state", "type", "members", "protocol_type"]
                                .map(|k| match &g[k] {
                                    Value::String(s) => s.clone(),
                                    Value::Null => "-".into(),
                                    v => v.to_string(),
                                })
                                .to_vec()
                        })
                        .collect::<Vec<_>>(),
                ),
            }
            Ok(())
        }
        GroupCmd::Describe { group } => describe(&conn, &group),
        GroupCmd::ResetOffsets {
            group,
            scope: super::ResetScope { topic, all_topics, partition },
            to: super::ResetTo { to_earliest, to_latest, to_offset, to_datetime },
            shift_by,
            execute,
        } => {
            let target = match (to_earliest, to_latest, to_offset, shift_by, to_datetime) {
                (true, ..) => Target::Earliest,
                (_, true, ..) => Target::Latest,
                (_, _, Some(o), ..) => Target::Offset(o),
                (_, _, _, Some(n), _) => Target::Shift(n),
                (.., Some(t)) => Target::Time(super::time::parse_datetime(&t)?),
                _ => bail!("say where to: --to-earliest, --to-latest, --to-offset N, --shift-by N or --to-datetime T"),
            };
            let topics = match (topic, all_topics) {
                (Some(t), _) => vec![t],
                (None, _) => {
                    let mut ts: Vec<String> = offsets(&conn, &group)?.into_keys().map(|(t, _)| t).collect();
                    ts.dedup();
                    ts
                }
            };
            reset(&conn, &group, &topics, partition, target, execute)
        }
        GroupCmd::DeleteOffsets { group, topic, partition } => delete_offsets(&conn, &group, &topic, partition),
        GroupCmd::Delete { groups } => {
            let admin: AdminClient<DefaultClientContext> = conn.client_config()?.create()?;
            let names: Vec<&str> = groups.iter().map(String::as_str).collect();
            let opts = AdminOptions::new().operation_timeout(Some(conn.timeout()));
            let results = admin.delete_groups(&names, &opts).await.context("DeleteGroups failed")?;
            super::report(&conn, "group", results, "OK")
        }
    }
}

fn describe(conn: &Conn, group: &str) -> Result<()> {
    let g = describe_one(conn, group)?;
    if g.state == "Dead" {
        bail!("GROUP_ID_NOT_FOUND: group '{group}' does not exist");
    }
    let members = &g.members;
    let owner = |t: &str, p: i32| {
        members.iter().find(|m| m.assignment.iter().any(|(mt, ps)| mt == t && ps.contains(&p))).map(|m| m.id.clone())
    };
    let offsets = offsets(conn, group)?;
    match conn.format {
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &json!({
                "group": group, "state": g.state, "type": g.kind, "protocol": g.assignor,
                "protocol_type": protocol_type(g.simple),
                "members": members.iter().map(|m| json!({
                    "member_id": m.id, "client_id": m.client_id, "host": m.host,
                    "group_instance_id": m.instance_id,
                    "assignment": m.assignment.iter().map(|(t, ps)| json!({"topic": t, "partitions": ps}))
                        .collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "offsets": offsets.iter().map(|((t, p), (o, _, high))| json!({
                    "topic": t, "partition": p, "committed_offset": o, "log_end_offset": high,
                    "lag": (high - o).max(0), "member_id": owner(t, *p),
                })).collect::<Vec<_>>(),
            }),
        ),
        Format::Table => {
            out!("GROUP     {group}\nSTATE     {}\nTYPE      {}\nMEMBERS   {}\n", g.state, g.kind, members.len());
            let rows: Vec<Vec<String>> = offsets
                .iter()
                .map(|((t, p), (o, _, high))| {
                    let lag = (high - o).max(0).to_string();
                    vec![
                        t.clone(),
                        p.to_string(),
                        o.to_string(),
                        high.to_string(),
                        lag,
                        owner(t, *p).unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(&["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID"], &rows);
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Target {
    Earliest,
    Latest,
    Offset(i64),
    Shift(i64),
    /// Epoch milliseconds.
    Time(i64),
}

/// OffsetDelete of a topic's (or one partition's) committed offsets.
fn delete_offsets(conn: &Conn, group: &str, topic: &str, partition: Option<i32>) -> Result<()> {
    let native = Native::new(conn)?;
    let md = tokio::task::block_in_place(|| native.admin().inner().fetch_metadata(Some(topic), conn.timeout()))
        .context("Metadata request failed")?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic && t.error().is_none()) else {
        bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{topic}' does not exist");
    };
    let mut tpl = TopicPartitionList::new();
    for p in t.partitions().iter().map(|p| p.id()).filter(|p| partition.is_none_or(|want| want == *p)) {
        tpl.add_partition(topic, p);
    }
    let mut results = tokio::task::block_in_place(|| native.delete_group_offsets(group, &tpl))?;
    results.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let failed = results.iter().filter(|r| r.2.is_some()).count();
    match conn.format {
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &json!({
                "group": group,
                "partitions": results.iter().map(|(t, p, r)| json!({
                    "topic": t, "partition": p,
                    "error": r.as_ref().map(|r| json!({"code": r.code, "message": r.message})),
                })).collect::<Vec<_>>(),
            }),
        ),
        Format::Table => print_table(
            &["TOPIC", "PARTITION", "STATUS"],
            &results
                .iter()
                .map(|(t, p, r)| vec![t.clone(), p.to_string(), r.as_ref().map_or("deleted".into(), |r| r.to_string())])
                .collect::<Vec<_>>(),
        ),
    }
    if failed > 0 {
        bail!("{failed} of {} partitions kept their offsets", results.len());
    }
    Ok(())
}

/// A planned offset move: topic, partition, current committed offset, new offset.
type Move = (String, i32, Option<i64>, i64);

fn reset(conn: &Conn, group: &str, topics: &[String], partition: Option<i32>, to: Target, execute: bool) -> Result<()> {
    let g = describe_one(conn, group)?;
    if !g.members.is_empty() {
        bail!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
            g.state
        );
    }
    if topics.is_empty() {
        bail!("group '{group}' has no committed offsets to reset");
    }
    let c = consumer(conn, group)?;
    let timeout = conn.timeout();
    let plan = tokio::task::block_in_place(|| -> Result<Vec<Move>> {
        let mut plan = Vec::new();
        for topic in topics {
            let md = c.fetch_metadata(Some(topic), timeout).context("Metadata request failed")?;
            let Some(t) = md.topics().iter().find(|t| t.name() == topic && t.error().is_none()) else {
                bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{topic}' does not exist");
            };
            let mut tpl = TopicPartitionList::new();
            for p in t.partitions().iter().map(|p| p.id()).filter(|p| partition.is_none_or(|want| want == *p)) {
                tpl.add_partition(topic, p);
            }
            if tpl.count() == 0 {
                bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{topic}' has no partition {partition:?}");
            }
            let by_time = match to {
                Target::Time(ms) => {
                    let mut q = TopicPartitionList::new();
                    for e in tpl.elements() {
                        q.add_partition_offset(topic, e.partition(), Offset::Offset(ms)).context("bad timestamp")?;
                    }
                    Some(c.offsets_for_times(q, timeout).context("ListOffsets (by timestamp) failed")?)
                }
                _ => None,
            };
            let committed = c.committed_offsets(tpl, timeout).context("OffsetFetch failed")?;
            for e in committed.elements() {
                let current = match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                };
                let (low, high) = c.fetch_watermarks(topic, e.partition(), timeout).context("ListOffsets failed")?;
                let new = match to {
                    Target::Earliest => low,
                    Target::Latest => high,
                    Target::Offset(o) => o,
                    Target::Shift(n) => current.unwrap_or(low).saturating_add(n),
                    // No record at or after the time: the end, as kafka-consumer-groups does.
                    Target::Time(_) => match by_time.as_ref().and_then(|l| l.find_partition(topic, e.partition())) {
                        Some(f) => match f.offset() {
                            Offset::Offset(o) if o >= 0 => o,
                            _ => high,
                        },
                        None => high,
                    },
                }
                .clamp(low, high);
                plan.push((topic.clone(), e.partition(), current, new));
            }
        }
        Ok(plan)
    })?;
    if execute {
        let mut tpl = TopicPartitionList::new();
        for (t, p, _, new) in &plan {
            tpl.add_partition_offset(t, *p, Offset::Offset(*new)).context("bad offset")?;
        }
        tokio::task::block_in_place(|| c.commit(&tpl, CommitMode::Sync)).map_err(|e| match e.rdkafka_error_code() {
            Some(code) => {
                anyhow::anyhow!("{}: {} (OffsetCommit of group '{group}')", error_name(code), error_message(code))
            }
            None => anyhow::anyhow!("OffsetCommit of group '{group}' failed: {e}"),
        })?;
    }
    match conn.format {
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &json!({
                "group": group, "executed": execute,
                "partitions": plan.iter().map(|(t, p, cur, new)| json!({
                    "topic": t, "partition": p, "current_offset": cur, "new_offset": new,
                })).collect::<Vec<_>>(),
            }),
        ),
        Format::Table => {
            let rows: Vec<Vec<String>> = plan
                .iter()
                .map(|(t, p, cur, new)| {
                    let cur = cur.map_or("-".to_string(), |c| c.to_string());
                    vec![t.clone(), p.to_string(), cur, new.to_string()]
                })
                .collect();
            print_table(&["TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"], &rows);
            if !execute {
                eprintln!("(dry run: nothing changed; add --execute to commit these offsets)");
            }
        }
    }
    Ok(())
}
