//! OpenMessaging-style workloads, all on the same librdkafka client settings:
//! produce throughput, end-to-end latency at a fixed rate (measured from the
//! intended send time, so a stalled producer cannot hide latency: no coordinated
//! omission), catch-up consume throughput, and scale (1,000 partitions; 100
//! producer connections). Every workload checks its own result: every record
//! acknowledged, every record consumed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;

use crate::client::{self, ProducerSettings, Target};

#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    pub records: u64,
    pub bytes: u64,
    pub secs: f64,
}

impl Throughput {
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.secs
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub rate_mb: f64,
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// The slowest 100 ms windows of intended send time: (window start in ms from
    /// the first counted record, records in it over 5 ms, the window's max in ms).
    #[serde(skip)]
    pub slow_windows: Vec<(u64, usize, f64)>,
    /// Host steal during the run.
    pub steal: Option<crate::host::Steal>,
    /// Moments the whole machine stood still during the run.
    pub pauses: crate::host::Pauses,
}

#[derive(Clone, Debug)]
pub struct ProduceSpec {
    pub record_size: usize,
    pub partitions: i32,
    pub acks: &'static str,
    pub compression: &'static str,
    pub records: u64,
}

impl ProduceSpec {
    pub fn label(&self) -> String {
        format!("{} B, {} part, acks={}, {}", self.record_size, self.partitions, self.acks, self.compression)
    }
}

static TOPIC_SEQ: AtomicU64 = AtomicU64::new(0);

pub fn unique_topic(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), TOPIC_SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A payload of `size` bytes, compressible about 2:1 (text-like), the same for every
/// broker and run.
pub fn payload(size: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..size)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 4 == 3 {
                b' '
            } else {
                b'a' + (x % 16) as u8
            }
        })
        .collect()
}

/// Produces `spec.records` records round-robin over the partitions of a new topic;
/// the time runs from the first send to the last acknowledgement. Returns the topic.
pub fn produce(target: &Target, spec: &ProduceSpec) -> Result<(String, Throughput)> {
    produce_with_topic_config(target, spec, &[])
}

