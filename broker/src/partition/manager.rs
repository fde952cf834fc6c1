//! Every partition of every topic on this broker, by topic name, so that a request
//! finds its partitions without building a key per lookup.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use uuid::Uuid;
use weir_storage::{LogConfig, LogManager, StorageError, TopicPartition};

use super::Partition;
use crate::config::BrokerConfig;
use crate::settings::TopicSettings;

type TopicPartitions = Arc<[Arc<Partition>]>;

pub struct ReplicaManager {
    logs: Arc<LogManager>,
    config: Arc<BrokerConfig>,
    topics: RwLock<HashMap<Arc<str>, TopicPartitions>>,
}

impl ReplicaManager {
    pub fn new(logs: Arc<LogManager>, config: Arc<BrokerConfig>) -> ReplicaManager {
        metrics::describe_counter!("weir_partition_bytes_in_total", "Bytes of record batches appended, by topic.");
        metrics::describe_counter!("weir_partition_records_in_total", "Records appended, by topic.");
        metrics::describe_counter!(
            "weir_partition_bytes_out_total",
            "Bytes of record batches read by fetches, by topic."
        );
        metrics::describe_counter!(
            "weir_partition_records_out_total",
            "Records in the data batches read by fetches, by topic (from batch headers)."
        );
        metrics::describe_histogram!(
            "weir_storage_fsync_latency_seconds",
            "Time of one fdatasync of a partition's log segment (flush policy, acks=all durability, segment roll)."
        );
        ReplicaManager { logs, config, topics: RwLock::new(HashMap::new()) }
    }

    pub fn log_manager(&self) -> &Arc<LogManager> {
        &self.logs
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let topics = self.topics.read();
        let parts = topics.get(topic)?;
        usize::try_from(partition).ok().and_then(|p| parts.get(p)).cloned()
    }

    /// The partitions of a topic, in partition order.
    pub fn topic(&self, topic: &str) -> Option<TopicPartitions> {
        self.topics.read().get(topic).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.topics.read().values().flat_map(|ps| ps.iter().cloned()).collect()
    }

    /// Opens (or creates) partitions `0..count` of a topic; those already open stay
    /// as they are. Blocking (recovery, file creation).
    pub fn open_topic(
        &self,
        name: &str,
        id: Uuid,
        count: i32,
        overrides: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), StorageError> {
        let settings = Arc::new(TopicSettings::resolve(&self.config, overrides));
        let existing = self.topic(name);
        let have = existing.as_ref().map_or(0, |p| p.len());
        let topic: Arc<str> =
            existing.as_ref().and_then(|p| p.first()).map_or_else(|| name.into(), |p| p.topic.clone());
        let mut parts: Vec<Arc<Partition>> = existing.map(|p| p.to_vec()).unwrap_or_default();
        for index in have as i32..count {
            let log = self.logs.get_or_create(&TopicPartition::new(name, index), settings.log.clone())?;
            parts.push(Arc::new(Partition::new(topic.clone(), index, id, log, settings.clone())));
        }
        self.topics.write().insert(topic, parts.into());
        Ok(())
    }

    /// A log that is not a topic clients see (the metadata log).
    pub fn open_private(&self, name: &str, config: LogConfig) -> Result<Arc<Partition>, StorageError> {
        let settings = TopicSettings {
            log: config,
            recompress: None,
            min_insync_replicas: 1,
            key_schema_validation: false,
            value_schema_validation: false,
            mirror_source: None,
        };
        let log = self.logs.get_or_create(&TopicPartition::new(name, 0), settings.log.clone())?;
        Ok(Arc::new(Partition::new(name.into(), 0, Uuid::nil(), log, Arc::new(settings))))
    }

    /// Applies a topic's new overrides to its open partitions.
    pub fn update_settings(&self, name: &str, overrides: &std::collections::BTreeMap<String, String>) {
        let settings = Arc::new(TopicSettings::resolve(&self.config, overrides));
        for p in self.topic(name).iter().flat_map(|ps| ps.iter()) {
            p.set_settings(settings.clone());
        }
    }

    /// Forgets a topic and deletes its logs. Fetches parked on it wake and find it gone.
    pub fn remove_topic(&self, name: &str) {
        let Some(parts) = self.topics.write().remove(name) else { return };
        for p in parts.iter() {
            p.mark_removed();
            if let Err(e) = self.logs.delete(&TopicPartition::new(name, p.index())) {
                tracing::warn!(topic = %name, partition = p.index(), error = %e, "could not delete partition log");
            }
            p.wake_all();
        }
    }

    /// Wakes every parked fetch (shutdown).
    pub fn wake_all(&self) {
        for p in self.all() {
            p.wake_all();
        }
    }
}
