//! The config service: topic and broker configs with their values' sources, as
//! Kafka's DescribeConfigs reports them, and the ways topic overrides change
//! (replace all, or incremental set/delete/append/subtract). Overrides are
//! changed under the metadata writer lock (read-modify-write without lost
//! updates), persisted in the metadata log, then applied to the open partitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::kafka_keys::{kafka_key, KAFKA_BROKER_KEYS, KAFKA_INTERNAL_BROKER_KEYS};
use crate::config::{topic_config_def, validate_topic_configs, BrokerConfig, ConfigType, BROKER_KEYS, TOPIC_CONFIGS};
use crate::error::TopicError;
use crate::metadata::{Event, MetadataStore};
use crate::partition::ReplicaManager;
use crate::settings::BrokerSettings;

mod group;
pub mod share_reset;
pub use group::{group_timeouts, GroupTimeouts, GROUP_CONFIGS};

/// Where a config value comes from (Kafka's `ConfigSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic,
    StaticBroker,
    Default,
    /// A group's own config (KIP-848).
    Group,
    /// A CLIENT_METRICS subscription's config (KIP-714).
    ClientMetrics,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One config of a topic or of the broker.
#[derive(Clone, Debug)]
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    /// A password: its value is never returned.
    pub sensitive: bool,
    pub ty: ConfigType,
    pub doc: &'static str,
    /// Every place the value could come from, the one in effect first.
    pub synonyms: Vec<ConfigSynonym>,
}

/// IncrementalAlterConfigs operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlterOp {
    Set,
    Delete,
    Append,
    Subtract,
}

#[derive(Clone, Debug)]
pub struct ConfigChange {
    pub name: String,
    pub op: AlterOp,
    pub value: Option<String>,
}

pub struct Configs {
    config: Arc<BrokerConfig>,
    settings: Arc<BrokerSettings>,
    meta: Arc<MetadataStore>,
    partitions: Arc<ReplicaManager>,
}

fn source_of(code: i8) -> ConfigSource {
    match code {
        crate::config::source::DYNAMIC_TOPIC_CONFIG => ConfigSource::DynamicTopic,
        crate::config::source::STATIC_BROKER_CONFIG => ConfigSource::StaticBroker,
        _ => ConfigSource::Default,
    }
}

impl Configs {
    pub(crate) fn new(
        config: Arc<BrokerConfig>,
        settings: Arc<BrokerSettings>,
        meta: Arc<MetadataStore>,
        partitions: Arc<ReplicaManager>,
    ) -> Self {
        Configs { config, settings, meta, partitions }
    }

    pub fn broker(&self) -> &BrokerConfig {
        &self.config
    }

    pub(crate) fn meta(&self) -> &MetadataStore {
        &self.meta
    }

    /// Every topic config as a topic with these overrides has it (the flush keys
    /// only when set: unset, Weir's durable policy applies).
    pub fn resolve_topic(&self, overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
        let mut out = Vec::new();
        for def in TOPIC_CONFIGS {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(def.name) {
                synonyms.push(ConfigSynonym {
                    name: def.name.to_string(),
                    value: Some(v.clone()),
                    source: ConfigSource::DynamicTopic,
                });
            }
            for (key, _) in def.synonyms {
                if let Some(v) = self.config.set.get(*key) {
                    synonyms.push(ConfigSynonym {
                        name: key.to_string(),
                        value: Some(v.clone()),
                        source: ConfigSource::StaticBroker,
                    });
                }
            }
            if let Some(d) = def.default {
                let name = def.synonyms.first().map_or(def.name, |s| s.0);
                synonyms.push(ConfigSynonym {
                    name: name.to_string(),
                    value: Some(d.to_string()),
                    source: ConfigSource::Default,
                });
            }
            let (value, source) = match overrides.get(def.name) {
                Some(v) => (v.clone(), ConfigSource::DynamicTopic),
                None => match self.config.topic_default(def) {
                    Some((v, s, _)) => (v, source_of(s)),
                    None => continue,
                },
            };
            out.push(ConfigEntry {
                name: def.name,
                value: Some(value),
                source,
                read_only: false,
                sensitive: false,
                ty: def.ty,
                doc: def.doc,
                synonyms,
            });
        }
        out
    }

    /// A topic's configs.
    pub fn describe_topic(&self, name: &str) -> Result<Vec<ConfigEntry>, TopicError> {
        let t =
            self.meta.topic(name).ok_or_else(|| TopicError::UnknownTopic(format!("Topic '{name}' does not exist.")))?;
        Ok(self.resolve_topic(&t.configs))
    }

    /// The broker's configs (static: read-only), by name.
    pub fn describe_broker(&self) -> Vec<ConfigEntry> {
        broker_entries(&self.config)
    }

    /// Replaces a topic's overrides (AlterConfigs). Blocking.
    pub fn replace_topic(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        self.update_topic(name, |_| Ok(configs), validate_only)
    }

