//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3), earliest
//! local (-4), latest tiered (-5, nothing is tiered: the log end), or the first offset
//! whose timestamp is at least T.

use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::error::storage_error;

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL: i64 = -4;
pub const LATEST_TIERED: i64 = -5;

pub fn handle(ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let shared = &ctx.shared;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let base = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            let Some(log) = shared.partition(&name, p.partition_index) else {
                parts.push(base.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            if p.current_leader_epoch > 0 {
                parts.push(base.with_error_code(ResponseError::UnknownLeaderEpoch.code()));
                continue;
            }
            let found = match p.timestamp {
                LATEST | LATEST_TIERED => Ok(Some((-1, log.log_end_offset()))),
                EARLIEST | EARLIEST_LOCAL => Ok(Some((-1, log.log_start_offset()))),
                MAX_TIMESTAMP => Ok(log.max_timestamp().map(|t| (t.timestamp, t.offset))),
                ts if ts >= 0 => log.offset_for_timestamp(ts).map(|o| o.map(|t| (t.timestamp, t.offset))),
                _ => {
                    parts.push(base.with_error_code(ResponseError::InvalidRequest.code()));
                    continue;
                }
            };
            parts.push(match found {
                Ok(Some((ts, offset))) => {
                    // leader_epoch exists from v4; older versions must leave it unset.
                    let epoch = if ctx.version >= 4 { 0 } else { -1 };
                    base.with_timestamp(ts).with_offset(offset).with_leader_epoch(epoch)
                }
                Ok(None) => base,
                Err(e) => base.with_error_code(storage_error(&e).code()),
            });
        }
        topics.push(ListOffsetsTopicResponse::default().with_name(t.name).with_partitions(parts));
    }
    ListOffsetsResponse::default().with_topics(topics)
}
