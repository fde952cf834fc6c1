//! End-to-end: KIP-848 consumer groups (`group.protocol=consumer`), driven by
//! librdkafka consumers and by raw ConsumerGroupHeartbeat members (kafka-protocol
//! over TCP). The broker computes assignments (uniform or range); members reconcile
//! incrementally.
//!
//! No sleeps for correctness: every wait polls a condition under a generous deadline.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clients::*;
use common::groups::*;
use common::wire::sb;
use common::{wire, Weir};
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::*;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use uuid::Uuid;

const SESSION_MS: u64 = 4000;
const INTERVAL_MS: u64 = 200;

fn args() -> Vec<String> {
    vec![
        "--set".into(),
        format!("group.consumer.session.timeout.ms={SESSION_MS}"),
        "--set".into(),
        format!("group.consumer.heartbeat.interval.ms={INTERVAL_MS}"),
        // Kafka's bounds (45 s, 5 s) are for production; tests run faster.
        "--set".into(),
        format!("group.consumer.min.session.timeout.ms={SESSION_MS}"),
        "--set".into(),
        format!("group.consumer.min.heartbeat.interval.ms={INTERVAL_MS}"),
        "--set".into(),
        "group.initial.rebalance.delay.ms=0".into(),
    ]
}

fn start() -> Weir {
    let a = args();
    Weir::start_with(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

const CONSUMER: &[(&str, &str)] = &[("group.protocol", "consumer")];

// ------------------------------------------------------------------ raw members

/// A member speaking ConsumerGroupHeartbeat v1 itself.
struct RawMember {
    s: TcpStream,
    group: String,
    id: String,
    epoch: i32,
    /// Partitions by topic id, as the coordinator last assigned them.
    owned: BTreeMap<Uuid, BTreeSet<i32>>,
}

fn owned_list(a: &BTreeMap<Uuid, BTreeSet<i32>>) -> Vec<TopicPartitions> {
    a.iter()
        .map(|(t, ps)| TopicPartitions::default().with_topic_id(*t).with_partitions(ps.iter().copied().collect()))
        .collect()
}

impl RawMember {
    fn connect(weir: &Weir, group: &str) -> RawMember {
        RawMember {
            s: wire::connect(weir),
            group: group.into(),
            id: Uuid::new_v4().to_string(),
            epoch: 0,
            owned: BTreeMap::new(),
        }
    }

    fn send(&mut self, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
        let r: ConsumerGroupHeartbeatResponse = wire::call(&mut self.s, ApiKey::ConsumerGroupHeartbeat, 1, &req);
        if r.error_code == 0 && r.member_epoch >= 0 {
            self.epoch = r.member_epoch;
            if let Some(a) = &r.assignment {
                self.owned = a
                    .topic_partitions
                    .iter()
                    .map(|tp| (tp.topic_id, tp.partitions.iter().copied().collect()))
                    .collect();
            }
        }
        r
    }

    /// Sends `f(base request)`.
    fn with(
        &mut self,
        f: impl FnOnce(ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatRequest,
    ) -> ConsumerGroupHeartbeatResponse {
        let req = f(self.base());
        self.send(req)
    }

    fn base(&self) -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(sb(&self.group)))
            .with_member_id(sb(&self.id))
            .with_member_epoch(self.epoch)
            .with_rebalance_timeout_ms(30_000)
    }

    fn join(&mut self, topics: &[&str]) -> ConsumerGroupHeartbeatResponse {
        let req = self
            .base()
            .with_member_epoch(0)
            .with_subscribed_topic_names(Some(topics.iter().map(|t| TopicName(sb(t))).collect()))
            .with_topic_partitions(Some(vec![]));
        self.send(req)
    }

    /// A heartbeat that reports what the member owns (it revokes at once).
    fn beat(&mut self) -> ConsumerGroupHeartbeatResponse {
        let req = self.base().with_topic_partitions(Some(owned_list(&self.owned)));
        self.send(req)
    }

    fn partitions(&self) -> usize {
        self.owned.values().map(BTreeSet::len).sum()
    }

    fn leave(&mut self) -> ConsumerGroupHeartbeatResponse {
        let req = self.base().with_member_epoch(-1);
        self.send(req)
    }
}

fn cg_describe(weir: &Weir, group: &str) -> consumer_group_describe_response::DescribedGroup {
    let mut s = wire::connect(weir);
    let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(group))]);
    let r: ConsumerGroupDescribeResponse = wire::call(&mut s, ApiKey::ConsumerGroupDescribe, 0, &req);
    r.groups.into_iter().next().unwrap()
}

