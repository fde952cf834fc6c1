//! AlterReplicaLogDirs (key 34). Weir keeps every partition in its one data
//! directory: moving a replica to that directory is already done (success, as Kafka
//! answers when the replica is in the destination), any other path is
//! LOG_DIR_NOT_FOUND, and a partition the broker does not have is
//! UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse};
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, req: AlterReplicaLogDirsRequest) -> AlterReplicaLogDirsResponse {
    let data_dir = ctx.broker.cluster().data_dir();
    let ours = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.clone());
    let allowed = ctx.authorize(Operation::Alter, Resource::Cluster);
    let mut results = Vec::new();
    for dir in req.dirs {
        let path = std::path::PathBuf::from(dir.path.as_str());
        let same = std::fs::canonicalize(&path).is_ok_and(|p| p == ours);
        for t in dir.topics {
            let name = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    let e = if !allowed {
                        ResponseError::ClusterAuthorizationFailed.code()
                    } else if !ctx.broker.topics().has_partition(&name, p) {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else if !same {
                        ResponseError::LogDirNotFound.code()
                    } else {
                        0
                    };
                    AlterReplicaLogDirPartitionResult::default().with_partition_index(p).with_error_code(e)
                })
                .collect();
            results.push(AlterReplicaLogDirTopicResult::default().with_topic_name(t.name).with_partitions(partitions));
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
}
