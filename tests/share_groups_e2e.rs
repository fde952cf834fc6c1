//! Share groups (KIP-932) on the wire, what a client library does not show: the
//! answers to malformed heartbeats, share-session epochs (SHARE_SESSION_NOT_FOUND,
//! INVALID_SHARE_SESSION_EPOCH, acknowledgements on a session's first fetch),
//! acquired ranges and delivery counts, ShareGroupDescribe, one namespace for
//! every kind of group, members kept across a restart, and `share.version` 0
//! refusing the APIs across a restart;
//! by_duration's OFFSET_NOT_AVAILABLE;
//! the fetch byte-rate quota on ShareFetch (and Fetch); DescribeShareGroupOffsets,
//! AlterShareGroupOffsets and DeleteShareGroupOffsets.

mod common;

use common::wire::*;
use common::Weir;
use kafka_protocol::messages::share_acknowledge_request::{AcknowledgePartition, AcknowledgeTopic};
use kafka_protocol::messages::share_fetch_request::{AcknowledgementBatch, FetchPartition, FetchTopic};
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::*;
use uuid::Uuid;

fn heartbeat(
    s: &mut std::net::TcpStream,
    member: &str,
    epoch: i32,
    topics: Option<&[&str]>,
) -> ShareGroupHeartbeatResponse {
    let req = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb("sg")))
        .with_member_id(sb(member))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(topics.map(|t| t.iter().map(|n| TopicName(sb(n))).collect()));
    call(s, ApiKey::ShareGroupHeartbeat, 1, &req)
}

fn fetch(s: &mut std::net::TcpStream, epoch: i32, topic: Uuid, acks: Vec<AcknowledgementBatch>) -> ShareFetchResponse {
    fetch_waiting(s, epoch, topic, acks, 200)
}

fn fetch_waiting(
    s: &mut std::net::TcpStream,
    epoch: i32,
    topic: Uuid,
    acks: Vec<AcknowledgementBatch>,
    max_wait_ms: i32,
) -> ShareFetchResponse {
    let req = ShareFetchRequest::default()
        .with_group_id(Some(GroupId(sb("sg"))))
        .with_member_id(Some(sb("m1")))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(500)
        .with_batch_size(500)
        .with_topics(vec![FetchTopic::default().with_topic_id(topic).with_partitions(vec![FetchPartition::default()
            .with_partition_index(0)
            .with_acknowledgement_batches(acks)])]);
    call(s, ApiKey::ShareFetch, 1, &req)
}

fn topic_id(s: &mut std::net::TcpStream, name: &str) -> Uuid {
    let topic = metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(sb(name))));
    let md: MetadataResponse =
        call(s, ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(Some(vec![topic])));
    md.topics[0].topic_id
}

/// share.auto.offset.reset=earliest for group `sg`.
fn earliest(s: &mut std::net::TcpStream) {
    reset(s, "earliest");
}

/// share.auto.offset.reset=`value` for group `sg`.
fn reset(s: &mut std::net::TcpStream, value: &str) {
    let group = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(32)
            .with_resource_name(sb("sg"))
            .with_configs(vec![incremental_alter_configs_request::AlterableConfig::default()
                .with_name(sb("share.auto.offset.reset"))
                .with_config_operation(0)
                .with_value(Some(sb(value)))]),
    ]);
    let r: IncrementalAlterConfigsResponse = call(s, ApiKey::IncrementalAlterConfigs, 1, &group);
    assert_eq!(r.responses[0].error_code, 0);
}

fn accept(first: i64, last: i64) -> AcknowledgementBatch {
    AcknowledgementBatch::default().with_first_offset(first).with_last_offset(last).with_acknowledge_types(vec![1])
}

fn acquired(r: &ShareFetchResponse) -> Vec<(i64, i64, i16)> {
    r.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .flat_map(|p| &p.acquired_records)
        .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
        .collect()
}

fn set_share_version(weir: &Weir, level: i16) -> i16 {
    let u = FeatureUpdateKey::default()
        .with_feature(sb("share.version"))
        .with_max_version_level(level)
        .with_upgrade_type(if level == 0 { 2 } else { 1 });
    let req = UpdateFeaturesRequest::default().with_feature_updates(vec![u]).with_timeout_ms(10_000);
    let r: UpdateFeaturesResponse = call(&mut connect(weir), ApiKey::UpdateFeatures, 1, &req);
    r.error_code
}

