//! SyncGroup (key 14).

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::ResponseError;

use super::{errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

pub async fn handle(ctx: &RequestContext, req: SyncGroupRequest) -> SyncGroupResponse {
    if !ctx.authorize(Operation::Read, Resource::Group(req.group_id.0.as_str())) {
        return SyncGroupResponse::default().with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let groups = ctx.broker.groups();
    let group = req.group_id.0.to_string();
    // v5+: the protocol the member believes in must be the group's.
    if ctx.version >= 5 {
        if let Some(d) = groups.describe(&group) {
            let type_ok = req.protocol_type.as_ref().is_none_or(|t| t.as_str() == d.protocol_type);
            if !type_ok {
                return SyncGroupResponse::default().with_error_code(ResponseError::InconsistentGroupProtocol.code());
            }
        }
    }
    let r = groups
        .sync(
            &group,
            req.generation_id,
            req.member_id.as_str(),
            req.group_instance_id.as_ref().map(|s| s.as_str()),
            req.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect(),
        )
        .await;
    let code = r.error.as_ref().map_or(0, |e| errors::group(e).code());
    let mut resp = SyncGroupResponse::default().with_error_code(code).with_assignment(r.assignment);
    if ctx.version >= 5 {
        resp = resp.with_protocol_type(r.protocol_type.map(str_bytes)).with_protocol_name(r.protocol.map(str_bytes));
    }
    resp
}
