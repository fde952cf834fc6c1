use proptest::prelude::*;

use super::*;

fn t(topic: &str, partition: i32, offset: i64) -> FetchTarget {
    FetchTarget {
        topic: TopicKey::Name(Arc::from(topic)),
        partition,
        fetch_offset: offset,
        partition_max_bytes: 1 << 20,
        current_leader_epoch: -1,
        log_start_offset: -1,
    }
}

fn req(session_id: i32, epoch: i32, targets: Vec<FetchTarget>, forgotten: Vec<(&str, i32)>) -> SessionRequest {
    SessionRequest {
        session_id,
        epoch,
        uses_topic_ids: false,
        targets,
        forgotten: forgotten.into_iter().map(|(n, p)| (TopicKey::Name(Arc::from(n)), p)).collect(),
    }
}

fn quiet(hw: i64) -> Answered {
    Answered { record_bytes: 0, high_watermark: hw, log_start_offset: 0, error: false }
}

fn data(hw: i64) -> Answered {
    Answered { record_bytes: 100, high_watermark: hw, log_start_offset: 0, error: false }
}

/// A full fetch of `targets` that makes a session; its id.
fn open(cache: &FetchSessionCache, targets: Vec<FetchTarget>, now: i64) -> i32 {
    let plan = cache.begin(req(0, INITIAL_EPOCH, targets, vec![]), now).unwrap();
    let answered: Vec<Answered> = plan.targets.iter().map(|_| quiet(10)).collect();
    match cache.finish(&plan, &answered, now) {
        Finished::Respond { session_id, include: None } => session_id,
        _ => panic!("a full fetch answers everything"),
    }
}

fn keys(plan: &FetchPlan) -> Vec<(String, i32, i64)> {
    plan.targets
        .iter()
        .map(|t| match &t.topic {
            TopicKey::Name(n) => (n.to_string(), t.partition, t.fetch_offset),
            TopicKey::Id(_) => unreachable!(),
        })
        .collect()
}

#[test]
fn epochs_follow_kafkas_rule() {
    assert_eq!(next_epoch(0), 1);
    assert_eq!(next_epoch(41), 42);
    assert_eq!(next_epoch(i32::MAX), 1);
    assert_eq!(next_epoch(-1), -1);
}

#[test]
fn an_incremental_fetch_reads_the_whole_session_and_answers_only_what_changed() {
    let cache = FetchSessionCache::new(10, 120_000);
    let id = open(&cache, vec![t("a", 0, 5), t("a", 1, 7), t("b", 0, 0)], 0);
    assert!(id > 0);
    assert_eq!((cache.len(), cache.partitions()), (1, 3));

    // Only a/1's offset changed: the request names it alone, the read covers all three.
    let plan = cache.begin(req(id, 1, vec![t("a", 1, 9)], vec![]), 1).unwrap();
    assert!(plan.is_incremental());
    assert_eq!(keys(&plan), [("a".into(), 0, 5), ("a".into(), 1, 9), ("b".into(), 0, 0)]);
    // a/0 unchanged, a/1 has records, b/0's high watermark moved.
    let answered = [quiet(10), data(12), quiet(11)];
    let Finished::Respond { session_id, include: Some(include) } = cache.finish(&plan, &answered, 1) else {
        panic!("an incremental answer")
    };
    assert_eq!(session_id, id);
    assert_eq!(include, [false, true, true]);

    // a/1 returned records, so it goes last; nothing new: nothing answered.
    let plan = cache.begin(req(id, 2, vec![], vec![]), 2).unwrap();
    assert_eq!(keys(&plan), [("a".into(), 0, 5), ("b".into(), 0, 0), ("a".into(), 1, 9)]);
    let Finished::Respond { include: Some(include), .. } = cache.finish(&plan, &[quiet(10), quiet(11), quiet(12)], 2)
    else {
        panic!()
    };
    assert_eq!(include, [false, false, false]);
}

