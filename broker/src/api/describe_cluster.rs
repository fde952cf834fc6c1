//! DescribeCluster (key 60).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::Resource;

const ENDPOINT_BROKERS: i8 = 1;

pub fn handle(ctx: &RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let cluster = ctx.broker.cluster();
    let resp = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(cluster.cluster_id()))
        .with_controller_id(BrokerId(cluster.node_id()))
        .with_endpoint_type(ENDPOINT_BROKERS)
        .with_cluster_authorized_operations(
            ctx.authorized_operations(req.include_cluster_authorized_operations, Resource::Cluster),
        );
    if ctx.version >= 1 && req.endpoint_type != ENDPOINT_BROKERS {
        return resp
            .with_endpoint_type(req.endpoint_type)
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(str_bytes("Only broker endpoints are served")));
    }
    let (host, port) =
        cluster.endpoint(&ctx.session.listener).map_or((String::new(), -1), |e| (e.host.clone(), e.port));
    resp.with_brokers(vec![DescribeClusterBroker::default()
        .with_broker_id(BrokerId(cluster.node_id()))
        .with_host(str_bytes(host))
        .with_port(port)])
}
