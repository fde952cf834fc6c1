//! Heartbeat (key 12).

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::{errors, RequestContext};
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    if !ctx.authorize(Operation::Read, Resource::Group(req.group_id.0.as_str())) {
        return HeartbeatResponse::default()
            .with_error_code(kafka_protocol::ResponseError::GroupAuthorizationFailed.code());
    }
    let result = ctx.broker.groups().heartbeat(
        req.group_id.0.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_ref().map(|s| s.as_str()),
    );
    HeartbeatResponse::default().with_error_code(errors::group_code(&result))
}
