//! Live migration between the classic protocol and KIP-848 consumer groups
//! (issue 20; Kafka 4.x's `group.consumer.migration.policy=bidirectional`), with
//! librdkafka consumers consuming and committing throughout: a classic group is
//! upgraded when a `group.protocol=consumer` member joins, classic and consumer
//! members share the partitions, and the group is downgraded back to classic when
//! the last consumer-protocol member leaves. No committed offset or record is lost
//! on the way (the exact at-least-once check of `check_history`).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::clients::*;
use common::groups::*;
use common::{wire, Weir};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const CONSUMER: &[(&str, &str)] = &[("group.protocol", "consumer")];
const CLASSIC: &[(&str, &str)] = &[("group.protocol", "classic")];

fn group_type(weir: &Weir, group: &str) -> Option<(String, String)> {
    let r: ListGroupsResponse =
        wire::call(&mut wire::connect(weir), ApiKey::ListGroups, 5, &ListGroupsRequest::default());
    r.groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
        .map(|g| (g.group_type.to_string(), g.group_state.to_string()))
}

fn seen_all(history: &History, n: usize) -> impl FnMut() -> bool + '_ {
    move || history.seen.load(Ordering::SeqCst) >= n
}

fn consumer_members(weir: &Weir, group: &str) -> usize {
    let req =
        ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(StrBytes::from_string(group.to_string()))]);
    let r: ConsumerGroupDescribeResponse = wire::call(&mut wire::connect(weir), ApiKey::ConsumerGroupDescribe, 0, &req);
    r.groups[0].members.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classic_group_is_upgraded_and_downgraded_live_without_losing_offsets() {
    let mut weir = Weir::start_restartable(&[
        "--set",
        "group.initial.rebalance.delay.ms=0",
        "--set",
        "group.min.session.timeout.ms=1000",
        "--set",
        "group.consumer.heartbeat.interval.ms=300",
        "--set",
        "group.consumer.min.heartbeat.interval.ms=300",
    ]);
    let (topic, group) = ("migrate", "migrate-g");
    const PARTS: usize = 4;
    create_topic(&weir.addr, topic, PARTS as i32, &[]).await;
    let history = Arc::new(History::default());
    let mut produced = 0;
    let addr = weir.addr.clone(); // the same after the restart
    let mut produce = |n: usize| {
        produce_round_robin(&addr, topic, PARTS, produced..produced + n);
        produced += n;
    };

    // A classic group of two consumers, consuming and committing.
    produce(400);
    let mut c1 = Member::spawn(&weir.addr, group, topic, CLASSIC, history.clone());
    let mut c2 = Member::spawn(&weir.addr, group, topic, CLASSIC, history.clone());
    wait_for("the classic members to share the partitions", || {
        c1.tracker.partitions().len() + c2.tracker.partitions().len() == PARTS
            && !c1.tracker.partitions().is_empty()
            && !c2.tracker.partitions().is_empty()
    });
    wait_for("the first records", seen_all(&history, 400));
    assert_eq!(group_type(&weir, group).map(|t| t.0).as_deref(), Some("classic"));

    // Upgrade: a consumer-protocol member joins the classic group with members.
    let mut k1 = Member::spawn(&weir.addr, group, topic, CONSUMER, history.clone());
    wait_for("the group to become a consumer group", || group_type(&weir, group).is_some_and(|(t, _)| t == "consumer"));
    assert_eq!(consumer_members(&weir, group), 3, "the classic members carried over");
    wait_for("k1 to get partitions", || !k1.tracker.partitions().is_empty());
    produce(400);
    wait_for("every record so far", seen_all(&history, 800));

    // A restart of the broker: the classic members are written with the consumer
    // group (Kafka's classic member metadata), so nobody rebalances.
    wait_for("the mixed group to settle", || group_type(&weir, group).is_some_and(|(_, s)| s == "Stable"));
    let moves = |m: &Member| (m.tracker.assigns.load(Ordering::SeqCst), m.tracker.revokes.load(Ordering::SeqCst));
    let before = [moves(&c1), moves(&c2), moves(&k1)];
    assert_eq!(weir.stop().code(), Some(0));
    weir.restart();
    assert_eq!(consumer_members(&weir, group), 3, "every member back after the restart");
    produce(200);
    wait_for("the records after the restart", seen_all(&history, 1000));
    std::thread::sleep(std::time::Duration::from_secs(3)); // ten heartbeat intervals
    assert_eq!([moves(&c1), moves(&c2), moves(&k1)], before, "no member gave up or got partitions");
    assert_eq!(group_type(&weir, group), Some(("consumer".to_string(), "Stable".to_string())));

    // A rolling upgrade: the classic members are replaced one by one.
    c1.close();
    let mut k2 = Member::spawn(&weir.addr, group, topic, CONSUMER, history.clone());
    produce(200);
    wait_for("the records after c1 left", seen_all(&history, 1200));
    wait_for("k2 to get partitions", || !k2.tracker.partitions().is_empty());

    // Downgrade: the consumer-protocol members leave; c2 remains.
    k1.close();
    k2.close();
    wait_for("the group to become classic again", || group_type(&weir, group).is_some_and(|(t, _)| t == "classic"));
    wait_for("c2 to own every partition", || c2.tracker.partitions().len() == PARTS);
    produce(200);
    wait_for("the records after the downgrade", seen_all(&history, 1400));
    c2.close();

    let events = history.events.lock().unwrap().clone();
    let ends: BTreeMap<i32, i64> = (0..PARTS as i32).map(|p| (p, (produced / PARTS) as i64)).collect();
    let duplicates = check_history(&events, &ends);
    eprintln!("migration: {produced} records, {duplicates} seen twice after rebalances");
    assert_eq!(weir.stop().code(), Some(0));
}

