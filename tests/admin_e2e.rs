//! End-to-end, raw protocol: the admin and data APIs' error paths and options that
//! client libraries rarely exercise: CreateTopics validation and `validate_only`,
//! DeleteTopics by id, Metadata auto-creation rules, DescribeConfigs synonyms,
//! concurrent IncrementalAlterConfigs, and the produce and fetch error codes.

mod common;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::wire::sb;
use common::{wire, Weir};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use uuid::Uuid;

fn topic_req(name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(TopicName(sb(name)))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig::default().with_name(sb(k)).with_value(Some(sb(v))))
                .collect(),
        )
}

fn create(s: &mut TcpStream, topics: Vec<CreatableTopic>, validate_only: bool) -> Vec<(i16, Uuid)> {
    let req =
        CreateTopicsRequest::default().with_topics(topics).with_timeout_ms(30_000).with_validate_only(validate_only);
    let r: CreateTopicsResponse = wire::call(s, ApiKey::CreateTopics, 7, &req);
    r.topics.iter().map(|t| (t.error_code, t.topic_id)).collect()
}

/// Metadata for one topic: (error code, partitions).
fn metadata(s: &mut TcpStream, topic: &str, allow_auto: bool) -> (i16, usize) {
    let req = MetadataRequest::default()
        .with_topics(Some(
            vec![metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(sb(topic))))],
        ))
        .with_allow_auto_topic_creation(allow_auto);
    let r: MetadataResponse = wire::call(s, ApiKey::Metadata, 12, &req);
    (r.topics[0].error_code, r.topics[0].partitions.len())
}

fn all_topics(s: &mut TcpStream) -> Vec<String> {
    let r: MetadataResponse = wire::call(s, ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None));
    r.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.0.to_string())).collect()
}

fn produce(s: &mut TcpStream, topic: &str, acks: i16, records: bytes::Bytes) -> (i16, i64) {
    let req = ProduceRequest::default().with_acks(acks).with_timeout_ms(30_000).with_topic_data(vec![
        produce_request::TopicProduceData::default().with_name(TopicName(sb(topic))).with_partition_data(vec![
            produce_request::PartitionProduceData::default().with_index(0).with_records(Some(records)),
        ]),
    ]);
    let r: ProduceResponse = wire::call(s, ApiKey::Produce, 9, &req);
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch(s: &mut TcpStream, topic: &str, offset: i64, max_wait_ms: i32) -> fetch_response::PartitionData {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default().with_topic(TopicName(sb(topic))).with_partitions(
            vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)],
        )]);
    let r: FetchResponse = wire::call(s, ApiKey::Fetch, 12, &req);
    r.responses[0].partitions[0].clone()
}

fn describe_topic(
    s: &mut TcpStream,
    topic: &str,
    synonyms: bool,
) -> BTreeMap<String, describe_configs_response::DescribeConfigsResourceResult> {
    let req = DescribeConfigsRequest::default().with_include_synonyms(synonyms).with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(sb(topic))
            .with_configuration_keys(None),
    ]);
    let r: DescribeConfigsResponse = wire::call(s, ApiKey::DescribeConfigs, 4, &req);
    assert_eq!(r.results[0].error_code, 0);
    r.results[0].configs.iter().map(|c| (c.name.to_string(), c.clone())).collect()
}

#[test]
fn create_topics_validates_and_validate_only_creates_nothing() {
    let weir = Weir::start();
    let mut s = wire::connect(&weir);
    let got = create(
        &mut s,
        vec![
            topic_req("vo", 3, 1, &[("retention.ms", "1000")]),
            topic_req("bad name!", 1, 1, &[]),
            topic_req("zero-parts", 0, 1, &[]),
            topic_req("rf3", 1, 3, &[]),
            topic_req("bad-config", 1, 1, &[("retention.ms", "soon")]),
            topic_req("unknown-config", 1, 1, &[("no.such.config", "1")]),
        ],
        true,
    );
    let codes: Vec<i16> = got.iter().map(|(c, _)| *c).collect();
    // INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG
    assert_eq!(codes, vec![0, 17, 37, 38, 40, 40]);
    assert!(!all_topics(&mut s).contains(&"vo".to_string()), "validate_only creates nothing");
    let got = create(&mut s, vec![topic_req("vo", 3, 1, &[("retention.ms", "1000")])], false);
    assert_eq!(got[0].0, 0);
    let got = create(&mut s, vec![topic_req("vo", 3, 1, &[])], true);
    assert_eq!(got[0].0, 36, "TOPIC_ALREADY_EXISTS, also when validating");
    assert_eq!(metadata(&mut s, "vo", false), (0, 3));
}

