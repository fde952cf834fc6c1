//! ConsumerGroupDescribe (key 69): KIP-848 consumer groups with their epochs,
//! members, current and target assignments. Classic and unknown groups get
//! GROUP_ID_NOT_FOUND, on which admin clients fall back to DescribeGroups. A
//! group whose current or target assignments name a topic the caller may not
//! describe is refused whole (TOPIC_AUTHORIZATION_FAILED), as Kafka does.

use kafka_protocol::messages::consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{str_bytes, RequestContext, GROUP_TOPICS_UNDESCRIBABLE};
use crate::auth::{Operation, Resource, AUTHORIZED_OPS_OMITTED};

fn assignment(parts: Vec<(Uuid, String, Vec<i32>)>) -> Assignment {
    Assignment::default().with_topic_partitions(
        parts
            .into_iter()
            .map(|(id, name, ps)| {
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partitions(ps)
            })
            .collect(),
    )
}

pub fn handle(ctx: &RequestContext, req: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
    let coordinator = ctx.broker.groups();
    let enabled = ctx.broker.consumer_protocol_enabled();
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            let base =
                DescribedGroup::default().with_group_id(id.clone()).with_authorized_operations(AUTHORIZED_OPS_OMITTED);
            if !enabled {
                // group.version 0: refused, as Kafka refuses it.
                return base.with_error_code(ResponseError::UnsupportedVersion.code()).with_error_message(None);
            }
            if !ctx.authorize(Operation::Describe, Resource::Group(id.0.as_str())) {
                return base.with_error_code(ResponseError::GroupAuthorizationFailed.code()).with_error_message(None);
            }
            let Some(d) = coordinator.describe_consumer_group(id.0.as_str()) else {
                return base
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(format!("Group {} is not a consumer group.", id.0.as_str()))))
                    .with_group_state(str_bytes("Dead"));
            };
            let assigned = d.members.iter().flat_map(|m| m.assignment.iter().chain(&m.target));
            if !ctx.may_describe_group_topics(assigned.map(|(_, name, _)| name.as_str())) {
                return base
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(str_bytes(GROUP_TOPICS_UNDESCRIBABLE)));
            }
            let ops = ctx.authorized_operations(req.include_authorized_operations, Resource::Group(id.0.as_str()));
            let base = base.with_authorized_operations(ops);
            let members = d
                .members
                .into_iter()
                .map(|m| {
                    Member::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_instance_id(m.instance_id.map(str_bytes))
                        .with_rack_id(m.rack_id.map(str_bytes))
                        .with_member_epoch(m.epoch)
                        .with_client_id(str_bytes(m.client_id))
                        .with_client_host(str_bytes(m.client_host))
                        .with_subscribed_topic_names(
                            m.topic_names.into_iter().map(|t| TopicName(str_bytes(t))).collect(),
                        )
                        .with_subscribed_topic_regex(m.regex.map(str_bytes))
                        .with_assignment(assignment(m.assignment))
                        .with_target_assignment(assignment(m.target))
                        // v1: 1 = a member of the consumer protocol (0 = classic).
                        .with_member_type(1)
                })
                .collect();
            base.with_group_state(str_bytes(d.state))
                .with_group_epoch(d.epoch)
                .with_assignment_epoch(d.assignment_epoch)
                .with_assignor_name(str_bytes(d.assignor))
                .with_members(members)
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
