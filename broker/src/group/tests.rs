//! The coordinator's state machines driven by a mock clock: nothing here sleeps;
//! time moves only when a test advances it and calls the tick.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use weir_storage::Clock;

use super::assignor::{self, Assignment};
use super::state::{GroupState, JoinResult};
use super::*;
use crate::mock_broker::MockBroker;

crate::mock_broker::fixture!(Fixture);

impl Fixture {
    fn new(config: &[(&'static str, &'static str)]) -> Fixture {
        let mut all = vec![("offsets.topic.num.partitions", "3")];
        all.extend_from_slice(config);
        Fixture(MockBroker::new(&all))
    }

    fn groups(&self) -> Arc<Coordinator> {
        self.broker().groups().clone()
    }

    /// Moves the clock and runs the coordinator's periodic work at the new time.
    async fn advance(&self, ms: i64) {
        self.clock.advance(ms);
        self.groups().periodic(self.clock.now_ms()).await;
    }
}

fn join_request(member: &str, instance: Option<&str>) -> JoinRequest {
    JoinRequest {
        group: "g".into(),
        member_id: member.into(),
        instance_id: instance.map(str::to_string),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"subscription"))],
        require_known_member_id: false,
    }
}

fn spawn_join(g: &Arc<Coordinator>, req: JoinRequest) -> tokio::task::JoinHandle<JoinResult> {
    let g = g.clone();
    tokio::spawn(async move { g.join(req).await })
}

/// Waits until `f` holds (another task's step is in flight).
async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("timed out waiting until {what}");
}

fn members(g: &Coordinator) -> usize {
    g.store.lock().get("g").map_or(0, |g| g.members.len())
}

/// Two members join and sync; returns (leader id, follower id).
async fn stable_pair(f: &Fixture) -> (String, String) {
    let g = f.groups();
    let a = spawn_join(&g, join_request("", None));
    until("a parked", || members(&g) == 1).await;
    let b = spawn_join(&g, join_request("", None));
    until("b parked", || members(&g) == 2).await;
    f.advance(3_001).await; // group.initial.rebalance.delay.ms
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let (leader, follower) = if a.leader == a.member_id { (a, b) } else { (b, a) };
    let assignments = vec![
        (leader.member_id.clone(), Bytes::from_static(b"to-leader")),
        (follower.member_id.clone(), Bytes::from_static(b"to-follower")),
    ];
    let gen = leader.generation;
    let (l_id, f_id) = (leader.member_id.clone(), follower.member_id.clone());
    let g2 = g.clone();
    let fid = f_id.clone();
    let follower_sync = tokio::spawn(async move { g2.sync("g", gen, &fid, None, vec![]).await });
    let synced = g.sync("g", gen, &l_id, None, assignments).await;
    assert_eq!(synced.assignment, Bytes::from_static(b"to-leader"));
    assert_eq!(follower_sync.await.unwrap().assignment, Bytes::from_static(b"to-follower"));
    assert_eq!(g.group_state("g"), Some(GroupState::Stable));
    (l_id, f_id)
}

#[tokio::test]
async fn the_join_barrier_waits_for_the_initial_delay_then_answers_everyone() {
    let f = Fixture::new(&[]);
    let g = f.groups();
    let a = spawn_join(&g, join_request("", None));
    until("a parked", || members(&g) == 1).await;
    let b = spawn_join(&g, join_request("", None));
    until("b parked", || members(&g) == 2).await;
    f.advance(2_000).await;
    assert_eq!(g.group_state("g"), Some(GroupState::PreparingRebalance), "still within the initial delay");
    assert!(!a.is_finished() && !b.is_finished());
    f.advance(1_001).await;
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!((a.error.clone(), b.error.clone()), (None, None));
    assert_eq!((a.generation, b.generation), (1, 1));
    assert_eq!(a.leader, b.leader);
    let leader = if a.leader == a.member_id { &a } else { &b };
    assert_eq!(leader.members.len(), 2, "the leader gets every member's subscription");
    assert_eq!(g.group_state("g"), Some(GroupState::CompletingRebalance));
}

