//! Broker and topic configuration, with Kafka's key names and defaults.
//!
//! Broker settings are static: they come from the embedded defaults, the `[broker]`
//! table of `weir.toml` and `--set KEY=VALUE`, in that order of precedence. Topic
//! settings are dynamic: a topic stores only its overrides (in the metadata log);
//! every other value resolves through the broker synonyms (`retention.ms` <-
//! `log.retention.ms` <- `log.retention.minutes` <- `log.retention.hours`) to the
//! Kafka default, exactly as Kafka's DescribeConfigs reports it.

mod broker_keys;
pub mod file;
pub mod kafka_keys;

use std::collections::BTreeMap;

use weir_storage::{CleanupPolicy, FlushPolicy, LogConfig, TimestampType};

use crate::error::{BrokerError, Result};

/// Kafka's `ConfigEntry.ConfigType`, as sent in DescribeConfigs v3+.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// Kafka's `ConfigSource` codes.
pub mod source {
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    pub const DEFAULT_CONFIG: i8 = 5;
}

/// A broker key a topic key falls back to, and the factor that turns its unit into
/// the topic key's unit (hours -> ms).
pub type Synonym = (&'static str, i64);

pub struct TopicConfigDef {
    pub name: &'static str,
    pub synonyms: &'static [Synonym],
    /// `None`: unset by default and omitted from DescribeConfigs (the flush keys:
    /// leaving them unset selects Weir's durable group-commit policy).
    pub default: Option<&'static str>,
    pub ty: ConfigType,
    pub doc: &'static str,
    pub check: fn(&str) -> std::result::Result<(), String>,
}

fn long_at_least(min: i64) -> impl Fn(&str) -> std::result::Result<(), String> {
    move |v| match v.trim().parse::<i64>() {
        Ok(n) if n >= min => Ok(()),
        Ok(n) => Err(format!("value {n} must be at least {min}")),
        Err(_) => Err(format!("'{v}' is not a valid long")),
    }
}

fn check_ms(v: &str) -> std::result::Result<(), String> {
    long_at_least(0)(v)
}
fn check_retention(v: &str) -> std::result::Result<(), String> {
    long_at_least(-1)(v)
}
fn check_positive(v: &str) -> std::result::Result<(), String> {
    long_at_least(1)(v)
}
fn check_int_positive(v: &str) -> std::result::Result<(), String> {
    long_at_least(1)(v)?;
    v.trim().parse::<i32>().map(|_| ()).map_err(|_| format!("'{v}' does not fit an int"))
}
fn check_segment_bytes(v: &str) -> std::result::Result<(), String> {
    long_at_least(14)(v)?;
    check_int_positive(v)
}
fn check_index_bytes(v: &str) -> std::result::Result<(), String> {
    long_at_least(12)(v)?;
    check_int_positive(v)
}
fn check_ratio(v: &str) -> std::result::Result<(), String> {
    match v.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(()),
        _ => Err(format!("'{v}' must be a number between 0 and 1")),
    }
}
fn check_cleanup(v: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.is_empty() || parts.iter().any(|p| *p != "delete" && *p != "compact") {
        return Err(format!("'{v}' must be a list of 'delete' and 'compact'"));
    }
    Ok(())
}
fn check_ts_type(v: &str) -> std::result::Result<(), String> {
    match v.trim() {
        "CreateTime" | "LogAppendTime" => Ok(()),
        _ => Err(format!("'{v}' must be CreateTime or LogAppendTime")),
    }
}
fn check_compression(v: &str) -> std::result::Result<(), String> {
    match v.trim() {
        "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd" => Ok(()),
        _ => Err(format!(
            "Invalid value {v} for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"
        )),
    }
}

fn int_in(min: i64, max: i64, also: Option<i64>) -> impl Fn(&str) -> std::result::Result<(), String> {
    move |v| match v.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) || Some(n) == also => Ok(()),
        Ok(n) => Err(format!("value {n} must be between {min} and {max}")),
        Err(_) => Err(format!("'{v}' is not a valid int")),
    }
}

fn check_gzip_level(v: &str) -> std::result::Result<(), String> {
    int_in(1, 9, Some(-1))(v)
}
fn check_lz4_level(v: &str) -> std::result::Result<(), String> {
    int_in(1, 17, None)(v)
}
fn check_zstd_level(v: &str) -> std::result::Result<(), String> {
    int_in(-131072, 22, None)(v)
}

