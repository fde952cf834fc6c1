//! DeleteTopics (key 20): by name (all versions) or by topic id (v6+).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{blocking, errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

pub async fn handle(ctx: &RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    // v6+ sends `topics` (name or id); older versions send `topic_names`.
    let wanted: Vec<(Option<String>, Uuid)> = if ctx.version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()).filter(|n| !n.is_empty()), t.topic_id))
            .collect()
    } else {
        req.topic_names.into_iter().map(|n| (Some(n.0.to_string()), Uuid::nil())).collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let (meta, unknown) = match &name {
            Some(n) => (ctx.broker.topics().get(n), ResponseError::UnknownTopicOrPartition),
            None => (ctx.broker.topics().by_id(&id), ResponseError::UnknownTopicId),
        };
        let base =
            DeletableTopicResult::default().with_name(name.clone().map(|n| TopicName(str_bytes(n)))).with_topic_id(id);
        let Some(meta) = meta else {
            responses
                .push(base.with_error_code(unknown.code()).with_error_message(Some(str_bytes(unknown.to_string()))));
            continue;
        };
        let base = base.with_name(Some(TopicName(str_bytes(meta.name.clone())))).with_topic_id(meta.id);
        if !ctx.authorize(Operation::Delete, Resource::Topic(&meta.name)) {
            responses.push(base.with_error_code(ResponseError::TopicAuthorizationFailed.code()));
            continue;
        }
        let b = ctx.broker.clone();
        let m = meta.clone();
        match blocking(move || b.topics().delete(&m)).await {
            Ok(()) => responses.push(base),
            Err(e) => responses.push(
                base.with_error_code(errors::topic(&e).code()).with_error_message(Some(str_bytes(e.to_string()))),
            ),
        }
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
