//! DescribeProducers (key 61): the producers each partition remembers, with their
//! epoch, last sequence, last timestamp and the start of their open transaction.

use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, req: DescribeProducersRequest) -> DescribeProducersResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let allowed = ctx.authorize(Operation::Read, Resource::Topic(t.name.0.as_str()));
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&p| {
                    let base = PartitionResponse::default().with_partition_index(p);
                    if !allowed {
                        return base.with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    let Some(part) = ctx.broker.partitions().get(t.name.0.as_str(), p).filter(|p| !p.is_removed())
                    else {
                        return base.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let producers = part
                        .log()
                        .active_producers()
                        .into_iter()
                        .map(|s| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(s.producer_id))
                                .with_producer_epoch(s.epoch as i32)
                                .with_last_sequence(s.last_sequence)
                                .with_last_timestamp(s.last_timestamp)
                                .with_coordinator_epoch(if s.txn_first_offset.is_some() { 0 } else { -1 })
                                .with_current_txn_start_offset(s.txn_first_offset.unwrap_or(-1))
                        })
                        .collect();
                    base.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