#[test]
fn share_groups_on_the_wire() {
    let mut weir = Weir::start_restartable(&["--set", "group.share.heartbeat.interval.ms=500"]);
    let mut s = connect(&weir);
    create_topic(&mut s, "st", 1, &[]);
    let topic = topic_id(&mut s, "st");

    // Malformed heartbeats.
    assert_eq!(heartbeat(&mut s, "", 0, Some(&["st"])).error_code, 42, "INVALID_REQUEST: no member id");
    assert_eq!(heartbeat(&mut s, "m1", 0, None).error_code, 42, "INVALID_REQUEST: no topics on join");
    assert_eq!(heartbeat(&mut s, "m1", 3, None).error_code, 69, "GROUP_ID_NOT_FOUND");
    let joined = heartbeat(&mut s, "m1", 0, Some(&["st"]));
    assert_eq!((joined.error_code, joined.member_epoch, joined.heartbeat_interval_ms), (0, 1, 500));
    let a = joined.assignment.expect("an assignment on join");
    assert_eq!((a.topic_partitions[0].topic_id, a.topic_partitions[0].partitions.clone()), (topic, vec![0]));
    assert_eq!(heartbeat(&mut s, "m2", 1, None).error_code, 25, "UNKNOWN_MEMBER_ID");
    assert_eq!(heartbeat(&mut s, "m1", 9, None).error_code, 110, "FENCED_MEMBER_EPOCH");

    // Sessions. Nothing is on the partition yet: `latest` starts at its end.
    assert_eq!(fetch(&mut s, 1, topic, vec![]).error_code, 122, "SHARE_SESSION_NOT_FOUND");
    assert_eq!(fetch(&mut s, 0, topic, vec![accept(0, 0)]).error_code, 42, "acknowledgements on a first fetch");
    let r = fetch(&mut s, 0, topic, vec![]);
    assert_eq!((r.error_code, acquired(&r)), (0, vec![]));
    assert!(r.acquisition_lock_timeout_ms > 0);
    produce(&mut s, "st", batch(&[b"a", b"b", b"c"]).freeze());
    let r = fetch(&mut s, 1, topic, vec![]);
    assert_eq!(acquired(&r), vec![(0, 2, 1)]);
    let p = &r.responses[0].partitions[0];
    assert!(p.records.as_ref().is_some_and(|b| !b.is_empty()));
    assert_eq!(fetch(&mut s, 1, topic, vec![]).error_code, 123, "INVALID_SHARE_SESSION_EPOCH");
    // Acknowledged on the next fetch: accept 0-1; 2 released with ShareAcknowledge.
    let r = fetch(&mut s, 2, topic, vec![accept(0, 1)]);
    assert_eq!((r.error_code, r.responses[0].partitions[0].acknowledge_error_code), (0, 0));
    assert_eq!(acquired(&r), vec![]);
    let ack = |s: &mut std::net::TcpStream, epoch: i32, first: i64, ty: i8| -> ShareAcknowledgeResponse {
        let req = ShareAcknowledgeRequest::default()
            .with_group_id(Some(GroupId(sb("sg"))))
            .with_member_id(Some(sb("m1")))
            .with_share_session_epoch(epoch)
            .with_topics(vec![AcknowledgeTopic::default().with_topic_id(topic).with_partitions(vec![
                AcknowledgePartition::default().with_partition_index(0).with_acknowledgement_batches(vec![
                    share_acknowledge_request::AcknowledgementBatch::default()
                        .with_first_offset(first)
                        .with_last_offset(first)
                        .with_acknowledge_types(vec![ty]),
                ]),
            ])]);
        call(s, ApiKey::ShareAcknowledge, 1, &req)
    };
    assert_eq!(ack(&mut s, 0, 2, 2).error_code, 123, "ShareAcknowledge cannot open a session");
    let r = ack(&mut s, 3, 2, 2);
    assert_eq!((r.error_code, r.responses[0].partitions[0].error_code), (0, 0));
    // Acknowledging it again: it is no longer held (INVALID_RECORD_STATE).
    assert_eq!(ack(&mut s, 4, 2, 1).responses[0].partitions[0].error_code, 121);
    let r = fetch(&mut s, 5, topic, vec![]);
    assert_eq!(acquired(&r), vec![(2, 2, 2)], "released: handed out again, second delivery");

    // Described; one namespace for every kind of group.
    let d: ShareGroupDescribeResponse = call(
        &mut s,
        ApiKey::ShareGroupDescribe,
        1,
        &ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb("sg")), GroupId(sb("nope"))]),
    );
    let g = &d.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str(), g.members.len()), (0, "Stable", 1));
    assert_eq!(g.members[0].assignment.topic_partitions[0].topic_name.0.as_str(), "st");
    assert_eq!(d.groups[1].error_code, 69);
    let c: ConsumerGroupHeartbeatResponse = call(
        &mut s,
        ApiKey::ConsumerGroupHeartbeat,
        0,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(sb("sg")))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![]))
            .with_topic_partitions(Some(vec![])),
    );
    assert_eq!(c.error_code, 69, "a share group is not a consumer group");
    let dg: DescribeGroupsResponse =
        call(&mut s, ApiKey::DescribeGroups, 6, &DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("sg"))]));
    let g = &dg.groups[0];
    assert_eq!((g.error_code, g.error_message.as_deref()), (69, Some("Group sg is not a classic group.")));
    let j: JoinGroupResponse = call(
        &mut s,
        ApiKey::JoinGroup,
        5,
        &JoinGroupRequest::default()
            .with_group_id(GroupId(sb("sg")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(sb("consumer")),
    );
    assert_eq!(j.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");
    let l: ListGroupsResponse =
        call(&mut s, ApiKey::ListGroups, 5, &ListGroupsRequest::default().with_types_filter(vec![sb("share")]));
    let listed: Vec<(&str, &str, &str)> =
        l.groups.iter().map(|g| (g.group_id.0.as_str(), g.group_state.as_str(), g.group_type.as_str())).collect();
    assert_eq!(listed, vec![("sg", "Stable", "share")]);

    // share.version 0: the APIs stay listed and refuse, also after a restart.
    assert_eq!(set_share_version(&weir, 0), 0);
    assert_eq!(heartbeat(&mut connect(&weir), "m1", 1, None).error_code, 35);
    assert!(weir.stop().success());
    weir.restart();
    let mut s = connect(&weir);
    assert_eq!(heartbeat(&mut s, "m1", 0, Some(&["st"])).error_code, 35);
    assert_eq!(set_share_version(&weir, 1), 0);
    // The member was kept across the restart with its epoch, as Kafka keeps it.
    let kept = heartbeat(&mut s, "m1", 1, None);
    assert_eq!((kept.error_code, kept.member_epoch), (0, 2), "not UNKNOWN_MEMBER_ID; the target computed again");
    // It may also join again. Offset 2 comes back as last written
    // (released after one delivery: its second acquisition was not written), so
    // this is its second delivery again.
    assert_eq!(heartbeat(&mut s, "m1", 0, Some(&["st"])).error_code, 0);
    let r = fetch(&mut s, 0, topic, vec![]);
    assert_eq!(acquired(&r), vec![(2, 2, 2)]);
    // A final fetch carries its last acknowledgements and fetches nothing.
    let r = fetch(&mut s, -1, topic, vec![accept(2, 2)]);
    assert_eq!((r.error_code, r.responses[0].partitions[0].acknowledge_error_code, acquired(&r)), (0, 0, vec![]));
    assert_eq!(fetch(&mut s, 1, topic, vec![]).error_code, 122, "the session is over");
    let r = fetch(&mut s, 0, topic, vec![]);
    assert_eq!((r.error_code, acquired(&r)), (0, vec![]), "everything is acknowledged");
    // A member whose connection drops gives back what it holds at once, the
    // delivery counted: m1 gets the record well inside the 30 s lock.
    produce(&mut s, "st", batch(&[b"d"]).freeze());
    {
        let mut s2 = connect(&weir);
        assert_eq!(heartbeat(&mut s2, "m2", 0, Some(&["st"])).error_code, 0);
        let req = ShareFetchRequest::default()
            .with_group_id(Some(GroupId(sb("sg"))))
            .with_member_id(Some(sb("m2")))
            .with_share_session_epoch(0)
            .with_max_wait_ms(200)
            .with_max_records(500)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic_id(topic)
                .with_partitions(vec![FetchPartition::default().with_partition_index(0)])]);
        let r: ShareFetchResponse = call(&mut s2, ApiKey::ShareFetch, 1, &req);
        assert_eq!(acquired(&r), vec![(3, 3, 1)]);
    }
    let mut back = vec![];
    for epoch in 1..=25 {
        back = acquired(&fetch(&mut s, epoch, topic, vec![]));
        if !back.is_empty() {
            break;
        }
    }
    assert_eq!(back, vec![(3, 3, 2)]);

    // Only a share group's members fetch.
    let req = ShareFetchRequest::default()
        .with_group_id(Some(GroupId(sb("no-such-group"))))
        .with_member_id(Some(sb("m1")))
        .with_share_session_epoch(0);
    let r: ShareFetchResponse = call(&mut s, ApiKey::ShareFetch, 1, &req);
    assert_eq!(r.error_code, 69, "GROUP_ID_NOT_FOUND");
}

