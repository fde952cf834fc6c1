//! LeaveGroup (key 13): one member (v0-2) or a batch with instance ids (v3+).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::{errors, RequestContext};
use crate::auth::{Operation, Resource};

pub async fn handle(ctx: &RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    if !ctx.authorize(Operation::Read, Resource::Group(req.group_id.0.as_str())) {
        return LeaveGroupResponse::default()
            .with_error_code(kafka_protocol::ResponseError::GroupAuthorizationFailed.code());
    }
    let members: Vec<(String, Option<String>)> = if ctx.version >= 3 {
        req.members
            .iter()
            .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|s| s.to_string())))
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let n = members.len();
    let (top, codes): (i16, Vec<i16>) = match ctx.broker.groups().leave(req.group_id.0.as_str(), members).await {
        Ok(results) => (0, results.iter().map(errors::group_code).collect()),
        // The whole request failed: every member gets the same answer.
        Err(e) => (errors::group(&e).code(), vec![errors::group(&e).code(); n]),
    };
    if ctx.version < 3 {
        return LeaveGroupResponse::default().with_error_code(if top != 0 { top } else { codes[0] });
    }
    let members = req
        .members
        .into_iter()
        .zip(codes)
        .map(|(m, e)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(e)
        })
        .collect();
    LeaveGroupResponse::default().with_error_code(top).with_members(members)
}
