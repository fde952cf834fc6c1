//! Transactions in a log: the last stable offset, markers, the aborted-transaction
//! index across reopen, crash, truncation and compaction.

use std::path::Path;
use std::sync::Arc;

use crate::batch::batches;
use crate::clock::MockClock;
use crate::config::{CleanupPolicy, LogConfig};
use crate::log::Log;
use crate::testutil::{BatchBuilder, Record};
use crate::txn::{AbortedTxn, ControlType};
use crate::StorageError;

fn open(path: &Path, cfg: LogConfig, recover: bool) -> Log {
    Log::open(path.to_path_buf(), cfg, Arc::new(MockClock::new(1_000_000)), recover).unwrap()
}

/// A transactional batch of `pid` with sequence `seq`, one record per key.
fn txn(pid: i64, seq: i32, keys: &[&str]) -> Vec<u8> {
    BatchBuilder::new(0)
        .producer(pid, 0, seq)
        .transactional(true)
        .records(keys.iter().map(|k| Record::kv(*k, format!("{k}-from-{pid}"))))
        .build()
}

fn plain(keys: &[&str]) -> Vec<u8> {
    BatchBuilder::new(0).records(keys.iter().map(|k| Record::kv(*k, "plain"))).build()
}

#[test]
fn the_last_stable_offset_follows_open_transactions() {
    let d = tempfile::tempdir().unwrap();
    let log = open(&d.path().join("t-0"), LogConfig::default(), false);
    assert_eq!(log.first_unstable_offset(), None);
    log.append(&plain(&["a"])).unwrap(); // 0
    log.append(&txn(1, 0, &["b", "c"])).unwrap(); // 1-2
    log.append(&txn(2, 0, &["d"])).unwrap(); // 3
    log.append(&txn(1, 2, &["e"])).unwrap(); // 4
    assert_eq!(log.first_unstable_offset(), Some(1));
    assert_eq!(log.open_transactions(), vec![(1, 0, 1), (2, 0, 3)]);
    let commit = log.append_control(ControlType::Commit, 1, 0, 0).unwrap(); // 5
    assert_eq!(commit.first_offset, 5);
    assert_eq!(log.first_unstable_offset(), Some(3), "producer 2 is still open");
    log.append_control(ControlType::Abort, 2, 0, 0).unwrap(); // 6
    assert_eq!(log.first_unstable_offset(), None);
    assert!(log.aborted_transactions(0, 5).iter().all(|t| t.producer_id == 2));
    assert_eq!(
        log.aborted_transactions(0, 100),
        vec![AbortedTxn { producer_id: 2, first_offset: 3, last_offset: 6, last_stable_offset: 7 }]
    );
    assert!(log.aborted_transactions(7, 100).is_empty(), "finished before the range");
    assert!(log.aborted_transactions(0, 3).is_empty(), "began after the range");
    // A new transaction of producer 1 starts at its next batch.
    log.append(&txn(1, 3, &["f"])).unwrap(); // 7
    assert_eq!(log.first_unstable_offset(), Some(7));
}

#[test]
fn a_marker_from_an_older_epoch_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let log = open(&d.path().join("t-0"), LogConfig::default(), false);
    let b = BatchBuilder::new(0).producer(9, 3, 0).transactional(true).record(Record::value("x")).build();
    log.append(&b).unwrap();
    assert!(matches!(log.append_control(ControlType::Commit, 9, 2, 0), Err(StorageError::InvalidProducerEpoch { .. })));
    // A fencing marker at a higher epoch aborts it, and older batches are refused.
    log.append_control(ControlType::Abort, 9, 4, 0).unwrap();
    assert_eq!(log.first_unstable_offset(), None);
    let stale = BatchBuilder::new(0).producer(9, 3, 1).transactional(true).record(Record::value("y")).build();
    assert!(matches!(log.append(&stale), Err(StorageError::InvalidProducerEpoch { .. })));
}

