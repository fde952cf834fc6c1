//! DescribeLogDirs (key 35): the one data directory, its partitions and sizes.

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::{str_bytes, RequestContext};

fn disk_space(path: &std::path::Path) -> (i64, i64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return (-1, -1) };
    // SAFETY: statvfs writes into the zeroed struct; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return (-1, -1);
    }
    let frsize = st.f_frsize as i64;
    (st.f_blocks as i64 * frsize, st.f_bavail as i64 * frsize)
}

pub fn handle(ctx: &RequestContext, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    if !ctx.authorize(crate::auth::Operation::Describe, crate::auth::Resource::Cluster) {
        return DescribeLogDirsResponse::default()
            .with_error_code(kafka_protocol::ResponseError::ClusterAuthorizationFailed.code());
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> =
        req.topics.map(|ts| ts.into_iter().map(|t| (t.topic.0.to_string(), t.partitions)).collect());
    let mut topics = Vec::new();
    for t in ctx.broker.topics().list() {
        let parts: Vec<i32> = match &wanted {
            None => (0..t.partitions).collect(),
            Some(w) => match w.iter().find(|(n, _)| *n == t.name) {
                Some((_, ps)) => ps.iter().copied().filter(|p| *p < t.partitions).collect(),
                None => continue,
            },
        };
        let partitions = parts
            .into_iter()
            .filter_map(|p| {
                let part = ctx.broker.partitions().get(&t.name, p)?;
                Some(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(p)
                        .with_partition_size(part.size_bytes() as i64),
                )
            })
            .collect();
        topics.push(
            DescribeLogDirsTopic::default().with_name(TopicName(str_bytes(t.name.clone()))).with_partitions(partitions),
        );
    }
    let data_dir = ctx.broker.cluster().data_dir();
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.clone());
    let (total, usable) = disk_space(&dir);
    let result = DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(total)
        .with_usable_bytes(usable);
    DescribeLogDirsResponse::default().with_results(vec![result])
}
