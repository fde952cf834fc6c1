//! weir-bench: drives Weir and peer brokers with the same librdkafka client and
//! the same workloads, beside the machine's own limits, and prints one report.
//!
//! ```text
//! weir-bench suite --weir BIN [--tansu BIN] [--noida BIN] [--data-dir DIR] [--quick]
//! weir-bench run --bootstrap HOST:PORT [--quick]     # the workloads against any broker
//! weir-bench produce [--bootstrap HOST:PORT] [--size B --partitions N --acks A ...]
//!                                                     # one produce workload, for profiling
//! weir-bench smoke --weir BIN                         # a few seconds, correctness only
//! ```

mod brokers;
mod client;
mod limits;
mod report;
mod workloads;

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use brokers::{Kind, Running};
use client::Target;
use report::{BrokerResults, Report};
use workloads::ProduceSpec;

#[derive(Parser)]
#[command(name = "weir-bench", about = "Benchmark Weir against peer brokers and the machine's limits")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every workload against every broker given, and the limits; prints markdown.
    Suite {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long)]
        tansu: Option<PathBuf>,
        #[arg(long)]
        noida: Option<PathBuf>,
        /// Where brokers keep their data (its disk is the one fdatasync is measured on).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Smaller record counts and shorter latency runs.
        #[arg(long)]
        quick: bool,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The workloads against a broker that is already running.
    Run {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        quick: bool,
        /// Only these workloads (comma-separated): produce, consume, latency, partitions, producers.
        #[arg(long)]
        only: Option<String>,
    },
    /// One produce workload, repeated (for profiling): prints MB/s of each run.
    Produce {
        /// A running broker; without it, librdkafka's in-process mock cluster.
        #[arg(long)]
        bootstrap: Option<String>,
        #[arg(long, default_value_t = 1024)]
        size: usize,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, default_value = "-1")]
        acks: String,
        #[arg(long, default_value = "none")]
        compression: String,
        #[arg(long, default_value_t = 400_000)]
        records: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Catch-up consume of a topic (for profiling): `--fill` creates and fills it
    /// first (1 KiB records, acks=1) and prints its name.
    Consume {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: Option<String>,
        #[arg(long, default_value_t = 16)]
        partitions: i32,
        #[arg(long, default_value_t = 400_000)]
        records: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        #[arg(long)]
        fill: bool,
    },
    /// A short run against a fresh Weir that checks every workload end to end.
    Smoke {
        #[arg(long)]
        weir: PathBuf,
    },
    /// Internal: the receiving process of the loopback measurement.
    #[command(hide = true)]
    TcpSink {
        #[arg(long)]
        port: u16,
    },
}

/// Record counts and durations of a suite run.
struct Scale {
    /// Runs of each produce/consume workload; the median is reported.
    repeats: usize,
    kib_records: u64,
    small_records: u64,
    latency_secs: f64,
    scale_records: u64,
    memory_gb: (u64, u64),
}

impl Scale {
    fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                repeats: 1,
                kib_records: 50_000,
                small_records: 200_000,
                latency_secs: 3.0,
                scale_records: 20_000,
                memory_gb: (1, 2),
            }
        } else {
            Scale {
                repeats: 3,
                kib_records: 400_000,
                small_records: 2_000_000,
                latency_secs: 10.0,
                scale_records: 200_000,
                memory_gb: (1, 10),
            }
        }
    }

    fn produce_specs(&self) -> Vec<ProduceSpec> {
        let mut out = Vec::new();
        for (size, records) in [(1024, self.kib_records), (100, self.small_records)] {
            for partitions in [1, 16] {
                for acks in ["1", "-1"] {
                    for compression in ["none", "lz4"] {
                        out.push(ProduceSpec { record_size: size, partitions, acks, compression, records });
                    }
                }
            }
        }
        out
    }
}

/// Every workload starts from the same state: what earlier workloads left dirty in
/// the page cache is written out first, so no broker pays for another's writeback.
fn settle() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
}

