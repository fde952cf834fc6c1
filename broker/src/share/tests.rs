//! The share coordinator against a broker's partitions, with a mock clock:
//! nothing here sleeps; time moves only when a test advances it and ticks.

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_storage::testutil::{BatchBuilder, Record};
use weir_storage::Clock;

use super::*;
use crate::mock_broker::MockBroker;
use crate::partition::Isolation;

const RU: Isolation = Isolation::ReadUncommitted;

/// Each share-partition of `group`: topic id, partition, start offset.
fn starts(s: &ShareCoordinator, group: &str) -> Vec<(Uuid, i32, i64)> {
    s.progress(group).into_iter().map(|p| (p.topic_id, p.partition, p.start)).collect()
}

crate::mock_broker::fixture!(Fixture);

impl Fixture {
    fn new() -> Fixture {
        Fixture(MockBroker::new(&[
            ("offsets.topic.num.partitions", "3"),
            ("transaction.state.log.num.partitions", "3"),
            ("share.coordinator.state.topic.num.partitions", "3"),
            ("group.share.delivery.count.limit", "3"),
        ]))
    }

    fn shares(&self) -> Arc<ShareCoordinator> {
        self.broker().shares().clone()
    }

    fn partition(&self, topic: &str, index: i32) -> Arc<crate::partition::Partition> {
        self.broker().partitions().get(topic, index).unwrap()
    }

    /// Appends one batch of `n` records.
    fn produce(&self, topic: &str, index: i32, n: usize) {
        let batch = BatchBuilder::new(0).records((0..n).map(|i| Record::value(format!("r{i}")))).build();
        self.partition(topic, index).append_internal(&batch).unwrap();
    }

    async fn advance(&self, ms: i64) {
        self.clock.advance(ms);
        self.shares().tick(self.clock.now_ms()).await;
    }

    fn earliest(&self, group: &str) {
        self.reset_by(group, "earliest").unwrap();
    }

    fn reset_by(&self, group: &str, value: &str) -> Result<(), crate::error::TopicError> {
        let change = crate::configs::ConfigChange {
            name: "share.auto.offset.reset".into(),
            op: crate::configs::AlterOp::Set,
            value: Some(value.into()),
        };
        self.broker().configs().alter_group(group, &[change], false)
    }

    /// Topic `topic` (one partition) holding `records` records, group `g` (reading
    /// from the earliest) with member `a` subscribed to it, and the share-partition
    /// initialized.
    async fn one_member_reading(&self, topic: &str, records: usize) -> (Uuid, Arc<crate::partition::Partition>) {
        let t = self.topic(topic, 1);
        self.earliest("g");
        self.produce(topic, 0, records);
        let s = self.shares();
        s.heartbeat(hb("a", 0, Some(&[topic]))).await.unwrap();
        let p = self.partition(topic, 0);
        s.prepare("g", &[(t, p.clone())]).await.unwrap();
        (t, p)
    }
}

