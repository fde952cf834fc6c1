//! DeleteRecords (key 21): moves the log start offset; -1 means the high watermark.

use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::ResponseError;

use super::{blocking, errors, RequestContext};
use crate::auth::{Operation, Resource};

pub async fn handle(ctx: &RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let allowed = ctx.authorize(Operation::Delete, Resource::Topic(&name));
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let base =
                DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index).with_low_watermark(-1);
            if !allowed {
                parts.push(base.with_error_code(ResponseError::TopicAuthorizationFailed.code()));
                continue;
            }
            let Some(part) = ctx.broker.partitions().get(&name, p.partition_index).filter(|p| !p.is_removed()) else {
                parts.push(base.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            let offset = p.offset;
            let r = blocking(move || {
                // -1: the high watermark; nothing above it may be deleted.
                let hw = part.high_watermark();
                let target = if offset == -1 { hw } else { offset };
                if target < 0 || target > hw {
                    return Err(None);
                }
                part.log().delete_records_before(target).map_err(Some)
            })
            .await;
            parts.push(match r {
                Ok(low) => base.with_low_watermark(low),
                Err(None) => base.with_error_code(ResponseError::OffsetOutOfRange.code()),
                Err(Some(e)) => base.with_error_code(errors::storage(&e).code()),
            });
        }
        topics.push(DeleteRecordsTopicResult::default().with_name(t.name).with_partitions(parts));
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