fn check_bool(v: &str) -> std::result::Result<(), String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "false" => Ok(()),
        _ => Err(format!("'{v}' is not true or false")),
    }
}

pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef { name: "confluent.key.schema.validation", synonyms: &[], default: Some("false"), ty: ConfigType::Boolean, doc: "Produced keys must carry a schema id registered in the schema registry (INVALID_RECORD otherwise).", check: check_bool },
    TopicConfigDef { name: "confluent.value.schema.validation", synonyms: &[], default: Some("false"), ty: ConfigType::Boolean, doc: "Produced values must carry a schema id registered in the schema registry (INVALID_RECORD otherwise).", check: check_bool },
    TopicConfigDef { name: "cleanup.policy", synonyms: &[("log.cleanup.policy", 1)], default: Some("delete"), ty: ConfigType::List, doc: "'delete' removes old segments by retention.ms/retention.bytes; 'compact' keeps the latest record per key.", check: check_cleanup },
    TopicConfigDef { name: "compression.gzip.level", synonyms: &[("compression.gzip.level", 1)], default: Some("-1"), ty: ConfigType::Int, doc: "gzip level when the broker recompresses to gzip (1-9; -1 the codec's default).", check: check_gzip_level },
    TopicConfigDef { name: "compression.lz4.level", synonyms: &[("compression.lz4.level", 1)], default: Some("9"), ty: ConfigType::Int, doc: "lz4 level when the broker recompresses to lz4 (1-17; Weir's lz4 encoder has one speed, so the level is checked and kept but does not change the output).", check: check_lz4_level },
    TopicConfigDef { name: "compression.type", synonyms: &[("compression.type", 1)], default: Some("producer"), ty: ConfigType::String, doc: "'producer' stores batches as the producer compressed them (no recompression); 'uncompressed', 'gzip', 'snappy', 'lz4' or 'zstd' makes the broker recompress batches sent with another codec on append, as Kafka does.", check: check_compression },
    TopicConfigDef { name: "compression.zstd.level", synonyms: &[("compression.zstd.level", 1)], default: Some("3"), ty: ConfigType::Int, doc: "zstd level when the broker recompresses to zstd (-131072 to 22).", check: check_zstd_level },
    TopicConfigDef { name: "delete.retention.ms", synonyms: &[("log.cleaner.delete.retention.ms", 1)], default: Some("86400000"), ty: ConfigType::Long, doc: "How long tombstones are kept on compacted topics.", check: check_ms },
    TopicConfigDef { name: "file.delete.delay.ms", synonyms: &[("log.segment.delete.delay.ms", 1)], default: Some("60000"), ty: ConfigType::Long, doc: "Delay before a deleted segment's files are removed.", check: check_ms },
    TopicConfigDef { name: "flush.messages", synonyms: &[("log.flush.interval.messages", 1)], default: None, ty: ConfigType::Long, doc: "Unset: every acks=all write is fsynced with group commit. Set: fsync after this many messages (Kafka's page-cache behaviour).", check: check_positive },
    TopicConfigDef { name: "flush.ms", synonyms: &[("log.flush.interval.ms", 1)], default: None, ty: ConfigType::Long, doc: "Unset: every acks=all write is fsynced with group commit. Set: fsync when the oldest unflushed write is this old.", check: check_ms },
    TopicConfigDef { name: "index.interval.bytes", synonyms: &[("log.index.interval.bytes", 1)], default: Some("4096"), ty: ConfigType::Int, doc: "Bytes between offset index entries.", check: check_int_positive },
    TopicConfigDef { name: "max.message.bytes", synonyms: &[("message.max.bytes", 1)], default: Some("1048588"), ty: ConfigType::Int, doc: "Largest record batch accepted.", check: check_int_positive },
    TopicConfigDef { name: "message.timestamp.type", synonyms: &[("log.message.timestamp.type", 1)], default: Some("CreateTime"), ty: ConfigType::String, doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches on append.", check: check_ts_type },
    TopicConfigDef { name: "min.cleanable.dirty.ratio", synonyms: &[("log.cleaner.min.cleanable.ratio", 1)], default: Some("0.5"), ty: ConfigType::Double, doc: "Share of uncleaned log that triggers compaction.", check: check_ratio },
    TopicConfigDef { name: "min.compaction.lag.ms", synonyms: &[("log.cleaner.min.compaction.lag.ms", 1)], default: Some("0"), ty: ConfigType::Long, doc: "Minimum age before a record may be compacted.", check: check_ms },
    TopicConfigDef { name: "min.insync.replicas", synonyms: &[("min.insync.replicas", 1)], default: Some("1"), ty: ConfigType::Int, doc: "acks=all fails with NOT_ENOUGH_REPLICAS when fewer replicas are in sync (this node is one replica).", check: check_int_positive },
    TopicConfigDef { name: "retention.bytes", synonyms: &[("log.retention.bytes", 1)], default: Some("-1"), ty: ConfigType::Long, doc: "Largest size of a partition before old segments are deleted; -1 for no limit.", check: check_retention },
    TopicConfigDef { name: "retention.ms", synonyms: &[("log.retention.ms", 1), ("log.retention.minutes", 60_000), ("log.retention.hours", 3_600_000)], default: Some("604800000"), ty: ConfigType::Long, doc: "Age after which segments are deleted; -1 for no limit.", check: check_retention },
    TopicConfigDef { name: "segment.bytes", synonyms: &[("log.segment.bytes", 1)], default: Some("1073741824"), ty: ConfigType::Int, doc: "Segment file size before rolling.", check: check_segment_bytes },
    TopicConfigDef { name: "segment.index.bytes", synonyms: &[("log.index.size.max.bytes", 1)], default: Some("10485760"), ty: ConfigType::Int, doc: "Size of the offset index of a segment.", check: check_index_bytes },
    TopicConfigDef { name: "segment.ms", synonyms: &[("log.roll.ms", 1), ("log.roll.hours", 3_600_000)], default: Some("604800000"), ty: ConfigType::Long, doc: "Age after which the active segment is rolled.", check: check_positive },
    TopicConfigDef { name: "weir.mirror.promoted", synonyms: &[], default: None, ty: ConfigType::String, doc: "Set when `weir mirror promote` makes a mirror topic writable: what it was a mirror of (SOURCE-ALIAS:TOPIC). Informational; `weir mirror failover` finds a flow's promoted topics by it.", check: check_mirror_source },
    TopicConfigDef { name: "weir.mirror.source", synonyms: &[], default: None, ty: ConfigType::String, doc: "Set on an offset-preserving mirror topic: what it copies (SOURCE-ALIAS:TOPIC). Producing to it fails (INVALID_REQUEST, naming the source) until `weir mirror promote` removes the key.", check: check_mirror_source },
];

