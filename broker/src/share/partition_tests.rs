use std::sync::Arc;

use proptest::prelude::*;

use super::*;

const LIMITS: AcquireLimits = AcquireLimits { max_records: 500, max_in_flight: 100, delivery_limit: 3, lock_ms: 1000 };

fn batch(base: i64, last: i64) -> BatchSpan {
    BatchSpan { base, last, archive: false, end_pos: 0 }
}

fn member(m: &str) -> Arc<str> {
    Arc::from(m)
}

fn ranges(r: &[AcquiredRange]) -> Vec<(i64, i64, u16)> {
    r.iter().map(|r| (r.first, r.last, r.deliveries)).collect()
}

#[test]
fn acquires_whole_batches_then_stops_at_max_records() {
    let mut p = SharePartition::new(0);
    let a = member("a");
    let limits = AcquireLimits { max_records: 3, ..LIMITS };
    let (got, used) = p.acquire(&a, &[batch(0, 1), batch(2, 4), batch(5, 9)], limits, 0);
    // The second batch brings the count to 5 (>= 3): whole batches, then stop.
    assert_eq!(ranges(&got), vec![(0, 4, 1)]);
    assert_eq!(used, 2);
    assert_eq!((p.start(), p.end()), (0, 5));
    // Nothing Available is left below the end: the next read starts there.
    assert_eq!(p.next_read(100), Some(5));
}

#[test]
fn accepted_records_move_the_start_and_released_ones_come_back_with_a_higher_count() {
    let mut p = SharePartition::new(10);
    let (a, b) = (member("a"), member("b"));
    p.acquire(&a, &[batch(10, 14)], LIMITS, 0);
    p.acknowledge("a", 10, 11, &[AckType::Accept], 3).unwrap();
    p.acknowledge("a", 12, 12, &[AckType::Release], 3).unwrap();
    assert_eq!(p.start(), 12);
    assert_eq!(p.next_read(100), Some(12));
    let (got, _) = p.acquire(&b, &[batch(10, 14), batch(15, 15)], LIMITS, 0);
    assert_eq!(ranges(&got), vec![(12, 12, 2), (15, 15, 1)]);
    // a still holds 13 and 14; b may not acknowledge them.
    assert_eq!(p.acknowledge("b", 13, 13, &[AckType::Accept], 3), Err(AckError::InvalidRecordState));
    p.acknowledge("a", 13, 14, &[AckType::Accept, AckType::Reject], 3).unwrap();
    p.acknowledge("b", 12, 12, &[AckType::Accept], 3).unwrap();
    assert_eq!(p.start(), 15);
}

#[test]
fn finished_records_are_counted_from_an_offset() {
    let mut p = SharePartition::new(0);
    let a = member("a");
    p.acquire(&a, &[batch(0, 5)], LIMITS, 0);
    // 0 held, 1 and 3 accepted, 4 rejected: the start stays at 0.
    p.acknowledge("a", 1, 1, &[AckType::Accept], 3).unwrap();
    p.acknowledge("a", 3, 4, &[AckType::Accept, AckType::Reject], 3).unwrap();
    assert_eq!(p.start(), 0);
    let counts: Vec<usize> = [-5, 0, 2, 4, 5, 99].iter().map(|&from| p.finished_since(from)).collect();
    assert_eq!(counts, vec![3, 3, 2, 1, 0, 0]);
    assert_eq!(p.finished(), 3);
}

