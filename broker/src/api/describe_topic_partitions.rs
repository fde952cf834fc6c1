//! DescribeTopicPartitions (key 75, KIP-966): topics and partitions, paged by
//! `response_partition_limit` with a cursor.

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::metadata::is_internal;
use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource, AUTHORIZED_OPS_OMITTED};

pub fn handle(ctx: &RequestContext, req: DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    let limit = if req.response_partition_limit > 0 { req.response_partition_limit as usize } else { 2000 };
    // Requested names in order (empty: every topic), starting at the cursor.
    let mut names: Vec<String> = if req.topics.is_empty() {
        ctx.broker.topics().list().iter().map(|t| t.name.clone()).collect()
    } else {
        let mut n: Vec<String> = req.topics.iter().map(|t| t.name.0.to_string()).collect();
        n.sort();
        n.dedup();
        n
    };
    let (start_topic, start_partition) = match &req.cursor {
        Some(c) => (Some(c.topic_name.0.to_string()), c.partition_index.max(0)),
        None => (None, 0),
    };
    if let Some(st) = &start_topic {
        names.retain(|n| n >= st);
    }
    let mut topics = Vec::new();
    let mut budget = limit;
    let mut next_cursor = None;
    let listing_all = req.topics.is_empty();
    for name in names {
        // Listing every topic leaves out what the principal may not describe; a
        // named one is refused (missing and refused look alike).
        if listing_all && !ctx.may(Operation::Describe, Resource::Topic(&name)) {
            continue;
        }
        if !listing_all && !ctx.authorize(Operation::Describe, Resource::Topic(&name)) {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_name(Some(TopicName(str_bytes(name))))
                    .with_topic_id(Uuid::nil())
                    .with_topic_authorized_operations(AUTHORIZED_OPS_OMITTED),
            );
            continue;
        }
        let Some(t) = ctx.broker.topics().get(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_name(Some(TopicName(str_bytes(name))))
                    .with_topic_id(Uuid::nil())
                    .with_topic_authorized_operations(AUTHORIZED_OPS_OMITTED),
            );
            continue;
        };
        if budget == 0 {
            next_cursor = Some(Cursor::default().with_topic_name(TopicName(str_bytes(name))).with_partition_index(0));
            break;
        }
        let first = if Some(&name) == start_topic.as_ref() { start_partition } else { 0 };
        let node = BrokerId(ctx.broker.cluster().node_id());
        let mut partitions = Vec::new();
        let open = ctx.broker.partitions().topic(&t.name);
        let mut p = first;
        while p < t.partitions && budget > 0 {
            let part = open.as_ref().and_then(|ps| ps.get(p as usize));
            let described = DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(p)
                .with_leader_epoch(part.map_or(0, |p| p.leader_epoch()))
                .with_replica_nodes(vec![node])
                .with_eligible_leader_replicas(Some(vec![]))
                .with_last_known_elr(Some(vec![]));
            // As Metadata: an offline log has no leader.
            partitions.push(match part.is_some_and(|p| p.log().is_offline()) {
                true => described
                    .with_error_code(ResponseError::LeaderNotAvailable.code())
                    .with_leader_id(BrokerId(-1))
                    .with_offline_replicas(vec![node]),
                false => described.with_leader_id(node).with_isr_nodes(vec![node]),
            });
            p += 1;
            budget -= 1;
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(str_bytes(t.name.clone()))))
                .with_topic_id(t.id)
                .with_is_internal(is_internal(&t.name))
                .with_partitions(partitions)
                // Kafka always fills it here (the request has no flag for it).
                .with_topic_authorized_operations(ctx.authorized_operations(true, Resource::Topic(&t.name))),
        );
        if p < t.partitions {
            next_cursor = Some(Cursor::default().with_topic_name(TopicName(str_bytes(name))).with_partition_index(p));
            break;
        }
    }
    DescribeTopicPartitionsResponse::default().with_topics(topics).with_next_cursor(next_cursor)
}