fn check_mirror_source(v: &str) -> std::result::Result<(), String> {
    match v.split_once(':') {
        Some((alias, topic)) if !alias.trim().is_empty() && !topic.trim().is_empty() => Ok(()),
        _ => Err(format!("'{v}' is not SOURCE-ALIAS:TOPIC")),
    }
}

pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

pub use broker_keys::BROKER_KEYS;

/// Every key the broker accepts, with its default (if any).
fn broker_default(key: &str) -> Option<Option<&'static str>> {
    if let Some((_, d, _, _)) = BROKER_KEYS.iter().find(|(k, ..)| *k == key) {
        return Some(Some(d));
    }
    for def in TOPIC_CONFIGS {
        if let Some(pos) = def.synonyms.iter().position(|(k, _)| *k == key) {
            // Only the first synonym carries the default; the coarser units are unset.
            return Some(if pos == 0 { def.default } else { None });
        }
    }
    None
}

pub fn is_broker_key(key: &str) -> bool {
    broker_default(key).is_some()
}

/// The per-listener keys Weir reads, as Kafka spells them:
/// `listener.name.<listener, lower case>.<key>`.
pub const LISTENER_KEYS: &[&str] = &["max.connections"];

/// `listener.name.<listener>.<key>` for a key in [`LISTENER_KEYS`]: the
/// listener's name (upper case, as in `listeners`) and the key.
pub fn listener_key(key: &str) -> Option<(String, &'static str)> {
    let rest = key.strip_prefix("listener.name.")?;
    LISTENER_KEYS.iter().find_map(|k| {
        let name = rest.strip_suffix(k)?.strip_suffix('.')?;
        let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        ok.then(|| (name.to_ascii_uppercase(), *k))
    })
}

