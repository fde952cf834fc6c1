//! The transaction coordinator on an in-process broker with a mock clock.

use std::sync::Arc;

use weir_storage::testutil::{BatchBuilder, Record};

use super::*;
use crate::group::{OffsetToCommit, TxnCommitRequest};
use crate::mock_broker::MockBroker;
use crate::partition::{AppendError, Isolation};

crate::mock_broker::fixture!(Fixture);

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture(MockBroker::new(&[
            ("offsets.topic.num.partitions", "2"),
            ("transaction.state.log.num.partitions", "3"),
        ]));
        f.topic("t", 2);
        f
    }

    fn txn(&self) -> &Arc<TxnCoordinator> {
        self.broker().txn()
    }

    /// A transactional batch of `pid`/`epoch` to `t-partition`, in a request of
    /// the transactional id "app".
    fn produce(&self, partition: i32, pid: i64, epoch: i16, seq: i32) -> Result<i64, AppendError> {
        self.produce_as(Some("app"), partition, pid, epoch, seq)
    }

    fn produce_as(&self, id: Option<&str>, partition: i32, pid: i64, epoch: i16, seq: i32) -> Result<i64, AppendError> {
        let b = BatchBuilder::new(0).producer(pid, epoch, seq).transactional(true).record(Record::value("v")).build();
        let p = self.broker().partitions().get("t", partition).unwrap();
        let verifier = super::RequestVerifier { coordinator: self.txn(), transactional_id: id };
        p.append_from_client(&b, -1, None, Some(&verifier)).map(|a| a.info.first_offset)
    }

    fn lso(&self, partition: i32) -> i64 {
        self.broker().partitions().get("t", partition).unwrap().last_stable_offset()
    }

    fn state(&self, id: &str) -> TxnState {
        self.txn().describe(id).unwrap().state
    }
}

fn tps(ps: &[i32]) -> Vec<(String, i32)> {
    ps.iter().map(|p| ("t".to_string(), *p)).collect()
}