#[test]
fn an_acknowledgement_is_all_or_nothing() {
    let mut p = SharePartition::new(0);
    let (a, b) = (member("a"), member("b"));
    p.acquire(&a, &[batch(0, 3)], LIMITS, 0);
    p.acquire(&b, &[batch(4, 5)], LIMITS, 0);
    p.acknowledge("a", 0, 0, &[AckType::Accept], 3).unwrap();
    assert_eq!(p.start(), 1);
    const ACCEPT: &[AckType] = &[AckType::Accept];
    // Malformed: the type count, the order, an overlap, a negative offset.
    assert_eq!(p.acknowledge("a", 1, 2, &[AckType::Accept; 3], 3), Err(AckError::InvalidRequest));
    assert_eq!(p.acknowledge("a", 2, 1, ACCEPT, 3), Err(AckError::InvalidRequest));
    assert_eq!(p.acknowledge_batches("a", &[(2, 2, ACCEPT), (1, 1, ACCEPT)], 3), Err(AckError::InvalidRequest));
    assert_eq!(p.acknowledge_batches("a", &[(1, 2, ACCEPT), (2, 3, ACCEPT)], 3), Err(AckError::InvalidRequest));
    assert_eq!(p.acknowledge("a", -1, 1, ACCEPT, 3), Err(AckError::InvalidRequest));
    // Past what is in flight: Kafka's "past acquired records".
    assert_eq!(p.acknowledge("a", 3, 6, ACCEPT, 3), Err(AckError::InvalidRequest));
    // A good batch beside one over b's records: neither applies.
    assert_eq!(p.acknowledge_batches("a", &[(1, 1, ACCEPT), (4, 4, ACCEPT)], 3), Err(AckError::InvalidRecordState));
    assert_eq!((p.acquired(), p.start()), (5, 1));
    // Offset 0 is done: a range over it skips it, and a batch wholly below the start is done.
    assert_eq!(p.acknowledge_batches("a", &[(0, 0, ACCEPT), (0, 1, ACCEPT)], 3), Err(AckError::InvalidRequest));
    assert_eq!(p.acknowledge_batches("a", &[(0, 0, &[AckType::Reject]), (1, 2, ACCEPT)], 3), Ok(true));
    assert_eq!((p.acquired(), p.start()), (3, 3));
}

#[test]
fn a_record_delivered_as_often_as_allowed_is_never_handed_out_again() {
    let mut p = SharePartition::new(0);
    let a = member("a");
    let limits = AcquireLimits { delivery_limit: 2, ..LIMITS };
    p.acquire(&a, &[batch(0, 1)], limits, 0);
    p.acknowledge("a", 0, 1, &[AckType::Release], 2).unwrap();
    let (got, _) = p.acquire(&a, &[batch(0, 1)], limits, 0);
    assert_eq!(ranges(&got), vec![(0, 1, 2)]);
    // A restart while the last delivery is in flight: the snapshot keeps it counted.
    let mut back = SharePartition::restore(&p.snapshot());
    let (got, _) = back.acquire(&a, &[batch(0, 1), batch(2, 2)], limits, 0);
    assert_eq!(ranges(&got), vec![(2, 2, 1)], "0 and 1 archived at the limit");
    assert_eq!(back.start(), 2);
}

#[test]
fn a_lock_that_times_out_frees_the_record_until_its_deliveries_run_out() {
    let mut p = SharePartition::new(0);
    let a = member("a");
    for round in 1..=3u16 {
        let (got, _) = p.acquire(&a, &[batch(0, 0)], LIMITS, round as i64 * 10_000);
        assert_eq!(ranges(&got), vec![(0, 0, round)]);
        assert_eq!(p.next_deadline(), Some(round as i64 * 10_000 + 1000));
        assert!(!p.expire(round as i64 * 10_000 + 999, 3));
        assert!(p.expire(round as i64 * 10_000 + 1000, 3));
    }
    // The third delivery was the last: archived, and the start moved past it.
    assert_eq!((p.start(), p.in_flight()), (1, 0));
}

#[test]
fn a_member_that_leaves_gives_back_what_it_holds() {
    let mut p = SharePartition::new(0);
    let (a, b) = (member("a"), member("b"));
    p.acquire(&a, &[batch(0, 1)], LIMITS, 0);
    p.acquire(&b, &[batch(2, 3)], LIMITS, 0);
    assert!(p.release_member("a", 3, false));
    assert!(!p.release_member("a", 3, false));
    assert_eq!(p.next_read(100), Some(0));
    assert_eq!(p.acquired(), 2);
    // A delivery to a member that went away does not count.
    let (got, _) = p.acquire(&b, &[batch(0, 1)], LIMITS, 0);
    assert_eq!(ranges(&got), vec![(0, 1, 1)]);
}

