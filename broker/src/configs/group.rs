//! Group configs (KIP-848): per-group overrides of the consumer-group session timeout
//! and heartbeat interval, kept in the metadata log (`GroupConfigsReplaced`) and read
//! by the group coordinator on each heartbeat and expiry check. Unset keys fall back
//! to the broker's `group.consumer.*` values. Any group name may carry configs, even
//! one no member has joined yet, as in Kafka. Share groups read
//! `share.auto.offset.reset` (where a share-partition starts: `latest`, the default,
//! `earliest` or `by_duration:PT1H`, see [`super::share_reset`]) when a
//! share-partition is first read, and `share.isolation.level` (`read_uncommitted`,
//! the default, or `read_committed`) on every fetch.

use std::collections::BTreeMap;

use super::share_reset::ShareReset;
use super::{AlterOp, ConfigChange, ConfigEntry, ConfigSource, ConfigSynonym, Configs};
use crate::config::ConfigType;
use crate::error::TopicError;
use crate::metadata::{Event, MetadataStore};
use crate::settings::ConsumerGroupSettings;

/// (group key, the broker key it overrides, doc).
pub const GROUP_CONFIGS: &[(&str, &str, &str)] = &[
    (
        "consumer.session.timeout.ms",
        "group.consumer.session.timeout.ms",
        "A member of this consumer group that sends no heartbeat for this long is removed.",
    ),
    (
        "consumer.heartbeat.interval.ms",
        "group.consumer.heartbeat.interval.ms",
        "How often members of this consumer group are told to heartbeat.",
    ),
];

/// Share-group keys: (name, default, doc).
pub const SHARE_GROUP_CONFIGS: &[(&str, &str, &str)] = &[
    (
        "share.auto.offset.reset",
        "latest",
        "Where a share group starts reading a partition it has not read before: latest, earliest, or \
         by_duration:<ISO-8601 duration> (the first record at most that long ago, e.g. by_duration:PT1H).",
    ),
    (
        "share.isolation.level",
        "read_uncommitted",
        "Which transactional records a share group is handed: read_committed hands out only committed ones \
         (records of aborted transactions are archived, open transactions wait), read_uncommitted all.",
    ),
];

/// A consumer group's session timeout and heartbeat interval, overrides applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupTimeouts {
    pub session_timeout_ms: i64,
    pub heartbeat_interval_ms: i64,
}

fn is_group_key(name: &str) -> bool {
    GROUP_CONFIGS.iter().any(|g| g.0 == name) || SHARE_GROUP_CONFIGS.iter().any(|g| g.0 == name)
}

fn check_name(group: &str) -> Result<(), TopicError> {
    if group.is_empty() {
        return Err(TopicError::InvalidRequest("Group name must not be empty".into()));
    }
    Ok(())
}

/// The timeouts in effect for `group`: its overrides, else the broker's.
pub fn group_timeouts(cg: &ConsumerGroupSettings, meta: &MetadataStore, group: &str) -> GroupTimeouts {
    let mut t =
        GroupTimeouts { session_timeout_ms: cg.session_timeout_ms, heartbeat_interval_ms: cg.heartbeat_interval_ms };
    if let Some(o) = meta.group_configs(group) {
        let get = |k: &str| o.get(k).and_then(|v| v.parse::<i64>().ok());
        t.session_timeout_ms = get(GROUP_CONFIGS[0].0).unwrap_or(t.session_timeout_ms);
        t.heartbeat_interval_ms = get(GROUP_CONFIGS[1].0).unwrap_or(t.heartbeat_interval_ms);
    }
    t
}

impl Configs {
    /// The timeouts in effect for `group`.
    pub fn group_timeouts(&self, group: &str) -> GroupTimeouts {
        group_timeouts(&self.settings.consumer_group, &self.meta, group)
    }

    /// The groups with configs of their own.
    pub fn groups_with_configs(&self) -> Vec<String> {
        self.meta.groups_with_configs()
    }

