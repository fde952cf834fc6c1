//! Edge cases after Kafka's LogSegmentTest / OffsetIndexTest.

use super::*;
use crate::batch::validate_batch;
use crate::testutil::{BatchBuilder, Record};

fn seg(dir: &Path, base: i64) -> Segment {
    Segment::create(dir, base, (1000, 1000)).unwrap()
}

/// Appends a batch with offsets `[base, base + n)` and timestamps `ts`.
fn add(s: &Segment, base: i64, n: usize, ts: i64, interval: u64) {
    let mut b = BatchBuilder::new(base)
        .timestamp(ts)
        .records((0..n).map(|i| Record::kv(format!("k{i}"), format!("v{}", base + i as i64))))
        .build();
    batch::set_base_offset(&mut b, base);
    let h = validate_batch(&b, 0).unwrap();
    let info = BatchInfo { base_offset: base, last_offset: h.last_offset(), max_ts: h.max_timestamp, len: b.len() };
    s.append(&[IoSlice::new(&b)], &[info], interval, 0).unwrap();
}

fn offsets(b: &[u8]) -> Vec<i64> {
    batch::batches(b).map(|r| r.unwrap().0.base_offset).collect()
}

#[test]
fn read_on_empty_segment() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 40);
    assert!(s.read(40, 1000, true).unwrap().is_none());
    assert!(s.read(0, 1000, true).unwrap().is_none());
    assert_eq!(s.next_offset(), 40);
    assert!(s.find_offset_by_timestamp(0, 0).unwrap().is_none());
    assert!(s.max_timestamp_record().unwrap().is_none());
}

#[test]
fn read_before_first_offset_returns_first_batch() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 40);
    add(&s, 50, 3, 10, 4096);
    let r = s.read(41, 10_000, true).unwrap().unwrap();
    assert_eq!(offsets(&r), vec![50]);
}

#[test]
fn read_after_last_offset_is_none() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 40);
    add(&s, 50, 3, 10, 4096);
    assert!(s.read(53, 10_000, true).unwrap().is_none());
    assert!(s.read(60, 10_000, true).unwrap().is_none());
}

#[test]
fn read_from_gap_and_middle_of_batch() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 40);
    add(&s, 50, 2, 10, 0);
    add(&s, 60, 2, 10, 0);
    add(&s, 70, 5, 10, 0);
    assert_eq!(offsets(&s.read(55, 10_000, true).unwrap().unwrap()), vec![60, 70]);
    assert_eq!(offsets(&s.read(61, 10_000, true).unwrap().unwrap()), vec![60, 70]);
    assert_eq!(offsets(&s.read(73, 10_000, true).unwrap().unwrap()), vec![70]);
    assert_eq!(offsets(&s.read(0, 10_000, true).unwrap().unwrap()), vec![50, 60, 70]);
}

#[test]
fn max_bytes_returns_whole_batches_and_min_one() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 0);
    add(&s, 0, 2, 10, 0);
    add(&s, 2, 2, 10, 0);
    let one = s.read(0, 1_000_000, true).unwrap().unwrap().len() / 2;
    assert_eq!(offsets(&s.read(0, one, true).unwrap().unwrap()), vec![0]);
    assert_eq!(offsets(&s.read(0, one + 5, true).unwrap().unwrap()), vec![0]);
    assert_eq!(offsets(&s.read(0, 2 * one, true).unwrap().unwrap()), vec![0, 2]);
    // First batch larger than the budget: whole with min_one, nothing without.
    assert_eq!(offsets(&s.read(0, 1, true).unwrap().unwrap()), vec![0]);
    assert!(s.read(0, 1, false).unwrap().unwrap().is_empty());
}

