//! AddPartitionsToTxn (key 24): partitions join a producer's transaction. v0-3 are
//! the client's form (one transaction); v4+ the batched form brokers send, with
//! `verify_only` (KIP-890) answering whether partitions are already in it.

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName};
use kafka_protocol::ResponseError;

use super::{blocking, errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

/// AddPartitionsToTxn v2 introduced PRODUCER_FENCED.
const FENCED_SINCE: i16 = 2;

fn partitions(topics: &[AddPartitionsToTxnTopic]) -> Vec<(String, i32)> {
    topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), *p))).collect()
}

/// Per topic, per partition, the error code.
async fn add(
    ctx: &RequestContext,
    id: String,
    producer_id: i64,
    epoch: i16,
    wanted: Vec<(String, i32)>,
    verify_only: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let all = |code: i16| -> Vec<((String, i32), i16)> { wanted.iter().map(|tp| (tp.clone(), code)).collect() };
    // WRITE on every topic, else those are refused and the rest not attempted (as Kafka).
    let refused_topic = |t: &str| !ctx.authorize(Operation::Write, Resource::Topic(t));
    let codes: Vec<((String, i32), i16)> = if !ctx.authorize(Operation::Write, Resource::TransactionalId(&id)) {
        all(ResponseError::TransactionalIdAuthorizationFailed.code())
    } else if let Some(refused) = {
        let mut names: Vec<&str> = wanted.iter().map(|(t, _)| t.as_str()).collect();
        names.dedup();
        let refused: Vec<String> = names.into_iter().filter(|t| refused_topic(t)).map(String::from).collect();
        (!refused.is_empty()).then_some(refused)
    } {
        wanted
            .iter()
            .map(|tp| {
                let code = match refused.contains(&tp.0) {
                    true => ResponseError::TopicAuthorizationFailed,
                    false => ResponseError::OperationNotAttempted,
                };
                (tp.clone(), code.code())
            })
            .collect()
    } else {
        let b = ctx.broker.clone();
        let w = wanted.clone();
        match blocking(move || b.txn().add_partitions(&id, producer_id, epoch, w, verify_only)).await {
            Ok(r) => r
                .into_iter()
                .map(|(tp, r)| (tp, r.err().map_or(0, |e| errors::txn(&e, ctx.version, FENCED_SINCE).code())))
                .collect(),
            Err(e) => all(errors::txn(&e, ctx.version, FENCED_SINCE).code()),
        }
    };
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((topic, partition), code) in codes {
        let r = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(partition)
            .with_partition_error_code(code);
        match out.last_mut() {
            Some(t) if t.name.0.as_str() == topic => t.results_by_partition.push(r),
            _ => out.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_results_by_partition(vec![r]),
            ),
        }
    }
    out
}

pub async fn handle(ctx: &RequestContext, req: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    if ctx.version <= 3 {
        let id = req.v3_and_below_transactional_id.0.to_string();
        let wanted = partitions(&req.v3_and_below_topics);
        let results =
            add(ctx, id, req.v3_and_below_producer_id.0, req.v3_and_below_producer_epoch, wanted, false).await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    let mut by_txn = Vec::with_capacity(req.transactions.len());
    for t in req.transactions {
        let id = t.transactional_id.0.to_string();
        let results = add(ctx, id, t.producer_id.0, t.producer_epoch, partitions(&t.topics), t.verify_only).await;
        by_txn.push(
            AddPartitionsToTxnResult::default().with_transactional_id(t.transactional_id).with_topic_results(results),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(by_txn)
}