fn run_workloads(
    target: &Target,
    scale: &Scale,
    broker: Option<&Running>,
    results: &mut BrokerResults,
    only: Option<&str>,
) {
    let want = |w: &str| only.is_none_or(|o| o.split(',').any(|x| x.trim() == w));
    // Warm-up, not measured: connections, first segments, the client's buffers.
    let warm = ProduceSpec {
        record_size: 1024,
        partitions: 16,
        acks: "1",
        compression: "none",
        records: scale.kib_records / 4,
    };
    if let Err(e) = workloads::produce(target, &warm) {
        eprintln!("  warm-up failed: {e:#}");
    }
    // Latency first, on a quiet broker: later workloads leave deleted topics whose
    // files are removed in the background (file.delete.delay.ms) for minutes.
    for rate in [20.0, 50.0].into_iter().filter(|_| want("latency")) {
        settle();
        let r = workloads::latency(target, rate, scale.latency_secs);
        eprintln!("  latency at {rate} MB/s: {r:?}");
        results.latency.push((rate, r.map_err(|e| e.to_string())));
    }
    for spec in scale.produce_specs().into_iter().filter(|_| want("produce")) {
        let headline = spec.record_size == 1024 && spec.acks == "-1" && spec.compression == "none";
        let (mut produced, mut consumed) = (Vec::new(), Vec::new());
        for _ in 0..scale.repeats {
            settle();
            let r = workloads::produce(target, &spec);
            eprintln!("  produce {}: {}", spec.label(), report::show(&r.as_ref().map(|(_, t)| t.clone())));
            match r {
                Ok((topic, t)) => {
                    produced.push(Ok(t));
                    // Catch-up consume of the headline topics (1 KiB, acks=-1, uncompressed).
                    if headline {
                        let c = workloads::consume(target, &topic, spec.partitions, spec.records);
                        eprintln!("  consume {} partition(s): {}", spec.partitions, report::show(&c));
                        consumed.push(c.map_err(|e| format!("{e:#}")));
                    }
                    if let Err(e) = client::delete_topic(target, &topic) {
                        eprintln!("  delete {topic}: {e:#}");
                    }
                }
                Err(e) => produced.push(Err(format!("{e:#}"))),
            }
        }
        if headline {
            results.consume.insert(spec.partitions, report::median(consumed));
        }
        results.produce.push((spec.label(), report::median(produced)));
    }
    if !want("produce") && want("consume") {
        // Catch-up reads alone (for profiling the fetch path): fill, then read.
        for partitions in [1, 16] {
            let spec = ProduceSpec {
                record_size: 1024,
                partitions,
                acks: "1",
                compression: "none",
                records: scale.kib_records,
            };
            let filled = workloads::produce(target, &spec);
            if let Ok((topic, _)) = &filled {
                eprintln!("  filled {topic}; consuming in 2 s");
                std::thread::sleep(std::time::Duration::from_secs(2));
                let c = workloads::consume(target, topic, partitions, spec.records);
                eprintln!("  consume {partitions} partition(s): {}", report::show(&c));
                results.consume.insert(partitions, c.map_err(|e| e.to_string()));
            }
        }
    }
    if want("partitions") {
        settle();
        if let Some(b) = broker {
            b.reset_peak();
        }
        let r = workloads::many_partitions(target, 1000, scale.scale_records);
        let mem = broker.map(|b| b.memory_mib().0);
        eprintln!("  1000 partitions: {} peak RSS {mem:?} MiB", report::show(&r));
        results.scale.push(("1,000 partitions".into(), r.map_err(|e| e.to_string()), mem));
    }
    if want("producers") {
        settle();
        if let Some(b) = broker {
            b.reset_peak();
        }
        let r = workloads::many_producers(target, 100, scale.scale_records);
        let mem = broker.map(|b| b.memory_mib().0);
        eprintln!("  100 producers: {} peak RSS {mem:?} MiB", report::show(&r));
        results.scale.push(("100 producer connections".into(), r.map_err(|e| e.to_string()), mem));
    }
}

