//! AlterShareGroupOffsets (key 91, v0 as in Kafka 4.1; `kafka-share-groups.sh
//! --reset-offsets`): sets share-partitions' start offsets of a group without
//! members (`share::admin`), creating the group if it does not exist, as Kafka
//! does. Top level: UNSUPPORTED_VERSION (share.version 0), INVALID_GROUP_ID,
//! GROUP_AUTHORIZATION_FAILED (READ on the group), GROUP_ID_NOT_FOUND (a group of
//! another kind), NON_EMPTY_GROUP; a failed write fails every partition set.
//! Per partition: TOPIC_AUTHORIZATION_FAILED (READ on the topic),
//! UNKNOWN_TOPIC_OR_PARTITION (no such topic or partition).

use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition as Partition, AlterShareGroupOffsetsResponseTopic as Topic,
};
use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::error::kafka_message;

pub(crate) fn refused(code: ResponseError, message: Option<String>) -> AlterShareGroupOffsetsResponse {
    AlterShareGroupOffsetsResponse::default().with_error_code(code.code()).with_error_message(message.map(str_bytes))
}

/// The checks Alter and Delete share: share groups on, a group id, the ACL, and
/// no group of another kind by that id; the error otherwise.
pub(crate) fn check_group(
    ctx: &RequestContext,
    group: &str,
    operation: Operation,
) -> Result<(), (ResponseError, Option<String>)> {
    if !ctx.broker.share_groups_enabled() {
        return Err((ResponseError::UnsupportedVersion, None));
    }
    // Kafka authorizes first, then checks the id; its refusal of these two APIs states the default message.
    if !ctx.authorize(operation, Resource::Group(group)) {
        return Err((ResponseError::GroupAuthorizationFailed, Some(kafka_message::GROUP_AUTHORIZATION_FAILED.into())));
    }
    if group.is_empty() {
        return Err((ResponseError::InvalidGroupId, Some("The group id is invalid.".into())));
    }
    if !ctx.broker.shares().is_share_group(group) && ctx.broker.groups().group_state(group).is_some() {
        let e = crate::share::ShareError::NotShareGroup(group.to_string());
        return Err((errors::share(&e), Some(e.to_string())));
    }
    Ok(())
}

fn failed(index: i32, code: ResponseError, message: &str) -> Partition {
    Partition::default()
        .with_partition_index(index)
        .with_error_code(code.code())
        .with_error_message(Some(str_bytes(message.to_string())))
}

pub async fn handle(ctx: &RequestContext, req: AlterShareGroupOffsetsRequest) -> AlterShareGroupOffsetsResponse {
    let group = req.group_id.0.to_string();
    if let Err((code, message)) = check_group(ctx, &group, Operation::Read) {
        return refused(code, message);
    }
    // Each partition's answer, and the starts to set (topic id, partition, start)
    // with where their answers are.
    let mut topics: Vec<Topic> = Vec::with_capacity(req.topics.len());
    let mut starts: Vec<(Uuid, i32, i64)> = Vec::new();
    for t in req.topics {
        let name = t.topic_name.0.to_string();
        let meta = ctx.broker.topics().get(&name);
        let mut answer =
            Topic::default().with_topic_name(t.topic_name).with_topic_id(meta.as_ref().map_or(Uuid::nil(), |m| m.id));
        let allowed = ctx.authorize(Operation::Read, Resource::Topic(&name));
        for p in t.partitions {
            let i = p.partition_index;
            let result = match &meta {
                _ if !allowed => {
                    failed(i, ResponseError::TopicAuthorizationFailed, kafka_message::TOPIC_AUTHORIZATION_FAILED)
                }
                Some(m) if (0..m.partitions).contains(&i) => {
                    starts.push((m.id, i, p.start_offset));
                    Partition::default().with_partition_index(i)
                }
                _ => failed(i, ResponseError::UnknownTopicOrPartition, kafka_message::UNKNOWN_TOPIC_OR_PARTITION),
            };
            answer.partitions.push(result);
        }
        topics.push(answer);
    }
    if let Err(e) = ctx.broker.shares().set_start_offsets(&group, &starts).await {
        let code = errors::share(&e);
        if !matches!(e, crate::share::ShareError::Storage(_)) {
            return refused(code, Some(e.to_string()));
        }
        // The write failed: every start that was to be set fails with it.
        for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()).filter(|p| p.error_code == 0) {
            *p = failed(p.partition_index, code, &e.to_string());
        }
        return AlterShareGroupOffsetsResponse::default()
            .with_error_code(code.code())
            .with_error_message(Some(str_bytes(e.to_string())))
            .with_responses(topics);
    }
    AlterShareGroupOffsetsResponse::default().with_responses(topics)
}
