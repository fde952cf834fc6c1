//! ShareGroupHeartbeat (key 76): share groups (KIP-932). Joining (epoch 0, with the
//! subscribed topics), leaving (-1) and every heartbeat between; the answer
//! carries the member epoch and, when it is new to the member, its assignment.

use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use kafka_protocol::ResponseError;

use super::{errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::share::{ShareError, ShareHeartbeat};

pub async fn handle(ctx: &RequestContext, req: ShareGroupHeartbeatRequest) -> ShareGroupHeartbeatResponse {
    let refused = |code: ResponseError, message: Option<String>| {
        ShareGroupHeartbeatResponse::default().with_error_code(code.code()).with_error_message(message.map(str_bytes))
    };
    if !ctx.broker.share_groups_enabled() {
        // share.version 0: as Kafka, the API stays listed but is refused.
        return refused(ResponseError::UnsupportedVersion, None);
    }
    let group = req.group_id.0.to_string();
    if !ctx.authorize(Operation::Read, Resource::Group(&group)) {
        return refused(ResponseError::GroupAuthorizationFailed, None);
    }
    if let Some(message) = ctx.undescribable_topics(req.subscribed_topic_names.iter().flatten().map(|t| t.0.as_str())) {
        return refused(ResponseError::TopicAuthorizationFailed, Some(message));
    }
    // One namespace for every kind of group.
    if !ctx.broker.shares().is_share_group(&group) && ctx.broker.groups().group_state(&group).is_some() {
        let e = ShareError::NotShareGroup(group);
        return refused(errors::share(&e), Some(e.to_string()));
    }
    let hb = ShareHeartbeat {
        group,
        member_id: req.member_id.to_string(),
        epoch: req.member_epoch,
        rack_id: req.rack_id.map(|s| s.to_string()),
        topics: req.subscribed_topic_names.map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect()),
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: ctx.client_host(),
    };
    let a = match ctx.broker.shares().heartbeat(hb).await {
        Ok(a) => a,
        Err(e) => return refused(errors::share(&e), Some(e.to_string())),
    };
    let assignment = a.assignment.map(|parts| {
        Assignment::default().with_topic_partitions(
            parts
                .into_iter()
                .filter(|(_, ps)| !ps.is_empty())
                .map(|(id, ps)| TopicPartitions::default().with_topic_id(id).with_partitions(ps.into_iter().collect()))
                .collect(),
        )
    });
    ShareGroupHeartbeatResponse::default()
        .with_member_id(Some(str_bytes(a.member_id)))
        .with_member_epoch(a.epoch)
        .with_heartbeat_interval_ms(a.interval_ms)
        .with_assignment(assignment)
}
