//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3), earliest
//! local (-4), latest tiered (-5, nothing is tiered: the log end), or the first offset
//! whose timestamp is at least T.

use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use super::{errors, RequestContext};
use crate::auth::{Operation, Resource};

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL: i64 = -4;
pub const LATEST_TIERED: i64 = -5;

pub fn handle(ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let read_committed = ctx.version >= 2 && req.isolation_level == 1;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let allowed = ctx.authorize(Operation::Describe, Resource::Topic(&name));
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let base = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            if !allowed {
                parts.push(base.with_error_code(ResponseError::TopicAuthorizationFailed.code()));
                continue;
            }
            let Some(part) = ctx.broker.partitions().get(&name, p.partition_index).filter(|p| !p.is_removed()) else {
                parts.push(base.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            if p.current_leader_epoch > part.leader_epoch() {
                parts.push(base.with_error_code(ResponseError::UnknownLeaderEpoch.code()));
                continue;
            }
            let found = match p.timestamp {
                LATEST | LATEST_TIERED if read_committed => Ok(Some((-1, part.last_stable_offset()))),
                LATEST | LATEST_TIERED => Ok(Some((-1, part.high_watermark()))),
                EARLIEST | EARLIEST_LOCAL => Ok(Some((-1, part.log_start_offset()))),
                MAX_TIMESTAMP => Ok(part.log().max_timestamp().map(|t| (t.timestamp, t.offset))),
                ts if ts >= 0 => part.log().offset_for_timestamp(ts).map(|o| o.map(|t| (t.timestamp, t.offset))),
                _ => {
                    parts.push(base.with_error_code(ResponseError::InvalidRequest.code()));
                    continue;
                }
            };
            parts.push(match found {
                Ok(Some((ts, offset))) => {
                    // leader_epoch exists from v4; older versions must leave it unset.
                    let epoch = if ctx.version >= 4 { part.leader_epoch() } else { -1 };
                    base.with_timestamp(ts).with_offset(offset).with_leader_epoch(epoch)
                }
                Ok(None) => base,
                Err(e) => base.with_error_code(errors::storage(&e).code()),
            });
        }
        topics.push(ListOffsetsTopicResponse::default().with_name(t.name).with_partitions(parts));
    }
    ListOffsetsResponse::default().with_topics(topics)
}
