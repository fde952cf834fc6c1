//! Typed broker settings, built and checked once at start-up from the raw
//! [`BrokerConfig`] (Kafka key names, strings). Nothing after start-up reads a
//! broker key by name: the request paths use these fields, so a misspelt key in
//! the code fails the start-up (and the unit test below), instead of reading 0.
//!
//! Topic settings resolve per topic ([`TopicSettings`]): a topic's overrides over
//! the broker's synonyms over Kafka's defaults. They are resolved when a topic is
//! created or its configs change, not per request.

use std::collections::BTreeMap;

use weir_storage::LogConfig;

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};

/// Classic consumer groups (`group.*`).
#[derive(Clone, Debug)]
pub struct GroupSettings {
    pub min_session_timeout_ms: i64,
    pub max_session_timeout_ms: i64,
    pub initial_rebalance_delay_ms: i64,
    pub max_size: usize,
    pub offsets_retention_ms: i64,
    pub offset_metadata_max_bytes: usize,
}

/// Share groups (`group.share.*`, KIP-932).
#[derive(Clone, Debug)]
pub struct ShareGroupSettings {
    pub session_timeout_ms: i64,
    pub heartbeat_interval_ms: i64,
    pub record_lock_duration_ms: i64,
    pub delivery_count_limit: u16,
    pub partition_max_record_locks: usize,
    pub max_size: usize,
    pub max_share_sessions: usize,
    pub state_topic_partitions: i32,
}

/// The transaction coordinator (`transaction.*`).
#[derive(Clone, Debug)]
pub struct TxnSettings {
    pub state_log_partitions: i32,
    pub state_log_segment_bytes: i64,
    pub max_timeout_ms: i64,
    pub id_expiration_ms: i64,
    pub abort_check_interval_ms: u64,
}

/// KIP-848 consumer groups (`group.consumer.*`).
#[derive(Clone, Debug)]
pub struct ConsumerGroupSettings {
    pub session_timeout_ms: i64,
    pub heartbeat_interval_ms: i64,
    /// Bounds of the two above, for the broker's values and per-group overrides.
    pub session_timeout_range: (i64, i64),
    pub heartbeat_interval_range: (i64, i64),
    pub max_size: usize,
    /// `group.consumer.migration.policy`.
    pub migration: crate::group::MigrationPolicy,
    /// `consumer` is among `group.coordinator.rebalance.protocols`.
    pub enabled: bool,
    /// Server-side assignors in order; the first is the default.
    pub assignors: Vec<String>,
}