#[test]
fn truncate_then_append_and_full_truncate() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 40);
    for i in 0..30 {
        add(&s, 40 + i * 2, 2, 100 + i, 1);
    }
    assert!(s.ix.read().offset.len() > 10);
    assert!(matches!(s.truncate_to(61, 1).unwrap(), Cut::InPlace));
    // Batch [60, 61] is removed whole.
    assert_eq!(s.next_offset(), 60);
    assert_eq!(offsets(&s.read(0, 1 << 20, true).unwrap().unwrap()).last(), Some(&58));
    assert!(s.ix.read().offset.last().unwrap().0 < 20);
    assert_eq!(s.max_timestamp(), 109);
    add(&s, 60, 1, 5, 1);
    assert_eq!(s.next_offset(), 61);
    assert!(matches!(s.truncate_to(100, 1).unwrap(), Cut::Nothing));
    assert!(matches!(s.truncate_to(0, 1).unwrap(), Cut::InPlace));
    assert_eq!(s.size(), 0);
    assert_eq!(s.next_offset(), 40);
    assert_eq!(s.ix.read().offset.len(), 0);
    assert!(s.read(40, 100, true).unwrap().is_none());
}

#[test]
fn truncate_with_reader_holding_bytes_copies() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 0);
    for i in 0..10 {
        add(&s, i * 3, 3, 100, 1);
    }
    let held = s.read(0, 1 << 20, true).unwrap().unwrap();
    let copy = held.to_vec();
    match s.truncate_to(5, 1).unwrap() {
        Cut::Copied(p) => assert!(p.exists()),
        _ => panic!("expected copy"),
    }
    assert_eq!(&held[..], &copy[..]);
    drop(held);
    assert!(matches!(s.truncate_to(5, 1).unwrap(), Cut::InPlace));
}

#[test]
fn time_lookups() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 0);
    // timestamps per batch: 100, 300, 200 (non-monotonic), 400
    for (i, ts) in [100, 300, 200, 400].iter().enumerate() {
        add(&s, i as i64 * 2, 2, *ts, 0);
    }
    let at = |t| s.find_offset_by_timestamp(t, 0).unwrap().map(|x| (x.timestamp, x.offset));
    assert_eq!(at(0), Some((100, 0)));
    assert_eq!(at(100), Some((100, 0)));
    assert_eq!(at(101), Some((300, 2)));
    assert_eq!(at(250), Some((300, 2)));
    assert_eq!(at(301), Some((400, 6)));
    assert_eq!(at(401), None);
    assert_eq!(s.find_offset_by_timestamp(0, 5).unwrap().unwrap().offset, 5);
    let m = s.max_timestamp_record().unwrap().unwrap();
    assert_eq!((m.timestamp, m.offset), (400, 6));
}

#[test]
fn record_level_time_lookup_inside_batch() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 0);
    let b = BatchBuilder::new(0)
        .compression(batch::COMPRESSION_LZ4)
        .records((0..10).map(|i| Record::value("x").ts(1000 + i * 10)))
        .build();
    let info = BatchInfo { base_offset: 0, last_offset: 9, max_ts: 1090, len: b.len() };
    s.append(&[IoSlice::new(&b)], &[info], 4096, 0).unwrap();
    let r = s.find_offset_by_timestamp(1041, 0).unwrap().unwrap();
    assert_eq!((r.timestamp, r.offset), (1050, 5));
    let m = s.max_timestamp_record().unwrap().unwrap();
    assert_eq!((m.timestamp, m.offset), (1090, 9));
}

#[test]
fn index_rebuild_after_deleting_index_file() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 0);
    for i in 0..50 {
        add(&s, i, 1, i * 10, 1);
    }
    let before: Vec<_> = (0..s.ix.read().offset.len()).map(|i| s.ix.read().offset.entry(i)).collect();
    assert!(before.len() > 20);
    s.seal().unwrap();
    drop(s);
    std::fs::remove_file(segment_path(d.path(), 0, ".index")).unwrap();
    let s = Segment::open_files(d.path(), 0, (1000, 1000), false).unwrap();
    let scan = s.load(1, true, false).unwrap();
    assert!(scan.error.is_none());
    let after: Vec<_> = (0..s.ix.read().offset.len()).map(|i| s.ix.read().offset.entry(i)).collect();
    assert_eq!(before, after);
    assert_eq!(s.next_offset(), 50);
    assert_eq!(s.max_timestamp(), 490);
    assert_eq!(offsets(&s.read(25, 1, true).unwrap().unwrap()), vec![25]);
}