#[test]
fn an_error_is_always_answered_and_the_partition_again_once_it_clears() {
    let cache = FetchSessionCache::new(10, 120_000);
    let id = open(&cache, vec![t("a", 0, 0)], 0);
    let err = Answered { record_bytes: 0, high_watermark: -1, log_start_offset: -1, error: true };
    for (epoch, answer, expected) in [(1, err, true), (2, err, true), (3, quiet(10), true), (4, quiet(10), false)] {
        let plan = cache.begin(req(id, epoch, vec![], vec![]), 0).unwrap();
        let Finished::Respond { include: Some(include), .. } = cache.finish(&plan, &[answer], 0) else { panic!() };
        assert_eq!(include, [expected], "epoch {epoch}");
    }
}

#[test]
fn added_partitions_are_answered_first_time_and_forgotten_ones_leave() {
    let cache = FetchSessionCache::new(10, 120_000);
    let id = open(&cache, vec![t("a", 0, 0), t("a", 1, 0)], 0);
    let plan = cache.begin(req(id, 1, vec![t("c", 3, 4)], vec![("a", 0), ("zzz", 9)]), 0).unwrap();
    assert_eq!(keys(&plan), [("a".into(), 1, 0), ("c".into(), 3, 4)]);
    assert_eq!(cache.partitions(), 2);
    let Finished::Respond { include: Some(include), .. } = cache.finish(&plan, &[quiet(10), quiet(10)], 0) else {
        panic!()
    };
    assert_eq!(include, [false, true], "the new partition has told the client nothing yet");

    // Forgetting the rest closes the session: answered sessionless, then unknown.
    let plan = cache.begin(req(id, 2, vec![], vec![("a", 1), ("c", 3)]), 0).unwrap();
    assert!(!plan.is_incremental());
    assert!(matches!(cache.finish(&plan, &[], 0), Finished::Respond { session_id: 0, include: None }));
    assert_eq!((cache.len(), cache.partitions()), (0, 0));
    assert_eq!(cache.begin(req(id, 3, vec![], vec![]), 0).err(), Some(SessionError::NotFound));
}

#[test]
fn session_errors_are_kafkas() {
    let cache = FetchSessionCache::new(10, 120_000);
    let id = open(&cache, vec![t("a", 0, 0)], 0);
    assert_eq!(cache.begin(req(id + 1, 1, vec![], vec![]), 0).err(), Some(SessionError::NotFound));
    assert_eq!(cache.begin(req(0, 5, vec![], vec![]), 0).err(), Some(SessionError::NotFound));
    assert_eq!(cache.begin(req(id, 2, vec![], vec![]), 0).err(), Some(SessionError::InvalidEpoch));
    let mut by_id = req(id, 1, vec![], vec![]);
    by_id.uses_topic_ids = true;
    assert_eq!(cache.begin(by_id, 0).err(), Some(SessionError::TopicIdMismatch));
    // The failures did not move the epoch.
    let first = cache.begin(req(id, 1, vec![], vec![]), 0).unwrap();
    // A repeated request (same epoch) is refused; one pipelined ahead of the
    // first's answer makes the first's answer fail instead.
    assert_eq!(cache.begin(req(id, 1, vec![], vec![]), 0).err(), Some(SessionError::InvalidEpoch));
    let second = cache.begin(req(id, 2, vec![], vec![]), 0).unwrap();
    assert!(matches!(cache.finish(&first, &[quiet(1)], 0), Finished::Error(SessionError::InvalidEpoch)));
    assert!(matches!(cache.finish(&second, &[quiet(1)], 0), Finished::Respond { .. }));
}