impl ConsumerGroupSettings {
    /// Kafka's checks of a session timeout and heartbeat interval (the broker's,
    /// keys prefixed `group.consumer.`, or a group's own, prefixed `consumer.`).
    pub fn check(&self, session_ms: i64, heartbeat_ms: i64, prefix: &str) -> std::result::Result<(), String> {
        let bound = |value: i64, (min, max): (i64, i64), key: &str| {
            if value < min {
                Err(format!("{prefix}{key} must be greater than or equal to group.consumer.min.{key}"))
            } else if value > max {
                Err(format!("{prefix}{key} must be less than or equal to group.consumer.max.{key}"))
            } else {
                Ok(())
            }
        };
        bound(heartbeat_ms, self.heartbeat_interval_range, "heartbeat.interval.ms")?;
        bound(session_ms, self.session_timeout_range, "session.timeout.ms")?;
        if session_ms <= heartbeat_ms {
            return Err(format!("{prefix}session.timeout.ms must be greater than {prefix}heartbeat.interval.ms"));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct BrokerSettings {
    pub node_id: i32,
    /// Kafka's `listeners` syntax, unparsed (the network layer parses it).
    pub listeners: String,
    pub advertised_listeners: String,
    /// Listeners Kafka keeps for its controller quorum: not bound (see
    /// `net::listeners::without_controller_listeners`).
    pub controller_listener_names: String,
    pub listener_security_protocol_map: String,
    /// The `ssl.*` keys SSL listeners read (`net::tls::TlsSettings`).
    pub ssl: std::collections::BTreeMap<String, String>,
    /// The keys SASL listeners read (`net::sasl::SaslSettings`).
    pub sasl: std::collections::BTreeMap<String, String>,
    /// `bootstrap.users`: SCRAM users created on start-up if missing.
    pub bootstrap_users: Vec<(String, String)>,
    /// Set when `authorizer.class.name` names Weir's ACL authorizer.
    pub authorizer: Option<AuthorizerSettings>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    pub connections: crate::net::limits::LimitSettings,
    pub fetch_max_bytes: usize,
    /// `max.incremental.fetch.session.cache.slots`.
    pub fetch_session_cache_slots: usize,
    /// `min.incremental.fetch.session.eviction.ms`.
    pub fetch_session_eviction_ms: i64,
    pub log_retention_check_interval_ms: u64,
    pub log_recycle_bytes: u64,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_segment_bytes: i64,
    pub producer_id_expiration_ms: i64,
    pub group: GroupSettings,
    pub consumer_group: ConsumerGroupSettings,
    pub share_group: ShareGroupSettings,
    pub txn: TxnSettings,
}

/// The keys SSL listeners are configured with.
pub const SSL_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.client.auth",
    "ssl.principal.mapping.rules",
];

/// The ACL authorizer's settings.
#[derive(Clone, Debug)]
pub struct AuthorizerSettings {
    /// `super.users`: principals every check allows.
    pub super_users: Vec<crate::net::Principal>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_everyone_if_no_acl_found: bool,
}

fn authorizer_settings(r: &Reader<'_>) -> Result<Option<AuthorizerSettings>> {
    let class = r.raw("authorizer.class.name")?;
    let class = class.trim();
    if class.is_empty() {
        return Ok(None);
    }
    if !crate::acl::AUTHORIZER_CLASSES.contains(&class) {
        return Err(BrokerError::Config(format!(
            "authorizer.class.name: '{class}' is not served; {} names Weir's ACL authorizer",
            crate::acl::AUTHORIZER_CLASSES[0]
        )));
    }
    Ok(Some(AuthorizerSettings {
        super_users: crate::acl::parse_super_users(&r.raw("super.users")?)
            .map_err(|e| BrokerError::Config(format!("super.users: {e}")))?,
        allow_everyone_if_no_acl_found: r.bool("allow.everyone.if.no.acl.found")?,
    }))
}

/// The keys SASL listeners are configured with.
pub const SASL_KEYS: &[&str] = &[
    "sasl.enabled.mechanisms",
    "sasl.server.max.receive.size",
    "connections.max.reauth.ms",
    "connection.failed.authentication.delay.ms",
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.jwks.endpoint.refresh.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.clock.skew.seconds",
];

/// `listener.name.<listener>.max.connections` for every listener that has one.
fn per_listener_limits(c: &BrokerConfig) -> Result<std::collections::HashMap<String, usize>> {
    let mut out = std::collections::HashMap::new();
    for (key, value) in &c.set {
        if let Some((listener, "max.connections")) = crate::config::listener_key(key) {
            let n: i64 = value.parse().map_err(|_| BrokerError::Config(format!("{key}: '{value}' is not a number")))?;
            if !(0..=i32::MAX as i64).contains(&n) {
                return Err(BrokerError::Config(format!("{key}: value {n} must be between 0 and {}", i32::MAX)));
            }
            out.insert(listener, n as usize);
        }
    }
    Ok(out)
}

/// Reads keys that must exist in the key tables; an unknown name is a bug in the
/// caller and fails start-up with the key named.
struct Reader<'a>(&'a BrokerConfig);

impl Reader<'_> {
    fn raw(&self, key: &str) -> Result<String> {
        if !crate::config::is_broker_key(key) {
            return Err(BrokerError::Config(format!("internal error: '{key}' is not a broker config key")));
        }
        Ok(self.0.get(key).unwrap_or_default())
    }

