//! The scale rows of issue 24 that need a broker of their own, each measured
//! beside the suite row it is held to, alternated on the same broker:
//!
//! - `partitions`: N partitions on one node (topics of 100), P producers each
//!   writing 1 KiB records (acks=-1) round-robin over its own N/P of them,
//!   against the suite's 16-partition row (one producer) — in page-cache and in
//!   durable mode; with the resident memory per idle partition, the broker's CPU
//!   while every partition is idle, its peak memory, and the times to create the
//!   partitions and to shut down cleanly.
//! - `connections`: I idle client connections (each did what a client does
//!   when it connects — ApiVersions, then Metadata — and then waits), the
//!   broker's resident memory per connection, and the suite's 100-producer row
//!   with and without them. Every idle connection must still answer afterwards.
//!
//! The broker runs on CPU 0 and the clients on CPU 1, as in the suite.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse};

use crate::brokers::Running;
use crate::client::{self, Target};
use crate::local::{raise_fd_limit, Local, PAGE_CACHE};
use crate::wire::{self, sb};
use crate::workloads::{self, ProduceSpec, Throughput};

const PER_TOPIC: usize = 100;

fn mbs(v: &[Throughput]) -> String {
    v.iter().map(|t| format!("{:.0}", t.mb_per_sec())).collect::<Vec<_>>().join(", ")
}

fn median(v: &[Throughput]) -> f64 {
    let mut m: Vec<f64> = v.iter().map(Throughput::mb_per_sec).collect();
    m.sort_by(f64::total_cmp);
    m[m.len() / 2]
}

/// The 16-partition row of the suite: one producer, 1 KiB, acks=-1, no compression.
fn sixteen(target: &Target, records: u64) -> Result<Throughput> {
    let spec = ProduceSpec { record_size: 1024, partitions: 16, acks: "-1", compression: "none", records };
    let (topic, t) = workloads::produce(target, &spec)?;
    client::delete_topic(target, &topic)?;
    Ok(t)
}

