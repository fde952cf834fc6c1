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

#[derive(Clone, Debug)]
pub struct FlowStatus {
    pub state: FlowState,
    pub last_error: Option<String>,
    pub restarts: u64,
    /// Remote topic and partition -> status.
    pub partitions: BTreeMap<(String, i32), PartitionStatus>,
}

/// Every flow's status; cheap to clone and share.
#[derive(Clone, Default)]
pub struct MirrorStatus(Arc<Mutex<BTreeMap<String, FlowStatus>>>);

impl MirrorStatus {
    pub fn snapshot(&self) -> BTreeMap<String, FlowStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_state(&self, flow: &str, state: FlowState, error: Option<String>) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let f = all.entry(flow.to_string()).or_insert_with(|| FlowStatus {
            state,
            last_error: None,
            restarts: 0,
            partitions: BTreeMap::new(),
        });
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
