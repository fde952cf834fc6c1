//! The broker's own topics, read and written by one rule.
//!
//! [`InternalTopic`] is a topic's partitions as the broker itself uses them: it
//! appends key/value records as one uncompressed RecordBatch v2 per call and waits
//! until they are on disk, and it reads records back in offset order. Records are
//! ordinary Kafka data, so clients can read these topics, and records that clients
//! or other tools produce there are read back the same way.
//!
//! The read rule, the same for every user: transaction markers come back as
//! markers (and the state machines hold a transaction's records until its commit
//! marker, dropping them at its abort marker), other control records are skipped; a batch
//! that yields no record (compaction emptied it) is stepped over by its header's
//! last offset; reading stops at the high watermark. A batch that cannot be
//! decoded is an error naming the topic, partition and offset.
//!
//! [`StateTopic`] (in `state.rs`) keeps a state machine in step with such a topic:
//! the metadata log, `__consumer_offsets` and the registry's `_schemas` are each a
//! [`StateMachine`] folded over its records.

mod state;

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use weir_storage::record::{encode_batch, BatchTemplate, DecodedRecord};
use weir_storage::{Clock, ControlType};

pub use state::{StateGuard, StateMachine, StateTopic};

use crate::error::{BrokerError, Result};
use crate::partition::{Isolation, Partition};

/// One record read back.
#[derive(Clone, Debug)]
pub struct KeyValue {
    pub offset: i64,
    pub key: Option<Bytes>,
    /// None for a tombstone.
    pub value: Option<Bytes>,
    pub timestamp: i64,
    /// The writer's producer id (-1: none).
    pub producer_id: i64,
    /// Part of a transaction: it counts only once a commit marker of
    /// `producer_id` follows.
    pub transactional: bool,
    /// A transaction marker (a control record), not data.
    pub marker: Option<ControlType>,
}

/// A key and a value (None: tombstone) to append.
pub type Entry = (Option<Bytes>, Option<Bytes>);

/// Who writes a batch: nobody in particular, or a transactional producer (its id and
/// epoch; no sequence: the broker writes for it, as Kafka's coordinators do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    Broker,
    Transaction { producer_id: i64, epoch: i16 },
}

/// One uncompressed RecordBatch v2 of key/value records stamped `now`, offsets
/// from 0 (the log assigns the base offset).
fn encode_batch_of(records: impl IntoIterator<Item = Entry>, now: i64, writer: Writer) -> Result<Vec<u8>> {
    // One batch always (kafka-protocol's encoder starts a new batch per record when
    // records carry no sequence, and a producer's request must be one batch).
    let mut t = BatchTemplate::new(0, weir_storage::batch::COMPRESSION_NONE);
    if let Writer::Transaction { producer_id, epoch } = writer {
        t.producer_id = producer_id;
        t.producer_epoch = epoch;
        t.attributes |= weir_storage::batch::ATTR_TRANSACTIONAL;
    }
    let recs: Vec<DecodedRecord> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| DecodedRecord {
            offset: i as i64,
            timestamp: now,
            key: key.map(|k| k.to_vec()),
            value: value.map(|v| v.to_vec()),
            headers: vec![],
        })
        .collect();
    encode_batch(&t, &recs).map_err(|e| BrokerError::Metadata(format!("encode records: {e}")))
}

/// The marker a control record's key names (`i16 version | i16 type`).
fn control_type(key: Option<&[u8]>) -> Option<ControlType> {
    match key {
        Some(k) if k.len() >= 4 => match i16::from_be_bytes([k[2], k[3]]) {
            0 => Some(ControlType::Abort),
            1 => Some(ControlType::Commit),
            _ => None,
        },
        _ => None,
    }
}

/// A topic the broker reads and writes itself.
#[derive(Clone)]
pub struct InternalTopic {
    name: Arc<str>,
    partitions: Arc<[Arc<Partition>]>,
    clock: Arc<dyn Clock>,
}

