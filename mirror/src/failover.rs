//! `weir mirror failover`: moves the users of a preserve-mode flow from its
//! source to its target. Every mirror topic the flow made on the target (topic
//! config `weir.mirror.source = SOURCE:TOPIC`) is promoted, which stops its
//! copy at a consistent point (see `promote`); then each source consumer
//! group that passes the flow's group filter gets its committed offsets on the
//! promoted topics copied verbatim to the same group on the target (offsets
//! are the source's in preserve mode), bounded by what the target holds. A
//! group with members on the target is left alone and reported: committing
//! under a running group would fight its own commits.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{ClientKind, Flow, MirrorConfig};
use crate::error::MirrorError;
use crate::live::{FilterReader, Kind};
use crate::promote::{promote, MIRROR_SOURCE};

const TIMEOUT: Duration = Duration::from_secs(30);

fn kafka(what: &str, e: impl std::fmt::Display) -> MirrorError {
    MirrorError::Kafka { what: what.to_string(), why: e.to_string() }
}

/// What a failover did.
#[derive(Debug, Default)]
pub struct Failover {
    /// (remote topic, what it mirrored: SOURCE:TOPIC) promoted.
    pub promoted: Vec<(String, String)>,
    /// (group, partitions whose offsets were copied).
    pub groups: Vec<(String, usize)>,
    /// Groups not moved, with why.
    pub skipped: Vec<(String, String)>,
}

fn consumer(cfg: &MirrorConfig, flow: &Flow, alias: &str, group: &str) -> Result<BaseConsumer, MirrorError> {
    let mut rd = rdkafka::config::ClientConfig::new();
    for (k, v) in cfg.client(flow, alias, ClientKind::Consumer) {
        rd.set(k, v);
    }
    rd.set("group.id", group);
    rd.set("client.id", format!("{}|failover", flow.name()));
    rd.create().map_err(|e| kafka(alias, e))
}

/// The flow's mirror topics on the target: remote topic -> source topic.
fn mirror_topics(cfg: &MirrorConfig, flow: &Flow) -> Result<BTreeMap<String, String>, MirrorError> {
    let target = consumer(cfg, flow, &flow.target, "__weir-mirror.failover")?;
    let md = target.fetch_metadata(None, TIMEOUT).map_err(|e| kafka(&flow.target, e))?;
    let names: Vec<String> = md.topics().iter().map(|t| t.name().to_string()).collect();
    let mut rd = rdkafka::config::ClientConfig::new();
    for (k, v) in cfg.client(flow, &flow.target, ClientKind::Admin) {
        rd.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = rd.create().map_err(|e| kafka("admin client", e))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| kafka("runtime", e))?;
    let resources: Vec<ResourceSpecifier<'_>> = names.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let opts = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let described = rt.block_on(admin.describe_configs(&resources, &opts)).map_err(|e| kafka(&flow.target, e))?;
    let prefix = format!("{}:", flow.source);
    let mut out = BTreeMap::new();
    for (name, r) in names.into_iter().zip(described) {
        let Ok(r) = r else { continue };
        let marker = r.get(MIRROR_SOURCE).and_then(|e| e.value.clone()).unwrap_or_default();
        if let Some(source_topic) = marker.strip_prefix(&prefix) {
            out.insert(name, source_topic.to_string());
        }
    }
    Ok(out)
}

/// Promotes the flow's mirror topics and moves its groups' offsets over.
pub fn failover(cfg: &MirrorConfig, flow: &Flow) -> Result<Failover, MirrorError> {
    let mut report = Failover::default();
    let topics = mirror_topics(cfg, flow)?;
    let admin_client = cfg.client(flow, &flow.target, ClientKind::Admin);
    for (remote, source) in &topics {
        let was = promote(&admin_client, remote)?;
        tracing::info!(flow = %flow.name(), topic = %remote, source_topic = %source, "promoted");
        report.promoted.push((remote.clone(), was));
    }
    if topics.is_empty() {
        return Ok(report);
    }
    let groups = FilterReader::new(cfg, flow)?.current.apply(&flow.groups, Kind::Groups)?;
    let lister = consumer(cfg, flow, &flow.source, "__weir-mirror.failover")?;
    let listed = lister.fetch_group_list(None, TIMEOUT).map_err(|e| kafka(&format!("groups of {}", flow.source), e))?;
    let names: Vec<String> = listed
        .groups()
        .iter()
        .map(|g| g.name().to_string())
        .filter(|g| groups.matches(g) && !g.starts_with("__weir-mirror"))
        .collect();
    // Partition counts on the target, and each remote partition's end.
    let target = consumer(cfg, flow, &flow.target, "__weir-mirror.failover")?;
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut wanted = TopicPartitionList::new();
    for (remote, source) in &topics {
        let md = target.fetch_metadata(Some(remote), TIMEOUT).map_err(|e| kafka(remote, e))?;
        for p in md.topics().first().map(|t| t.partitions()).unwrap_or_default() {
            let (_, high) = target.fetch_watermarks(remote, p.id(), TIMEOUT).map_err(|e| kafka(remote, e))?;
            ends.insert((remote.clone(), p.id()), high);
            wanted.add_partition(source, p.id());
        }
    }
    for group in names {
        let on_source = consumer(cfg, flow, &flow.source, &group)?;
        let committed = on_source.committed_offsets(wanted.clone(), TIMEOUT).map_err(|e| kafka(&group, e))?;
        let on_target = consumer(cfg, flow, &flow.target, &group)?;
        let state = on_target.fetch_group_list(Some(&group), TIMEOUT).map_err(|e| kafka(&group, e))?;
        if state.groups().iter().any(|g| g.name() == group && !matches!(g.state(), "Empty" | "Dead" | "")) {
            report.skipped.push((group, format!("it has members on {}", flow.target)));
            continue;
        }
        let mut commit = TopicPartitionList::new();
        for e in committed.elements() {
            let Offset::Offset(o) = e.offset() else { continue };
            let Some((remote, _)) = topics.iter().find(|(_, s)| s.as_str() == e.topic()) else { continue };
            let end = ends.get(&(remote.clone(), e.partition())).copied().unwrap_or(0);
            if o > end {
                tracing::warn!(group = %group, topic = %remote, partition = e.partition(), committed = o, end, "the group read past what was mirrored; placed at the mirrored end");
            }
            commit
                .add_partition_offset(remote, e.partition(), Offset::Offset(o.min(end)))
                .map_err(|e| kafka(&group, e))?;
        }
        if commit.count() == 0 {
            continue;
        }
        on_target.commit(&commit, CommitMode::Sync).map_err(|e| kafka(&group, e))?;
        report.groups.push((group, commit.count()));
    }
    Ok(report)
}
