//! End-to-end: group behaviour that real clients and tools rely on, as Kafka answers
//! it (issue 20): commits from consumers outside group management, and static
//! members fenced once replaced. Raw requests are kafka-protocol over TCP; the
//! client side is librdkafka.

mod common;

use std::time::Duration;

use common::clients::*;
use common::{wire, Weir};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const ARGS: &[&str] = &["--set", "group.initial.rebalance.delay.ms=0"];

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn commit_request(group: &str, topic: &str, generation: i32, member: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member))
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(TopicName(sb(topic))).with_partitions(vec![
            OffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(offset),
        ])])
}

fn commit_code(weir: &Weir, version: i16, req: &OffsetCommitRequest) -> i16 {
    let mut s = wire::connect(weir);
    let r: OffsetCommitResponse = wire::call(&mut s, ApiKey::OffsetCommit, version, req);
    r.topics[0].partitions[0].error_code
}

fn fetched(weir: &Weir, group: &str, topic: &str) -> i64 {
    let mut s = wire::connect(weir);
    let req = OffsetFetchRequest::default().with_group_id(GroupId(sb(group))).with_topics(Some(vec![
        OffsetFetchRequestTopic::default().with_name(TopicName(sb(topic))).with_partition_indexes(vec![0]),
    ]));
    let r: OffsetFetchResponse = wire::call(&mut s, ApiKey::OffsetFetch, 7, &req);
    assert_eq!(r.error_code, 0);
    r.topics[0].partitions[0].committed_offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_outside_group_management_commit_and_others_read_the_commit_back() {
    let weir = Weir::start_with(ARGS);
    let topic = "manual";
    create_topic(&weir.addr, topic, 1, &[]).await;

    // A KIP-848-era consumer using assign(): OffsetCommit v9, member epoch -1 and
    // its own member id, to a group that does not exist yet.
    let req = commit_request("manual-g", topic, -1, "manual-member-1", 17);
    assert_eq!(commit_code(&weir, 9, &req), 0, "a simple commit creates the group");
    assert_eq!(fetched(&weir, "manual-g", topic), 17, "another connection reads it back");
    // Again, now that the (empty) group exists.
    assert_eq!(commit_code(&weir, 9, &commit_request("manual-g", topic, -1, "manual-member-1", 18)), 0);
    assert_eq!(fetched(&weir, "manual-g", topic), 18);

    // A generation names a group that has to exist: GROUP_ID_NOT_FOUND from v9,
    // ILLEGAL_GENERATION before.
    assert_eq!(commit_code(&weir, 9, &commit_request("nope", topic, 3, "m", 1)), 69);
    assert_eq!(commit_code(&weir, 8, &commit_request("nope", topic, 3, "m", 1)), 22);

    // librdkafka with assign() and a group.id commits; a second consumer of the
    // group reads the commit back.
    let settings = |c: &mut rdkafka::ClientConfig| {
        c.set("bootstrap.servers", &weir.addr).set("group.id", "manual-rd").set("enable.auto.commit", "false");
    };
    let mut cfg = rdkafka::ClientConfig::new();
    settings(&mut cfg);
    let c1: rdkafka::consumer::BaseConsumer = cfg.create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(42)).unwrap();
    c1.assign(&tpl).unwrap();
    c1.commit(&tpl, CommitMode::Sync).expect("a manual consumer's commit is accepted");
    let mut cfg = rdkafka::ClientConfig::new();
    settings(&mut cfg);
    let c2: rdkafka::consumer::BaseConsumer = cfg.create().unwrap();
    let mut want = TopicPartitionList::new();
    want.add_partition(topic, 0);
    let got = c2.committed_offsets(want, Duration::from_secs(10)).unwrap();
    assert_eq!(got.find_partition(topic, 0).unwrap().offset(), Offset::Offset(42));
}

fn static_join(weir: &Weir, group: &str, instance: &str) -> (std::net::TcpStream, JoinGroupResponse) {
    let mut s = wire::connect(weir);
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_group_instance_id(Some(sb(instance)))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(sb("range"))
            .with_metadata(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0]))]);
    let r: JoinGroupResponse = wire::call(&mut s, ApiKey::JoinGroup, 5, &req);
    assert_eq!(r.error_code, 0, "join");
    (s, r)
}

