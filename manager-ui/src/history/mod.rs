//! The console's history: the main series sampled every 10 s (the interval
//! `WEIR_CONSOLE_SAMPLE_MS` may change, for tests) and kept for 24 h, in
//! memory for the charts and in the internal topic `__weir_console_history`
//! so a restart keeps them.
//!
//! A sample holds rates over its interval (bytes and records in and out per
//! second; requests and error responses per second; p99 request latency, all
//! APIs and Produce and Fetch alone), the total consumer lag and disk free;
//! then the busiest topics' rates and the laggiest groups' lag
//! ([`TOP_TOPICS`], [`TOP_GROUPS`] of each, so that memory stays bounded on a
//! large estate: idle topics and groups without lag cost nothing); and each
//! replication flow this process runs: records and bytes mirrored per second,
//! lag in records and in age.
//!
//! Topic format: one record per sample, no key, the value the sample's JSON
//! ([`Sample`]); `cleanup.policy=delete`, `retention.ms` 24 h, hourly
//! segments so old hours go as a whole. Records that do not parse are skipped
//! (logged), never fatal.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

mod sampler;

pub use sampler::Sampler;

/// How long samples are kept.
pub const RETENTION_MS: i64 = 24 * 3600 * 1000;
/// Topics kept per sample (by bytes in + out).
pub const TOP_TOPICS: usize = 100;
/// Groups kept per sample (by lag).
pub const TOP_GROUPS: usize = 100;
pub const TOPIC: &str = "__weir_console_history";

/// The sampling interval: 10 s, or `WEIR_CONSOLE_SAMPLE_MS`.
pub fn interval() -> Duration {
    let ms = std::env::var("WEIR_CONSOLE_SAMPLE_MS").ok().and_then(|v| v.parse::<u64>().ok()).filter(|ms| *ms >= 100);
    Duration::from_millis(ms.unwrap_or(10_000))
}

/// Rates of one topic over a sample's interval (per second).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopicRates {
    pub topic: String,
    pub bytes_in: f64,
    pub bytes_out: f64,
    pub records_in: f64,
    pub records_out: f64,
}

/// One group's lag at a sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupLag {
    pub group: String,
    pub lag: i64,
}

/// One replication flow at a sample (flows this process runs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowRates {
    pub flow: String,
    pub state: String,
    /// Records and bytes mirrored per second.
    pub records: f64,
    pub bytes: f64,
    /// Source log ends minus mirrored positions, summed over partitions.
    pub lag_records: i64,
    /// The oldest unmirrored record's age over partitions (0 when caught up).
    pub lag_ms: i64,
    /// p99 replication latency of the records mirrored in the interval (ms;
    /// the upper bound of its bucket); None when none were.
    #[serde(default)]
    pub latency_p99_ms: Option<f64>,
}

/// One sample. Rates are per second over `interval_ms`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was taken (ms since the epoch).
    pub ts: i64,
    pub interval_ms: u64,
    pub bytes_in: f64,
    pub bytes_out: f64,
    pub records_in: f64,
    pub records_out: f64,
    pub requests: f64,
    /// Responses carrying an error code, per second.
    pub errors: f64,
    /// p99 latency of every request in the interval (ms); None without requests.
    pub latency_p99_ms: Option<f64>,
    pub produce_p99_ms: Option<f64>,
    pub fetch_p99_ms: Option<f64>,
    /// Sum of every group's lag.
    pub total_lag: i64,
    pub groups: usize,
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
    /// The busiest topics, busiest first.
    pub topics: Vec<TopicRates>,
    /// The groups with the most lag, most first.
    pub group_lag: Vec<GroupLag>,
    /// Replication flows (absent from samples stored before flows were sampled).
    #[serde(default)]
    pub flows: Vec<FlowRates>,
}

/// Records per second of each producer id of each topic, over the last interval.
pub type ProducerRates = std::collections::HashMap<String, std::collections::HashMap<i64, f64>>;

