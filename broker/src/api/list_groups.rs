//! ListGroups (key 16), with state (v4+) and type (v5+) filters.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

/// Every group with DESCRIBE on the cluster; otherwise only the groups the
/// principal may describe, the others left out silently (as Kafka).
pub fn handle(ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let all = ctx.may(Operation::Describe, Resource::Cluster);
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    let shares = ctx.broker.shares().list().into_iter().map(|(group_id, state)| crate::group::ListedGroup {
        group_id,
        protocol_type: "share".to_string(),
        state,
        group_type: "share",
    });
    let groups = ctx
        .broker
        .groups()
        .list()
        .into_iter()
        .chain(shares)
        .filter(|g| states.is_empty() || states.contains(&g.state.to_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        .filter(|g| all || ctx.may(Operation::Describe, Resource::Group(&g.group_id)))
        .map(|l| {
            let g = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(l.group_id)))
                .with_protocol_type(str_bytes(l.protocol_type));
            let g = if ctx.version >= 4 { g.with_group_state(str_bytes(l.state)) } else { g };
            if ctx.version >= 5 {
                g.with_group_type(str_bytes(l.group_type))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