#[test]
fn control_batches_and_holes_are_archived_never_handed_out() {
    let mut p = SharePartition::new(0);
    let a = member("a");
    let marker = BatchSpan { base: 2, last: 2, archive: true, end_pos: 0 };
    let (got, used) = p.acquire(&a, &[batch(0, 1), marker, batch(5, 6)], LIMITS, 0);
    assert_eq!(ranges(&got), vec![(0, 1, 1), (5, 6, 1)]);
    assert_eq!(used, 3);
    p.acknowledge("a", 0, 1, &[AckType::Accept], 3).unwrap();
    // 2 (the marker) and 3-4 (a hole) are done: the start goes to 5. A gap
    // acknowledgement of them is accepted (nothing to change).
    assert_eq!(p.start(), 5);
    p.acknowledge("a", 5, 6, &[AckType::Accept], 3).unwrap();
    assert_eq!((p.start(), p.end()), (7, 7));
}

#[test]
fn a_compaction_hole_is_skipped_or_archived_within_the_in_flight_bound() {
    let a = member("a");
    let limits = AcquireLimits { max_in_flight: 4, ..LIMITS };
    // Nothing in flight: the start moves past a hole of any size.
    let mut p = SharePartition::new(0);
    let (got, _) = p.acquire(&a, &[batch(1_000_000, 1_000_001)], limits, 0);
    assert_eq!(ranges(&got), vec![(1_000_000, 1_000_001, 1)]);
    assert_eq!((p.start(), p.in_flight()), (1_000_000, 2));
    // With records in flight a hole takes slots, and one wider than the bound
    // waits until the records before it are done.
    let mut p = SharePartition::new(0);
    p.acquire(&a, &[batch(0, 0)], limits, 0);
    let (got, used) = p.acquire(&a, &[batch(10, 10)], limits, 0);
    assert_eq!((got.len(), used, p.in_flight()), (0, 0, 1));
    p.acknowledge("a", 0, 0, &[AckType::Accept], 3).unwrap();
    let (got, _) = p.acquire(&a, &[batch(10, 10)], limits, 0);
    assert_eq!(ranges(&got), vec![(10, 10, 1)]);
    let (got, _) = p.acquire(&a, &[batch(11, 11), batch(13, 13)], limits, 0);
    assert_eq!(ranges(&got), vec![(11, 11, 1), (13, 13, 1)]);
    assert_eq!((p.start(), p.in_flight()), (10, 4));
}

#[test]
fn released_records_that_compaction_removed_are_archived_when_a_read_shows_them_gone() {
    let mut p = SharePartition::new(0);
    let a = member("a");
    p.acquire(&a, &[batch(0, 5)], LIMITS, 0);
    p.acknowledge(
        "a",
        0,
        5,
        &[AckType::Release, AckType::Accept, AckType::Release, AckType::Release, AckType::Accept, AckType::Release],
        3,
    )
    .unwrap();
    // The cleaner removed 0, 2 and 3; a read from 0 returns batches at 1 and 5.
    assert_eq!(p.next_read(100), Some(0));
    p.archive_missing(0, &[batch(1, 1), batch(5, 5)]);
    assert_eq!((p.start(), p.next_read(100)), (5, Some(5)));
    let (got, _) = p.acquire(&a, &[batch(5, 5)], LIMITS, 0);
    assert_eq!(ranges(&got), vec![(5, 5, 2)]);
}

#[test]
fn the_in_flight_bound_stops_new_acquisitions() {
    let mut p = SharePartition::new(0);
    let a = member("a");
    let limits = AcquireLimits { max_in_flight: 4, ..LIMITS };
    let (got, used) = p.acquire(&a, &[batch(0, 2), batch(3, 5)], limits, 0);
    assert_eq!(ranges(&got), vec![(0, 3, 1)]);
    assert_eq!(used, 2);
    assert_eq!(p.next_read(4), None);
    p.acknowledge("a", 0, 0, &[AckType::Accept], 3).unwrap();
    assert_eq!(p.next_read(4), Some(4));
}