#[test]
fn a_committed_transaction_writes_markers_and_moves_the_lso() {
    let f = Fixture::new();
    let (pid, epoch) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    assert_eq!(epoch, 0);
    assert_eq!(f.state("app"), TxnState::Empty);
    let added = f.txn().add_partitions("app", pid, epoch, tps(&[0, 1]), false).unwrap();
    assert!(added.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(f.state("app"), TxnState::Ongoing);
    f.produce(0, pid, epoch, 0).unwrap();
    f.produce(1, pid, epoch, 0).unwrap();
    assert_eq!((f.lso(0), f.lso(1)), (0, 0), "open: nothing is stable yet");
    f.txn().end_txn("app", pid, epoch, true).unwrap();
    assert_eq!(f.state("app"), TxnState::CompleteCommit);
    assert_eq!((f.lso(0), f.lso(1)), (2, 2), "data and marker are stable");
    let read = f.broker().partitions().get("t", 0).unwrap().read(0, 1 << 20, Isolation::ReadCommitted, true).unwrap();
    assert!(read.aborted.is_empty());
    // A retried EndTxn is answered as the first; the other outcome is refused.
    assert_eq!(f.txn().end_txn("app", pid, epoch, true), Ok(()));
    assert!(matches!(f.txn().end_txn("app", pid, epoch, false), Err(TxnError::InvalidTxnState(_))));
}

#[test]
fn an_aborted_transaction_is_listed_for_read_committed_fetches() {
    let f = Fixture::new();
    let (pid, epoch) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    f.txn().add_partitions("app", pid, epoch, tps(&[0]), false).unwrap();
    let first = f.produce(0, pid, epoch, 0).unwrap();
    f.txn().end_txn("app", pid, epoch, false).unwrap();
    assert_eq!(f.state("app"), TxnState::CompleteAbort);
    let read = f.broker().partitions().get("t", 0).unwrap().read(0, 1 << 20, Isolation::ReadCommitted, true).unwrap();
    assert_eq!(read.aborted.iter().map(|a| (a.producer_id, a.first_offset)).collect::<Vec<_>>(), vec![(pid, first)]);
}

#[test]
fn produce_needs_the_partition_in_an_open_transaction() {
    let f = Fixture::new();
    let (pid, epoch) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    assert!(matches!(f.produce(0, pid, epoch, 0), Err(AppendError::Txn(TxnError::InvalidTxnState(_)))));
    f.txn().add_partitions("app", pid, epoch, tps(&[0]), false).unwrap();
    assert!(matches!(f.produce(1, pid, epoch, 0), Err(AppendError::Txn(TxnError::InvalidTxnState(_)))), "not added");
    f.produce(0, pid, epoch, 0).unwrap();
    let unknown = f.txn().add_partitions("app", pid, epoch, vec![("t".into(), 0), ("nope".into(), 0)], false).unwrap();
    assert_eq!(unknown[0].1, Err(TxnError::OperationNotAttempted));
    assert_eq!(unknown[1].1, Err(TxnError::UnknownTopicOrPartition));
    assert!(matches!(
        f.txn().add_partitions("app", pid + 1, epoch, tps(&[0]), false),
        Err(TxnError::InvalidProducerIdMapping(_))
    ));
    assert!(matches!(f.txn().init_producer_id("app", 0, None), Err(TxnError::InvalidTransactionTimeout { .. })));
}

/// Records of an open transaction deleted (DeleteRecords) leave the LSO at
/// the new log start, not below it.
#[test]
fn the_lso_never_falls_below_the_log_start() {
    let f = Fixture::new();
    let (pid, epoch) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    f.txn().add_partitions("app", pid, epoch, tps(&[0]), false).unwrap();
    f.produce(0, pid, epoch, 0).unwrap();
    f.produce(0, pid, epoch, 1).unwrap();
    assert_eq!(f.lso(0), 0);
    let p = f.broker().partitions().get("t", 0).unwrap();
    p.log().delete_records_before(1).unwrap();
    assert_eq!((p.log_start_offset(), f.lso(0)), (1, 1));
}

/// The request's transactional id (what it was authorized for) must be the
/// producer's: none, or another id's producer, is refused and nothing joins the
/// transaction.
#[test]
fn produce_is_verified_against_the_requests_transactional_id() {
    let f = Fixture::new();
    let (pid, epoch) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    f.txn().add_partitions("app", pid, epoch, tps(&[0]), false).unwrap();
    f.txn().init_producer_id("other", 60_000, None).unwrap();
    let end = f.broker().partitions().get("t", 0).unwrap().log_end_offset();
    assert!(matches!(f.produce_as(None, 0, pid, epoch, 0), Err(AppendError::Txn(TxnError::MissingTransactionalId))));
    assert!(matches!(
        f.produce_as(Some("other"), 0, pid, epoch, 0),
        Err(AppendError::Txn(TxnError::InvalidProducerIdMapping(_)))
    ));
    assert_eq!(f.broker().partitions().get("t", 0).unwrap().log_end_offset(), end, "nothing appended");
    f.produce(0, pid, epoch, 0).unwrap();
}

#[test]
fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
    let f = Fixture::new();
    let (pid, old) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    f.txn().add_partitions("app", pid, old, tps(&[0]), false).unwrap();
    f.produce(0, pid, old, 0).unwrap();
    let (pid2, new) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    assert_eq!(pid2, pid);
    assert!(new > old + 1, "an epoch for the fencing abort, then one for the new producer");
    assert_eq!(f.lso(0), f.broker().partitions().get("t", 0).unwrap().high_watermark(), "aborted: stable again");
    assert!(matches!(f.txn().end_txn("app", pid, old, true), Err(TxnError::ProducerFenced(_))));
    assert!(matches!(f.txn().add_partitions("app", pid, old, tps(&[0]), false), Err(TxnError::ProducerFenced(_))));
    // The zombie's writes are refused by the partition too.
    assert!(matches!(f.produce(0, pid, old, 1), Err(AppendError::Txn(TxnError::ProducerFenced(_)))));
}

#[test]
fn a_transaction_older_than_its_timeout_is_aborted_and_its_producer_fenced() {
    let f = Fixture::new();
    let (pid, epoch) = f.txn().init_producer_id("slow", 10_000, None).unwrap();
    f.txn().add_partitions("slow", pid, epoch, tps(&[1]), false).unwrap();
    f.produce_as(Some("slow"), 1, pid, epoch, 0).unwrap();
    f.clock.advance(9_999);
    f.txn().tick();
    assert_eq!(f.state("slow"), TxnState::Ongoing);
    f.clock.advance(1);
    f.txn().tick();
    assert_eq!(f.state("slow"), TxnState::CompleteAbort);
    assert_eq!(f.lso(1), 2, "the abort marker lets read_committed consumers move on");
    assert!(matches!(f.txn().end_txn("slow", pid, epoch, true), Err(TxnError::ProducerFenced(_))));
}

#[test]
fn a_transaction_left_half_way_through_commit_is_completed_at_start() {
    let mut f = Fixture::new();
    let (pid, epoch) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    f.txn().add_partitions("app", pid, epoch, tps(&[0]), false).unwrap();
    f.produce(0, pid, epoch, 0).unwrap();
    // The coordinator wrote PrepareCommit and died before any marker.
    let mut v = f.txn().current("app").unwrap();
    v.state = TxnState::PrepareCommit;
    f.txn().persist("app", Some(&v)).unwrap();
    assert!(matches!(
        f.txn().add_partitions("app", pid, epoch, tps(&[0]), false),
        Err(TxnError::ConcurrentTransactions)
    ));
    f.reopen();
    assert_eq!(f.state("app"), TxnState::CompleteCommit);
    assert_eq!(f.lso(0), 2);
}

