//! TxnOffsetCommit (key 28): offsets committed as part of a producer's transaction
//! (`send_offsets_to_transaction`): visible to OffsetFetch once the transaction
//! commits, never if it aborts.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::ResponseError;

use super::{errors, RequestContext};
use crate::auth::{Operation, Resource};
use crate::error::GroupError;
use crate::group::{OffsetToCommit, TxnCommitRequest};

/// TxnOffsetCommit v3 introduced PRODUCER_FENCED (older clients get
/// INVALID_PRODUCER_EPOCH).
const FENCED_SINCE: i16 = 3;

pub async fn handle(ctx: &RequestContext, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let group = req.group_id.0.to_string();
    let id = req.transactional_id.0.to_string();
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
                leader_epoch: if ctx.version >= 2 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            });
        }
    }
    let n = offsets.len();
    let codes: Vec<i16> = if !ctx.authorize(Operation::Write, Resource::TransactionalId(&id)) {
        vec![ResponseError::TransactionalIdAuthorizationFailed.code(); n]
    } else if !ctx.authorize(Operation::Read, Resource::Group(&group)) {
        vec![ResponseError::GroupAuthorizationFailed.code(); n]
    } else if ctx.broker.shares().is_share_group(&group) {
        // One namespace for every kind of group (as OffsetCommit).
        vec![ResponseError::GroupIdNotFound.code(); n]
    } else {
        // The group's offsets partition must be in the producer's open transaction
        // (AddOffsetsToTxn first).
        let groups = ctx.broker.groups();
        let partition = groups.partition_for(&group);
        let topic = crate::group::store::OFFSETS_TOPIC;
        let id = Some(req.transactional_id.0.as_str());
        match ctx.broker.txn().verify(id, topic, partition, req.producer_id.0, req.producer_epoch) {
            Err(e) => vec![errors::txn(&e, ctx.version, FENCED_SINCE).code(); n],
            Ok(()) => {
                let commit = TxnCommitRequest {
                    group,
                    producer_id: req.producer_id.0,
                    producer_epoch: req.producer_epoch,
                    generation: if ctx.version >= 3 { req.generation_id } else { -1 },
                    member_id: if ctx.version >= 3 { req.member_id.to_string() } else { String::new() },
                    instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
                    offsets,
                };
                let code = |e: &GroupError| match e {
                    GroupError::ProducerFenced if ctx.version < FENCED_SINCE => {
                        ResponseError::InvalidProducerEpoch.code()
                    }
                    other => errors::commit(other, 9),
                };
                match groups.txn_commit(commit).await {
                    Ok(results) => results.iter().map(|r| r.as_ref().err().map_or(0, code)).collect(),
                    Err(e) => vec![code(&e); n],
                }
            }
        }
    };
    let mut codes = codes.into_iter();
    let refused = ResponseError::TopicAuthorizationFailed.code();
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
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
