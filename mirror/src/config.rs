//! A MirrorMaker 2 properties file, read as MM2 reads it, so an MM2 user moves
//! over with the same file.
//!
//! `clusters` lists the aliases; `{alias}.bootstrap.servers` and other
//! `{alias}.*` keys configure the clients of that cluster; `A->B.enabled=true`
//! turns a flow on; any flow setting may be given at top level or as `A->B.<key>`
//! (the flow's wins). Client settings resolve as in MM2's `MirrorMakerConfig`:
//! for a consumer of cluster A in flow A->B, the top-level and `A.` client keys
//! (`bootstrap.servers`, `security.protocol`, `ssl.*`, `sasl.*`), then
//! `A->B.consumer.*`, then `A.consumer.*` (and `A.`/top-level client keys again,
//! which MM2 copies into it), later ones winning.
//!
//! Defaults are MM2's, except that new topics and groups are looked for every
//! 5 s (MM2: 600 s), because users complain of the wait. A bad value stops
//! start-up naming its key; keys MM2 accepts that Weir does not use are logged
//! once.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::MirrorError;
use crate::filter::{self, Filter, Patterns};
use crate::policy::Policy;

/// Flow settings Weir reads (top level or `A->B.`-prefixed).
const FLOW_KEYS: &[&str] = &[
    "enabled",
    "topics",
    "topics.exclude",
    "topics.blacklist",
    "groups",
    "groups.exclude",
    "groups.blacklist",
    "replication.policy.class",
    "replication.policy.separator",
    "replication.policy.internal.topic.separator.enabled",
    "sync.topic.configs.enabled",
    "sync.topic.configs.interval.seconds",
    "config.properties.exclude",
    "config.properties.blacklist",
    "refresh.topics.enabled",
    "refresh.topics.interval.seconds",
    "refresh.groups.enabled",
    "refresh.groups.interval.seconds",
    "emit.heartbeats.enabled",
    "emit.heartbeats.interval.seconds",
    "emit.checkpoints.enabled",
    "emit.checkpoints.interval.seconds",
    "sync.group.offsets.enabled",
    "sync.group.offsets.interval.seconds",
    "offset-syncs.topic.location",
    "offset.lag.max",
    "replication.factor",
    "offset-syncs.topic.replication.factor",
    "checkpoints.topic.replication.factor",
    "heartbeats.topic.replication.factor",
    "mirror.mode",
];

/// Client settings every client of a cluster inherits (MM2's `CLIENT_CONFIG_DEF`).
fn is_client_key(k: &str) -> bool {
    k == "bootstrap.servers" || k == "security.protocol" || k.starts_with("ssl.") || k.starts_with("sasl.")
}

/// One client's settings, in the order they resolve.
pub type ClientConfig = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Consumer,
    Producer,
    Admin,
}

impl ClientKind {
    fn prefix(self) -> &'static str {
        match self {
            ClientKind::Consumer => "consumer.",
            ClientKind::Producer => "producer.",
            ClientKind::Admin => "admin.",
        }
    }
}

/// How a flow copies records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// As MM2: records are produced anew on the target.
    Copy,
    /// Weir targets only: batches keep their source offsets and bytes
    /// (`mirror.mode=preserve`); remote topics are read-only mirror topics.
    Preserve,
}

/// One replication flow, `source->target`, with its settings resolved.
#[derive(Clone, Debug)]
pub struct Flow {
    pub source: String,
    pub target: String,
    pub topics: Filter,
    pub groups: Filter,
    pub policy: Policy,
    /// Whether topic configs are copied again when they change
    /// (`sync.topic.configs.enabled`); a remote topic is created with its
    /// source's configs either way, as MM2's are.
    pub sync_topic_configs: bool,
    /// Topic configs never copied (`config.properties.exclude`).
    pub config_properties_exclude: Patterns,
    /// How often mirrored topics' configs are compared and copied again.
    pub sync_topic_configs_interval: Duration,
    pub refresh_topics: Option<Duration>,
    pub refresh_groups: Option<Duration>,
    pub emit_heartbeats: Option<Duration>,
    pub emit_checkpoints: Option<Duration>,
    pub sync_group_offsets: Option<Duration>,
    /// Offset syncs written on the target cluster (else on the source).
    pub offset_syncs_on_target: bool,
    pub offset_lag_max: i64,
    pub replication_factor: i32,
    pub offset_syncs_replication_factor: i32,
    pub checkpoints_replication_factor: i32,
    pub heartbeats_replication_factor: i32,
    /// `{target}.exactly.once.source.support=enabled`.
    pub exactly_once: bool,
    pub mode: Mode,
}

