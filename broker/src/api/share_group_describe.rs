//! ShareGroupDescribe (key 77): share groups with their epochs and members, each
//! with its subscription and assignment. Other and unknown groups get
//! GROUP_ID_NOT_FOUND. A group whose assignments name a topic the caller may
//! not describe is refused whole (TOPIC_AUTHORIZATION_FAILED), as Kafka does.

use kafka_protocol::messages::share_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{ShareGroupDescribeRequest, ShareGroupDescribeResponse, TopicName};
use kafka_protocol::ResponseError;
use std::collections::HashMap;
use uuid::Uuid;

use super::{str_bytes, RequestContext, GROUP_TOPICS_UNDESCRIBABLE};
use crate::auth::{Operation, Resource, AUTHORIZED_OPS_OMITTED};
use crate::share::group::Assignment as Owned;

/// `owned` with its topics' names (`names`, resolved once per group); a topic
/// deleted meanwhile is left out.
fn assignment(names: &HashMap<Uuid, String>, owned: &Owned) -> Assignment {
    Assignment::default().with_topic_partitions(
        owned
            .iter()
            .filter_map(|(id, ps)| {
                let name = names.get(id)?;
                Some(
                    TopicPartitions::default()
                        .with_topic_id(*id)
                        .with_topic_name(TopicName(str_bytes(name.clone())))
                        .with_partitions(ps.iter().copied().collect()),
                )
            })
            .collect(),
    )
}

pub fn handle(ctx: &RequestContext, req: ShareGroupDescribeRequest) -> ShareGroupDescribeResponse {
    let enabled = ctx.broker.share_groups_enabled();
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            let name = id.0.to_string();
            let base = DescribedGroup::default().with_group_id(id).with_authorized_operations(AUTHORIZED_OPS_OMITTED);
            if !enabled {
                return base.with_error_code(ResponseError::UnsupportedVersion.code());
            }
            if !ctx.authorize(Operation::Describe, Resource::Group(&name)) {
                return base.with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            let Some(d) = ctx.broker.shares().describe(&name) else {
                return base
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(format!("Group {name} is not a share group."))))
                    .with_group_state(str_bytes("Dead"));
            };
            let topics = ctx.broker.topics();
            let names: HashMap<Uuid, String> = d
                .members
                .iter()
                .flat_map(|(_, m)| m.assignment.keys())
                .filter_map(|id| topics.by_id(id).map(|t| (*id, t.name.clone())))
                .collect();
            if !ctx.may_describe_group_topics(names.values().map(String::as_str)) {
                return base
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(str_bytes(GROUP_TOPICS_UNDESCRIBABLE)));
            }
            let ops = ctx.authorized_operations(req.include_authorized_operations, Resource::Group(&name));
            let members = d
                .members
                .iter()
                .map(|(id, m)| {
                    Member::default()
                        .with_member_id(str_bytes(id.clone()))
                        .with_rack_id(m.rack_id.clone().map(str_bytes))
                        .with_member_epoch(m.epoch)
                        .with_client_id(str_bytes(m.client_id.clone()))
                        .with_client_host(str_bytes(m.client_host.clone()))
                        .with_subscribed_topic_names(m.topics.iter().map(|t| TopicName(str_bytes(t.clone()))).collect())
                        .with_assignment(assignment(&names, &m.assignment))
                })
                .collect();
            base.with_authorized_operations(ops)
                .with_group_state(str_bytes(d.state))
                .with_group_epoch(d.epoch)
                .with_assignment_epoch(d.epoch)
                .with_assignor_name(str_bytes("simple"))
                .with_members(members)
        })
        .collect();
    ShareGroupDescribeResponse::default().with_groups(groups)
}
