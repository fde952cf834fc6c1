//! End-to-end: group behaviour that real clients and tools rely on, as Kafka answers
//! it (issue 20): commits from consumers outside group management, and static
//! members fenced once replaced. Raw requests are kafka-protocol over TCP; the
//! client side is librdkafka.

mod common;

use std::time::Duration;

use common::clients::*;
use common::wire::sb;
use common::{wire, Weir};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const ARGS: &[&str] = &["--set", "group.initial.rebalance.delay.ms=0"];

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
                PartitionProduceData::default().with_index(0).with_records(Some(wire::one_batch(&[b"a", b"b", b"c"]))),
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

/// A weir whose log (stderr) the test reads, at `weir_broker=debug`.
struct Logged {
    child: std::process::Child,
    addr: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Logged {
    fn start() -> Logged {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(common::bin())
            .args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--kafka-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"])
            .env("RUST_LOG", "weir_broker=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let addr = stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("weir ready ").map(str::to_string))
            .and_then(|rest| rest.split_whitespace().find_map(|kv| kv.strip_prefix("kafka=").map(str::to_string)))
            .expect("weir ready");
        Logged { child, addr, log, _dir: dir }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn wait_for_log(&self, what: &str) {
        self.wait_for_lines(&[what], 1);
    }

    /// Waits until `n` lines contain every one of `parts`.
    fn wait_for_lines(&self, parts: &[&str], n: usize) {
        let what = format!("{n} lines with {parts:?}");
        let count = |log: &str| log.lines().filter(|l| parts.iter().all(|p| l.contains(p))).count();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while count(&self.log()) < n {
            assert!(std::time::Instant::now() < deadline, "the log never said {what:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fetch that will park: an empty partition, a long max wait.
fn parked_fetch(addr: &str, topic: &str) -> std::net::TcpStream {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(600_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default().with_topic(TopicName(sb(topic))).with_partitions(vec![
            FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(1 << 20),
        ])]);
    s.write_all(&wire::frame(ApiKey::Fetch, 4, 7, &req)).unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_show_each_request_and_parked_requests_end_with_their_client() {
    let mut weir = Logged::start();
    create_topic(&weir.addr, "parked", 1, &[]).await;
    // Every request gets a line inside its span (API, version, correlation id,
    // client id, peer) with what came of it.
    weir.wait_for_log("api=\"CreateTopics\"");
    assert!(weir.log().lines().any(|l| l.contains("api=\"CreateTopics\"") && l.contains("answered")), "{}", weir.log());

    // A client that goes away while its fetch is parked cancels it.
    let fetch_received = ["api=\"Fetch\"", "received"];
    let gone = parked_fetch(&weir.addr, "parked");
    weir.wait_for_lines(&fetch_received, 1);
    drop(gone);
    weir.wait_for_log("while its request was parked");

    // One still parked at SIGTERM does not hold the shutdown for the drain timeout.
    let _held = parked_fetch(&weir.addr, "parked");
    weir.wait_for_lines(&fetch_received, 2);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(weir.child.id() as i32, libc::SIGTERM) };
    let status = weir.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!weir.log().contains("still busy after drain timeout"), "{}", weir.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorized_operations_are_every_supported_one_without_an_authorizer() {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let weir = Weir::start_with(ARGS);
    create_topic(&weir.addr, "ops", 1, &[]).await;
    // Kafka's AclOperation codes: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7,
    // DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
    // IDEMPOTENT_WRITE 12.
    let bits = |codes: &[u8]| codes.iter().fold(0i32, |b, c| b | (1 << c));
    let topic_ops = bits(&[3, 4, 5, 6, 7, 8, 10, 11]);
    let cluster_ops = bits(&[5, 7, 8, 9, 10, 11, 12]);
    let group_ops = bits(&[3, 6, 8]);
    let metadata = |include: bool| {
        let req = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(TopicName(sb("ops"))))]))
            .with_include_cluster_authorized_operations(include)
            .with_include_topic_authorized_operations(include);
        let r: MetadataResponse = wire::call(&mut wire::connect(&weir), ApiKey::Metadata, 9, &req);
        (r.topics[0].topic_authorized_operations, r.cluster_authorized_operations)
    };
    assert_eq!(metadata(true), (topic_ops, cluster_ops));
    assert_eq!(metadata(false), (i32::MIN, i32::MIN), "not asked: omitted");
    let req = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    let r: DescribeClusterResponse = wire::call(&mut wire::connect(&weir), ApiKey::DescribeCluster, 0, &req);
    assert_eq!(r.cluster_authorized_operations, cluster_ops);
    assert_eq!(commit_code(&weir, 8, &commit_request("ops-g", "ops", -1, "", 1)), 0);
    let req = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(sb("ops-g"))])
        .with_include_authorized_operations(true);
    let r: DescribeGroupsResponse = wire::call(&mut wire::connect(&weir), ApiKey::DescribeGroups, 5, &req);
    assert_eq!(r.groups[0].authorized_operations, group_ops);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_compression_type_recompresses_batches_of_another_codec() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let weir = Weir::start_with(ARGS);
    create_topic(&weir.addr, "zstd-topic", 1, &[("compression.type", "zstd"), ("compression.zstd.level", "5")]).await;
    create_topic(&weir.addr, "as-sent", 1, &[]).await;
    let p: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &weir.addr)
        .set("compression.type", "none")
        .create()
        .unwrap();
    for topic in ["zstd-topic", "as-sent"] {
        for i in 0..20 {
            let value = format!("value {i} {}", "text ".repeat(50));
            let r = FutureRecord::to(topic).partition(0).key("k").payload(&value);
            p.send(r, Duration::from_secs(10)).await.expect("delivered");
        }
    }
    // The stored batches carry the topic's codec (attributes bits 0-2: 4 is zstd).
    let codecs = |topic: &str| -> Vec<i16> {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default().with_topic(TopicName(sb(topic))).with_partitions(vec![
                FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(1 << 20),
            ])]);
        let r: FetchResponse = wire::call(&mut wire::connect(&weir), ApiKey::Fetch, 4, &req);
        let mut records = r.responses[0].partitions[0].records.clone().unwrap_or_default();
        let mut out = Vec::new();
        while records.len() >= 61 {
            let len = i32::from_be_bytes(records[8..12].try_into().unwrap()) as usize + 12;
            out.push(i16::from_be_bytes(records[21..23].try_into().unwrap()) & 0x7);
            let _ = records.split_to(len.min(records.len()));
        }
        out
    };
    let stored = codecs("zstd-topic");
    assert!(!stored.is_empty() && stored.iter().all(|c| *c == 4), "zstd batches: {stored:?}");
    let untouched = codecs("as-sent");
    assert!(!untouched.is_empty() && untouched.iter().all(|c| *c == 0), "producer's codec kept: {untouched:?}");
    // And every client reads them as sent.
    let read = read_partition(&weir.addr, "zstd-topic", 0, Offset::Beginning, 20);
    for (i, (offset, r)) in read.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(r.value.as_deref(), Some(format!("value {i} {}", "text ".repeat(50)).as_bytes()));
    }
    // An unknown codec is refused with Kafka's message.
    let cfg = rdkafka::ClientConfig::new().set("bootstrap.servers", &weir.addr).clone();
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> = cfg.create().unwrap();
    let t = rdkafka::admin::NewTopic::new("bad-codec", 1, rdkafka::admin::TopicReplication::Fixed(1))
        .set("compression.type", "brotli");
    let res = admin.create_topics([&t], &rdkafka::admin::AdminOptions::new()).await.unwrap();
    assert!(res[0].is_err(), "brotli is not a Kafka codec");
}

