//! A broker of 10,000 partitions (issue 24): after a clean shutdown and after
//! SIGKILL it serves every partition again, led in Metadata and readable from
//! the record each held before the stop.

mod common;

use std::net::TcpStream;

use bytes::Bytes;
use common::{wire, Weir};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

const TOPICS: usize = 100;
const PER_TOPIC: i32 = 100;

fn name(t: usize) -> TopicName {
    TopicName(StrBytes::from_string(format!("scale-{t:03}")))
}

fn value(t: usize, p: i32) -> String {
    format!("topic {t} partition {p}")
}

fn create_and_fill(s: &mut TcpStream) {
    for chunk in (0..TOPICS).collect::<Vec<_>>().chunks(10) {
        let topics = chunk
            .iter()
            .map(|&t| {
                CreatableTopic::default().with_name(name(t)).with_num_partitions(PER_TOPIC).with_replication_factor(1)
            })
            .collect();
        let r: CreateTopicsResponse = wire::call(
            s,
            ApiKey::CreateTopics,
            5,
            &CreateTopicsRequest::default().with_timeout_ms(60_000).with_topics(topics),
        );
        assert!(
            r.topics.iter().all(|t| t.error_code == 0),
            "{:?}",
            r.topics.iter().map(|t| t.error_code).collect::<Vec<_>>()
        );
    }
    for t in 0..TOPICS {
        let partitions = (0..PER_TOPIC)
            .map(|p| {
                PartitionProduceData::default()
                    .with_index(p)
                    .with_records(Some(wire::one_batch(&[value(t, p).as_bytes()])))
            })
            .collect();
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default().with_name(name(t)).with_partition_data(partitions)]);
        let r: ProduceResponse = wire::call(s, ApiKey::Produce, 9, &req);
        for p in &r.responses[0].partition_responses {
            assert_eq!((p.error_code, p.base_offset), (0, 0), "topic {t} partition {}", p.index);
        }
    }
}

/// Every partition is led and hands back its one record.
fn check_all_served(weir: &Weir, after: &str) {
    let mut s = wire::connect(weir);
    let meta: MetadataResponse =
        wire::call(&mut s, ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None));
    let led: usize = meta
        .topics
        .iter()
        .filter(|t| t.name.as_ref().is_some_and(|n| n.0.starts_with("scale-")))
        .map(|t| t.partitions.iter().filter(|p| p.error_code == 0 && p.leader_id.0 >= 0).count())
        .sum();
    assert_eq!(led, TOPICS * PER_TOPIC as usize, "partitions led after {after}");

    let topics = (0..TOPICS)
        .map(|t| {
            FetchTopic::default().with_topic(name(t)).with_partitions(
                (0..PER_TOPIC)
                    .map(|p| {
                        FetchPartition::default().with_partition(p).with_fetch_offset(0).with_partition_max_bytes(4096)
                    })
                    .collect(),
            )
        })
        .collect();
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(64 << 20)
        .with_session_epoch(-1)
        .with_topics(topics);
    let r: FetchResponse = wire::call(&mut s, ApiKey::Fetch, 12, &req);
    let mut served = 0;
    for (t, topic) in r.responses.iter().enumerate() {
        assert_eq!(topic.topic, name(t));
        for p in &topic.partitions {
            assert_eq!(p.error_code, 0, "topic {t} partition {} after {after}", p.partition_index);
            let mut records: Bytes = p.records.clone().unwrap_or_default();
            let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
            let values: Vec<Bytes> =
                sets.iter().flat_map(|s| s.records.iter().filter_map(|r| r.value.clone())).collect();
            assert_eq!(values, [Bytes::from(value(t, p.partition_index))], "after {after}");
            served += 1;
        }
    }
    assert_eq!(served, TOPICS * PER_TOPIC as usize);
}

#[test]
fn ten_thousand_partitions_are_all_served_after_a_clean_restart_and_after_a_crash() {
    let mut weir = Weir::start();
    create_and_fill(&mut wire::connect(&weir));
    check_all_served(&weir, "creation");

    assert!(weir.stop().success());
    weir.restart();
    check_all_served(&weir, "a clean shutdown");

    weir.kill();
    weir.restart();
    check_all_served(&weir, "SIGKILL");
    assert!(weir.stop().success());
}
