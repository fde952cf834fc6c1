//! A disk error on one partition takes only that log offline: its produce and
//! fetch requests get KAFKA_STORAGE_ERROR, Metadata shows it without a leader
//! (its replica offline), the console's metrics count it, and every other
//! partition, the registry and new topics go on working. The error here is real:
//! the partition's directory is removed under the running broker, so its next
//! segment roll fails with ENOENT.

mod common;

use common::wire::*;
use common::{http, Weir};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

fn create(s: &mut std::net::TcpStream, name: &str) {
    create_topic(s, name, 1, &[("segment.bytes", "2048")]);
}

/// Fetch v12 of partition 0 of `topic` from offset 0: the partition's error code.
fn fetch_error(s: &mut std::net::TcpStream, topic: &'static str) -> i16 {
    let req = FetchRequest::default().with_max_wait_ms(0).with_min_bytes(1).with_topics(vec![FetchTopic::default()
        .with_topic(TopicName(StrBytes::from_static_str(topic)))
        .with_partitions(vec![FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(0)
            .with_partition_max_bytes(1 << 20)])]);
    let r: FetchResponse = call(s, ApiKey::Fetch, 12, &req);
    r.responses[0].partitions[0].error_code
}

/// Metadata v12 of `topic`'s partition 0: (error code, leader, offline replicas).
fn leader_of(s: &mut std::net::TcpStream, topic: &'static str) -> (i16, i32, Vec<i32>) {
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str(topic))))
    ]));
    let r: MetadataResponse = call(s, ApiKey::Metadata, 12, &req);
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.leader_id.0, p.offline_replicas.iter().map(|b| b.0).collect())
}

#[test]
fn an_io_error_on_one_partition_takes_only_its_log_offline() {
    let mut weir = Weir::start();
    let mut s = connect(&weir);
    create(&mut s, "broken");
    create(&mut s, "healthy");
    let value = vec![b'v'; 600];
    for topic in ["broken", "healthy"] {
        assert_eq!(produce(&mut s, topic, one_batch(&[&value[..]])), (0, 0));
    }
    let node = leader_of(&mut s, "healthy").1;
    assert_eq!(leader_of(&mut s, "broken"), (0, node, vec![]));

    std::fs::remove_dir_all(weir.data_dir.join("broken-0")).unwrap();
    // Appends go on into the open segment until it is full and must roll.
    let mut errors = Vec::new();
    for _ in 0..8 {
        errors.push(produce(&mut s, "broken", one_batch(&[&value[..]])).0);
    }
    let first = errors.iter().position(|&e| e != 0).expect("a roll failed");
    assert!(errors[first..].iter().all(|&e| e == 56), "KAFKA_STORAGE_ERROR from the failure on: {errors:?}");
    assert_eq!(fetch_error(&mut s, "broken"), 56, "an offline log is not read either");
    assert_eq!(leader_of(&mut s, "broken"), (5, -1, vec![node]), "LEADER_NOT_AVAILABLE, its replica offline");

    // Everything else works.
    assert_eq!(produce(&mut s, "healthy", one_batch(&[&value[..]])), (0, 1));
    assert_eq!(fetch_error(&mut s, "healthy"), 0);
    assert_eq!(leader_of(&mut s, "healthy"), (0, node, vec![]));
    create(&mut s, "fresh");
    assert_eq!(produce(&mut s, "fresh", one_batch(&[b"x"])), (0, 0));
    let schema = json!({"schema": "\"string\""});
    assert_eq!(http::post(&weir.registry, "/subjects/fresh-value/versions", &schema).status, 200);
    let metrics = http::get(&weir.console, "/metrics").body;
    assert!(metrics.contains("\nweir_offline_partitions 1\n"), "{metrics}");
    // An offline log does not close cleanly, so the broker exits non-zero and
    // recovers its logs at the next start.
    assert!(!weir.stop().success());
}
