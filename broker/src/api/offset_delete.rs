//! OffsetDelete (key 47): removes committed offsets of partitions whose topic no live
//! member of the group subscribes to.

use bytes::Buf;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{errors, RequestContext};

/// Whether a consumer-protocol subscription (i16 version, then an array of topic
/// strings) names `topic`. Undecodable metadata counts as subscribed, to be safe.
pub fn subscribes_to(metadata: &bytes::Bytes, topic: &str) -> bool {
    let mut b = &metadata[..];
    if b.remaining() < 6 {
        return true;
    }
    let _version = b.get_i16();
    let n = b.get_i32();
    for _ in 0..n.max(0) {
        if b.remaining() < 2 {
            return true;
        }
        let len = b.get_i16();
        if len < 0 || b.remaining() < len as usize {
            return true;
        }
        if &b[..len as usize] == topic.as_bytes() {
            return true;
        }
        b.advance(len as usize);
    }
    false
}

pub async fn handle(ctx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    use crate::auth::{Operation, Resource};
    if !ctx.authorize(Operation::Delete, Resource::Group(req.group_id.0.as_str())) {
        return OffsetDeleteResponse::default()
            .with_error_code(kafka_protocol::ResponseError::GroupAuthorizationFailed.code());
    }
    // READ on each topic, as Kafka checks; refused ones are not deleted.
    let allowed: Vec<bool> =
        req.topics.iter().map(|t| ctx.authorize(Operation::Read, Resource::Topic(t.name.0.as_str()))).collect();
    let partitions: Vec<(String, i32)> = req
        .topics
        .iter()
        .zip(&allowed)
        .filter(|(_, ok)| **ok)
        .flat_map(|(t, _)| t.partitions.iter().map(move |p| (t.name.0.to_string(), p.partition_index)))
        .collect();
    let result = ctx.broker.groups().delete_offsets(req.group_id.0.as_str(), partitions, subscribes_to).await;
    let (top, mut codes) = match result {
        Ok(r) => (0, r.iter().map(errors::group_code).collect::<Vec<_>>().into_iter()),
        Err(e) => return OffsetDeleteResponse::default().with_error_code(errors::group(&e).code()),
    };
    let refused = kafka_protocol::ResponseError::TopicAuthorizationFailed.code();
    let topics = req
        .topics
        .into_iter()
        .zip(allowed)
        .map(|(t, ok)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if ok { codes.next().unwrap_or(0) } else { refused };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetDeleteResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_error_code(top).with_topics(topics)
}