/// The samples of the last 24 h, oldest first, taken every `interval`.
pub struct History {
    samples: Mutex<VecDeque<Arc<Sample>>>,
    interval: Duration,
    /// Not kept in samples (the topic detail shows them for now only).
    producer_rates: Mutex<Arc<ProducerRates>>,
}

impl Default for History {
    /// Sampled every [`interval()`].
    fn default() -> Self {
        History { samples: Mutex::default(), interval: interval(), producer_rates: Mutex::default() }
    }
}

impl History {
    /// Idempotent and transactional producers' rates over the last interval
    /// (from their sequence numbers), per topic and producer id.
    pub fn producer_rates(&self) -> Arc<ProducerRates> {
        self.producer_rates.lock().clone()
    }

    pub fn set_producer_rates(&self, rates: ProducerRates) {
        *self.producer_rates.lock() = Arc::new(rates);
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Adds a sample (in time order) and forgets those older than 24 h before it.
    pub fn push(&self, s: Sample) {
        let mut q = self.samples.lock();
        let cutoff = s.ts - RETENTION_MS;
        while q.front().is_some_and(|f| f.ts < cutoff) {
            q.pop_front();
        }
        if q.back().is_some_and(|b| b.ts >= s.ts) {
            return; // not newer: a replayed duplicate
        }
        q.push_back(Arc::new(s));
    }

    pub fn latest(&self) -> Option<Arc<Sample>> {
        self.samples.lock().back().cloned()
    }

    pub fn len(&self) -> usize {
        self.samples.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples taken in `[from, to]`.
    pub fn range(&self, from: i64, to: i64) -> Vec<Arc<Sample>> {
        let q = self.samples.lock();
        let start = q.partition_point(|s| s.ts < from);
        q.range(start..).take_while(|s| s.ts <= to).cloned().collect()
    }
}

/// Splits `samples` (in time order) into at most `max` runs of consecutive
/// samples of equal length (the last may be shorter), so that a 24 h chart
/// draws a few hundred points, not 8,640.
pub fn buckets<T>(samples: &[T], max: usize) -> std::slice::Chunks<'_, T> {
    let per = samples.len().div_ceil(max.max(1)).max(1);
    samples.chunks(per)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts: i64) -> Sample {
        Sample { ts, ..Default::default() }
    }

    #[test]
    fn keeps_24_hours_in_order_and_answers_ranges() {
        let h = History::default();
        h.push(at(1_000));
        h.push(at(2_000));
        h.push(at(2_000)); // a duplicate from a replay: ignored
        h.push(at(3_000));
        assert_eq!(h.len(), 3);
        let r: Vec<i64> = h.range(1_500, 3_000).iter().map(|s| s.ts).collect();
        assert_eq!(r, [2_000, 3_000]);
        h.push(at(1_000 + RETENTION_MS + 1));
        let left: Vec<i64> = h.range(0, i64::MAX).iter().map(|s| s.ts).collect();
        assert_eq!(left, [2_000, 3_000, 1_000 + RETENTION_MS + 1], "the sample older than 24 h went");
        assert_eq!(h.latest().map(|s| s.ts), Some(1_000 + RETENTION_MS + 1));
    }

    #[test]
    fn buckets_bound_the_points() {
        let xs: Vec<u32> = (0..8640).collect();
        let b: Vec<_> = buckets(&xs, 360).collect();
        assert_eq!(b.len(), 360);
        assert!(b.iter().all(|c| c.len() == 24));
        assert_eq!(buckets(&xs[..10], 360).count(), 10);
        assert_eq!(buckets::<u32>(&[], 360).count(), 0);
    }

    #[test]
    fn samples_round_trip_through_json() {
        let s = Sample {
            ts: 5,
            latency_p99_ms: Some(2.5),
            topics: vec![TopicRates { topic: "t".into(), bytes_in: 1.0, ..Default::default() }],
            group_lag: vec![GroupLag { group: "g".into(), lag: 7 }],
            ..Default::default()
        };
        let back: Sample = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
