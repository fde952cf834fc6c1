//! DescribeTransactions (key 65): state, producer, timeout, start time and
//! partitions of transactional ids.

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let base = TransactionState::default().with_transactional_id(id.clone()).with_producer_id(ProducerId(-1));
            if !ctx.authorize(Operation::Describe, Resource::TransactionalId(id.0.as_str())) {
                return base.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
            }
            let Some(d) = ctx.broker.txn().describe(id.0.as_str()) else {
                return base.with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let mut topics: Vec<TopicData> = Vec::new();
            for (t, p) in d.partitions {
                match topics.last_mut() {
                    Some(last) if last.topic.0.as_str() == t => last.partitions.push(p),
                    _ => topics.push(TopicData::default().with_topic(TopicName(str_bytes(t))).with_partitions(vec![p])),
                }
            }
            base.with_transaction_state(str_bytes(d.state.name()))
                .with_transaction_timeout_ms(d.timeout_ms)
                .with_transaction_start_time_ms(d.start_ms)
                .with_producer_id(ProducerId(d.producer_id))
                .with_producer_epoch(d.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
