//! ListGroups (key 16), with state (v4+) and type (v5+) filters.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{str_bytes, RequestContext};

/// Every group here speaks the classic protocol.
const GROUP_TYPE: &str = "classic";

pub fn handle(ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    let groups = ctx
        .shared
        .groups()
        .list()
        .into_iter()
        .filter(|(_, _, st)| states.is_empty() || states.contains(&st.name().to_lowercase()))
        .filter(|_| types.is_empty() || types.iter().any(|t| t == GROUP_TYPE))
        .map(|(id, ptype, st)| {
            let g = ListedGroup::default().with_group_id(GroupId(str_bytes(id))).with_protocol_type(str_bytes(ptype));
            let g = if ctx.version >= 4 { g.with_group_state(str_bytes(st.name())) } else { g };
            if ctx.version >= 5 {
                g.with_group_type(str_bytes(GROUP_TYPE))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
