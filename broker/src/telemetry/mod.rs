//! Client telemetry (KIP-714): CLIENT_METRICS config resources say which metrics
//! which clients push and how often; GetTelemetrySubscriptions tells a client its
//! subscription; PushTelemetry delivers OTLP metrics, which the broker keeps
//! (latest value per metric and client) and the console's `/metrics` exports as
//! `weir_client_telemetry` gauges, so operators see client-side metrics next to
//! the broker's.
//!
//! A subscription (stored in the metadata log, `ClientMetricsConfigsReplaced`) has
//! `metrics` (name prefixes; `*` is every metric), `interval.ms` (100 ms - 1 h,
//! default 5 min) and `match` (`selector=regex` items that must all match:
//! client_instance_id, client_id, client_software_name, client_software_version,
//! client_source_address, client_source_port; none matches every client). A client
//! gets the union of the metrics of the subscriptions it matches at the shortest
//! of their intervals; its subscription id is a hash of both, so a config change
//! makes its next push UNKNOWN_SUBSCRIPTION_ID and it asks again. Client state is
//! kept in memory and dropped once a client stops pushing.

pub mod otlp;

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use uuid::Uuid;

use crate::error::TopicError;

pub const METRICS: &str = "metrics";
pub const INTERVAL_MS: &str = "interval.ms";
pub const MATCH: &str = "match";
pub const DEFAULT_INTERVAL_MS: i64 = 300_000;
pub const MAX_BYTES: usize = 1024 * 1024;
pub const SELECTORS: &[&str] = &[
    "client_instance_id",
    "client_id",
    "client_software_name",
    "client_software_version",
    "client_source_address",
    "client_source_port",
];

/// (key, type is a list, default, doc).
pub const CONFIGS: &[(&str, bool, &str, &str)] = &[
    (METRICS, true, "", "Metric name prefixes the matching clients push; * for every metric."),
    (INTERVAL_MS, false, "300000", "How often the matching clients push, in milliseconds."),
    (MATCH, true, "", "selector=regex items a client must all match; none matches every client."),
];

/// Kafka's checks of a subscription's configs.
pub fn validate(configs: &BTreeMap<String, String>) -> Result<(), String> {
    for (key, value) in configs {
        match key.as_str() {
            METRICS => {}
            INTERVAL_MS => match value.trim().parse::<i64>() {
                Ok(n) if (100..=3_600_000).contains(&n) => {}
                Ok(_) => {
                    return Err(format!(
                        "Invalid value {value} for configuration interval.ms: Value must be between 100 and 3600000"
                    ))
                }
                Err(_) => {
                    return Err(format!(
                        "Invalid value {value} for configuration interval.ms: Not a number of type INT"
                    ))
                }
            },
            MATCH => {
                for item in list(value) {
                    let ok = item.split_once('=').is_some_and(|(sel, re)| {
                        SELECTORS.contains(&sel.trim()) && regex::Regex::new(&format!("^(?:{})$", re.trim())).is_ok()
                    });
                    if !ok {
                        return Err(format!("Illegal client matching pattern: {item}"));
                    }
                }
            }
            other => return Err(format!("Unknown client metrics config name: {other}")),
        }
    }
    Ok(())
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// What a client is, for matching.
#[derive(Clone, Debug, Default)]
pub struct ClientAttributes {
    pub client_id: String,
    pub software_name: String,
    pub software_version: String,
    pub source_address: String,
    pub source_port: String,
}

/// A client's subscription, as GetTelemetrySubscriptions answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: i32,
    /// Prefixes; `[""]` is every metric; empty is none.
    pub metrics: Vec<String>,
    pub interval_ms: i64,
}

