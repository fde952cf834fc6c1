//! ShareAcknowledge (key 79): a share-group member's acknowledgements outside a
//! fetch (a commit, or the final request that ends its share session). The
//! session's epoch is checked and moved on as a ShareFetch's is; what changed is
//! on disk before the answer.

use kafka_protocol::messages::share_acknowledge_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::share_fetch::{ack_batches, ack_code, checked, node_endpoints, note_session, resolve};
use super::{errors, str_bytes, RequestContext};

fn refused(code: ResponseError, message: Option<String>) -> ShareAcknowledgeResponse {
    ShareAcknowledgeResponse::default().with_error_code(code.code()).with_error_message(message.map(str_bytes))
}

pub async fn handle(ctx: &RequestContext, req: ShareAcknowledgeRequest) -> ShareAcknowledgeResponse {
    let (group, member) = match checked(ctx, req.group_id.as_ref(), req.member_id.as_ref()) {
        Ok(ids) => ids,
        Err((code, message)) => return refused(code, message),
    };
    let shares = ctx.broker.shares().clone();
    let closing = match shares.acknowledge_session(&group, &member, req.share_session_epoch, ctx.session.id) {
        Ok(closing) => {
            if !closing {
                note_session(ctx, &group, &member);
            }
            closing
        }
        Err(e) => return refused(errors::share_session(&e), None),
    };
    let mut results: Vec<(Uuid, i32, i16)> = Vec::new();
    let mut acks = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            match resolve(ctx, t.topic_id, p.partition_index) {
                Ok(_) => {
                    let batches = p
                        .acknowledgement_batches
                        .iter()
                        .map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types[..]));
                    acks.push((t.topic_id, p.partition_index, ack_batches(batches)));
                }
                Err(e) => results.push((t.topic_id, p.partition_index, e.code())),
            }
        }
    }
    // A closing session gives back what the member still holds.
    for (t, p, o) in shares.acknowledge(&group, &member, acks, closing).await {
        results.push((t, p, ack_code(o)));
    }
    let node = ctx.broker.cluster().node_id();
    let mut responses: Vec<ShareAcknowledgeTopicResponse> = Vec::new();
    for (topic_id, index, code) in results {
        let epoch = resolve(ctx, topic_id, index).map(|p| p.leader_epoch()).unwrap_or(-1);
        let answer = PartitionData::default()
            .with_partition_index(index)
            .with_error_code(code)
            .with_current_leader(LeaderIdAndEpoch::default().with_leader_id(node).with_leader_epoch(epoch));
        match responses.iter_mut().find(|r| r.topic_id == topic_id) {
            Some(r) => r.partitions.push(answer),
            None => responses
                .push(ShareAcknowledgeTopicResponse::default().with_topic_id(topic_id).with_partitions(vec![answer])),
        }
    }
    let endpoints = node_endpoints(ctx)
        .into_iter()
        .map(|e| NodeEndpoint::default().with_node_id(e.node_id).with_host(e.host).with_port(e.port))
        .collect();
    ShareAcknowledgeResponse::default().with_responses(responses).with_node_endpoints(endpoints)
}
