//! `weir share-group list|describe|reset-offsets|delete-offsets|delete`, the
//! operations of Kafka's kafka-share-groups.sh, on any cluster serving KIP-932:
//! list asks every broker ListGroups for type `share`; describe shows the
//! group's state, epoch and members with their assignments (ShareGroupDescribe)
//! and, per share-partition, its start offset (DescribeShareGroupOffsets), the
//! log end and the lag between them; reset-offsets prints the plan (a dry run)
//! unless `--execute`, which sends AlterShareGroupOffsets (the broker refuses a
//! group with members, as Kafka's does); delete-offsets forgets the group's
//! state of whole topics (DeleteShareGroupOffsets); delete is DeleteGroups.
//!
//! librdkafka 2.12's admin API has no share-group calls, so those go through
//! [`super::wire`]; log offsets are read through librdkafka as elsewhere.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Subcommand};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use super::wire::Cluster;
use super::{kafka_error_name, print_json, print_table, Conn, Format};

#[derive(Subcommand, Debug)]
pub enum ShareGroupCmd {
    /// List share groups with their state.  e.g. weir share-group list --format json
    List,
    /// A share group's members and, per share-partition, its start offset, the end offset and the lag.
    Describe { group: String },
    /// Set where a share group without members starts reading (a dry run unless --execute).
    /// e.g. weir share-group reset-offsets jobs --topic orders --to-earliest --execute
    #[command(group(ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_offset", "to_datetime"])))]
    #[command(group(ArgGroup::new("which").required(true).args(["topic", "all_topics"])))]
    ResetOffsets {
        group: String,
        #[command(flatten)]
        scope: super::ResetScope,
        #[command(flatten)]
        to: super::ResetTo,
        /// Set the new start offsets (without it, only the plan is printed)
        #[arg(long)]
        execute: bool,
    },
    /// Forget a share group's state of topics (their next fetch starts by share.auto.offset.reset).
    /// e.g. weir share-group delete-offsets jobs --topic orders
    DeleteOffsets {
        group: String,
        #[arg(long, required = true)]
        topic: Vec<String>,
    },
    /// Delete share groups (they must have no members).
    Delete {
        #[arg(required = true)]
        groups: Vec<String>,
    },
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn message(m: &Option<StrBytes>) -> &str {
    m.as_ref().map_or("", |m| m.as_str())
}

/// An error code as a failure naming it (0: fine).
fn check(code: i16, msg: &Option<StrBytes>, what: &str) -> Result<()> {
    if code != 0 {
        bail!("{}: {} ({what})", kafka_error_name(code), message(msg));
    }
    Ok(())
}

pub async fn run(cmd: ShareGroupCmd, conn: Conn) -> Result<()> {
    if let ShareGroupCmd::Describe { group }
    | ShareGroupCmd::ResetOffsets { group, .. }
    | ShareGroupCmd::DeleteOffsets { group, .. } = &cmd
    {
        if group.is_empty() {
            bail!("INVALID_GROUP_ID: The group id is empty.");
        }
    }
    match cmd {
        ShareGroupCmd::List => list(&conn).await,
        ShareGroupCmd::Describe { group } => describe(&conn, &group).await,
        ShareGroupCmd::ResetOffsets {
            group,
            scope: super::ResetScope { topic, all_topics: _, partition },
            to: super::ResetTo { to_earliest, to_latest, to_offset, to_datetime },
            execute,
        } => {
            let target = match (to_earliest, to_latest, to_offset, to_datetime) {
                (true, ..) => Target::Earliest,
                (_, true, ..) => Target::Latest,
                (_, _, Some(o), _) => Target::Offset(o),
                (.., Some(t)) => Target::Time(super::time::parse_datetime(&t)?),
                _ => bail!("say where to: --to-earliest, --to-latest, --to-offset N or --to-datetime T"),
            };
            reset(&conn, &group, topic, partition, target, execute).await
        }
        ShareGroupCmd::DeleteOffsets { group, topic } => delete_offsets(&conn, &group, &topic).await,
        ShareGroupCmd::Delete { groups } => delete(&conn, &groups).await,
    }
}

/// DeleteGroups of the names that are share groups; any other name is refused
/// without being deleted, as kafka-share-groups.sh refuses it.
async fn delete(conn: &Conn, groups: &[String]) -> Result<()> {
    let share = share_groups(&mut Cluster::connect(conn).await?).await?;
    // librdkafka refuses a request naming a group twice.
    let mut seen = std::collections::HashSet::new();
    let (ours, others): (Vec<&String>, Vec<&String>) =
        groups.iter().filter(|g| seen.insert(g.as_str())).partition(|g| share.contains_key(*g));
    let mut rows: Vec<(String, Option<(String, String)>)> = others
        .into_iter()
        .map(|g| (g.clone(), Some(("GROUP_ID_NOT_FOUND".into(), format!("Group '{g}' is not a share group.")))))
        .collect();
    if !ours.is_empty() {
        let admin: AdminClient<DefaultClientContext> = conn.client_config()?.create()?;
        let names: Vec<&str> = ours.iter().map(|g| g.as_str()).collect();
        let opts = AdminOptions::new().operation_timeout(Some(conn.timeout()));
        let results = admin.delete_groups(&names, &opts).await.context("DeleteGroups failed")?;
        rows.extend(results.into_iter().map(|r| match r {
            Ok(g) => (g, None),
            Err((g, code)) => (g, Some((super::error_name(code), super::error_message(code)))),
        }));
    }
    // In the order asked.
    rows.sort_by_key(|(g, _)| groups.iter().position(|x| x == g));
    super::report_rows(conn, "group", rows, "OK")
}

/// Every share group by id, with its state: ListGroups of type `share` on each broker.
async fn share_groups(cluster: &mut Cluster) -> Result<BTreeMap<String, String>> {
    let mut groups: BTreeMap<String, String> = BTreeMap::new();
    for (_, addr) in cluster.brokers().await? {
        let mut w = cluster.open(&addr).await?;
        let req = ListGroupsRequest::default().with_types_filter(vec![sb("share")]);
        let r: ListGroupsResponse = w.call(ApiKey::ListGroups, 5, &req).await?;
        check(r.error_code, &None, &format!("ListGroups at {addr}"))?;
        for g in r.groups.into_iter().filter(|g| g.group_type.as_str() == "share") {
            groups.insert(g.group_id.0.to_string(), g.group_state.to_string());
        }
    }
    Ok(groups)
}

async fn list(conn: &Conn) -> Result<()> {
    let groups = share_groups(&mut Cluster::connect(conn).await?).await?;
    let rows: Vec<Value> = groups.iter().map(|(g, s)| json!({"group": g, "state": s})).collect();
    match conn.format {
        Format::Json | Format::Yaml => print_json(conn.format, &Value::Array(rows)),
        Format::Table => {
            print_table(&["GROUP", "STATE"], &groups.into_iter().map(|(g, s)| vec![g, s]).collect::<Vec<_>>())
        }
    }
    Ok(())
}

/// (topic, partition) -> start offset, of every share-partition the group has state for.
async fn starts(cluster: &mut Cluster, group: &str) -> Result<BTreeMap<(String, i32), i64>> {
    let req = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(None),
    ]);
    let r: DescribeShareGroupOffsetsResponse = cluster
        .group_call(group, ApiKey::DescribeShareGroupOffsets, 0, &req, |r: &DescribeShareGroupOffsetsResponse| {
            r.groups.first().map_or(0, |g| g.error_code)
        })
        .await?;
    let g = r.groups.first().context("DescribeShareGroupOffsets: no answer for the group")?;
    check(g.error_code, &g.error_message, &format!("group '{group}'"))?;
    let mut out = BTreeMap::new();
    for t in &g.topics {
        for p in &t.partitions {
            check(p.error_code, &p.error_message, &format!("{}-{}", t.topic_name.as_str(), p.partition_index))?;
            if p.start_offset >= 0 {
                out.insert((t.topic_name.to_string(), p.partition_index), p.start_offset);
            }
        }
    }
    Ok(out)
}