impl Flow {
    pub fn name(&self) -> String {
        format!("{}->{}", self.source, self.target)
    }

    /// MM2's offset-syncs topic: named after the other cluster of the one it is on.
    pub fn offset_syncs_topic(&self) -> String {
        let other = if self.offset_syncs_on_target { &self.source } else { &self.target };
        self.policy.offset_syncs_topic(other)
    }
}

/// A parsed MM2 properties file.
#[derive(Clone, Debug)]
pub struct MirrorConfig {
    raw: Vec<(String, String)>,
    pub clusters: Vec<String>,
    /// The enabled flows, in `clusters` order.
    pub flows: Vec<Flow>,
    /// Keys accepted but not used, for the start-up log.
    pub unused: Vec<String>,
}

fn get<'a>(raw: &'a [(String, String)], key: &str) -> Option<&'a str> {
    raw.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// MM2's boolean: `true` in any case is true, anything else false
/// (`Boolean.parseBoolean`); Weir refuses values that are neither word.
fn boolean(key: &str, v: &str) -> Result<bool, MirrorError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(MirrorError::config(key, format!("'{v}' is not true or false"))),
    }
}

fn number(key: &str, v: &str) -> Result<i64, MirrorError> {
    v.trim().parse::<i64>().map_err(|_| MirrorError::config(key, format!("'{v}' is not a whole number")))
}