impl InternalTopic {
    pub(crate) fn new(name: &str, partitions: Arc<[Arc<Partition>]>, clock: Arc<dyn Clock>) -> InternalTopic {
        InternalTopic { name: name.into(), partitions, clock }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.len() as i32
    }

    fn partition(&self, partition: i32) -> Result<&Arc<Partition>> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get(p))
            .ok_or_else(|| BrokerError::NotOpen(format!("{}-{partition}", self.name)))
    }

    /// Offset after the last record readers may see.
    pub fn end_offset(&self, partition: i32) -> Result<i64> {
        Ok(self.partition(partition)?.high_watermark())
    }

    /// Appends the records as one batch and returns once they are on disk (fsync).
    /// Returns the offset of the first record. Blocking.
    pub fn append(&self, partition: i32, records: Vec<Entry>) -> Result<i64> {
        self.append_as(partition, records, Writer::Broker)
    }

    /// [`InternalTopic::append`] on behalf of `writer` (a transaction's records).
    pub fn append_as(&self, partition: i32, records: Vec<Entry>, writer: Writer) -> Result<i64> {
        let p = self.partition(partition)?;
        let buf = encode_batch_of(records, self.clock.now_ms(), writer)?;
        let info = p.append_internal(&buf)?;
        p.flush_to(info.last_offset + 1)?;
        Ok(info.first_offset)
    }

    /// Appends a transaction marker and returns once it is on disk. Blocking.
    pub fn append_marker(&self, partition: i32, kind: ControlType, producer_id: i64, epoch: i16) -> Result<i64> {
        let p = self.partition(partition)?;
        let info = p.append_control(kind, producer_id, epoch, 0)?;
        p.flush_to(info.last_offset + 1)?;
        Ok(info.first_offset)
    }

    /// Records from `from` (or the log start, if later) up to about `max_bytes`, and
    /// the offset to read next.
    pub fn read(&self, partition: i32, from: i64, max_bytes: usize) -> Result<(Vec<KeyValue>, i64)> {
        let p = self.partition(partition)?;
        let mut offset = from.max(p.log_start_offset());
        let end = p.high_watermark();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while offset < end && bytes < max_bytes {
            let read = p.read_uncounted(offset, max_bytes - bytes, Isolation::ReadUncommitted, true)?;
            if read.records.is_empty() {
                break;
            }
            bytes += read.records.len();
            let mut buf = read.records.clone();
            let at = offset;
            let corrupt = |reason: String| BrokerError::Corrupt {
                topic: self.name.to_string(),
                partition,
                reason: format!("undecodable batch at offset {at}: {reason}"),
            };
            let sets = RecordBatchDecoder::decode_all(&mut buf).map_err(|e| corrupt(e.to_string()))?;
            let before = offset;
            for set in sets {
                for rec in set.records {
                    if rec.offset < offset {
                        continue;
                    }
                    offset = rec.offset + 1;
                    let marker = if rec.control { control_type(rec.key.as_deref()) } else { None };
                    if rec.control && marker.is_none() {
                        continue; // a control record of another kind
                    }
                    out.push(KeyValue {
                        offset: rec.offset,
                        key: rec.key,
                        value: rec.value,
                        timestamp: rec.timestamp,
                        producer_id: rec.producer_id,
                        transactional: rec.transactional,
                        marker,
                    });
                }
            }
            if offset == before {
                // A batch whose records were all compacted away: step over it.
                match weir_storage::batch::BatchHeader::parse(&read.records) {
                    Ok(h) if h.next_offset() > offset => offset = h.next_offset(),
                    _ => return Err(corrupt("a batch without records and without a usable header".into())),
                }
            }
        }
        Ok((out, offset))
    }

    /// Calls `f` on every record from `from` to the end; returns the next offset.
    pub fn replay(&self, partition: i32, from: i64, mut f: impl FnMut(&KeyValue)) -> Result<i64> {
        let mut next = from;
        loop {
            let (records, after) = self.read(partition, next, 4 << 20)?;
            records.iter().for_each(&mut f);
            if after == next {
                return Ok(next);
            }
            next = after;
        }
    }
}

#[cfg(test)]
mod tests;
