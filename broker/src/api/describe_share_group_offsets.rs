//! DescribeShareGroupOffsets (key 90, v0 as in Kafka 4.1; `kafka-share-groups.sh
//! --describe`): each share-partition's start offset (SPSO). As Kafka: DESCRIBE
//! on the group (else GROUP_AUTHORIZATION_FAILED for that group); all topics
//! (`topics` null) means every topic the group has state for, those the caller
//! may not describe left out; a named topic the caller may not describe answers
//! TOPIC_AUTHORIZATION_FAILED per partition; a partition without state (never
//! read, an unknown topic, a group that does not exist) answers start offset -1
//! with no error. The leader epoch is the partition's current one for a
//! partition with state, 0 otherwise.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup as Group, DescribeShareGroupOffsetsResponsePartition as Partition,
    DescribeShareGroupOffsetsResponseTopic as Topic,
};
use kafka_protocol::messages::{DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, TopicName};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::error::kafka_message;

/// Start offset of a share-partition without state.
const UNINITIALIZED: i64 = -1;

pub fn handle(ctx: &RequestContext, req: DescribeShareGroupOffsetsRequest) -> DescribeShareGroupOffsetsResponse {
    let enabled = ctx.broker.share_groups_enabled();
    let groups = req
        .groups
        .into_iter()
        .map(|g| {
            let base = Group::default().with_group_id(g.group_id.clone());
            if !enabled {
                return base.with_error_code(ResponseError::UnsupportedVersion.code());
            }
            let group = g.group_id.0.as_str();
            if !ctx.authorize(Operation::Describe, Resource::Group(group)) {
                return base.with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            // (topic id, partition) -> start.
            let starts: BTreeMap<(Uuid, i32), i64> =
                ctx.broker.shares().progress(group).into_iter().map(|p| ((p.topic_id, p.partition), p.start)).collect();
            let topics = match g.topics {
                None => all_topics(ctx, &starts),
                Some(ts) => ts.into_iter().map(|t| named_topic(ctx, &starts, t.topic_name, t.partitions)).collect(),
            };
            base.with_topics(topics)
        })
        .collect();
    DescribeShareGroupOffsetsResponse::default().with_groups(groups)
}

fn partition(ctx: &RequestContext, topic: &str, index: i32, start: Option<i64>) -> Partition {
    let epoch = match start {
        Some(_) => ctx.broker.partitions().get(topic, index).map_or(0, |p| p.leader_epoch()),
        None => 0,
    };
    Partition::default()
        .with_partition_index(index)
        .with_start_offset(start.unwrap_or(UNINITIALIZED))
        .with_leader_epoch(epoch)
}

/// Every topic the group has state for and the caller may describe.
fn all_topics(ctx: &RequestContext, starts: &BTreeMap<(Uuid, i32), i64>) -> Vec<Topic> {
    let mut out: Vec<Topic> = Vec::new();
    for (&(id, index), &start) in starts {
        if out.last().is_none_or(|t| t.topic_id != id) {
            // A topic deleted since the share coordinator's last tick (which
            // drops its state) has no name to show.
            let Some(meta) = ctx.broker.topics().by_id(&id) else { continue };
            if !ctx.may(Operation::Describe, Resource::Topic(&meta.name)) {
                continue;
            }
            out.push(Topic::default().with_topic_id(id).with_topic_name(TopicName(str_bytes(meta.name.clone()))));
        }
        if let Some(t) = out.last_mut().filter(|t| t.topic_id == id) {
            let p = partition(ctx, t.topic_name.0.as_str(), index, Some(start));
            t.partitions.push(p);
        }
    }
    out
}

fn named_topic(ctx: &RequestContext, starts: &BTreeMap<(Uuid, i32), i64>, name: TopicName, parts: Vec<i32>) -> Topic {
    let topic = name.0.to_string();
    if !ctx.authorize(Operation::Describe, Resource::Topic(&topic)) {
        let refused = parts
            .iter()
            .map(|&i| {
                Partition::default()
                    .with_partition_index(i)
                    .with_start_offset(UNINITIALIZED)
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(str_bytes(kafka_message::TOPIC_AUTHORIZATION_FAILED)))
            })
            .collect();
        return Topic::default().with_topic_name(name).with_partitions(refused);
    }
    let id = ctx.broker.topics().get(&topic).map_or(Uuid::nil(), |t| t.id);
    let partitions = parts.iter().map(|&i| partition(ctx, &topic, i, starts.get(&(id, i)).copied())).collect();
    Topic::default().with_topic_name(name).with_topic_id(id).with_partitions(partitions)
}
