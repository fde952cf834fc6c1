//! What each flow is doing, shared with whoever runs the flows (the console
//! reads it through the broker's process) and published as Prometheus metrics:
//!
//! - `weir_mirror_records_total`, `weir_mirror_bytes_total` (keys and values)
//!   per flow, remote topic and partition;
//! - `weir_mirror_replication_latency_seconds` per flow: a record's source
//!   timestamp to the target's acknowledgement (with `LogAppendTime` on the
//!   source, source append to target append);
//! - `weir_mirror_lag_records`: the source's log end minus the mirrored
//!   position, and `weir_mirror_lag_seconds`: how long ago the newest mirrored
//!   record was written on the source, while records are still waiting (0 when
//!   caught up), per partition;
//! - `weir_mirror_checkpoint_latency_seconds` per flow: reading a group's offsets
//!   on the source to its checkpoint acknowledged on the target;
//! - `weir_mirror_topics` per flow: the topics it mirrors now;
//! - `weir_mirror_flow_state{state=...}` (1 for the flow's state, 0 for the
//!   others) and `weir_mirror_flow_restarts_total`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    Starting,
    Running,
    /// Failed and about to start again from the committed position.
    Failed,
    Stopped,
}

impl FlowState {
    pub const ALL: [FlowState; 4] = [FlowState::Starting, FlowState::Running, FlowState::Failed, FlowState::Stopped];

    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Starting => "starting",
            FlowState::Running => "running",
            FlowState::Failed => "failed",
            FlowState::Stopped => "stopped",
        }
    }
}

/// One mirrored partition, as of the flow's last checkpoint (every second).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionStatus {
    /// The next source offset to mirror.
    pub mirrored_offset: i64,
    /// The source partition's log end, as the replicator last saw it.
    pub source_end: i64,
    pub lag_records: i64,
    pub lag_ms: i64,
    pub records: u64,
    pub bytes: u64,
}

/// Upper bounds (ms) of the replication latency buckets a flow counts for
/// the console (the last bucket holds everything slower).
pub const LATENCY_BOUNDS_MS: [f64; 16] =
    [1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1e3, 2.5e3, 5e3, 10e3, 30e3, 60e3, 300e3];

/// Replication latencies counted per bucket of [`LATENCY_BOUNDS_MS`], since the flow first started.
#[derive(Debug, Default)]
pub struct LatencyBuckets([AtomicU64; 17]);

impl LatencyBuckets {
    fn record(&self, ms: f64) {
        let i = LATENCY_BOUNDS_MS.iter().position(|b| ms <= *b).unwrap_or(LATENCY_BOUNDS_MS.len());
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> [u64; 17] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}

/// The `q` quantile (ms) of latencies counted in `counts` (a difference of
/// two [`LatencyBuckets::counts`]): the upper bound of the bucket holding it.
pub fn latency_quantile_ms(counts: &[u64; 17], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(LATENCY_BOUNDS_MS[i.min(LATENCY_BOUNDS_MS.len() - 1)]);
        }
    }
    None
}

/// Where a flow records replication latency: its Prometheus histogram and
/// the buckets the console reads.
#[derive(Clone)]
pub struct Latency {
    histogram: metrics::Histogram,
    buckets: Arc<LatencyBuckets>,
}

impl Latency {
    pub fn record(&self, seconds: f64) {
        self.histogram.record(seconds);
        self.buckets.record(seconds * 1000.0);
    }
}

/// One partition of a group's last checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointedPartition {
    /// The remote (target) topic.
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset on the source, and its translation on the target.
    pub upstream_offset: i64,
    pub downstream_offset: i64,
}

/// A group's last checkpoint written by a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupCheckpoint {
    /// When it was written (ms since the epoch).
    pub at_ms: i64,
    pub partitions: Vec<CheckpointedPartition>,
}

#[derive(Clone, Debug)]
pub struct FlowStatus {
    pub state: FlowState,
    pub last_error: Option<String>,
    pub restarts: u64,
    /// Remote topic and partition -> status.
    pub partitions: BTreeMap<(String, i32), PartitionStatus>,
    /// Group -> its last checkpoint.
    pub checkpoints: BTreeMap<String, GroupCheckpoint>,
    /// Replication latencies so far.
    pub latency: Arc<LatencyBuckets>,
}

impl FlowStatus {
    fn new(state: FlowState) -> FlowStatus {
        FlowStatus {
            state,
            last_error: None,
            restarts: 0,
            partitions: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            latency: Arc::default(),
        }
    }
}

/// Every flow's status, and a stop switch per flow; cheap to clone and share.
#[derive(Clone, Default)]
pub struct MirrorStatus(Arc<Mutex<BTreeMap<String, FlowStatus>>>, Arc<Mutex<BTreeMap<String, Arc<AtomicBool>>>>);

impl MirrorStatus {
    /// The stop switch of `flow` (the runner's, and [`MirrorStatus::stop_flow`]'s).
    pub(crate) fn stop_switch(&self, flow: &str) -> Arc<AtomicBool> {
        self.1.lock().unwrap_or_else(|p| p.into_inner()).entry(flow.to_string()).or_default().clone()
    }