/// Takes the `__consumer_offsets` partition of `group` offline the way a failing
/// disk does: its directory goes away, so the next roll cannot create a segment
/// (with one-record segments, the next write rolls).
fn lose_the_groups_log(f: &Fixture, group: &str) {
    let p = f.groups().partition_for(group);
    let dir = f.dir.path().join(format!("__consumer_offsets-{p}"));
    assert!(dir.is_dir(), "{} exists", dir.display());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_failed_write_of_the_assignment_answers_the_error_and_rebalances() {
    let f = Fixture::new(&[("offsets.topic.segment.bytes", "14")]);
    let g = f.groups();
    let (leader, follower) = stable_pair(&f).await; // its assignment is the segment's one record
                                                    // A third member: everyone rejoins, the join phase of generation 2 completes.
    let c = spawn_join(&g, join_request("", None));
    until("c parked", || members(&g) == 3).await;
    let l = spawn_join(&g, join_request(&leader, None));
    let fo = spawn_join(&g, join_request(&follower, None));
    let (c, l, fo) = (c.await.unwrap(), l.await.unwrap(), fo.await.unwrap());
    assert_eq!((c.generation, l.generation, fo.generation), (2, 2, 2));
    assert_eq!(g.group_state("g"), Some(GroupState::CompletingRebalance));
    lose_the_groups_log(&f, "g");
    let (g2, fid) = (g.clone(), follower.clone());
    let follower_sync = tokio::spawn(async move { g2.sync("g", 2, &fid, None, vec![]).await });
    until("the follower waits", || g.store.lock()["g"].members[&follower].sync_waiter.is_some()).await;
    let assignments: Vec<(String, Bytes)> =
        [&leader, &follower, &c.member_id].iter().map(|m| (m.to_string(), Bytes::from_static(b"parts"))).collect();
    let synced = g.sync("g", 2, &leader, None, assignments).await;
    assert_eq!(synced.error, Some(GroupError::CoordinatorNotAvailable));
    assert!(synced.assignment.is_empty());
    let follower_sync = follower_sync.await.unwrap();
    assert_eq!(follower_sync.error, Some(GroupError::CoordinatorNotAvailable), "the waiting member gets it too");
    // Nobody holds an assignment the log lacks: the group rebalances.
    assert_eq!(g.group_state("g"), Some(GroupState::PreparingRebalance));
    assert!(g.store.lock()["g"].members.values().all(|m| m.assignment.is_empty()));
    assert_eq!(g.heartbeat("g", 2, &c.member_id, None), Err(GroupError::RebalanceInProgress));
    let late = g.sync("g", 2, &c.member_id, None, vec![]).await;
    assert_eq!(late.error, Some(GroupError::RebalanceInProgress));
}

#[tokio::test]
async fn the_rebalance_timeout_removes_members_that_do_not_rejoin() {
    let f = Fixture::new(&[]);
    let g = f.groups();
    let (leader, follower) = stable_pair(&f).await;
    // A third member arrives: a rebalance starts; only the leader rejoins.
    let c = spawn_join(&g, join_request("", None));
    until("c parked", || members(&g) == 3).await;
    let l = spawn_join(&g, join_request(&leader, None));
    until("leader rejoined", || g.store.lock()["g"].members[&leader].join_waiter.is_some()).await;
    // The follower keeps its session alive with heartbeats but never rejoins.
    for _ in 0..4 {
        assert_eq!(g.heartbeat("g", 1, &follower, None), Err(GroupError::RebalanceInProgress));
        f.advance(7_000).await;
    }
    assert!(!c.is_finished(), "the barrier waits up to the rebalance timeout (30 s)");
    f.advance(3_000).await;
    let (c, l) = (c.await.unwrap(), l.await.unwrap());
    assert_eq!((c.generation, l.generation), (2, 2));
    assert_eq!(members(&g), 2);
    assert!(g.heartbeat("g", 2, &follower, None).is_err(), "the follower was removed");
}

#[tokio::test]
async fn a_silent_member_expires_after_its_session_timeout() {
    let f = Fixture::new(&[]);
    let g = f.groups();
    let (leader, follower) = stable_pair(&f).await;
    f.advance(6_000).await;
    assert_eq!(g.heartbeat("g", 1, &leader, None), Ok(()));
    f.advance(4_500).await; // the follower's last heartbeat (its sync) is 10.5 s old
    assert_eq!(g.group_state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(g.heartbeat("g", 1, &leader, None), Err(GroupError::RebalanceInProgress));
    assert!(matches!(g.heartbeat("g", 1, &follower, None), Err(GroupError::UnknownMemberId(_))));
    // The leader rejoins alone: the barrier completes at once.
    let r = g.join(join_request(&leader, None)).await;
    assert_eq!((r.error, r.generation, r.members.len()), (None, 2, 1));
}

#[tokio::test]
async fn a_restarted_static_member_takes_over_without_a_rebalance() {
    let f = Fixture::new(&[("group.initial.rebalance.delay.ms", "0")]);
    let g = f.groups();
    let first = g.join(join_request("", Some("instance-1"))).await;
    assert_eq!(first.generation, 1);
    g.sync("g", 1, &first.member_id, Some("instance-1"), vec![(first.member_id.clone(), Bytes::from_static(b"a"))])
        .await;
    assert_eq!(g.group_state("g"), Some(GroupState::Stable));
    // The process restarts: it knows only its instance id.
    let again = g.join(join_request("", Some("instance-1"))).await;
    assert_eq!(again.error, None);
    assert_eq!(again.generation, 1, "no new generation");
    assert_ne!(again.member_id, first.member_id);
    assert_eq!(g.group_state("g"), Some(GroupState::Stable));
    // The replaced process is fenced on every request, not told to rejoin (a rejoin
    // would take the instance id back, and the two would swap it forever).
    let fenced = |r: Result<(), GroupError>| matches!(r, Err(GroupError::FencedInstanceId(_)));
    assert!(fenced(g.heartbeat("g", 1, &first.member_id, Some("instance-1"))), "the old identity is fenced");
    let sync = g.sync("g", 1, &first.member_id, Some("instance-1"), vec![]).await;
    assert!(matches!(sync.error, Some(GroupError::FencedInstanceId(_))), "{:?}", sync.error);
    let rejoin = g.join(join_request(&first.member_id, Some("instance-1"))).await;
    assert!(matches!(rejoin.error, Some(GroupError::FencedInstanceId(_))), "{:?}", rejoin.error);
    let old_commit = CommitRequest { instance_id: Some("instance-1".into()), ..commit(&first.member_id, 1, 0, 1) };
    assert!(matches!(g.commit(old_commit).await, Err(GroupError::FencedInstanceId(_))));
    assert_eq!(g.heartbeat("g", 1, &again.member_id, Some("instance-1")), Ok(()));
    // A static member is still bound by its session.
    f.advance(10_001).await;
    assert_eq!(g.group_state("g"), Some(GroupState::Empty));
}

fn consumer(member: &str, epoch: i32, owned: Option<Assignment>) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group: "cg".into(),
        member_id: member.into(),
        epoch,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: if epoch == 0 { 20_000 } else { -1 },
        topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
        regex: None,
        assignor: None,
        owned,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        version: 1,
    }
}