/// Markers that cannot be written leave the transaction prepared: the same
/// EndTxn is answered CONCURRENT_TRANSACTIONS, the other INVALID_TXN_STATE, and
/// the tick completes it once markers can be written.
#[test]
fn a_transaction_whose_markers_failed_is_completed_by_the_tick() {
    let f = Fixture::new();
    let (pid, epoch) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    f.txn().add_partitions("app", pid, epoch, tps(&[0, 1]), false).unwrap();
    f.produce(0, pid, epoch, 0).unwrap();
    f.produce(1, pid, epoch, 1).unwrap();
    *f.txn().fail_marker.lock() = Some(("t".into(), 1));
    assert_eq!(f.txn().end_txn("app", pid, epoch, true), Err(TxnError::CoordinatorNotAvailable));
    assert_eq!(f.state("app"), TxnState::PrepareCommit);
    assert_eq!((f.lso(0), f.lso(1)), (2, 0), "partition 0 has its marker");
    assert_eq!(f.txn().end_txn("app", pid, epoch, true), Err(TxnError::ConcurrentTransactions));
    assert!(matches!(f.txn().end_txn("app", pid, epoch, false), Err(TxnError::InvalidTxnState(_))));
    let end0 = || f.broker().partitions().get("t", 0).unwrap().log_end_offset();
    f.txn().tick();
    assert_eq!(
        (f.state("app"), f.lso(1), end0()),
        (TxnState::PrepareCommit, 0, 2),
        "still failing, 0 not marked again"
    );
    *f.txn().fail_marker.lock() = None;
    f.txn().tick();
    assert_eq!((f.state("app"), f.lso(0), f.lso(1), end0()), (TxnState::CompleteCommit, 2, 2, 2));
    assert_eq!(f.txn().end_txn("app", pid, epoch, true), Ok(()), "the retried EndTxn sees it done");
}

/// KIP-360: an InitProducerId retried with the same expected producer id and
/// epoch (its answer lost) gets the epoch it was given, not PRODUCER_FENCED;
/// an older epoch, or any after a fence, is fenced.
#[test]
fn a_retried_init_producer_id_gets_the_same_epoch() {
    let f = Fixture::new();
    let (pid, e0) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    let (_, e1) = f.txn().init_producer_id("app", 60_000, Some((pid, e0))).unwrap();
    assert_eq!(e1, e0 + 1);
    assert_eq!(f.txn().init_producer_id("app", 60_000, Some((pid, e0))), Ok((pid, e1)), "a retry");
    let (_, e2) = f.txn().init_producer_id("app", 60_000, Some((pid, e1))).unwrap();
    assert!(matches!(f.txn().init_producer_id("app", 60_000, Some((pid, e0))), Err(TxnError::ProducerFenced(_))));
    // A producer that started a transaction at its epoch got its answer: a
    // "retry" of the call before is a zombie.
    f.txn().add_partitions("app", pid, e2, tps(&[0]), false).unwrap();
    assert!(matches!(f.txn().init_producer_id("app", 60_000, Some((pid, e1))), Err(TxnError::ProducerFenced(_))));
}

#[test]
fn transactional_offsets_count_only_once_committed() {
    let mut f = Fixture::new();
    let commit = |pid, epoch, offset| TxnCommitRequest {
        group: "g".into(),
        producer_id: pid,
        producer_epoch: epoch,
        generation: -1,
        member_id: String::new(),
        instance_id: None,
        offsets: vec![OffsetToCommit { topic: "t".into(), partition: 0, offset, leader_epoch: -1, metadata: None }],
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (pid, epoch) = f.txn().init_producer_id("app", 60_000, None).unwrap();
    f.txn().add_offsets("app", pid, epoch, "g").unwrap();
    rt.block_on(f.broker().groups().txn_commit(commit(pid, epoch, 5))).unwrap();
    let groups = f.broker().groups().clone();
    assert!(groups.fetch_offsets("g", None).iter().all(|(_, ps)| ps.is_empty()), "not before the commit");
    assert!(groups.has_pending_offset("g", "t", 0));
    f.txn().end_txn("app", pid, epoch, true).unwrap();
    let offset = |f: &Fixture| f.broker().groups().fetch_offsets("g", None)[0].1[0].1.as_ref().map(|v| v.offset);
    assert_eq!(offset(&f), Some(5));
    // An aborted one leaves the committed offset alone.
    f.txn().add_offsets("app", pid, epoch, "g").unwrap();
    rt.block_on(f.broker().groups().txn_commit(commit(pid, epoch, 9))).unwrap();
    f.txn().end_txn("app", pid, epoch, false).unwrap();
    assert_eq!(offset(&f), Some(5));
    assert!(!f.broker().groups().has_pending_offset("g", "t", 0));
    f.reopen();
    assert_eq!(offset(&f), Some(5), "replayed with the markers");
}
