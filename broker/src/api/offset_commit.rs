//! OffsetCommit (key 8): member commits (generation checked) and simple commits by
//! non-members (generation -1, empty member id) to groups without members.

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{errors, RequestContext};
use crate::auth::{Operation, Resource};
use crate::group::{CommitRequest, OffsetToCommit};

pub async fn handle(ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    // READ on each topic: refused partitions are answered TOPIC_AUTHORIZATION_FAILED, not committed.
    let allowed: Vec<bool> =
        req.topics.iter().map(|t| ctx.authorize(Operation::Read, Resource::Topic(t.name.0.as_str()))).collect();
    let mut offsets = Vec::new();
    for (t, _) in req.topics.iter().zip(&allowed).filter(|(_, ok)| **ok) {
        for p in &t.partitions {
            offsets.push(OffsetToCommit {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if ctx.version >= 6 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            });
        }
    }
    let n = offsets.len();
    let group = req.group_id.0.to_string();
    let commit = CommitRequest {
        group: group.clone(),
        generation: req.generation_id_or_member_epoch,
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        offsets,
    };
    let codes: Vec<i16> = if !ctx.authorize(Operation::Read, Resource::Group(&group)) {
        vec![kafka_protocol::ResponseError::GroupAuthorizationFailed.code(); n]
    } else if ctx.broker.shares().is_share_group(&group) {
        // One namespace for every kind of group: a share group has no offsets
        // to commit (it would otherwise become a classic group of the same id).
        vec![kafka_protocol::ResponseError::GroupIdNotFound.code(); n]
    } else {
        match ctx.broker.groups().commit(commit).await {
            Ok(per_partition) => {
                per_partition.iter().map(|r| r.as_ref().err().map_or(0, |e| errors::commit(e, ctx.version))).collect()
            }
            Err(e) => vec![errors::commit(&e, ctx.version); n],
        }
    };
    let mut codes = codes.into_iter();
    let topic_refused = kafka_protocol::ResponseError::TopicAuthorizationFailed.code();
    let topics = req
        .topics
        .into_iter()
        .zip(allowed)
        .map(|(t, ok)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if ok { codes.next().unwrap_or(0) } else { topic_refused };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
