//! Tests of the consumer-group records.
use super::*;

#[test]
fn a_group_survives_its_records() {
    let t = Uuid::from_u128(7);
    let mut cg = ConsumerGroup::new(4, "uniform");
    let mut m = ConsumerMember::new("m1".into(), 0);
    m.instance_id = Some("i1".into());
    m.client_id = "c".into();
    m.client_host = "/127.0.0.1".into();
    m.topic_names = vec!["orders".into()];
    m.regex = Some("ord.*".into());
    m.assignor = Some("range".into());
    m.epoch = 4;
    m.previous_epoch = 3;
    m.state = MemberState::UnrevokedPartitions;
    m.assigned = [(t, [0, 1].into())].into();
    m.revoking = [(t, [2].into())].into();
    cg.members.insert("m1".into(), m);
    cg.target.insert("m1".into(), [(t, [0, 1].into())].into());
    let records = records_of(&cg);
    assert_eq!(records.len(), 5);

    let mut loaded = Loaded::default();
    for (k, v) in &records {
        loaded.apply(k, Some(v), 0).unwrap();
    }
    let back = loaded.restore("uniform", 100).unwrap();
    assert_eq!((back.epoch, back.assignment_epoch), (4, 4));
    let m = &back.members["m1"];
    assert_eq!((m.epoch, m.previous_epoch, m.state), (4, 3, MemberState::UnrevokedPartitions));
    assert_eq!(m.assigned, [(t, [0, 1].into())].into());
    assert_eq!(m.revoking, [(t, [2].into())].into());
    assert_eq!(
        (m.instance_id.as_deref(), m.regex.as_deref(), m.assignor.as_deref()),
        (Some("i1"), Some("ord.*"), Some("range"))
    );
    assert!(m.compiled.is_some());
    assert_eq!(m.revoke_deadline, Some(100 + m.rebalance_timeout_ms));
    assert_eq!(back.static_members["i1"], "m1");
    assert_eq!(back.owners.len(), 3);
    assert_eq!(records_of(&back), records, "written again the same");

    // A tombstone of the member's current assignment drops it.
    let mut loaded = Loaded::default();
    for (k, v) in &records {
        loaded.apply(k, Some(v), 0).unwrap();
    }
    loaded.apply(&ConsumerKey::Current("m1".into()), None, 0).unwrap();
    assert!(loaded.restore("uniform", 0).unwrap().members.is_empty());
}

fn group_of(ids: &[&str]) -> ConsumerGroup {
    let mut cg = ConsumerGroup::new(3, "uniform");
    for id in ids {
        let mut m = ConsumerMember::new(id.to_string(), 0);
        m.topic_names = vec!["t".into()];
        m.epoch = 3;
        cg.members.insert(id.to_string(), m);
    }
    cg
}

#[test]
fn a_one_member_diff_finds_what_the_whole_group_diff_finds() {
    let t = Uuid::from_u128(1);
    let mut cg = group_of(&["a", "b", "c"]);
    let Diff { changes: first, now: written, undo } = diff(Some(&cg), BTreeMap::new(), Some("a"));
    assert_eq!(first.len(), 2 + 3 * 2, "everything, the first time (no targets yet)");
    assert!(Diff::undone(written.clone(), undo).is_empty(), "undone, nothing was written");

    // b's heartbeat moved b alone: both ways find the same one change.
    cg.members.get_mut("b").unwrap().assigned = [(t, [0].into())].into();
    let Diff { changes: partial, now: after, undo } = diff(Some(&cg), written.clone(), Some("b"));
    let Diff { changes: full, now: after_full, undo: undo_full } = diff(Some(&cg), written.clone(), None);
    assert_eq!(partial, full);
    assert_eq!(partial.len(), 1);
    assert_eq!(after, after_full);
    assert_eq!(Diff::undone(after.clone(), undo), written, "undone, b's records are as written");
    assert_eq!(Diff::undone(after_full, undo_full), written);

    // A member replaced by another without a new epoch (a static member taking
    // over): the set differs, so the whole group is compared and the old one's
    // records go.
    let swapped = group_of(&["a", "c", "d"]);
    let Diff { changes, now: swapped_now, undo } = diff(Some(&swapped), after.clone(), Some("d"));
    assert!(changes.contains(&(ConsumerKey::Member("b".into()), None)), "{changes:?}");
    assert!(changes.iter().any(|(k, v)| *k == ConsumerKey::Member("d".into()) && v.is_some()));
    assert_eq!(Diff::undone(swapped_now, undo), after, "undone, b is back and d gone");

    // The group gone: tombstones for all of it.
    let Diff { changes: gone, now, undo } = diff(None, after.clone(), Some("a"));
    assert!(now.is_empty());
    assert_eq!(gone.len(), 2 + 3 * 2);
    assert!(gone.iter().all(|(_, v)| v.is_none()));
    assert_eq!(Diff::undone(now, undo), after, "undone, the group is back");
}

#[test]
fn truncated_values_are_errors_not_panics() {
    let mut cg = ConsumerGroup::new(1, "uniform");
    let mut m = ConsumerMember::new("m".into(), 0);
    m.topic_names = vec!["a".into()];
    cg.members.insert("m".into(), m);
    for (k, v) in records_of(&cg) {
        for cut in 0..v.len() {
            assert!(Loaded::default().apply(&k, Some(&v[..cut]), 0).is_err(), "{k:?} cut at {cut}");
        }
    }
}