/// Kafka's type check of a value (booleans and numbers; other types take any string).
fn check_value_type(key: &str, value: &str, ty: ConfigType) -> Result<()> {
    match ty {
        ConfigType::Boolean if value != "true" && value != "false" => {
            Err(BrokerError::Config(format!("{key}: '{value}' is not true or false")))
        }
        ConfigType::Int | ConfigType::Short | ConfigType::Long if value.parse::<i64>().is_err() => {
            Err(BrokerError::Config(format!("{key}: '{value}' is not a number")))
        }
        ConfigType::Double if value.parse::<f64>().is_err() => {
            Err(BrokerError::Config(format!("{key}: '{value}' is not a number")))
        }
        _ => Ok(()),
    }
}

/// The known key closest to a misspelt one (Levenshtein distance, at most a third
/// of its length), for the start-up error.
pub fn nearest_key(key: &str) -> Option<&'static str> {
    let known = BROKER_KEYS
        .iter()
        .map(|k| k.0)
        .chain(TOPIC_CONFIGS.iter().flat_map(|d| d.synonyms.iter().map(|s| s.0)))
        .chain(kafka_keys::KAFKA_BROKER_KEYS.iter().map(|k| k.0))
        .chain(kafka_keys::KAFKA_INTERNAL_BROKER_KEYS.iter().map(|k| k.0));
    known
        .map(|k| (edit_distance(key, k), k))
        .filter(|(d, _)| *d <= key.len().max(3) / 3)
        .min_by_key(|(d, k)| (*d, *k))
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Static broker configuration.
#[derive(Clone, Debug, Default)]
pub struct BrokerConfig {
    /// Keys explicitly set (weir.toml or --set); everything else is a default.
    pub set: BTreeMap<String, String>,
    /// Kafka broker keys that were set but that Weir has no use for (accepted so a
    /// Kafka configuration carries over; logged once at start-up).
    pub no_effect: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// Checks and records one setting. Unknown keys are refused so typos surface at start.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let key = key.trim();
        let value = value.trim();
        if listener_key(key).is_some() {
            check_value_type(key, value, ConfigType::Int)?;
            self.set.insert(key.to_string(), value.to_string());
            return Ok(());
        }
        if !is_broker_key(key) {
            if let Some((ty, ..)) = kafka_keys::kafka_key(key) {
                // A Kafka key Weir has no use for: its value must still be of its
                // type, so a typo in a number is caught as Kafka would.
                check_value_type(key, value, ty)?;
                self.no_effect.insert(key.to_string(), value.to_string());
                return Ok(());
            }
            let hint = nearest_key(key).map(|k| format!("; did you mean '{k}'?")).unwrap_or_default();
            return Err(BrokerError::Config(format!("unknown broker config key '{key}'{hint}")));
        }
        if let Some(def) = TOPIC_CONFIGS.iter().find(|d| d.synonyms.iter().any(|(k, _)| *k == key)) {
            let factor = def.synonyms.iter().find(|(k, _)| *k == key).map(|s| s.1).unwrap_or(1);
            let check_value = if factor != 1 {
                match value.parse::<i64>() {
                    Ok(v) if v < 0 => "-1".to_string(),
                    Ok(v) => v.saturating_mul(factor).to_string(),
                    Err(_) => value.to_string(),
                }
            } else {
                value.to_string()
            };
            (def.check)(&check_value).map_err(|e| BrokerError::Config(format!("{key}: {e}")))?;
        } else {
            let ty = BROKER_KEYS.iter().find(|(k, ..)| *k == key).map(|b| b.2);
            if let Some(ty) = ty {
                check_value_type(key, value, ty)?;
            }
            match ty {
                _ if key == "group.consumer.assignors" => {
                    let known = crate::group::assignor::ASSIGNORS;
                    let names: Vec<&str> = value.split(',').map(str::trim).collect();
                    if let Some(bad) = names.iter().find(|n| !known.contains(n)) {
                        return Err(BrokerError::Config(format!(
                            "{key}: unknown assignor '{bad}' (known: {})",
                            known.join(", ")
                        )));
                    }
                }
                _ => {}
            }
        }
        self.set.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// The effective value of a broker key (set or default).
    pub fn get(&self, key: &str) -> Option<String> {
        self.set.get(key).cloned().or_else(|| broker_default(key).flatten().map(str::to_string))
    }