#[test]
fn the_log_start_moving_past_the_start_drops_what_is_gone() {
    let mut p = SharePartition::new(0);
    let a = member("a");
    p.acquire(&a, &[batch(0, 4)], LIMITS, 0);
    assert!(p.align(3));
    assert_eq!((p.start(), p.end(), p.acquired()), (3, 5, 2));
    assert!(!p.align(2));
    assert!(p.align(9));
    assert_eq!((p.start(), p.end()), (9, 9));
}

#[test]
fn spans_reads_batch_headers() {
    use weir_storage::testutil::{BatchBuilder, Record};
    let txn = |base: i64, pid: i64, values: &[&str]| {
        BatchBuilder::new(base)
            .producer(pid, 0, 0)
            .transactional(true)
            .records(values.iter().map(|v| Record::value(*v)))
            .build()
    };
    let mut buf = txn(7, 1, &["a", "b", "c"]);
    buf.extend(txn(10, 2, &["d"]));
    buf.extend(BatchBuilder::new(11).record(Record::value("e")).build());
    let s = spans(&buf, &[]);
    assert_eq!(s.len(), 3);
    assert_eq!((s[0].base, s[0].last, s[1].base, s[1].last), (7, 9, 10, 10));
    assert_eq!(s[2].end_pos, buf.len());
    assert!(s.iter().all(|b| !b.archive));
    // read_committed: producer 1's transaction from 7 was aborted by a marker at 12;
    // producer 2's and the plain batch are kept.
    let aborted =
        [weir_storage::AbortedTxn { producer_id: 1, first_offset: 7, last_offset: 12, last_stable_offset: 7 }];
    let archive: Vec<bool> = spans(&buf, &aborted).iter().map(|b| b.archive).collect();
    assert_eq!(archive, vec![true, false, false]);
    // A cut batch at the end is left out.
    assert_eq!(spans(&buf[..buf.len() - 1], &[]).len(), 2);
}

#[derive(Clone, Debug)]
enum Op {
    /// Appends a batch of `n` records, after a hole of `gap` offsets; `control`: a
    /// transaction marker.
    Append {
        n: i64,
        gap: i64,
        control: bool,
    },
    /// The cleaner removes a batch that is not the last.
    Compact {
        at: u8,
    },
    Acquire {
        member: u8,
    },
    Ack {
        member: u8,
        at: u8,
        len: u8,
        ty: u8,
    },
    Expire {
        at: i64,
    },
    Leave {
        member: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..6, prop_oneof![Just(0i64), 1i64..30], proptest::bool::weighted(0.15))
            .prop_map(|(n, gap, control)| Op::Append { n, gap, control }),
        (0u8..20).prop_map(|at| Op::Compact { at }),
        (0u8..3).prop_map(|member| Op::Acquire { member }),
        (0u8..3, 0u8..20, 1u8..4, 0u8..4).prop_map(|(member, at, len, ty)| Op::Ack { member, at, len, ty }),
        (0i64..5000).prop_map(|at| Op::Expire { at }),
        (0u8..3).prop_map(|member| Op::Leave { member }),
    ]
}

/// What a read from `from` returns: the batches holding or following it, at
/// most `max` of them (a read is bounded by bytes).
fn read(log: &[BatchSpan], from: i64, max: usize) -> Vec<BatchSpan> {
    log.iter().filter(|b| b.last >= from).take(max).copied().collect()
}

/// A read and an acquisition, as the coordinator does them.
fn fetch(
    p: &mut SharePartition,
    log: &[BatchSpan],
    m: &Arc<str>,
    limits: AcquireLimits,
    now: i64,
    max: usize,
) -> Vec<AcquiredRange> {
    let Some(from) = p.next_read(limits.max_in_flight) else { return vec![] };
    let batches = read(log, from, max);
    p.archive_missing(from, &batches);
    p.acquire(m, &batches, limits, now).0
}

