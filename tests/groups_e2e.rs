//! End-to-end: the group coordinator (classic protocol) driven by librdkafka consumers
//! that subscribe, and by raw protocol members (kafka-protocol over TCP).
//!
//! No sleeps for correctness: every wait polls a condition under a generous deadline
//! and fails when the deadline passes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::clients::*;
use common::groups::*;
use common::wire::sb;
use common::{wire, Weir};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::*;
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// No initial rebalance delay (joins complete as soon as every member is in), and a
/// small minimum session timeout so eviction tests stay short.
const ARGS: &[&str] = &["--set", "group.initial.rebalance.delay.ms=0", "--set", "group.min.session.timeout.ms=1000"];

// ------------------------------------------------------------------ raw protocol

/// ConsumerProtocolSubscription v0: the topics, no user data.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

/// ConsumerProtocolAssignment: topic -> partitions.
fn decode_assignment(mut b: &[u8]) -> BTreeMap<String, BTreeSet<i32>> {
    let mut out = BTreeMap::new();
    if b.is_empty() {
        return out;
    }
    let _version = b.get_i16();
    for _ in 0..b.get_i32() {
        let len = b.get_i16() as usize;
        let topic = String::from_utf8(b[..len].to_vec()).unwrap();
        b.advance(len);
        let parts: BTreeSet<i32> = (0..b.get_i32()).map(|_| b.get_i32()).collect();
        out.insert(topic, parts);
    }
    out
}

/// A raw member: JoinGroup (twice: KIP-394 hands out the member id first), then
/// SyncGroup. Returns the open connection, the member id and the assignment.
fn raw_join(addr: &str, group: &str, topic: &str) -> (std::net::TcpStream, String, BTreeSet<i32>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut req = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_session_timeout_ms(SESSION_MS as i32)
        .with_rebalance_timeout_ms(60_000)
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(sb("range"))
            .with_metadata(subscription(&[topic]))]);
    let r: JoinGroupResponse = wire::call(&mut s, ApiKey::JoinGroup, 5, &req);
    assert_eq!(r.error_code, 79, "MEMBER_ID_REQUIRED first");
    req = req.with_member_id(r.member_id.clone());
    let r: JoinGroupResponse = wire::call(&mut s, ApiKey::JoinGroup, 5, &req);
    assert_eq!(r.error_code, 0, "join");
    assert_ne!(r.leader, r.member_id, "the librdkafka member stays leader");
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id(r.generation_id)
        .with_member_id(r.member_id.clone());
    let sr: SyncGroupResponse = wire::call(&mut s, ApiKey::SyncGroup, 3, &sync);
    assert_eq!(sr.error_code, 0, "sync");
    let parts = decode_assignment(&sr.assignment).remove(topic).unwrap_or_default();
    (s, r.member_id.to_string(), parts)
}

fn describe(weir: &Weir, group: &str) -> describe_groups_response::DescribedGroup {
    let mut s = wire::connect(weir);
    let r: DescribeGroupsResponse = wire::call(
        &mut s,
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]),
    );
    r.groups.into_iter().next().unwrap()
}