#[test]
fn open_transactions_and_aborts_survive_a_clean_reopen_and_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("t-0");
    let cfg = LogConfig { segment_bytes: 200, ..LogConfig::default() };
    let log = open(&path, cfg.clone(), false);
    log.append(&txn(1, 0, &["a"])).unwrap(); // 0
    log.append_control(ControlType::Abort, 1, 0, 0).unwrap(); // 1
    for i in 0..5 {
        log.append(&plain(&["p"])).unwrap(); // 2..6, rolling segments
        let _ = i;
    }
    log.append(&txn(2, 0, &["b"])).unwrap(); // 7
    log.append(&txn(3, 0, &["c"])).unwrap(); // 8
    log.append_control(ControlType::Abort, 3, 0, 0).unwrap(); // 9
    assert!(log.segment_count() > 2);
    let expect = log.aborted_transactions(0, 100);
    assert_eq!(expect.len(), 2);
    log.close().unwrap();
    drop(log);

    let log = open(&path, cfg.clone(), false);
    assert_eq!(log.first_unstable_offset(), Some(7), "the open transaction is in the snapshot");
    assert_eq!(log.aborted_transactions(0, 100), expect);
    drop(log);

    // A crash that lost the active segment's index entries and the snapshot:
    // replaying the log brings both back.
    for e in std::fs::read_dir(&path).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".txnindex") || name == "producer-state.snapshot" {
            std::fs::remove_file(&p).unwrap();
        }
    }
    let log = open(&path, cfg, true);
    assert_eq!(log.first_unstable_offset(), Some(7));
    assert_eq!(log.aborted_transactions(0, 100), expect);
}

#[test]
fn truncation_drops_entries_of_markers_it_removes() {
    let d = tempfile::tempdir().unwrap();
    let log = open(&d.path().join("t-0"), LogConfig::default(), false);
    log.append(&txn(1, 0, &["a"])).unwrap(); // 0
    log.append_control(ControlType::Abort, 1, 0, 0).unwrap(); // 1
    log.append(&txn(2, 0, &["b"])).unwrap(); // 2
    log.append_control(ControlType::Abort, 2, 0, 0).unwrap(); // 3
    log.truncate_to(3).unwrap();
    assert_eq!(log.aborted_transactions(0, 100).len(), 1);
    assert_eq!(log.first_unstable_offset(), Some(2), "the transaction is open again");
}

#[test]
fn compaction_drops_aborted_data_and_keeps_committed_values() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 300,
        cleanup_policy: CleanupPolicy { delete: false, compact: true },
        ..LogConfig::default()
    };
    let log = open(&d.path().join("t-0"), cfg, false);
    log.append(&plain(&["k"])).unwrap();
    log.append(&txn(1, 0, &["k"])).unwrap(); // aborted: must not shadow "plain"
    log.append_control(ControlType::Abort, 1, 0, 0).unwrap();
    log.append(&txn(2, 0, &["j"])).unwrap();
    log.append_control(ControlType::Commit, 2, 0, 0).unwrap();
    log.append(&txn(3, 0, &["open"])).unwrap(); // never cleaned while open
    for _ in 0..4 {
        log.append(&plain(&["other"])).unwrap();
    }
    log.compact().unwrap();
    let values: Vec<(String, String)> = walk(&log).into_iter().flat_map(|b| b.2).collect();
    assert!(values.contains(&("k".into(), "plain".into())), "the committed value of k stays: {values:?}");
    assert!(!values.iter().any(|(_, v)| v == "k-from-1"), "aborted data is gone: {values:?}");
    assert!(values.contains(&("j".into(), "j-from-2".into())));
    assert!(values.contains(&("open".into(), "open-from-3".into())));
}

/// A batch left in the log: base offset, control type if a marker, and its records'
/// keys and values.
type Walked = (i64, Option<ControlType>, Vec<(String, String)>);

fn walk(log: &Log) -> Vec<Walked> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        for b in batches(&r.records) {
            let (h, bytes) = b.unwrap();
            next = h.next_offset();
            let records = if h.is_control() {
                vec![]
            } else {
                crate::record::decode_records(bytes)
                    .unwrap()
                    .into_iter()
                    .map(|r| {
                        let text = |b: Option<Vec<u8>>| String::from_utf8(b.unwrap_or_default()).unwrap();
                        (text(r.key), text(r.value))
                    })
                    .collect()
            };
            out.push((h.base_offset, crate::txn::control_type(&h, bytes), records));
        }
    }
    out
}

