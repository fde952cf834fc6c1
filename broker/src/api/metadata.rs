//! Metadata (key 3): brokers, topics, partitions, topic ids; auto-creates topics when
//! both the request and `auto.create.topics.enable` allow it.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{blocking, str_bytes, RequestContext};
use crate::metadata::TopicMeta;
use crate::topics::CreateTopic;
use crate::Shared;

/// Kafka's "authorized operations not requested" sentinel.
pub const AUTHORIZED_OPS_OMITTED: i32 = i32::MIN;

pub fn is_internal(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

pub fn broker(shared: &Shared) -> MetadataResponseBroker {
    MetadataResponseBroker::default()
        .with_node_id(BrokerId(shared.node_id))
        .with_host(str_bytes(shared.advertised_host.clone()))
        .with_port(shared.advertised_port)
}

pub fn partitions(shared: &Shared, topic: &TopicMeta) -> Vec<MetadataResponsePartition> {
    (0..topic.partitions)
        .map(|p| {
            let node = BrokerId(shared.node_id);
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect()
}

fn topic_response(shared: &Shared, t: &TopicMeta, version: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(t.name.clone()))))
        .with_topic_id(t.id)
        .with_is_internal(version >= 1 && is_internal(&t.name))
        .with_partitions(partitions(shared, t))
        .with_topic_authorized_operations(AUTHORIZED_OPS_OMITTED)
}

fn error_topic(name: Option<String>, id: Uuid, err: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(err.code())
        .with_name(name.map(|n| TopicName(str_bytes(n))))
        .with_topic_id(id)
        .with_topic_authorized_operations(AUTHORIZED_OPS_OMITTED)
}

pub async fn handle(ctx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    let shared = &ctx.shared;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let wanted = match req.topics {
        None => None,
        Some(t) if t.is_empty() && ctx.version == 0 => None,
        Some(t) => Some(t),
    };
    let allow_auto =
        (ctx.version < 4 || req.allow_auto_topic_creation) && shared.config.get_bool("auto.create.topics.enable");
    let mut topics = Vec::new();
    match wanted {
        None => {
            for t in shared.meta.topics() {
                topics.push(topic_response(shared, &t, ctx.version));
            }
        }
        Some(list) => {
            for rt in list {
                let name = rt.name.as_ref().map(|n| n.0.to_string()).filter(|n| !n.is_empty());
                let Some(name) = name else {
                    // Lookup by topic id (v10+).
                    match shared.meta.topic_by_id(&rt.topic_id) {
                        Some(t) => topics.push(topic_response(shared, &t, ctx.version)),
                        None => topics.push(error_topic(None, rt.topic_id, ResponseError::UnknownTopicId)),
                    }
                    continue;
                };
                if let Some(t) = shared.meta.topic(&name) {
                    topics.push(topic_response(shared, &t, ctx.version));
                    continue;
                }
                if let Err(e) = crate::topics::validate_topic_name(&name) {
                    topics.push(error_topic(Some(name), Uuid::nil(), e.kafka_error()));
                    continue;
                }
                if !allow_auto {
                    topics.push(error_topic(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition));
                    continue;
                }
                let s = Arc::clone(shared);
                let n = name.clone();
                let created = blocking(move || {
                    s.create_topic(
                        CreateTopic {
                            name: n,
                            partitions: -1,
                            replication_factor: -1,
                            assignments: vec![],
                            configs: BTreeMap::new(),
                        },
                        false,
                    )
                })
                .await;
                match created {
                    Ok(t) => topics.push(topic_response(shared, &t, ctx.version)),
                    // Lost a race with another creator: the topic exists now.
                    Err(e) => match shared.meta.topic(&name) {
                        Some(t) => topics.push(topic_response(shared, &t, ctx.version)),
                        None => topics.push(error_topic(Some(name), Uuid::nil(), e.kafka_error())),
                    },
                }
            }
        }
    }
    MetadataResponse::default()
        .with_brokers(vec![broker(shared)])
        .with_cluster_id(Some(str_bytes(shared.meta.cluster_id())))
        .with_controller_id(BrokerId(if ctx.version >= 1 { shared.node_id } else { -1 }))
        .with_topics(topics)
        .with_cluster_authorized_operations(AUTHORIZED_OPS_OMITTED)
}