#[test]
fn delete_topics_by_id() {
    let weir = Weir::start();
    let mut s = wire::connect(&weir);
    let got = create(&mut s, vec![topic_req("by-id", 2, 1, &[])], false);
    let id = got[0].1;
    assert!(!id.is_nil());
    let del = |s: &mut TcpStream, id: Uuid| -> i16 {
        let req = DeleteTopicsRequest::default()
            .with_topics(vec![delete_topics_request::DeleteTopicState::default().with_name(None).with_topic_id(id)])
            .with_timeout_ms(30_000);
        let r: DeleteTopicsResponse = wire::call(s, ApiKey::DeleteTopics, 6, &req);
        r.responses[0].error_code
    };
    assert_eq!(del(&mut s, Uuid::new_v4()), 100, "UNKNOWN_TOPIC_ID");
    assert_eq!(del(&mut s, id), 0);
    assert!(!all_topics(&mut s).contains(&"by-id".to_string()));
    assert_eq!(del(&mut s, id), 100);
}

#[test]
fn metadata_creates_topics_only_when_both_client_and_broker_allow_it() {
    let weir = Weir::start();
    let mut s = wire::connect(&weir);
    assert_eq!(metadata(&mut s, "not-asked", false).0, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert!(!all_topics(&mut s).contains(&"not-asked".to_string()));
    assert_eq!(metadata(&mut s, "asked", true), (0, 1), "created with num.partitions");
    drop(s);
    drop(weir);

    let weir = Weir::start_with(&["--set", "auto.create.topics.enable=false", "--set", "num.partitions=4"]);
    let mut s = wire::connect(&weir);
    assert_eq!(metadata(&mut s, "asked", true).0, 3, "the broker does not auto-create");
    assert!(!all_topics(&mut s).contains(&"asked".to_string()));
}

#[test]
fn describe_configs_reports_sources_and_synonyms() {
    let weir = Weir::start_with(&["--set", "log.retention.hours=2"]);
    let mut s = wire::connect(&weir);
    create(&mut s, vec![topic_req("syn", 1, 1, &[("segment.ms", "60000")])], false);
    let c = describe_topic(&mut s, "syn", true);
    let r = &c["retention.ms"];
    assert_eq!((r.value.as_deref(), r.config_source), (Some("7200000"), 4), "STATIC_BROKER_CONFIG");
    let syn: Vec<(String, Option<String>, i8)> =
        r.synonyms.iter().map(|x| (x.name.to_string(), x.value.as_ref().map(|v| v.to_string()), x.source)).collect();
    assert_eq!(
        syn,
        vec![
            ("log.retention.hours".into(), Some("2".into()), 4),
            ("log.retention.ms".into(), Some("604800000".into()), 5)
        ]
    );
    let seg = &c["segment.ms"];
    assert_eq!((seg.value.as_deref(), seg.config_source), (Some("60000"), 1), "DYNAMIC_TOPIC_CONFIG");
    assert_eq!(seg.synonyms[0].name.as_str(), "segment.ms");
    assert_eq!(c["cleanup.policy"].config_source, 5, "DEFAULT_CONFIG");
    let c = describe_topic(&mut s, "syn", false);
    assert!(c["retention.ms"].synonyms.is_empty());
}

#[test]
fn concurrent_incremental_alters_of_one_topic_lose_nothing() {
    let weir = Weir::start();
    let mut s = wire::connect(&weir);
    create(&mut s, vec![topic_req("alters", 1, 1, &[])], false);
    let keys = ["retention.ms", "segment.ms", "delete.retention.ms", "min.compaction.lag.ms", "file.delete.delay.ms"];
    std::thread::scope(|scope| {
        for (i, key) in keys.iter().enumerate() {
            let weir = &weir;
            scope.spawn(move || {
                let mut s = wire::connect(weir);
                for round in 0..20 {
                    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
                        incremental_alter_configs_request::AlterConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(sb("alters"))
                            .with_configs(vec![incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(sb(key))
                                .with_config_operation(0)
                                .with_value(Some(sb(&format!("{}", 100_000 + i * 1000 + round))))]),
                    ]);
                    let r: IncrementalAlterConfigsResponse =
                        wire::call(&mut s, ApiKey::IncrementalAlterConfigs, 1, &req);
                    assert_eq!(r.responses[0].error_code, 0, "{:?}", r.responses[0].error_message);
                }
            });
        }
    });
    let c = describe_topic(&mut s, "alters", false);
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(c[*key].value.as_deref(), Some(format!("{}", 100_000 + i * 1000 + 19).as_str()), "{key}");
        assert_eq!(c[*key].config_source, 1);
    }
    // A bad value is INVALID_CONFIG and changes nothing.
    let req =
        AlterConfigsRequest::default().with_resources(vec![alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(sb("alters"))
            .with_configs(vec![alter_configs_request::AlterableConfig::default()
                .with_name(sb("retention.ms"))
                .with_value(Some(sb("forever")))])]);
    let r: AlterConfigsResponse = wire::call(&mut s, ApiKey::AlterConfigs, 2, &req);
    assert_eq!(r.responses[0].error_code, 40);
    assert_eq!(describe_topic(&mut s, "alters", false)["retention.ms"].value.as_deref(), Some("100019"));
}

