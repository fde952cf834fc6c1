//! Crash tests. A child process (this test binary re-executed with
//! `WEIR_CRASH_CHILD=<dir>`) appends continuously from several threads and prints
//! every append after `flush_to` reported it durable; the parent kill -9s it,
//! reopens with recovery and checks every reported append byte for byte. Then torn
//! tails (half-written batch, garbage, corrupt CRC) must be truncated exactly.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_storage::batch::{batches, set_base_offset};
use weir_storage::testutil::{BatchBuilder, Record};
use weir_storage::{Log, LogConfig, LogManager, SystemClock, TopicPartition};

const CHILD_ENV: &str = "WEIR_CRASH_CHILD";

fn config() -> LogConfig {
    LogConfig { segment_bytes: 16 * 1024, index_interval_bytes: 1024, ..Default::default() }
}

/// Deterministic batch for (thread, sequence number).
fn make_batch(thread: u64, seq: u64) -> Vec<u8> {
    let n = 1 + (seq % 7) as usize;
    BatchBuilder::new(0)
        .compression((seq % 5) as u8)
        .timestamp(seq as i64)
        .records((0..n).map(|i| {
            Record::kv(format!("t{thread}-{seq}-{i}"), vec![(seq + i as u64) as u8; 50 + (seq % 300) as usize])
        }))
        .build()
}

/// Child body: runs only when re-executed by `crash_kill9_loses_no_durable_append`.
#[test]
fn crash_child_process_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let log = Arc::new(Log::open(PathBuf::from(dir), config(), Arc::new(SystemClock), true).unwrap());
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let log = log.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                for seq in 0.. {
                    let b = make_batch(t, seq);
                    let info = log.append(&b).unwrap();
                    log.flush_to(info.last_offset + 1).unwrap();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "{} {} {}", info.first_offset, t, seq).unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn read_batch_at(log: &Log, offset: i64) -> Vec<u8> {
    let r = log.read(offset, 1, true).unwrap();
    let (h, b) = batches(&r.records).next().unwrap().unwrap();
    assert_eq!(h.base_offset, offset);
    b.to_vec()
}

#[test]
fn crash_kill9_loses_no_durable_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash-0");
    let mut reported: Vec<(i64, u64, u64)> = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child_process_entry", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Vec<&str> = line.split_whitespace().collect();
                if v.len() == 3 {
                    if let (Ok(o), Ok(t), Ok(s)) = (v[0].parse(), v[1].parse(), v[2].parse()) {
                        let _ = tx.send((o, t, s));
                    }
                }
            }
        });
        let start = Instant::now();
        let mut got = 0;
        while start.elapsed() < Duration::from_millis(700 + 300 * round) || got < 50 {
            if let Ok(x) = rx.recv_timeout(Duration::from_millis(50)) {
                reported.push(x);
                got += 1;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "child made no progress");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        reported.extend(rx.try_iter());

        let log = Log::open(path.clone(), config(), Arc::new(SystemClock), true).unwrap();
        assert!(log.segment_count() > 1);
        for &(offset, t, seq) in &reported {
            let mut want = make_batch(t, seq);
            set_base_offset(&mut want, offset);
            assert_eq!(read_batch_at(&log, offset), want, "round {round} offset {offset}");
        }
        // The log is contiguous and every batch is intact.
        let mut next = 0;
        while next < log.log_end_offset() {
            let r = log.read(next, 1 << 20, true).unwrap();
            for b in batches(&r.records) {
                let (h, _) = b.unwrap();
                assert_eq!(h.base_offset, next);
                next = h.next_offset();
            }
        }
        log.close().unwrap();
    }
    assert!(reported.len() > 100, "only {} appends", reported.len());
}

fn active_log_file(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

fn append_bytes(p: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(bytes).unwrap();
}

/// Builds a log with a few segments; returns (dir, batches appended, file lengths).
fn build(dir: &Path, close: bool) -> Vec<Vec<u8>> {
    let log = Log::open(dir.to_path_buf(), config(), Arc::new(SystemClock), false).unwrap();
    let mut stored = Vec::new();
    for seq in 0..400 {
        let b = make_batch(0, seq);
        let info = log.append(&b).unwrap();
        stored.push(read_batch_at(&log, info.first_offset));
    }
    assert!(log.segment_count() > 2);
    if close {
        log.close().unwrap();
    }
    stored
}

fn check_exact(dir: &Path, stored: &[Vec<u8>], keep: usize) {
    let log = Log::open(dir.to_path_buf(), config(), Arc::new(SystemClock), true).unwrap();
    let mut next = 0;
    let mut i = 0;
    while next < log.log_end_offset() {
        let r = log.read(next, 1 << 20, true).unwrap();
        for b in batches(&r.records) {
            let (h, bytes) = b.unwrap();
            assert_eq!(bytes, &stored[i][..]);
            next = h.next_offset();
            i += 1;
        }
    }
    assert_eq!(i, keep);
    // New appends continue right after the last good batch, and survive a reopen.
    let info = log.append(&make_batch(1, 1)).unwrap();
    assert_eq!(info.first_offset, next);
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.to_path_buf(), config(), Arc::new(SystemClock), false).unwrap();
    assert_eq!(log.log_end_offset(), info.last_offset + 1);
}

