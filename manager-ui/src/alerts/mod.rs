//! Alerts: policies over what the console's sampler observes, the alerts
//! they raise, the notifiers that tell people, and the alert history.
//!
//! A policy names a metric, a target (a group, topic or replication flow;
//! `*` for every one; none for cluster-wide metrics), an operator (`above`,
//! `below`), a threshold and how long the condition must hold
//! (`for_seconds`). Each (policy, subject) pair is an alert: `pending` while
//! the condition holds for less than `for_seconds`, `firing` after, and
//! `resolved` when it stops holding (or its subject goes away, or the policy
//! is disabled or deleted). Policies are evaluated right after each history
//! sample (every 10 s, `WEIR_CONSOLE_SAMPLE_MS`), on the full observations of
//! that sample, not the truncated top-N the charts keep.
//!
//! Durable state, so that a restart keeps everything and re-notifies nothing:
//! - `__weir_console_alerts` (compacted, one partition): key `policy/<id>`,
//!   `notifier/<id>` or `active/<policy id>/<subject>`, value the JSON of a
//!   [`Policy`], [`NotifierConfig`] or firing [`Alert`]; a tombstone removes it.
//! - `__weir_console_alert_history` (delete, 30 days): one record per
//!   firing or resolution ([`Event`] JSON, no key).
//!
//! Invariant: an alert is in the `active/` keys exactly while it fires, and
//! every transition is written (durably) before its notification is sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod eval;
mod notify;
mod store;

pub use eval::Observed;
pub use notify::{Delivery, NotifierStatus};
pub use store::Alerts;

pub const CONFIG_TOPIC: &str = "__weir_console_alerts";
pub const HISTORY_TOPIC: &str = "__weir_console_alert_history";
/// How long alert history is kept.
pub const HISTORY_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;
/// Events kept in memory for the API (the newest).
pub const HISTORY_IN_MEMORY: usize = 10_000;

/// What a policy watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// A consumer group's total lag (records); target: a group or `*`.
    GroupLagRecords,
    /// Age of the oldest record a group has not consumed (seconds); target: a group or `*`.
    GroupLagSeconds,
    /// Bytes produced to a topic per second ("producer inactive" with `below`);
    /// target: a topic or `*` (every non-internal topic).
    TopicBytesInPerSecond,
    /// Bytes fetched from a topic per second; target: a topic or `*`.
    TopicBytesOutPerSecond,
    /// Free space of the data directory's file system (percent).
    DiskFreePercent,
    /// Responses carrying an error code, as a percentage of all requests in the interval.
    RequestErrorPercent,
    /// p99 latency of every request in the interval (ms).
    RequestLatencyP99Ms,
    /// A replication flow's lag (records); target: a flow or `*`.
    MirrorLagRecords,
    /// Age of a flow's oldest unmirrored record (seconds); target: a flow or `*`.
    MirrorLagSeconds,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::GroupLagRecords,
        Metric::GroupLagSeconds,
        Metric::TopicBytesInPerSecond,
        Metric::TopicBytesOutPerSecond,
        Metric::DiskFreePercent,
        Metric::RequestErrorPercent,
        Metric::RequestLatencyP99Ms,
        Metric::MirrorLagRecords,
        Metric::MirrorLagSeconds,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::GroupLagRecords => "group_lag_records",
            Metric::GroupLagSeconds => "group_lag_seconds",
            Metric::TopicBytesInPerSecond => "topic_bytes_in_per_second",
            Metric::TopicBytesOutPerSecond => "topic_bytes_out_per_second",
            Metric::DiskFreePercent => "disk_free_percent",
            Metric::RequestErrorPercent => "request_error_percent",
            Metric::RequestLatencyP99Ms => "request_latency_p99_ms",
            Metric::MirrorLagRecords => "mirror_lag_records",
            Metric::MirrorLagSeconds => "mirror_lag_seconds",
        }
    }

    /// What a target names: `group`, `topic`, `flow`, or None (cluster-wide).
    pub fn target_kind(self) -> Option<&'static str> {
        match self {
            Metric::GroupLagRecords | Metric::GroupLagSeconds => Some("group"),
            Metric::TopicBytesInPerSecond | Metric::TopicBytesOutPerSecond => Some("topic"),
            Metric::MirrorLagRecords | Metric::MirrorLagSeconds => Some("flow"),
            Metric::DiskFreePercent | Metric::RequestErrorPercent | Metric::RequestLatencyP99Ms => None,
        }
    }

    /// A phrase for messages: "consumer lag of group orders".
    fn describe(self, subject: &str) -> String {
        match self {
            Metric::GroupLagRecords => format!("consumer lag of group {subject} (records)"),
            Metric::GroupLagSeconds => format!("consumer lag of group {subject} (seconds)"),
            Metric::TopicBytesInPerSecond => format!("bytes in per second to topic {subject}"),
            Metric::TopicBytesOutPerSecond => format!("bytes out per second from topic {subject}"),
            Metric::DiskFreePercent => "free disk space (%)".to_string(),
            Metric::RequestErrorPercent => "requests answered with an error (%)".to_string(),
            Metric::RequestLatencyP99Ms => "request latency p99 (ms)".to_string(),
            Metric::MirrorLagRecords => format!("lag of replication flow {subject} (records)"),
            Metric::MirrorLagSeconds => format!("lag of replication flow {subject} (seconds)"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Above,
    Below,
}

impl Operator {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Operator::Above => value > threshold,
            Operator::Below => value < threshold,
        }
    }
}