/// Every subscription that matches the client, merged.
pub fn subscription_for(
    subscriptions: &BTreeMap<String, std::sync::Arc<BTreeMap<String, String>>>,
    instance: Uuid,
    client: &ClientAttributes,
) -> Subscription {
    let mut metrics: Vec<String> = Vec::new();
    let mut interval: Option<i64> = None;
    let value_of = |sel: &str| -> String {
        match sel {
            "client_instance_id" => instance.to_string(),
            "client_id" => client.client_id.clone(),
            "client_software_name" => client.software_name.clone(),
            "client_software_version" => client.software_version.clone(),
            "client_source_address" => client.source_address.clone(),
            _ => client.source_port.clone(),
        }
    };
    for configs in subscriptions.values() {
        let matches = configs.get(MATCH).is_none_or(|m| {
            list(m).all(|item| {
                item.split_once('=').is_some_and(|(sel, re)| {
                    regex::Regex::new(&format!("^(?:{})$", re.trim())).is_ok_and(|r| r.is_match(&value_of(sel.trim())))
                })
            })
        });
        if !matches {
            continue;
        }
        let wanted: Vec<&str> = configs.get(METRICS).map(|m| list(m).collect()).unwrap_or_default();
        if wanted.is_empty() {
            continue;
        }
        metrics.extend(wanted.iter().map(|s| s.to_string()));
        let i = configs.get(INTERVAL_MS).and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_INTERVAL_MS);
        interval = Some(interval.map_or(i, |cur: i64| cur.min(i)));
    }
    metrics.sort();
    metrics.dedup();
    if metrics.iter().any(|m| m == "*") {
        metrics = vec![String::new()];
    }
    let interval_ms = interval.unwrap_or(DEFAULT_INTERVAL_MS);
    let mut h = crc32c::crc32c(metrics.join(",").as_bytes());
    h = crc32c::crc32c_append(h, &interval_ms.to_be_bytes());
    Subscription { id: h as i32, metrics, interval_ms }
}

struct Instance {
    client: ClientAttributes,
    subscription: Subscription,
    last_push_ms: Option<i64>,
    last_seen_ms: i64,
    points: Vec<otlp::Point>,
}

/// Why a push is refused (Kafka's error codes).
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    UnknownSubscription,
    TooEarly,
    TooLarge,
    UnsupportedCompression,
    Invalid(String),
}

#[derive(Default)]
pub struct Telemetry {
    instances: Mutex<HashMap<Uuid, Instance>>,
}

impl Telemetry {
    /// Records a client's subscription (GetTelemetrySubscriptions).
    pub fn subscribe(&self, instance: Uuid, client: ClientAttributes, subscription: Subscription, now_ms: i64) {
        let mut all = self.instances.lock();
        // Forget clients that stopped pushing three intervals ago.
        all.retain(|_, i| now_ms - i.last_seen_ms <= 3 * i.subscription.interval_ms.max(60_000));
        let e = all.entry(instance).or_insert(Instance {
            client: client.clone(),
            subscription: subscription.clone(),
            last_push_ms: None,
            last_seen_ms: now_ms,
            points: Vec::new(),
        });
        e.client = client;
        e.subscription = subscription;
        e.last_seen_ms = now_ms;
    }

    /// Accepts a push: checks it as Kafka does, decompresses and decodes it, and
    /// keeps its points (a terminating push forgets the client).
    pub fn push(
        &self,
        instance: Uuid,
        subscription_id: i32,
        terminating: bool,
        codec: i8,
        payload: &[u8],
        now_ms: i64,
    ) -> Result<(), PushError> {
        let mut all = self.instances.lock();
        let Some(i) = all.get_mut(&instance) else { return Err(PushError::UnknownSubscription) };
        if i.subscription.id != subscription_id {
            return Err(PushError::UnknownSubscription);
        }
        // Half an interval of slack: clients jitter their pushes.
        if !terminating && i.last_push_ms.is_some_and(|t| now_ms - t < i.subscription.interval_ms / 2) {
            return Err(PushError::TooEarly);
        }
        if payload.len() > MAX_BYTES {
            return Err(PushError::TooLarge);
        }
        let raw = match codec {
            0 => payload.to_vec(),
            1..=4 => weir_storage::record::decompress(codec as u8, payload)
                .map_err(|e| PushError::Invalid(format!("cannot decompress the metrics: {e}")))?,
            _ => return Err(PushError::UnsupportedCompression),
        };
        let points = otlp::decode(&raw).map_err(|e| PushError::Invalid(format!("malformed OTLP metrics: {e}")))?;
        if terminating {
            all.remove(&instance);
            return Ok(());
        }
        i.last_push_ms = Some(now_ms);
        i.last_seen_ms = now_ms;
        i.points = points;
        Ok(())
    }