/// [`produce`] to a topic created with `configs` (e.g. a broker-side
/// `compression.type`).
pub fn produce_with_topic_config(
    target: &Target,
    spec: &ProduceSpec,
    configs: &[(&str, &str)],
) -> Result<(String, Throughput)> {
    let topic = unique_topic("bench-produce");
    client::create_topic_with(target, &topic, spec.partitions, configs)?;
    let settings = ProducerSettings { acks: spec.acks, compression: spec.compression, linger_ms: 5 };
    let (p, d) = client::producer(target, &settings)?;
    let data = payload(spec.record_size);
    let started = Instant::now();
    for i in 0..spec.records {
        client::send(&p, &topic, (i % spec.partitions as u64) as i32, &data);
        if i % 1024 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    client::finish(&p, &d, spec.records).with_context(|| spec.label())?;
    let secs = started.elapsed().as_secs_f64();
    Ok((topic, Throughput { records: spec.records, bytes: spec.records * spec.record_size as u64, secs }))
}

/// 1 KiB records round-robin over `partitions` of a new topic from an idempotent
/// producer (acks=-1): the baseline of the transactional row.
pub fn produce_idempotent(target: &Target, partitions: i32, records: u64) -> Result<(String, Throughput)> {
    exactly_once(target, partitions, records, None)
}

/// The same from a transactional producer committing every `commit_every`; the
/// time runs to the last commit.
pub fn produce_transactional(
    target: &Target,
    partitions: i32,
    records: u64,
    commit_every: Duration,
) -> Result<(String, Throughput)> {
    exactly_once(target, partitions, records, Some(commit_every))
}

fn exactly_once(target: &Target, partitions: i32, records: u64, txn: Option<Duration>) -> Result<(String, Throughput)> {
    use rdkafka::producer::Producer;
    let topic = unique_topic(if txn.is_some() { "bench-txn" } else { "bench-idem" });
    client::create_topic(target, &topic, partitions)?;
    let settings = ProducerSettings { acks: "-1", compression: "none", linger_ms: 5 };
    let id = unique_topic("bench-txn-id");
    let mut extra = vec![("enable.idempotence", "true")];
    if txn.is_some() {
        extra.push(("transactional.id", id.as_str()));
        // librdkafka requires message.timeout.ms <= transaction.timeout.ms.
        extra.push(("transaction.timeout.ms", "120000"));
    }
    let (p, d) = client::producer_with(target, &settings, &extra)?;
    let t = Duration::from_secs(60);
    let data = payload(1024);
    // Both rows start the clock on a producer that is connected and holds its
    // producer id: one acknowledged record first (committed, for the transactional
    // one), so that neither row times the client's start-up.
    if txn.is_some() {
        p.init_transactions(t).context("init_transactions")?;
        p.begin_transaction().context("begin_transaction")?;
    }
    client::send(&p, &topic, 0, &data);
    if txn.is_some() {
        p.commit_transaction(t).context("commit_transaction")?;
        p.begin_transaction().context("begin_transaction")?;
    } else {
        p.flush(t).context("flush")?;
    }
    let started = Instant::now();
    let mut last_commit = Instant::now();
    for i in 0..records {
        client::send(&p, &topic, (i % partitions as u64) as i32, &data);
        if i % 1024 == 0 {
            p.poll(Duration::ZERO);
            if let Some(every) = txn {
                if last_commit.elapsed() >= every {
                    p.commit_transaction(t).context("commit_transaction")?;
                    p.begin_transaction().context("begin_transaction")?;
                    last_commit = Instant::now();
                }
            }
        }
    }
    if txn.is_some() {
        p.commit_transaction(t).context("commit_transaction")?;
    }
    client::finish(&p, &d, records + 1)?;
    let secs = started.elapsed().as_secs_f64();
    Ok((topic, Throughput { records, bytes: records * 1024, secs }))
}

/// [`consume`] with an isolation level (`read_committed` or `read_uncommitted`).
pub fn consume_isolated(
    target: &Target,
    topic: &str,
    partitions: i32,
    records: u64,
    isolation: &str,
) -> Result<Throughput> {
    consume_with(target, topic, partitions, records, isolation)
}

fn consumer(target: &Target, isolation: &str) -> Result<BaseConsumer> {
    let mut cfg = ClientConfig::new();
    target.apply(&mut cfg);
    cfg.set("group.id", "weir-bench")
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "1048576")
        .set("fetch.message.max.bytes", "10485760");
    cfg.create().context("create consumer")
}

fn assign_from_start(c: &BaseConsumer, topic: &str, partitions: i32) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    Ok(())
}

/// Reads a pre-filled topic from the beginning until `records` arrived.
pub fn consume(target: &Target, topic: &str, partitions: i32, records: u64) -> Result<Throughput> {
    // librdkafka's default isolation level.
    consume_with(target, topic, partitions, records, "read_committed")
}

fn consume_with(target: &Target, topic: &str, partitions: i32, records: u64, isolation: &str) -> Result<Throughput> {
    let c = consumer(target, isolation)?;
    assign_from_start(&c, topic, partitions)?;
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut started = None;
    let mut last_progress = Instant::now();
    while n < records {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                started.get_or_insert_with(Instant::now);
                last_progress = Instant::now();
                n += 1;
                bytes += m.payload_len() as u64;
            }
            Some(Err(e)) => bail!("consume: {e}"),
            None if last_progress.elapsed() > Duration::from_secs(20) => {
                bail!("consumed {n} of {records}, then nothing for 20 s")
            }
            None => {}
        }
    }
    // From the first record: connection set-up is not the broker's read speed.
    let secs = started.expect("records").elapsed().as_secs_f64();
    Ok(Throughput { records: n, bytes, secs })
}

fn bench_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub fn now_ns() -> u64 {
    bench_epoch().elapsed().as_nanos() as u64
}

pub fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e6
}

