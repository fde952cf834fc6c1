//! The partition layer: what a partition is to the broker, above its storage log.
//!
//! A [`Partition`] owns its [`Log`], its high watermark and last stable offset,
//! its leader epoch, the fetches parked on it and its counters. Every write goes
//! through it ([`Partition::append_from_client`] for produce,
//! [`Partition::append_internal`] for the broker's own records), so "append, then
//! advance the high watermark, then wake that partition's waiters, then count" is
//! done in one place, and every read goes through [`Partition::read`], which never
//! hands out data above the high watermark (or, for `read_committed`, the last
//! stable offset). The [`ReplicaManager`] holds the partitions of every topic.
//!
//! Invariants: `log_start <= last_stable_offset <= high_watermark <= log_end`.
//! On one node without transactions the high watermark follows the log end after
//! every append and the last stable offset equals the high watermark; the fields
//! are separate so that replication (high watermark = what the ISR has) and
//! transactions (LSO = first offset of the oldest open transaction) change only
//! how they advance.

mod manager;
mod traffic;
mod waiters;

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use uuid::Uuid;
use weir_storage::{AbortedTxn, AppendInfo, ControlType, FlushPolicy, Log, StorageError};

pub use manager::ReplicaManager;
pub use traffic::TrafficTotals;
pub use waiters::FetchWaiter;

use crate::schema_validation::{self, SchemaIdLookup};
use crate::settings::TopicSettings;
pub(crate) use waiters::Waiters;

/// Checks a transactional produce against the transaction coordinator: the
/// producer must have an open transaction that holds the partition.
pub trait TxnVerifier: Send + Sync {
    fn verify(&self, topic: &str, partition: i32, producer_id: i64, epoch: i16) -> Result<(), crate::error::TxnError>;
}

/// Kafka's fetch isolation levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
}

