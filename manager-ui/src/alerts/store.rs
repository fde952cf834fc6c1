//! [`Alerts`]: policies, notifiers and firing alerts kept in step with
//! `__weir_console_alerts`, the history with `__weir_console_alert_history`,
//! the evaluator, and the notifiers' dispatcher. Writers (API edits and
//! evaluation) take one lock, so a read-modify-write sees its own state;
//! every change is durable (fsync) before it is applied or notified.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use parking_lot::Mutex;
use weir_broker::internal::{Entry, KeyValue, StateMachine, StateTopic};
use weir_broker::BrokerHandle;

use super::eval::{Evaluator, Source, Transitions};
use super::notify::{payload, Delivery, Dispatcher, NotifierStatus};
use super::{
    Alert, AlertError, Event, NotifierConfig, Policy, Status, CONFIG_TOPIC, HISTORY_IN_MEMORY, HISTORY_RETENTION_MS,
    HISTORY_TOPIC,
};

type Key = (String, String);

/// The fold of `__weir_console_alerts`.
#[derive(Default)]
struct Config {
    policies: BTreeMap<String, Policy>,
    notifiers: BTreeMap<String, NotifierConfig>,
    active: BTreeMap<Key, Alert>,
    unreadable: usize,
}

fn put_or_remove<K: Ord, V: serde::de::DeserializeOwned>(
    map: &mut BTreeMap<K, V>,
    key: K,
    value: Option<&Bytes>,
    unreadable: &mut usize,
) {
    match value {
        None => {
            map.remove(&key);
        }
        Some(v) => match serde_json::from_slice(v) {
            Ok(v) => {
                map.insert(key, v);
            }
            Err(_) => *unreadable += 1,
        },
    }
}

impl StateMachine for Config {
    fn apply(&mut self, _partition: i32, r: &KeyValue) {
        let Some(key) = r.key.as_deref().and_then(|k| std::str::from_utf8(k).ok()) else {
            self.unreadable += 1;
            return;
        };
        let v = r.value.as_ref();
        let bad = &mut self.unreadable;
        if let Some(id) = key.strip_prefix("policy/") {
            put_or_remove(&mut self.policies, id.to_string(), v, bad);
        } else if let Some(id) = key.strip_prefix("notifier/") {
            put_or_remove(&mut self.notifiers, id.to_string(), v, bad);
        } else if let Some((policy, subject)) = key.strip_prefix("active/").and_then(|k| k.split_once('/')) {
            put_or_remove(&mut self.active, (policy.to_string(), subject.to_string()), v, bad);
        } else {
            *bad += 1;
        }
    }
}

/// The newest events of `__weir_console_alert_history`, oldest first.
struct HistoryLog {
    events: VecDeque<Event>,
    /// Events older than this (30 days before the start) are not kept.
    cutoff: i64,
    unreadable: usize,
}

impl StateMachine for HistoryLog {
    fn apply(&mut self, _partition: i32, r: &KeyValue) {
        match r.value.as_deref().map(serde_json::from_slice::<Event>) {
            Some(Ok(e)) if e.ts >= self.cutoff => {
                if self.events.len() == HISTORY_IN_MEMORY {
                    self.events.pop_front();
                }
                self.events.push_back(e);
            }
            Some(Ok(_)) => {}
            _ => self.unreadable += 1,
        }
    }
}

pub struct Alerts {
    config: StateTopic<Config>,
    history: StateTopic<HistoryLog>,
    writer: Mutex<()>,
    evaluator: Mutex<Evaluator>,
    dispatcher: Dispatcher,
    cluster_id: String,
}

fn storage<E: std::fmt::Display>(topic: &'static str) -> impl Fn(E) -> AlertError {
    move |e| AlertError::Storage { topic, message: e.to_string() }
}

fn entry(key: String, value: Option<Vec<u8>>) -> Entry {
    (Some(Bytes::from(key)), value.map(Bytes::from))
}

fn json<T: serde::Serialize>(v: &T) -> Option<Vec<u8>> {
    serde_json::to_vec(v).ok()
}

fn active_key(a: &Alert) -> String {
    format!("active/{}/{}", a.policy_id, a.subject)
}

