//! What the clients were told: the acknowledgements the checker holds the
//! broker to, and the attempts whose outcome is unknown (an error or a timeout
//! while the broker was down: they may or may not have taken effect).

use std::collections::HashMap;

/// An idempotent producer's record the broker acknowledged (acks=all).
#[derive(Clone, Debug)]
pub struct Ack {
    pub producer: u32,
    pub seq: u64,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    Committed,
    Aborted,
    /// Commit or abort returned an error: all of its records or none.
    Unknown,
}

#[derive(Default)]
pub struct History {
    pub acked: Vec<Ack>,
    /// Records whose delivery failed (unknown: at most once in the log).
    pub unacked: u64,
    /// Transactions by number, each of `TXN_RECORDS` records.
    pub txns: Vec<(u64, TxnOutcome)>,
    pub commit_count: u64,
    /// Acknowledged commits below an earlier acknowledged one of the same
    /// partition: the consumer read again from an older position (after a
    /// rebalance whose committed-offset fetch raced its own commit), for the report.
    pub commit_regressions: u64,
    /// (subject, field names of the schema, id) of acknowledged registrations.
    pub schemas: Vec<(String, Vec<String>, i64)>,
    /// Topics whose creation was acknowledged.
    pub topics: Vec<String>,
    /// `retention.ms` changes in the order they were sent: (value, acknowledged).
    pub configs: Vec<(String, bool)>,
    /// Broken promises seen while the run goes on (a committed offset that went
    /// back, a producer's fatal error); the checker adds its own.
    pub violations: Vec<String>,
    /// Consumed records (both groups), for the report.
    pub consumed: u64,
    /// Committed-offset samples taken while the broker was tortured.
    pub offset_samples: u64,
}

/// A partition's offset commits as its group's one consumer made them: the
/// offset of the last acknowledged commit and the offsets attempted since
/// (failed or in flight: they may have taken effect). The broker must hold one of
/// them: a committed offset changes only by a commit, and commits apply in order.
#[derive(Clone, Debug, Default)]
pub struct CommitState {
    pub acked: Option<i64>,
    pub since: Vec<i64>,
}

impl CommitState {
    pub fn allows(&self, seen: i64) -> bool {
        self.acked == Some(seen) || self.since.contains(&seen)
    }
}

/// Per (group, partition). Its own lock: the sampler holds it across a query so
/// that no commit starts meanwhile.
pub type Commits = std::sync::Arc<std::sync::Mutex<HashMap<(String, i32), CommitState>>>;

/// Records per transaction.
pub const TXN_RECORDS: usize = 8;

/// The value of an idempotent producer's record.
pub fn value(producer: u32, seq: u64) -> String {
    format!("p{producer}-{seq}")
}

/// The value of a transactional record.
pub fn txn_value(txn: u64, i: usize) -> String {
    format!("t{txn}-{i}")
}
