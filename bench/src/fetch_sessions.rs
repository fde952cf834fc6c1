//! The fetch-session row (issue 24, KIP-227): one consumer of N partitions (1,000
//! by default) while a producer writes 1 KiB records to ten of them at a steady
//! rate, once fetching without a session (every partition named in every
//! request and answered in every response, as librdkafka and kafkajs fetch) and
//! once with an incremental session (only partitions whose offset moved are
//! sent, only partitions with something new come back, as the Java client and
//! kafka-python fetch). The consumer is written here, on the wire, so both ways
//! run the same code but for the session fields; it tracks offsets from the
//! batches it gets and must read every record produced. Alternated on one
//! broker, a fresh topic each run. Prints markdown for docs/performance.md.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::client::{self, Target};
use crate::local::Local;
use crate::wire;

const VERSION: i16 = 12;
const HOT: i32 = 10;
const RECORD: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sessionless,
    Session,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Sessionless => "without a session",
            Mode::Session => "incremental session",
        }
    }
}

#[derive(Default)]
struct Measured {
    fetches: u64,
    request_bytes: u64,
    response_bytes: u64,
    record_bytes: u64,
    records: u64,
    produced: u64,
    secs: f64,
    broker_cpu_secs: f64,
}

pub fn run(bin: PathBuf, partitions: i32, secs: u64, repeats: usize, rate: u64) -> Result<()> {
    if partitions < HOT {
        bail!("--partitions must be at least {HOT}");
    }
    let data = tempfile::tempdir()?;
    let w = Local::start(&bin, data.path(), &[], &[])?;
    let target = Target::Bootstrap(w.kafka.clone());
    let mut results: Vec<(Mode, Measured)> = Vec::new();
    for r in 0..repeats {
        for mode in [Mode::Sessionless, Mode::Session] {
            let topic = format!("sessions-{r}-{}", mode as u8);
            client::create_topic(&target, &topic, partitions)?;
            let m = measure(&w, &target, &topic, partitions, mode, Duration::from_secs(secs), rate)?;
            eprintln!(
                "{} run {r}: {:.0} fetches/s, {:.0} B/request, {:.0} B/response beside records",
                mode.name(),
                m.fetches as f64 / m.secs,
                m.request_bytes as f64 / m.fetches as f64,
                (m.response_bytes - m.record_bytes) as f64 / m.fetches as f64
            );
            results.push((mode, m));
        }
    }
    w.stop()?;
    print(partitions, rate, &results);
    Ok(())
}

