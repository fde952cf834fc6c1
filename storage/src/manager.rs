//! All partition logs of a broker under one data directory, plus the background
//! thread (retention, interval flushes, segment.ms rolls, delayed deletes) and the
//! log cleaner thread (compaction).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::clock::Clock;
use crate::config::LogConfig;
use crate::error::{IoContext, Result};
use crate::log::Log;
use crate::log_flush::Attention;
use crate::recovery::fsync_dir;
use crate::recycle::SegmentPool;

/// Marker written by a clean shutdown; its absence at startup triggers recovery.
pub const CLEAN_SHUTDOWN_MARKER: &str = ".weir_clean_shutdown";
const DELETE_SUFFIX: &str = ".delete";
/// Threads that close logs at shutdown.
const CLOSE_THREADS: usize = 8;

/// A topic partition; its log lives in `<data-dir>/<topic>-<partition>/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition { topic: topic.into(), partition }
    }
    /// Directory name: `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    /// Sleeps up to `d`; returns true when stopping.
    fn sleep(&self, d: Duration) -> bool {
        let mut s = self.stopped.lock();
        if !*s {
            self.cv.wait_for(&mut s, d);
        }
        *s
    }
}

/// Owner of every partition log.
pub struct LogManager {
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    had_clean_shutdown: bool,
    logs: Mutex<BTreeMap<TopicPartition, Arc<Log>>>,
    pending_deletes: Mutex<Vec<(PathBuf, i64)>>,
    pool: Arc<SegmentPool>,
    /// Logs the interval-flush pass looks at next.
    attention: Arc<Attention>,
    stop: Arc<Stop>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl LogManager {
    /// Reads and removes the clean-shutdown marker (`.weir_clean_shutdown`) to decide
    /// whether logs opened later need recovery. Creates data_dir if missing, and
    /// removes directories left over from deletions (`*.delete`).
    pub fn open(data_dir: &Path, clock: Arc<dyn Clock>) -> Result<LogManager> {
        std::fs::create_dir_all(data_dir).ctx("create data dir", data_dir)?;
        let marker = data_dir.join(CLEAN_SHUTDOWN_MARKER);
        let had_clean_shutdown = marker.exists();
        if had_clean_shutdown {
            std::fs::remove_file(&marker).ctx("remove clean shutdown marker", &marker)?;
        }
        for e in std::fs::read_dir(data_dir).ctx("list data dir", data_dir)? {
            let e = e.ctx("list data dir", data_dir)?;
            if e.file_name().to_string_lossy().ends_with(DELETE_SUFFIX) {
                std::fs::remove_dir_all(e.path()).ctx("remove deleted log", &e.path())?;
            }
        }
        let pool = Arc::new(SegmentPool::open(data_dir)?);
        fsync_dir(data_dir)?;
        Ok(LogManager {
            data_dir: data_dir.to_path_buf(),
            clock,
            had_clean_shutdown,
            logs: Mutex::new(BTreeMap::new()),
            pending_deletes: Mutex::new(Vec::new()),
            pool,
            attention: Arc::default(),
            stop: Arc::new(Stop::default()),
            threads: Mutex::new(Vec::new()),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    pub fn had_clean_shutdown(&self) -> bool {
        self.had_clean_shutdown
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The pool of deleted segment files new segments reuse (budget 0 until
    /// [`SegmentPool::set_budget`]).
    pub fn segment_pool(&self) -> &Arc<SegmentPool> {
        &self.pool
    }

    /// Opens (recovering if the last shutdown was unclean) or creates <topic>-<partition>.
    /// An already open log keeps its config (use `Log::update_config`).
    pub fn get_or_create(&self, tp: &TopicPartition, config: LogConfig) -> Result<Arc<Log>> {
        let mut logs = self.logs.lock();
        if let Some(l) = logs.get(tp) {
            return Ok(l.clone());
        }
        let dir = self.data_dir.join(tp.dir_name());
        let existed = dir.exists();
        let recover = existed && !self.had_clean_shutdown;
        let log = Arc::new(Log::open_in(dir, config, self.clock.clone(), recover, Some(self.pool.clone()))?);
        if !existed {
            fsync_dir(&self.data_dir)?;
        }
        log.attach(self.attention.clone());
        logs.insert(tp.clone(), log.clone());
        Ok(log)
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Log>> {
        self.logs.lock().get(tp).cloned()
    }

    pub fn logs(&self) -> Vec<(TopicPartition, Arc<Log>)> {
        self.logs.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Removes from the map and deletes the directory: it is renamed to
    /// `<topic>-<partition>.<unique>.delete` at once and removed after
    /// `file.delete.delay.ms` by the background thread (or at the next startup).
    pub fn delete(&self, tp: &TopicPartition) -> Result<()> {
        let log = self.logs.lock().remove(tp);
        let dir = self.data_dir.join(tp.dir_name());
        let delay = match &log {
            Some(l) => {
                let _ = l.close();
                l.config().file_delete_delay_ms
            }
            None => LogConfig::default().file_delete_delay_ms,
        };
        if !dir.exists() {
            return Ok(());
        }
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let to = self.data_dir.join(format!("{}.{nanos:x}{DELETE_SUFFIX}", tp.dir_name()));
        std::fs::rename(&dir, &to).ctx("rename deleted log", &dir)?;
        fsync_dir(&self.data_dir)?;
        if let Some(l) = log.as_ref().filter(|l| l.is_closed()) {
            for seg in l.take_segments() {
                let Some(path) = seg.log_path().file_name().map(|n| to.join(n)) else { continue };
                // Not taken: removed with the directory.
                self.pool.retire(seg, &path);
            }
            self.pool.process();
        }
        if delay <= 0 {
            std::fs::remove_dir_all(&to).ctx("remove deleted log", &to)?;
        } else {
            self.pending_deletes.lock().push((to, self.clock.now_ms() + delay));
        }
        Ok(())
    }

    fn run_pending_deletes(&self, force: bool) {
        let now = self.clock.now_ms();
        let due: Vec<PathBuf> = {
            let mut p = self.pending_deletes.lock();
            let (due, keep): (Vec<_>, Vec<_>) = p.drain(..).partition(|(_, t)| force || *t <= now);
            *p = keep;
            due.into_iter().map(|(d, _)| d).collect()
        };
        for d in due {
            if let Err(e) = std::fs::remove_dir_all(&d) {
                tracing::warn!(dir = %d.display(), error = %e, "failed to remove deleted log");
            }
        }
    }

    /// One pass of the periodic work: segment.ms rolls and retention on every log.
    pub fn run_retention(&self) -> usize {
        let mut deleted = 0;
        // An offline log is left alone until the restart that recovers it.
        for (tp, log) in self.logs().into_iter().filter(|(_, l)| !l.is_offline()) {
            if let Err(e) = log.maybe_roll_by_time() {
                tracing::warn!(%tp, error = %e, "segment.ms roll failed");
            }
            match log.apply_retention() {
                Ok(n) => deleted += n,
                Err(e) => tracing::warn!(%tp, error = %e, "retention failed"),
            }
        }
        deleted
    }

    /// One pass of the interval flush policy (flushes, writeback, syncs of
    /// trimmed segments) over the logs that asked for one (see [`Attention`]).
    pub fn run_interval_flushes(&self) {
        for log in self.attention.take() {
            if log.is_offline() || log.is_closed() {
                continue;
            }
            if let Err(e) = log.maybe_flush_interval() {
                tracing::error!(dir = %log.dir().display(), error = %e, "interval flush failed");
            }
            let mut again = log.due_by_age();
            if let Err(e) = log.sync_trimmed() {
                tracing::error!(dir = %log.dir().display(), error = %e, "fdatasync of a trimmed segment failed");
                again = true;
            }
            if again {
                log.want_attention();
            }
        }
    }

    /// One pass of the log cleaner over compacted logs. Returns logs cleaned.
    pub fn run_cleaner(&self) -> usize {
        let mut n = 0;
        for (tp, log) in self.logs().into_iter().filter(|(_, l)| !l.is_offline()) {
            match crate::cleaner::maybe_clean(&log) {
                Ok(true) => n += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(%tp, error = %e, "log cleaning failed"),
            }
        }
        n
    }

    /// Background threads: retention every `retention_check_interval_ms`, Interval
    /// flushes, segment.ms rolls, delayed directory deletes; and the log cleaner.
    /// They stop on shutdown.
    pub fn start_background(self: &Arc<Self>, retention_check_interval_ms: u64) {
        let interval = Duration::from_millis(retention_check_interval_ms.max(1));
        let tick = interval.min(Duration::from_millis(50));
        let weak: Weak<LogManager> = Arc::downgrade(self);
        let stop = self.stop.clone();
        let bg = std::thread::Builder::new()
            .name("weir-log-bg".into())
            .spawn(move || {
                let mut last = Instant::now();
                while !stop.sleep(tick) {
                    let Some(m) = weak.upgrade() else { return };
                    m.run_interval_flushes();
                    m.pool.process();
                    if last.elapsed() >= interval {
                        last = Instant::now();
                        m.run_retention();
                    }
                    m.run_pending_deletes(false);
                }
            })
            .expect("spawn background thread");
        let weak: Weak<LogManager> = Arc::downgrade(self);
        let stop = self.stop.clone();
        let cleaner = std::thread::Builder::new()
            .name("weir-log-cleaner".into())
            .spawn(move || {
                while !stop.sleep(interval) {
                    let Some(m) = weak.upgrade() else { return };
                    m.run_cleaner();
                }
            })
            .expect("spawn cleaner thread");
        self.threads.lock().extend([bg, cleaner]);
    }

    /// Stops background work, flushes and closes all logs, writes the clean-shutdown
    /// marker (only if every log closed cleanly).
    pub fn shutdown(&self) -> Result<()> {
        *self.stop.stopped.lock() = true;
        self.stop.cv.notify_all();
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        let first_err = Mutex::new(None);
        let logs = self.logs();
        let next = std::sync::atomic::AtomicUsize::new(0);
        // Closing a log is a handful of fsyncs (its indexes trimmed, its
        // directory), each a synchronous write the thread waits for: several
        // threads keep the device busy, and with 10,000 partitions a shutdown
        // takes seconds instead of a quarter of a minute.
        std::thread::scope(|s| {
            for _ in 0..CLOSE_THREADS.min(logs.len()) {
                s.spawn(|| {
                    while let Some((tp, log)) = logs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        if let Err(e) = log.close() {
                            tracing::error!(%tp, error = %e, "closing log failed");
                            first_err.lock().get_or_insert(e);
                        }
                    }
                });
            }
        });
        self.run_pending_deletes(true);
        if let Some(e) = first_err.into_inner() {
            return Err(e);
        }
        let marker = self.data_dir.join(CLEAN_SHUTDOWN_MARKER);
        std::fs::File::create(&marker).and_then(|f| f.sync_all()).ctx("write clean shutdown marker", &marker)?;
        fsync_dir(&self.data_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use crate::config::{CleanupPolicy, FlushPolicy};
    use crate::testutil::{simple_batch, BatchBuilder, Record};

    fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn background_retention_flush_roll_and_cleaning() {
        let d = tempfile::tempdir().unwrap();
        let clock = Arc::new(MockClock::new(1_000_000));
        let m = Arc::new(LogManager::open(d.path(), clock.clone()).unwrap());
        let b = simple_batch(1, 100, 1_000_000);
        let retained = m
            .get_or_create(
                &TopicPartition::new("r", 0),
                LogConfig {
                    segment_bytes: b.len() as u64 * 2,
                    segment_ms: 5_000,
                    retention_ms: 10_000,
                    flush: FlushPolicy::Interval { messages: i64::MAX, ms: 1_000 },
                    ..Default::default()
                },
            )
            .unwrap();
        for _ in 0..6 {
            retained.append(&b).unwrap();
        }
        let compacted = m
            .get_or_create(
                &TopicPartition::new("c", 0),
                LogConfig {
                    segment_bytes: 4096,
                    cleanup_policy: CleanupPolicy { delete: false, compact: true },
                    delete_retention_ms: 0,
                    ..Default::default()
                },
            )
            .unwrap();
        for i in 0..200 {
            let b = BatchBuilder::new(0)
                .timestamp(1_000_000)
                .records((0..10).map(|j| Record::kv(format!("k{j}"), format!("v{i}"))))
                .build();
            compacted.append(&b).unwrap();
        }
        compacted.roll().unwrap();
        let before = compacted.size_bytes();
        assert_eq!(retained.flushed_offset(), 0);
        m.start_background(20);
        clock.advance(1_000);
        wait_for("interval flush", || retained.flushed_offset() == 6);
        wait_for("compaction", || compacted.size_bytes() < before / 10);
        clock.advance(20_000);
        wait_for("segment.ms roll + retention", || retained.log_start_offset() == 6);
        assert_eq!(retained.segment_count(), 1);
        // Deleting a partition: renamed at once, removed after file.delete.delay.ms.
        m.delete(&TopicPartition::new("r", 0)).unwrap();
        assert!(retained.append(&b).is_err());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
        clock.advance(60_000);
        wait_for("delayed delete", || std::fs::read_dir(d.path()).unwrap().count() == 1);
        m.shutdown().unwrap();
        assert!(d.path().join(CLEAN_SHUTDOWN_MARKER).exists());
        assert!(compacted.is_closed());
    }

    #[test]
    fn the_flush_pass_visits_only_logs_that_asked() {
        let d = tempfile::tempdir().unwrap();
        let clock = Arc::new(MockClock::new(1_000_000));
        let m = LogManager::open(d.path(), clock.clone()).unwrap();
        let page_cache =
            LogConfig { flush: FlushPolicy::Interval { messages: i64::MAX, ms: i64::MAX }, ..Default::default() };
        let logs: Vec<_> =
            (0..50).map(|p| m.get_or_create(&TopicPartition::new("t", p), page_cache.clone()).unwrap()).collect();
        assert_eq!(m.attention.len(), 50, "a new log is looked at once");
        m.run_interval_flushes();
        assert_eq!(m.attention.len(), 0, "idle logs are not looked at again");
        let b = simple_batch(1, 100, 1_000_000);
        logs[7].append(&b).unwrap();
        logs[7].append(&b).unwrap();
        assert_eq!(m.attention.len(), 1, "two appends, queued once");
        m.run_interval_flushes();
        assert_eq!(m.attention.len(), 0, "no flush interval: nothing comes due by age");

        // A finite interval keeps an unflushed log queued until its flush.
        logs[3].update_config(LogConfig {
            flush: FlushPolicy::Interval { messages: i64::MAX, ms: 1_000 },
            ..Default::default()
        });
        logs[3].append(&b).unwrap();
        assert_eq!(m.attention.len(), 1);
        m.run_interval_flushes();
        assert_eq!((m.attention.len(), logs[3].flushed_offset()), (1, 0), "not due yet, still queued");
        clock.advance(1_000);
        m.run_interval_flushes();
        assert_eq!((m.attention.len(), logs[3].flushed_offset()), (0, 1), "flushed, and idle again");

        // A roll asks for a pass (a trimmed recycled segment is synced there).
        logs[9].append(&b).unwrap();
        m.run_interval_flushes();
        logs[9].roll().unwrap();
        assert_eq!(m.attention.len(), 1);
        // A deleted log leaves the queue without a visit.
        logs[11].append(&b).unwrap();
        m.delete(&TopicPartition::new("t", 11)).unwrap();
        m.run_interval_flushes();
        assert_eq!(m.attention.len(), 0);
    }
}
