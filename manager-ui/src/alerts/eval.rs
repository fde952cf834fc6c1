//! Evaluating policies: what each sample observed ([`Observed`], read
//! through [`Source`] so the state machine can be tested on made-up
//! values), and the pending / firing / resolved state machine
//! ([`Evaluator`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use weir_broker::group::overview::GroupOverview;
use weir_broker::partition::Isolation;
use weir_broker::BrokerHandle;

use super::{Alert, Metric, Policy, ANY, CLUSTER};
use crate::history::{FlowRates, TopicRates};

/// Values of a metric now: (subject, value) for every subject the target
/// matches that exists.
pub trait Source {
    fn values(&self, metric: Metric, target: Option<&str>) -> Vec<(String, f64)>;
}

/// Everything one sample saw, before the history keeps only the top topics
/// and groups.
pub struct Observed {
    pub broker: BrokerHandle,
    pub now_ms: i64,
    /// Every group (with its committed offsets and lag).
    pub groups: Vec<GroupOverview>,
    /// Rates of the topics that moved in the interval.
    pub topic_rates: HashMap<String, TopicRates>,
    pub requests_per_sec: f64,
    pub errors_per_sec: f64,
    pub latency_p99_ms: Option<f64>,
    pub disk: Option<(u64, u64)>,
    pub flows: Vec<FlowRates>,
}

impl Observed {
    fn group_values(&self, target: &str, f: impl Fn(&GroupOverview) -> f64) -> Vec<(String, f64)> {
        self.groups
            .iter()
            .filter(|g| target == ANY || g.group_id == target)
            .map(|g| (g.group_id.clone(), f(g)))
            .collect()
    }

    /// Seconds since the oldest record `g` has not consumed was written:
    /// per lagging partition, the timestamp of the batch holding the
    /// committed offset (its first record's, or the broker's append time
    /// under LogAppendTime); 0 without lag.
    fn lag_seconds(&self, g: &GroupOverview) -> f64 {
        let mut oldest: Option<i64> = None;
        for o in g.offsets.iter().filter(|o| o.lag.unwrap_or(0) > 0) {
            let Some(parts) = self.broker.partitions().topic(&o.topic) else { continue };
            let Some(p) = usize::try_from(o.partition).ok().and_then(|i| parts.get(i)) else { continue };
            let from = o.committed.max(p.log_start_offset());
            let Ok(read) = p.read_uncounted(from, 1, Isolation::ReadUncommitted, true) else { continue };
            let Ok(h) = weir_storage::batch::BatchHeader::parse(&read.records) else { continue };
            let log_append_time = h.attributes & 0x08 != 0;
            let ts = if log_append_time { h.max_timestamp } else { h.base_timestamp };
            oldest = Some(oldest.map_or(ts, |o| o.min(ts)));
        }
        oldest.map_or(0.0, |ts| ((self.now_ms - ts).max(0) as f64) / 1000.0)
    }

    fn topic_values(&self, target: &str, f: impl Fn(&TopicRates) -> f64) -> Vec<(String, f64)> {
        let idle = TopicRates::default();
        let value = |name: &str| f(self.topic_rates.get(name).unwrap_or(&idle));
        if target == ANY {
            self.broker
                .topics()
                .list()
                .into_iter()
                .filter(|t| !crate::api::is_internal_topic(&t.name))
                .map(|t| (t.name.clone(), value(&t.name)))
                .collect()
        } else if self.broker.partitions().topic(target).is_some() {
            vec![(target.to_string(), value(target))]
        } else {
            Vec::new()
        }
    }

    fn flow_values(&self, target: &str, f: impl Fn(&FlowRates) -> f64) -> Vec<(String, f64)> {
        self.flows.iter().filter(|fl| target == ANY || fl.flow == target).map(|fl| (fl.flow.clone(), f(fl))).collect()
    }
}

impl Source for Observed {
    fn values(&self, metric: Metric, target: Option<&str>) -> Vec<(String, f64)> {
        let t = target.unwrap_or(ANY);
        let cluster = |v: Option<f64>| v.map(|v| vec![(CLUSTER.to_string(), v)]).unwrap_or_default();
        match metric {
            Metric::GroupLagRecords => self.group_values(t, |g| g.total_lag() as f64),
            Metric::GroupLagSeconds => self.group_values(t, |g| self.lag_seconds(g)),
            Metric::TopicBytesInPerSecond => self.topic_values(t, |r| r.bytes_in),
            Metric::TopicBytesOutPerSecond => self.topic_values(t, |r| r.bytes_out),
            Metric::DiskFreePercent => {
                cluster(self.disk.filter(|d| d.1 > 0).map(|(free, total)| 100.0 * free as f64 / total as f64))
            }
            Metric::RequestErrorPercent => cluster(Some(if self.requests_per_sec > 0.0 {
                100.0 * self.errors_per_sec / self.requests_per_sec
            } else {
                0.0
            })),
            // No requests in the interval: nothing to judge.
            Metric::RequestLatencyP99Ms => cluster(self.latency_p99_ms),
            Metric::MirrorLagRecords => self.flow_values(t, |f| f.lag_records as f64),
            Metric::MirrorLagSeconds => self.flow_values(t, |f| f.lag_ms as f64 / 1000.0),
        }
    }
}