#[test]
fn fetches_and_share_fetches_count_against_the_fetch_byte_rate_quota() {
    let weir = Weir::start();
    let mut s = connect(&weir);
    create_topic(&mut s, "sq", 1, &[]);
    let topic = topic_id(&mut s, "sq");
    // 1 KB/s for every user (this connection is ANONYMOUS): one response of 8 KiB
    // is over it at once.
    let quota = alter_client_quotas_request::EntryData::default()
        .with_entity(vec![alter_client_quotas_request::EntityData::default()
            .with_entity_type(sb("user"))
            .with_entity_name(None)])
        .with_ops(vec![alter_client_quotas_request::OpData::default()
            .with_key(sb("consumer_byte_rate"))
            .with_value(1000.0)]);
    let r: AlterClientQuotasResponse =
        call(&mut s, ApiKey::AlterClientQuotas, 1, &AlterClientQuotasRequest::default().with_entries(vec![quota]));
    assert_eq!(r.entries[0].error_code, 0, "{:?}", r.entries[0].error_message);
    let value = vec![b'q'; 1024];
    let values: Vec<&[u8]> = (0..8).map(|_| &value[..]).collect();
    produce(&mut s, "sq", batch(&values).freeze());
    earliest(&mut s);
    assert_eq!(heartbeat(&mut s, "m1", 0, Some(&["sq"])).error_code, 0);
    let r = fetch(&mut s, 0, topic, vec![]);
    assert_eq!(acquired(&r), vec![(0, 7, 1)]);
    assert!(r.throttle_time_ms > 0, "8 KiB against 1 KB/s: throttled, got {}", r.throttle_time_ms);
    // A plain Fetch (a response in parts, the throttle written into the first) is charged the same way.
    let partition = fetch_request::FetchPartition::default().with_partition(0).with_fetch_offset(0);
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default().with_topic_id(topic).with_partitions(vec![partition])]);
    let r: FetchResponse = call(&mut s, ApiKey::Fetch, 13, &req);
    assert_eq!(r.responses[0].partitions[0].high_watermark, 8);
    assert!(r.throttle_time_ms > 0, "over the quota: throttled, got {}", r.throttle_time_ms);
}

