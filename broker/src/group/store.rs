//! Persistence of committed offsets and group metadata in `__consumer_offsets`.
//!
//! The topic is an ordinary compacted topic with `offsets.topic.num.partitions`
//! partitions; a group lives on partition `abs(javaHash(group)) % partitions`, as in
//! Kafka. Every write is one RecordBatch, fsynced before the caller is answered.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::records::{partition_for, GroupValue, Key, OffsetValue};
use crate::error::{BrokerError, Result};
use weir_storage::{LogManager, TopicPartition};

use crate::topics::CreateTopic;
use crate::Shared;

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The latest state per key after replaying the topic.
#[derive(Default)]
pub struct Loaded {
    pub offsets: BTreeMap<String, BTreeMap<(String, i32), OffsetValue>>,
    pub groups: BTreeMap<String, GroupValue>,
}

pub struct OffsetStore {
    logs: Arc<LogManager>,
    partitions: i32,
}

impl OffsetStore {
    /// Creates `__consumer_offsets` if needed and replays it.
    pub fn open(shared: &Shared) -> Result<(OffsetStore, Loaded)> {
        let partitions = shared.config.get_i64("offsets.topic.num.partitions").max(1) as i32;
        let topic = match shared.meta.topic(OFFSETS_TOPIC) {
            Some(t) => t,
            None => {
                let mut configs = BTreeMap::new();
                configs.insert("cleanup.policy".to_string(), "compact".to_string());
                configs.insert(
                    "segment.bytes".to_string(),
                    shared.config.get_i64("offsets.topic.segment.bytes").to_string(),
                );
                shared.create_topic(
                    CreateTopic {
                        name: OFFSETS_TOPIC.to_string(),
                        partitions,
                        replication_factor: 1,
                        assignments: vec![],
                        configs,
                    },
                    false,
                )?
            }
        };
        let store = OffsetStore { logs: shared.logs.clone(), partitions: topic.partitions };
        let loaded = store.load()?;
        Ok((store, loaded))
    }

    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    fn log(&self, partition: i32) -> Option<Arc<weir_storage::Log>> {
        self.logs.get(&TopicPartition { topic: OFFSETS_TOPIC.to_string(), partition })
    }

    pub fn partition_of(&self, group: &str) -> i32 {
        partition_for(group, self.partitions)
    }

    fn load(&self) -> Result<Loaded> {
        let mut loaded = Loaded::default();
        for p in 0..self.partitions {
            let Some(log) = self.log(p) else { continue };
            let mut offset = log.log_start_offset();
            let end = log.log_end_offset();
            while offset < end {
                let read = log.read(offset, 4 << 20, true)?;
                if read.records.is_empty() {
                    break;
                }
                let mut buf = read.records.clone();
                let sets = RecordBatchDecoder::decode_all(&mut buf).map_err(|e| {
                    BrokerError::Metadata(format!("{OFFSETS_TOPIC}-{p}: undecodable batch at {offset}: {e}"))
                })?;
                let before = offset;
                for set in sets {
                    for rec in set.records {
                        offset = offset.max(rec.offset + 1);
                        if rec.control {
                            continue;
                        }
                        let Some(key) = rec.key.as_ref() else { continue };
                        match Key::decode(key) {
                            Ok(k) => apply(&mut loaded, k, rec.value.as_deref()),
                            Err(e) => {
                                tracing::warn!(partition = p, offset = rec.offset, error = %e.0, "skipping undecodable key")
                            }
                        }
                    }
                }
                if offset == before {
                    break;
                }
            }
        }
        Ok(loaded)
    }

    /// Appends records (key, value or tombstone) for one group and waits for fsync.
    pub fn write(&self, group: &str, records: Vec<(Key, Option<Bytes>)>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let p = self.partition_of(group);
        let log = self.log(p).ok_or_else(|| {
            BrokerError::api(
                kafka_protocol::ResponseError::CoordinatorNotAvailable,
                format!("{OFFSETS_TOPIC}-{p} is not open"),
            )
        })?;
        let buf =
            crate::internal::encode_key_values(records.into_iter().map(|(k, v)| (Some(k.encode()), v)), now_ms())?;
        let info = log.append(&buf)?;
        log.flush_to(info.last_offset + 1)?;
        Ok(())
    }
}

fn apply(loaded: &mut Loaded, key: Key, value: Option<&[u8]>) {
    match key {
        Key::Offset { group, topic, partition } => {
            let entry = loaded.offsets.entry(group).or_default();
            match value.map(OffsetValue::decode) {
                Some(Ok(v)) => {
                    entry.insert((topic, partition), v);
                }
                Some(Err(e)) => tracing::warn!(error = %e.0, "skipping undecodable offset value"),
                None => {
                    entry.remove(&(topic, partition));
                }
            }
        }
        Key::Group { group } => match value.map(GroupValue::decode) {
            Some(Ok(v)) => {
                loaded.groups.insert(group, v);
            }
            Some(Err(e)) => tracing::warn!(error = %e.0, "skipping undecodable group value"),
            None => {
                loaded.groups.remove(&group);
            }
        },
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
