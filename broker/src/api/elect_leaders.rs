//! ElectLeaders (key 43). On one node every partition's only replica is already its
//! leader and preferred replica, so an election is never needed: Kafka answers
//! ELECTION_NOT_NEEDED for each named partition (preferred and unclean alike), and
//! when asked for every partition (a null list) leaves out the partitions that
//! need none, which here is all of them.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::error::kafka_message;

pub fn handle(ctx: &RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    if !ctx.authorize(Operation::Alter, Resource::Cluster) {
        return ElectLeadersResponse::default().with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let Some(topics) = req.topic_partitions else {
        return ElectLeadersResponse::default();
    };
    let results = topics
        .into_iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    let (code, message) = if ctx.broker.topics().has_partition(&name, p) {
                        (
                            ResponseError::ElectionNotNeeded,
                            "Leader election not needed for topic partition: the only replica leads it",
                        )
                    } else {
                        (ResponseError::UnknownTopicOrPartition, kafka_message::UNKNOWN_TOPIC_OR_PARTITION)
                    };
                    PartitionResult::default()
                        .with_partition_id(p)
                        .with_error_code(code.code())
                        .with_error_message(Some(str_bytes(message)))
                })
                .collect();
            ReplicaElectionResult::default().with_topic(t.topic).with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default().with_replica_election_results(results)
}
