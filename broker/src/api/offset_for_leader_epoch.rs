//! OffsetForLeaderEpoch (key 23): clients validate their position after a leader
//! change. This broker has had one leader epoch (0) for every partition, so epoch 0
//! ends at the log end offset and later epochs are unknown.

use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let allowed = ctx.authorize(Operation::Describe, Resource::Topic(&name));
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let base =
                        EpochEndOffset::default().with_partition(p.partition).with_leader_epoch(-1).with_end_offset(-1);
                    if !allowed {
                        return base.with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    let found = ctx.broker.partitions().get(&name, p.partition).filter(|p| !p.is_removed());
                    let Some(part) = found else {
                        return base.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if p.current_leader_epoch > part.leader_epoch() {
                        return base.with_error_code(ResponseError::UnknownLeaderEpoch.code());
                    }
                    if p.leader_epoch > part.leader_epoch() {
                        // Kafka answers an epoch newer than the leader's with undefined values.
                        return base;
                    }
                    base.with_leader_epoch(part.leader_epoch()).with_end_offset(part.log_end_offset())
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(t.topic).with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