#[test]
fn a_replaced_static_member_is_fenced_instead_of_told_to_rejoin() {
    let weir = Weir::start_with(ARGS);
    let group = "static-fence";
    let (mut a, joined) = static_join(&weir, group, "instance-1");
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_group_instance_id(Some(sb("instance-1")));
    let r: SyncGroupResponse = wire::call(&mut a, ApiKey::SyncGroup, 3, &sync);
    assert_eq!(r.error_code, 0);

    // The same instance starts again elsewhere and takes over.
    let (_b, replaced) = static_join(&weir, group, "instance-1");
    assert_ne!(replaced.member_id, joined.member_id);

    // The old process: FENCED_INSTANCE_ID (82) on heartbeat, commit and rejoin.
    let hb = HeartbeatRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_group_instance_id(Some(sb("instance-1")));
    let r: HeartbeatResponse = wire::call(&mut a, ApiKey::Heartbeat, 4, &hb);
    assert_eq!(r.error_code, 82, "heartbeat");
    let commit = commit_request(group, "any", joined.generation_id, &joined.member_id, 1)
        .with_group_instance_id(Some(sb("instance-1")));
    let r: OffsetCommitResponse = wire::call(&mut a, ApiKey::OffsetCommit, 7, &commit);
    assert_eq!(r.topics[0].partitions[0].error_code, 82, "commit");
    let rejoin = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_member_id(joined.member_id.clone())
        .with_group_instance_id(Some(sb("instance-1")))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(sb("range"))]);
    let r: JoinGroupResponse = wire::call(&mut a, ApiKey::JoinGroup, 5, &rejoin);
    assert_eq!(r.error_code, 82, "rejoin with the old member id");
    // The new one heartbeats fine.
    let hb = hb.with_member_id(replaced.member_id.clone()).with_generation_id(replaced.generation_id);
    let r: HeartbeatResponse = wire::call(&mut wire::connect(&weir), ApiKey::Heartbeat, 4, &hb);
    assert_eq!(r.error_code, 0, "the replacing member");
}

/// One batch of keyless records, as a producer sends it (`wire::batch` makes a
/// batch per record).
fn one_batch(values: &[&[u8]]) -> bytes::Bytes {
    use kafka_protocol::records::*;
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset - sequence is
            // constant; the batch's base sequence is then -1 (no producer id).
            sequence: i as i32 - 1,
            timestamp: 1,
            key: None,
            value: Some(bytes::Bytes::copy_from_slice(v)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    let opts = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).unwrap();
    buf.freeze()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_without_a_key_are_refused_by_a_compacted_topic() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::types::RDKafkaErrorCode;
    let weir = Weir::start_with(ARGS);
    create_topic(&weir.addr, "compacted", 1, &[("cleanup.policy", "compact")]).await;
    create_topic(&weir.addr, "plain", 1, &[]).await;
    let produce = |topic: &str| {
        let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(vec![
            TopicProduceData::default().with_name(TopicName(sb(topic))).with_partition_data(vec![
                PartitionProduceData::default().with_index(0).with_records(Some(one_batch(&[b"a", b"b", b"c"]))),
            ]),
        ]);
        let r: ProduceResponse = wire::call(&mut wire::connect(&weir), ApiKey::Produce, 9, &req);
        r.responses[0].partition_responses[0].clone()
    };
    let refused = produce("compacted");
    assert_eq!(refused.error_code, 87, "INVALID_RECORD");
    assert_eq!(refused.record_errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(refused.error_message.as_deref().unwrap_or_default().contains("without key"), "{refused:?}");
    assert_eq!(produce("plain").error_code, 0, "other topics take keyless records");

    // librdkafka: the keyless record fails with INVALID_RECORD, the keyed one lands.
    let p: FutureProducer = rdkafka::ClientConfig::new().set("bootstrap.servers", &weir.addr).create().unwrap();
    let t = Duration::from_secs(10);
    let keyless = p.send(FutureRecord::<(), [u8]>::to("compacted").partition(0).payload(b"v"), t).await;
    let (err, _) = keyless.expect_err("a keyless record is refused");
    assert_eq!(err.rdkafka_error_code(), Some(RDKafkaErrorCode::InvalidRecord), "{err}");
    let keyed = p.send(FutureRecord::to("compacted").partition(0).key("k").payload(b"v"), t).await;
    let delivered = keyed.expect("a keyed record lands");
    assert_eq!(delivered.offset, 0, "nothing of the refused batches was written");
}
