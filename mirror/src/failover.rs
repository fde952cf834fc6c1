//! `weir mirror failover`: moves the users of a preserve-mode flow from its
//! source to its target. Every mirror topic the flow made on the target (topic
//! config `weir.mirror.source = SOURCE:TOPIC`) is promoted, which stops its
//! copy at a consistent point (see `promote`); then each source consumer
//! group that passes the flow's group filter gets its committed offsets on the
//! promoted topics copied verbatim to the same group on the target (offsets
//! are the source's in preserve mode), bounded by what the target holds. When
//! the source does not answer (the usual reason to fail over), the offsets
//! come from the last checkpoints the flow wrote to the target instead. A
//! group with members on the target is left alone and reported: committing
//! under a running group would fight its own commits.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{ClientKind, Flow, MirrorConfig};
use crate::error::kafka;
use crate::error::MirrorError;
use crate::flow::rd_config;
use crate::formats::Checkpoint;
use crate::live::{FilterReader, Kind};
use crate::promote::{promote, MIRROR_PROMOTED, MIRROR_SOURCE};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What a failover did.
#[derive(Debug, Default)]
pub struct Failover {
    /// (remote topic, what it mirrored: SOURCE:TOPIC) promoted.
    pub promoted: Vec<(String, String)>,
    /// Remote topics an earlier failover (or `promote`) had promoted: their
    /// groups are moved all the same.
    pub already_promoted: Vec<String>,
    /// (group, partitions whose offsets were copied).
    pub groups: Vec<(String, usize)>,
    /// Groups not moved, with why.
    pub skipped: Vec<(String, String)>,
    /// Why the source could not be asked, when the offsets came from the
    /// checkpoints instead.
    pub source_error: Option<String>,
}

fn consumer(cfg: &MirrorConfig, flow: &Flow, alias: &str, group: &str) -> Result<BaseConsumer, MirrorError> {
    let mut c = cfg.client(flow, alias, ClientKind::Consumer);
    c.insert("group.id".into(), group.to_string());
    rd_config(&c, &format!("{}|failover", flow.name())).create().map_err(|e| kafka(alias, e))
}

/// One of the flow's topics on the target.
struct Remote {
    source_topic: String,
    /// Promoted by an earlier (interrupted) failover or by hand.
    promoted: bool,
}

/// The flow's mirror topics on the target, and those promoted from it:
/// remote topic -> what it mirrors.
fn mirror_topics(cfg: &MirrorConfig, flow: &Flow) -> Result<BTreeMap<String, Remote>, MirrorError> {
    let target = consumer(cfg, flow, &flow.target, "__weir-mirror.failover")?;
    let md = target.fetch_metadata(None, TIMEOUT).map_err(|e| kafka(&flow.target, e))?;
    let names: Vec<String> = md.topics().iter().map(|t| t.name().to_string()).collect();
    let admin: AdminClient<DefaultClientContext> =
        rd_config(&cfg.client(flow, &flow.target, ClientKind::Admin), &format!("{}|failover", flow.name()))
            .create()
            .map_err(|e| kafka("admin client", e))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| kafka("runtime", e))?;
    let resources: Vec<ResourceSpecifier<'_>> = names.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let opts = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let described = rt.block_on(admin.describe_configs(&resources, &opts)).map_err(|e| kafka(&flow.target, e))?;
    let prefix = format!("{}:", flow.source);
    let mut out = BTreeMap::new();
    for (name, r) in names.into_iter().zip(described) {
        let r = r.map_err(|e| kafka(&format!("configs of {name}"), e))?;
        let value = |key: &str| r.get(key).and_then(|e| e.value.clone()).unwrap_or_default();
        let (marker, was) = (value(MIRROR_SOURCE), value(MIRROR_PROMOTED));
        if let Some(t) = marker.strip_prefix(&prefix) {
            out.insert(name, Remote { source_topic: t.to_string(), promoted: false });
        } else if let Some(t) = was.strip_prefix(&prefix) {
            out.insert(name, Remote { source_topic: t.to_string(), promoted: true });
        }
    }
    Ok(out)
}

/// Group -> (source topic, partition, committed offset).
type GroupOffsets = BTreeMap<String, Vec<(String, i32, i64)>>;

/// How long the source gets to answer: a failover is often run because it is gone.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(10);

/// The committed offsets on `topics` (remote -> source topic) of the source's
/// groups that pass `groups`, read from the source.
fn source_offsets(
    cfg: &MirrorConfig,
    flow: &Flow,
    groups: &crate::filter::Filter,
    topics: &BTreeMap<String, String>,
    partitions: &BTreeMap<String, i32>,
) -> Result<GroupOffsets, MirrorError> {
    let lister = consumer(cfg, flow, &flow.source, "__weir-mirror.failover")?;
    let listed =
        lister.fetch_group_list(None, SOURCE_TIMEOUT).map_err(|e| kafka(&format!("groups of {}", flow.source), e))?;
    let mut wanted = TopicPartitionList::new();
    for (remote, source) in topics {
        for p in 0..partitions.get(remote).copied().unwrap_or(0) {
            wanted.add_partition(source, p);
        }
    }
    let mut out = GroupOffsets::new();
    for g in listed.groups().iter().map(|g| g.name()).filter(|g| groups.matches(g) && !g.starts_with("__weir-mirror")) {
        let c = consumer(cfg, flow, &flow.source, g)?;
        let committed = c.committed_offsets(wanted.clone(), SOURCE_TIMEOUT).map_err(|e| kafka(g, e))?;
        let offsets: Vec<(String, i32, i64)> = committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.topic().to_string(), e.partition(), o)),
                _ => None,
            })
            .collect();
        out.insert(g.to_string(), offsets);
    }
    Ok(out)
}

