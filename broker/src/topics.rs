//! Topic administration shared by the Kafka admin APIs and in-process callers:
//! validation, then a metadata event, then the partition logs.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use uuid::Uuid;
use weir_storage::TopicPartition;

use crate::config::validate_topic_configs;
use crate::error::{BrokerError, Result};
use crate::metadata::{Event, TopicMeta, METADATA_TOPIC};
use crate::Shared;

pub const MAX_TOPIC_NAME: usize = 249;

/// Kafka's topic name rule: 1..=249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let invalid = |m: String| Err(BrokerError::api(ResponseError::InvalidTopicException, m));
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

impl Shared {
    pub fn create_topic(&self, req: CreateTopic, validate_only: bool) -> Result<Arc<TopicMeta>> {
        validate_topic_name(&req.name)?;
        let partitions = if !req.assignments.is_empty() {
            if req.partitions != -1 || req.replication_factor != -1 {
                return Err(BrokerError::api(
                    ResponseError::InvalidRequest,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
                ));
            }
            for (i, replicas) in req.assignments.iter().enumerate() {
                if replicas.is_empty() || replicas.iter().any(|r| *r != self.node_id) || replicas.len() > 1 {
                    return Err(BrokerError::api(
                        ResponseError::InvalidReplicaAssignment,
                        format!("Partition {i} must be assigned to broker {} only (a one-node cluster)", self.node_id),
                    ));
                }
            }
            req.assignments.len() as i32
        } else {
            let p = if req.partitions == -1 { self.config.get_i64("num.partitions") as i32 } else { req.partitions };
            if p <= 0 {
                return Err(BrokerError::api(
                    ResponseError::InvalidPartitions,
                    format!("Number of partitions was set to an invalid non-positive value: {p}"),
                ));
            }
            let rf = if req.replication_factor == -1 {
                self.config.get_i64("default.replication.factor") as i16
            } else {
                req.replication_factor
            };
            if rf <= 0 {
                return Err(BrokerError::api(
                    ResponseError::InvalidReplicationFactor,
                    format!("Replication factor must be larger than 0, or -1 to use the default value: {rf}"),
                ));
            }
            if rf > 1 {
                return Err(BrokerError::api(
                    ResponseError::InvalidReplicationFactor,
                    format!("Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."),
                ));
            }
            p
        };
        validate_topic_configs(&req.configs)?;
        self.meta.with_writer(|w| {
            if w.topic(&req.name).is_some() {
                return Err(BrokerError::api(
                    ResponseError::TopicAlreadyExists,
                    format!("Topic '{}' already exists.", req.name),
                ));
            }
            let key = collision_key(&req.name);
            if let Some(other) = w.topics().iter().find(|t| collision_key(&t.name) == key) {
                return Err(BrokerError::api(
                    ResponseError::InvalidTopicException,
                    format!("Topic '{}' collides with existing topic: {}", req.name, other.name),
                ));
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
        self.open_partitions(&topic, 0)?;
        tracing::info!(topic = %topic.name, topic.id = %topic.id, partitions, "topic created");
        Ok(topic)
    }

    fn open_partitions(&self, topic: &TopicMeta, from: i32) -> Result<()> {
        let lc = self.config.log_config(&topic.configs);
        for p in from..topic.partitions {
            self.logs.get_or_create(&TopicPartition { topic: topic.name.clone(), partition: p }, lc.clone())?;
        }
        Ok(())
    }

    pub fn delete_topic(&self, topic: &TopicMeta) -> Result<()> {
        if !self.config.get_bool("delete.topic.enable") {
            return Err(BrokerError::api(ResponseError::TopicDeletionDisabled, "Topic deletion is disabled."));
        }
        self.meta.with_writer(|w| {
            match w.topic(&topic.name) {
                Some(t) if t.id == topic.id => {}
                _ => {
                    return Err(BrokerError::api(
                        ResponseError::UnknownTopicOrPartition,
                        "This server does not host this topic-partition.",
                    ))
                }
            }
            w.commit(Event::TopicDeleted { name: topic.name.clone(), id: topic.id })
        })?;
        for p in 0..topic.partitions {
            let tp = TopicPartition { topic: topic.name.clone(), partition: p };
            if let Err(e) = self.logs.delete(&tp) {
                tracing::warn!(topic = %topic.name, partition = p, error = %e, "could not delete partition log");
            }
        }
        self.notify_data();
        tracing::info!(topic = %topic.name, topic.id = %topic.id, "topic deleted");
        Ok(())
    }

    pub fn create_partitions(
        &self,
        name: &str,
        total: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<()> {
        let topic = self.meta.with_writer(|w| {
            let t = w.topic(name).ok_or_else(|| {
                BrokerError::api(ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist."))
            })?;
            if total < t.partitions {
                return Err(BrokerError::api(
                    ResponseError::InvalidPartitions,
                    format!(
                        "Topic currently has {} partitions, which is higher than the requested {total}.",
                        t.partitions
                    ),
                ));
            }
            if total == t.partitions {
                return Err(BrokerError::api(
                    ResponseError::InvalidPartitions,
                    format!("Topic already has {total} partitions."),
                ));
            }
            if let Some(a) = assignments {
                if a.len() as i32 != total - t.partitions {
                    return Err(BrokerError::api(
                        ResponseError::InvalidReplicaAssignment,
                        format!(
                            "Increasing the number of partitions by {} but {} assignments provided.",
                            total - t.partitions,
                            a.len()
                        ),
                    ));
                }
                if a.iter().any(|r| r.len() != 1 || r[0] != self.node_id) {
                    return Err(BrokerError::api(
                        ResponseError::InvalidReplicaAssignment,
                        format!("New partitions must be assigned to broker {} only (a one-node cluster)", self.node_id),
                    ));
                }
            }
            if !validate_only {
                w.commit(Event::PartitionsCreated { name: name.to_string(), id: t.id, total })?;
            }
            Ok(t)
        })?;
        if !validate_only {
            let updated = self.meta.topic(name).unwrap_or(topic.clone());
            self.open_partitions(&updated, topic.partitions)?;
        }
        Ok(())
    }

    /// Replaces a topic's overrides and applies them to its open logs.
    pub fn set_topic_configs(&self, name: &str, configs: BTreeMap<String, String>, validate_only: bool) -> Result<()> {
        self.update_topic_configs(name, |_| Ok(configs), validate_only)
    }

    /// Computes a topic's new overrides from its current ones and applies them, all
    /// under the metadata writer lock (read-modify-write without lost updates).
    pub fn update_topic_configs(
        &self,
        name: &str,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>>,
        validate_only: bool,
    ) -> Result<()> {
        let (topic, configs) = self.meta.with_writer(|w| {
            let t = w.topic(name).ok_or_else(|| {
                BrokerError::api(ResponseError::UnknownTopicOrPartition, format!("Topic {name} does not exist"))
            })?;
            let configs = change(&t.configs)?;
            validate_topic_configs(&configs)?;
            if !validate_only {
                w.commit(Event::TopicConfigsReplaced { name: name.to_string(), id: t.id, configs: configs.clone() })?;
            }
            Ok((t, configs))
        })?;
        if validate_only {
            return Ok(());
        }
        let lc = self.config.log_config(&configs);
        for p in 0..topic.partitions {
            if let Some(log) = self.partition(name, p) {
                log.update_config(lc.clone());
            }
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
