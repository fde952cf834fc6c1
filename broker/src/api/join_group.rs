//! JoinGroup (key 11).

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::group::JoinRequest;

pub async fn handle(ctx: &RequestContext, req: JoinGroupRequest) -> JoinGroupResponse {
    if !ctx.authorize(Operation::Read, Resource::Group(req.group_id.0.as_str())) {
        return JoinGroupResponse::default()
            .with_error_code(kafka_protocol::ResponseError::GroupAuthorizationFailed.code())
            .with_generation_id(-1)
            .with_member_id(req.member_id);
    }
    if ctx.broker.shares().is_share_group(req.group_id.0.as_str()) {
        // One namespace for every kind of group: a share group takes no classic members.
        return JoinGroupResponse::default()
            .with_error_code(kafka_protocol::ResponseError::InconsistentGroupProtocol.code())
            .with_generation_id(-1)
            .with_member_id(req.member_id);
    }
    let session = req.session_timeout_ms.max(0) as i64;
    // v0 has no rebalance timeout: it is the session timeout.
    let rebalance = if ctx.version >= 1 { req.rebalance_timeout_ms.max(0) as i64 } else { session };
    let join = JoinRequest {
        group: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: ctx.client_host(),
        session_timeout_ms: session,
        rebalance_timeout_ms: rebalance,
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        require_known_member_id: ctx.version >= 4,
    };
    let r = ctx.broker.groups().join(join).await;
    let mut resp = JoinGroupResponse::default()
        .with_error_code(r.error.as_ref().map_or(0, |e| errors::group(e).code()))
        .with_generation_id(r.generation)
        .with_leader(str_bytes(r.leader))
        .with_member_id(str_bytes(r.member_id))
        .with_protocol_name(Some(str_bytes(r.protocol.unwrap_or_default())))
        .with_members(
            r.members
                .into_iter()
                .map(|(id, inst, meta)| {
                    let m = JoinGroupResponseMember::default().with_member_id(str_bytes(id)).with_metadata(meta);
                    if ctx.version >= 5 {
                        m.with_group_instance_id(inst.map(str_bytes))
                    } else {
                        m
                    }
                })
                .collect(),
        );
    if ctx.version >= 7 {
        resp = resp.with_protocol_type(r.protocol_type.map(str_bytes));
    }
    resp
}