#[test]
fn produce_and_fetch_error_codes_and_long_polls() {
    let weir = Weir::start();
    let mut s = wire::connect(&weir);
    create(
        &mut s,
        vec![
            topic_req("small-segments", 1, 1, &[("segment.bytes", "1024"), ("max.message.bytes", "100000")]),
            topic_req("isr2", 1, 1, &[("min.insync.replicas", "2")]),
            topic_req("plain", 1, 1, &[]),
        ],
        false,
    );
    let big = vec![b'x'; 4000];
    assert_eq!(produce(&mut s, "small-segments", 1, wire::batch(&[&big]).freeze()).0, 18, "RECORD_LIST_TOO_LARGE");
    assert_eq!(produce(&mut s, "isr2", -1, wire::batch(&[b"a"]).freeze()).0, 19, "NOT_ENOUGH_REPLICAS");
    assert_eq!(produce(&mut s, "isr2", 1, wire::batch(&[b"a"]).freeze()), (0, 0), "acks=1 does not need the ISR");
    assert_eq!(produce(&mut s, "plain", 5, wire::batch(&[b"a"]).freeze()).0, 21, "INVALID_REQUIRED_ACKS");
    assert_eq!(produce(&mut s, "plain", -1, wire::batch(&[b"a", b"b"]).freeze()), (0, 0));

    // Beyond the log end: OFFSET_OUT_OF_RANGE with the high watermark.
    let p = fetch(&mut s, "plain", 5, 0);
    assert_eq!((p.error_code, p.high_watermark), (1, 2));
    // At the log end: a long poll that waits max_wait_ms when nothing arrives...
    let started = Instant::now();
    let p = fetch(&mut s, "plain", 2, 400);
    assert_eq!(p.error_code, 0);
    assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
    assert!(started.elapsed() >= Duration::from_millis(350), "answered after {:?}", started.elapsed());
    // ...and returns as soon as a produce lands.
    let poller = {
        let mut s = wire::connect(&weir);
        std::thread::spawn(move || fetch(&mut s, "plain", 2, 60_000))
    };
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(produce(&mut s, "plain", 1, wire::batch(&[b"c"]).freeze()), (0, 2));
    let p = poller.join().unwrap();
    assert_eq!(p.error_code, 0);
    assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()), "the parked fetch got the new record");
}

/// The broker's fetch.max.bytes caps a response below what the client asks for, but
/// a batch larger than the cap still comes back (alone), so no consumer is stuck.
#[test]
fn broker_fetch_max_bytes_caps_responses() {
    let weir = Weir::start_with(&["--set", "fetch.max.bytes=3000"]);
    let mut s = wire::connect(&weir);
    create(&mut s, vec![topic_req("capped", 1, 1, &[])], false);
    let value = vec![b'v'; 1000];
    for i in 0..4 {
        assert_eq!(produce(&mut s, "capped", 1, wire::batch(&[&value]).freeze()), (0, i));
    }
    let big = vec![b'b'; 5000];
    assert_eq!(produce(&mut s, "capped", 1, wire::batch(&[&big]).freeze()), (0, 4));

    // The client allows 1 MiB; the broker returns whole batches up to its 3,000 bytes.
    let batch_len = wire::batch(&[&value]).len();
    let p = fetch(&mut s, "capped", 0, 0);
    let got = p.records.as_ref().map_or(0, |r| r.len());
    assert_eq!(p.error_code, 0);
    assert_eq!(got, 2 * batch_len, "two ~1 KiB batches fit in 3,000 bytes, a third does not");
    // Past the cap on its own: the oversized batch is still delivered.
    let p = fetch(&mut s, "capped", 4, 0);
    assert_eq!(p.records.as_ref().map_or(0, |r| r.len()), wire::batch(&[&big]).len());
}
