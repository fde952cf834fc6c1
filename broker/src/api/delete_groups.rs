//! DeleteGroups (key 42): groups without members, with all their offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::{errors, RequestContext};
use crate::auth::{Operation, Resource};

pub async fn handle(ctx: &RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let coordinator = ctx.broker.groups();
    let mut results = Vec::with_capacity(req.groups_names.len());
    for g in req.groups_names {
        let shares = ctx.broker.shares();
        let code = match ctx.authorize(Operation::Delete, Resource::Group(g.0.as_str())) {
            true if shares.is_share_group(g.0.as_str()) => match shares.delete(g.0.as_str()).await {
                Ok(()) => 0,
                Err(e) => errors::share(&e).code(),
            },
            true => errors::group_code(&coordinator.delete_group(g.0.as_str()).await),
            false => kafka_protocol::ResponseError::GroupAuthorizationFailed.code(),
        };
        results.push(DeletableGroupResult::default().with_group_id(g).with_error_code(code));
    }
    DeleteGroupsResponse::default().with_results(results)
}