fn list_groups(weir: &Weir, states: &[&str]) -> Vec<(String, String)> {
    let mut s = wire::connect(weir);
    let req = ListGroupsRequest::default().with_states_filter(states.iter().map(|s| sb(s)).collect());
    let r: ListGroupsResponse = wire::call(&mut s, ApiKey::ListGroups, 4, &req);
    assert_eq!(r.error_code, 0);
    r.groups.into_iter().map(|g| (g.group_id.0.to_string(), g.group_state.to_string())).collect()
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_read_300k_records_while_members_join_and_leave() {
    let weir = Weir::start_with(ARGS);
    churn(&weir, "churn-g", &[]).await;
    let d = describe(&weir, "churn-g");
    assert_eq!((d.error_code, d.group_state.as_str(), d.members.len()), (0, "Empty", 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_heartbeating_is_evicted_and_its_partitions_move() {
    let weir = Weir::start_with(ARGS);
    let (topic, group) = ("evict", "evict-g");
    create_topic(&weir.addr, topic, 6, &[]).await;
    let (c, tracker) = group_consumer(&weir.addr, group, &[]);
    c.subscribe(&[topic]).unwrap();
    wait_for("the consumer to own all 6 partitions", || {
        c.poll(Duration::from_millis(50));
        tracker.partitions().len() == 6
    });

    // The raw member blocks in JoinGroup until the consumer rejoins, so it runs on a
    // thread while this one keeps polling (rebalance callbacks run inside poll).
    let raw = {
        let weir_addr = weir.addr.clone();
        std::thread::spawn(move || {
            let (sock, id, parts) = raw_join(&weir_addr, group, topic);
            (sock, id, parts, Instant::now())
        })
    };
    while !raw.is_finished() {
        c.poll(Duration::from_millis(50));
    }
    let (_sock, raw_id, raw_parts, synced) = raw.join().expect("raw member");
    assert_eq!(raw_parts.len(), 3, "range assigns half of 6 partitions to the raw member");
    wait_for("the consumer to own the other half", || {
        c.poll(Duration::from_millis(50));
        tracker.partitions() == (0..6).filter(|p| !raw_parts.contains(p)).collect()
    });
    let d = describe(&weir, group);
    assert_eq!(d.group_state.as_str(), "Stable");
    assert!(d.members.iter().any(|m| m.member_id.as_str() == raw_id));

    // The raw member now goes silent (its connection stays open, as a hung process's
    // would): after its session timeout it is evicted and the consumer gets everything.
    wait_for("the consumer to own all 6 partitions again", || {
        c.poll(Duration::from_millis(50));
        tracker.partitions().len() == 6
    });
    let after = synced.elapsed();
    assert!(
        after >= Duration::from_millis(SESSION_MS - 1000),
        "evicted after {after:?}, before its {SESSION_MS} ms session timeout"
    );
    let d = describe(&weir, group);
    assert_eq!(d.members.len(), 1, "only the consumer is left");
    assert!(d.members.iter().all(|m| m.member_id.as_str() != raw_id));
    // The evicted member's heartbeat is refused.
    let mut s = wire::connect(&weir);
    let hb =
        HeartbeatRequest::default().with_group_id(GroupId(sb(group))).with_generation_id(1).with_member_id(sb(&raw_id));
    let r: HeartbeatResponse = wire::call(&mut s, ApiKey::Heartbeat, 3, &hb);
    assert_eq!(r.error_code, 25, "UNKNOWN_MEMBER_ID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_restart_and_a_new_consumer_resumes_after_them() {
    let mut weir = Weir::start_restartable(ARGS);
    let (topic, group) = ("resume", "resume-g");
    create_topic(&weir.addr, topic, 3, &[]).await;
    produce_round_robin(&weir.addr, topic, 3, 0..3000);

    let (c, _) = group_consumer(&weir.addr, group, &[]);
    c.subscribe(&[topic]).unwrap();
    let next = consume_subscribed(&c, 1234, &BTreeMap::new());
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &next {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
    assert_eq!(committed(&c, topic, 3), next);
    drop(c); // leaves the group

    // A clean restart, then a crash: commits are durable once acknowledged.
    assert_eq!(weir.stop().code(), Some(0));
    weir.restart();
    let (c, _) = group_consumer(&weir.addr, group, &[]);
    assert_eq!(committed(&c, topic, 3), next, "committed offsets after a restart");
    c.subscribe(&[topic]).unwrap();
    let next2 = consume_subscribed(&c, 1000, &next);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &next2 {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
    drop(c);
    weir.kill();
    weir.restart();

    let (c, _) = group_consumer(&weir.addr, group, &[]);
    c.subscribe(&[topic]).unwrap();
    let remaining = 3000 - next2.values().sum::<i64>() as usize;
    let end = consume_subscribed(&c, remaining, &next2);
    assert_eq!(end, (0..3).map(|p| (p, 1000)).collect(), "read to the end, exactly once");
    assert!(c.poll(Duration::from_millis(300)).is_none(), "nothing beyond the end");
    drop(c);
    assert_eq!(weir.stop().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarting_within_its_session_keeps_its_partitions_without_a_rebalance() {
    let weir = Weir::start_with(ARGS);
    let (topic, group) = ("static", "static-g");
    create_topic(&weir.addr, topic, 4, &[]).await;
    let history = Arc::new(History::default());
    let cfg = |inst: &'static str| -> [(&'static str, &'static str); 2] {
        [("group.instance.id", inst), ("session.timeout.ms", "30000")]
    };
    // s1 joins first, so it is the leader: the harder case.
    let mut s1 = Member::spawn(&weir.addr, group, topic, &cfg("s1"), history.clone());
    wait_for("s1 to own all partitions", || s1.tracker.partitions().len() == 4);
    let s2 = Member::spawn(&weir.addr, group, topic, &cfg("s2"), history.clone());
    wait_for("s1 and s2 to share the partitions", || {
        s1.tracker.partitions().len() == 2 && s2.tracker.partitions().len() == 2
    });
    let before = describe(&weir, group);
    assert_eq!(before.group_state.as_str(), "Stable");
    let s1_parts = s1.tracker.partitions();
    let s2_rebalances = (s2.tracker.assigns.load(Ordering::SeqCst), s2.tracker.revokes.load(Ordering::SeqCst));
    let old_s1 =
        before.members.iter().find(|m| m.group_instance_id.as_deref() == Some("s1")).unwrap().member_id.clone();

    // librdkafka does not send LeaveGroup when a static member closes (KIP-345).
    s1.close();
    assert_eq!(describe(&weir, group).members.len(), 2, "s1 is still a member while its session lasts");
    let s1b = Member::spawn(&weir.addr, group, topic, &cfg("s1"), history.clone());
    wait_for("the restarted s1 to get its partitions", || !s1b.tracker.partitions().is_empty());
    assert_eq!(s1b.tracker.partitions(), s1_parts, "same partitions after the restart");
    // In the eager protocol a rebalance cannot complete before every member revoked,
    // so s2's unchanged callback counts prove there was none.
    assert_eq!(
        (s2.tracker.assigns.load(Ordering::SeqCst), s2.tracker.revokes.load(Ordering::SeqCst)),
        s2_rebalances,
        "s2 saw no rebalance"
    );
    let after = describe(&weir, group);
    assert_eq!(after.group_state.as_str(), "Stable");
    assert_eq!(after.members.len(), 2);
    let new_s1 = after.members.iter().find(|m| m.group_instance_id.as_deref() == Some("s1")).unwrap();
    assert_ne!(new_s1.member_id, old_s1, "the restarted member has a new member id");
    let parts = decode_assignment(&new_s1.member_assignment).remove(topic).unwrap_or_default();
    assert_eq!(parts, s1_parts, "DescribeGroups shows the kept assignment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_describe_and_delete_groups() {
    let weir = Weir::start_with(ARGS);
    let (topic, group) = ("adm-groups", "adm-g");
    create_topic(&weir.addr, topic, 2, &[]).await;
    produce_round_robin(&weir.addr, topic, 2, 0..10);
    let (c, tracker) = group_consumer(&weir.addr, group, &[("client.id", "adm-client")]);
    c.subscribe(&[topic]).unwrap();
    let next = consume_subscribed(&c, 10, &BTreeMap::new());
    assert_eq!(tracker.partitions().len(), 2);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &next {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();

    // librdkafka's group list (ListGroups + DescribeGroups).
    let list = c.fetch_group_list(Some(group), DEADLINE).unwrap();
    let g = &list.groups()[0];
    assert_eq!((g.name(), g.state(), g.protocol_type(), g.protocol()), (group, "Stable", "consumer", "range"));
    assert_eq!(g.members().len(), 1);
    assert_eq!(g.members()[0].client_id(), "adm-client");
    let assignment = decode_assignment(g.members()[0].assignment().unwrap());
    assert_eq!(assignment[topic], [0, 1].into());
    // Raw ListGroups with state filters (v4).
    assert!(list_groups(&weir, &[]).contains(&(group.to_string(), "Stable".to_string())));
    assert!(list_groups(&weir, &["stable"]).iter().any(|(g, _)| g == group));
    assert!(!list_groups(&weir, &["Empty"]).iter().any(|(g, _)| g == group));

    let a = admin(&weir.addr);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let r = a.delete_groups(&[group], &opts).await.unwrap();
    assert_eq!(r[0].clone().unwrap_err().1, RDKafkaErrorCode::NonEmptyGroup);

    drop(c); // leaves: the group is empty but keeps its offsets
    wait_for("the group to be empty", || describe(&weir, group).group_state.as_str() == "Empty");
    assert!(list_groups(&weir, &["Empty"]).iter().any(|(g, _)| g == group));
    let (probe, _) = group_consumer(&weir.addr, group, &[]);
    assert_eq!(committed(&probe, topic, 2), next);

    let r = a.delete_groups(&[group, "no-such-group"], &opts).await.unwrap();
    assert_eq!(r[0].clone().unwrap(), group);
    assert_eq!(r[1].clone().unwrap_err().1, RDKafkaErrorCode::GroupIdNotFound);
    assert!(!list_groups(&weir, &[]).iter().any(|(g, _)| g == group));
    assert!(committed(&probe, topic, 2).is_empty(), "offsets deleted with the group");
    let d = describe(&weir, group);
    // Before v6, DescribeGroups answers an unknown group with state Dead and no error.
    assert_eq!((d.error_code, d.group_state.as_str(), d.members.len()), (0, "Dead", 0));
}

/// Java's `String.hashCode` (for ASCII), which places a group on a partition.
fn java_hash(s: &str) -> i32 {
    s.bytes().fold(0i32, |h, b| h.wrapping_mul(31).wrapping_add(b as i32))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_offsets_records_use_kafkas_key_and_value_schemas() {
    let weir = Weir::start_with(ARGS);
    let (topic, group) = ("decode", "decode-g");
    create_topic(&weir.addr, topic, 2, &[]).await;
    produce_round_robin(&weir.addr, topic, 2, 0..100);

    // Simple (non-member) commits: two for partition 0 (the second wins), one for 1.
    let (c, _) = group_consumer(&weir.addr, group, &[]);
    let t0 = store_now_ms();
    let commit = |p: i32, o: i64, meta: &str| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(o)).unwrap();
        tpl.find_partition(topic, p).expect("added").set_metadata(meta);
        c.commit(&tpl, CommitMode::Sync).unwrap();
    };
    commit(0, 10, "first");
    commit(0, 42, "meta-zero");
    commit(1, 7, "");
    let t1 = store_now_ms();

    // Read every record of __consumer_offsets by assignment.
    let reader = consumer(&weir.addr);
    let mut found: Vec<(i32, Bytes, Option<Bytes>)> = Vec::new();
    for p in 0..50 {
        let (lo, hi) = reader.fetch_watermarks("__consumer_offsets", p, DEADLINE).unwrap();
        if hi > lo {
            for (_, r) in read_partition(&weir.addr, "__consumer_offsets", p, Offset::Beginning, (hi - lo) as usize) {
                found.push((p, Bytes::from(r.key.unwrap()), r.value.map(Bytes::from)));
            }
        }
    }
    let want_partition = java_hash(group).unsigned_abs() as i32 % 50;
    let mut latest: BTreeMap<(String, i32), (i64, i32, String, i64)> = BTreeMap::new();
    let mut commits = 0;
    for (p, mut key, value) in found {
        let version = key.get_i16();
        assert!((0..=2).contains(&version), "key version {version}");
        let g = get_str(&mut key);
        if version == 2 || g != group {
            continue;
        }
        assert_eq!(version, 1, "OffsetCommitKey v1");
        let t = get_str(&mut key);
        let partition = key.get_i32();
        assert!(key.is_empty(), "nothing after the key fields");
        assert_eq!(p, want_partition, "abs(hashCode(group)) % 50");
        let mut v = value.expect("a value, not a tombstone");
        assert_eq!(v.get_i16(), 3, "OffsetCommitValue v3");
        let offset = v.get_i64();
        let epoch = v.get_i32();
        let metadata = get_str(&mut v);
        let ts = v.get_i64();
        assert!(v.is_empty(), "nothing after the value fields");
        latest.insert((t, partition), (offset, epoch, metadata, ts));
        commits += 1;
    }
    assert_eq!(commits, 3, "one record per committed partition per commit");
    assert_eq!(latest.len(), 2);
    let (o, e, m, ts) = &latest[&(topic.to_string(), 0)];
    assert_eq!((*o, *e, m.as_str()), (42, -1, "meta-zero"));
    assert!((t0..=t1).contains(ts), "commit timestamp {ts} within [{t0}, {t1}]");
    let (o, _, m, _) = &latest[&(topic.to_string(), 1)];
    assert_eq!((*o, m.as_str()), (7, ""));
}

fn get_str(b: &mut Bytes) -> String {
    let len = b.get_i16();
    assert!(len >= 0, "non-null string");
    let s = b.split_to(len as usize);
    String::from_utf8(s.to_vec()).unwrap()
}

fn store_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn find_coordinator_names_this_broker_for_groups_and_transactional_ids() {
    let weir = Weir::start();
    let mut s = wire::connect(&weir);
    let port: i32 = weir.addr.rsplit_once(':').unwrap().1.parse().unwrap();
    for key_type in [0i8, 1] {
        // v4+: batched keys.
        let req =
            FindCoordinatorRequest::default().with_key_type(key_type).with_coordinator_keys(vec![sb("a"), sb("b")]);
        let r: FindCoordinatorResponse = wire::call(&mut s, ApiKey::FindCoordinator, 4, &req);
        assert_eq!(r.coordinators.len(), 2);
        for c in &r.coordinators {
            assert_eq!((c.error_code, c.node_id.0, c.port), (0, 1, port), "key type {key_type}");
        }
        let req = FindCoordinatorRequest::default().with_key_type(key_type).with_key(sb("a"));
        let r: FindCoordinatorResponse = wire::call(&mut s, ApiKey::FindCoordinator, 3, &req);
        assert_eq!((r.error_code, r.node_id.0, r.port), (0, 1, port));
    }
    let req = FindCoordinatorRequest::default().with_key_type(7).with_key(sb("a"));
    let r: FindCoordinatorResponse = wire::call(&mut s, ApiKey::FindCoordinator, 3, &req);
    assert_eq!(r.error_code, 42, "INVALID_REQUEST for an unknown key type");
    // A transactional id keeps its producer id and bumps the epoch on every init
    // (fencing the previous producer); a timeout outside 1..transaction.max.timeout.ms
    // is refused; an idempotent producer gets a fresh id each time.
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(sb("t"))))
        .with_transaction_timeout_ms(60_000);
    let first: InitProducerIdResponse = wire::call(&mut s, ApiKey::InitProducerId, 4, &req);
    let again: InitProducerIdResponse = wire::call(&mut s, ApiKey::InitProducerId, 4, &req);
    assert_eq!((first.error_code, again.error_code), (0, 0));
    assert_eq!((again.producer_id, again.producer_epoch), (first.producer_id, first.producer_epoch + 1));
    let too_long = req.clone().with_transaction_timeout_ms(900_001);
    let r: InitProducerIdResponse = wire::call(&mut s, ApiKey::InitProducerId, 4, &too_long);
    assert_eq!(r.error_code, 50, "INVALID_TRANSACTION_TIMEOUT");
    let req = InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(-1);
    let a: InitProducerIdResponse = wire::call(&mut s, ApiKey::InitProducerId, 4, &req);
    let b: InitProducerIdResponse = wire::call(&mut s, ApiKey::InitProducerId, 4, &req);
    assert_eq!((a.error_code, b.error_code, a.producer_epoch), (0, 0, 0));
    assert!(a.producer_id.0 >= 0 && b.producer_id.0 > a.producer_id.0);
}
