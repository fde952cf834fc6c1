//! ListGroups (key 16), with state (v4+) and type (v5+) filters.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{str_bytes, RequestContext};

pub fn handle(ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    let groups = ctx
        .shared
        .groups()
        .list()
        .into_iter()
        .filter(|(_, _, st, _)| states.is_empty() || states.contains(&st.to_lowercase()))
        .filter(|(.., ty)| types.is_empty() || types.iter().any(|t| t == ty))
        .map(|(id, ptype, st, ty)| {
            let g = ListedGroup::default().with_group_id(GroupId(str_bytes(id))).with_protocol_type(str_bytes(ptype));
            let g = if ctx.version >= 4 { g.with_group_state(str_bytes(st)) } else { g };
            if ctx.version >= 5 {
                g.with_group_type(str_bytes(ty))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