#[test]
fn torn_tail_half_batch_is_truncated_exactly() {
    for close in [true, false] {
        let d = tempfile::tempdir().unwrap();
        let stored = build(d.path(), close);
        let f = active_log_file(d.path());
        let good = std::fs::metadata(&f).unwrap().len();
        let half = make_batch(0, 999);
        append_bytes(&f, &half[..half.len() / 2]);
        let log = Log::open(d.path().to_path_buf(), config(), Arc::new(SystemClock), true).unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().len(), good);
        drop(log);
        check_exact(d.path(), &stored, stored.len());
    }
}

#[test]
fn torn_tail_garbage_is_truncated_exactly() {
    for garbage in [vec![0u8; 5000], vec![0xA5; 37], (0..3000u32).map(|i| (i * 7919) as u8).collect()] {
        let d = tempfile::tempdir().unwrap();
        let stored = build(d.path(), true);
        let f = active_log_file(d.path());
        let good = std::fs::metadata(&f).unwrap().len();
        append_bytes(&f, &garbage);
        let log = Log::open(d.path().to_path_buf(), config(), Arc::new(SystemClock), true).unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().len(), good);
        drop(log);
        check_exact(d.path(), &stored, stored.len());
    }
}

#[test]
fn corrupt_crc_in_active_segment_truncates_from_that_batch() {
    let d = tempfile::tempdir().unwrap();
    let stored = build(d.path(), false);
    let f = active_log_file(d.path());
    let data = std::fs::read(&f).unwrap();
    // Flip a byte in the body of the third batch of the active segment.
    let mut pos = 0;
    let mut starts = Vec::new();
    while pos < data.len() {
        starts.push(pos);
        pos += 12 + i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap()) as usize;
    }
    let target = starts.len() / 2;
    let mut bad = data.clone();
    bad[starts[target] + 70] ^= 0xff;
    std::fs::write(&f, &bad).unwrap();
    let kept_in_active = target;
    let in_active = starts.len();
    check_exact(d.path(), &stored, stored.len() - in_active + kept_in_active);
}

#[test]
fn clean_shutdown_marker_drives_recovery() {
    let d = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("orders", 3);
    {
        let m = LogManager::open(d.path(), Arc::new(SystemClock)).unwrap();
        assert!(!m.had_clean_shutdown());
        let log = m.get_or_create(&tp, config()).unwrap();
        log.append(&make_batch(0, 1)).unwrap();
        m.shutdown().unwrap();
        assert!(d.path().join(weir_storage::CLEAN_SHUTDOWN_MARKER).exists());
    }
    {
        let m = LogManager::open(d.path(), Arc::new(SystemClock)).unwrap();
        assert!(m.had_clean_shutdown());
        assert!(!d.path().join(weir_storage::CLEAN_SHUTDOWN_MARKER).exists());
        let log = m.get_or_create(&tp, config()).unwrap();
        assert_eq!(log.log_end_offset(), 2);
        assert!(d.path().join("orders-3").is_dir());
        // Crash: no shutdown.
        let f = active_log_file(&d.path().join("orders-3"));
        append_bytes(&f, &[1, 2, 3]);
    }
    let m = LogManager::open(d.path(), Arc::new(SystemClock)).unwrap();
    assert!(!m.had_clean_shutdown());
    let log = m.get_or_create(&tp, config()).unwrap();
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(m.logs().len(), 1);
    m.delete(&tp).unwrap();
    assert!(m.get(&tp).is_none());
    assert!(!d.path().join("orders-3").exists());
    m.shutdown().unwrap();
    let m = LogManager::open(d.path(), Arc::new(SystemClock)).unwrap();
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "deleted dir removed");
    drop(m);
}

const FSIZE_CHILD_ENV: &str = "WEIR_FSIZE_CHILD";

/// Child body for `failed_write_leaves_log_unchanged`: a file size limit
/// (RLIMIT_FSIZE, SIGXFSZ ignored) makes a write fail part way, like a full disk.
#[test]
fn fsize_child_process_entry() {
    let Ok(dir) = std::env::var(FSIZE_CHILD_ENV) else { return };
    let cfg = LogConfig { segment_bytes: 1 << 30, ..config() };
    let log = Log::open(PathBuf::from(dir), cfg.clone(), Arc::new(SystemClock), false).unwrap();
    for seq in 0..20 {
        log.append(&make_batch(0, seq)).unwrap();
    }
    let (end, size) = (log.log_end_offset(), log.size_bytes());
    // SAFETY: this child process only ignores SIGXFSZ and lowers its own file-size limit.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit { rlim_cur: size + 100, rlim_max: libc::RLIM_INFINITY };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
    let big = make_batch(0, 299); // > 100 bytes: partially written, then EFBIG
    let err = log.append(&big).unwrap_err();
    assert!(matches!(err, weir_storage::StorageError::Io { .. }), "{err:?}");
    assert_eq!((log.log_end_offset(), log.size_bytes()), (end, size));
    let seg = active_log_file(log.dir());
    assert_eq!(std::fs::metadata(seg).unwrap().len(), size, "partial write cut back");
    // SAFETY: restores this process's own limit.
    unsafe {
        let lim = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
        libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
    }
    let info = log.append(&big).unwrap();
    assert_eq!(info.first_offset, end);
    log.close().unwrap();
    let log = Log::open(log.dir().to_path_buf(), cfg, Arc::new(SystemClock), true).unwrap();
    assert_eq!(log.log_end_offset(), info.last_offset + 1);
    println!("FSIZE-CHILD-OK");
}

#[test]
fn failed_write_leaves_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fsize_child_process_entry", "--nocapture", "--test-threads=1"])
        .env(FSIZE_CHILD_ENV, dir.path().join("fsize-0"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("FSIZE-CHILD-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