#[test]
fn a_member_speaking_the_classic_protocol_keeps_its_metadata() {
    let t = Uuid::from_u128(3);
    let mut cg = group_of(&["c"]);
    let m = cg.members.get_mut("c").unwrap();
    m.assigned = [(t, [1].into())].into();
    m.classic = Some(ClassicMember {
        session_timeout_ms: 45_000,
        protocols: vec![("range".into(), Bytes::from_static(b"\0\x01sub")), ("roundrobin".into(), Bytes::new())],
    });
    let records = records_of(&cg);
    let member = &records[&ConsumerKey::Member("c".into())];

    let mut loaded = Loaded::default();
    for (k, v) in &records {
        loaded.apply(k, Some(v), 0).unwrap();
    }
    let back = loaded.restore("uniform", 7).unwrap();
    let c = back.members["c"].classic.as_ref().expect("still a classic member");
    assert_eq!(c.session_timeout_ms, 45_000);
    assert_eq!(c.protocols, cg.members["c"].classic.as_ref().unwrap().protocols);
    assert_eq!(back.members["c"].assigned, [(t, [1].into())].into());
    assert_eq!(records_of(&back), records, "written again the same");

    // Kafka's layout, byte for byte from its schema: after ServerAssignor (null
    // here) the tagged section holds one field, tag 0, whose data is the nullable
    // struct: the marker 1, then SessionTimeoutMs, SupportedProtocols, no tags.
    let plain = records_of(&group_of(&["c"]))[&ConsumerKey::Member("c".into())].clone();
    let tags = &member[plain.len() - 1..];
    assert_eq!(&member[..plain.len() - 1], &plain[..plain.len() - 1]);
    let mut want = vec![1u8, 0, 33, 1, 0x00, 0x00, 0xaf, 0xc8, 3, 6];
    want.extend_from_slice(b"range");
    want.extend_from_slice(&[6, 0, 1, b's', b'u', b'b', 0, 11]);
    want.extend_from_slice(b"roundrobin");
    want.extend_from_slice(&[1, 0, 0]);
    assert_eq!(tags, &want[..]);
    // A null ClassicMemberMetadata (marker -1) is a consumer-protocol member.
    let mut null = BytesMut::from(&member[..plain.len() - 1]);
    null.put_slice(&[1, 0, 1, 0xff]);
    let mut loaded = Loaded::default();
    loaded.apply(&ConsumerKey::Member("c".into()), Some(&null), 0).unwrap();
    assert!(loaded.members["c"].metadata.as_ref().unwrap().classic.is_none());

    // Another tag beside it (a newer writer's) is skipped; a cut one is an error.
    let mut with_other = BytesMut::from(&member[..plain.len() - 1]);
    with_other.put_u8(2);
    with_other.put_u8(0);
    with_other.put_slice(&tags[2..]);
    with_other.put_slice(&[5, 2, 0xaa, 0xbb]);
    let mut loaded = Loaded::default();
    loaded.apply(&ConsumerKey::Member("c".into()), Some(&with_other), 0).unwrap();
    let read = loaded.members["c"].metadata.as_ref().unwrap().classic.as_ref().unwrap();
    assert_eq!((read.session_timeout_ms, read.protocols.len()), (45_000, 2));
    let mut cut = Loaded::default();
    assert!(cut.apply(&ConsumerKey::Member("c".into()), Some(&with_other[..with_other.len() - 1]), 0).is_err());
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any member, classic or not, reads back as written; and any bytes as a
        /// value are read or refused, never a panic.
        #[test]
        fn members_round_trip_and_any_value_is_safe(
            timeout in 0i64..=i32::MAX as i64,
            protocols in proptest::collection::vec(("[a-z-]{0,12}", proptest::collection::vec(any::<u8>(), 0..40)), 0..4),
            classic in any::<bool>(),
            parts in proptest::collection::btree_set(0i32..64, 0..10),
            garbage in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let t = Uuid::from_u128(9);
            let mut cg = group_of(&["m"]);
            let m = cg.members.get_mut("m").unwrap();
            m.assigned = [(t, parts)].into();
            m.classic = classic.then(|| ClassicMember {
                session_timeout_ms: timeout,
                protocols: protocols.into_iter().map(|(n, b)| (n, Bytes::from(b))).collect(),
            });
            let records = records_of(&cg);
            let mut loaded = Loaded::default();
            for (k, v) in &records {
                loaded.apply(k, Some(v), 0).unwrap();
            }
            let back = loaded.restore("uniform", 0).unwrap();
            prop_assert_eq!(records_of(&back), records);
            let (a, b) = (back.members["m"].classic.as_ref(), cg.members["m"].classic.as_ref());
            prop_assert_eq!(a.map(|c| (c.session_timeout_ms, c.protocols.clone())), b.map(|c| (c.session_timeout_ms, c.protocols.clone())));
            for key in [ConsumerKey::Member("m".into()), ConsumerKey::Current("m".into()), ConsumerKey::Metadata] {
                let mut value = vec![0u8, 0];
                value.extend_from_slice(&garbage);
                let _ = Loaded::default().apply(&key, Some(&value), 0);
            }
        }
    }
}
