//! ConsumerGroupHeartbeat (key 68): KIP-848 consumer groups. Joining, leaving and
//! every heartbeat in between; the answer carries the member epoch and, when it
//! changed or the member is out of step, the partitions it should own now.

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::{errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::group::assignor;
use crate::group::ConsumerHeartbeat;

pub async fn handle(ctx: &RequestContext, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
    if !ctx.broker.consumer_protocol_enabled() {
        // group.version 0: as Kafka, the API stays listed but is refused.
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(kafka_protocol::ResponseError::UnsupportedVersion.code())
            .with_error_message(None);
    }
    let refused = |code: kafka_protocol::ResponseError, message: Option<String>| {
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code.code())
            .with_error_message(message.map(str_bytes))
    };
    if !ctx.authorize(Operation::Read, Resource::Group(req.group_id.0.as_str())) {
        return refused(kafka_protocol::ResponseError::GroupAuthorizationFailed, None);
    }
    // Kafka checks DESCRIBE on every subscribed topic name.
    if let Some(message) = ctx.undescribable_topics(req.subscribed_topic_names.iter().flatten().map(|t| t.0.as_str())) {
        return refused(kafka_protocol::ResponseError::TopicAuthorizationFailed, Some(message));
    }
    if ctx.broker.shares().is_share_group(req.group_id.0.as_str()) {
        let message = format!("Group {} is not a consumer group.", req.group_id.0.as_str());
        return refused(kafka_protocol::ResponseError::GroupIdNotFound, Some(message));
    }
    let owned = req.topic_partitions.map(|tps| {
        let mut a = assignor::Assignment::new();
        for tp in tps {
            a.entry(tp.topic_id).or_default().extend(tp.partitions);
        }
        a
    });
    let hb = ConsumerHeartbeat {
        group: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        epoch: req.member_epoch,
        instance_id: req.instance_id.map(|s| s.to_string()),
        rack_id: req.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        topic_names: req.subscribed_topic_names.map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect()),
        regex: req.subscribed_topic_regex.map(|s| s.to_string()),
        assignor: req.server_assignor.map(|s| s.to_string()),
        owned,
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: ctx.client_host(),
        version: ctx.version,
    };
    let a = match ctx.broker.groups().consumer_heartbeat(hb).await {
        Ok(a) => a,
        Err(e) => {
            return ConsumerGroupHeartbeatResponse::default()
                .with_error_code(errors::group(&e).code())
                .with_error_message(Some(str_bytes(e.to_string())))
        }
    };
    let resp = ConsumerGroupHeartbeatResponse::default()
        .with_heartbeat_interval_ms(a.interval_ms)
        .with_member_epoch(a.epoch)
        .with_member_id(Some(str_bytes(a.member_id)).filter(|m| !m.is_empty()));
    let assignment = a.assignment.map(|parts| {
        let topic_partitions = parts
            .into_iter()
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(id, ps)| TopicPartitions::default().with_topic_id(id).with_partitions(ps.into_iter().collect()))
            .collect();
        Assignment::default().with_topic_partitions(topic_partitions)
    });
    resp.with_assignment(assignment)
}