fn topic_id(weir: &Weir, topic: &str) -> Uuid {
    let mut s = wire::connect(weir);
    let req = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(sb(topic))))
    ]));
    let r: MetadataResponse = wire::call(&mut s, ApiKey::Metadata, 12, &req);
    r.topics[0].topic_id
}

// ------------------------------------------------------------------ librdkafka

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_read_300k_records_while_members_join_and_leave() {
    let weir = start();
    churn(&weir, "kip848-churn", CONSUMER).await;
    let d = cg_describe(&weir, "kip848-churn");
    assert_eq!((d.error_code, d.group_state.as_str(), d.members.len()), (0, "Empty", 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_heartbeating_is_evicted_and_its_partitions_move() {
    let weir = start();
    let (topic, group) = ("kip848-evict", "kip848-evict-g");
    create_topic(&weir.addr, topic, 6, &[]).await;
    let (c, tracker) = group_consumer(&weir.addr, group, CONSUMER);
    c.subscribe(&[topic]).unwrap();
    wait_for("the consumer to own all 6 partitions", || {
        c.poll(Duration::from_millis(50));
        tracker.partitions().len() == 6
    });

    // The raw member joins; the consumer must give up half its partitions first.
    let mut raw = RawMember::connect(&weir, group);
    let r = raw.join(&[topic]);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.heartbeat_interval_ms, INTERVAL_MS as i32);
    wait_for("the raw member to get 3 partitions", || {
        c.poll(Duration::from_millis(20));
        let r = raw.beat();
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        raw.partitions() == 3 && tracker.partitions().len() == 3
    });
    let synced = Instant::now();
    let d = cg_describe(&weir, group);
    assert_eq!((d.error_code, d.group_state.as_str(), d.assignor_name.as_str()), (0, "Stable", "uniform"));
    assert_eq!(d.members.len(), 2);
    for m in &d.members {
        assert_eq!(m.member_epoch, d.assignment_epoch, "every member is at the target epoch");
        let n: usize = m.assignment.topic_partitions.iter().map(|t| t.partitions.len()).sum();
        assert_eq!(n, 3);
        assert_eq!(m.assignment.topic_partitions[0].topic_name.as_str(), topic);
    }

    // The raw member goes silent (its connection stays open, as a hung process's
    // would): after the session timeout it is removed and the consumer gets all.
    wait_for("the consumer to own all 6 partitions again", || {
        c.poll(Duration::from_millis(50));
        tracker.partitions().len() == 6
    });
    let after = synced.elapsed();
    assert!(
        after >= Duration::from_millis(SESSION_MS - 1000),
        "evicted after {after:?}, before its {SESSION_MS} ms session timeout"
    );
    let d = cg_describe(&weir, group);
    assert_eq!(d.members.len(), 1);
    let r = raw.beat();
    assert_eq!(r.error_code, 25, "UNKNOWN_MEMBER_ID for the evicted member");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_restart_and_a_new_consumer_resumes_after_them() {
    let a = args();
    let mut weir = Weir::start_restartable(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (topic, group) = ("kip848-resume", "kip848-resume-g");
    create_topic(&weir.addr, topic, 3, &[]).await;
    produce_round_robin(&weir.addr, topic, 3, 0..3000);

    let commit = |c: &rdkafka::consumer::BaseConsumer<Ctx>, next: &BTreeMap<i32, i64>| {
        let mut tpl = TopicPartitionList::new();
        for (p, o) in next {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).unwrap();
        }
        c.commit(&tpl, CommitMode::Sync).unwrap();
    };
    let (c, _) = group_consumer(&weir.addr, group, CONSUMER);
    c.subscribe(&[topic]).unwrap();
    let next = consume_subscribed(&c, 1234, &BTreeMap::new());
    commit(&c, &next);
    assert_eq!(committed(&c, topic, 3), next);
    drop(c);

    assert_eq!(weir.stop().code(), Some(0));
    weir.restart();
    let (c, _) = group_consumer(&weir.addr, group, CONSUMER);
    c.subscribe(&[topic]).unwrap();
    let next2 = consume_subscribed(&c, 1000, &next);
    commit(&c, &next2);
    drop(c);
    weir.kill();
    weir.restart();

    let (c, _) = group_consumer(&weir.addr, group, CONSUMER);
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
    // A session long enough that the departed static member is kept meanwhile.
    let weir = Weir::start_with(&[
        "--set",
        "group.consumer.session.timeout.ms=30000",
        "--set",
        "group.consumer.heartbeat.interval.ms=200",
        "--set",
        "group.consumer.min.heartbeat.interval.ms=200",
        "--set",
        "group.consumer.min.session.timeout.ms=30000",
    ]);
    let (topic, group) = ("kip848-static", "kip848-static-g");
    create_topic(&weir.addr, topic, 4, &[]).await;
    let history = Arc::new(History::default());
    let cfg = |inst: &'static str| -> [(&'static str, &'static str); 2] {
        [("group.instance.id", inst), ("group.protocol", "consumer")]
    };
    let mut s1 = Member::spawn(&weir.addr, group, topic, &cfg("s1"), history.clone());
    wait_for("s1 to own all partitions", || s1.tracker.partitions().len() == 4);
    let s2 = Member::spawn(&weir.addr, group, topic, &cfg("s2"), history.clone());
    wait_for("s1 and s2 to share the partitions", || {
        s1.tracker.partitions().len() == 2 && s2.tracker.partitions().len() == 2
    });
    wait_for("the group to be stable", || cg_describe(&weir, group).group_state.as_str() == "Stable");
    let s1_parts = s1.tracker.partitions();
    let s2_callbacks = (s2.tracker.assigns.load(Ordering::SeqCst), s2.tracker.revokes.load(Ordering::SeqCst));
    let before = cg_describe(&weir, group);
    let old_s1 = before.members.iter().find(|m| m.instance_id.as_deref() == Some("s1")).unwrap().clone();

    // A static member closing leaves with epoch -2: it stays in the group meanwhile.
    s1.close();
    wait_for("s1 to have left for now", || {
        cg_describe(&weir, group).members.iter().any(|m| m.instance_id.as_deref() == Some("s1") && m.member_epoch == -2)
    });
    let s1b = Member::spawn(&weir.addr, group, topic, &cfg("s1"), history.clone());
    wait_for("the restarted s1 to get its partitions", || !s1b.tracker.partitions().is_empty());
    assert_eq!(s1b.tracker.partitions(), s1_parts, "same partitions after the restart");
    let after = cg_describe(&weir, group);
    assert_eq!(after.group_epoch, before.group_epoch, "no new group epoch: no rebalance");
    assert_eq!(after.members.len(), 2);
    let new_s1 = after.members.iter().find(|m| m.instance_id.as_deref() == Some("s1")).unwrap();
    assert_ne!(new_s1.member_id, old_s1.member_id, "the restarted member has a new member id");
    assert_eq!(new_s1.member_epoch, old_s1.member_epoch);
    assert_eq!(
        (s2.tracker.assigns.load(Ordering::SeqCst), s2.tracker.revokes.load(Ordering::SeqCst)),
        s2_callbacks,
        "s2 saw no rebalance"
    );
}

// ------------------------------------------------------------------ protocol rules

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_errors_epochs_assignors_regex_and_offsets() {
    let weir = start();
    create_topic(&weir.addr, "rx-a", 2, &[]).await;
    create_topic(&weir.addr, "rx-b", 2, &[]).await;
    create_topic(&weir.addr, "other", 2, &[]).await;
    let group = "rules-g";

    // Request validation.
    let mut m = RawMember::connect(&weir, group);
    let r = m.with(|q| {
        q.with_member_id(sb("")).with_subscribed_topic_names(Some(vec![])).with_topic_partitions(Some(vec![]))
    });
    assert_eq!(r.error_code, 42, "INVALID_REQUEST: v1 needs a member id");
    let r = m.with(|q| {
        q.with_subscribed_topic_names(Some(vec![]))
            .with_server_assignor(Some(sb("bogus")))
            .with_topic_partitions(Some(vec![]))
    });
    assert_eq!(r.error_code, 112, "UNSUPPORTED_ASSIGNOR");
    let r = m.with(|q| q.with_subscribed_topic_regex(Some(sb("rx-("))).with_topic_partitions(Some(vec![])));
    assert_eq!(r.error_code, 128, "INVALID_REGULAR_EXPRESSION");
    let r = m.with(|q| q.with_member_epoch(5));
    assert_eq!(r.error_code, 25, "UNKNOWN_MEMBER_ID before joining");

    // A regex subscription with the range assignor: whole names only, no internal topics.
    let r = m.with(|q| {
        q.with_subscribed_topic_regex(Some(sb("rx-.")))
            .with_server_assignor(Some(sb("range")))
            .with_topic_partitions(Some(vec![]))
    });
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let (a, b, other) = (topic_id(&weir, "rx-a"), topic_id(&weir, "rx-b"), topic_id(&weir, "other"));
    assert_eq!(m.owned, [(a, [0, 1].into()), (b, [0, 1].into())].into());
    assert!(!m.owned.contains_key(&other));
    let epoch1 = m.epoch;
    assert!(epoch1 > 0);
    let d = cg_describe(&weir, group);
    assert_eq!((d.assignor_name.as_str(), d.group_state.as_str()), ("range", "Stable"));
    assert_eq!(d.members[0].subscribed_topic_regex.as_deref(), Some("rx-."));

    // A new matching topic shows up at the next heartbeat with a new epoch.
    create_topic(&weir.addr, "rx-c", 1, &[]).await;
    let r = m.beat();
    assert_eq!(r.error_code, 0);
    assert!(m.epoch > epoch1);
    assert_eq!(m.owned.get(&topic_id(&weir, "rx-c")), Some(&[0].into()));

    // Epoch fencing: a wrong epoch is fenced; the previous one is a lost response
    // retried only when the member owns no more than it was given.
    let wrong = m.epoch + 7;
    let r = m.with(|q| q.with_member_epoch(wrong));
    assert_eq!(r.error_code, 110, "FENCED_MEMBER_EPOCH");
    let owned = owned_list(&m.owned);
    let r = m.with(|q| q.with_member_epoch(epoch1).with_topic_partitions(Some(owned)));
    assert_eq!(r.error_code, 0, "the previous epoch with owned partitions a subset is accepted");

    // Offsets: commits and fetches carry the member epoch.
    let commit = |s: &mut TcpStream, epoch: i32, member: &str| -> i16 {
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_generation_id_or_member_epoch(epoch)
            .with_member_id(sb(member))
            .with_topics(vec![offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(sb("rx-a")))
                .with_partitions(vec![offset_commit_request::OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(0)])]);
        let r: OffsetCommitResponse = wire::call(s, ApiKey::OffsetCommit, 9, &req);
        r.topics[0].partitions[0].error_code
    };
    let mut s = wire::connect(&weir);
    assert_eq!(commit(&mut s, m.epoch - 1, &m.id), 113, "STALE_MEMBER_EPOCH");
    assert_eq!(commit(&mut s, m.epoch, "not-a-member"), 25, "UNKNOWN_MEMBER_ID");
    assert_eq!(commit(&mut s, -1, ""), 25, "a simple commit is refused while the group has members");
    assert_eq!(commit(&mut s, m.epoch, &m.id), 0);
    let fetch = |s: &mut TcpStream, epoch: i32| -> i16 {
        let req =
            OffsetFetchRequest::default().with_groups(vec![offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(sb(group)))
                .with_member_id(Some(sb(&m.id)))
                .with_member_epoch(epoch)
                .with_topics(None)]);
        let r: OffsetFetchResponse = wire::call(s, ApiKey::OffsetFetch, 9, &req);
        r.groups[0].error_code
    };
    assert_eq!(fetch(&mut s, m.epoch - 1), 113, "STALE_MEMBER_EPOCH");
    assert_eq!(fetch(&mut s, m.epoch), 0);

    // A classic member whose JoinGroup carries no ConsumerProtocol subscription
    // cannot join a consumer group.
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(sb("x"))
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default().with_name(sb("range"))]);
    let r: JoinGroupResponse = wire::call(&mut s, ApiKey::JoinGroup, 5, &join.clone().with_member_id(sb("")));
    assert_eq!(r.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");
    let r: DescribeGroupsResponse = wire::call(
        &mut s,
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]),
    );
    assert_eq!(r.groups[0].error_code, 69, "DescribeGroups: not a classic group");
    let listed: ListGroupsResponse = wire::call(
        &mut s,
        ApiKey::ListGroups,
        5,
        &ListGroupsRequest::default().with_types_filter(vec![sb("consumer")]),
    );
    let g = listed.groups.iter().find(|g| g.group_id.as_str() == group).expect("listed as a consumer group");
    assert_eq!((g.group_type.as_str(), g.group_state.as_str()), ("consumer", "Stable"));
    let listed: ListGroupsResponse =
        wire::call(&mut s, ApiKey::ListGroups, 5, &ListGroupsRequest::default().with_types_filter(vec![sb("classic")]));
    assert!(listed.groups.iter().all(|g| g.group_id.as_str() != group));

    // A classic group whose members' subscriptions cannot be read is not upgraded
    // (Kafka: "the embedded consumer protocol is malformed"), and
    // ConsumerGroupDescribe does not describe it.
    let classic = "rules-classic";
    let mut c = wire::connect(&weir);
    let join = join.with_group_id(GroupId(sb(classic))).with_member_id(sb(""));
    let r: JoinGroupResponse = wire::call(&mut c, ApiKey::JoinGroup, 3, &join);
    assert_eq!(r.error_code, 0, "a v3 member joins without KIP-394");
    let mut other = RawMember::connect(&weir, classic);
    assert_eq!(other.join(&["rx-a"]).error_code, 69, "GROUP_ID_NOT_FOUND: not a consumer group");
    assert_eq!(cg_describe(&weir, classic).error_code, 69);
    assert_eq!(cg_describe(&weir, "no-such-group").error_code, 69);

    // v0: the coordinator picks the member id.
    let mut s0 = wire::connect(&weir);
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb("rules-v0")))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(sb("other"))]))
        .with_topic_partitions(Some(vec![]));
    let r: ConsumerGroupHeartbeatResponse = wire::call(&mut s0, ApiKey::ConsumerGroupHeartbeat, 0, &req);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let id = r.member_id.clone().expect("a member id from the coordinator");
    assert!(!id.is_empty() && r.member_epoch > 0);
    let n: usize = r.assignment.iter().flat_map(|a| &a.topic_partitions).map(|t| t.partitions.len()).sum();
    assert_eq!(n, 2, "both partitions of `other`");

    // Leaving empties the group; it keeps its offsets.
    let r = m.leave();
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
    let d = cg_describe(&weir, group);
    assert_eq!((d.group_state.as_str(), d.members.len()), ("Empty", 0));
    assert_eq!(commit(&mut s, -1, ""), 0, "simple commits are fine in an empty group");
}