#[tokio::test]
async fn kip848_a_member_that_does_not_revoke_in_time_is_fenced() {
    let f = Fixture::new(&[]);
    f.topic("t", 4);
    let g = f.groups();
    let a = g.consumer_heartbeat(consumer("a", 0, Some(Assignment::new()))).await.unwrap();
    assert_eq!(assignor::count(a.assignment.as_ref().unwrap()), 4);
    let b = g.consumer_heartbeat(consumer("b", 0, Some(Assignment::new()))).await.unwrap();
    assert_eq!(assignor::count(b.assignment.as_ref().unwrap()), 0, "b waits for a to release");
    // a learns it must give two partitions up, and then says nothing.
    let a2 = g.consumer_heartbeat(consumer("a", a.epoch, None)).await.unwrap();
    assert_eq!(assignor::count(a2.assignment.as_ref().unwrap()), 2);
    f.advance(19_000).await;
    assert!(g.consumer_heartbeat(consumer("b", b.epoch, None)).await.is_ok());
    f.advance(1_001).await; // a's rebalance timeout (20 s) is over
    assert!(matches!(g.consumer_heartbeat(consumer("a", a.epoch, None)).await, Err(GroupError::UnknownMemberId(_))));
    let b2 = g.consumer_heartbeat(consumer("b", b.epoch, None)).await.unwrap();
    let b3 = g.consumer_heartbeat(consumer("b", b2.epoch, b2.assignment.clone())).await.unwrap();
    let owned = b3.assignment.or(b2.assignment).unwrap();
    assert_eq!(assignor::count(&owned), 4, "b owns everything once a is gone");
}