/// by_duration where no record is that recent: Kafka's OFFSET_NOT_AVAILABLE (which
/// clients retry), looked at again by each fetch; the first record that recent starts it.
#[test]
fn by_duration_without_a_record_that_recent_is_offset_not_available() {
    let weir = Weir::start();
    let mut s = connect(&weir);
    create_topic(&mut s, "sd", 1, &[]);
    let topic = topic_id(&mut s, "sd");
    reset(&mut s, "by_duration:PT1H");
    produce(&mut s, "sd", batch(&[b"1970"]).freeze());
    assert_eq!(heartbeat(&mut s, "m1", 0, Some(&["sd"])).error_code, 0);
    for epoch in [0, 1] {
        let r = fetch(&mut s, epoch, topic, vec![]);
        assert_eq!((r.error_code, acquired(&r)), (0, vec![]));
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 78, "OFFSET_NOT_AVAILABLE");
        // Kafka's words, the topic id as Kafka writes it (URL-safe base64).
        let message = p.error_message.as_deref().unwrap_or_default();
        let id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, topic.as_bytes());
        let ending = format!(" not found for topic partition: {id}:sd-0");
        let at = message.strip_prefix("Offset for timestamp ").and_then(|m| m.strip_suffix(&ending));
        assert!(at.is_some_and(|t| t.parse::<i64>().is_ok_and(|t| t > 0)), "{message}");
    }
    // A recent record arriving while a fetch waits starts the share-partition
    // and is handed out by that fetch.
    let waiting = std::thread::spawn(move || fetch_waiting(&mut s, 2, topic, vec![], 30_000));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    produce(&mut connect(&weir), "sd", batch_at(&[b"now"], now).freeze());
    let r = waiting.join().unwrap();
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert_eq!(acquired(&r), vec![(1, 1, 1)]);
}

