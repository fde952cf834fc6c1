//! WriteTxnMarkers (key 27): COMMIT or ABORT markers written into the partitions
//! named, per producer, as Kafka's brokers write them for the transaction
//! coordinator. Clients use it to end hanging transactions
//! (`kafka-transactions.sh abort`). Needs CLUSTER_ACTION on the cluster.

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use kafka_protocol::ResponseError;

use super::{blocking, errors, RequestContext};
use crate::auth::{Operation, Resource};

pub async fn handle(ctx: &RequestContext, req: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let allowed = ctx.authorize(Operation::Alter, Resource::Cluster)
        || ctx.authorize(Operation::ClusterAction, Resource::Cluster);
    let b = ctx.broker.clone();
    let markers = blocking(move || {
        req.markers
            .into_iter()
            .map(|m| {
                let topics = m
                    .topics
                    .into_iter()
                    .map(|t| {
                        let partitions = t
                            .partition_indexes
                            .iter()
                            .map(|&p| {
                                let code = if !allowed {
                                    ResponseError::ClusterAuthorizationFailed.code()
                                } else {
                                    let r = b.write_txn_marker(
                                        t.name.0.as_str(),
                                        p,
                                        m.transaction_result,
                                        m.producer_id.0,
                                        m.producer_epoch,
                                        m.coordinator_epoch,
                                    );
                                    r.err().map_or(0, |e| errors::broker(&e).code())
                                };
                                WritableTxnMarkerPartitionResult::default()
                                    .with_partition_index(p)
                                    .with_error_code(code)
                            })
                            .collect();
                        WritableTxnMarkerTopicResult::default().with_name(t.name).with_partitions(partitions)
                    })
                    .collect();
                WritableTxnMarkerResult::default().with_producer_id(m.producer_id).with_topics(topics)
            })
            .collect()
    })
    .await;
    WriteTxnMarkersResponse::default().with_markers(markers)
}
