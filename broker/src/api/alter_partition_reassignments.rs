//! AlterPartitionReassignments (key 45) on one node: the target replica set that
//! is the current one (this broker alone) is accepted, as Kafka accepts a
//! reassignment that changes nothing; any other broker id is refused with
//! INVALID_REPLICA_ASSIGNMENT, and a cancellation (null replicas) finds
//! NO_REASSIGNMENT_IN_PROGRESS.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::error::kafka_message;

fn check(
    ctx: &RequestContext,
    topic: &str,
    partition: i32,
    replicas: Option<&[i32]>,
) -> Result<(), (ResponseError, String)> {
    if !ctx.broker.topics().has_partition(topic, partition) {
        return Err((ResponseError::UnknownTopicOrPartition, kafka_message::UNKNOWN_TOPIC_OR_PARTITION.into()));
    }
    let node = ctx.broker.cluster().node_id();
    match replicas {
        None => {
            Err((ResponseError::NoReassignmentInProgress, format!("No ongoing reassignment for {topic}-{partition}.")))
        }
        Some([]) => Err((ResponseError::InvalidReplicaAssignment, "The replica list is empty.".into())),
        Some(rs) if rs.iter().all(|r| *r == node) && rs.len() == 1 => Ok(()),
        Some(rs) => {
            let unknown: Vec<String> = rs.iter().filter(|r| **r != node).map(i32::to_string).collect();
            let msg = if unknown.is_empty() {
                format!("Duplicate replicas in the assignment of {topic}-{partition}.")
            } else {
                format!(
                    "The manual partition assignment includes broker(s) {} that are not registered.",
                    unknown.join(", ")
                )
            };
            Err((ResponseError::InvalidReplicaAssignment, msg))
        }
    }
}

pub fn handle(ctx: &RequestContext, req: AlterPartitionReassignmentsRequest) -> AlterPartitionReassignmentsResponse {
    let resp = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(req.allow_replication_factor_change);
    if !ctx.authorize(Operation::Alter, Resource::Cluster) {
        return resp.with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let responses = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let replicas: Option<Vec<i32>> = p.replicas.as_ref().map(|rs| rs.iter().map(|b| b.0).collect());
                    let r = ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
                    match check(ctx, &name, p.partition_index, replicas.as_deref()) {
                        Ok(()) => r,
                        Err((e, msg)) => r.with_error_code(e.code()).with_error_message(Some(str_bytes(msg))),
                    }
                })
                .collect();
            ReassignableTopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    resp.with_responses(responses)
}