    /// A group's configs with their sources (DescribeConfigs on a GROUP resource).
    pub fn describe_group(&self, group: &str) -> Result<Vec<ConfigEntry>, TopicError> {
        check_name(group)?;
        let overrides = self.meta.group_configs(group).unwrap_or_default();
        let mut out = Vec::new();
        for (name, broker_key, doc) in GROUP_CONFIGS {
            let broker_value = self.config.get(broker_key);
            let broker_source = if self.config.set.contains_key(*broker_key) {
                ConfigSource::StaticBroker
            } else {
                ConfigSource::Default
            };
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(*name) {
                synonyms.push(ConfigSynonym {
                    name: name.to_string(),
                    value: Some(v.clone()),
                    source: ConfigSource::Group,
                });
            }
            synonyms.push(ConfigSynonym {
                name: broker_key.to_string(),
                value: broker_value.clone(),
                source: broker_source,
            });
            let (value, source) = match overrides.get(*name) {
                Some(v) => (Some(v.clone()), ConfigSource::Group),
                None => (broker_value, ConfigSource::Default),
            };
            out.push(ConfigEntry {
                name,
                value,
                source,
                read_only: false,
                sensitive: false,
                ty: ConfigType::Int,
                doc,
                synonyms,
            });
        }
        for (name, default, doc) in SHARE_GROUP_CONFIGS {
            let (value, source) = match overrides.get(*name) {
                Some(v) => (v.clone(), ConfigSource::Group),
                None => (default.to_string(), ConfigSource::Default),
            };
            let synonyms = if source == ConfigSource::Group {
                vec![ConfigSynonym { name: name.to_string(), value: Some(value.clone()), source }]
            } else {
                Vec::new()
            };
            out.push(ConfigEntry {
                name,
                value: Some(value),
                source,
                read_only: false,
                sensitive: false,
                ty: ConfigType::String,
                doc,
                synonyms,
            });
        }
        Ok(out)
    }

    /// Replaces a group's overrides (AlterConfigs). Blocking.
    pub fn replace_group(
        &self,
        group: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        self.update_group(group, |_| Ok(configs), validate_only)
    }

    /// Applies incremental changes to a group's overrides. Blocking.
    pub fn alter_group(&self, group: &str, changes: &[ConfigChange], validate_only: bool) -> Result<(), TopicError> {
        self.update_group(
            group,
            |current| {
                if let Some(c) = changes.iter().find(|c| !is_group_key(&c.name)) {
                    return Err(TopicError::InvalidConfig(format!("Unknown group config name: {}", c.name)));
                }
                let mut configs = current.clone();
                for c in changes {
                    match c.op {
                        AlterOp::Set => {
                            configs.insert(c.name.clone(), c.value.clone().unwrap_or_default());
                        }
                        AlterOp::Delete => {
                            configs.remove(&c.name);
                        }
                        AlterOp::Append | AlterOp::Subtract => {
                            return Err(TopicError::InvalidConfig(format!(
                                "Config value append/subtract is not allowed for config key {} (not a list)",
                                c.name
                            )))
                        }
                    }
                }
                Ok(configs)
            },
            validate_only,
        )
    }

    fn update_group(
        &self,
        group: &str,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, TopicError>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        check_name(group)?;
        self.meta.with_writer(|w| {
            let current = w.group_configs(group).map(|c| (*c).clone()).unwrap_or_default();
            let configs = change(&current)?;
            self.validate_group(&configs)?;
            if !validate_only {
                w.commit(Event::GroupConfigsReplaced { group: group.to_string(), configs })?;
            }
            Ok(())
        })
    }

    /// Kafka's GroupConfig checks: known names, INT values of at least 1, and the
    /// resulting timeouts within the broker's bounds.
    fn validate_group(&self, configs: &BTreeMap<String, String>) -> Result<(), TopicError> {
        let cg = &self.settings.consumer_group;
        let mut values = [cg.session_timeout_ms, cg.heartbeat_interval_ms];
        for (name, value) in configs {
            if name == SHARE_GROUP_CONFIGS[1].0 {
                if !["read_committed", "read_uncommitted"].contains(&value.as_str()) {
                    return Err(TopicError::InvalidConfig(format!(
                        "Invalid value {value} for configuration {name}: String must be one of: read_committed, \
                         read_uncommitted"
                    )));
                }
                continue;
            }
            if name == SHARE_GROUP_CONFIGS[0].0 {
                if ShareReset::parse(value).is_none() {
                    return Err(TopicError::InvalidConfig(ShareReset::refusal(name, value)));
                }
                continue;
            }
            let Some(i) = GROUP_CONFIGS.iter().position(|g| g.0 == name) else {
                return Err(TopicError::InvalidConfig(format!("Unknown group config name: {name}")));
            };
            values[i] = match value.trim().parse::<i32>() {
                Ok(n) if n >= 1 => n as i64,
                Ok(_) => {
                    return Err(TopicError::InvalidConfig(format!(
                        "Invalid value {value} for configuration {name}: Value must be at least 1"
                    )))
                }
                Err(_) => {
                    return Err(TopicError::InvalidConfig(format!(
                        "Invalid value {value} for configuration {name}: Not a number of type INT"
                    )))
                }
            };
        }
        cg.check(values[0], values[1], "consumer.").map_err(TopicError::InvalidConfig)
    }
}