proptest! {
    /// Any sequence, over a log with holes, transaction markers and batches the
    /// cleaner removes, keeps the invariants: only records that are in the log
    /// (not markers) are handed out, the first slot is never done, the in-flight
    /// bound holds, deliveries stay within the limit, an offset is held by at most
    /// one member, and a snapshot restores the same states. And it stays live: a
    /// member that accepts everything it gets brings the start to the log's end.
    #[test]
    fn invariants_hold_snapshots_restore_and_the_start_reaches_the_end(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let limits = AcquireLimits { max_records: 4, max_in_flight: 12, delivery_limit: 3, lock_ms: 1000 };
        let members: Vec<Arc<str>> = (0..3).map(|i| member(&format!("m{i}"))).collect();
        let mut p = SharePartition::new(0);
        let mut now = 0i64;
        let mut log: Vec<BatchSpan> = Vec::new();
        let mut log_end = 0i64;
        for op in ops {
            match op {
                Op::Append { n, gap, control } => {
                    let base = log_end + gap;
                    log.push(BatchSpan { base, last: base + n - 1, archive: control, end_pos: 0 });
                    log_end = base + n;
                }
                Op::Compact { at } => {
                    if log.len() > 1 {
                        log.remove(at as usize % (log.len() - 1));
                    }
                }
                Op::Acquire { member } => {
                    for r in fetch(&mut p, &log, &members[member as usize], limits, now, 3) {
                        prop_assert!(r.first >= p.start() && r.last < p.end());
                        prop_assert!(r.deliveries >= 1 && r.deliveries <= limits.delivery_limit);
                        for off in r.first..=r.last {
                            prop_assert!(log.iter().any(|b| !b.archive && b.base <= off && off <= b.last), "{off} is no record");
                        }
                    }
                }
                Op::Ack { member, at, len, ty } => {
                    let first = p.start() + at as i64 % 6;
                    let ty = AckType::from_code(ty as i8).unwrap();
                    let before = p.snapshot();
                    let r = p.acknowledge(&format!("m{member}"), first, first + len as i64 - 1, &[ty], 3);
                    if r.is_err() {
                        prop_assert_eq!(p.snapshot(), before);
                    }
                }
                Op::Expire { at } => {
                    now += at;
                    p.expire(now, limits.delivery_limit);
                }
                Op::Leave { member } => {
                    p.release_member(&format!("m{member}"), limits.delivery_limit, member == 0);
                }
            }
            prop_assert!(p.in_flight() <= limits.max_in_flight);
            prop_assert!(p.slots.front().is_none_or(|s| !s.done()));
            for s in &p.slots {
                prop_assert!(s.deliveries <= limits.delivery_limit);
                prop_assert_eq!(s.owner.is_some(), s.state == RecordState::Acquired);
                if s.state == RecordState::Acquired {
                    // The tick may skip a partition only while no lock can have run out.
                    prop_assert!(p.next_deadline().is_some_and(|d| d <= s.deadline));
                }
            }
            let snap = p.snapshot();
            let back = SharePartition::restore(&snap);
            prop_assert_eq!(back.snapshot(), snap);
            prop_assert_eq!(back.start(), p.start());
            prop_assert_eq!(back.acquired(), 0);
        }
        // Liveness: every lock runs out, then one member takes and accepts all.
        now += 10_000;
        p.expire(now, limits.delivery_limit);
        for _ in 0..200 {
            if p.start() >= log_end {
                break;
            }
            for r in fetch(&mut p, &log, &members[0], limits, now, 3) {
                p.acknowledge("m0", r.first, r.last, &[AckType::Accept], limits.delivery_limit).unwrap();
            }
        }
        prop_assert!(p.start() >= log_end, "start {} short of the log end {log_end}", p.start());
    }
}