#[tokio::test]
async fn kip848_a_change_that_cannot_be_written_is_taken_back() {
    let f = Fixture::new(&[("offsets.topic.segment.bytes", "14")]);
    f.topic("t", 4);
    let g = f.groups();
    let a = g.consumer_heartbeat(consumer("a", 0, Some(Assignment::new()))).await.unwrap();
    assert_eq!(assignor::count(a.assignment.as_ref().unwrap()), 4);
    lose_the_groups_log(&f, "cg");
    // b's join bumps the group's epoch and takes two of a's partitions: not written,
    // so none of it stays.
    let b = g.consumer_heartbeat(consumer("b", 0, Some(Assignment::new()))).await;
    assert_eq!(b.err(), Some(GroupError::CoordinatorNotAvailable));
    {
        let groups = g.store.lock();
        let cg = groups["cg"].consumer.as_deref().unwrap();
        assert_eq!(cg.members.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(cg.epoch, a.epoch);
    }
    // a keeps its epoch and everything it owns; its heartbeat changes nothing to write.
    let a2 = g.consumer_heartbeat(consumer("a", a.epoch, a.assignment.clone())).await.unwrap();
    assert_eq!(a2.epoch, a.epoch);
    assert!(a2.assignment.is_none_or(|owned| assignor::count(&owned) == 4));
}

#[tokio::test]
async fn kip848_a_member_without_heartbeats_leaves_after_its_session() {
    let f = Fixture::new(&[("group.consumer.session.timeout.ms", "45000")]);
    f.topic("t", 2);
    let g = f.groups();
    g.consumer_heartbeat(consumer("a", 0, Some(Assignment::new()))).await.unwrap();
    f.advance(44_999).await;
    assert_eq!(g.list()[0].state, "Stable");
    f.advance(1).await;
    assert_eq!(g.list()[0].state, "Empty");
}

fn commit(member: &str, generation: i32, partition: i32, offset: i64) -> CommitRequest {
    CommitRequest {
        group: "g".into(),
        generation,
        member_id: member.into(),
        instance_id: None,
        offsets: vec![OffsetToCommit { topic: "t".into(), partition, offset, leader_epoch: -1, metadata: None }],
    }
}

#[tokio::test]
async fn committed_offsets_and_deletions_survive_a_restart() {
    let mut f = Fixture::new(&[]);
    f.topic("t", 2);
    let g = f.groups();
    assert_eq!(g.commit(commit("", -1, 0, 42)).await.unwrap(), vec![Ok(())]);
    assert_eq!(g.commit(commit("", -1, 1, 7)).await.unwrap(), vec![Ok(())]);
    let others = CommitRequest { group: "other".into(), ..commit("", -1, 0, 1) };
    g.commit(others).await.unwrap();
    g.delete_group("other").await.unwrap();
    g.delete_offsets("g", vec![("t".into(), 1)], |_, _| false).await.unwrap();
    f.reopen();
    let g = f.groups();
    let found = g.fetch_offsets("g", None);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].1.iter().map(|(p, v)| (*p, v.as_ref().map(|v| v.offset))).collect::<Vec<_>>(),
        vec![(0, Some(42))]
    );
    assert!(g.list().iter().all(|l| l.group_id != "other"), "the deleted group stays deleted");
    // A member's commit is checked against its generation.
    assert_eq!(g.commit(commit("nobody", 3, 0, 1)).await.map(|_| ()), Err(unknown_member("nobody")));
}