    fn long(&self, key: &str, min: i64, max: i64) -> Result<i64> {
        let v = self.raw(key)?;
        let n: i64 = v.trim().parse().map_err(|_| BrokerError::Config(format!("{key}: '{v}' is not a number")))?;
        if n < min || n > max {
            return Err(BrokerError::Config(format!("{key}: value {n} must be between {min} and {max}")));
        }
        Ok(n)
    }

    fn int(&self, key: &str, min: i64) -> Result<i32> {
        Ok(self.long(key, min, i32::MAX as i64)? as i32)
    }

    fn bool(&self, key: &str) -> Result<bool> {
        match self.raw(key)?.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(BrokerError::Config(format!("{key}: '{other}' is not true or false"))),
        }
    }
}

impl BrokerSettings {
    pub fn from_config(c: &BrokerConfig) -> Result<BrokerSettings> {
        let r = Reader(c);
        let group = GroupSettings {
            min_session_timeout_ms: r.long("group.min.session.timeout.ms", 0, i32::MAX as i64)?,
            max_session_timeout_ms: r.long("group.max.session.timeout.ms", 0, i32::MAX as i64)?,
            initial_rebalance_delay_ms: r.long("group.initial.rebalance.delay.ms", 0, i32::MAX as i64)?,
            max_size: r.int("group.max.size", 1)? as usize,
            offsets_retention_ms: r.long("offsets.retention.minutes", 1, i32::MAX as i64)? * 60_000,
            offset_metadata_max_bytes: r.int("offset.metadata.max.bytes", 0)? as usize,
        };
        if group.min_session_timeout_ms > group.max_session_timeout_ms {
            return Err(BrokerError::Config(format!(
                "group.min.session.timeout.ms ({}) is larger than group.max.session.timeout.ms ({})",
                group.min_session_timeout_ms, group.max_session_timeout_ms
            )));
        }
        let assignors: Vec<String> = r
            .raw("group.consumer.assignors")?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = assignors.iter().find(|a| !crate::group::assignor::ASSIGNORS.contains(&a.as_str())) {
            return Err(BrokerError::Config(format!("group.consumer.assignors: unknown assignor '{bad}'")));
        }
        if assignors.is_empty() {
            return Err(BrokerError::Config("group.consumer.assignors: at least one assignor is needed".into()));
        }
        let int_ms = |key: &str| r.long(key, 1, i32::MAX as i64);
        let consumer_group = ConsumerGroupSettings {
            session_timeout_ms: int_ms("group.consumer.session.timeout.ms")?,
            heartbeat_interval_ms: int_ms("group.consumer.heartbeat.interval.ms")?,
            session_timeout_range: (
                int_ms("group.consumer.min.session.timeout.ms")?,
                int_ms("group.consumer.max.session.timeout.ms")?,
            ),
            heartbeat_interval_range: (
                int_ms("group.consumer.min.heartbeat.interval.ms")?,
                int_ms("group.consumer.max.heartbeat.interval.ms")?,
            ),
            max_size: r.int("group.consumer.max.size", 1)? as usize,
            enabled: {
                let v = r.raw("group.coordinator.rebalance.protocols")?;
                let protocols: Vec<String> = v.split(',').map(|p| p.trim().to_ascii_lowercase()).collect();
                if let Some(bad) =
                    protocols.iter().find(|p| !["classic", "consumer", "streams", "share"].contains(&p.as_str()))
                {
                    return Err(BrokerError::Config(format!(
                        "group.coordinator.rebalance.protocols: unknown protocol '{bad}'"
                    )));
                }
                if !protocols.iter().any(|p| p == "classic") {
                    return Err(BrokerError::Config(
                        "group.coordinator.rebalance.protocols: disabling the 'classic' protocol is not supported"
                            .into(),
                    ));
                }
                protocols.iter().any(|p| p == "consumer")
            },
            migration: {
                let v = r.raw("group.consumer.migration.policy")?;
                crate::group::MigrationPolicy::parse(&v).ok_or_else(|| {
                    BrokerError::Config(format!(
                        "group.consumer.migration.policy: '{v}' must be one of bidirectional, upgrade, downgrade, disabled"
                    ))
                })?
            },
            assignors,
        };
        consumer_group
            .check(consumer_group.session_timeout_ms, consumer_group.heartbeat_interval_ms, "group.consumer.")
            .map_err(BrokerError::Config)?;
        Ok(BrokerSettings {
            node_id: r.int("node.id", 0)?,
            listeners: r.raw("listeners")?,
            advertised_listeners: r.raw("advertised.listeners")?,
            controller_listener_names: r.raw("controller.listener.names")?,
            listener_security_protocol_map: r.raw("listener.security.protocol.map")?,
            ssl: SSL_KEYS.iter().map(|k| Ok((k.to_string(), r.raw(k)?))).collect::<Result<_>>()?,
            sasl: SASL_KEYS.iter().map(|k| Ok((k.to_string(), r.raw(k)?))).collect::<Result<_>>()?,
            bootstrap_users: crate::scram::parse_bootstrap_users(&r.raw("bootstrap.users")?)
                .map_err(|e| BrokerError::Config(format!("bootstrap.users: {e}")))?,
            authorizer: authorizer_settings(&r)?,
            num_partitions: r.int("num.partitions", 1)?,
            default_replication_factor: r.long("default.replication.factor", 1, i16::MAX as i64)? as i16,
            auto_create_topics_enable: r.bool("auto.create.topics.enable")?,
            delete_topic_enable: r.bool("delete.topic.enable")?,
            socket_request_max_bytes: r.int("socket.request.max.bytes", 1)? as usize,
            connections: crate::net::limits::LimitSettings {
                max_connections: r.int("max.connections", 0)? as usize,
                per_listener: per_listener_limits(c)?,
                max_per_ip: r.int("max.connections.per.ip", 0)? as usize,
                overrides: crate::net::limits::parse_overrides(&r.raw("max.connections.per.ip.overrides")?)?,
                idle_ms: r.long("connections.max.idle.ms", -1, i64::MAX)?,
                queued_max_request_bytes: r.long("queued.max.request.bytes", -1, i64::MAX)?,
            },
            fetch_max_bytes: r.int("fetch.max.bytes", 1024)? as usize,
            fetch_session_cache_slots: r.int("max.incremental.fetch.session.cache.slots", 0)? as usize,
            fetch_session_eviction_ms: r.long("min.incremental.fetch.session.eviction.ms", 0, i64::MAX)?,
            log_retention_check_interval_ms: r.long("log.retention.check.interval.ms", 1, i64::MAX)? as u64,
            log_recycle_bytes: r.long("log.recycle.bytes", 0, i64::MAX)? as u64,
            offsets_topic_num_partitions: r.int("offsets.topic.num.partitions", 1)?,
            offsets_topic_segment_bytes: r.int("offsets.topic.segment.bytes", 14)? as i64,
            producer_id_expiration_ms: r.long("producer.id.expiration.ms", 1, i64::MAX)?,
            group,
            consumer_group,
            share_group: ShareGroupSettings {
                session_timeout_ms: int_ms("group.share.session.timeout.ms")?,
                heartbeat_interval_ms: int_ms("group.share.heartbeat.interval.ms")?,
                record_lock_duration_ms: int_ms("group.share.record.lock.duration.ms")?,
                // Kafka bounds these: 2-10 deliveries, 100-10,000 locks, 1-1,000 members.
                delivery_count_limit: r.long("group.share.delivery.count.limit", 2, 10)? as u16,
                partition_max_record_locks: r.long("group.share.partition.max.record.locks", 100, 10_000)? as usize,
                max_size: r.long("group.share.max.size", 1, 1000)? as usize,
                max_share_sessions: r.int("group.share.max.share.sessions", 1)? as usize,
                state_topic_partitions: r.int("share.coordinator.state.topic.num.partitions", 1)?,
            },
            txn: TxnSettings {
                state_log_partitions: r.int("transaction.state.log.num.partitions", 1)?,
                state_log_segment_bytes: r.int("transaction.state.log.segment.bytes", 14)? as i64,
                max_timeout_ms: r.int("transaction.max.timeout.ms", 1)? as i64,
                id_expiration_ms: r.int("transactional.id.expiration.ms", 1)? as i64,
                abort_check_interval_ms: r.int("transaction.abort.timed.out.transaction.cleanup.interval.ms", 1)?
                    as u64,
            },
        })
    }
}

