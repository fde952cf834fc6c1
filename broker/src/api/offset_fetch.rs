//! OffsetFetch (key 9): one group (v1-7) or several (v8+); null topics mean every
//! partition the group committed. From v9 a consumer-group member names itself and
//! its epoch, which must be current (STALE_MEMBER_EPOCH otherwise).

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::{errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::group::CommittedOffset;
use kafka_protocol::ResponseError;

fn parts(v: Option<CommittedOffset>) -> (i64, i32, String) {
    match v {
        Some(v) => (v.offset, v.leader_epoch, v.metadata),
        None => (-1, -1, String::new()),
    }
}

/// Kafka's topic checks: named topics the principal may not describe answer
/// TOPIC_AUTHORIZATION_FAILED (`Some(false)`); with every topic asked for, they
/// are left out silently (`None`).
fn topic_access(ctx: &RequestContext, named: bool, topic: &str) -> Option<bool> {
    match named {
        true => Some(ctx.authorize(Operation::Describe, Resource::Topic(topic))),
        false => ctx.may(Operation::Describe, Resource::Topic(topic)).then_some(true),
    }
}

pub fn handle(ctx: &RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let groups = ctx.broker.groups();
    let refused = ResponseError::TopicAuthorizationFailed.code();
    if ctx.version >= 8 {
        let out = req
            .groups
            .into_iter()
            .map(|g| {
                if !ctx.authorize(Operation::Describe, Resource::Group(g.group_id.0.as_str())) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(ResponseError::GroupAuthorizationFailed.code());
                }
                if let Some(member) = g.member_id.as_ref().filter(|m| !m.is_empty()) {
                    if let Err(e) = groups.check_fetch_member(g.group_id.0.as_str(), member.as_str(), g.member_epoch) {
                        return OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id)
                            .with_error_code(errors::group(&e).code());
                    }
                }
                let named = g.topics.is_some();
                let topics =
                    g.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
                let found = groups.fetch_offsets(g.group_id.0.as_str(), topics);
                let topics = found
                    .into_iter()
                    .filter_map(|(t, ps)| topic_access(ctx, named, &t).map(|allowed| (t, ps, allowed)))
                    .map(|(t, ps, allowed)| {
                        let partitions = ps
                            .into_iter()
                            .map(|(p, v)| {
                                let (offset, epoch, meta) = if allowed { parts(v) } else { parts(None) };
                                let r = OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(epoch)
                                    .with_metadata(Some(str_bytes(meta)));
                                if !allowed {
                                    r.with_error_code(refused)
                                } else if req.require_stable && groups.has_pending_offset(g.group_id.0.as_str(), &t, p)
                                {
                                    r.with_error_code(ResponseError::UnstableOffsetCommit.code())
                                } else {
                                    r
                                }
                            })
                            .collect();
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(str_bytes(t)))
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(out);
    }
    if !ctx.authorize(Operation::Describe, Resource::Group(req.group_id.0.as_str())) {
        return OffsetFetchResponse::default().with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let named = req.topics.is_some();
    let topics = req.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
    let found = groups.fetch_offsets(req.group_id.0.as_str(), topics);
    let topics = found
        .into_iter()
        .filter_map(|(t, ps)| topic_access(ctx, named, &t).map(|allowed| (t, ps, allowed)))
        .map(|(t, ps, allowed)| {
            let partitions = ps
                .into_iter()
                .map(|(p, v)| {
                    let (offset, epoch, meta) = if allowed { parts(v) } else { parts(None) };
                    let mut r = OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_metadata(Some(str_bytes(meta)));
                    if !allowed {
                        r = r.with_error_code(refused);
                    } else if ctx.version >= 7
                        && req.require_stable
                        && groups.has_pending_offset(req.group_id.0.as_str(), &t, p)
                    {
                        r = r.with_error_code(ResponseError::UnstableOffsetCommit.code());
                    }
                    if ctx.version >= 5 {
                        r.with_committed_leader_epoch(epoch)
                    } else {
                        r
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default().with_name(TopicName(str_bytes(t))).with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
