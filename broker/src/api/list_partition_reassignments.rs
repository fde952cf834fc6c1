//! ListPartitionReassignments (key 46). A single node never moves replicas, so no
//! reassignment is ever ongoing: the answer is an empty list (Kafka skips topics it
//! does not know, and lists only partitions being reassigned).

use kafka_protocol::messages::{ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse};
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, _req: ListPartitionReassignmentsRequest) -> ListPartitionReassignmentsResponse {
    if !ctx.authorize(Operation::Describe, Resource::Cluster) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    ListPartitionReassignmentsResponse::default()
}
