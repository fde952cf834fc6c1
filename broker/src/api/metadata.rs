//! Metadata (key 3): brokers, topics, partitions, topic ids; auto-creates topics when
//! both the request and `auto.create.topics.enable` allow it.

use std::collections::BTreeMap;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{blocking, errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource, AUTHORIZED_OPS_OMITTED};
use crate::handle::BrokerHandle;
use crate::metadata::TopicMeta;
use crate::topics::CreateTopic;

pub use crate::topics::is_internal;

/// This node as the client that came in on `listener` reaches it.
pub fn broker(broker: &BrokerHandle, listener: &str) -> MetadataResponseBroker {
    let c = broker.cluster();
    let (host, port) = c.endpoint(listener).map_or((String::new(), -1), |e| (e.host.clone(), e.port));
    MetadataResponseBroker::default().with_node_id(BrokerId(c.node_id())).with_host(str_bytes(host)).with_port(port)
}

fn partitions(broker: &BrokerHandle, topic: &TopicMeta) -> Vec<MetadataResponsePartition> {
    let node = BrokerId(broker.cluster().node_id());
    let parts = broker.partitions().topic(&topic.name);
    (0..topic.partitions)
        .map(|p| {
            let part = parts.as_ref().and_then(|ps| ps.get(p as usize));
            let epoch = part.map_or(0, |p| p.leader_epoch());
            let replica = MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_epoch(epoch)
                .with_replica_nodes(vec![node]);
            // A log an I/O error took offline has no leader (Kafka: its only
            // replica is offline), so clients stop sending to it.
            if part.is_some_and(|p| p.log().is_offline()) {
                return replica
                    .with_error_code(ResponseError::LeaderNotAvailable.code())
                    .with_leader_id(BrokerId(-1))
                    .with_offline_replicas(vec![node]);
            }
            replica.with_leader_id(node).with_isr_nodes(vec![node])
        })
        .collect()
}

fn topic_response(broker: &BrokerHandle, t: &TopicMeta, version: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(t.name.clone()))))
        .with_topic_id(t.id)
        .with_is_internal(version >= 1 && is_internal(&t.name))
        .with_partitions(partitions(broker, t))
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
    let b = &ctx.broker;
    let topic_ops = ctx.version >= 8 && req.include_topic_authorized_operations;
    let cluster_ops = (8..=10).contains(&ctx.version) && req.include_cluster_authorized_operations;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let wanted = match req.topics {
        None => None,
        Some(t) if t.is_empty() && ctx.version == 0 => None,
        Some(t) => Some(t),
    };
    let allow_auto = (ctx.version < 4 || req.allow_auto_topic_creation) && b.settings().auto_create_topics_enable;
    let mut topics = Vec::new();
    match wanted {
        None => {
            // Only the topics the principal may describe, silently (as Kafka).
            for t in b.topics().list().iter().filter(|t| ctx.may(Operation::Describe, Resource::Topic(&t.name))) {
                topics.push(topic_response(b, t, ctx.version));
            }
        }
        Some(list) => {
            for rt in list {
                let name = rt.name.as_ref().map(|n| n.0.to_string()).filter(|n| !n.is_empty());
                let Some(name) = name else {
                    // Lookup by topic id (v10+).
                    match b.topics().by_id(&rt.topic_id) {
                        Some(t) if !ctx.authorize(Operation::Describe, Resource::Topic(&t.name)) => {
                            topics.push(error_topic(None, rt.topic_id, ResponseError::TopicAuthorizationFailed))
                        }
                        Some(t) => topics.push(topic_response(b, &t, ctx.version)),
                        None => topics.push(error_topic(None, rt.topic_id, ResponseError::UnknownTopicId)),
                    }
                    continue;
                };
                // Unauthorized and missing topics look alike: existence is not told.
                if !ctx.authorize(Operation::Describe, Resource::Topic(&name)) {
                    topics.push(error_topic(Some(name), Uuid::nil(), ResponseError::TopicAuthorizationFailed));
                    continue;
                }
                if let Some(t) = b.topics().get(&name) {
                    topics.push(topic_response(b, &t, ctx.version));
                    continue;
                }
                if let Err(e) = crate::topics::validate_topic_name(&name) {
                    topics.push(error_topic(Some(name), Uuid::nil(), errors::topic(&e)));
                    continue;
                }
                if !allow_auto {
                    topics.push(error_topic(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition));
                    continue;
                }
                if !ctx.may(Operation::Create, Resource::Cluster)
                    && !ctx.authorize(Operation::Create, Resource::Topic(&name))
                {
                    topics.push(error_topic(Some(name), Uuid::nil(), ResponseError::TopicAuthorizationFailed));
                    continue;
                }
                let s = b.clone();
                let n = name.clone();
                let created = blocking(move || {
                    s.topics().create(
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
                    Ok(t) => topics.push(topic_response(b, &t, ctx.version)),
                    // Lost a race with another creator: the topic exists now.
                    Err(e) => match b.topics().get(&name) {
                        Some(t) => topics.push(topic_response(b, &t, ctx.version)),
                        None => topics.push(error_topic(Some(name), Uuid::nil(), errors::topic(&e))),
                    },
                }
            }
        }
    }
    for t in topics.iter_mut().filter(|t| t.error_code == 0) {
        if let Some(name) = &t.name {
            t.topic_authorized_operations = ctx.authorized_operations(topic_ops, Resource::Topic(name.0.as_str()));
        }
    }
    MetadataResponse::default()
        .with_brokers(vec![broker(b, &ctx.session.listener)])
        .with_cluster_id(Some(str_bytes(b.cluster().cluster_id())))
        .with_controller_id(BrokerId(if ctx.version >= 1 { b.cluster().node_id() } else { -1 }))
        .with_topics(topics)
        .with_cluster_authorized_operations(ctx.authorized_operations(cluster_ops, Resource::Cluster))
}
