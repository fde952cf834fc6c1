//! UnregisterBroker (key 64): removes a broker that is gone from the cluster's
//! registrations. The only registered broker is this node: another id is
//! BROKER_ID_NOT_REGISTERED as in Kafka; unregistering this node, which Kafka would
//! fence, is refused, since a one-node cluster would then have no broker at all.

use kafka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, req: UnregisterBrokerRequest) -> UnregisterBrokerResponse {
    let resp = UnregisterBrokerResponse::default().with_error_message(None);
    if !ctx.authorize(Operation::Alter, Resource::Cluster) {
        return resp.with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let node = ctx.broker.cluster().node_id();
    if req.broker_id.0 != node {
        return resp.with_error_code(ResponseError::BrokerIdNotRegistered.code());
    }
    resp.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(str_bytes(format!(
        "Broker {node} is this node, the only broker of the cluster: it cannot be unregistered while it runs"
    ))))
}
