//! Takes a [`Sample`] every interval from the broker's handle (partition
//! traffic totals, per-API request totals, group lag, disk space), keeps it
//! in the [`History`] and appends it to `__weir_console_history`; at start,
//! reads the topic back so the charts survive a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::task::JoinHandle;
use weir_broker::api::stats::{self, RouteTotals};
use weir_broker::internal::InternalTopic;
use weir_broker::partition::TrafficTotals;
use weir_broker::BrokerHandle;
use weir_mirror::MirrorStatus;

use super::{FlowRates, GroupLag, History, Sample, TopicRates, RETENTION_MS, TOPIC, TOP_GROUPS, TOP_TOPICS};
use crate::alerts::Observed;
use crate::ConsoleError;

/// (topic, partition, producer id) -> (epoch, last sequence, when seen writing).
type SeenProducers = HashMap<(Arc<str>, i32, i64), (i16, i32, Instant)>;

/// What the previous sample saw, to turn totals into rates.
#[derive(Default)]
struct Previous {
    at: Option<Instant>,
    partitions: HashMap<(Arc<str>, i32), TrafficTotals>,
    routes: Vec<RouteTotals>,
    /// Per (topic, partition, producer id): its epoch and last sequence, and
    /// when the partition was last seen writing.
    producers: SeenProducers,
    /// Per flow: records and bytes mirrored in total, and replication latencies counted.
    flows: HashMap<String, (u64, u64, [u64; 17])>,
}

/// The running sampler.
pub struct Sampler {
    pub task: JoinHandle<()>,
}

impl Sampler {
    /// Opens (creating it if needed) the history topic, reads back its last
    /// 24 h into `history`, then samples every `interval`.
    pub async fn start(
        broker: BrokerHandle,
        mirror: MirrorStatus,
        history: Arc<History>,
        alerts: Arc<crate::alerts::Alerts>,
    ) -> Result<Sampler, ConsoleError> {
        let interval = history.interval();
        let (b, h) = (broker.clone(), history.clone());
        let topic = tokio::task::spawn_blocking(move || open_and_replay(&b, &h))
            .await
            .map_err(|e| ConsoleError::History(format!("replay task failed: {e}")))??;
        let topic = Arc::new(topic);
        let task = tokio::spawn(async move {
            let mut prev = Previous::default();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut shutdown = broker.shutdown_signal();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                if broker.is_shutting_down() {
                    return;
                }
                let (b, m, a, h) = (broker.clone(), mirror.clone(), alerts.clone(), history.clone());
                let (taken, p) = match tokio::task::spawn_blocking(move || {
                    let taken = take(&b, &m, &h, &mut prev);
                    // Alerts are judged on the full observations, then dropped;
                    // the history keeps the sample.
                    let s = taken.map(|(sample, observed)| {
                        if let Err(e) = a.evaluate(&observed, observed.now_ms) {
                            tracing::error!(error = %e, "alerts: evaluation failed");
                        }
                        sample
                    });
                    (s, prev)
                })
                .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "console history: sampling failed");
                        return;
                    }
                };
                prev = p;
                let Some(sample) = taken else { continue };
                let t = topic.clone();
                let value = match serde_json::to_vec(&sample) {
                    Ok(v) => Bytes::from(v),
                    Err(e) => {
                        tracing::error!(error = %e, "console history: cannot encode a sample");
                        continue;
                    }
                };
                history.push(sample);
                let written = tokio::task::spawn_blocking(move || t.append(0, vec![(None, Some(value))])).await;
                if let Ok(Err(e)) = written {
                    // Kept in memory; only a restart would lose it.
                    tracing::warn!(topic = TOPIC, error = %e, "console history: cannot store a sample");
                }
            }
        });
        Ok(Sampler { task })
    }
}