/// A producer at `rate_mb` MB/s of 1 KiB records (acks=-1, linger.ms=1) and a
/// consumer of the same partition, together for `secs`. Each record carries the
/// time it was meant to be sent; latency is consume time minus that. The first
/// second is warm-up and not counted. The host's steal and pauses during the run
/// come with the figures.
pub fn latency(target: &Target, rate_mb: f64, secs: f64) -> Result<Latency> {
    let before = crate::host::CpuTimes::now();
    let probe = crate::host::PauseProbe::start();
    let r = timed_latency(target, rate_mb, secs);
    let pauses = probe.finish();
    let steal = crate::host::Steal::between(&before, &crate::host::CpuTimes::now());
    r.map(|l| Latency { steal, pauses, ..l })
}

fn timed_latency(target: &Target, rate_mb: f64, secs: f64) -> Result<Latency> {
    let topic = unique_topic("bench-latency");
    client::create_topic(target, &topic, 1)?;
    latency_path(target, &topic, target, &topic, rate_mb, secs)
}

/// The latency workload from partition 0 of `topic` on `target` to partition 0
/// of `read_topic` on `read_target` (the same, or the copy a mirror makes).
pub fn latency_path(
    target: &Target,
    topic: &str,
    read_target: &Target,
    read_topic: &str,
    rate_mb: f64,
    secs: f64,
) -> Result<Latency> {
    const SIZE: usize = 1024;
    let total = (rate_mb * 1e6 / SIZE as f64 * secs) as u64;
    let interval_ns = SIZE as f64 / (rate_mb * 1e6) * 1e9;
    let warmup_ns = 1_000_000_000u64;

    let c = consumer(read_target, "read_committed")?;
    assign_from_start(&c, read_topic, 1)?;
    let received = Arc::new(AtomicU64::new(0));
    let reader = {
        let received = received.clone();
        std::thread::spawn(move || -> Result<Vec<(u64, u64)>> {
            let mut lat: Vec<(u64, u64)> = Vec::with_capacity(total as usize);
            let deadline = Instant::now() + Duration::from_secs_f64(secs + 120.0);
            let mut first_intended = None;
            while received.load(Ordering::Relaxed) < total {
                match c.poll(Duration::from_millis(50)) {
                    Some(Ok(m)) => {
                        let now = now_ns();
                        let p = m.payload().unwrap_or_default();
                        let intended = u64::from_le_bytes(p[..8].try_into().unwrap());
                        let start = *first_intended.get_or_insert(intended);
                        if intended >= start + warmup_ns {
                            lat.push((intended - start - warmup_ns, now.saturating_sub(intended)));
                        }
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Err(e)) => bail!("latency consumer: {e}"),
                    None if Instant::now() > deadline => {
                        bail!("received {} of {total}", received.load(Ordering::Relaxed))
                    }
                    None => {}
                }
            }
            Ok(lat)
        })
    };

    paced_produce(target, topic, 1, total, interval_ns)?;
    let timed = reader.join().expect("reader thread")?;
    let slow_windows = slow_windows(&timed);
    let mut lat: Vec<u64> = timed.into_iter().map(|(_, l)| l).collect();
    lat.sort_unstable();
    Ok(Latency {
        rate_mb,
        samples: lat.len(),
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        p999_ms: percentile(&lat, 0.999),
        max_ms: lat.last().map_or(f64::NAN, |m| *m as f64 / 1e6),
        slow_windows,
        steal: None,
        pauses: Default::default(),
    })
}