    /// Applies incremental changes, in order, to a topic's overrides. Blocking.
    pub fn alter_topic(&self, name: &str, changes: &[ConfigChange], validate_only: bool) -> Result<(), TopicError> {
        self.update_topic(name, |current| self.apply_changes(current, changes), validate_only)
    }

    /// The overrides after applying `changes` to `current`, or why they are refused.
    pub fn apply_changes(
        &self,
        current: &BTreeMap<String, String>,
        changes: &[ConfigChange],
    ) -> Result<BTreeMap<String, String>, TopicError> {
        apply_changes(&self.config, current, changes).map_err(TopicError::InvalidConfig)
    }

    fn update_topic(
        &self,
        name: &str,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, TopicError>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        const MIRROR_SOURCE: &str = "weir.mirror.source";
        let (configs, promoted) = self.meta.with_writer(|w| {
            let t = w.topic(name).ok_or_else(|| TopicError::UnknownTopic(format!("Topic {name} does not exist")))?;
            let configs = change(&t.configs)?;
            validate_topic_configs(&configs).map_err(TopicError::InvalidConfig)?;
            // A topic becomes a mirror only when created as one, and a promoted
            // one never again: the replicator cannot undo a promotion.
            if configs.get(MIRROR_SOURCE).is_some_and(|v| Some(v) != t.configs.get(MIRROR_SOURCE)) {
                return Err(TopicError::InvalidConfig(format!(
                    "{MIRROR_SOURCE} is set when a mirror topic is created; topic {name} cannot be made a mirror (of another source) afterwards"
                )));
            }
            if !validate_only {
                w.commit(Event::TopicConfigsReplaced { name: name.to_string(), id: t.id, configs: configs.clone() })?;
            }
            let promoted = t.configs.contains_key(MIRROR_SOURCE) && !configs.contains_key(MIRROR_SOURCE);
            Ok::<_, TopicError>((configs, promoted))
        })?;
        if !validate_only {
            self.partitions.update_settings(name, &configs);
            if promoted {
                // The copied producer state stays in the promoted logs: this
                // node's producer ids move past the source's.
                let copied =
                    self.partitions.topic(name).into_iter().flat_map(|ps| ps.iter().cloned().collect::<Vec<_>>());
                let max = copied.flat_map(|p| p.log().active_producers()).map(|s| s.producer_id).max();
                if let Some(max) = max {
                    self.meta.reserve_producer_ids_through(max).map_err(TopicError::Broker)?;
                }
            }
        }
        Ok(())
    }
}

/// Every broker config with its source, as DescribeConfigs lists them.
fn broker_entries(config: &BrokerConfig) -> Vec<ConfigEntry> {
    let mut out = Vec::new();
    let mut push = |name: &'static str, ty: ConfigType, doc: &'static str| {
        let set = config.set.contains_key(name);
        // A coarser-unit synonym (log.retention.hours) has no Weir default: Kafka's.
        let kafka_default = kafka_key(name).map(|k| k.1).filter(|d| !d.is_empty()).map(str::to_string);
        // Passwords (bootstrap.users) are never shown, as Kafka hides them.
        let sensitive = ty == ConfigType::Password;
        let value = config.get(name).or(kafka_default).filter(|_| !sensitive);
        let source = if set { ConfigSource::StaticBroker } else { ConfigSource::Default };
        let synonyms = match (&value, set || sensitive) {
            (Some(v), _) => vec![ConfigSynonym { name: name.to_string(), value: Some(v.clone()), source }],
            (None, true) => vec![ConfigSynonym { name: name.to_string(), value: None, source }],
            (None, false) => Vec::new(),
        };
        out.push(ConfigEntry { name, value, source, read_only: true, sensitive, ty, doc, synonyms });
    };
    for (name, _, ty, doc) in BROKER_KEYS {
        push(name, *ty, doc);
    }
    for def in TOPIC_CONFIGS {
        for (key, _) in def.synonyms {
            if !BROKER_KEYS.iter().any(|b| b.0 == *key) {
                push(key, def.ty, def.doc);
            }
        }
    }
    // The Kafka keys Weir does not act on, as Kafka lists them: every documented
    // key, internal ones only when set; passwords without their value.
    const NO_EFFECT: &str = "A Kafka broker key Weir accepts but does not act on.";
    let documented = KAFKA_BROKER_KEYS.iter().map(|k| (k, false));
    let internal = KAFKA_INTERNAL_BROKER_KEYS.iter().map(|k| (k, true));
    for ((name, ty, default), is_internal) in documented.chain(internal) {
        if out.iter().any(|e| e.name == *name) {
            continue;
        }
        let set = config.no_effect.get(*name);
        if is_internal && set.is_none() {
            continue;
        }
        let source = if set.is_some() { ConfigSource::StaticBroker } else { ConfigSource::Default };
        let sensitive = *ty == ConfigType::Password;
        let value = match set {
            _ if sensitive => None,
            Some(v) => Some(v.clone()),
            None if default.is_empty() && *ty != ConfigType::List => None,
            None => Some(default.to_string()),
        };
        let synonyms = if set.is_some() || value.is_some() {
            vec![ConfigSynonym { name: name.to_string(), value: value.clone(), source }]
        } else {
            Vec::new()
        };
        out.push(ConfigEntry { name, value, source, read_only: true, sensitive, ty: *ty, doc: NO_EFFECT, synonyms });
    }
    out.sort_by_key(|e| e.name);
    out.dedup_by_key(|e| e.name);
    out
}