/// (topic, topic id is nil, partition, start offset, error code).
type OffsetRow = (String, bool, i32, i64, i16);

/// DescribeShareGroupOffsets of `group`: a row for each partition answered; the
/// group's error.
fn describe_offsets(
    s: &mut std::net::TcpStream,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> (i16, Vec<OffsetRow>) {
    let topics = topics.map(|ts| {
        ts.iter()
            .map(|(t, ps)| {
                describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(TopicName(sb(t)))
                    .with_partitions(ps.to_vec())
            })
            .collect()
    });
    let req = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(topics),
    ]);
    let r: DescribeShareGroupOffsetsResponse = call(s, ApiKey::DescribeShareGroupOffsets, 0, &req);
    let g = &r.groups[0];
    let rows = g
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (t.topic_name.0.to_string(), t.topic_id.is_nil(), p.partition_index, p.start_offset, p.error_code)
            })
        })
        .collect();
    (g.error_code, rows)
}

fn alter_offsets(
    s: &mut std::net::TcpStream,
    group: &str,
    starts: &[(&str, i32, i64)],
) -> AlterShareGroupOffsetsResponse {
    let topics = starts
        .iter()
        .map(|(t, p, o)| {
            alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                .with_topic_name(TopicName(sb(t)))
                .with_partitions(vec![
                    alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
                        .with_partition_index(*p)
                        .with_start_offset(*o),
                ])
        })
        .collect();
    let req = AlterShareGroupOffsetsRequest::default().with_group_id(GroupId(sb(group))).with_topics(topics);
    call(s, ApiKey::AlterShareGroupOffsets, 0, &req)
}

fn alter_codes(r: &AlterShareGroupOffsetsResponse) -> Vec<i16> {
    r.responses.iter().flat_map(|t| &t.partitions).map(|p| p.error_code).collect()
}

fn del(s: &mut std::net::TcpStream, group: &str, topics: &[&str]) -> DeleteShareGroupOffsetsResponse {
    let topics = topics
        .iter()
        .map(|t| {
            delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                .with_topic_name(TopicName(sb(t)))
        })
        .collect();
    let req = DeleteShareGroupOffsetsRequest::default().with_group_id(GroupId(sb(group))).with_topics(topics);
    call(s, ApiKey::DeleteShareGroupOffsets, 0, &req)
}

/// A simple commit (no member) of offset 1 of so-0 for `group`.
fn commit_to(group: &str) -> OffsetCommitRequest {
    OffsetCommitRequest::default().with_group_id(GroupId(sb(group))).with_generation_id_or_member_epoch(-1).with_topics(
        vec![offset_commit_request::OffsetCommitRequestTopic::default()
            .with_name(TopicName(sb("so")))
            .with_partitions(vec![offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(1)])],
    )
}