/// Resident memory of a Weir broker after 1 GB and after 10 GB were stored.
fn memory_growth(target: &Target, broker: &Running, scale: &Scale) -> Result<Vec<(u64, f64, f64)>> {
    let (first, last) = scale.memory_gb;
    let topic = workloads::unique_topic("bench-memory");
    client::create_topic(target, &topic, 16)?;
    let (p, d) = client::producer(target, &client::ProducerSettings { acks: "1", compression: "none", linger_ms: 5 })?;
    let data = workloads::payload(1024);
    let mut out = Vec::new();
    let mut sent = 0u64;
    for gb in [first, last] {
        let target_records = gb * 1_000_000_000 / 1024;
        while sent < target_records {
            client::send(&p, &topic, (sent % 16) as i32, &data);
            sent += 1;
            if sent.is_multiple_of(4096) {
                p.poll(std::time::Duration::ZERO);
            }
        }
        client::finish(&p, &d, sent)?;
        let (_, rss, anon) = broker.memory_mib();
        eprintln!("  {gb} GB stored: RSS {rss:.0} MiB, anonymous {anon:.0} MiB");
        out.push((gb, rss, anon));
    }
    Ok(out)
}

fn suite(
    weir: PathBuf,
    tansu: Option<PathBuf>,
    noida: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    quick: bool,
    json: Option<PathBuf>,
) -> Result<()> {
    let scale = Scale::new(quick);
    let root = match data_dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            tempfile::tempdir_in(d)?
        }
        None => tempfile::tempdir()?,
    };
    let pinned = brokers::cpus() > 1 && brokers::pin_to(1);
    if !pinned {
        eprintln!("warning: not pinned (one CPU, or sched_setaffinity failed): broker and client share CPUs");
    }
    let mut report = Report::new(pinned, root.path(), quick);

    eprintln!("limits:");
    report.limits.loopback_mb = limits::loopback_tcp(if quick { 1 << 30 } else { 4 << 30 }).ok();
    report.limits.fdatasync_mb = limits::fdatasync_write(root.path(), 1 << 20, if quick { 1.0 } else { 3.0 }).ok();
    report.limits.fdatasync_small_mb =
        limits::fdatasync_write(root.path(), 64 << 10, if quick { 1.0 } else { 3.0 }).ok();
    match limits::page_cache_write(root.path(), if quick { 256 << 20 } else { 1 << 30 }) {
        Ok((new, cached)) => {
            report.limits.page_cache_new_mb = Some(new);
            report.limits.page_cache_cached_mb = Some(cached);
        }
        Err(e) => eprintln!("  page-cache write: {e:#}"),
    }
    // The mock cluster's threads start on CPU 0, where the brokers run, so the
    // ceiling is the client's alone (its threads inherit this affinity).
    if pinned {
        brokers::pin_to(0);
    }
    let mock = client::Mock::new();
    if pinned {
        brokers::pin_to(1);
    }
    match mock {
        Ok(mock) => {
            let mock = Target::Mock(std::sync::Arc::new(mock));
            for partitions in [1, 16] {
                let spec = ProduceSpec {
                    record_size: 1024,
                    partitions,
                    acks: "-1",
                    compression: "none",
                    records: scale.kib_records,
                };
                // No consume ceiling: a mock partition keeps only its last 5 MiB
                // (librdkafka's rdkafka_mock.c), so a catch-up read from the first
                // record finds the log start moved past it.
                match workloads::produce(&mock, &spec) {
                    Ok((_, t)) => {
                        report.limits.mock_produce.insert(partitions, t);
                    }
                    Err(e) => eprintln!("  mock cluster produce: {e:#}"),
                }
            }
        }
        Err(e) => eprintln!("  mock cluster: {e:#}"),
    }
    eprintln!("  {:?}", report.limits);

    let mut kinds = vec![Kind::Weir { bin: weir.clone(), durable: false }, Kind::Weir { bin: weir, durable: true }];
    if let Some(bin) = tansu {
        kinds.push(Kind::Tansu { bin });
    }
    if let Some(bin) = noida {
        kinds.push(Kind::Noida { bin });
    }
    for kind in kinds {
        eprintln!("{}:", kind.name());
        let mut results = BrokerResults::new(&kind);
        match Running::start(&kind, root.path()) {
            Ok(b) => {
                let target = Target::Bootstrap(b.addr.clone());
                run_workloads(&target, &scale, Some(&b), &mut results, None);
                if matches!(kind, Kind::Weir { durable: false, .. }) {
                    match memory_growth(&target, &b, &scale) {
                        Ok(m) => report.memory = m,
                        Err(e) => eprintln!("  memory: {e}"),
                    }
                }
                if let Err(e) = b.stop() {
                    eprintln!("  stop: {e}");
                }
            }
            Err(e) => {
                eprintln!("  could not start: {e:#}");
                results.start_error = Some(format!("{e:#}"));
            }
        }
        report.brokers.push(results);
    }
    let md = report.markdown();
    println!("{md}");
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&report.json())?)?;
    }
    Ok(())
}

