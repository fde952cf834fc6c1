//! `GET /api/v1/history`: the charts' series from the sampled history (see
//! `crate::history`), over `[from, to]` (ms since the epoch; default the last
//! hour), in at most `points` points (default 360, at most 2000): each point
//! stands for a run of consecutive samples (`interval_ms`: their intervals
//! summed), rates their time-weighted mean (so rate × interval is what
//! passed), latencies and lag their maximum. With `topic=`, that topic's rates; with `group=`, that
//! group's lag. A topic or group missing from a sample counts 0 (idle, no
//! lag) unless the sample was full (it kept only the top 100), then null.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{query, Api, ApiError, ApiResult};
use crate::history::{buckets, Sample, TopicRates, TOP_GROUPS, TOP_TOPICS};

pub fn routes() -> Router<Api> {
    Router::new().route("/api/v1/history", get(history))
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    from: Option<i64>,
    to: Option<i64>,
    points: Option<usize>,
    topic: Option<String>,
    group: Option<String>,
    /// A replication flow this process runs (`A->B`).
    flow: Option<String>,
}

/// The time-weighted mean of (rate, interval ms) pairs.
fn mean(xs: impl Iterator<Item = (f64, u64)>) -> f64 {
    let (sum, ms) = xs.fold((0.0, 0u64), |(s, t), (x, ms)| (s + x * ms as f64, t + ms));
    if ms == 0 {
        0.0
    } else {
        sum / ms as f64
    }
}

fn max_of(xs: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    xs.flatten().reduce(f64::max)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn history(State(api): State<Api>, q: Result<Query<HistoryQuery>, QueryRejection>) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let now = api.broker.clock().now_ms();
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - 3600 * 1000);
    if from > to {
        return Err(ApiError::bad_request("`from` is after `to`"));
    }
    let points = q.points.unwrap_or(360).clamp(1, 2000);
    let samples: Vec<Arc<Sample>> = api.history.range(from, to);
    let mut series = Vec::new();
    let mut topic_points = Vec::new();
    let mut group_points = Vec::new();
    let mut flow_points = Vec::new();
    for run in buckets(&samples, points) {
        let last = &run[run.len() - 1];
        let m = |f: fn(&Sample) -> f64| round(mean(run.iter().map(|s| (f(s), s.interval_ms))));
        let interval_ms: u64 = run.iter().map(|s| s.interval_ms).sum();
        series.push(json!({
            "ts": last.ts,
            "interval_ms": interval_ms,
            "bytes_in": m(|s| s.bytes_in),
            "bytes_out": m(|s| s.bytes_out),
            "records_in": m(|s| s.records_in),
            "records_out": m(|s| s.records_out),
            "requests": m(|s| s.requests),
            "errors": m(|s| s.errors),
            "latency_p99_ms": max_of(run.iter().map(|s| s.latency_p99_ms)),
            "produce_p99_ms": max_of(run.iter().map(|s| s.produce_p99_ms)),
            "fetch_p99_ms": max_of(run.iter().map(|s| s.fetch_p99_ms)),
            "total_lag": run.iter().map(|s| s.total_lag).max(),
            "disk_free_bytes": last.disk_free_bytes,
            "disk_total_bytes": last.disk_total_bytes,
        }));
        if let Some(t) = &q.topic {
            // Per sample: its rates, 0 when idle, unknown when it may have been cut.
            let per: Vec<Option<(TopicRates, u64)>> = run
                .iter()
                .map(|s| match s.topics.iter().find(|r| &r.topic == t) {
                    Some(r) => Some((r.clone(), s.interval_ms)),
                    None if s.topics.len() < TOP_TOPICS => Some((TopicRates::default(), s.interval_ms)),
                    None => None,
                })
                .collect();
            let known: Vec<&(TopicRates, u64)> = per.iter().flatten().collect();
            let f = |g: fn(&TopicRates) -> f64| {
                (!known.is_empty()).then(|| round(mean(known.iter().map(|(r, ms)| (g(r), *ms)))))
            };
            topic_points.push(json!({
                "ts": last.ts,
                "interval_ms": known.iter().map(|(_, ms)| ms).sum::<u64>(),
                "bytes_in": f(|r| r.bytes_in),
                "bytes_out": f(|r| r.bytes_out),
                "records_in": f(|r| r.records_in),
                "records_out": f(|r| r.records_out),
            }));
        }
        if let Some(g) = &q.group {
            let lag = run
                .iter()
                .filter_map(|s| match s.group_lag.iter().find(|x| &x.group == g) {
                    Some(x) => Some(x.lag),
                    None if s.group_lag.len() < TOP_GROUPS => Some(0),
                    None => None,
                })
                .max();
            group_points.push(json!({ "ts": last.ts, "lag": lag }));
        }
        if let Some(name) = &q.flow {
            // Samples where the flow ran: rates time-weighted, lag the run's maximum.
            let seen: Vec<(&crate::history::FlowRates, u64)> = run
                .iter()
                .filter_map(|s| s.flows.iter().find(|f| &f.flow == name).map(|f| (f, s.interval_ms)))
                .collect();
            let rate = |g: fn(&crate::history::FlowRates) -> f64| {
                (!seen.is_empty()).then(|| round(mean(seen.iter().map(|(f, ms)| (g(f), *ms)))))
            };
            flow_points.push(json!({
                "ts": last.ts,
                "interval_ms": seen.iter().map(|(_, ms)| ms).sum::<u64>(),
                "records": rate(|f| f.records),
                "bytes": rate(|f| f.bytes),
                "lag_records": seen.iter().map(|(f, _)| f.lag_records).max(),
                "lag_ms": seen.iter().map(|(f, _)| f.lag_ms).max(),
                // The worst p99 of the run (a bound, not a mean of quantiles).
                "latency_p99_ms": seen.iter().filter_map(|(f, _)| f.latency_p99_ms).reduce(f64::max),
            }));
        }
    }
    let mut out = json!({
        "from": from,
        "to": to,
        "sample_interval_ms": api.history.interval().as_millis() as u64,
        "samples": samples.len(),
        "series": series,
    });
    if let Some(t) = q.topic {
        out["topic"] = json!({ "name": t, "series": topic_points });
    }
    if let Some(g) = q.group {
        out["group"] = json!({ "group_id": g, "series": group_points });
    }
    if let Some(f) = q.flow {
        out["flow"] = json!({ "name": f, "series": flow_points });
    }
    Ok(Json(out))
}