#[test]
fn an_index_that_disagrees_with_its_log_is_rebuilt() {
    let d = tempfile::tempdir().unwrap();
    let a = seg(d.path(), 0);
    for i in 0..60 {
        add(&a, i, 1, i * 10, 150); // an entry every few batches
    }
    let want: Vec<_> = (0..a.ix.read().offset.len()).map(|i| a.ix.read().offset.entry(i)).collect();
    assert!(want.len() > 6 && want[1].0 > want[0].0 + 1, "sparse index: {want:?}");
    a.seal().unwrap();
    drop(a);
    // The middle entry now points at the batch after the one it names: still
    // ordered and in bounds, so only a check against the log can tell, and a read
    // of that offset would skip a batch.
    let log = std::fs::read(segment_path(d.path(), 0, ".log")).unwrap();
    let k = want.len() / 2;
    let (_, p) = want[k];
    let next = p as usize + batch::BatchHeader::parse(&log[p as usize..]).unwrap().total_len();
    let mut index = std::fs::read(segment_path(d.path(), 0, ".index")).unwrap();
    index[k * 8 + 4..k * 8 + 8].copy_from_slice(&(next as u32).to_be_bytes());
    std::fs::write(segment_path(d.path(), 0, ".index"), &index).unwrap();

    let a = Segment::open_files(d.path(), 0, (1000, 1000), false).unwrap();
    assert!(a.load(150, false, false).unwrap().error.is_none());
    let got: Vec<_> = (0..a.ix.read().offset.len()).map(|i| a.ix.read().offset.entry(i)).collect();
    assert_eq!(got, want, "rebuilt from the log");
    let named = want[k].0 as i64;
    assert_eq!(offsets(&a.read(named, 1, true).unwrap().unwrap()), vec![named]);
}

#[test]
fn reload_without_rebuild_restores_state() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 7);
    for i in 0..40 {
        add(&s, 7 + i, 1, 1000 - i, 100);
    }
    s.seal().unwrap();
    let (n, m) = (s.next_offset(), s.meta());
    drop(s);
    let s = Segment::open_files(d.path(), 7, (1000, 1000), false).unwrap();
    assert!(s.load(100, false, true).unwrap().error.is_none());
    assert_eq!(s.next_offset(), n);
    assert_eq!(s.meta().max_ts, m.max_ts);
    assert_eq!(s.meta().max_ts_offset, m.max_ts_offset);
}

#[test]
fn recover_truncates_garbage() {
    let d = tempfile::tempdir().unwrap();
    let s = seg(d.path(), 0);
    for i in 0..5 {
        add(&s, i, 1, 0, 0);
    }
    let good = s.size();
    drop(s);
    let p = segment_path(d.path(), 0, ".log");
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    std::io::Write::write_all(&mut f, &[7u8; 100]).unwrap();
    let s = Segment::open_files(d.path(), 0, (1000, 1000), true).unwrap();
    assert_eq!(s.recover(0).unwrap(), 100);
    assert_eq!(s.size(), good);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), good);
    assert_eq!(s.next_offset(), 5);
}

#[test]
fn vectored_write_handles_many_slices() {
    let d = tempfile::tempdir().unwrap();
    let f = File::create(d.path().join("x")).unwrap();
    let chunks: Vec<Vec<u8>> = (0..3000).map(|i| vec![(i % 251) as u8; i % 7 + 1]).collect();
    let iov: Vec<IoSlice> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    write_all_vectored_at(&f, &iov, 10).unwrap();
    let data = std::fs::read(d.path().join("x")).unwrap();
    assert_eq!(&data[10..], &chunks.concat()[..]);
}