#[test]
fn log_levels_change_at_run_time_through_the_broker_logger_resource() {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    const BROKER_LOGGER: i8 = 8;
    let mut weir = Logged::start(); // RUST_LOG=weir_broker=debug
    let mut s = std::net::TcpStream::connect(&weir.addr).unwrap();
    let describe = |s: &mut std::net::TcpStream| -> Vec<(String, String, i8)> {
        let req = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(BROKER_LOGGER)
            .with_resource_name(sb("1"))]);
        let r: DescribeConfigsResponse = wire::call(s, ApiKey::DescribeConfigs, 4, &req);
        assert_eq!(r.results[0].error_code, 0, "{:?}", r.results[0].error_message);
        let c = &r.results[0].configs;
        c.iter().map(|c| (c.name.to_string(), c.value.clone().unwrap().to_string(), c.config_source)).collect()
    };
    let alter = |s: &mut std::net::TcpStream, name: &str, op: i8, value: &str| -> (i16, Option<String>) {
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(BROKER_LOGGER)
            .with_resource_name(sb("1"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(sb(name))
                .with_config_operation(op)
                .with_value(Some(sb(value)))])]);
        let r: IncrementalAlterConfigsResponse = wire::call(s, ApiKey::IncrementalAlterConfigs, 1, &req);
        (r.responses[0].error_code, r.responses[0].error_message.as_ref().map(|m| m.to_string()))
    };
    let levels = describe(&mut s);
    assert!(levels.contains(&("weir_broker".into(), "DEBUG".into(), 6)), "{levels:?}");
    assert_eq!(levels[0].0, "root");

    // Kafka's refusals.
    assert_eq!(alter(&mut s, "kafka.server.KafkaApis", 0, "DEBUG").0, 40);
    assert_eq!(alter(&mut s, "weir_broker", 0, "LOUD").0, 40);
    assert_eq!(alter(&mut s, "root", 1, "").0, 42, "the root logger's level cannot be removed");
    assert_eq!(alter(&mut s, "weir_broker", 2, "DEBUG").0, 42, "APPEND is not for loggers");

    // Quiet the broker: requests are no longer logged...
    assert_eq!(alter(&mut s, "weir_broker", 0, "INFO"), (0, None));
    let _: ListGroupsResponse = wire::call(&mut s, ApiKey::ListGroups, 4, &ListGroupsRequest::default());
    // ...until one module is made verbose again.
    assert_eq!(alter(&mut s, "weir_broker::api", 0, "DEBUG"), (0, None));
    let _: DescribeClusterResponse = wire::call(&mut s, ApiKey::DescribeCluster, 0, &DescribeClusterRequest::default());
    weir.wait_for_lines(&["api=\"DescribeCluster\"", "answered"], 1);
    assert!(!weir.log().contains("api=\"ListGroups\""), "{}", weir.log());
    assert!(describe(&mut s).contains(&("weir_broker::api".into(), "DEBUG".into(), 6)));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(weir.child.id() as i32, libc::SIGTERM) };
    assert!(weir.child.wait().unwrap().success());
}