    /// The latest points of every client in Prometheus text form.
    pub fn render_prometheus(&self) -> String {
        let all = self.instances.lock();
        if all.values().all(|i| i.points.is_empty()) {
            return String::new();
        }
        let mut out = String::from(
            "# HELP weir_client_telemetry Latest value of each metric clients push (KIP-714).\n\
             # TYPE weir_client_telemetry gauge\n",
        );
        let mut ids: Vec<&Uuid> = all.keys().collect();
        ids.sort();
        for id in ids {
            let i = &all[id];
            for p in &i.points {
                let mut labels = vec![
                    ("client_instance_id".to_string(), id.to_string()),
                    ("client_id".to_string(), i.client.client_id.clone()),
                    ("metric".to_string(), p.name.clone()),
                ];
                labels.extend(p.attributes.iter().map(|(k, v)| (label_name(k), v.clone())));
                let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
                out.push_str(&format!("weir_client_telemetry{{{}}} {}\n", text.join(","), p.value));
            }
        }
        out
    }
}

fn label_name(k: &str) -> String {
    let s: String = k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) || s.starts_with("__") || s.is_empty() {
        format!("attr_{s}")
    } else {
        s
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl crate::BrokerHandle {
    pub fn telemetry(&self) -> &Telemetry {
        &self.core.telemetry
    }

    /// The subscription `client` gets now.
    pub fn telemetry_subscription(&self, instance: Uuid, client: &ClientAttributes) -> Subscription {
        subscription_for(&self.core.meta.client_metrics(), instance, client)
    }

    /// The CLIENT_METRICS resources.
    pub fn client_metrics_resources(&self) -> Vec<String> {
        self.core.meta.client_metrics().keys().cloned().collect()
    }
}

impl crate::configs::Configs {
    /// A CLIENT_METRICS resource's configs with their sources.
    pub fn describe_client_metrics(&self, name: &str) -> Result<Vec<crate::configs::ConfigEntry>, TopicError> {
        use crate::config::ConfigType;
        use crate::configs::{ConfigEntry, ConfigSource};
        if name.is_empty() {
            return Err(TopicError::InvalidRequest("Subscription name must not be empty".into()));
        }
        let set = self.meta().client_metrics().get(name).cloned().unwrap_or_default();
        Ok(CONFIGS
            .iter()
            .map(|(key, is_list, default, doc)| {
                let (value, source) = match set.get(*key) {
                    Some(v) => (v.clone(), ConfigSource::ClientMetrics),
                    None => (default.to_string(), ConfigSource::Default),
                };
                ConfigEntry {
                    name: key,
                    value: Some(value),
                    source,
                    read_only: false,
                    sensitive: false,
                    ty: if *is_list { ConfigType::List } else { ConfigType::Int },
                    doc,
                    synonyms: Vec::new(),
                }
            })
            .collect())
    }

    /// Changes a subscription (`replace`: AlterConfigs; else the incremental
    /// changes); an empty result removes it. Blocking.
    pub fn alter_client_metrics(
        &self,
        name: &str,
        replace: Option<BTreeMap<String, String>>,
        changes: &[crate::configs::ConfigChange],
        validate_only: bool,
    ) -> Result<(), TopicError> {
        use crate::configs::AlterOp;
        if name.is_empty() {
            return Err(TopicError::InvalidRequest("Subscription name must not be empty".into()));
        }
        let meta = self.meta();
        meta.with_writer(|w| {
            let mut configs = match replace {
                Some(all) => all,
                None => meta.client_metrics().get(name).map(|c| (**c).clone()).unwrap_or_default(),
            };
            for c in changes {
                let is_list = CONFIGS.iter().find(|d| d.0 == c.name).map(|d| d.1);
                let value = c.value.clone().unwrap_or_default();
                match c.op {
                    AlterOp::Set => {
                        configs.insert(c.name.clone(), value);
                    }
                    AlterOp::Delete => {
                        configs.remove(&c.name);
                    }
                    AlterOp::Append | AlterOp::Subtract if is_list == Some(true) => {
                        let now = configs.get(&c.name).cloned().unwrap_or_default();
                        configs.insert(c.name.clone(), crate::configs::list_op(&now, &value, c.op == AlterOp::Append));
                    }
                    AlterOp::Append | AlterOp::Subtract => {
                        return Err(TopicError::InvalidConfig(format!(
                            "Config value append/subtract is not allowed for config key {} (not a list)",
                            c.name
                        )))
                    }
                }
            }
            validate(&configs).map_err(TopicError::InvalidConfig)?;
            if !validate_only {
                w.commit(crate::metadata::Event::ClientMetricsConfigsReplaced { name: name.to_string(), configs })?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn subs(list: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, Arc<BTreeMap<String, String>>> {
        list.iter()
            .map(|(n, kv)| (n.to_string(), Arc::new(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())))
            .collect()
    }

    #[test]
    fn clients_get_the_union_of_the_subscriptions_they_match() {
        let s = subs(&[
            (
                "producers",
                &[("metrics", "org.apache.kafka.producer."), ("interval.ms", "10000"), ("match", "client_id=app-.*")],
            ),
            (
                "rdkafka",
                &[
                    ("metrics", "org.apache.kafka.consumer."),
                    ("interval.ms", "2000"),
                    ("match", "client_software_name=librdkafka"),
                ],
            ),
            ("none", &[("interval.ms", "100")]),
        ]);
        let client =
            ClientAttributes { client_id: "app-1".into(), software_name: "librdkafka".into(), ..Default::default() };
        let sub = subscription_for(&s, Uuid::nil(), &client);
        assert_eq!(sub.metrics, vec!["org.apache.kafka.consumer.", "org.apache.kafka.producer."]);
        assert_eq!(sub.interval_ms, 2000, "the shortest interval; a subscription without metrics adds nothing");
        let other = ClientAttributes { client_id: "other".into(), ..Default::default() };
        let none = subscription_for(&s, Uuid::nil(), &other);
        assert!(none.metrics.is_empty());
        assert_eq!(none.interval_ms, DEFAULT_INTERVAL_MS);
        assert_ne!(none.id, sub.id);
        let all = subscription_for(&subs(&[("all", &[("metrics", "*")])]), Uuid::nil(), &other);
        assert_eq!(all.metrics, vec![String::new()], "every metric: one empty prefix");
    }

    #[test]
    fn configs_are_checked() {
        let c = |kv: &[(&str, &str)]| validate(&kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        assert!(
            c(&[("metrics", "*"), ("interval.ms", "1000"), ("match", "client_id=a.*,client_software_name=x")]).is_ok()
        );
        assert!(c(&[("interval.ms", "10")]).unwrap_err().contains("between 100 and 3600000"));
        assert!(c(&[("match", "client_idx=a")]).unwrap_err().starts_with("Illegal client matching pattern"));
        assert!(c(&[("match", "client_id=(")]).is_err());
        assert!(c(&[("metric", "*")]).unwrap_err().starts_with("Unknown client metrics config name"));
    }

    #[test]
    fn pushes_are_checked_and_kept() {
        let t = Telemetry::default();
        let id = Uuid::new_v4();
        let sub = Subscription { id: 7, metrics: vec![String::new()], interval_ms: 1000 };
        t.subscribe(id, ClientAttributes { client_id: "c".into(), ..Default::default() }, sub, 0);
        let payload = {
            use prost::Message;
            otlp::ExportMetricsServiceRequest {
                resource_metrics: vec![otlp::ResourceMetrics {
                    resource: None,
                    scope_metrics: vec![otlp::ScopeMetrics {
                        metrics: vec![otlp::Metric {
                            name: "org.apache.kafka.consumer.poll.idle.ratio.avg".into(),
                            gauge: Some(otlp::Gauge {
                                data_points: vec![otlp::NumberDataPoint {
                                    attributes: vec![],
                                    time_unix_nano: 1,
                                    as_double: Some(0.25),
                                    as_int: None,
                                }],
                            }),
                            sum: None,
                        }],
                    }],
                }],
            }
            .encode_to_vec()
        };
        assert_eq!(t.push(id, 8, false, 0, &payload, 10), Err(PushError::UnknownSubscription));
        assert_eq!(t.push(Uuid::new_v4(), 7, false, 0, &payload, 10), Err(PushError::UnknownSubscription));
        assert_eq!(t.push(id, 7, false, 9, &payload, 10), Err(PushError::UnsupportedCompression));
        assert!(matches!(t.push(id, 7, false, 0, b"\xff\xff", 10), Err(PushError::Invalid(_))));
        let zstd = weir_storage::record::compress(4, &payload).unwrap();
        assert_eq!(t.push(id, 7, false, 4, &zstd, 10), Ok(()));
        assert_eq!(t.push(id, 7, false, 0, &payload, 20), Err(PushError::TooEarly));
        let text = t.render_prometheus();
        assert!(text.contains("weir_client_telemetry{client_instance_id=\""), "{text}");
        assert!(
            text.contains("client_id=\"c\",metric=\"org.apache.kafka.consumer.poll.idle.ratio.avg\"} 0.25"),
            "{text}"
        );
        assert_eq!(t.push(id, 7, true, 0, &payload, 30), Ok(()), "a terminating push is never early");
        assert_eq!(t.render_prometheus(), "", "a terminated client is forgotten");
    }
}