/// Why a client's append was refused; the log is unchanged.
#[derive(thiserror::Error, Debug)]
pub enum AppendError {
    #[error("min.insync.replicas is {0}, larger than the single in-sync replica of this broker")]
    NotEnoughReplicas(i32),
    /// A coordinator's log: a record appended there would be applied as its
    /// state.
    #[error("Cannot append to internal topic {0}")]
    InternalTopic(String),
    #[error("produce request without records")]
    NoRecords,
    #[error("{size} bytes of records exceed segment.bytes {max}")]
    RecordListTooLarge { size: usize, max: u64 },
    /// Broker-side schema validation refused a record.
    #[error("{0}")]
    InvalidRecord(String),
    /// Records without a key sent to a compacted topic (their indexes in the batch).
    #[error("Compacted topic cannot accept message without key in topic partition {partition}.")]
    KeylessRecords { partition: String, records: Vec<i32> },
    #[error("transactional batches need the transaction coordinator")]
    TransactionalBatch,
    /// The topic is a read-only mirror (`weir.mirror.source`).
    #[error("topic {topic} is a read-only mirror of {mirror_of}: it takes records only from its source until `weir mirror promote` makes it writable")]
    MirrorTopic { topic: String, mirror_of: String },
    /// An offset-preserving copy that would leave a hole: the log ends short of
    /// where the copier expected (an earlier copy did not land).
    #[error("copy to {partition} expects the log to end at {expected}, it ends at {end}: an earlier copy is missing")]
    CopyGap { partition: String, expected: i64, end: i64 },
    /// An offset-preserving copy sent to a topic that is not (or no longer) a
    /// mirror topic: never one, or promoted.
    #[error(
        "topic {topic} is not a mirror topic (weir.mirror.source is not set; promoted?): it takes no copied batches"
    )]
    NotAMirror { topic: String },
    /// The transaction coordinator refused a transactional batch.
    #[error(transparent)]
    Txn(#[from] crate::error::TxnError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A successful append.
#[derive(Clone, Debug)]
pub struct Appended {
    pub info: AppendInfo,
    /// The caller must wait for [`Partition::flush_to`] (`info.last_offset + 1`)
    /// before acknowledging: acks=all on a topic with the durable flush policy.
    pub needs_flush: bool,
}

/// What a read hands out: whole batches below the isolation bound.
#[derive(Clone, Debug)]
pub struct PartitionRead {
    pub records: Bytes,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// read_committed: the aborted transactions the returned range overlaps, whose
    /// batches the client drops.
    pub aborted: Vec<AbortedTxn>,
}

pub struct Partition {
    topic: Arc<str>,
    index: i32,
    topic_id: Uuid,
    log: Arc<Log>,
    settings: RwLock<Arc<TopicSettings>>,
    leader_epoch: AtomicI32,
    high_watermark: AtomicI64,
    waiters: Waiters,
    traffic: traffic::Traffic,
    /// Its topic was deleted: requests holding it answer UNKNOWN_TOPIC_OR_PARTITION.
    removed: AtomicBool,
    /// A coordinator's log ([`crate::topics::is_internal`]), decided once
    /// rather than on every append.
    internal: bool,
}

impl Partition {
    pub(crate) fn new(
        topic: Arc<str>,
        index: i32,
        topic_id: Uuid,
        log: Arc<Log>,
        settings: Arc<TopicSettings>,
    ) -> Self {
        let end = log.log_end_offset();
        Partition {
            traffic: traffic::Traffic::new(&topic),
            internal: crate::topics::is_internal(&topic),
            topic,
            index,
            topic_id,
            log,
            settings: RwLock::new(settings),
            leader_epoch: AtomicI32::new(0),
            high_watermark: AtomicI64::new(end),
            waiters: Waiters::default(),
            removed: AtomicBool::new(false),
        }
    }

    /// Bytes and records in and out since the partition was opened.
    pub fn traffic(&self) -> TrafficTotals {
        self.traffic.totals()
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn index(&self) -> i32 {
        self.index
    }
    pub fn topic_id(&self) -> Uuid {
        self.topic_id
    }
    pub fn settings(&self) -> Arc<TopicSettings> {
        self.settings.read().clone()
    }
    /// Takes new settings. A mirror topic promoted (`weir.mirror.source`
    /// removed) stops at a consistent point: no copy is in progress once the
    /// settings are swapped (copies hold the settings read lock), and the
    /// copied transactions still open, whose end never arrived, are aborted
    /// before any client can write (the write lock is held throughout), so
    /// read_committed consumers are not held at them forever. Blocking.
    pub(crate) fn set_settings(&self, settings: Arc<TopicSettings>) {
        self.log.update_config(settings.log.clone());
        let promoted = settings.mirror_source.is_none();
        let mut current = self.settings.write();
        let was_mirror = std::mem::replace(&mut *current, settings).mirror_source.is_some();
        if was_mirror && promoted {
            for (producer_id, epoch, first_offset) in self.open_transactions() {
                match self.append_control(ControlType::Abort, producer_id, epoch, 0) {
                    Ok(_) => {
                        tracing::info!(topic = %self.topic, partition = self.index, producer_id, first_offset, "promoted: copied transaction without its end aborted")
                    }
                    Err(e) => {
                        tracing::error!(topic = %self.topic, partition = self.index, producer_id, error = %e, "promoted: could not abort a copied open transaction")
                    }
                }
            }
        }
    }
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }
    /// The first offset of the oldest open transaction, else the high
    /// watermark; never below the log start (records deleted under an open
    /// transaction, as Kafka's `maybeIncrementFirstUnstableOffset`), where a
    /// read-committed consumer would be sent out of range.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        self.log.first_unstable_offset().map_or(hw, |u| u.max(self.log.log_start_offset()).min(hw))
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }
    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }
    pub fn size_bytes(&self) -> u64 {
        self.log.size_bytes()
    }
    /// The storage log, for the few callers that need more than this layer offers
    /// (ListOffsets by timestamp, DeleteRecords).
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// Appends a producer's batches after every check a client write must pass.
    /// Blocking (file writes; a segment roll creates files): call it off the async
    /// workers.
    pub fn append_from_client(
        &self,
        records: &[u8],
        acks: i16,
        schemas: Option<&dyn SchemaIdLookup>,
        txn: Option<&dyn TxnVerifier>,
    ) -> Result<Appended, AppendError> {
        if self.internal {
            return Err(AppendError::InternalTopic(self.topic.to_string()));
        }
        let settings = self.settings();
        if acks == -1 && settings.min_insync_replicas > 1 {
            return Err(AppendError::NotEnoughReplicas(settings.min_insync_replicas));
        }
        if records.is_empty() {
            return Err(AppendError::NoRecords);
        }
        if let Some(source) = &settings.mirror_source {
            return Err(AppendError::MirrorTopic { topic: self.topic.to_string(), mirror_of: source.clone() });
        }
        if records.len() as u64 > settings.log.segment_bytes {
            return Err(AppendError::RecordListTooLarge { size: records.len(), max: settings.log.segment_bytes });
        }
        if settings.validates_schemas() {
            schema_validation::validate(&settings, records, schemas).map_err(AppendError::InvalidRecord)?;
        }
        let recompressed;
        let records = match settings.recompress {
            Some((codec, level)) => match weir_storage::record::recompress(records, codec, level)? {
                Some(bytes) => {
                    recompressed = bytes;
                    &recompressed[..]
                }
                None => records,
            },
            None => records,
        };
        if settings.log.cleanup_policy.compact {
            let missing = schema_validation::keyless_records(records).map_err(AppendError::InvalidRecord)?;
            if !missing.is_empty() {
                let partition = format!("{}-{}", self.topic, self.index);
                return Err(AppendError::KeylessRecords { partition, records: missing });
            }
        }
        if check_client_batches(records)? {
            let verifier = txn.ok_or(AppendError::TransactionalBatch)?;
            let h = weir_storage::batch::BatchHeader::parse(records)?;
            verifier.verify(&self.topic, self.index, h.producer_id, h.producer_epoch)?;
        }
        let info = self.log.append(records)?;
        if !info.duplicate {
            self.traffic.appended(records.len() as u64, info.record_count as u64);
            self.advance();
        }
        let needs_flush = acks == -1 && settings.log.flush == FlushPolicy::Durable;
        Ok(Appended { info, needs_flush })
    }

    /// Appends batches copied from the source of a mirror topic at the offsets
    /// they carry, byte for byte ([`Log::append_at`]). `expected_end` is where
    /// the copier believes the log ends before this copy: a log that ends
    /// short of it lacks an earlier copy, and appending would leave a hole, so
    /// the copy is refused. Batches wholly below the log end are already here
    /// (a copy sent again after a lost response) and are skipped, so a retried
    /// request is harmless. Appended in runs of at most `segment.bytes`.
    /// Blocking.
    pub fn append_copied(&self, records: &[u8], acks: i16, expected_end: Option<i64>) -> Result<Appended, AppendError> {
        // Held to the end: a promotion waits for this copy (see `set_settings`).
        let settings = self.settings.read();
        if settings.mirror_source.is_none() {
            return Err(AppendError::NotAMirror { topic: self.topic.to_string() });
        }
        if records.is_empty() {
            return Err(AppendError::NoRecords);
        }
        let end = self.log.log_end_offset();
        if let Some(expected) = expected_end.filter(|e| *e > end) {
            return Err(AppendError::CopyGap { partition: format!("{}-{}", self.topic, self.index), expected, end });
        }
        let mut skip = 0;
        while skip < records.len() {
            let h = weir_storage::batch::BatchHeader::parse(&records[skip..])?;
            if h.last_offset() >= end {
                break;
            }
            skip += h.total_len();
        }
        let needs_flush = acks == -1 && settings.log.flush == FlushPolicy::Durable;
        let Some(rest) = records.get(skip..).filter(|r| !r.is_empty()) else {
            let info = AppendInfo {
                first_offset: end,
                last_offset: end - 1,
                log_append_time: -1,
                log_start_offset: self.log.log_start_offset(),
                max_timestamp: -1,
                record_count: 0,
                bytes: 0,
                duplicate: true,
            };
            return Ok(Appended { info, needs_flush: false });
        };
        let max = settings.log.segment_bytes;
        let mut info: Option<AppendInfo> = None;
        let (mut start, mut pos) = (0, 0);
        while start < rest.len() {
            // The longest run of whole batches within `segment.bytes`.
            while pos < rest.len() {
                let len = weir_storage::batch::BatchHeader::parse(&rest[pos..])?.total_len();
                if (pos + len - start) as u64 > max {
                    break;
                }
                pos += len;
            }
            if pos == start {
                let size = weir_storage::batch::BatchHeader::parse(&rest[pos..])?.total_len();
                return Err(AppendError::RecordListTooLarge { size, max });
            }
            let run = self.log.append_at(&rest[start..pos.min(rest.len())]);
            self.advance();
            let run = run?;
            self.traffic.appended((pos - start) as u64, run.record_count as u64);
            info = Some(match info {
                None => run,
                Some(i) => {
                    AppendInfo { last_offset: run.last_offset, record_count: i.record_count + run.record_count, ..i }
                }
            });
            start = pos;
        }
        let info = info.expect("at least one run");
        Ok(Appended { info, needs_flush })
    }

    /// Appends the broker's own records (internal topics; later control markers).
    /// Blocking, like [`Partition::append_from_client`].
    pub fn append_internal(&self, records: &[u8]) -> Result<AppendInfo, StorageError> {
        let info = self.log.append(records)?;
        self.advance();
        Ok(info)
    }

    /// Blocks until everything below `offset` is on disk (group commit).
    pub fn flush_to(&self, offset: i64) -> Result<(), StorageError> {
        self.log.flush_to(offset)
    }

    /// Starts writing out what is not yet on disk, without waiting (see
    /// `Log::start_flush`): before `flush_to` on several partitions.
    pub fn start_flush(&self) {
        self.log.start_flush()
    }

    /// Appends a transaction marker (the transaction coordinator's write): it ends
    /// `producer_id`'s open transaction here. Blocking.
    pub fn append_control(
        &self,
        kind: ControlType,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<AppendInfo, StorageError> {
        let info = self.log.append_control(kind, producer_id, epoch, coordinator_epoch)?;
        self.advance();
        Ok(info)
    }

    /// Open transactions here: (producer id, epoch, first offset), oldest first.
    pub fn open_transactions(&self) -> Vec<(i64, i16, i64)> {
        self.log.open_transactions()
    }

    /// One node: everything appended is replicated (the last stable offset follows
    /// from it and the log's open transactions). Wakes the fetches parked here.
    fn advance(&self) {
        let end = self.log.log_end_offset();
        self.high_watermark.fetch_max(end, Ordering::AcqRel);
        self.waiters.wake();
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (the first
    /// batch whole when `min_one`), none at or above the isolation bound. Counted
    /// as bytes out (a client's fetch).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
        min_one: bool,
    ) -> Result<PartitionRead, StorageError> {
        let read = self.read_uncounted(offset, max_bytes, isolation, min_one)?;
        self.traffic.read(&read.records);
        Ok(read)
    }

    /// [`Partition::read`] for the broker's own readers (internal-topic replay,
    /// the console's message browser): not counted as bytes out.
    pub fn read_uncounted(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
        min_one: bool,
    ) -> Result<PartitionRead, StorageError> {
        // Bounds first: a read that races an append must not see past them.
        let hw = self.high_watermark();
        let lso = self.last_stable_offset();
        let bound = match isolation {
            Isolation::ReadUncommitted => hw,
            Isolation::ReadCommitted => lso,
        };
        let mut out = PartitionRead {
            records: Bytes::new(),
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: self.log.log_start_offset(),
            aborted: Vec::new(),
        };
        if offset >= bound {
            // Between the bound and the log end there is nothing to hand out yet;
            // past the log end the storage layer reports the offset out of range.
            if offset > self.log.log_end_offset() || offset < out.log_start_offset {
                self.log.read(offset, 0, false)?;
            }
            return Ok(out);
        }
        let read = self.log.read(offset, max_bytes, min_one)?;
        out.log_start_offset = read.log_start_offset;
        out.records = if read.log_end_offset > bound { cut_at(read.records, bound) } else { read.records };
        if isolation == Isolation::ReadCommitted && !out.records.is_empty() {
            out.aborted = self.log.aborted_transactions(offset, bound);
        }
        Ok(out)
    }

    /// Registers `waiter` to be woken by the next appends here, until it is dropped.
    pub fn park(&self, waiter: &Arc<FetchWaiter>) {
        self.waiters.register(waiter);
    }

    /// Wakes every parked fetch (the partition goes away, or the broker stops).
    pub(crate) fn wake_all(&self) {
        self.waiters.wake();
    }

    /// Whether its topic was deleted since the caller looked it up.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
    }
}

/// The prefix of `records` holding only batches that start below `bound`. Reads
/// return whole batches, so only batch headers are looked at.
fn cut_at(records: Bytes, bound: i64) -> Bytes {
    let mut pos = 0;
    while pos < records.len() {
        match weir_storage::batch::BatchHeader::parse(&records[pos..]) {
            Ok(h) if h.base_offset < bound => pos += h.total_len(),
            _ => break,
        }
    }
    records.slice(..pos.min(records.len()))
}

/// What a client may not write: control batches (only coordinators write
/// markers), and batches of a producer id without sequence numbers.
fn check_client_batches(records: &[u8]) -> Result<bool, AppendError> {
    let mut pos = 0;
    let mut transactional = false;
    while let Ok(h) = weir_storage::batch::BatchHeader::parse(&records[pos..]) {
        if h.is_control() {
            return Err(AppendError::InvalidRecord("clients may not write control batches".into()));
        }
        if h.producer_id >= 0 && h.base_sequence < 0 {
            return Err(AppendError::InvalidRecord("a producer id without a sequence number".into()));
        }
        transactional |= h.is_transactional();
        pos += h.total_len();
        if pos >= records.len() {
            break;
        }
    }
    Ok(transactional)
}

#[cfg(test)]
mod tests;