/// An alert that stopped firing, with its value now (None: gone) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub alert: Alert,
    pub value: Option<f64>,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Transitions {
    pub fired: Vec<Alert>,
    pub resolved: Vec<Resolution>,
}

impl Transitions {
    pub fn is_empty(&self) -> bool {
        self.fired.is_empty() && self.resolved.is_empty()
    }
}

/// The in-memory part of the state machine: since when each condition has
/// held without firing yet (firing alerts are the durable `active` map).
#[derive(Default)]
pub struct Evaluator {
    pending: HashMap<(String, String), i64>,
}

/// `12`, `12.5`, `0.33`.
pub fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

impl Evaluator {
    /// What changes at `now`: alerts to fire and to resolve, given the
    /// policies, the firing alerts (keyed by policy id and subject) and the
    /// values observed.
    pub fn evaluate(
        &mut self,
        now: i64,
        policies: &BTreeMap<String, Policy>,
        active: &BTreeMap<(String, String), Alert>,
        src: &dyn Source,
    ) -> Transitions {
        let mut out = Transitions::default();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for p in policies.values().filter(|p| p.enabled) {
            for (subject, v) in src.values(p.metric, p.target.as_deref()) {
                let key = (p.id.clone(), subject);
                let firing = active.get(&key);
                if p.operator.holds(v, p.threshold) {
                    if firing.is_none() {
                        let since = *self.pending.entry(key.clone()).or_insert(now);
                        if now - since >= (p.for_seconds as i64) * 1000 {
                            self.pending.remove(&key);
                            out.fired.push(fire(p, &key.1, v, since, now));
                        }
                    }
                } else {
                    self.pending.remove(&key);
                    if let Some(a) = firing {
                        let what = p.metric.describe(&key.1);
                        let message =
                            format!("{what} is {}, no longer {} {}", fmt_value(v), op_word(p), fmt_value(p.threshold));
                        out.resolved.push(Resolution { alert: a.clone(), value: Some(v), message });
                    }
                }
                seen.insert(key);
            }
        }
        self.pending.retain(|k, _| seen.contains(k));
        for (key, a) in active {
            if seen.contains(key) {
                continue;
            }
            let message = match policies.get(&key.0) {
                None => format!("policy '{}' was deleted", a.policy_name),
                Some(p) if !p.enabled => format!("policy '{}' was disabled", p.name),
                Some(p) => format!("{} is no longer observed (it does not exist now)", p.metric.describe(&key.1)),
            };
            out.resolved.push(Resolution { alert: a.clone(), value: None, message });
        }
        out
    }
}

fn op_word(p: &Policy) -> &'static str {
    match p.operator {
        super::Operator::Above => "above",
        super::Operator::Below => "below",
    }
}