/// A classic member joined with raw JoinGroup calls (protocol type `ptype`).
fn classic_join(weir: &Weir, group: &str, ptype: &str) -> std::net::TcpStream {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    let mut s = wire::connect(weir);
    let sb = |v: &str| StrBytes::from_string(v.to_string());
    let req = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_member_id(sb(member))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_protocol_type(sb(ptype))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(sb("range"))
                .with_metadata(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))])
    };
    let r: JoinGroupResponse = wire::call(&mut s, ApiKey::JoinGroup, 5, &req(""));
    assert_eq!(r.error_code, 79, "MEMBER_ID_REQUIRED");
    let r: JoinGroupResponse = wire::call(&mut s, ApiKey::JoinGroup, 5, &req(r.member_id.as_str()));
    assert_eq!(r.error_code, 0);
    s
}

fn consumer_join(weir: &Weir, group: &str) -> (i16, Option<String>) {
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_member_id(StrBytes::from_string(uuid::Uuid::new_v4().to_string()))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![]))
        .with_topic_partitions(Some(vec![]));
    let r: ConsumerGroupHeartbeatResponse =
        wire::call(&mut wire::connect(weir), ApiKey::ConsumerGroupHeartbeat, 1, &req);
    (r.error_code, r.error_message.map(|m| m.to_string()))
}

#[test]
fn an_upgrade_is_refused_as_kafka_refuses_it() {
    let weir = Weir::start_with(&["--set", "group.initial.rebalance.delay.ms=0"]);
    let _connect = classic_join(&weir, "connect-g", "connect");
    assert_eq!(
        consumer_join(&weir, "connect-g"),
        (
            69,
            Some(
                "Cannot upgrade classic group connect-g to consumer group because the group does not use the \
                 consumer embedded protocol."
                    .into()
            )
        ),
        "GROUP_ID_NOT_FOUND"
    );
    let disabled = Weir::start_with(&[
        "--set",
        "group.initial.rebalance.delay.ms=0",
        "--set",
        "group.consumer.migration.policy=disabled",
    ]);
    let _classic = classic_join(&disabled, "classic-g", "consumer");
    let (code, msg) = consumer_join(&disabled, "classic-g");
    assert_eq!(code, 69);
    assert_eq!(
        msg.as_deref(),
        Some("Cannot upgrade classic group classic-g to consumer group because online upgrade is disabled.")
    );
    assert_eq!(group_type(&disabled, "classic-g").map(|t| t.0).as_deref(), Some("classic"));
}
