//! The topic service, shared by the Kafka admin APIs and in-process callers:
//! validation, then a metadata event, then the partitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::config::validate_topic_configs;
use crate::error::{kafka_message, TopicError};
use crate::metadata::{Event, MetadataStore, TopicMeta, METADATA_TOPIC};
use crate::partition::ReplicaManager;
use crate::settings::BrokerSettings;

/// Kafka's internal topics: the coordinators' logs, written by them alone.
pub fn is_internal(name: &str) -> bool {
    name == crate::group::store::OFFSETS_TOPIC
        || name == crate::txn::TRANSACTION_STATE_TOPIC
        || name == crate::share::store::SHARE_STATE_TOPIC
}

type Result<T> = std::result::Result<T, TopicError>;

pub const MAX_TOPIC_NAME: usize = 249;

/// Kafka's topic name rule: 1..=249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let invalid = |m: String| Err(TopicError::InvalidName(m));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_TOPIC_NAME {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters, topic name: {name}"
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return invalid(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    if name == METADATA_TOPIC {
        return invalid(format!("Topic name \"{name}\" is reserved"));
    }
    Ok(())
}

/// Topics whose names differ only in '.' vs '_' collide in metric names; Kafka refuses them.
fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

pub struct CreateTopic {
    pub name: String,
    /// -1: `num.partitions`.
    pub partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    /// Manual assignment: one replica list per partition.
    pub assignments: Vec<Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

/// Topics: create, delete, add partitions, look up.
pub struct Topics {
    meta: Arc<MetadataStore>,
    partitions: Arc<ReplicaManager>,
    settings: Arc<BrokerSettings>,
}

impl Topics {
    pub(crate) fn new(
        meta: Arc<MetadataStore>,
        partitions: Arc<ReplicaManager>,
        settings: Arc<BrokerSettings>,
    ) -> Topics {
        Topics { meta, partitions, settings }
    }

    pub fn get(&self, name: &str) -> Option<Arc<TopicMeta>> {
        self.meta.topic(name)
    }

    pub fn by_id(&self, id: &Uuid) -> Option<Arc<TopicMeta>> {
        self.meta.topic_by_id(id)
    }

    /// Every topic, by name.
    pub fn list(&self) -> Vec<Arc<TopicMeta>> {
        self.meta.topics()
    }

    /// Whether `partition` of `topic` exists.
    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.get(topic).is_some_and(|t| partition >= 0 && partition < t.partitions)
    }

    /// The topic, created with `partitions` and `configs` when it does not exist.
    /// Blocking.
    pub fn ensure(&self, name: &str, partitions: i32, configs: BTreeMap<String, String>) -> Result<Arc<TopicMeta>> {
        if let Some(t) = self.get(name) {
            return Ok(t);
        }
        let req =
            CreateTopic { name: name.to_string(), partitions, replication_factor: -1, assignments: vec![], configs };
        match self.create(req, false) {
            Ok(t) => Ok(t),
            // Created meanwhile by someone else.
            Err(e) => self.get(name).ok_or(e),
        }
    }

