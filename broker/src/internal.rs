//! Key/value records on the broker's own topics, for in-process users (the schema
//! registry's `_schemas`, later the replicator's internal topics): create the topic
//! if needed, append records durably, and read them back from an offset. Records
//! written here are ordinary RecordBatch v2 data, so Kafka clients see them too, and
//! records that clients produce there are read back the same way.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use weir_storage::Log;

use crate::error::{BrokerError, Result};
use crate::metadata::TopicMeta;
use crate::topics::CreateTopic;
use crate::Shared;

/// One record read back: offset, key, value (None for a tombstone), timestamp.
#[derive(Clone, Debug)]
pub struct KeyValue {
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
}

/// One uncompressed RecordBatch v2 of key/value records stamped `now`, offsets
/// from 0 (the log assigns the base offset): what the broker writes to its own
/// topics (`__consumer_offsets`, the metadata log, `_schemas`).
pub(crate) fn encode_key_values(
    records: impl IntoIterator<Item = (Option<Bytes>, Option<Bytes>)>,
    now: i64,
) -> Result<BytesMut> {
    let recs: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: now,
            key,
            value,
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .map_err(|e| BrokerError::Metadata(format!("encode records: {e}")))?;
    Ok(buf)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Shared {
    /// The topic, created with `partitions` and `configs` when it does not exist.
    pub fn ensure_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<TopicMeta>> {
        if let Some(t) = self.meta.topic(name) {
            return Ok(t);
        }
        let req =
            CreateTopic { name: name.to_string(), partitions, replication_factor: -1, assignments: vec![], configs };
        match self.create_topic(req, false) {
            Ok(t) => Ok(t),
            // Created meanwhile by someone else.
            Err(e) => self.meta.topic(name).ok_or(e),
        }
    }

    fn log_of(&self, topic: &str, partition: i32) -> Result<Arc<Log>> {
        self.partition(topic, partition).ok_or_else(|| {
            BrokerError::api(
                kafka_protocol::ResponseError::UnknownTopicOrPartition,
                format!("{topic}-{partition} is not open"),
            )
        })
    }

    /// Appends the records as one batch and waits until they are durable (fsync).
    /// Returns the offset of the first record.
    pub fn append_key_values(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<(Option<Bytes>, Option<Bytes>)>,
    ) -> Result<i64> {
        let log = self.log_of(topic, partition)?;
        let buf = encode_key_values(records, now_ms())?;
        let info = log.append(&buf)?;
        log.flush_to(info.last_offset + 1)?;
        self.notify_data();
        Ok(info.first_offset)
    }

    /// Records from `from` (or the log start, if later) up to about `max_bytes`;
    /// returns them and the offset to read next. Control records are skipped.
    pub fn read_key_values(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max_bytes: usize,
    ) -> Result<(Vec<KeyValue>, i64)> {
        let log = self.log_of(topic, partition)?;
        let mut offset = from.max(log.log_start_offset());
        let end = log.log_end_offset();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while offset < end && bytes < max_bytes {
            let read = log.read(offset, max_bytes - bytes, true)?;
            if read.records.is_empty() {
                break;
            }
            bytes += read.records.len();
            let mut buf = read.records.clone();
            let sets = RecordBatchDecoder::decode_all(&mut buf).map_err(|e| {
                BrokerError::Metadata(format!("{topic}-{partition}: undecodable batch at {offset}: {e}"))
            })?;
            let before = offset;
            for set in sets {
                for rec in set.records {
                    if rec.offset < offset {
                        continue;
                    }
                    offset = rec.offset + 1;
                    if !rec.control {
                        out.push(KeyValue {
                            offset: rec.offset,
                            key: rec.key,
                            value: rec.value,
                            timestamp: rec.timestamp,
                        });
                    }
                }
            }
            if offset == before {
                // A batch whose records were all compacted away: step over it.
                match weir_storage::batch::BatchHeader::parse(&read.records) {
                    Ok(h) if h.next_offset() > offset => offset = h.next_offset(),
                    _ => break,
                }
            }
        }
        Ok((out, offset))
    }
}