/// A topic's effective settings: what its partitions act on.
#[derive(Clone, Debug)]
pub struct TopicSettings {
    pub log: LogConfig,
    /// `compression.type` other than `producer`: the codec (and level) every
    /// stored batch must have; batches with another codec are recompressed.
    pub recompress: Option<(u8, i32)>,
    pub min_insync_replicas: i32,
    pub key_schema_validation: bool,
    pub value_schema_validation: bool,
    /// `weir.mirror.source`: a read-only mirror of this source until promoted.
    pub mirror_source: Option<String>,
}

impl TopicSettings {
    /// Resolves a topic's overrides over the broker's values.
    pub fn resolve(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> TopicSettings {
        let get = |name: &str| config.topic_value(overrides, name);
        let flag = |name: &str| get(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let level = |name: &str, default: i32| get(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        let recompress = match get("compression.type").as_deref().map(str::trim) {
            Some("uncompressed") => Some((weir_storage::batch::COMPRESSION_NONE, 0)),
            Some("gzip") => Some((weir_storage::batch::COMPRESSION_GZIP, level("compression.gzip.level", -1))),
            Some("snappy") => Some((weir_storage::batch::COMPRESSION_SNAPPY, 0)),
            Some("lz4") => Some((weir_storage::batch::COMPRESSION_LZ4, level("compression.lz4.level", 9))),
            Some("zstd") => Some((weir_storage::batch::COMPRESSION_ZSTD, level("compression.zstd.level", 3))),
            _ => None,
        };
        TopicSettings {
            log: config.log_config(overrides),
            recompress,
            min_insync_replicas: get("min.insync.replicas").and_then(|v| v.trim().parse().ok()).unwrap_or(1),
            key_schema_validation: flag("confluent.key.schema.validation"),
            value_schema_validation: flag("confluent.value.schema.validation"),
            mirror_source: get("weir.mirror.source").filter(|v| !v.trim().is_empty()),
        }
    }

    pub fn validates_schemas(&self) -> bool {
        self.key_schema_validation || self.value_schema_validation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_build_and_every_field_reads_a_known_key() {
        let s = BrokerSettings::from_config(&BrokerConfig::default()).expect("defaults are valid");
        assert_eq!(s.node_id, 1);
        assert_eq!(s.num_partitions, 1);
        assert_eq!(s.fetch_max_bytes, 16 << 20);
        assert_eq!(s.group.offsets_retention_ms, 10080 * 60_000);
        assert_eq!(s.consumer_group.assignors, vec!["uniform".to_string(), "range".to_string()]);
        assert!(s.auto_create_topics_enable);
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let mut c = BrokerConfig::default();
        c.set("num.partitions", "0").unwrap();
        let e = BrokerSettings::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("num.partitions"), "{e}");
        let mut c = BrokerConfig::default();
        c.set("group.min.session.timeout.ms", "90000").unwrap();
        c.set("group.max.session.timeout.ms", "6000").unwrap();
        assert!(BrokerSettings::from_config(&c).unwrap_err().to_string().contains("group.min.session.timeout.ms"));
    }

    #[test]
    fn topic_settings_resolve_overrides_over_broker_values() {
        let mut c = BrokerConfig::default();
        c.set("min.insync.replicas", "2").unwrap();
        let mut o = BTreeMap::new();
        assert_eq!(TopicSettings::resolve(&c, &o).min_insync_replicas, 2);
        o.insert("min.insync.replicas".to_string(), "1".to_string());
        o.insert("confluent.value.schema.validation".to_string(), "true".to_string());
        let t = TopicSettings::resolve(&c, &o);
        assert_eq!(t.min_insync_replicas, 1);
        assert!(t.value_schema_validation && !t.key_schema_validation && t.validates_schemas());
    }
}