/// The same, from the last checkpoints the flow wrote to the target (the
/// source unreachable): in preserve mode a checkpoint's upstream offset is
/// the group's offset on both sides.
fn checkpoint_offsets(
    cfg: &MirrorConfig,
    flow: &Flow,
    groups: &crate::filter::Filter,
    topics: &BTreeMap<String, String>,
) -> Result<GroupOffsets, MirrorError> {
    let topic = flow.policy.checkpoints_topic(&flow.source);
    let c = consumer(cfg, flow, &flow.target, "__weir-mirror.failover")?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning).map_err(|e| kafka(&topic, e))?;
    c.assign(&tpl).map_err(|e| kafka(&topic, e))?;
    let (_, end) = c.fetch_watermarks(&topic, 0, TIMEOUT).map_err(|e| kafka(&topic, e))?;
    let mut latest: BTreeMap<(String, String, i32), i64> = BTreeMap::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut position = 0;
    while position < end {
        if std::time::Instant::now() > deadline {
            return Err(kafka(&topic, format!("read {position} of {end} checkpoint records")));
        }
        let Some(m) = c.poll(Duration::from_millis(100)) else { continue };
        let m = m.map_err(|e| kafka(&topic, e))?;
        position = m.offset() + 1;
        let (Some(k), Some(v)) = (m.key(), m.payload()) else { continue };
        match Checkpoint::decode(k, v) {
            Ok(cp) if groups.matches(&cp.group) && topics.contains_key(&cp.topic) => {
                latest.insert((cp.group, cp.topic, cp.partition), cp.upstream_offset);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(offset = m.offset(), error = %e, "checkpoint record skipped"),
        }
    }
    let mut out = GroupOffsets::new();
    for ((group, remote, partition), offset) in latest {
        out.entry(group).or_default().push((topics[&remote].clone(), partition, offset));
    }
    Ok(out)
}

/// Promotes the flow's mirror topics and moves its groups' offsets over: read
/// from the source, or, when it does not answer, from the flow's checkpoints.
/// Topics an interrupted earlier run promoted are included, so it can be run
/// again.
pub fn failover(cfg: &MirrorConfig, flow: &Flow) -> Result<Failover, MirrorError> {
    let mut report = Failover::default();
    let remotes = mirror_topics(cfg, flow)?;
    if remotes.is_empty() {
        return Ok(report);
    }
    let groups = FilterReader::new(cfg, flow)?.current.apply(&flow.groups, Kind::Groups)?;
    let admin_client = cfg.client(flow, &flow.target, ClientKind::Admin);
    let target = consumer(cfg, flow, &flow.target, "__weir-mirror.failover")?;
    // Each remote partition's end, read right after its promotion (producers
    // may write from then on): no group is placed past it.
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut partitions: BTreeMap<String, i32> = BTreeMap::new();
    for (remote, r) in &remotes {
        if r.promoted {
            report.already_promoted.push(remote.clone());
        } else {
            let was = promote(&admin_client, remote)?;
            tracing::info!(flow = %flow.name(), topic = %remote, source_topic = %r.source_topic, "promoted");
            report.promoted.push((remote.clone(), was));
        }
        let md = target.fetch_metadata(Some(remote), TIMEOUT).map_err(|e| kafka(remote, e))?;
        for p in md.topics().first().map(|t| t.partitions()).unwrap_or_default() {
            let (_, high) = target.fetch_watermarks(remote, p.id(), TIMEOUT).map_err(|e| kafka(remote, e))?;
            ends.insert((remote.clone(), p.id()), high);
            *partitions.entry(remote.clone()).or_default() += 1;
        }
    }
    let topics: BTreeMap<String, String> = remotes.into_iter().map(|(k, r)| (k, r.source_topic)).collect();
    let offsets = match source_offsets(cfg, flow, &groups, &topics, &partitions) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(flow = %flow.name(), error = %e, "source unreachable; group offsets from the flow's checkpoints");
            report.source_error = Some(e.to_string());
            checkpoint_offsets(cfg, flow, &groups, &topics)?
        }
    };
    for (group, committed) in offsets {
        let on_target = consumer(cfg, flow, &flow.target, &group)?;
        let state = on_target.fetch_group_list(Some(&group), TIMEOUT).map_err(|e| kafka(&group, e))?;
        if state.groups().iter().any(|g| g.name() == group && !matches!(g.state(), "Empty" | "Dead" | "")) {
            report.skipped.push((group, format!("it has members on {}", flow.target)));
            continue;
        }
        let mut commit = TopicPartitionList::new();
        for (source, partition, o) in committed {
            let Some((remote, _)) = topics.iter().find(|(_, s)| **s == source) else { continue };
            let end = ends.get(&(remote.clone(), partition)).copied().unwrap_or(0);
            if o > end {
                tracing::warn!(group = %group, topic = %remote, partition, committed = o, end, "the group read past what was mirrored; placed at the mirrored end");
            }
            commit.add_partition_offset(remote, partition, Offset::Offset(o.min(end))).map_err(|e| kafka(&group, e))?;
        }
        if commit.count() == 0 {
            continue;
        }
        on_target.commit(&commit, CommitMode::Sync).map_err(|e| kafka(&group, e))?;
        report.groups.push((group, commit.count()));
    }
    Ok(report)
}