impl MirrorConfig {
    /// Reads a properties file (UTF-8, else ISO-8859-1 as Java reads it).
    pub fn load(path: &std::path::Path, only_targets: &[String]) -> Result<MirrorConfig, MirrorError> {
        let bytes =
            std::fs::read(path).map_err(|source| MirrorError::Read { path: path.display().to_string(), source })?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => e.into_bytes().iter().map(|b| char::from(*b)).collect(),
        };
        MirrorConfig::parse(&text, only_targets)
    }

    /// Parses properties text. `only_targets` is `--clusters`: only flows into
    /// those clusters run (all, when empty).
    pub fn parse(text: &str, only_targets: &[String]) -> Result<MirrorConfig, MirrorError> {
        let raw = crate::properties::parse(text)?;
        let clusters: Vec<String> = get(&raw, "clusters")
            .ok_or_else(|| MirrorError::config("clusters", "missing: list the cluster aliases, e.g. clusters = A, B"))?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if clusters.is_empty() {
            return Err(MirrorError::config("clusters", "no cluster aliases listed"));
        }
        for c in &clusters {
            if get(&raw, &format!("{c}.bootstrap.servers")).is_none() && get(&raw, "bootstrap.servers").is_none() {
                return Err(MirrorError::config(format!("{c}.bootstrap.servers"), "missing"));
            }
        }
        let mut cfg = MirrorConfig { raw, clusters, flows: vec![], unused: vec![] };
        for source in &cfg.clusters {
            for target in &cfg.clusters {
                if source == target {
                    continue;
                }
                if !only_targets.is_empty() && !only_targets.contains(target) {
                    continue;
                }
                let key = format!("{source}->{target}.enabled");
                let enabled = match get(&cfg.raw, &key).or_else(|| get(&cfg.raw, "enabled")) {
                    Some(v) => boolean(&key, v)?,
                    None => false,
                };
                if enabled {
                    cfg.flows.push(cfg.flow(source, target)?);
                }
            }
        }
        if cfg.flows.is_empty() {
            return Err(MirrorError::config("clusters", "No source->target replication flows."));
        }
        cfg.unused = cfg.unused_keys();
        Ok(cfg)
    }

    /// A flow setting: `A->B.<key>` over `<key>`.
    fn setting(&self, source: &str, target: &str, key: &str) -> Option<(String, &str)> {
        let flow_key = format!("{source}->{target}.{key}");
        match get(&self.raw, &flow_key) {
            Some(v) => Some((flow_key, v)),
            None => get(&self.raw, key).map(|v| (key.to_string(), v)),
        }
    }

    fn flow(&self, source: &str, target: &str) -> Result<Flow, MirrorError> {
        let s = |key: &str| self.setting(source, target, key);
        let flag = |key: &str, default: bool| -> Result<bool, MirrorError> {
            s(key).map(|(k, v)| boolean(&k, v)).transpose().map(|v| v.unwrap_or(default))
        };
        let num = |key: &str, default: i64| -> Result<i64, MirrorError> {
            s(key).map(|(k, v)| number(&k, v)).transpose().map(|v| v.unwrap_or(default))
        };
        let patterns = |key: &str, old: &str, default: &str| -> Result<Patterns, MirrorError> {
            let (k, v) = s(key).or_else(|| s(old)).unwrap_or((key.to_string(), default));
            Patterns::parse(v).map_err(|why| MirrorError::config(k, why))
        };
        // A periodic task: on (with its interval in seconds) or off.
        let every = |name: &str, default_on: bool, default_secs: i64| -> Result<Option<Duration>, MirrorError> {
            if !flag(&format!("{name}.enabled"), default_on)? {
                return Ok(None);
            }
            let key = format!("{name}.interval.seconds");
            let secs = num(&key, default_secs)?;
            if secs < 0 {
                return Ok(None);
            }
            Ok(Some(Duration::from_secs(secs as u64)))
        };
        let rf = |key: &str, default: i64| -> Result<i32, MirrorError> {
            let v = num(key, default)?;
            i32::try_from(v)
                .ok()
                .filter(|n| *n == -1 || *n >= 1)
                .ok_or_else(|| MirrorError::config(key, format!("{v} is not a replication factor (-1 or at least 1)")))
        };
        let separator = s("replication.policy.separator").map(|(_, v)| v.to_string());
        // KIP-949: the separator applies to internal topics unless turned off,
        // and the switch only counts when a separator is set.
        let internal_separator = match &separator {
            Some(_) => flag("replication.policy.internal.topic.separator.enabled", true)?,
            None => true,
        };
        let separator = separator.unwrap_or_else(|| ".".into());
        if separator.is_empty() {
            return Err(MirrorError::config("replication.policy.separator", "must not be empty"));
        }
        let policy = match s("replication.policy.class").map(|(_, v)| v.trim()) {
            None | Some("org.apache.kafka.connect.mirror.DefaultReplicationPolicy" | "DefaultReplicationPolicy") => {
                Policy::Default { separator, internal_separator }
            }
            Some("org.apache.kafka.connect.mirror.IdentityReplicationPolicy" | "IdentityReplicationPolicy") => {
                Policy::Identity { separator, internal_separator, source_alias: Some(source.to_string()) }
            }
            Some(other) => {
                return Err(MirrorError::config(
                    "replication.policy.class",
                    format!("{other}: the built-in policies are org.apache.kafka.connect.mirror.DefaultReplicationPolicy and IdentityReplicationPolicy"),
                ))
            }
        };
        let location = s("offset-syncs.topic.location").map(|(k, v)| (k, v.trim().to_ascii_lowercase()));
        let offset_syncs_on_target = match location {
            None => false,
            Some((_, v)) if v == "source" => false,
            Some((_, v)) if v == "target" => true,
            Some((k, v)) => return Err(MirrorError::config(k, format!("'{v}' is not source or target"))),
        };
        let eos_key = format!("{target}.exactly.once.source.support");
        let exactly_once = match get(&self.raw, &eos_key).map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "enabled" => true,
            Some(v) if v == "disabled" || v == "preparing" => false,
            Some(v) => {
                return Err(MirrorError::config(eos_key, format!("'{v}' is not enabled, preparing or disabled")))
            }
        };
        let mode = match s("mirror.mode").map(|(k, v)| (k, v.trim().to_ascii_lowercase())) {
            None => Mode::Copy,
            Some((_, v)) if v == "copy" => Mode::Copy,
            Some((_, v)) if v == "preserve" => Mode::Preserve,
            Some((k, v)) => return Err(MirrorError::config(k, format!("'{v}' is not copy or preserve"))),
        };
        let offset_lag_max = num("offset.lag.max", 100)?;
        if offset_lag_max < 0 {
            return Err(MirrorError::config("offset.lag.max", "must not be negative"));
        }
        Ok(Flow {
            source: source.to_string(),
            target: target.to_string(),
            topics: Filter {
                include: patterns("topics", "topics.whitelist", filter::TOPICS_DEFAULT)?,
                exclude: patterns("topics.exclude", "topics.blacklist", filter::TOPICS_EXCLUDE_DEFAULT)?,
            },
            groups: Filter {
                include: patterns("groups", "groups.whitelist", filter::GROUPS_DEFAULT)?,
                exclude: patterns("groups.exclude", "groups.blacklist", filter::GROUPS_EXCLUDE_DEFAULT)?,
            },
            policy,
            sync_topic_configs: flag("sync.topic.configs.enabled", true)?,
            config_properties_exclude: patterns(
                "config.properties.exclude",
                "config.properties.blacklist",
                filter::CONFIG_PROPERTIES_EXCLUDE_DEFAULT,
            )?,
            sync_topic_configs_interval: every("sync.topic.configs", true, 5)?.unwrap_or(Duration::from_secs(5)),
            refresh_topics: every("refresh.topics", true, 5)?,
            refresh_groups: every("refresh.groups", true, 5)?,
            emit_heartbeats: every("emit.heartbeats", true, 1)?,
            emit_checkpoints: every("emit.checkpoints", true, 60)?,
            sync_group_offsets: every("sync.group.offsets", false, 60)?,
            offset_syncs_on_target,
            offset_lag_max,
            replication_factor: rf("replication.factor", 2)?,
            offset_syncs_replication_factor: rf("offset-syncs.topic.replication.factor", 3)?,
            checkpoints_replication_factor: rf("checkpoints.topic.replication.factor", 3)?,
            heartbeats_replication_factor: rf("heartbeats.topic.replication.factor", 3)?,
            // A preserved copy is exactly once by construction (the remote
            // partition's end is its position); the producer left, for
            // heartbeats and checkpoints, needs no transactions.
            exactly_once: exactly_once && mode == Mode::Copy,
            mode,
        })
    }

    /// MM2's `clusterProps(alias)`: the alias's own keys, with its client keys
    /// (and top-level ones) copied under each client prefix where not set.
    fn cluster_props(&self, alias: &str) -> BTreeMap<String, String> {
        let prefix = format!("{alias}.");
        let mut m: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &self.raw {
            if let Some(rest) = k.strip_prefix(&prefix) {
                m.insert(rest.to_string(), v.clone());
            }
        }
        let own: Vec<(String, String)> =
            m.iter().filter(|(k, _)| is_client_key(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in own {
            for p in ["producer.", "consumer.", "admin."] {
                m.entry(format!("{p}{k}")).or_insert_with(|| v.clone());
            }
        }
        for (k, v) in self.raw.iter().filter(|(k, _)| is_client_key(k)) {
            for p in ["producer.", "consumer.", "admin."] {
                m.entry(format!("{p}{k}")).or_insert_with(|| v.clone());
            }
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        m
    }

    /// The settings of a client of `alias` in `flow`, as MM2's connectors build them.
    pub fn client(&self, flow: &Flow, alias: &str, kind: ClientKind) -> ClientConfig {
        let cluster = self.cluster_props(alias);
        let mut out = ClientConfig::new();
        for (k, v) in cluster.iter().filter(|(k, _)| is_client_key(k)) {
            out.insert(k.clone(), v.clone());
        }
        let flow_prefix = format!("{}.{}", flow.name(), kind.prefix());
        for (k, v) in &self.raw {
            if let Some(rest) = k.strip_prefix(&flow_prefix) {
                out.insert(rest.to_string(), v.clone());
            }
        }
        for (k, v) in &cluster {
            if let Some(rest) = k.strip_prefix(kind.prefix()) {
                out.insert(rest.to_string(), v.clone());
            }
        }
        if kind == ClientKind::Consumer {
            // The replicator commits positions itself.
            out.insert("enable.auto.commit".into(), "false".into());
            out.entry("auto.offset.reset".into()).or_insert_with(|| "earliest".into());
            // librdkafka stops fetching for this long once its queue holds
            // `queued.min.messages`; while the copy waits on the target, the queue
            // fills, and with the default (1 s) the copy then idled for most of
            // each second once it had drained it: 125k against 310k records/s.
            out.entry("fetch.queue.backoff.ms".into()).or_insert_with(|| "10".into());
        }
        out
    }

    /// Keys neither Weir nor a client reads.
    fn unused_keys(&self) -> Vec<String> {
        let aliases: Vec<String> = self.clusters.iter().map(|c| format!("{c}.")).collect();
        let flow_prefixes: Vec<String> = self
            .clusters
            .iter()
            .flat_map(|s| self.clusters.iter().filter(move |t| *t != s).map(move |t| format!("{s}->{t}.")))
            .collect();
        self.raw
            .iter()
            .map(|(k, _)| k)
            .filter(|k| {
                let key = flow_prefixes.iter().find_map(|p| k.strip_prefix(p.as_str())).unwrap_or(k);
                let client =
                    ["consumer.", "producer.", "admin."].iter().any(|p| key.starts_with(p)) && key.len() != k.len();
                let used = *k == "clusters"
                    || aliases.iter().any(|a| k.starts_with(a.as_str()))
                    || FLOW_KEYS.contains(&key)
                    || is_client_key(key)
                    || client;
                !used
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests;
