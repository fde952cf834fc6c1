//! OffsetCommit (key 8): member commits (generation checked) and simple commits by
//! non-members (generation -1, empty member id) to groups without members.

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::group::CommitRequest;

pub async fn handle(ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let shared = ctx.shared.clone();
    let mut offsets = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let epoch = if ctx.version >= 6 { p.committed_leader_epoch } else { -1 };
            offsets.push((
                t.name.0.to_string(),
                p.partition_index,
                p.committed_offset,
                epoch,
                p.committed_metadata.as_ref().map(|m| m.to_string()),
            ));
        }
    }
    let commit = CommitRequest {
        version: ctx.version,
        group: req.group_id.0.to_string(),
        generation: req.generation_id_or_member_epoch,
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        offsets,
    };
    let s = shared.clone();
    let result = shared
        .groups()
        .commit(commit, move |topic, partition| {
            s.meta.topic(topic).is_some_and(|t| partition >= 0 && partition < t.partitions)
        })
        .await;
    let mut errors = match result {
        Ok(per_partition) => per_partition.into_iter(),
        Err(code) => vec![code; req.topics.iter().map(|t| t.partitions.len()).sum()].into_iter(),
    };
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(errors.next().unwrap_or(0))
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
