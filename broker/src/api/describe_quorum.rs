//! DescribeQuorum (key 55): the metadata quorum as Kafka's `kafka-metadata-quorum`
//! tool and admin clients see it. The quorum of a single node is this node alone:
//! the one voter and leader of `__cluster_metadata-0`, whose high watermark and log
//! end are the metadata log's end (every event is fsynced before it is applied, so
//! the voter is always caught up), with no observers.

use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::metadata::METADATA_TOPIC;

pub fn handle(ctx: &RequestContext, req: DescribeQuorumRequest) -> DescribeQuorumResponse {
    if !ctx.authorize(Operation::Describe, Resource::Cluster) {
        return DescribeQuorumResponse::default().with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let asks_metadata = req.topics.len() == 1
        && req.topics[0].topic_name.0.as_str() == METADATA_TOPIC
        && req.topics[0].partitions.len() == 1
        && req.topics[0].partitions[0].partition_index == 0;
    if !asks_metadata {
        // As Kafka's raft client: one partition is the quorum; anything else is unknown.
        let topics = req
            .topics
            .into_iter()
            .map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| {
                        PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    })
                    .collect();
                TopicData::default().with_topic_name(t.topic_name).with_partitions(parts)
            })
            .collect();
        return DescribeQuorumResponse::default().with_topics(topics);
    }
    let node = ctx.broker.cluster().node_id();
    let end = ctx.broker.metadata_end_offset();
    let now = ctx.broker.clock().now_ms();
    let mut voter = ReplicaState::default().with_replica_id(BrokerId(node)).with_log_end_offset(end);
    if ctx.version >= 1 {
        voter = voter.with_last_fetch_timestamp(now).with_last_caught_up_timestamp(now);
    }
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(node))
        .with_leader_epoch(0)
        .with_high_watermark(end)
        .with_current_voters(vec![voter]);
    let listeners = ctx
        .broker
        .cluster()
        .endpoints()
        .iter()
        .map(|e| {
            Listener::default()
                .with_name(str_bytes(e.listener.clone()))
                .with_host(str_bytes(e.host.clone()))
                .with_port(u16::try_from(e.port).unwrap_or(0))
        })
        .collect();
    let resp = DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(req.topics[0].topic_name.clone())
        .with_partitions(vec![partition])]);
    if ctx.version < 2 {
        return resp;
    }
    resp.with_nodes(vec![Node::default().with_node_id(BrokerId(node)).with_listeners(listeners)])
}