impl Alerts {
    /// Creates the two topics if needed and replays them. Blocking; call
    /// from the runtime's blocking pool (`runtime` runs the notifiers).
    pub fn open(broker: &BrokerHandle, runtime: tokio::runtime::Handle) -> Result<Alerts, AlertError> {
        let configs = |pairs: &[(&str, String)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
        };
        let config_topic = broker
            .internal_topic(CONFIG_TOPIC, 1, configs(&[("cleanup.policy", "compact".into())]))
            .map_err(storage(CONFIG_TOPIC))?;
        let history_topic = broker
            .internal_topic(
                HISTORY_TOPIC,
                1,
                configs(&[
                    ("cleanup.policy", "delete".into()),
                    ("retention.ms", HISTORY_RETENTION_MS.to_string()),
                    ("segment.ms", (24 * 3600 * 1000).to_string()),
                ]),
            )
            .map_err(storage(HISTORY_TOPIC))?;
        let config = StateTopic::open(config_topic, Config::default()).map_err(storage(CONFIG_TOPIC))?;
        let cutoff = broker.clock().now_ms() - HISTORY_RETENTION_MS;
        let history = StateTopic::open(history_topic, HistoryLog { events: VecDeque::new(), cutoff, unreadable: 0 })
            .map_err(storage(HISTORY_TOPIC))?;
        {
            let c = config.lock();
            let h = history.lock();
            if c.unreadable + h.unreadable > 0 {
                tracing::warn!(records = c.unreadable + h.unreadable, "alerts: unreadable records were skipped");
            }
            tracing::info!(
                policies = c.policies.len(),
                notifiers = c.notifiers.len(),
                firing = c.active.len(),
                history = h.events.len(),
                "alerts loaded"
            );
            metrics::gauge!("weir_console_alerts_firing").set(c.active.len() as f64);
        }
        Ok(Alerts {
            config,
            history,
            writer: Mutex::new(()),
            evaluator: Mutex::default(),
            dispatcher: Dispatcher::new(runtime),
            cluster_id: broker.cluster().cluster_id().to_string(),
        })
    }

    pub fn policies(&self) -> Vec<Policy> {
        self.config.lock().policies.values().cloned().collect()
    }

    pub fn policy(&self, id: &str) -> Option<Policy> {
        self.config.lock().policies.get(id).cloned()
    }

    /// Creates (`create`: 409 if it exists) or replaces a policy. Blocking.
    pub fn put_policy(&self, mut p: Policy, create: bool) -> Result<Policy, AlertError> {
        p.validate()?;
        let _w = self.writer.lock();
        {
            let c = self.config.lock();
            if create && c.policies.contains_key(&p.id) {
                return Err(AlertError::Exists { kind: "policy", id: p.id });
            }
            if !create && !c.policies.contains_key(&p.id) {
                return Err(AlertError::NotFound { kind: "policy", id: p.id });
            }
            if let Some(missing) = p.notifiers.iter().find(|n| !c.notifiers.contains_key(*n)) {
                return Err(AlertError::Invalid(format!("notifier '{missing}' does not exist")));
            }
        }
        self.config.write(0, vec![entry(format!("policy/{}", p.id), json(&p))]).map_err(storage(CONFIG_TOPIC))?;
        Ok(p)
    }

    /// Deletes a policy; its firing alerts resolve now (and are notified).
    pub fn delete_policy(&self, id: &str, now: i64) -> Result<(), AlertError> {
        let _w = self.writer.lock();
        let (policy, firing) = {
            let c = self.config.lock();
            let p =
                c.policies.get(id).cloned().ok_or_else(|| AlertError::NotFound { kind: "policy", id: id.into() })?;
            let firing: Vec<Alert> = c.active.iter().filter(|(k, _)| k.0 == id).map(|(_, a)| a.clone()).collect();
            (p, firing)
        };
        let resolved = firing
            .into_iter()
            .map(|alert| super::eval::Resolution {
                message: format!("policy '{}' was deleted", policy.name),
                alert,
                value: None,
            })
            .collect();
        let t = Transitions { fired: vec![], resolved };
        self.commit(t, now, vec![entry(format!("policy/{id}"), None)], &BTreeMap::from([(policy.id.clone(), policy)]))
    }

    pub fn notifiers(&self) -> Vec<(NotifierConfig, NotifierStatus)> {
        let list: Vec<NotifierConfig> = self.config.lock().notifiers.values().cloned().collect();
        list.into_iter()
            .map(|n| {
                let s = self.dispatcher.status(&n.id);
                (n, s)
            })
            .collect()
    }

    pub fn notifier(&self, id: &str) -> Option<(NotifierConfig, NotifierStatus)> {
        let n = self.config.lock().notifiers.get(id).cloned()?;
        let s = self.dispatcher.status(id);
        Some((n, s))
    }

    /// Creates or replaces a notifier. Blocking.
    pub fn put_notifier(&self, mut n: NotifierConfig, create: bool) -> Result<NotifierConfig, AlertError> {
        n.validate()?;
        let _w = self.writer.lock();
        {
            let c = self.config.lock();
            match (create, c.notifiers.contains_key(&n.id)) {
                (true, true) => return Err(AlertError::Exists { kind: "notifier", id: n.id }),
                (false, false) => return Err(AlertError::NotFound { kind: "notifier", id: n.id }),
                _ => {}
            }
        }
        self.config.write(0, vec![entry(format!("notifier/{}", n.id), json(&n))]).map_err(storage(CONFIG_TOPIC))?;
        Ok(n)
    }