    /// Creates a topic (or only checks that it could be, with `validate_only`).
    /// Blocking (fsync of the metadata log, partition directories).
    pub fn create(&self, req: CreateTopic, validate_only: bool) -> Result<Arc<TopicMeta>> {
        validate_topic_name(&req.name)?;
        let node_id = self.settings.node_id;
        let partitions = if !req.assignments.is_empty() {
            if req.partitions != -1 || req.replication_factor != -1 {
                return Err(TopicError::InvalidRequest(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
            }
            for (i, replicas) in req.assignments.iter().enumerate() {
                if replicas.is_empty() || replicas.iter().any(|r| *r != node_id) || replicas.len() > 1 {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "Partition {i} must be assigned to broker {node_id} only (a one-node cluster)"
                    )));
                }
            }
            req.assignments.len() as i32
        } else {
            let p = if req.partitions == -1 { self.settings.num_partitions } else { req.partitions };
            if p <= 0 {
                return Err(TopicError::InvalidPartitions(format!(
                    "Number of partitions was set to an invalid non-positive value: {p}"
                )));
            }
            let rf = if req.replication_factor == -1 {
                self.settings.default_replication_factor
            } else {
                req.replication_factor
            };
            if rf <= 0 {
                return Err(TopicError::InvalidReplicationFactor(format!(
                    "Replication factor must be larger than 0, or -1 to use the default value: {rf}"
                )));
            }
            if rf > 1 {
                return Err(TopicError::InvalidReplicationFactor(format!("Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered.")));
            }
            p
        };
        validate_topic_configs(&req.configs).map_err(TopicError::InvalidConfig)?;
        self.meta.with_writer(|w| {
            if w.topic(&req.name).is_some() {
                return Err(TopicError::AlreadyExists(req.name.clone()));
            }
            let key = collision_key(&req.name);
            if let Some(other) = w.topics().iter().find(|t| collision_key(&t.name) == key) {
                return Err(TopicError::Collides { name: req.name.clone(), existing: other.name.clone() });
            }
            let meta =
                TopicMeta { name: req.name.clone(), id: Uuid::new_v4(), partitions, configs: req.configs.clone() };
            if validate_only {
                return Ok(Arc::new(meta));
            }
            w.commit(Event::TopicCreated {
                name: meta.name.clone(),
                id: meta.id,
                partitions,
                configs: meta.configs.clone(),
            })?;
            Ok(Arc::new(meta))
        })?;
        let topic = match self.meta.topic(&req.name) {
            Some(t) if !validate_only => t,
            _ => return Ok(Arc::new(TopicMeta { name: req.name, id: Uuid::nil(), partitions, configs: req.configs })),
        };
        self.partitions.open_topic(&topic.name, topic.id, topic.partitions, &topic.configs)?;
        tracing::info!(topic = %topic.name, topic.id = %topic.id, partitions, "topic created");
        Ok(topic)
    }

    /// Deletes the topic `topic` names, if it is still that topic (same id).
    /// Blocking.
    pub fn delete(&self, topic: &TopicMeta) -> Result<()> {
        if !self.settings.delete_topic_enable {
            return Err(TopicError::DeletionDisabled);
        }
        self.meta.with_writer(|w| {
            match w.topic(&topic.name) {
                Some(t) if t.id == topic.id => {}
                _ => return Err(TopicError::UnknownTopic(kafka_message::UNKNOWN_TOPIC_OR_PARTITION.into())),
            }
            Ok(w.commit(Event::TopicDeleted { name: topic.name.clone(), id: topic.id })?)
        })?;
        self.partitions.remove_topic(&topic.name);
        tracing::info!(topic = %topic.name, topic.id = %topic.id, "topic deleted");
        Ok(())
    }

    /// Grows a topic to `total` partitions. Blocking.
    pub fn create_partitions(
        &self,
        name: &str,
        total: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<()> {
        let topic = self.meta.with_writer(|w| {
            let t =
                w.topic(name).ok_or_else(|| TopicError::UnknownTopic(format!("The topic '{name}' does not exist.")))?;
            if total < t.partitions {
                return Err(TopicError::InvalidPartitions(format!(
                    "Topic currently has {} partitions, which is higher than the requested {total}.",
                    t.partitions
                )));
            }
            if total == t.partitions {
                return Err(TopicError::InvalidPartitions(format!("Topic already has {total} partitions.")));
            }
            if let Some(a) = assignments {
                if a.len() as i32 != total - t.partitions {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "Increasing the number of partitions by {} but {} assignments provided.",
                        total - t.partitions,
                        a.len()
                    )));
                }
                let node_id = self.settings.node_id;
                if a.iter().any(|r| r.len() != 1 || r[0] != node_id) {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "New partitions must be assigned to broker {node_id} only (a one-node cluster)"
                    )));
                }
            }
            if !validate_only {
                w.commit(Event::PartitionsCreated { name: name.to_string(), id: t.id, total })?;
            }
            Ok(t)
        })?;
        if !validate_only {
            let t = self.meta.topic(name).unwrap_or(topic);
            self.partitions.open_topic(&t.name, t.id, t.partitions, &t.configs)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_a-b").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name(".").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("has space").is_err());
        assert!(validate_topic_name("ünï").is_err());
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
        assert!(validate_topic_name(&"a".repeat(250)).is_err());
    }
}