fn consumer(conn: &Conn) -> Result<BaseConsumer> {
    conn.client_config()?.create().context("cannot create the Kafka client")
}

async fn describe(conn: &Conn, group: &str) -> Result<()> {
    let mut cluster = Cluster::connect(conn).await?;
    let req = ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(group))]);
    let r: ShareGroupDescribeResponse = cluster
        .group_call(group, ApiKey::ShareGroupDescribe, 1, &req, |r: &ShareGroupDescribeResponse| {
            r.groups.first().map_or(0, |g| g.error_code)
        })
        .await?;
    let g = r.groups.first().context("ShareGroupDescribe: no answer for the group")?;
    check(g.error_code, &g.error_message, &format!("group '{group}'"))?;
    let starts = starts(&mut cluster, group).await?;
    let c = consumer(conn)?;
    let timeout = conn.timeout();
    let marks: Vec<(i64, i64)> = tokio::task::block_in_place(|| {
        starts
            .keys()
            .map(|(t, p)| c.fetch_watermarks(t, *p, timeout).context("ListOffsets failed"))
            .collect::<Result<_>>()
    })?;
    // Lag: from the start (records retention removed are not left to deliver) to the end.
    let offsets: Vec<(&(String, i32), i64, i64, i64)> = starts
        .iter()
        .zip(marks)
        .map(|((tp, start), (low, end))| (tp, *start, end, (end - (*start).max(low)).max(0)))
        .collect();
    let assignment = |m: &share_group_describe_response::Member| -> Vec<(String, Vec<i32>)> {
        m.assignment.topic_partitions.iter().map(|t| (t.topic_name.to_string(), t.partitions.clone())).collect()
    };
    match conn.format {
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &json!({
                "group": group, "state": g.group_state.as_str(), "group_epoch": g.group_epoch,
                "assignor": g.assignor_name.as_str(),
                "members": g.members.iter().map(|m| json!({
                    "member_id": m.member_id.as_str(), "member_epoch": m.member_epoch,
                    "client_id": m.client_id.as_str(), "host": m.client_host.as_str(),
                    "assignment": assignment(m).into_iter().map(|(t, ps)| json!({"topic": t, "partitions": ps}))
                        .collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "offsets": offsets.iter().map(|((t, p), start, end, lag)| json!({
                    "topic": t, "partition": p, "start_offset": start, "log_end_offset": end, "lag": lag,
                })).collect::<Vec<_>>(),
            }),
        ),
        Format::Table => {
            out!(
                "GROUP     {group}\nSTATE     {}\nEPOCH     {}\nMEMBERS   {}\n",
                g.group_state.as_str(),
                g.group_epoch,
                g.members.len()
            );
            let rows: Vec<Vec<String>> = offsets
                .iter()
                .map(|((t, p), start, end, lag)| {
                    vec![t.clone(), p.to_string(), start.to_string(), end.to_string(), lag.to_string()]
                })
                .collect();
            print_table(&["TOPIC", "PARTITION", "START-OFFSET", "LOG-END-OFFSET", "LAG"], &rows);
            if !g.members.is_empty() {
                out!("");
                let rows: Vec<Vec<String>> = g
                    .members
                    .iter()
                    .map(|m| {
                        let parts: Vec<String> = assignment(m)
                            .into_iter()
                            .map(|(t, ps)| {
                                let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
                                format!("{t}:{}", ps.join(","))
                            })
                            .collect();
                        vec![
                            m.member_id.to_string(),
                            m.client_id.to_string(),
                            m.client_host.to_string(),
                            parts.join(" "),
                        ]
                    })
                    .collect();
                print_table(&["MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"], &rows);
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Target {
    Earliest,
    Latest,
    Offset(i64),
    /// Epoch milliseconds.
    Time(i64),
}

/// The partitions to move: those of `topic` (or only `partition`), else every
/// one the group has state for.
async fn reset(
    conn: &Conn,
    group: &str,
    topic: Option<String>,
    partition: Option<i32>,
    to: Target,
    execute: bool,
) -> Result<()> {
    let mut cluster = Cluster::connect(conn).await?;
    let c = consumer(conn)?;
    let timeout = conn.timeout();
    let partitions: Vec<(String, i32)> = match topic {
        Some(t) => {
            let md = tokio::task::block_in_place(|| c.fetch_metadata(Some(&t), timeout)).context("Metadata failed")?;
            let Some(mt) = md.topics().iter().find(|x| x.name() == t && x.error().is_none()) else {
                bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{t}' does not exist");
            };
            let all: Vec<i32> = mt.partitions().iter().map(|p| p.id()).collect();
            match partition {
                Some(p) if !all.contains(&p) => bail!("UNKNOWN_TOPIC_OR_PARTITION: {t} has no partition {p}"),
                Some(p) => vec![(t, p)],
                None => all.into_iter().map(|p| (t.clone(), p)).collect(),
            }
        }
        None => {
            starts(&mut cluster, group).await?.into_keys().filter(|(_, p)| partition.is_none_or(|q| q == *p)).collect()
        }
    };
    let plan: Vec<((String, i32), i64)> = tokio::task::block_in_place(|| -> Result<_> {
        let by_time = match to {
            Target::Time(ms) => {
                let mut q = TopicPartitionList::new();
                for (t, p) in &partitions {
                    q.add_partition_offset(t, *p, Offset::Offset(ms))?;
                }
                Some(c.offsets_for_times(q, timeout).context("ListOffsets (by timestamp) failed")?)
            }
            _ => None,
        };
        partitions
            .iter()
            .map(|(t, p)| {
                let (low, high) = c.fetch_watermarks(t, *p, timeout).context("ListOffsets failed")?;
                let offset = match to {
                    Target::Earliest => low,
                    Target::Latest => high,
                    // Not clamp: the two marks are read apart and may cross.
                    Target::Offset(o) => o.max(low).min(high),
                    Target::Time(_) => match by_time.as_ref().and_then(|l| l.find_partition(t, *p)).map(|e| e.offset())
                    {
                        Some(Offset::Offset(o)) => o,
                        _ => high,
                    },
                };
                Ok(((t.clone(), *p), offset))
            })
            .collect()
    })?;
    if plan.is_empty() {
        bail!("group '{group}' has no share-partitions to reset (name a topic with --topic)");
    }
    if execute {
        let mut topics: BTreeMap<&str, Vec<alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition>> =
            BTreeMap::new();
        for ((t, p), o) in &plan {
            topics.entry(t.as_str()).or_default().push(
                alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
                    .with_partition_index(*p)
                    .with_start_offset(*o),
            );
        }
        let req = AlterShareGroupOffsetsRequest::default().with_group_id(GroupId(sb(group))).with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(TopicName(sb(t)))
                        .with_partitions(ps)
                })
                .collect(),
        );
        let r: AlterShareGroupOffsetsResponse = cluster
            .group_call(group, ApiKey::AlterShareGroupOffsets, 0, &req, |r: &AlterShareGroupOffsetsResponse| {
                r.error_code
            })
            .await?;
        check(r.error_code, &r.error_message, &format!("group '{group}'"))?;
        for t in &r.responses {
            for p in &t.partitions {
                check(p.error_code, &p.error_message, &format!("{}-{}", t.topic_name.as_str(), p.partition_index))?;
            }
        }
    }
    match conn.format {
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &Value::Array(
                plan.iter()
                    .map(|((t, p), o)| json!({"group": group, "topic": t, "partition": p, "new_start_offset": o}))
                    .collect(),
            ),
        ),
        Format::Table => print_table(
            &["GROUP", "TOPIC", "PARTITION", "NEW-START-OFFSET"],
            &plan
                .iter()
                .map(|((t, p), o)| vec![group.to_string(), t.clone(), p.to_string(), o.to_string()])
                .collect::<Vec<_>>(),
        ),
    }
    if !execute {
        eprintln!("dry run: nothing changed (add --execute)");
    }
    Ok(())
}

async fn delete_offsets(conn: &Conn, group: &str, topics: &[String]) -> Result<()> {
    let mut cluster = Cluster::connect(conn).await?;
    let req = DeleteShareGroupOffsetsRequest::default().with_group_id(GroupId(sb(group))).with_topics(
        topics
            .iter()
            .map(|t| {
                delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(TopicName(sb(t)))
            })
            .collect(),
    );
    let r: DeleteShareGroupOffsetsResponse = cluster
        .group_call(group, ApiKey::DeleteShareGroupOffsets, 0, &req, |r: &DeleteShareGroupOffsetsResponse| r.error_code)
        .await?;
    check(r.error_code, &r.error_message, &format!("group '{group}'"))?;
    let rows: Vec<(String, Option<(String, String)>)> = r
        .responses
        .iter()
        .map(|t| {
            let e =
                (t.error_code != 0).then(|| (kafka_error_name(t.error_code), message(&t.error_message).to_string()));
            (t.topic_name.to_string(), e)
        })
        .collect();
    super::report_rows(conn, "topic", rows, "OK")
}