fn open_and_replay(broker: &BrokerHandle, history: &History) -> Result<InternalTopic, ConsoleError> {
    let configs: BTreeMap<String, String> = [
        ("cleanup.policy", "delete".to_string()),
        ("retention.ms", RETENTION_MS.to_string()),
        ("segment.ms", (3600 * 1000).to_string()),
        ("segment.bytes", (64 << 20).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let topic = broker.internal_topic(TOPIC, 1, configs).map_err(|e| ConsoleError::History(e.to_string()))?;
    let now = broker.clock().now_ms();
    let mut bad = 0usize;
    topic
        .replay(0, 0, |kv| {
            let Some(v) = &kv.value else { return };
            match serde_json::from_slice::<Sample>(v) {
                Ok(s) if s.ts >= now - RETENTION_MS => history.push(s),
                Ok(_) => {}
                Err(_) => bad += 1,
            }
        })
        .map_err(|e| ConsoleError::History(e.to_string()))?;
    if bad > 0 {
        tracing::warn!(topic = TOPIC, records = bad, "console history: records that are not samples were skipped");
    }
    tracing::info!(topic = TOPIC, samples = history.len(), "console history loaded");
    Ok(topic)
}

/// Adds to `out` the records each idempotent producer wrote to `p` since the
/// last look: the advance of its sequence (a new epoch restarts at 0), at
/// most the `records_in` the partition took in all.
fn producers_of(
    p: &weir_broker::partition::Partition,
    topic: &Arc<str>,
    records_in: u64,
    now: Instant,
    seen: &mut SeenProducers,
    out: &mut HashMap<(Arc<str>, i64), u64>,
) {
    for s in p.log().active_producers() {
        if s.last_sequence < 0 {
            continue;
        }
        let key = (topic.clone(), p.index(), s.producer_id);
        let advanced = match seen.get(&key) {
            Some((epoch, seq, _)) if *epoch == s.epoch && s.last_sequence >= *seq => (s.last_sequence - seq) as u64,
            // Sequences wrap after i32::MAX.
            Some((epoch, seq, _)) if *epoch == s.epoch => (i32::MAX - seq) as u64 + s.last_sequence as u64 + 1,
            _ => s.last_sequence as u64 + 1,
        };
        seen.insert(key, (s.epoch, s.last_sequence, now));
        if advanced > 0 {
            *out.entry((topic.clone(), s.producer_id)).or_default() += advanced.min(records_in);
        }
    }
}

/// The sample of now and everything it observed, or None on the first call
/// (no rates yet).
fn take(
    broker: &BrokerHandle,
    mirror: &MirrorStatus,
    history: &History,
    prev: &mut Previous,
) -> Option<(Sample, Observed)> {
    let now = Instant::now();
    let elapsed = prev.at.map(|at| now.duration_since(at));
    prev.at = Some(now);
    let mut partitions = HashMap::new();
    let mut by_topic: HashMap<Arc<str>, TopicRates> = HashMap::new();
    let mut producer_records: HashMap<(Arc<str>, i64), u64> = HashMap::new();
    // Rates per whole milliseconds of interval, so rate × interval_ms is exact.
    let interval_ms = elapsed.map_or(1000, |e| (e.as_millis() as u64).max(1));
    let secs = interval_ms as f64 / 1000.0;
    for p in broker.partitions().all() {
        let topic: Arc<str> = Arc::from(p.topic());
        let now_t = p.traffic();
        let key = (topic.clone(), p.index());
        // A partition first seen now (or reopened) counts from zero.
        let before = prev.partitions.get(&key).copied().filter(|b| b.bytes_in <= now_t.bytes_in).unwrap_or_default();
        let d = [
            now_t.bytes_in - before.bytes_in,
            now_t.bytes_out.saturating_sub(before.bytes_out),
            now_t.records_in.saturating_sub(before.records_in),
            now_t.records_out.saturating_sub(before.records_out),
        ];
        partitions.insert(key, now_t);
        if d.iter().all(|x| *x == 0) {
            continue;
        }
        if d[2] > 0 {
            producers_of(&p, &topic, d[2], now, &mut prev.producers, &mut producer_records);
        }
        let r = by_topic
            .entry(topic.clone())
            .or_insert_with(|| TopicRates { topic: topic.to_string(), ..Default::default() });
        for (acc, x) in [&mut r.bytes_in, &mut r.bytes_out, &mut r.records_in, &mut r.records_out].into_iter().zip(d) {
            *acc += x as f64 / secs;
        }
    }
    prev.partitions = partitions;
    // Producers of partitions idle for an hour are forgotten.
    prev.producers.retain(|_, (_, _, seen)| now.duration_since(*seen) < std::time::Duration::from_secs(3600));
    let mut cluster = TopicRates::default();
    for r in by_topic.values() {
        cluster.bytes_in += r.bytes_in;
        cluster.bytes_out += r.bytes_out;
        cluster.records_in += r.records_in;
        cluster.records_out += r.records_out;
    }
    let mut flows = Vec::new();
    let mut flow_totals = HashMap::new();
    for (name, f) in mirror.snapshot() {
        let records: u64 = f.partitions.values().map(|p| p.records).sum();
        let bytes: u64 = f.partitions.values().map(|p| p.bytes).sum();
        let latency = f.latency.counts();
        // A restarted flow counts from zero again.
        let (r0, b0, l0) = prev.flows.get(&name).copied().filter(|(r, _, _)| *r <= records).unwrap_or_default();
        let in_interval: [u64; 17] = std::array::from_fn(|i| latency[i].saturating_sub(l0[i]));
        flows.push(FlowRates {
            flow: name.clone(),
            state: f.state.as_str().to_string(),
            records: (records - r0) as f64 / secs,
            bytes: bytes.saturating_sub(b0) as f64 / secs,
            lag_records: f.partitions.values().map(|p| p.lag_records.max(0)).sum(),
            lag_ms: f.partitions.values().map(|p| p.lag_ms.max(0)).max().unwrap_or(0),
            latency_p99_ms: weir_mirror::status::latency_quantile_ms(&in_interval, 0.99),
        });
        flow_totals.insert(name, (records, bytes, latency));
    }
    prev.flows = flow_totals;
    if elapsed.is_some() {
        let mut rates: crate::history::ProducerRates = HashMap::new();
        for ((topic, pid), n) in producer_records {
            rates.entry(topic.to_string()).or_default().insert(pid, n as f64 / secs);
        }
        history.set_producer_rates(rates);
    }
    let routes = stats::totals();
    let before = std::mem::replace(&mut prev.routes, routes.clone());
    elapsed?;

    // Requests and latency over the interval, from the per-API totals (both
    // indexed like the route table).
    let deltas: Vec<RouteTotals> = routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let b = before.get(i).cloned().unwrap_or_default();
            RouteTotals {
                api: r.api,
                requests: r.requests.saturating_sub(b.requests),
                errors: r.errors.saturating_sub(b.errors),
                latency_buckets: std::array::from_fn(|i| r.latency_buckets[i].saturating_sub(b.latency_buckets[i])),
            }
        })
        .collect();
    let mut all = [0u64; 17];
    for d in &deltas {
        for (a, x) in all.iter_mut().zip(d.latency_buckets) {
            *a += x;
        }
    }
    let p99 = |api: &str| {
        deltas.iter().find(|d| d.api == api).and_then(|d| stats::quantile(&d.latency_buckets, 0.99)).map(|s| s * 1e3)
    };

    let groups = broker.group_overviews();
    let group_count = groups.len();
    let mut group_lag: Vec<GroupLag> = groups
        .iter()
        .map(|g| GroupLag { group: g.group_id.clone(), lag: g.total_lag() })
        .filter(|g| g.lag > 0)
        .collect();
    let total_lag = group_lag.iter().map(|g| g.lag).sum();
    group_lag.sort_by(|a, b| b.lag.cmp(&a.lag).then_with(|| a.group.cmp(&b.group)));
    group_lag.truncate(TOP_GROUPS);

    let mut topics: Vec<TopicRates> = by_topic.into_values().collect();
    let topic_rates: HashMap<String, TopicRates> = topics.iter().map(|t| (t.topic.clone(), t.clone())).collect();
    topics
        .sort_by(|a, b| (b.bytes_in + b.bytes_out).total_cmp(&(a.bytes_in + a.bytes_out)).then(a.topic.cmp(&b.topic)));
    topics.truncate(TOP_TOPICS);

    let disk = crate::state_metrics::disk_space(broker.cluster().data_dir());
    let now_ms = broker.clock().now_ms();
    let requests = deltas.iter().map(|d| d.requests).sum::<u64>() as f64 / secs;
    let errors = deltas.iter().map(|d| d.errors).sum::<u64>() as f64 / secs;
    let latency_p99_ms = stats::quantile(&all, 0.99).map(|s| s * 1e3);
    let observed = Observed {
        broker: broker.clone(),
        now_ms,
        groups,
        topic_rates,
        requests_per_sec: requests,
        errors_per_sec: errors,
        latency_p99_ms,
        disk,
        flows: flows.clone(),
    };
    let sample = Sample {
        ts: now_ms,
        interval_ms,
        bytes_in: cluster.bytes_in,
        bytes_out: cluster.bytes_out,
        records_in: cluster.records_in,
        records_out: cluster.records_out,
        requests,
        errors,
        latency_p99_ms,
        produce_p99_ms: p99("Produce"),
        fetch_p99_ms: p99("Fetch"),
        total_lag,
        groups: group_count,
        disk_free_bytes: disk.map(|d| d.0),
        disk_total_bytes: disk.map(|d| d.1),
        topics,
        group_lag,
        flows,
    };
    Some((sample, observed))
}
