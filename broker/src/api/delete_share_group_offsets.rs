//! DeleteShareGroupOffsets (key 92, v0 as in Kafka 4.1; `kafka-share-groups.sh
//! --delete-offsets`): deletes the state of every share-partition of the named
//! topics for a group without members (`share::admin`). Top level:
//! UNSUPPORTED_VERSION, INVALID_GROUP_ID, GROUP_AUTHORIZATION_FAILED (DELETE on
//! the group), GROUP_ID_NOT_FOUND (no such share group), NON_EMPTY_GROUP, or the
//! write's error. Per topic: TOPIC_AUTHORIZATION_FAILED (READ on the topic),
//! UNKNOWN_TOPIC_OR_PARTITION (no such topic, or no state of it to delete).

use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic as Topic;
use kafka_protocol::messages::{DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::alter_share_group_offsets::check_group;
use super::{errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::error::kafka_message;

fn refused(code: ResponseError, message: Option<String>) -> DeleteShareGroupOffsetsResponse {
    DeleteShareGroupOffsetsResponse::default().with_error_code(code.code()).with_error_message(message.map(str_bytes))
}

fn failed(t: Topic, code: ResponseError, message: &str) -> Topic {
    t.with_error_code(code.code()).with_error_message(Some(str_bytes(message.to_string())))
}

pub async fn handle(ctx: &RequestContext, req: DeleteShareGroupOffsetsRequest) -> DeleteShareGroupOffsetsResponse {
    let group = req.group_id.0.to_string();
    if let Err((code, message)) = check_group(ctx, &group, Operation::Delete) {
        return refused(code, message);
    }
    let mut topics: Vec<Topic> = Vec::with_capacity(req.topics.len());
    // Topics whose state is to go, with their answers' places.
    let mut wanted: Vec<(Uuid, usize)> = Vec::new();
    for t in req.topics {
        let name = t.topic_name.0.to_string();
        let meta = ctx.broker.topics().get(&name);
        let answer =
            Topic::default().with_topic_name(t.topic_name).with_topic_id(meta.as_ref().map_or(Uuid::nil(), |m| m.id));
        let answer = match &meta {
            _ if !ctx.authorize(Operation::Read, Resource::Topic(&name)) => {
                failed(answer, ResponseError::TopicAuthorizationFailed, kafka_message::TOPIC_AUTHORIZATION_FAILED)
            }
            Some(m) => {
                wanted.push((m.id, topics.len()));
                answer
            }
            None => failed(answer, ResponseError::UnknownTopicOrPartition, kafka_message::UNKNOWN_TOPIC_OR_PARTITION),
        };
        topics.push(answer);
    }
    let ids: Vec<Uuid> = wanted.iter().map(|(id, _)| *id).collect();
    match ctx.broker.shares().delete_topic_states(&group, &ids).await {
        Ok(found) => {
            for ((_, at), had) in wanted.iter().zip(found) {
                if !had {
                    let t = std::mem::take(&mut topics[*at]);
                    topics[*at] =
                        failed(t, ResponseError::UnknownTopicOrPartition, "There is no offset information to delete.");
                }
            }
            DeleteShareGroupOffsetsResponse::default().with_responses(topics)
        }
        Err(e) => refused(errors::share(&e), Some(e.to_string())),
    }
}