#[test]
fn full_fetches_close_the_session_they_name() {
    let cache = FetchSessionCache::new(10, 120_000);
    let id = open(&cache, vec![t("a", 0, 0)], 0);
    // FINAL_EPOCH: closed, and no new one.
    let plan = cache.begin(req(id, FINAL_EPOCH, vec![t("a", 0, 0)], vec![]), 0).unwrap();
    assert!(matches!(cache.finish(&plan, &[quiet(1)], 0), Finished::Respond { session_id: 0, include: None }));
    assert_eq!(cache.len(), 0);
    // INITIAL_EPOCH with an id: the old one closed, a new one made.
    let id = open(&cache, vec![t("a", 0, 0)], 0);
    let plan = cache.begin(req(id, INITIAL_EPOCH, vec![t("a", 0, 0)], vec![]), 0).unwrap();
    let Finished::Respond { session_id, .. } = cache.finish(&plan, &[quiet(1)], 0) else { panic!() };
    assert!(session_id > 0 && session_id != id);
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_full_cache_evicts_as_kafka_does() {
    let two = || vec![t("a", 0, 0), t("a", 1, 0)];
    let cache = FetchSessionCache::new(1, 1_000);
    let small = open(&cache, vec![t("a", 0, 0)], 0);
    assert!(small > 0);
    // Young and in use: a bigger newcomer gets no slot yet, a smaller never.
    assert_eq!(open(&cache, two(), 500), 0);
    cache.begin(req(small, 1, vec![], vec![]), 900).unwrap();
    // Older than the eviction time but used recently: only a bigger one takes it.
    assert_eq!(open(&cache, vec![t("b", 0, 0)], 1_500), 0);
    let big = open(&cache, two(), 1_500);
    assert!(big > 0);
    assert_eq!(cache.begin(req(small, 2, vec![], vec![]), 1_500).err(), Some(SessionError::NotFound));
    assert_eq!((cache.len(), cache.partitions()), (1, 2));
    // Unused for longer than the eviction time: anyone takes it.
    let tiny = open(&cache, vec![t("c", 0, 0)], 2_501);
    assert!(tiny > 0);
    assert_eq!(cache.begin(req(big, 1, vec![], vec![]), 2_501).err(), Some(SessionError::NotFound));
    assert_eq!((cache.len(), cache.partitions()), (1, 1));
}

#[test]
fn no_slots_means_no_sessions() {
    let cache = FetchSessionCache::new(0, 1_000);
    assert_eq!(open(&cache, vec![t("a", 0, 0)], 0), 0);
    assert!(cache.is_empty());
}

proptest! {
    /// Any run of updates and answers keeps the order and the index in step, with
    /// each partition once, and matches a plain model of the session.
    #[test]
    fn session_partitions_stay_consistent(
        steps in prop::collection::vec(
            (prop::collection::vec((0u8..4, 0i32..4, 0i64..100), 0..6),
             prop::collection::vec((0u8..4, 0i32..4), 0..4),
             prop::collection::vec(any::<bool>(), 16)),
            1..30),
    ) {
        let name = |n: u8| TopicKey::Name(Arc::from(format!("t{n}").as_str()));
        let mut s = SessionPartitions::default();
        let mut model: Vec<((TopicKey, i32), i64)> = Vec::new();
        for (adds, forgets, has_data) in steps {
            let targets: Vec<FetchTarget> = adds
                .iter()
                .map(|&(n, p, o)| FetchTarget { topic: name(n), ..t("x", p, o) })
                .collect();
            let forgotten: Vec<(TopicKey, i32)> = forgets.iter().map(|&(n, p)| (name(n), p)).collect();
            s.update(&targets, &forgotten);
            for tg in &targets {
                let key = (tg.topic.clone(), tg.partition);
                match model.iter_mut().find(|(k, _)| *k == key) {
                    Some(m) => m.1 = tg.fetch_offset,
                    None => model.push((key, tg.fetch_offset)),
                }
            }
            model.retain(|(k, _)| !forgotten.contains(k));
            let answered: Vec<Answered> =
                (0..s.len()).map(|i| if has_data[i % 16] { data(1) } else { quiet(1) }).collect();
            s.select(&answered);
            let (mut stay, mut moved) = (Vec::new(), Vec::new());
            for (i, m) in model.into_iter().enumerate() {
                if has_data[i % 16] { moved.push(m) } else { stay.push(m) }
            }
            stay.append(&mut moved);
            model = stay;

            prop_assert_eq!(s.order.len(), s.index.len());
            prop_assert_eq!(s.order.len() + s.free.len(), s.slots.len());
            for &slot in &s.order {
                let c = s.slots[slot].as_ref().expect("an ordered slot is filled");
                prop_assert_eq!(s.index.get(&(c.target.topic.clone(), c.target.partition)), Some(&slot));
            }
            let got: Vec<((TopicKey, i32), i64)> =
                s.cached().map(|c| ((c.target.topic.clone(), c.target.partition), c.target.fetch_offset)).collect();
            prop_assert_eq!(got, model.clone());
        }
    }
}