#[test]
fn share_offsets_are_described_reset_and_deleted() {
    let weir = Weir::start();
    let mut s = connect(&weir);
    create_topic(&mut s, "so", 2, &[]);
    create_topic(&mut s, "other", 1, &[]);
    let topic = topic_id(&mut s, "so");
    produce(&mut s, "so", batch(&[b"0", b"1", b"2", b"3", b"4"]).freeze());
    earliest(&mut s);
    assert_eq!(heartbeat(&mut s, "m1", 0, Some(&["so"])).error_code, 0);
    assert_eq!(acquired(&fetch(&mut s, 0, topic, vec![])), vec![(0, 4, 1)]);
    fetch(&mut s, 1, topic, vec![accept(0, 4)]);

    // All topics: only what the group has state for (partition 0 was read).
    assert_eq!(describe_offsets(&mut s, "sg", None), (0, vec![("so".into(), false, 0, 5, 0)]));
    let named: &[(&str, &[i32])] = &[("so", &[0, 1]), ("nope", &[0])];
    let want = vec![("so".into(), false, 0, 5, 0), ("so".into(), false, 1, -1, 0), ("nope".into(), true, 0, -1, 0)];
    assert_eq!(describe_offsets(&mut s, "sg", Some(named)), (0, want));
    assert_eq!(describe_offsets(&mut s, "no-group", None), (0, vec![]), "Kafka does not check the group");

    // Only an empty group's starts are set, its state deleted; a share group takes
    // no committed offsets.
    let r = alter_offsets(&mut s, "sg", &[("so", 0, 2)]);
    assert_eq!((r.error_code, r.error_message.as_deref()), (68, Some("The group is not empty.")));
    assert_eq!(del(&mut s, "sg", &["so"]).error_code, 68);
    let c: OffsetCommitResponse = call(&mut s, ApiKey::OffsetCommit, 8, &commit_to("sg"));
    assert_eq!(c.topics[0].partitions[0].error_code, 69, "GROUP_ID_NOT_FOUND");
    assert_eq!(heartbeat(&mut s, "m1", -1, None).error_code, 0);
    let r = alter_offsets(&mut s, "sg", &[("so", 0, 2), ("so", 1, 0), ("so", 7, 0), ("nope", 0, 0)]);
    assert_eq!((r.error_code, alter_codes(&r)), (0, vec![0, 0, 3, 3]));
    let named: &[(&str, &[i32])] = &[("so", &[0, 1])];
    let want = vec![("so".into(), false, 0, 2, 0), ("so".into(), false, 1, 0, 0)];
    assert_eq!(describe_offsets(&mut s, "sg", Some(named)), (0, want));
    // A member reads again from the new start, each record a first delivery.
    assert_eq!(heartbeat(&mut s, "m1", 0, Some(&["so"])).error_code, 0);
    assert_eq!(acquired(&fetch(&mut s, 0, topic, vec![])), vec![(2, 4, 1)]);
    fetch(&mut s, -1, topic, vec![accept(2, 4)]);
    assert_eq!(heartbeat(&mut s, "m1", -1, None).error_code, 0);

    // A reset creates a share group that does not exist; a group of another kind
    // is not one.
    let r = alter_offsets(&mut s, "fresh", &[("so", 1, 0)]);
    assert_eq!((r.error_code, alter_codes(&r)), (0, vec![0]));
    let l: ListGroupsResponse =
        call(&mut s, ApiKey::ListGroups, 5, &ListGroupsRequest::default().with_types_filter(vec![sb("share")]));
    assert!(l.groups.iter().any(|g| g.group_id.0.as_str() == "fresh" && g.group_state.as_str() == "Empty"));
    let c: OffsetCommitResponse = call(&mut s, ApiKey::OffsetCommit, 8, &commit_to("classic"));
    assert_eq!(c.topics[0].partitions[0].error_code, 0);
    let r = alter_offsets(&mut s, "classic", &[("so", 0, 0)]);
    assert_eq!((r.error_code, r.error_message.as_deref()), (69, Some("Group classic is not a share group.")));

    // A negative start drops a share-partition's state.
    let r = alter_offsets(&mut s, "fresh", &[("so", 1, -1)]);
    assert_eq!((r.error_code, alter_codes(&r)), (0, vec![0]));
    assert_eq!(describe_offsets(&mut s, "fresh", None), (0, vec![]));

    // Deleting a topic's state: per topic, what there was to delete.
    let r = del(&mut s, "sg", &["so", "nope", "other"]);
    let rows: Vec<(&str, i16, Option<&str>)> = r
        .responses
        .iter()
        .map(|t| (t.topic_name.0.as_str(), t.error_code, t.error_message.as_ref().map(|m| m.as_str())))
        .collect();
    assert_eq!(r.error_code, 0);
    assert_eq!(
        rows,
        vec![
            ("so", 0, None),
            ("nope", 3, Some("This server does not host this topic-partition.")),
            ("other", 3, Some("There is no offset information to delete.")),
        ]
    );
    assert_eq!(describe_offsets(&mut s, "sg", None), (0, vec![]));
    assert_eq!(del(&mut s, "no-group", &["so"]).error_code, 69, "GROUP_ID_NOT_FOUND");
}
