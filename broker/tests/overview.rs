//! The in-process handle that the console and the metrics exporter use: a broker
//! opened in this process, topics and commits made through its typed services, and
//! the group overview with its lag.

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_broker::group::{CommitRequest, OffsetToCommit};
use weir_broker::topics::CreateTopic;
use weir_broker::{BrokerConfig, BrokerHandle};
use weir_storage::testutil::simple_batch;
use weir_storage::SystemClock;

fn offset(partition: i32, offset: i64, metadata: Option<&str>) -> OffsetToCommit {
    OffsetToCommit {
        topic: "orders".into(),
        partition,
        offset,
        leader_epoch: -1,
        metadata: metadata.map(str::to_string),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_overview_shows_committed_offsets_and_lag() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerHandle::open(dir.path(), BrokerConfig::default(), Arc::new(SystemClock), vec![]).unwrap();
    let create = CreateTopic {
        name: "orders".into(),
        partitions: 2,
        replication_factor: -1,
        assignments: vec![],
        configs: BTreeMap::new(),
    };
    broker.topics().create(create, false).unwrap();
    let p0 = broker.partitions().get("orders", 0).unwrap();
    p0.append_from_client(&simple_batch(5, 10, 0), 1, None, None).unwrap();

    let commit = CommitRequest {
        group: "billing".into(),
        generation: -1,
        member_id: String::new(),
        instance_id: None,
        offsets: vec![offset(0, 2, None), offset(1, 0, Some("m")), offset(7, 0, None)],
    };
    let results = broker.groups().commit(commit).await.unwrap();
    assert!(results[0].is_ok() && results[1].is_ok());
    assert_eq!(results[2], Err(weir_broker::GroupError::UnknownTopicOrPartition), "no partition 7");

    let all = broker.groups().overviews();
    let g = all.iter().find(|g| g.group_id == "billing").expect("the group is listed");
    assert_eq!((g.group_type, g.state, g.members.len()), ("classic", "Empty", 0));
    let lag: Vec<(i32, i64, Option<i64>, Option<i64>)> =
        g.offsets.iter().map(|o| (o.partition, o.committed, o.log_end, o.lag)).collect();
    assert_eq!(lag, vec![(0, 2, Some(5), Some(3)), (1, 0, Some(0), Some(0))]);
    assert_eq!(g.total_lag(), 3);

    p0.append_from_client(&simple_batch(4, 10, 0), 1, None, None).unwrap();
    let g = broker.groups().overviews().into_iter().find(|g| g.group_id == "billing").unwrap();
    assert_eq!(g.total_lag(), 7, "lag follows the high watermark");
    broker.close().unwrap();
}