fn measure(
    w: &Local,
    target: &Target,
    topic: &str,
    partitions: i32,
    mode: Mode,
    window: Duration,
    rate: u64,
) -> Result<Measured> {
    let done = Arc::new(AtomicBool::new(false));
    let mut producing = Some({
        let (target, topic, done) = (target.clone(), topic.to_string(), done.clone());
        std::thread::spawn(move || produce(&target, &topic, partitions, rate, window, &done))
    });
    let mut s = TcpStream::connect(&w.kafka)?;
    s.set_nodelay(true)?;
    let mut offsets = vec![0i64; partitions as usize];
    let mut sent = offsets.clone();
    let (mut session_id, mut epoch) = (0, if mode == Mode::Session { 0 } else { -1 });
    let mut m = Measured::default();
    let cpu0 = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0);
    let started = Instant::now();
    let mut produced = None;
    loop {
        if let Some(h) = producing.take_if(|_| done.load(Ordering::Acquire)) {
            produced = Some(h.join().map_err(|_| anyhow::anyhow!("producer panicked"))??);
        }
        if let Some(n) = produced {
            if m.records >= n {
                m.produced = n;
                break;
            }
            if started.elapsed() > window + Duration::from_secs(60) {
                bail!("{} of {n} records read", m.records);
            }
        }
        // Without a session, or opening one: every partition. In a session: those
        // whose offset moved since they were last sent.
        let changed: Vec<i32> =
            (0..partitions).filter(|&p| epoch <= 0 || offsets[p as usize] != sent[p as usize]).collect();
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(50 << 20)
            .with_session_id(session_id)
            .with_session_epoch(epoch)
            .with_topics(if changed.is_empty() {
                vec![]
            } else {
                vec![FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(
                        changed
                            .iter()
                            .map(|&p| {
                                FetchPartition::default()
                                    .with_partition(p)
                                    .with_fetch_offset(offsets[p as usize])
                                    .with_partition_max_bytes(1 << 20)
                            })
                            .collect(),
                    )]
            });
        for &p in &changed {
            sent[p as usize] = offsets[p as usize];
        }
        let (resp, sizes): (FetchResponse, _) = wire::call(&mut s, ApiKey::Fetch, VERSION, &req)?;
        m.fetches += 1;
        m.request_bytes += sizes.request as u64;
        m.response_bytes += sizes.response as u64;
        if resp.error_code != 0 {
            // The session is gone (or never was): start over with a full fetch.
            (session_id, epoch) = (0, if mode == Mode::Session { 0 } else { -1 });
            continue;
        }
        if mode == Mode::Session {
            if resp.session_id == 0 {
                (session_id, epoch) = (0, 0);
            } else {
                epoch = if resp.session_id == session_id { epoch.max(0) + 1 } else { 1 };
                session_id = resp.session_id;
            }
        }
        for t in &resp.responses {
            for p in &t.partitions {
                if p.error_code != 0 {
                    bail!("partition {} answered error {}", p.partition_index, p.error_code);
                }
                let Some(records) = p.records.as_ref() else { continue };
                m.record_bytes += records.len() as u64;
                let (next, count) = wire::walk(records);
                if let Some(next) = next {
                    offsets[p.partition_index as usize] = next;
                }
                m.records += count;
            }
        }
    }
    m.secs = started.elapsed().as_secs_f64();
    m.broker_cpu_secs = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0) - cpu0;
    Ok(m)
}

/// `rate` 1 KiB records a second over ten partitions spread across the topic,
/// for `window`; how many were acknowledged.
fn produce(
    target: &Target,
    topic: &str,
    partitions: i32,
    rate: u64,
    window: Duration,
    done: &AtomicBool,
) -> Result<u64> {
    let result = (|| {
        let (p, acks) =
            client::producer(target, &client::ProducerSettings { acks: "1", compression: "none", linger_ms: 5 })?;
        let payload = vec![b'f'; RECORD];
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < window {
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            while n < due {
                client::send(&p, topic, (n as i32 % HOT) * (partitions / HOT), &payload);
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        client::finish(&p, &acks, n)?;
        Ok(n)
    })();
    done.store(true, Ordering::Release);
    result
}

fn print(partitions: i32, rate: u64, results: &[(Mode, Measured)]) {
    println!(
        "One consumer of {partitions} partitions (Fetch v{VERSION}, max.wait 500 ms) while {rate} records/s of 1 KiB go to {HOT} of them; every record read back in each run.\n"
    );
    println!("| fetching | fetches/s | bytes per request | response bytes beside records, per fetch | broker CPU ms per fetch | broker CPU ms per s |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for mode in [Mode::Sessionless, Mode::Session] {
        let runs: Vec<&Measured> = results.iter().filter(|(m, _)| *m == mode).map(|(_, r)| r).collect();
        let col = |f: &dyn Fn(&Measured) -> f64, digits: usize| crate::report::each_run(&runs, digits, |r| f(r));
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            mode.name(),
            col(&|r| r.fetches as f64 / r.secs, 0),
            col(&|r| r.request_bytes as f64 / r.fetches as f64, 0),
            col(&|r| (r.response_bytes - r.record_bytes) as f64 / r.fetches as f64, 0),
            col(&|r| r.broker_cpu_secs * 1e3 / r.fetches as f64, 3),
            col(&|r| r.broker_cpu_secs * 1e3 / r.secs, 0),
        );
    }
}