/// The subject of cluster-wide metrics.
pub const CLUSTER: &str = "cluster";
/// A target matching every group, topic or flow.
pub const ANY: &str = "*";

/// An alert policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// From the name when not given.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub metric: Metric,
    /// A group, topic or flow name, or `*`; absent for cluster-wide metrics.
    #[serde(default)]
    pub target: Option<String>,
    pub operator: Operator,
    pub threshold: f64,
    /// How long the condition must hold before the alert fires.
    #[serde(default)]
    pub for_seconds: u64,
    /// `info`, `warning` or `critical`.
    #[serde(default = "warning")]
    pub severity: String,
    /// Ids of the notifiers told when an alert of this policy fires or resolves.
    #[serde(default)]
    pub notifiers: Vec<String>,
}

fn yes() -> bool {
    true
}

fn warning() -> String {
    "warning".to_string()
}

/// How a notifier delivers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotifierKind {
    /// POSTs the event's JSON ([`notify::payload`]) to `url` (http).
    Webhook {
        url: String,
        /// Extra request headers (an `Authorization` token, say).
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    /// Writes the event to the process log (WARN firing, INFO resolved).
    Log,
}

/// A notifier: where alerts go, with retries and a rate limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotifierConfig {
    /// From the name when not given.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub kind: NotifierKind,
    /// Further attempts after a failed delivery (connection error, timeout,
    /// 408, 429 or 5xx), waiting `retry_backoff_ms` and doubling each time.
    #[serde(default = "three")]
    pub max_retries: u32,
    #[serde(default = "second")]
    pub retry_backoff_ms: u64,
    /// Deliveries allowed per minute; more are dropped (and counted). 0: no limit.
    #[serde(default = "sixty")]
    pub rate_limit_per_minute: u32,
}

fn three() -> u32 {
    3
}
fn second() -> u64 {
    1000
}
fn sixty() -> u32 {
    60
}

/// A firing alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub policy_id: String,
    pub policy_name: String,
    pub metric: Metric,
    pub subject: String,
    pub severity: String,
    pub operator: Operator,
    pub threshold: f64,
    /// The value when it fired.
    pub value: f64,
    /// When the condition started holding (ms since the epoch).
    pub since: i64,
    /// When it fired.
    pub fired_at: i64,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Resolved,
}

/// A line of the alert history: an alert fired or resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub ts: i64,
    pub status: Status,
    pub policy_id: String,
    pub policy_name: String,
    pub metric: Metric,
    pub subject: String,
    pub severity: String,
    pub operator: Operator,
    pub threshold: f64,
    /// The value at this event (None when the subject went away).
    pub value: Option<f64>,
    /// When the alert fired (for a resolution: how long it lasted).
    pub fired_at: i64,
    pub message: String,
}

impl Event {
    /// `alert` fired or resolved at `ts`, with the value then and what to say.
    pub fn of(alert: &Alert, ts: i64, status: Status, value: Option<f64>, message: &str) -> Event {
        Event {
            ts,
            status,
            policy_id: alert.policy_id.clone(),
            policy_name: alert.policy_name.clone(),
            metric: alert.metric,
            subject: alert.subject.clone(),
            severity: alert.severity.clone(),
            operator: alert.operator,
            threshold: alert.threshold,
            value,
            fired_at: alert.fired_at,
            message: message.to_string(),
        }
    }
}

/// A policy or notifier that cannot be accepted, and why.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("{0}")]
    Invalid(String),
    #[error("{kind} '{id}' does not exist")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} '{id}' already exists")]
    Exists { kind: &'static str, id: String },
    #[error("notifier '{id}' is used by policies {policies:?}")]
    InUse { id: String, policies: Vec<String> },
    #[error("cannot store alert state in {topic}: {message}")]
    Storage { topic: &'static str, message: String },
}

fn invalid(m: impl Into<String>) -> AlertError {
    AlertError::Invalid(m.into())
}

/// An id made of the name: lower case, runs of other characters as `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(64).collect()
}

/// Trims the name (which must not be empty) and makes the id from it when none
/// is given; the id must be 1 to 64 of a-z, 0-9, '-' and '_'.
fn name_and_id(kind: &str, name: &mut String, id: &mut String) -> Result<(), AlertError> {
    *name = name.trim().to_string();
    if name.is_empty() {
        return Err(invalid(format!("a {kind} needs a name")));
    }
    if id.is_empty() {
        *id = slug(name);
    }
    check_id(kind, id)
}

fn check_id(kind: &str, id: &str) -> Result<(), AlertError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("{kind} id {id:?} must be 1 to 64 characters of a-z, 0-9, '-' and '_'")))
    }
}