#[tokio::test]
async fn commits_without_a_generation_make_a_simple_group_and_are_refused_by_a_live_one() {
    let f = Fixture::new(&[]);
    f.topic("t", 1);
    let g = f.groups();
    // A generation names a group that must exist.
    let absent = CommitRequest { group: "absent".into(), ..commit("m", 3, 0, 1) };
    assert!(matches!(g.commit(absent).await, Err(GroupError::GroupIdNotFound(_))));
    assert!(g.list().is_empty(), "a refused commit creates no group");
    // A manually assigned consumer commits with epoch -1 and its own member id.
    let manual = CommitRequest { group: "manual".into(), ..commit("consumer-1-abc", -1, 0, 9) };
    assert_eq!(g.commit(manual).await.unwrap(), vec![Ok(())]);
    let found = g.fetch_offsets("manual", None);
    assert_eq!(found[0].1[0].1.as_ref().map(|v| v.offset), Some(9));
    // Once the group has members, a commit from outside it is refused.
    let (leader, _) = stable_pair(&f).await;
    assert_eq!(g.commit(commit("", -1, 0, 1)).await.map(|_| ()), Err(unknown_member("")));
    assert!(matches!(g.commit(commit("outsider", -1, 0, 1)).await, Err(GroupError::UnknownMemberId(_))));
    assert_eq!(g.commit(commit(&leader, 1, 0, 5)).await.unwrap(), vec![Ok(())]);
    assert_eq!(g.commit(commit(&leader, 0, 0, 5)).await.map(|_| ()), Err(GroupError::IllegalGeneration));
}

#[tokio::test]
async fn offsets_of_a_group_empty_for_the_retention_time_expire() {
    let f = Fixture::new(&[("offsets.retention.minutes", "1")]);
    f.topic("t", 1);
    let g = f.groups();
    g.commit(commit("", -1, 0, 5)).await.unwrap();
    f.clock.advance(60_001);
    g.expire_offsets().await;
    assert!(g.fetch_offsets("g", None).is_empty());
    assert!(g.list().is_empty(), "the group went with its last offset");
}

/// The classic group a generation ago: its metadata record brings its members
/// back after a restart, so they heartbeat on without a rebalance (Kafka loads
/// classic groups this way).
#[tokio::test]
async fn a_classic_group_keeps_its_members_across_a_restart() {
    let mut f = Fixture::new(&[]);
    let (leader, follower) = stable_pair(&f).await;
    let generation = f.groups().store.lock()["g"].generation;
    // 9 s of their 10 s sessions pass before the broker stops.
    f.advance(9_000).await;
    f.reopen();
    let g = f.groups();
    assert_eq!(g.group_state("g"), Some(GroupState::Stable));
    assert_eq!(g.heartbeat("g", generation, &leader, None), Ok(()));
    assert_eq!(g.heartbeat("g", generation, &follower, None), Ok(()));
    let synced = g.sync("g", generation, &follower, None, vec![]).await;
    assert_eq!((synced.error, synced.assignment), (None, Bytes::from_static(b"to-follower")));
    let d = g.describe("g").unwrap();
    assert_eq!((d.protocol.as_str(), d.members.len()), ("range", 2));
    assert!(d.members.iter().all(|m| m.metadata == Bytes::from_static(b"subscription")));
    // A known member rejoining with what it joined with gets the same generation.
    let again = g.join(join_request(&follower, None)).await;
    assert_eq!((again.error, again.generation), (None, generation));
    // Their sessions run from the restart: the silent leader goes, and the follower
    // is told to rejoin.
    f.advance(6_000).await;
    assert_eq!(g.heartbeat("g", generation, &follower, None), Ok(()));
    f.advance(4_001).await;
    assert_eq!(g.heartbeat("g", generation, &follower, None), Err(GroupError::RebalanceInProgress));
    assert_eq!(members(&g), 1);

    // A group that went empty comes back empty.
    g.leave("g", vec![(follower.clone(), None)]).await.unwrap();
    f.reopen();
    assert_eq!(f.groups().group_state("g"), Some(GroupState::Empty));
    assert_eq!(members(&f.groups()), 0);
}

