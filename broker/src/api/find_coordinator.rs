//! FindCoordinator (key 10): this broker coordinates every group and transactional
//! id (key types 0 and 1). v4+ batches keys. Until transactions exist, it is
//! InitProducerId that refuses transactional ids.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

const KEY_GROUP: i8 = 0;
const KEY_TRANSACTION: i8 = 1;

pub fn handle(ctx: &RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let node = ctx.broker.cluster().node_id();
    let (host, port) =
        ctx.broker.cluster().endpoint(&ctx.session.listener).map_or((String::new(), -1), |e| (e.host.clone(), e.port));
    let supported = matches!(req.key_type, KEY_GROUP | KEY_TRANSACTION);
    let error = if supported { 0 } else { ResponseError::InvalidRequest.code() };
    let why = "unknown key type";
    // DESCRIBE on the group or transactional id, as Kafka checks it.
    let refused = |key: &str| match req.key_type {
        KEY_GROUP if !ctx.authorize(Operation::Describe, Resource::Group(key)) => {
            Some(ResponseError::GroupAuthorizationFailed)
        }
        KEY_TRANSACTION if !ctx.authorize(Operation::Describe, Resource::TransactionalId(key)) => {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        }
        _ => None,
    };
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                if let Some(e) = refused(key.as_str()) {
                    return Coordinator::default()
                        .with_key(key)
                        .with_error_code(e.code())
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_message(None);
                }
                let c = Coordinator::default().with_key(key).with_error_code(error);
                if supported {
                    c.with_node_id(BrokerId(node)).with_host(str_bytes(host.clone())).with_port(port)
                } else {
                    c.with_node_id(BrokerId(-1)).with_port(-1).with_error_message(Some(str_bytes(why)))
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if !supported {
        let r = FindCoordinatorResponse::default().with_error_code(error).with_node_id(BrokerId(-1)).with_port(-1);
        return if ctx.version >= 1 { r.with_error_message(Some(str_bytes(why))) } else { r };
    }
    if let Some(e) = refused(req.key.as_str()) {
        return FindCoordinatorResponse::default().with_error_code(e.code()).with_node_id(BrokerId(-1)).with_port(-1);
    }
    FindCoordinatorResponse::default().with_node_id(BrokerId(node)).with_host(str_bytes(host)).with_port(port)
}