impl Policy {
    /// Checks the fields and normalises the target (absent for cluster-wide metrics).
    pub fn validate(&mut self) -> Result<(), AlertError> {
        name_and_id("policy", &mut self.name, &mut self.id)?;
        if !self.threshold.is_finite() {
            return Err(invalid("threshold must be a finite number"));
        }
        match self.metric.target_kind() {
            Some(kind) => {
                let t = self.target.as_deref().map(str::trim).unwrap_or("");
                if t.is_empty() {
                    return Err(invalid(format!(
                        "metric {} needs a target: a {kind} name, or * for every {kind}",
                        self.metric.name()
                    )));
                }
                self.target = Some(t.to_string());
            }
            None => self.target = None,
        }
        if !["info", "warning", "critical"].contains(&self.severity.as_str()) {
            return Err(invalid(format!("severity must be info, warning or critical, not {:?}", self.severity)));
        }
        if self.for_seconds > 7 * 24 * 3600 {
            return Err(invalid("for_seconds is at most a week (604800)"));
        }
        self.notifiers.sort();
        self.notifiers.dedup();
        Ok(())
    }
}

impl NotifierConfig {
    pub fn validate(&mut self) -> Result<(), AlertError> {
        name_and_id("notifier", &mut self.name, &mut self.id)?;
        if let NotifierKind::Webhook { url, headers } = &mut self.kind {
            *url = url.trim().to_string();
            notify::target(url).map_err(invalid)?;
            for (k, v) in headers.iter() {
                let name_ok = axum::http::HeaderName::from_bytes(k.as_bytes()).is_ok();
                if !name_ok || axum::http::HeaderValue::from_str(v).is_err() {
                    return Err(invalid(format!("header {k:?} is not a valid HTTP header")));
                }
            }
        }
        if self.max_retries > 10 {
            return Err(invalid("max_retries is at most 10"));
        }
        if !(10..=60_000).contains(&self.retry_backoff_ms) {
            return Err(invalid("retry_backoff_ms must be between 10 and 60000"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> Result<Policy, AlertError> {
        let mut p: Policy = serde_json::from_value(json).map_err(|e| invalid(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    #[test]
    fn policies_are_validated_and_normalised() {
        let p = policy(serde_json::json!({
            "name": " Orders lag! ", "metric": "group_lag_records", "target": " orders ",
            "operator": "above", "threshold": 1000, "notifiers": ["b", "a", "b"]
        }))
        .unwrap();
        assert_eq!(
            (p.id.as_str(), p.name.as_str(), p.target.as_deref()),
            ("orders-lag", "Orders lag!", Some("orders"))
        );
        assert_eq!((p.enabled, p.severity.as_str(), p.for_seconds), (true, "warning", 0));
        assert_eq!(p.notifiers, ["a", "b"]);
        let disk = policy(serde_json::json!({
            "name": "disk", "metric": "disk_free_percent", "target": "x", "operator": "below", "threshold": 10
        }))
        .unwrap();
        assert_eq!(disk.target, None, "cluster-wide metrics have no target");
        for bad in [
            serde_json::json!({"name": "x", "metric": "group_lag_records", "operator": "above", "threshold": 1}),
            serde_json::json!({"name": "", "metric": "disk_free_percent", "operator": "below", "threshold": 1}),
            serde_json::json!({"name": "x", "metric": "disk_free_percent", "operator": "below", "threshold": 1, "severity": "loud"}),
            serde_json::json!({"name": "x", "id": "Bad Id", "metric": "disk_free_percent", "operator": "below", "threshold": 1}),
            serde_json::json!({"name": "x", "metric": "nope", "operator": "below", "threshold": 1}),
        ] {
            assert!(policy(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn notifiers_are_validated() {
        let mut n: NotifierConfig = serde_json::from_value(serde_json::json!({
            "name": "Ops hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"
        }))
        .unwrap();
        n.validate().unwrap();
        assert_eq!(
            (n.id.as_str(), n.max_retries, n.retry_backoff_ms, n.rate_limit_per_minute),
            ("ops-hook", 3, 1000, 60)
        );
        let back = serde_json::to_value(&n).unwrap();
        assert_eq!(back["type"], "webhook");
        assert_eq!(back["url"], "http://127.0.0.1:9/hook");
        for url in ["ftp://x/", "http://", "not a url", "https://"] {
            let mut n = n.clone();
            n.kind = NotifierKind::Webhook { url: url.into(), headers: Default::default() };
            assert!(n.validate().is_err(), "{url}");
        }
        let mut https = n.clone();
        https.kind =
            NotifierKind::Webhook { url: "https://hooks.example.com/weir".into(), headers: Default::default() };
        https.validate().unwrap();
        let mut log: NotifierConfig =
            serde_json::from_value(serde_json::json!({"name": "log", "type": "log"})).unwrap();
        log.validate().unwrap();
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("  Orders: lag > 1k "), "orders-lag-1k");
        assert_eq!(slug("***"), "");
    }
}