/// KIP-848 member state is in `__consumer_offsets` (Kafka's consumer-group
/// records): after a clean restart and after SIGKILL, members heartbeat on at
/// their epochs with their partitions; nobody rejoins from epoch 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_keep_their_epochs_and_partitions_across_a_restart() {
    let mut weir = start();
    let (topic, group) = ("kip848-restart", "kip848-restart-g");
    create_topic(&weir.addr, topic, 4, &[]).await;
    let mut a = RawMember::connect(&weir, group);
    let mut b = RawMember::connect(&weir, group);
    assert_eq!(a.join(&[topic]).error_code, 0);
    assert_eq!(b.join(&[topic]).error_code, 0);
    wait_for("both members stable with 2 partitions each", || {
        assert_eq!(a.beat().error_code, 0);
        assert_eq!(b.beat().error_code, 0);
        a.partitions() == 2 && b.partitions() == 2 && cg_describe(&weir, group).group_state.as_str() == "Stable"
    });
    let before = cg_describe(&weir, group);
    let (epochs, owned) = ((a.epoch, b.epoch), (a.owned.clone(), b.owned.clone()));
    assert!(epochs.0 > 0 && epochs.1 > 0);

    for crash in [false, true] {
        if crash {
            weir.kill();
        } else {
            assert!(weir.stop().success());
        }
        weir.restart();
        a.s = wire::connect(&weir);
        b.s = wire::connect(&weir);
        let (ra, rb) = (a.beat(), b.beat());
        assert_eq!((ra.error_code, rb.error_code), (0, 0), "{:?} {:?}", ra.error_message, rb.error_message);
        assert_eq!((a.epoch, b.epoch), epochs, "crash {crash}: the members keep their epochs");
        assert_eq!((a.owned.clone(), b.owned.clone()), owned, "and their partitions");
        let after = cg_describe(&weir, group);
        assert_eq!(
            (after.group_state.as_str(), after.group_epoch, after.assignment_epoch, after.members.len()),
            ("Stable", before.group_epoch, before.assignment_epoch, 2),
            "crash {crash}"
        );
    }

    // Leaving after the restart empties the group, and that too survives one.
    assert_eq!(a.leave().error_code, 0);
    assert_eq!(b.leave().error_code, 0);
    assert!(weir.stop().success());
    weir.restart();
    let d = cg_describe(&weir, group);
    assert_eq!((d.group_state.as_str(), d.members.len()), ("Empty", 0));

    // A deleted group's records go with it: it stays gone after a restart.
    let mut s = wire::connect(&weir);
    let r: DeleteGroupsResponse = wire::call(
        &mut s,
        ApiKey::DeleteGroups,
        2,
        &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(group))]),
    );
    assert_eq!(r.results[0].error_code, 0);
    assert!(weir.stop().success());
    weir.restart();
    assert_eq!(cg_describe(&weir, group).error_code, 69, "GROUP_ID_NOT_FOUND");
}