fn smoke(weir: PathBuf) -> Result<()> {
    let root = tempfile::tempdir()?;
    let b = Running::start(&Kind::Weir { bin: weir, durable: false }, root.path())?;
    let target = Target::Bootstrap(b.addr.clone());
    let result = (|| -> Result<()> {
        let spec = ProduceSpec { record_size: 1024, partitions: 2, acks: "-1", compression: "lz4", records: 20_000 };
        let (topic, t) = workloads::produce(&target, &spec)?;
        let c = workloads::consume(&target, &topic, 2, spec.records)?;
        if c.bytes != t.bytes {
            bail!("consumed {} bytes of {}", c.bytes, t.bytes);
        }
        let l = workloads::latency(&target, 5.0, 2.0)?;
        if l.samples == 0 || l.p50_ms.is_nan() || l.p50_ms > l.max_ms {
            bail!("latency run measured nothing sensible: {l:?}");
        }
        workloads::many_partitions(&target, 50, 5_000)?;
        workloads::many_producers(&target, 4, 4_000)?;
        let (peak, _, _) = b.memory_mib();
        if peak <= 0.0 {
            bail!("could not read the broker's memory");
        }
        println!(
            "weir-bench smoke ok: produce {:.0} MB/s, consume {:.0} MB/s, latency p50 {:.2} ms, peak RSS {peak:.0} MiB",
            t.mb_per_sec(),
            c.mb_per_sec(),
            l.p50_ms
        );
        Ok(())
    })();
    b.stop()?;
    result
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Suite { weir, tansu, noida, data_dir, quick, json } => suite(weir, tansu, noida, data_dir, quick, json),
        Cmd::Run { bootstrap, quick, only } => {
            let mut r = BrokerResults::external(&bootstrap);
            run_workloads(&Target::Bootstrap(bootstrap), &Scale::new(quick), None, &mut r, only.as_deref());
            println!("{}", serde_json::to_string_pretty(&r.json())?);
            Ok(())
        }
        Cmd::Produce { bootstrap, size, partitions, acks, compression, records, repeats } => {
            let target = match bootstrap {
                Some(b) => Target::Bootstrap(b),
                None => Target::Mock(std::sync::Arc::new(client::Mock::new()?)),
            };
            // The spec holds 'static strs (it is built from literals in the suite).
            let spec = ProduceSpec {
                record_size: size,
                partitions,
                acks: Box::leak(acks.into_boxed_str()),
                compression: Box::leak(compression.into_boxed_str()),
                records,
            };
            for _ in 0..repeats {
                let (topic, t) = workloads::produce(&target, &spec)?;
                println!("{}: {:.0} MB/s ({:.0} records/s)", spec.label(), t.mb_per_sec(), t.records_per_sec());
                if let Target::Bootstrap(_) = target {
                    client::delete_topic(&target, &topic)?;
                }
            }
            Ok(())
        }
        Cmd::Consume { bootstrap, topic, partitions, records, repeats, fill } => {
            let target = Target::Bootstrap(bootstrap);
            let topic = match (topic, fill) {
                (Some(t), false) => t,
                (None, true) => {
                    let spec = ProduceSpec { record_size: 1024, partitions, acks: "1", compression: "none", records };
                    let (topic, _) = workloads::produce(&target, &spec)?;
                    println!("filled {topic}");
                    return Ok(());
                }
                _ => bail!("give either --topic or --fill"),
            };
            for _ in 0..repeats {
                let t = workloads::consume(&target, &topic, partitions, records)?;
                println!("consume {partitions} partition(s): {:.0} MB/s", t.mb_per_sec());
            }
            Ok(())
        }
        Cmd::Smoke { weir } => smoke(weir),
        Cmd::TcpSink { port } => limits::tcp_sink(port),
    }
}