pub fn partitions(
    bin: PathBuf,
    partitions: usize,
    producers: usize,
    records: u64,
    repeats: usize,
    idle_secs: f64,
) -> Result<()> {
    if repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    if producers == 0
        || partitions == 0
        || !partitions.is_multiple_of(producers)
        || !partitions.is_multiple_of(PER_TOPIC)
    {
        bail!("--partitions must be a multiple of --producers and of {PER_TOPIC}");
    }
    println!(
        "1 KiB records, acks=-1, {records} per run; {partitions} partitions (topics of {PER_TOPIC}) written by \
         {producers} producers, each round-robin over its own {} of them, against one producer on 16 partitions; \
         alternated on one broker, {repeats} runs each.\n",
        partitions / producers
    );
    println!("| mode | 16 partitions, 1 producer (MB/s) | {partitions} partitions, {producers} producers (MB/s) | ratio of medians | their Produce requests, mean size (KiB) | memory per idle partition | CPU while idle | peak resident | creating them, one record each | clean shutdown |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (mode, settings) in [("page cache", vec![PAGE_CACHE]), ("durable", vec![])] {
        let data = tempfile::tempdir()?;
        let w = Local::start_pinned(&bin, data.path(), &settings)?;
        let target = Target::Bootstrap(w.kafka.clone());
        std::thread::sleep(Duration::from_secs(1));
        let empty_rss = w.rss_kib();
        let created = Instant::now();
        let topics: Vec<String> = (0..partitions / PER_TOPIC).map(|i| format!("scale-{i:04}")).collect();
        crate::startup::create_and_fill(&w.kafka, &topics, PER_TOPIC)?;
        let created = created.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_secs(1));
        let per_idle = w.rss_kib().saturating_sub(empty_rss) as f64 / partitions as f64;
        let cpu0 = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0);
        std::thread::sleep(Duration::from_secs_f64(idle_secs));
        let idle_cpu = (crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0) - cpu0) / idle_secs * 100.0;
        let share = (partitions / producers) as u64;
        let route: workloads::Route = Arc::new(move |k, i| {
            let j = k * share as usize + (i % share) as usize;
            (j / PER_TOPIC, (j % PER_TOPIC) as i32)
        });
        let topics = Arc::new(topics);
        let (mut few, mut many, mut request_kib) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..repeats {
            few.push(sixteen(&target, records)?);
            let (reqs, bytes) = produce_counters(&w.console)?;
            many.push(workloads::spread_produce(&target, producers, records, topics.clone(), route.clone())?);
            let (reqs2, bytes2) = produce_counters(&w.console)?;
            request_kib.push((bytes2 - bytes) / (reqs2 - reqs).max(1.0) / 1024.0);
            eprintln!(
                "{mode}: 16 partitions {:.0} MB/s, {partitions} partitions {:.0} MB/s",
                few.last().unwrap().mb_per_sec(),
                many.last().unwrap().mb_per_sec()
            );
        }
        let peak = Running::status_kib(w.pid(), "VmHWM:") as f64 / 1024.0;
        let stopped = Instant::now();
        w.stop()?;
        let stopped = stopped.elapsed().as_secs_f64();
        println!(
            "| {mode} | {} | {} | {:.2} | {} | {per_idle:.1} KiB | {idle_cpu:.1} % of a core | {peak:.0} MiB | \
             {created:.1} s | {stopped:.1} s |",
            mbs(&few),
            mbs(&many),
            median(&many) / median(&few),
            request_kib.iter().map(|k| format!("{k:.1}")).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// The broker's count of Produce requests and of their bytes so far, from its
/// Prometheus metrics.
fn produce_counters(console: &str) -> Result<(f64, f64)> {
    let v = crate::console::api_metrics(
        console,
        "Produce",
        &["weir_kafka_requests_total", "weir_kafka_request_bytes_total"],
    )?;
    Ok((v[0], v[1]))
}

pub fn connections(bin: PathBuf, idle: usize, active: usize, records: u64, repeats: usize) -> Result<()> {
    if repeats == 0 || idle == 0 || active == 0 {
        bail!("--repeats, --idle and --active must be at least 1");
    }
    raise_fd_limit((idle + 4096) as libc::rlim_t);
    let data = tempfile::tempdir()?;
    let w = Local::start_pinned(&bin, data.path(), &[PAGE_CACHE])?;
    let target = Target::Bootstrap(w.kafka.clone());
    std::thread::sleep(Duration::from_secs(1));
    // Not counted: a fresh broker's first run of a row is its slowest (its heap and
    // the page cache touched for the first time), which would land on the first
    // run beside the idle connections.
    let (topic, _) = workloads::many_producers(&target, active, records)?;
    client::delete_topic(&target, &topic)?;
    let (mut alone, mut beside, mut opened_in) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_conn = None;
    for _ in 0..repeats {
        let before = w.rss_kib();
        let started = Instant::now();
        let mut conns = open_idle(&w.kafka, idle)?;
        opened_in.push(started.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_secs(1));
        // Only on the fresh broker: later openings reuse what closed connections freed.
        per_conn.get_or_insert(w.rss_kib().saturating_sub(before) as f64 / idle as f64);
        let (topic, t) = workloads::many_producers(&target, active, records)?;
        client::delete_topic(&target, &topic)?;
        beside.push(t);
        let dropped = still_open(&mut conns);
        if dropped > 0 {
            bail!("{dropped} of {idle} idle connections no longer answer after the run");
        }
        drop(conns);
        std::thread::sleep(Duration::from_millis(500));
        let (topic, t) = workloads::many_producers(&target, active, records)?;
        client::delete_topic(&target, &topic)?;
        alone.push(t);
        eprintln!(
            "{active} producers beside {idle} idle connections {:.0} MB/s, alone {:.0} MB/s",
            beside.last().unwrap().mb_per_sec(),
            alone.last().unwrap().mb_per_sec(),
        );
    }
    let peak = Running::status_kib(w.pid(), "VmHWM:") as f64 / 1024.0;
    w.stop()?;
    let list = |v: &[f64], d: usize| v.iter().map(|x| format!("{x:.d$}")).collect::<Vec<_>>().join(", ");
    println!(
        "{active} producer connections (1 KiB, acks=-1, 16 partitions, {records} records per run) beside {idle} \
         idle connections (each did ApiVersions and Metadata, then waits; every one must answer again after the \
         run) and alone, alternated on one page-cache broker after one run not counted, {repeats} runs each.\n"
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!("| {active} producers alone (MB/s) | {} |", mbs(&alone));
    println!("| {active} producers beside {idle} idle connections (MB/s) | {} |", mbs(&beside));
    println!("| ratio of medians | {:.2} |", median(&beside) / median(&alone));
    println!(
        "| broker resident memory per idle connection (the first {idle} on a fresh broker) | {:.1} KiB |",
        per_conn.unwrap_or_default()
    );
    println!("| {idle} connections opened in (s) | {} |", list(&opened_in, 2));
    println!("| broker peak resident | {peak:.0} MiB |");
    Ok(())
}

/// One connection as a client leaves it after connecting: ApiVersions, then
/// Metadata (of no topic), then nothing.
fn connect_idle(addr: &str) -> Result<TcpStream> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
    s.set_nodelay(true)?;
    let req =
        ApiVersionsRequest::default().with_client_software_name(sb("weir-bench")).with_client_software_version(sb("1"));
    let (r, _): (ApiVersionsResponse, _) = wire::call(&mut s, ApiKey::ApiVersions, 3, &req)?;
    if r.error_code != 0 {
        bail!("ApiVersions error {}", r.error_code);
    }
    let (_, _): (MetadataResponse, _) =
        wire::call(&mut s, ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(Some(Vec::new())))?;
    Ok(s)
}

/// `n` idle connections, opened from 8 threads.
fn open_idle(addr: &str, n: usize) -> Result<Vec<TcpStream>> {
    const THREADS: usize = 8;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let addr = addr.to_string();
            let count = n / THREADS + usize::from(t < n % THREADS);
            std::thread::spawn(move || (0..count).map(|_| connect_idle(&addr)).collect::<Result<Vec<_>>>())
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for t in threads {
        all.extend(t.join().map_err(|_| anyhow::anyhow!("a connecting thread panicked"))??);
    }
    Ok(all)
}

/// How many of `conns` fail to answer an ApiVersions request now.
fn still_open(conns: &mut [TcpStream]) -> usize {
    let req =
        ApiVersionsRequest::default().with_client_software_name(sb("weir-bench")).with_client_software_version(sb("1"));
    let mut failed = 0;
    for s in conns {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let answered: Result<(ApiVersionsResponse, _)> = wire::call(s, ApiKey::ApiVersions, 3, &req);
        failed += usize::from(answered.map(|(r, _)| r.error_code != 0).unwrap_or(true));
    }
    failed
}