fn fire(p: &Policy, subject: &str, v: f64, since: i64, now: i64) -> Alert {
    let held = if p.for_seconds > 0 { format!(" for {} s", (now - since) / 1000) } else { String::new() };
    Alert {
        policy_id: p.id.clone(),
        policy_name: p.name.clone(),
        metric: p.metric,
        subject: subject.to_string(),
        severity: p.severity.clone(),
        operator: p.operator,
        threshold: p.threshold,
        value: v,
        since,
        fired_at: now,
        message: format!(
            "{} is {}, {} {}{held}",
            p.metric.describe(subject),
            fmt_value(v),
            op_word(p),
            fmt_value(p.threshold)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Operator;
    use super::*;

    /// Values per (metric, subject); targets filter them like the real source.
    #[derive(Default)]
    struct Fake(Vec<(Metric, String, f64)>);

    impl Source for Fake {
        fn values(&self, metric: Metric, target: Option<&str>) -> Vec<(String, f64)> {
            self.0
                .iter()
                .filter(|(m, s, _)| *m == metric && (target.is_none_or(|t| t == ANY || t == s)))
                .map(|(_, s, v)| (s.clone(), *v))
                .collect()
        }
    }

    fn lag_policy(target: &str, above: f64, for_seconds: u64) -> Policy {
        Policy {
            id: "lag".into(),
            name: "lag".into(),
            enabled: true,
            metric: Metric::GroupLagRecords,
            target: Some(target.into()),
            operator: Operator::Above,
            threshold: above,
            for_seconds,
            severity: "warning".into(),
            notifiers: vec![],
        }
    }

    /// Runs the evaluator like the store does: applies the transitions to `active`.
    fn step(
        e: &mut Evaluator,
        now: i64,
        ps: &BTreeMap<String, Policy>,
        active: &mut BTreeMap<(String, String), Alert>,
        src: &Fake,
    ) -> Transitions {
        let t = e.evaluate(now, ps, active, src);
        for a in &t.fired {
            active.insert((a.policy_id.clone(), a.subject.clone()), a.clone());
        }
        for r in &t.resolved {
            active.remove(&(r.alert.policy_id.clone(), r.alert.subject.clone()));
        }
        t
    }

    #[test]
    fn fires_after_holding_for_the_duration_and_resolves() {
        let ps = BTreeMap::from([("lag".to_string(), lag_policy("*", 100.0, 20))]);
        let mut active = BTreeMap::new();
        let mut e = Evaluator::default();
        let lag = |a: f64, b: f64| {
            Fake(vec![(Metric::GroupLagRecords, "a".into(), a), (Metric::GroupLagRecords, "b".into(), b)])
        };
        assert!(step(&mut e, 0, &ps, &mut active, &lag(500.0, 0.0)).is_empty(), "pending, not firing");
        assert!(step(&mut e, 10_000, &ps, &mut active, &lag(500.0, 0.0)).is_empty());
        let t = step(&mut e, 20_000, &ps, &mut active, &lag(500.0, 0.0));
        assert_eq!(t.fired.len(), 1);
        let a = &t.fired[0];
        assert_eq!((a.subject.as_str(), a.value, a.since, a.fired_at), ("a", 500.0, 0, 20_000));
        assert_eq!(a.message, "consumer lag of group a (records) is 500, above 100 for 20 s");
        assert!(step(&mut e, 30_000, &ps, &mut active, &lag(600.0, 0.0)).is_empty(), "fires once");
        // A dip resets the pending clock of b.
        assert!(step(&mut e, 30_000, &ps, &mut active, &lag(600.0, 200.0)).is_empty());
        assert!(step(&mut e, 40_000, &ps, &mut active, &lag(600.0, 0.0)).is_empty());
        assert!(step(&mut e, 50_000, &ps, &mut active, &lag(600.0, 200.0)).is_empty());
        assert!(step(&mut e, 60_000, &ps, &mut active, &lag(600.0, 200.0)).is_empty());
        let t = step(&mut e, 70_000, &ps, &mut active, &lag(50.0, 200.0));
        assert_eq!(t.fired.iter().map(|a| a.subject.as_str()).collect::<Vec<_>>(), ["b"]);
        assert_eq!(t.resolved.len(), 1);
        assert_eq!(t.resolved[0].value, Some(50.0));
        assert_eq!(t.resolved[0].message, "consumer lag of group a (records) is 50, no longer above 100");
        assert_eq!(active.len(), 1);
    }

    #[test]
    fn vanished_subjects_and_removed_policies_resolve() {
        let mut ps = BTreeMap::from([("lag".to_string(), lag_policy("g", 1.0, 0))]);
        let mut active = BTreeMap::new();
        let mut e = Evaluator::default();
        let src = Fake(vec![(Metric::GroupLagRecords, "g".into(), 5.0)]);
        assert_eq!(step(&mut e, 0, &ps, &mut active, &src).fired.len(), 1);
        let t = step(&mut e, 1, &ps, &mut active, &Fake::default());
        assert_eq!(t.resolved[0].value, None, "the group was deleted");
        assert!(t.resolved[0].message.contains("no longer observed"), "{}", t.resolved[0].message);
        assert_eq!(step(&mut e, 2, &ps, &mut active, &src).fired.len(), 1);
        ps.get_mut("lag").unwrap().enabled = false;
        let t = step(&mut e, 3, &ps, &mut active, &src);
        assert_eq!(t.resolved[0].message, "policy 'lag' was disabled");
        ps.clear();
        assert!(step(&mut e, 4, &ps, &mut active, &src).is_empty());
        assert!(active.is_empty());
    }

    #[test]
    fn below_and_cluster_wide_metrics() {
        let p = Policy {
            id: "disk".into(),
            metric: Metric::DiskFreePercent,
            target: None,
            operator: Operator::Below,
            threshold: 10.0,
            ..lag_policy("", 0.0, 0)
        };
        let ps = BTreeMap::from([("disk".to_string(), p)]);
        let mut active = BTreeMap::new();
        let mut e = Evaluator::default();
        let disk = |v| Fake(vec![(Metric::DiskFreePercent, CLUSTER.into(), v)]);
        assert!(step(&mut e, 0, &ps, &mut active, &disk(50.0)).is_empty());
        let t = step(&mut e, 1, &ps, &mut active, &disk(9.5));
        assert_eq!(t.fired[0].message, "free disk space (%) is 9.50, below 10");
        assert_eq!(step(&mut e, 2, &ps, &mut active, &disk(10.0)).resolved.len(), 1, "10 is not below 10");
    }

    #[test]
    fn firing_alerts_loaded_after_a_restart_are_not_fired_again() {
        let ps = BTreeMap::from([("lag".to_string(), lag_policy("g", 1.0, 0))]);
        let src = Fake(vec![(Metric::GroupLagRecords, "g".into(), 5.0)]);
        let mut active = BTreeMap::new();
        step(&mut Evaluator::default(), 0, &ps, &mut active, &src);
        // A new evaluator (a restarted process) with the durable active map.
        assert!(step(&mut Evaluator::default(), 1, &ps, &mut active, &src).is_empty());
    }
}