    /// Deletes a notifier no policy uses. Blocking.
    pub fn delete_notifier(&self, id: &str) -> Result<(), AlertError> {
        let _w = self.writer.lock();
        {
            let c = self.config.lock();
            if !c.notifiers.contains_key(id) {
                return Err(AlertError::NotFound { kind: "notifier", id: id.into() });
            }
            let users: Vec<String> =
                c.policies.values().filter(|p| p.notifiers.iter().any(|n| n == id)).map(|p| p.id.clone()).collect();
            if !users.is_empty() {
                return Err(AlertError::InUse { id: id.into(), policies: users });
            }
        }
        self.config.write(0, vec![entry(format!("notifier/{id}"), None)]).map_err(storage(CONFIG_TOPIC))?;
        self.dispatcher.forget(id);
        Ok(())
    }

    /// Sends a test event to notifier `id` now (no retries): what its endpoint answered.
    pub async fn test_notifier(&self, id: &str, now: i64) -> Result<Result<String, String>, AlertError> {
        let n = self.notifier(id).ok_or_else(|| AlertError::NotFound { kind: "notifier", id: id.into() })?.0;
        let body = serde_json::json!({
            "status": "test", "ts": now, "message": format!("a test of notifier '{}' from the Weir console", n.name),
            "cluster_id": self.cluster_id, "source": "weir",
        })
        .to_string();
        Ok(self.dispatcher.test(&n, Bytes::from(body)).await)
    }

    /// How many policies and notifiers there are.
    pub fn counts(&self) -> (usize, usize) {
        let c = self.config.lock();
        (c.policies.len(), c.notifiers.len())
    }

    /// How many alerts of each policy fire now (policies without any left out).
    pub fn firing_per_policy(&self) -> std::collections::HashMap<String, usize> {
        let mut out = std::collections::HashMap::new();
        for (policy, _) in self.config.lock().active.keys() {
            *out.entry(policy.clone()).or_insert(0) += 1;
        }
        out
    }

    /// The firing alerts, most recent first.
    pub fn firing(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self.config.lock().active.values().cloned().collect();
        v.sort_by(|a, b| b.fired_at.cmp(&a.fired_at).then_with(|| a.policy_id.cmp(&b.policy_id)));
        v
    }

    /// The history (at most [`HISTORY_IN_MEMORY`] events), newest first.
    pub fn history(&self) -> Vec<Event> {
        self.history.lock().events.iter().rev().cloned().collect()
    }

    /// Evaluates every policy on what `src` observed at `now`, stores the
    /// transitions, then notifies. Blocking.
    pub fn evaluate(&self, src: &dyn Source, now: i64) -> Result<(), AlertError> {
        let _w = self.writer.lock();
        let (policies, active) = {
            let c = self.config.lock();
            (c.policies.clone(), c.active.clone())
        };
        if policies.is_empty() && active.is_empty() {
            return Ok(());
        }
        let t = self.evaluator.lock().evaluate(now, &policies, &active, src);
        if t.is_empty() {
            return Ok(());
        }
        self.commit(t, now, Vec::new(), &policies)
    }

    /// Writes `t` (and `extra` config records) durably, then the history,
    /// then sends each event to its policy's notifiers. Holds the writer lock.
    fn commit(
        &self,
        t: Transitions,
        now: i64,
        mut extra: Vec<Entry>,
        policies: &BTreeMap<String, Policy>,
    ) -> Result<(), AlertError> {
        let mut events = Vec::new();
        for a in &t.fired {
            extra.push(entry(active_key(a), json(a)));
            events.push(Event::of(a, now, Status::Firing, Some(a.value), &a.message));
        }
        for r in &t.resolved {
            extra.push(entry(active_key(&r.alert), None));
            events.push(Event::of(&r.alert, now, Status::Resolved, r.value, &r.message));
        }
        self.config.write(0, extra).map_err(storage(CONFIG_TOPIC))?;
        metrics::gauge!("weir_console_alerts_firing").set(self.config.lock().active.len() as f64);
        let records: Vec<Entry> = events.iter().map(|e| (None, json(e).map(Bytes::from))).collect();
        if !records.is_empty() {
            // The alert state is already durable; a lost history line is logged, not fatal.
            if let Err(e) = self.history.write(0, records) {
                tracing::error!(topic = HISTORY_TOPIC, error = %e, "alerts: cannot store history");
            }
        }
        let notifiers = self.config.lock().notifiers.clone();
        for e in events {
            let status = match e.status {
                Status::Firing => "firing",
                Status::Resolved => "resolved",
            };
            metrics::counter!("weir_console_alert_events_total", "status" => status).increment(1);
            let body = payload(&e, &self.cluster_id);
            let targets = policies.get(&e.policy_id).map(|p| p.notifiers.as_slice()).unwrap_or_default();
            for n in targets.iter().filter_map(|id| notifiers.get(id)) {
                self.dispatcher.send(Delivery { notifier: n.clone(), event: e.clone(), body: body.clone() });
            }
        }
        Ok(())
    }
}