/// A static member comes back with its instance id: the client restarting too
/// (a new member id, the same instance id) takes its place without a rebalance.
#[tokio::test]
async fn a_static_member_is_known_by_its_instance_id_after_a_restart() {
    let mut f = Fixture::new(&[("group.initial.rebalance.delay.ms", "0")]);
    let g = f.groups();
    let first = g.join(join_request("", Some("instance-1"))).await;
    let a = Bytes::from_static(b"a");
    g.sync("g", first.generation, &first.member_id, Some("instance-1"), vec![(first.member_id.clone(), a.clone())])
        .await;
    f.reopen();
    let g = f.groups();
    assert_eq!(g.heartbeat("g", first.generation, &first.member_id, Some("instance-1")), Ok(()));
    let again = g.join(join_request("", Some("instance-1"))).await;
    assert_eq!((again.error, again.generation), (None, first.generation), "no new generation");
    assert_ne!(again.member_id, first.member_id);
    let synced = g.sync("g", first.generation, &again.member_id, Some("instance-1"), vec![]).await;
    assert_eq!((synced.error, synced.assignment), (None, a), "it takes over the assignment");
    let fenced = g.heartbeat("g", first.generation, &first.member_id, Some("instance-1"));
    assert!(matches!(fenced, Err(GroupError::FencedInstanceId(_))), "{fenced:?}");
}

/// A ConsumerProtocol subscription (version 1) to `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    use bytes::BufMut;
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let s = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| StrBytes::from_string(t.to_string())).collect());
    let mut b = bytes::BytesMut::new();
    b.put_i16(1);
    s.encode(&mut b, 1).unwrap();
    b.freeze()
}

fn classic_member_of(g: &Coordinator, group: &str, id: &str) -> Option<(i32, usize, bool)> {
    let groups = g.store.lock();
    let cg = groups.get(group)?.consumer.as_deref()?;
    cg.members.get(id).map(|m| (m.epoch, assignor::count(&m.assigned), m.classic.is_some()))
}