/// `total` 1 KiB records (acks=-1, linger.ms=1), one every `interval_ns`,
/// round-robin over `partitions`; each carries the time it was meant to be sent
/// (`now_ns`) in its first 8 bytes, little-endian.
pub fn paced_produce(target: &Target, topic: &str, partitions: i32, total: u64, interval_ns: f64) -> Result<()> {
    let settings = ProducerSettings { acks: "-1", compression: "none", linger_ms: 1 };
    let (p, d) = client::producer(target, &settings)?;
    let mut buf = payload(1024);
    let start = now_ns() + 50_000_000;
    for i in 0..total {
        let intended = start + (i as f64 * interval_ns) as u64;
        // Sleep, never spin: the client's threads share one CPU, and a spinning
        // producer would delay the consumer thread by whole scheduler slices. Waking
        // late only makes the measured latency larger (it counts from `intended`).
        let now = now_ns();
        if now < intended {
            std::thread::sleep(Duration::from_nanos(intended - now));
        }
        buf[..8].copy_from_slice(&intended.to_le_bytes());
        client::send(&p, topic, (i % partitions as u64) as i32, &buf);
        if i % 64 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    client::finish(&p, &d, total)
}

/// The five 100 ms windows (of intended send time) with the most records over 5 ms:
/// shows whether a tail is a few stalls or spread evenly.
fn slow_windows(timed: &[(u64, u64)]) -> Vec<(u64, usize, f64)> {
    const WINDOW_NS: u64 = 100_000_000;
    let mut windows: std::collections::BTreeMap<u64, (usize, u64)> = Default::default();
    for &(at, lat) in timed {
        let w = windows.entry(at / WINDOW_NS).or_default();
        w.0 += usize::from(lat > 5_000_000);
        w.1 = w.1.max(lat);
    }
    let mut v: Vec<(u64, usize, f64)> =
        windows.into_iter().filter(|(_, (n, _))| *n > 0).map(|(w, (n, max))| (w * 100, n, max as f64 / 1e6)).collect();
    v.sort_by_key(|w| std::cmp::Reverse(w.1));
    v.truncate(5);
    v
}

/// 1 KiB records round-robin over the partitions of a topic with `partitions`
/// partitions (acks=-1): many partitions make small batches and many logs.
/// Returns the topic too, for the caller to delete.
pub fn many_partitions(target: &Target, partitions: i32, records: u64) -> Result<(String, Throughput)> {
    let spec = ProduceSpec { record_size: 1024, partitions, acks: "-1", compression: "none", records };
    produce(target, &spec)
}

/// `connections` producers (one client, so one connection, each), on their own
/// threads, share `records` 1 KiB records to a 16-partition topic (acks=-1).
/// Returns the topic too, for the caller to delete.
pub fn many_producers(target: &Target, connections: usize, records: u64) -> Result<(String, Throughput)> {
    let topic = unique_topic("bench-conns");
    client::create_topic(target, &topic, 16)?;
    let topics = Arc::new(vec![topic.clone()]);
    let t = spread_produce(target, connections, records, topics, Arc::new(|k, i| (0, ((i + k as u64) % 16) as i32)))?;
    Ok((topic, t))
}

/// Where producer k sends its i-th record: (index into the topics, partition).
pub type Route = Arc<dyn Fn(usize, u64) -> (usize, i32) + Send + Sync>;

/// `connections` producers (one client, so one connection, each), on their own
/// threads, share `records` 1 KiB records (acks=-1, linger.ms=5) over `topics`
/// as `route` says; the time runs from the first send to the last acknowledgement.
pub fn spread_produce(
    target: &Target,
    connections: usize,
    records: u64,
    topics: Arc<Vec<String>>,
    route: Route,
) -> Result<Throughput> {
    let per = records / connections as u64;
    let data = Arc::new(payload(1024));
    let producers: Vec<_> = (0..connections)
        .map(|_| client::producer(target, &ProducerSettings { acks: "-1", compression: "none", linger_ms: 5 }))
        .collect::<Result<_>>()?;
    let started = Instant::now();
    let threads: Vec<_> = producers
        .into_iter()
        .enumerate()
        .map(|(k, (p, d))| {
            let (topics, route, data) = (topics.clone(), route.clone(), data.clone());
            std::thread::spawn(move || -> Result<()> {
                for i in 0..per {
                    let (t, partition) = route(k, i);
                    client::send(&p, &topics[t], partition, &data);
                    if i % 256 == 0 {
                        p.poll(Duration::ZERO);
                    }
                }
                client::finish(&p, &d, per)
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer thread")?;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = per * connections as u64;
    Ok(Throughput { records: n, bytes: n * 1024, secs })
}