    /// The broker-level value of a topic key: the first synonym that is explicitly set
    /// (converted to the topic key's unit), else the default.
    pub fn topic_default(&self, def: &TopicConfigDef) -> Option<(String, i8, &'static str)> {
        for (key, factor) in def.synonyms {
            if let Some(v) = self.set.get(*key) {
                let v = if *factor != 1 {
                    match v.parse::<i64>() {
                        Ok(n) if n < 0 => "-1".to_string(),
                        Ok(n) => n.saturating_mul(*factor).to_string(),
                        Err(_) => v.clone(),
                    }
                } else {
                    v.clone()
                };
                return Some((v, source::STATIC_BROKER_CONFIG, key));
            }
        }
        def.default.map(|d| (d.to_string(), source::DEFAULT_CONFIG, def.name))
    }

    /// A topic key's effective value: the topic's override, else the broker's.
    pub fn topic_value(&self, overrides: &BTreeMap<String, String>, name: &str) -> Option<String> {
        if let Some(v) = overrides.get(name) {
            return Some(v.clone());
        }
        topic_config_def(name).and_then(|d| self.topic_default(d)).map(|(v, ..)| v)
    }

    /// Resolves a topic's settings (its overrides over the broker's) into a LogConfig.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let get = |name: &str| self.topic_value(overrides, name);
        let num = |name: &str, dflt: i64| get(name).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(dflt);
        let mut c = LogConfig::default();
        c.segment_bytes = num("segment.bytes", c.segment_bytes as i64) as u64;
        c.segment_ms = num("segment.ms", c.segment_ms);
        c.segment_index_bytes = num("segment.index.bytes", c.segment_index_bytes as i64) as u64;
        c.index_interval_bytes = num("index.interval.bytes", c.index_interval_bytes as i64) as u64;
        c.retention_ms = num("retention.ms", c.retention_ms);
        c.retention_bytes = num("retention.bytes", c.retention_bytes);
        c.delete_retention_ms = num("delete.retention.ms", c.delete_retention_ms);
        c.min_compaction_lag_ms = num("min.compaction.lag.ms", c.min_compaction_lag_ms);
        c.max_message_bytes = num("max.message.bytes", c.max_message_bytes as i64) as u64;
        c.file_delete_delay_ms = num("file.delete.delay.ms", c.file_delete_delay_ms);
        c.producer_id_expiration_ms =
            self.get("producer.id.expiration.ms").and_then(|v| v.trim().parse().ok()).unwrap_or(86_400_000);
        if let Some(r) = get("min.cleanable.dirty.ratio").and_then(|v| v.trim().parse().ok()) {
            c.min_cleanable_dirty_ratio = r;
        }
        if let Some(p) = get("cleanup.policy") {
            c.cleanup_policy = CleanupPolicy {
                delete: p.split(',').any(|s| s.trim() == "delete"),
                compact: p.split(',').any(|s| s.trim() == "compact"),
            };
        }
        c.message_timestamp_type = match get("message.timestamp.type").as_deref() {
            Some("LogAppendTime") => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        };
        let messages = get("flush.messages").and_then(|v| v.trim().parse::<i64>().ok());
        let ms = get("flush.ms").and_then(|v| v.trim().parse::<i64>().ok());
        c.flush = match (messages, ms) {
            (None, None) => FlushPolicy::Durable,
            (m, t) => FlushPolicy::Interval { messages: m.unwrap_or(i64::MAX), ms: t.unwrap_or(i64::MAX) },
        };
        c
    }
}

/// Validates a set of topic overrides (CreateTopics, AlterConfigs).
pub fn validate_topic_configs(configs: &BTreeMap<String, String>) -> std::result::Result<(), String> {
    for (k, v) in configs {
        let def = topic_config_def(k).ok_or_else(|| format!("Unknown topic config name: {k}"))?;
        (def.check)(v).map_err(|e| format!("Invalid value {v} for configuration {k}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