/// A member speaking the classic protocol inside a consumer group is written with
/// its classic metadata, and the log says which kind the group is after an
/// upgrade or a downgrade: each survives a restart.
#[tokio::test]
async fn classic_members_of_a_consumer_group_and_its_conversions_survive_a_restart() {
    let mut f = Fixture::new(&[("group.initial.rebalance.delay.ms", "0")]);
    f.topic("t", 4);
    let g = f.groups();
    g.consumer_heartbeat(consumer("a", 0, Some(Assignment::new()))).await.unwrap();
    let join = |member: &str| JoinRequest {
        group: "cg".into(),
        protocols: vec![("range".into(), subscription(&["t"]))],
        ..join_request(member, None)
    };
    let c = g.join(join("")).await;
    assert_eq!(c.error, None);
    let before = classic_member_of(&g, "cg", &c.member_id).unwrap();
    assert!(before.2, "c speaks the classic protocol");

    f.reopen();
    let g = f.groups();
    assert_eq!(classic_member_of(&g, "cg", &c.member_id), Some(before), "c is back, at its epoch, as classic");
    assert!(classic_member_of(&g, "cg", "a").is_some());
    // a leaves: only c is left, so the group becomes a classic group.
    let left = g.consumer_heartbeat(ConsumerHeartbeat { epoch: -1, ..consumer("a", -1, None) }).await;
    assert!(left.is_ok(), "{left:?}");
    assert!(!g.is_consumer_group("cg"));
    let generation = g.store.lock()["cg"].generation;

    f.reopen();
    let g = f.groups();
    assert!(!g.is_consumer_group("cg"), "still classic after a restart");
    {
        let groups = g.store.lock();
        let cg = &groups["cg"];
        assert_eq!((cg.generation, cg.members.keys().collect::<Vec<_>>()), (generation, vec![&c.member_id]));
    }
    // A consumer-protocol member upgrades it again; c comes along.
    g.consumer_heartbeat(consumer("b", 0, Some(Assignment::new()))).await.unwrap();
    // In the log (and so in what compaction keeps): the downgrade wrote the classic
    // metadata after its tombstones; the upgrade a tombstone of it before its records.
    let log = group_log(&g, "cg");
    let classic: Vec<usize> = (0..log.len()).filter(|i| log[*i].0).collect();
    let (downgrade, upgrade) = (classic[classic.len() - 2], classic[classic.len() - 1]);
    assert_eq!((log[downgrade].1, log[upgrade].1), (true, false), "{log:?}");
    assert!(!log[downgrade - 1].1, "after the consumer group's tombstones: {log:?}");
    assert!(log[upgrade + 1..].iter().all(|(_, v)| *v) && upgrade + 1 < log.len(), "{log:?}");
    f.reopen();
    let g = f.groups();
    assert!(g.is_consumer_group("cg"), "a consumer group after a restart");
    assert!(classic_member_of(&g, "cg", &c.member_id).is_some_and(|m| m.2));
    assert!(classic_member_of(&g, "cg", "b").is_some_and(|m| !m.2));
    assert!(g.store.lock()["cg"].members.is_empty(), "no classic membership beside the consumer group");
}

/// A group's records in its `__consumer_offsets` partition, in order: (a classic
/// metadata key, a value rather than a tombstone).
fn group_log(g: &Coordinator, group: &str) -> Vec<(bool, bool)> {
    let mut log = Vec::new();
    g.store
        .topic()
        .replay(g.partition_for(group), 0, |kv| {
            let key = records::Key::decode(kv.key.as_deref().unwrap()).unwrap();
            if key.group() == group {
                log.push((matches!(key, Key::Group { .. }), kv.value.is_some()));
            }
        })
        .unwrap();
    log
}

/// An empty consumer group taken over by a classic member: its records go with the
/// takeover (tombstones, as Kafka writes them) and no classic metadata is written
/// beside them mid-rebalance; a stray consumer-protocol heartbeat then writes
/// nothing, and a restart finds the classic group with its member.
#[tokio::test]
async fn an_empty_consumer_group_taken_over_by_a_classic_member_leaves_no_records() {
    let mut f = Fixture::new(&[("group.initial.rebalance.delay.ms", "0")]);
    f.topic("t", 2);
    let g = f.groups();
    g.consumer_heartbeat(consumer("a", 0, Some(Assignment::new()))).await.unwrap();
    g.consumer_heartbeat(consumer("a", -1, None)).await.unwrap();
    let before = group_log(&g, "cg").len();
    let join = JoinRequest {
        group: "cg".into(),
        protocols: vec![("range".into(), subscription(&["t"]))],
        ..join_request("", None)
    };
    let c = g.join(join).await;
    assert_eq!(c.error, None);
    assert!(!g.is_consumer_group("cg"));
    let takeover = group_log(&g, "cg")[before..].to_vec();
    assert_eq!(takeover, vec![(false, false); 2], "the consumer group's two records, tombstoned");
    let synced = g.sync("cg", c.generation, &c.member_id, None, vec![(c.member_id.clone(), Bytes::new())]).await;
    assert_eq!(synced.error, None);
    let written = group_log(&g, "cg").len();
    assert!(g.consumer_heartbeat(consumer("x", 3, None)).await.is_err(), "x is not a member");
    assert_eq!(group_log(&g, "cg").len(), written, "nothing left to remove");
    f.reopen();
    let g = f.groups();
    assert!(!g.is_consumer_group("cg"));
    assert_eq!(g.heartbeat("cg", c.generation, &c.member_id, None), Ok(()));
}
