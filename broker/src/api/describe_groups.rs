//! DescribeGroups (key 15).

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource, AUTHORIZED_OPS_OMITTED};

pub fn handle(ctx: &RequestContext, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let coordinator = ctx.broker.groups();
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            let base =
                DescribedGroup::default().with_group_id(id.clone()).with_authorized_operations(AUTHORIZED_OPS_OMITTED);
            if !ctx.authorize(Operation::Describe, Resource::Group(id.0.as_str())) {
                return base.with_error_code(ResponseError::GroupAuthorizationFailed.code()).with_error_message(None);
            }
            if coordinator.is_consumer_group(id.0.as_str()) || ctx.broker.shares().is_share_group(id.0.as_str()) {
                // As Kafka does for every group that is not classic: admin clients
                // then ask ConsumerGroupDescribe or ShareGroupDescribe.
                let msg =
                    (ctx.version >= 6).then(|| str_bytes(format!("Group {} is not a classic group.", id.0.as_str())));
                return base
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(msg)
                    .with_group_state(str_bytes("Dead"));
            }
            match coordinator.describe(id.0.as_str()) {
                None if ctx.version >= 6 => base
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(format!("Group {} not found.", id.0.as_str()))))
                    .with_group_state(str_bytes("Dead")),
                None => base.with_group_state(str_bytes("Dead")),
                Some(d) => base
                    .with_authorized_operations(
                        ctx.authorized_operations(req.include_authorized_operations, Resource::Group(id.0.as_str())),
                    )
                    .with_group_state(str_bytes(d.state.name()))
                    .with_protocol_type(str_bytes(d.protocol_type))
                    .with_protocol_data(str_bytes(d.protocol))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                let dm = DescribedGroupMember::default()
                                    .with_member_id(str_bytes(m.member_id))
                                    .with_client_id(str_bytes(m.client_id))
                                    .with_client_host(str_bytes(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment);
                                if ctx.version >= 4 {
                                    dm.with_group_instance_id(m.instance_id.map(str_bytes))
                                } else {
                                    dm
                                }
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