#[test]
fn compaction_drops_markers_once_their_transaction_is_gone_and_delete_retention_passed() {
    let d = tempfile::tempdir().unwrap();
    let clock = Arc::new(MockClock::new(1_000_000));
    let log = Log::open(d.path().join("t-0"), cfg_compact(), clock.clone(), false).unwrap();
    log.append(&txn(1, 0, &["a"])).unwrap(); // 0: aborted
    let abort = log.append_control(ControlType::Abort, 1, 0, 0).unwrap().first_offset; // 1
    log.append(&txn(2, 0, &["b"])).unwrap(); // 2: committed, later superseded
    let gone = log.append_control(ControlType::Commit, 2, 0, 0).unwrap().first_offset; // 3
    log.append(&txn(3, 0, &["c"])).unwrap(); // 4: committed, stays the latest value of c
    let kept = log.append_control(ControlType::Commit, 3, 0, 0).unwrap().first_offset; // 5
    log.append(&plain(&["b"])).unwrap(); // 6: supersedes the committed b
    for _ in 0..4 {
        log.append(&plain(&["other"])).unwrap();
    }
    assert_eq!(log.aborted_transactions(0, 100).len(), 1);

    // Within delete.retention.ms: aborted and superseded data go, every marker stays.
    log.compact().unwrap();
    let markers = |log: &Log| walk(log).into_iter().filter(|b| b.1.is_some()).map(|b| b.0).collect::<Vec<_>>();
    assert_eq!(markers(&log), vec![abort, gone, kept]);
    assert!(!walk(&log).iter().any(|b| b.2.iter().any(|(k, _)| k == "a")), "aborted data is gone");
    assert_eq!(log.aborted_transactions(0, 100).len(), 1, "its marker stays, so does its entry");

    // Producers 1 and 2 are still remembered: their last batches stay, emptied, and
    // with them their transactions' markers (Kafka's RETAIN_EMPTY).
    clock.advance(120_000);
    log.append(&plain(&["other"])).unwrap(); // dirties the log again
    log.roll().unwrap();
    log.compact().unwrap().expect("a pass ran");
    assert_eq!(markers(&log), vec![abort, gone, kept]);
    let empty: Vec<i64> = walk(&log).into_iter().filter(|b| b.1.is_none() && b.2.is_empty()).map(|b| b.0).collect();
    assert_eq!(empty, vec![0, 2]);
    assert_eq!(log.aborted_transactions(0, 100).len(), 1);

    // Once they expire (producer.id.expiration.ms, at the next roll), the empty
    // batches go; the first pass after that stamps the markers' horizon, and past
    // it the markers of transactions with nothing left go, with the abort's index
    // entry; the marker of the transaction whose value remains stays.
    log.close().unwrap();
    drop(log);
    let expiring = LogConfig { producer_id_expiration_ms: 60_000, ..cfg_compact() };
    let log = Log::open(d.path().join("t-0"), expiring.clone(), clock.clone(), false).unwrap();
    log.append(&plain(&["other"])).unwrap();
    log.roll().unwrap();
    log.compact().unwrap().expect("a pass ran");
    assert!(walk(&log).iter().all(|b| b.1.is_some() || !b.2.is_empty()), "no empty batch is left");
    assert_eq!(markers(&log), vec![abort, gone, kept], "stamped, not yet dropped");
    clock.advance(60_000);
    let stats = log.compact().unwrap().expect("the markers' horizon has passed");
    assert_eq!(stats.markers_dropped, 2);
    assert_eq!(markers(&log), vec![kept]);
    assert!(log.aborted_transactions(0, 100).is_empty());
    assert!(walk(&log).iter().any(|b| b.2.iter().any(|(k, _)| k == "c")), "the committed value of c stays");

    // The same after a restart.
    drop(log);
    let log = Log::open(d.path().join("t-0"), expiring, clock, true).unwrap();
    assert_eq!(markers(&log), vec![kept]);
    assert!(log.aborted_transactions(0, 100).is_empty());
    assert_eq!(log.first_unstable_offset(), None);
}

fn cfg_compact() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        delete_retention_ms: 60_000,
        cleanup_policy: CleanupPolicy { delete: false, compact: true },
        ..LogConfig::default()
    }
}

/// A producer snapshot past the end of a truncated log describes batches that
/// are gone: it is not taken for true once the log has grown past it again
/// (Kafka's `truncateAndReload` deletes it).
#[test]
fn a_snapshot_past_a_truncation_is_not_loaded_later() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("t-0");
    let log = open(&path, LogConfig::default(), false);
    log.append(&txn(7, 0, &["a"])).unwrap(); // 0, left open
    log.roll().unwrap(); // a snapshot at 1
    log.truncate_to(0).unwrap();
    assert_eq!(log.first_unstable_offset(), None);
    for k in ["b", "c", "d"] {
        log.append(&plain(&[k])).unwrap();
    }
    drop(log); // not closed: no newer snapshot
    let log = open(&path, LogConfig::default(), true);
    assert_eq!(log.first_unstable_offset(), None, "producer 7's transaction was truncated away");
    assert!(log.active_producers().iter().all(|p| p.producer_id != 7));
}