fn hb(member: &str, epoch: i32, topics: Option<&[&str]>) -> ShareHeartbeat {
    ShareHeartbeat {
        group: "g".into(),
        member_id: member.into(),
        epoch,
        rack_id: None,
        topics: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn owned(a: &ShareHeartbeatAnswer, topic: Uuid) -> Vec<i32> {
    a.assignment.as_ref().and_then(|a| a.get(&topic)).map(|s| s.iter().copied().collect()).unwrap_or_default()
}

#[tokio::test]
async fn members_join_are_told_their_partitions_and_leave() {
    let f = Fixture::new();
    let t = f.topic("t", 4);
    let s = f.shares();
    let a = s.heartbeat(hb("a", 0, Some(&["t"]))).await.unwrap();
    assert_eq!((a.epoch, owned(&a, t)), (1, vec![0, 1, 2, 3]));
    // A heartbeat in step carries no assignment.
    assert_eq!(s.heartbeat(hb("a", 1, None)).await.unwrap().assignment, None);
    let b = s.heartbeat(hb("b", 0, Some(&["t"]))).await.unwrap();
    assert_eq!((b.epoch, owned(&b, t)), (2, vec![1, 3]));
    // a keeps reading all four until its next heartbeat, which moves it to epoch 2.
    let a = s.heartbeat(hb("a", 1, None)).await.unwrap();
    assert_eq!((a.epoch, owned(&a, t)), (2, vec![0, 2]));
    // The epoch before the current one is still accepted; anything else is fenced.
    assert!(s.heartbeat(hb("a", 1, None)).await.is_ok());
    assert!(matches!(s.heartbeat(hb("a", 7, None)).await, Err(ShareError::FencedEpoch { got: 7, .. })));
    assert!(matches!(s.heartbeat(hb("x", 2, None)).await, Err(ShareError::UnknownMember { .. })));
    assert!(matches!(s.heartbeat(hb("", 0, Some(&["t"]))).await, Err(ShareError::InvalidRequest(_))));
    assert!(matches!(s.heartbeat(hb("c", 0, None)).await, Err(ShareError::InvalidRequest(_))));
    assert!(matches!(s.heartbeat(hb("c", -2, None)).await, Err(ShareError::InvalidRequest(_))));
    let left = s.heartbeat(hb("b", -1, None)).await.unwrap();
    assert_eq!(left.epoch, -1);
    let a = s.heartbeat(hb("a", 2, None)).await.unwrap();
    assert_eq!((a.epoch, owned(&a, t)), (3, vec![0, 1, 2, 3]));
    assert_eq!(s.list(), vec![("g".to_string(), "Stable")]);
    // Partitions added to the topic move the epoch.
    f.broker().topics().create_partitions("t", 6, None, false).unwrap();
    let a = s.heartbeat(hb("a", 3, None)).await.unwrap();
    assert_eq!((a.epoch, owned(&a, t)), (4, vec![0, 1, 2, 3, 4, 5]));
}

#[tokio::test]
async fn records_are_acquired_once_acknowledged_and_their_state_survives_a_restart() {
    let mut f = Fixture::new();
    let (t, p) = f.one_member_reading("t", 10).await;
    let s = f.shares();
    s.heartbeat(hb("b", 0, Some(&["t"]))).await.unwrap();
    let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
    let got = s.acquire("g", &a, t, &p, 500, 1 << 20, RU).unwrap();
    assert_eq!(got.ranges, vec![partition::AcquiredRange { first: 0, last: 9, deliveries: 1 }]);
    assert!(!got.records.is_empty());
    // Nothing is left for b while a holds everything.
    assert!(s.acquire("g", &b, t, &p, 500, 1 << 20, RU).unwrap().ranges.is_empty());
    let batch = |first, last, ty: i8| AckBatch { first, last, types: vec![ty] };
    let out = s.acknowledge("g", "a", vec![(t, 0, vec![batch(0, 3, 1), batch(4, 5, 2), batch(6, 6, 3)])], false).await;
    assert_eq!(out, vec![(t, 0, AckOutcome::Done)]);
    // b may not acknowledge what a holds.
    let out = s.acknowledge("g", "b", vec![(t, 0, vec![batch(7, 7, 1)])], false).await;
    assert_eq!(out, vec![(t, 0, AckOutcome::InvalidRecordState)]);
    let got = s.acquire("g", &b, t, &p, 500, 1 << 20, RU).unwrap();
    assert_eq!(got.ranges, vec![partition::AcquiredRange { first: 4, last: 5, deliveries: 2 }]);
    assert_eq!(starts(&s, "g"), vec![(t, 0, 4)]);

    // A restart: what was acknowledged stays done; what was held comes back, its
    // deliveries as last written (the acknowledgement's write counted a's
    // delivery of 4-9; b's of 4-5 was not written since).
    f.reopen();
    let s = f.shares();
    assert_eq!(starts(&s, "g"), vec![(t, 0, 4)]);
    assert_eq!(s.list(), vec![("g".to_string(), "Stable")], "its members are kept");
    let p = f.partition("t", 0);
    let got = s.acquire("g", &a, t, &p, 500, 1 << 20, RU).unwrap();
    assert_eq!(
        got.ranges,
        vec![
            partition::AcquiredRange { first: 4, last: 5, deliveries: 2 },
            partition::AcquiredRange { first: 7, last: 9, deliveries: 2 }
        ]
    );
    // a's session closes: what it holds goes back, that delivery not counted.
    assert!(s.acknowledge("g", "a", vec![], true).await.is_empty());
    let got = s.acquire("g", &b, t, &p, 500, 1 << 20, RU).unwrap();
    assert_eq!(
        got.ranges,
        vec![
            partition::AcquiredRange { first: 4, last: 5, deliveries: 2 },
            partition::AcquiredRange { first: 7, last: 9, deliveries: 2 }
        ]
    );
}

#[tokio::test]
async fn a_deleted_topics_partition_starts_no_share_partition() {
    let f = Fixture::new();
    let t = f.topic("t", 1);
    f.earliest("g");
    let s = f.shares();
    s.heartbeat(hb("a", 0, Some(&["t"]))).await.unwrap();
    // Held across the deletion, as a parked ShareFetch holds it.
    let p = f.partition("t", 0);
    let topics = f.broker().topics();
    topics.delete(&topics.get("t").unwrap()).unwrap();
    assert_eq!(s.prepare("g", &[(t, p)]).await.unwrap(), vec![]);
    assert_eq!(starts(&s, "g"), vec![]);
}

#[tokio::test]
async fn strings_longer_than_a_record_holds_are_refused() {
    let f = Fixture::new();
    f.topic("t", 1);
    let s = f.shares();
    let long = "m".repeat(32_768);
    let refused = |field: &str| Err(ShareError::InvalidRequest(format!("{field} can't be longer than 32767 bytes.")));
    assert_eq!(s.heartbeat(hb(&long, 0, Some(&["t"]))).await.map(|_| ()), refused("MemberId"));
    assert_eq!(s.heartbeat(hb("a", 0, Some(&["t", &long]))).await.map(|_| ()), refused("SubscribedTopicNames"));
    let racked = ShareHeartbeat { rack_id: Some(long.clone()), ..hb("a", 0, Some(&["t"])) };
    assert_eq!(s.heartbeat(racked).await.map(|_| ()), refused("RackId"));
    assert!(s.list().is_empty());
}

#[tokio::test]
async fn members_keep_their_epochs_and_assignments_across_a_restart() {
    let mut f = Fixture::new();
    let t = f.topic("t", 2);
    let s = f.shares();
    let a = s.heartbeat(hb("a", 0, Some(&["t"]))).await.unwrap();
    s.heartbeat(hb("b", 0, Some(&["t"]))).await.unwrap();
    let a = s.heartbeat(hb("a", a.epoch, None)).await.unwrap();
    assert_eq!((a.epoch, owned(&a, t)), (2, vec![0]));
    // c joins and leaves (epochs 3 and 4): its record goes with it.
    s.heartbeat(hb("c", 0, Some(&["t"]))).await.unwrap();
    s.heartbeat(hb("c", -1, None)).await.unwrap();
    let before = s.describe("g").unwrap();
    f.reopen();
    let s = f.shares();
    let after = s.describe("g").unwrap();
    assert_eq!((after.state, after.epoch), ("Stable", 4));
    let kept = |d: &ShareGroupDescription| -> Vec<(String, i32, Assignment, Vec<String>)> {
        d.members
            .iter()
            .map(|(id, m)| (id.clone(), m.epoch, m.assignment.clone(), m.topics.iter().cloned().collect()))
            .collect()
    };
    assert_eq!(kept(&after), kept(&before));
    assert_eq!(kept(&after).iter().map(|m| m.0.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    // a goes on with the epoch it had (not fenced, not unknown); the target is
    // computed again, a new epoch.
    let limit = s.settings().session_timeout_ms;
    f.advance(limit - 1).await;
    let a = s.heartbeat(hb("a", 2, None)).await.unwrap();
    assert_eq!((a.epoch, owned(&a, t)), (5, vec![0]));
    // b never comes back: its session, started again at the restart, ends.
    f.advance(1).await;
    assert_eq!(s.describe("g").unwrap().members.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["a"]);
    f.reopen();
    let d = f.shares().describe("g").unwrap();
    assert_eq!((d.epoch, d.members.len(), d.members[0].1.epoch), (6, 1, 5));
}

#[tokio::test]
async fn locks_time_out_and_members_that_stop_heartbeating_give_their_records_back() {
    let f = Fixture::new();
    let (t, p) = f.one_member_reading("t", 2).await;
    let s = f.shares();
    let a: Arc<str> = Arc::from("a");
    let lock = s.settings().record_lock_duration_ms;
    for delivery in 1..=3u16 {
        let got = s.acquire("g", &a, t, &p, 500, 1 << 20, RU).unwrap();
        assert_eq!(got.ranges, vec![partition::AcquiredRange { first: 0, last: 1, deliveries: delivery }]);
        f.advance(lock - 1).await;
        assert!(s.acquire("g", &a, t, &p, 500, 1 << 20, RU).unwrap().ranges.is_empty(), "still locked");
        s.heartbeat(hb("a", 1, None)).await.unwrap();
        f.advance(1).await;
    }
    // The third delivery was the last (group.share.delivery.count.limit=3): archived.
    assert!(s.acquire("g", &a, t, &p, 500, 1 << 20, RU).unwrap().ranges.is_empty());
    assert_eq!(starts(&s, "g"), vec![(t, 0, 2)]);

    f.produce("t", 0, 1);
    assert_eq!(s.acquire("g", &a, t, &p, 500, 1 << 20, RU).unwrap().ranges.len(), 1);
    // No heartbeat for the session timeout: a is removed and its record goes back.
    f.advance(s.settings().session_timeout_ms).await;
    assert_eq!(s.list(), vec![("g".to_string(), "Empty")]);
    let b: Arc<str> = Arc::from("b");
    let got = s.acquire("g", &b, t, &p, 500, 1 << 20, RU).unwrap();
    assert_eq!(got.ranges, vec![partition::AcquiredRange { first: 2, last: 2, deliveries: 2 }]);
}

#[tokio::test]
async fn an_empty_share_group_is_deleted_with_its_state() {
    let mut f = Fixture::new();
    let t = f.topic("t", 1);
    let s = f.shares();
    s.heartbeat(hb("a", 0, Some(&["t"]))).await.unwrap();
    s.prepare("g", &[(t, f.partition("t", 0))]).await.unwrap();
    assert_eq!(s.delete("g").await, Err(ShareError::NotEmpty("g".into())));
    s.heartbeat(hb("a", -1, None)).await.unwrap();
    s.delete("g").await.unwrap();
    assert!(s.list().is_empty() && starts(&s, "g").is_empty());
    assert_eq!(s.delete("g").await, Err(ShareError::GroupNotFound("g".into())));
    f.reopen();
    assert!(f.shares().list().is_empty() && starts(&f.shares(), "g").is_empty());
}

#[tokio::test]
async fn a_parked_fetch_is_woken_by_its_groups_changes_only() {
    let f = Fixture::new();
    let t = f.topic("t", 1);
    f.earliest("g");
    f.earliest("h");
    f.produce("t", 0, 4);
    let s = f.shares();
    s.heartbeat(hb("a", 0, Some(&["t"]))).await.unwrap();
    let p = f.partition("t", 0);
    let (in_g, in_h) = (crate::partition::FetchWaiter::new(), crate::partition::FetchWaiter::new());
    s.park("g", &in_g);
    s.park("h", &in_h);
    // A share-partition initialized: its records can be acquired now.
    s.prepare("g", &[(t, p.clone())]).await.unwrap();
    assert_eq!((in_g.wakes(), in_h.wakes()), (1, 0));
    let a: Arc<str> = Arc::from("a");
    assert_eq!(s.acquire("g", &a, t, &p, 500, 1 << 20, RU).unwrap().ranges.len(), 1);
    // Records released by an acknowledgement.
    let release = AckBatch { first: 0, last: 1, types: vec![2] };
    s.acknowledge("g", "a", vec![(t, 0, vec![release])], false).await;
    assert_eq!((in_g.wakes(), in_h.wakes()), (2, 0));
    // Nothing changed: no wake.
    s.acknowledge("g", "a", vec![], false).await;
    f.advance(1).await;
    assert_eq!(in_g.wakes(), 2);
    // Locks that ran out.
    f.advance(s.settings().record_lock_duration_ms).await;
    assert_eq!((in_g.wakes(), in_h.wakes()), (3, 0));
    // What a member held, given back as its session closes.
    assert_eq!(s.acquire("g", &a, t, &p, 500, 1 << 20, RU).unwrap().ranges.len(), 1);
    s.acknowledge("g", "a", vec![], true).await;
    assert_eq!((in_g.wakes(), in_h.wakes()), (4, 0));
}

#[tokio::test]
async fn the_overview_shows_start_offsets_and_lag_and_a_reset_start_survives_a_restart() {
    let mut f = Fixture::new();
    let (t, p) = f.one_member_reading("t", 10).await;
    let s = f.shares();
    let a: Arc<str> = Arc::from("a");
    assert_eq!(s.acquire("g", &a, t, &p, 500, 1 << 20, RU).unwrap().ranges.len(), 1);
    let batch = |first, last, ty: i8| AckBatch { first, last, types: vec![ty] };
    // 0-3 accepted (the start moves past them), 4-5 released, 6 accepted, 7-9 held.
    s.acknowledge("g", "a", vec![(t, 0, vec![batch(0, 3, 1), batch(4, 5, 2), batch(6, 6, 1)])], false).await;
    let o = f.broker().group_overview("g").unwrap();
    assert_eq!((o.group_type, o.state, o.protocol.as_str()), ("share", "Stable", "simple"));
    assert_eq!(o.members.len(), 1);
    assert_eq!(o.members[0].assignment, BTreeMap::from([("t".to_string(), [0].into())]));
    let lag = &o.offsets[0];
    assert_eq!((lag.committed, lag.log_end, lag.lag), (4, Some(10), Some(5)), "10 - 4 - one finished");
    assert_eq!(
        s.progress("g")[0],
        overview::ShareProgress { topic_id: t, partition: 0, start: 4, acquired: 3, finished: 1 }
    );
    assert!(f.broker().group_overviews().iter().any(|g| g.group_id == "g" && g.group_type == "share"));
    // Records deleted up to 7 (6, finished, among them) before the next fetch moves the start.
    p.log().delete_records_before(7).unwrap();
    assert_eq!(f.broker().group_overview("g").unwrap().offsets[0].lag, Some(3), "10 - 7, nothing finished from 7");

    // Only an empty group's starts are set.
    assert_eq!(s.set_start_offsets("g", &[(t, 0, 8)]).await, Err(ShareError::NotEmpty("g".into())));
    s.heartbeat(hb("a", -1, None)).await.unwrap();
    s.set_start_offsets("g", &[(t, 0, 8)]).await.unwrap();
    let o = f.broker().group_overview("g").unwrap();
    assert_eq!((o.state, o.offsets[0].committed, o.offsets[0].lag), ("Empty", 8, Some(2)));
    f.reopen();
    let s = f.shares();
    assert_eq!(starts(&s, "g"), vec![(t, 0, 8)]);
    let b: Arc<str> = Arc::from("b");
    let got = s.acquire("g", &b, t, &f.partition("t", 0), 500, 1 << 20, RU).unwrap();
    assert_eq!(got.ranges, vec![partition::AcquiredRange { first: 8, last: 9, deliveries: 1 }]);
    // A negative start drops the share-partition's state; a group that does not
    // exist is created (empty), and both survive a restart.
    s.set_start_offsets("g", &[(t, 0, -1)]).await.unwrap();
    s.set_start_offsets("h", &[(t, 0, 3)]).await.unwrap();
    f.reopen();
    let s = f.shares();
    assert_eq!((starts(&s, "g"), starts(&s, "h")), (vec![], vec![(t, 0, 3)]));
    assert_eq!(s.list(), vec![("g".to_string(), "Empty"), ("h".to_string(), "Empty")]);
    assert_eq!(s.delete_topic_states("h", &[t, Uuid::from_u128(9)]).await, Ok(vec![true, false]));
    assert_eq!(s.delete_topic_states("x", &[t]).await, Err(ShareError::GroupNotFound("x".into())));
    f.reopen();
    assert!(starts(&f.shares(), "h").is_empty());
}

#[tokio::test]
async fn a_deleted_topics_share_partitions_go_with_it() {
    let mut f = Fixture::new();
    let (t, _) = f.one_member_reading("t", 3).await;
    let u = f.topic("u", 1);
    let s = f.shares();
    s.prepare("g", &[(u, f.partition("u", 0))]).await.unwrap();
    f.advance(1).await;
    let mut both = vec![(t, 0, 0), (u, 0, 0)];
    both.sort();
    assert_eq!(starts(&s, "g"), both);
    let meta = f.broker().topics().get("t").unwrap();
    f.broker().topics().delete(&meta).unwrap();
    f.advance(1).await;
    assert_eq!(starts(&s, "g"), vec![(u, 0, 0)]);
    f.reopen();
    assert_eq!(starts(&f.shares(), "g"), vec![(u, 0, 0)], "the tombstones were written");
}

#[tokio::test]
async fn by_duration_starts_at_the_first_record_that_recent_or_waits_for_one() {
    let f = Fixture::new();
    let t = f.topic("t", 1);
    let now = f.clock.now_ms();
    // Offsets 0-2 written 60 s ago, 3-4 written 10 s ago.
    for (ts, n) in [(now - 60_000, 3), (now - 10_000, 2)] {
        let batch = BatchBuilder::new(0).timestamp(ts).records((0..n).map(|i| Record::value(format!("r{i}")))).build();
        f.partition("t", 0).append_internal(&batch).unwrap();
    }
    let s = f.shares();
    let p = f.partition("t", 0);
    for (group, value, start) in [("half-minute", "by_duration:PT30S", 3), ("hour", "by_duration:PT1H", 0)] {
        f.reset_by(group, value).unwrap();
        s.heartbeat(ShareHeartbeat { group: group.into(), ..hb("a", 0, Some(&["t"])) }).await.unwrap();
        assert_eq!(s.prepare(group, &[(t, p.clone())]).await.unwrap(), vec![]);
        assert_eq!(starts(&s, group), vec![(t, 0, start)], "{value}");
    }
    // No record is a second old: as in Kafka, the share-partition waits for one
    // (a record with an old timestamp does not start it), then starts there.
    f.reset_by("second", "by_duration:PT1S").unwrap();
    s.heartbeat(ShareHeartbeat { group: "second".into(), ..hb("a", 0, Some(&["t"])) }).await.unwrap();
    let unstarted = vec![Unstarted { topic_id: t, partition: 0, timestamp: now - 1_000 }];
    assert_eq!(s.prepare("second", &[(t, p.clone())]).await.unwrap(), unstarted);
    assert_eq!(starts(&s, "second"), vec![]);
    p.append_internal(&BatchBuilder::new(0).timestamp(now - 5_000).records([Record::value("late")]).build()).unwrap();
    assert_eq!(s.prepare("second", &[(t, p.clone())]).await.unwrap(), unstarted);
    p.append_internal(&BatchBuilder::new(0).timestamp(now).records([Record::value("late")]).build()).unwrap();
    assert_eq!(s.prepare("second", &[(t, p.clone())]).await.unwrap(), vec![]);
    assert_eq!(starts(&s, "second"), vec![(t, 0, 6)]);
    // Kafka's refusal of what it cannot read, word for word.
    let e = f.reset_by("g", "by_duration:-PT1H").unwrap_err().to_string();
    assert!(
        e.ends_with(
            "Invalid value `by_duration:-PT1H` for configuration share.auto.offset.reset. The value must be either \
         'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS.>'."
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_heartbeat_whose_write_fails_is_taken_back() {
    let mut f = Fixture::new();
    let t = f.topic("t", 2);
    let s = f.shares();
    let fail = |on: bool| s.fail_writes.store(on, std::sync::atomic::Ordering::Relaxed);
    let disk_full = |r: Result<ShareHeartbeatAnswer>| assert!(matches!(r, Err(ShareError::Storage(_))), "{r:?}");
    // A join that cannot be written creates no group.
    fail(true);
    disk_full(s.heartbeat(hb("a", 0, Some(&["t"]))).await);
    assert!(s.describe("g").is_none());
    fail(false);
    let a = s.heartbeat(hb("a", 0, Some(&["t"]))).await.unwrap();
    assert_eq!((a.epoch, owned(&a, t)), (1, vec![0, 1]));
    // Nor adds a member, nor moves the epoch: a stays in step at epoch 1.
    fail(true);
    disk_full(s.heartbeat(hb("b", 0, Some(&["t"]))).await);
    let d = s.describe("g").unwrap();
    assert_eq!((d.epoch, d.members.len()), (1, 1));
    // A new subscription is not kept either, and a heartbeat that writes nothing
    // is answered.
    disk_full(s.heartbeat(hb("a", 1, Some(&["t", "u"]))).await);
    assert_eq!(s.heartbeat(hb("a", 1, None)).await.unwrap(), ShareHeartbeatAnswer { assignment: None, ..a.clone() });
    // A leave that cannot be written leaves the member in.
    disk_full(s.heartbeat(hb("a", -1, None)).await);
    let d = s.describe("g").unwrap();
    assert_eq!((d.epoch, d.members[0].0.as_str()), (1, "a"));
    assert_eq!(d.members[0].1.topics.iter().collect::<Vec<_>>(), ["t"]);
    // Once writes work, the same calls go through, and a restart finds what was told.
    fail(false);
    let b = s.heartbeat(hb("b", 0, Some(&["t"]))).await.unwrap();
    assert_eq!((b.epoch, owned(&b, t)), (2, vec![1]));
    assert_eq!(s.heartbeat(hb("a", -1, None)).await.unwrap().epoch, -1);
    f.reopen();
    let d = f.shares().describe("g").unwrap();
    assert_eq!((d.epoch, d.members.len(), d.members[0].0.as_str(), d.members[0].1.epoch), (3, 1, "b", 2));
}

#[tokio::test]
async fn a_heartbeat_that_changes_nothing_does_not_wait_for_the_groups_writes() {
    let f = Fixture::new();
    let t = f.topic("t", 2);
    let s = f.shares();
    s.heartbeat(hb("a", 0, Some(&["t"]))).await.unwrap();
    // A write of the group's (an acknowledgement's, say) in progress.
    let turn = s.writers[s.store_partition("g") as usize].lock().await;
    let within = std::time::Duration::from_secs(30);
    let alive = tokio::time::timeout(within, s.heartbeat(hb("a", 1, Some(&["t"]))))
        .await
        .expect("answered while the turn is held");
    assert_eq!((alive.unwrap().assignment, s.describe("g").unwrap().epoch), (None, 1));
    // One that changes the group waits for its turn.
    let s2 = s.clone();
    let joining = tokio::spawn(async move { s2.heartbeat(hb("b", 0, Some(&["t"]))).await });
    // It runs until it waits for the turn.
    tokio::task::yield_now().await;
    assert!(!joining.is_finished());
    assert_eq!(s.describe("g").unwrap().members.len(), 1);
    drop(turn);
    let b = tokio::time::timeout(within, joining).await.unwrap().unwrap().unwrap();
    assert_eq!((b.epoch, owned(&b, t)), (2, vec![1]));
}

#[tokio::test]
async fn a_member_whose_heartbeats_cannot_be_written_was_still_heard_from() {
    let f = Fixture::new();
    f.topic("t", 1);
    let s = f.shares();
    s.heartbeat(hb("a", 0, Some(&["t"]))).await.unwrap();
    let timeout = s.settings().session_timeout_ms;
    f.advance(timeout - 1).await;
    // A new subscription moves the epoch, which cannot be written.
    s.fail_writes.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(s.heartbeat(hb("a", 1, Some(&["t", "u"]))).await, Err(ShareError::Storage(_))));
    f.advance(timeout - 1).await;
    assert_eq!(s.describe("g").unwrap().members.len(), 1, "its session runs from the failed heartbeat");
    f.advance(1).await;
    assert!(s.describe("g").unwrap().members.is_empty());
}

#[tokio::test]
async fn a_share_group_never_takes_the_id_of_a_group_of_another_kind() {
    let f = Fixture::new();
    f.topic("t", 1);
    let s = f.shares();
    // A classic group made while the share join waited for its turn (the handler
    // found no group of that id before).
    let turn = s.writers[s.store_partition("g") as usize].lock().await;
    let s2 = s.clone();
    let joining = tokio::spawn(async move { s2.heartbeat(hb("a", 0, Some(&["t"]))).await });
    tokio::task::yield_now().await;
    let offsets = vec![crate::group::OffsetToCommit {
        topic: "t".into(),
        partition: 0,
        offset: 1,
        leader_epoch: -1,
        metadata: None,
    }];
    let commit = crate::group::CommitRequest {
        group: "g".into(),
        generation: -1,
        member_id: String::new(),
        instance_id: None,
        offsets,
    };
    f.broker().groups().commit(commit).await.unwrap();
    drop(turn);
    assert_eq!(joining.await.unwrap(), Err(ShareError::NotShareGroup("g".into())));
    assert!(!s.is_share_group("g"));
}