/// A LIST config after APPEND (items not there yet, at the end) or SUBTRACT of
/// the comma-separated `value`.
pub(crate) fn list_op(current: &str, value: &str, append: bool) -> String {
    let mut items: Vec<&str> = current.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    for v in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if append {
            if !items.contains(&v) {
                items.push(v);
            }
        } else {
            items.retain(|i| *i != v);
        }
    }
    items.join(",")
}

fn apply_changes(
    broker: &BrokerConfig,
    current: &BTreeMap<String, String>,
    changes: &[ConfigChange],
) -> Result<BTreeMap<String, String>, String> {
    let mut configs = current.clone();
    for c in changes {
        let Some(def) = topic_config_def(&c.name) else {
            return Err(format!("Unknown topic config name: {}", c.name));
        };
        match c.op {
            AlterOp::Set => {
                configs.insert(c.name.clone(), c.value.clone().unwrap_or_default());
            }
            AlterOp::Delete => {
                configs.remove(&c.name);
            }
            AlterOp::Append | AlterOp::Subtract if def.ty == ConfigType::List => {
                let now = configs
                    .get(&c.name)
                    .cloned()
                    .or_else(|| broker.topic_default(def).map(|d| d.0))
                    .unwrap_or_default();
                let list = list_op(&now, c.value.as_deref().unwrap_or_default(), c.op == AlterOp::Append);
                configs.insert(c.name.clone(), list);
            }
            AlterOp::Append | AlterOp::Subtract => {
                return Err(format!(
                    "Config value append/subtract is not allowed for config key {} (not a list)",
                    c.name
                ));
            }
        }
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(name: &str, op: AlterOp, value: Option<&str>) -> ConfigChange {
        ConfigChange { name: name.into(), op, value: value.map(str::to_string) }
    }

    #[test]
    fn operations_apply_in_order() {
        let broker = BrokerConfig::default();
        let mut current = BTreeMap::new();
        current.insert("retention.ms".to_string(), "5".to_string());
        let ops = vec![
            change("retention.ms", AlterOp::Delete, None),
            change("cleanup.policy", AlterOp::Append, Some("compact")),
            change("segment.ms", AlterOp::Set, Some("1000")),
        ];
        let out = apply_changes(&broker, &current, &ops).unwrap();
        assert_eq!(out.get("cleanup.policy").map(String::as_str), Some("delete,compact"));
        assert_eq!(out.get("segment.ms").map(String::as_str), Some("1000"));
        assert!(!out.contains_key("retention.ms"));
        let out = apply_changes(&broker, &out, &[change("cleanup.policy", AlterOp::Subtract, Some("delete"))]).unwrap();
        assert_eq!(out.get("cleanup.policy").map(String::as_str), Some("compact"));
        assert!(apply_changes(&broker, &out, &[change("segment.ms", AlterOp::Append, Some("1"))]).is_err());
        assert!(apply_changes(&broker, &out, &[change("no.such", AlterOp::Set, Some("1"))]).is_err());
    }

    #[test]
    fn the_broker_lists_every_kafka_key_with_its_source_and_hides_passwords() {
        let mut c = BrokerConfig::default();
        c.set("num.io.threads", "16").unwrap();
        c.set("ssl.keystore.password", "secret").unwrap();
        c.set("bootstrap.users", "admin:s3cret").unwrap();
        c.set("unstable.api.versions.enable", "true").unwrap();
        let entries = broker_entries(&c);
        let get = |n: &str| entries.iter().find(|e| e.name == n).unwrap_or_else(|| panic!("{n} not listed"));
        for (key, ..) in KAFKA_BROKER_KEYS {
            get(key);
        }
        let io = get("num.io.threads");
        assert_eq!((io.value.as_deref(), io.source), (Some("16"), ConfigSource::StaticBroker));
        let net = get("num.network.threads");
        assert_eq!((net.value.as_deref(), net.source), (Some("3"), ConfigSource::Default));
        let pw = get("ssl.keystore.password");
        assert!(pw.sensitive && pw.value.is_none() && pw.synonyms.iter().all(|s| s.value.is_none()));
        assert_eq!(pw.source, ConfigSource::StaticBroker);
        let users = get("bootstrap.users");
        assert!(users.sensitive && users.value.is_none() && users.synonyms.iter().all(|s| s.value.is_none()));
        assert_eq!(get("unstable.api.versions.enable").value.as_deref(), Some("true"));
        assert!(!entries.iter().any(|e| e.name == "unstable.feature.versions.enable"), "internal keys only when set");
        assert_eq!(get("log.retention.hours").value.as_deref(), Some("168"), "keys Weir reads keep their entries");
        let names: Vec<_> = entries.iter().map(|e| e.name).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
    }
}
