//! The in-process handle that the console and the metrics exporter use: a broker
//! started in this process, topics and commits made through `Shared`, and the group
//! overview with its lag.

use std::collections::BTreeMap;

use weir_broker::group::CommitRequest;
use weir_broker::topics::CreateTopic;
use weir_broker::{Broker, BrokerConfig, BrokerOptions};
use weir_storage::testutil::simple_batch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_overview_shows_committed_offsets_and_lag() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(BrokerOptions {
        data_dir: dir.path().to_path_buf(),
        kafka_addr: Some("127.0.0.1:0".into()),
        config: BrokerConfig::default(),
    })
    .await
    .unwrap();
    let shared = broker.shared().clone();
    let create = CreateTopic {
        name: "orders".into(),
        partitions: 2,
        replication_factor: -1,
        assignments: vec![],
        configs: BTreeMap::new(),
    };
    let s = shared.clone();
    tokio::task::spawn_blocking(move || s.create_topic(create, false)).await.unwrap().unwrap();
    let log = shared.partition("orders", 0).unwrap();
    log.append(&simple_batch(5, 10, 0)).unwrap();

    let commit = CommitRequest {
        version: 8,
        group: "billing".into(),
        generation: -1,
        member_id: String::new(),
        instance_id: None,
        offsets: vec![("orders".into(), 0, 2, -1, None), ("orders".into(), 1, 0, -1, Some("m".into()))],
    };
    let s = shared.clone();
    let errors = shared
        .groups()
        .commit(commit, move |t, p| s.meta.topic(t).is_some_and(|m| p >= 0 && p < m.partitions))
        .await
        .unwrap();
    assert_eq!(errors, vec![0, 0]);

    let all = shared.group_overviews();
    let g = all.iter().find(|g| g.group_id == "billing").expect("the group is listed");
    assert_eq!((g.group_type, g.state, g.members.len()), ("classic", "Empty", 0));
    let lag: Vec<(i32, i64, Option<i64>, Option<i64>)> =
        g.offsets.iter().map(|o| (o.partition, o.committed, o.log_end, o.lag)).collect();
    assert_eq!(lag, vec![(0, 2, Some(5), Some(3)), (1, 0, Some(0), Some(0))]);
    assert_eq!(g.total_lag(), 3);

    log.append(&simple_batch(4, 10, 0)).unwrap();
    let g = shared.group_overviews().into_iter().find(|g| g.group_id == "billing").unwrap();
    assert_eq!(g.total_lag(), 7, "lag follows the log end");
    broker.shutdown().await.unwrap();
}