    /// Asks `flow` to stop (for good, until the process restarts): it
    /// finishes what it is copying and commits, then its state is `stopped`.
    /// False if this process runs no such flow.
    pub fn stop_flow(&self, flow: &str) -> bool {
        match self.1.lock().unwrap_or_else(|p| p.into_inner()).get(flow) {
            Some(s) => {
                s.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Where `flow` records replication latency.
    pub(crate) fn latency(&self, flow: &str) -> Latency {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let f = all.entry(flow.to_string()).or_insert_with(|| FlowStatus::new(FlowState::Starting));
        Latency {
            histogram: metrics::histogram!("weir_mirror_replication_latency_seconds", "flow" => flow.to_string()),
            buckets: f.latency.clone(),
        }
    }

    /// Records the checkpoint just written for `group`.
    pub(crate) fn checkpointed(&self, flow: &str, group: &str, cp: GroupCheckpoint) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = all.get_mut(flow) {
            f.checkpoints.insert(group.to_string(), cp);
        }
    }

    /// Forgets the checkpoints of groups the flow no longer mirrors.
    pub(crate) fn retain_groups(&self, flow: &str, keep: impl Fn(&str) -> bool) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = all.get_mut(flow) {
            f.checkpoints.retain(|g, _| keep(g));
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, FlowStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_state(&self, flow: &str, state: FlowState, error: Option<String>) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let f = all.entry(flow.to_string()).or_insert_with(|| FlowStatus::new(state));
        if state == FlowState::Failed {
            f.restarts += 1;
            metrics::counter!("weir_mirror_flow_restarts_total", "flow" => flow.to_string()).increment(1);
        }
        f.state = state;
        if error.is_some() {
            f.last_error = error;
        }
        for s in FlowState::ALL {
            metrics::gauge!("weir_mirror_flow_state", "flow" => flow.to_string(), "state" => s.as_str())
                .set(if s == state { 1.0 } else { 0.0 });
        }
    }

    /// Records one partition's progress since the last call (`records`, `bytes`
    /// are increments).
    pub(crate) fn update_partition(&self, flow: &str, remote: &str, partition: i32, now: PartitionStatus) {
        let labels = [("flow", flow.to_string()), ("topic", remote.to_string()), ("partition", partition.to_string())];
        metrics::counter!("weir_mirror_records_total", &labels).increment(now.records);
        metrics::counter!("weir_mirror_bytes_total", &labels).increment(now.bytes);
        metrics::gauge!("weir_mirror_lag_records", &labels).set(now.lag_records as f64);
        metrics::gauge!("weir_mirror_lag_seconds", &labels).set(now.lag_ms as f64 / 1000.0);
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(f) = all.get_mut(flow) else { return };
        let p = f.partitions.entry((remote.to_string(), partition)).or_default();
        let (records, bytes) = (p.records + now.records, p.bytes + now.bytes);
        *p = PartitionStatus { records, bytes, ..now };
    }

    pub(crate) fn forget_topic(&self, flow: &str, remote: &str) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = all.get_mut(flow) {
            f.partitions.retain(|(t, _), _| t != remote);
        }
    }
}

/// Describes the metrics once, for the Prometheus `# HELP` lines.
pub fn describe_metrics() {
    metrics::describe_counter!("weir_mirror_records_total", "Records mirrored, by flow, remote topic and partition.");
    metrics::describe_counter!(
        "weir_mirror_bytes_total",
        "Key and value bytes mirrored, by flow, remote topic and partition."
    );
    metrics::describe_histogram!(
        "weir_mirror_replication_latency_seconds",
        metrics::Unit::Seconds,
        "A record's source timestamp to its acknowledgement by the target, by flow."
    );
    metrics::describe_gauge!("weir_mirror_lag_records", "Source log end minus the mirrored position, by partition.");
    metrics::describe_gauge!(
        "weir_mirror_lag_seconds",
        metrics::Unit::Seconds,
        "While records wait: the age of the newest mirrored record, by partition (0 when caught up)."
    );
    metrics::describe_histogram!(
        "weir_mirror_checkpoint_latency_seconds",
        metrics::Unit::Seconds,
        "A group's offsets read on the source to its checkpoint acknowledged on the target, by flow."
    );
    metrics::describe_gauge!("weir_mirror_topics", "Topics a flow mirrors now (after live filter changes).");
    metrics::describe_gauge!("weir_mirror_flow_state", "1 for the flow's state (starting, running, failed, stopped).");
    metrics::describe_counter!("weir_mirror_flow_restarts_total", "Times a flow failed and started again.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_answer_quantiles_by_upper_bound() {
        let b = LatencyBuckets::default();
        for ms in [0.5, 3.0, 3.0, 40.0, 40.0, 40.0, 40.0, 40.0, 40.0, 400_000.0] {
            b.record(ms);
        }
        let c = b.counts();
        assert_eq!(c.iter().sum::<u64>(), 10);
        assert_eq!(latency_quantile_ms(&c, 0.1), Some(1.0));
        assert_eq!(latency_quantile_ms(&c, 0.5), Some(50.0));
        assert_eq!(latency_quantile_ms(&c, 0.99), Some(300e3), "slower than the last bound: the last bound");
        assert_eq!(latency_quantile_ms(&[0; 17], 0.99), None);
    }

    #[test]
    fn a_flow_stops_by_its_own_switch() {
        let s = MirrorStatus::default();
        assert!(!s.stop_flow("A->B"), "no such flow yet");
        let switch = s.stop_switch("A->B");
        let other = s.stop_switch("B->A");
        assert!(s.stop_flow("A->B"));
        assert!(switch.load(Ordering::SeqCst) && !other.load(Ordering::SeqCst));
    }
}
