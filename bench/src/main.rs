//! weir-bench: drives Weir and peer brokers with the same librdkafka client and
//! the same workloads, beside the machine's own limits, and prints one report.
//!
//! ```text
//! weir-bench suite --weir BIN [--tansu BIN] [--noida BIN] [--data-dir DIR] [--quick]
//! weir-bench run --bootstrap HOST:PORT [--quick]     # the workloads against any broker
//! weir-bench produce [--bootstrap HOST:PORT] [--size B --partitions N --acks A ...]
//!                                                     # one produce workload, for profiling
//! weir-bench smoke --weir BIN                         # a few seconds, correctness only
//! weir-bench mirror --weir BIN [--records N]          # weir mirror beside a plain consume
//! weir-bench console --weir BIN [--topics N --groups N] # the console API on a large estate
//! weir-bench startup --weir BIN [--partitions N]      # start-up and memory with many partitions
//! weir-bench groups --weir BIN [--protocol P]          # a 500-member group to Stable
//! weir-bench long-poll --weir BIN [--consumers N]      # 1,000 long-polling consumers' latency
//! ```

mod acls;
mod brokers;
mod classic_groups;
mod client;
mod console;
mod fetch_sessions;
mod groups;
mod host;
mod limits;
mod local;
mod long_poll;
mod mirror;
mod registry;
mod report;
mod scale;
mod security;
mod share_groups;
mod startup;
mod suite;
mod txn_commit;
mod wire;
mod workloads;

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use brokers::{Kind, Running};
use client::Target;
use report::BrokerResults;
use suite::{Scale, Subject};
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
        /// Another Weir build, measured beside `--weir` in the same rotation (both
        /// modes), for before/after figures of one run.
        #[arg(long)]
        weir_baseline: Option<PathBuf>,
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
        /// Only these workloads (comma-separated): produce, consume, latency, partitions, producers, eos, recompress.
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
    /// The end-to-end latency workload, repeated (for profiling): prints the
    /// percentiles, the host's steal and the slowest 100 ms windows of each run.
    /// Needs a broker: a mock-cluster partition keeps only its last 5 MiB, so the
    /// latency consumer loses records against it.
    Latency {
        #[arg(long)]
        bootstrap: String,
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// The mirror rows: `weir mirror` throughput between two Weir brokers beside a
    /// plain consume, and latency at 20 MB/s through it; prints markdown.
    Mirror {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 400_000)]
        records: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        #[arg(long, default_value_t = 10.0)]
        latency_secs: f64,
    },
    /// The console's JSON API latency with many topics and groups (10,000 and
    /// 1,000 by default); prints markdown.
    Console {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        topics: usize,
        #[arg(long, default_value_t = 1_000)]
        groups: usize,
        #[arg(long, default_value_t = 20)]
        repeats: usize,
    },
    /// Start-up time (after SIGTERM and after SIGKILL), memory and disk per
    /// idle partition with many partitions (10,000 by default); prints markdown.
    Startup {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        partitions: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Many partitions on one node written by many producers, beside one
    /// producer on 16 partitions, in both modes; prints markdown.
    ManyPartitions {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        partitions: usize,
        #[arg(long, default_value_t = 100)]
        producers: usize,
        #[arg(long, default_value_t = 400_000)]
        records: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Seconds over which the broker's CPU is measured while every partition is idle.
        #[arg(long, default_value_t = 5.0)]
        idle_secs: f64,
    },
    /// Schema-registry requests per second with many subjects: lookups by id
    /// and by subject and schema; prints markdown.
    Registry {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 1_000)]
        subjects: usize,
        #[arg(long, default_value_t = 8)]
        clients: usize,
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Many idle client connections beside the 100-producer row: memory per
    /// connection, throughput with and without them; prints markdown.
    Connections {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        idle: usize,
        #[arg(long, default_value_t = 100)]
        active: usize,
        #[arg(long, default_value_t = 400_000)]
        records: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// A consumer group of many wire members joining, then one more; time to
    /// Stable, with the KIP-848 protocol and the classic one. With
    /// `--weir-baseline`, both builds in turn; prints markdown.
    Groups {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long)]
        weir_baseline: Option<PathBuf>,
        /// Only one protocol: `consumer` (KIP-848) or `classic`.
        #[arg(long)]
        protocol: Option<String>,
        #[arg(long, default_value_t = 500)]
        members: usize,
        #[arg(long, default_value_t = 2_000)]
        partitions: i32,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// How long committing a small transaction takes (one 1 KiB record in each of 16
    /// partitions): the client's commit p50 and p99 and the broker's EndTxn mean, in
    /// both modes. With `--weir-baseline`, both builds in turn; prints markdown
    TxnCommit {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long)]
        weir_baseline: Option<PathBuf>,
        #[arg(long, default_value_t = 16)]
        partitions: i32,
        #[arg(long, default_value_t = 300)]
        transactions: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Each transaction also commits a consumer group's offsets.
        #[arg(long)]
        offsets: bool,
    },
    /// Many consumers each long-polling its own partition while a paced producer
    /// writes round-robin over them, beside one consumer of one partition at the
    /// same rate: end-to-end latency of each; prints markdown.
    LongPoll {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 1_000)]
        consumers: usize,
        /// MB/s of 1 KiB records.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// One consumer reading a pre-filled topic with plain Fetch and as a share
    /// group's member (ShareFetch, KIP-932), alternated on one Weir; prints markdown.
    ShareGroups {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 16)]
        partitions: i32,
        #[arg(long, default_value_t = 400_000)]
        records: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// One consumer of many partitions fetching without and with an incremental
    /// fetch session (KIP-227), alternated on one Weir; prints markdown.
    FetchSessions {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 1_000)]
        partitions: i32,
        /// Seconds of producing per run.
        #[arg(long, default_value_t = 10)]
        secs: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// 1 KiB records a second, over ten of the partitions.
        #[arg(long, default_value_t = 2_000)]
        rate: u64,
    },
    /// Produce and consume through PLAINTEXT, SSL and SASL_SSL listeners of one
    /// Weir, side by side; prints markdown. Needs `--features tls`.
    Security {
        #[arg(long)]
        weir: PathBuf,
        #[arg(long, default_value_t = 400_000)]
        records: u64,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Only this listener beside PLAINTEXT (SSL or SASL_SSL), for profiling.
        #[arg(long)]
        only: Option<String>,
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
    /// Internal: the sending process of the receive-and-write floor.
    #[command(hide = true)]
    TcpSource {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        bytes: u64,
    },
}

/// librdkafka's mock cluster with its threads on CPU 0, where the brokers run, and
/// this thread on CPU 1, so what the client reaches is the client's alone (the
/// mock's threads inherit the affinity of the thread that starts them).
pub(crate) fn pinned_mock() -> Result<client::Mock> {
    let pinned = brokers::cpus() > 1 && brokers::pin_to(0);
    let mock = client::Mock::new();
    if pinned {
        brokers::pin_to(1);
    }
    mock
}

/// The builds a row compares: `weir`, and the baseline if one is given.
fn builds(weir: PathBuf, baseline: Option<PathBuf>) -> Vec<(String, PathBuf)> {
    let mut weirs = vec![("weir".to_string(), weir)];
    weirs.extend(baseline.map(|b| ("baseline".to_string(), b)));
    weirs
}

fn smoke(weir: PathBuf) -> Result<()> {
    let root = tempfile::tempdir()?;
    let b = Running::start(&Kind::Weir { bin: weir.clone(), durable: false, baseline: false }, root.path())?;
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
        let (txn_topic, _) =
            workloads::produce_transactional(&target, 4, 8_000, std::time::Duration::from_millis(100))?;
        let committed = workloads::consume_isolated(&target, &txn_topic, 4, 8_000, "read_committed")?;
        if committed.records != 8_000 {
            bail!("read {} committed records of 8000", committed.records);
        }
        workloads::produce_idempotent(&target, 4, 4_000)?;
        let plain = ProduceSpec { compression: "none", records: 4_000, ..spec };
        let (zstd_topic, _) = workloads::produce_with_topic_config(&target, &plain, &[("compression.type", "zstd")])?;
        let z = workloads::consume(&target, &zstd_topic, 2, plain.records)?;
        if z.records != plain.records {
            bail!("read {} of {} records from the zstd topic", z.records, plain.records);
        }
        // The suite's scale rows through its own loop (repeats, median, peak memory).
        let results = BrokerResults::external(&b.addr);
        let mut subjects = [Subject { target: target.clone(), broker: Some(&b), results }];
        let toy = Scale { scale_records: 4_000, headline_repeats: 2, ..Scale::new(true) };
        suite::run_workloads(&mut subjects, &toy, Some("partitions,producers"), None);
        let rows = &subjects[0].results.scale;
        if rows.len() != 2 {
            bail!("{} scale rows of 2", rows.len());
        }
        for (label, r, peak) in rows {
            match (r, peak) {
                (Ok(t), Some(_)) if t.records == toy.scale_records => {}
                (Err(e), _) => bail!("{label}: {e}"),
                (r, peak) => bail!("{label}: {r:?}, peak memory {peak:?}"),
            }
        }
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
    result?;
    // The rows that start their own weir, at toy sizes: each checks itself (every
    // record read back, the group Stable with every partition owned).
    fetch_sessions::run(weir.clone(), 20, 1, 1, 200)?;
    groups::run(&builds(weir.clone(), None), &groups::Protocol::ALL, 5, 20, 1)?;
    long_poll::run(weir.clone(), 20, 2.0, 2.0, 1)?;
    scale::partitions(weir.clone(), 200, 4, 4_000, 1, 0.5)?;
    scale::connections(weir.clone(), 200, 4, 4_000, 1)?;
    txn_commit::run(&builds(weir.clone(), None), 4, 5, 1, true)?;
    share_groups::run(weir.clone(), 4, 4_000, 1)?;
    // The floor the suite prints beside the broker's CPU per MB.
    for writeback in [false, true] {
        let ms = limits::receive_write_cpu(&std::env::temp_dir(), 64 << 20, writeback)?;
        if !(ms.is_finite() && ms > 0.0) {
            bail!("receive-and-write floor: {ms} ms per MB");
        }
        println!("receive and write (writeback {writeback}): {ms:.2} ms of CPU per MB");
    }
    registry::run(weir, 50, 2, 0.5, 1)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    host::keep_client_heap();
    match cli.command {
        Cmd::Suite { weir, weir_baseline, tansu, noida, data_dir, quick, json } => {
            suite::suite(weir, weir_baseline, tansu, noida, data_dir, quick, json)
        }
        Cmd::Run { bootstrap, quick, only } => {
            let results = BrokerResults::external(&bootstrap);
            let mut subjects = [Subject { target: Target::Bootstrap(bootstrap), broker: None, results }];
            suite::run_workloads(&mut subjects, &Scale::new(quick), only.as_deref(), None);
            println!("{}", serde_json::to_string_pretty(&subjects[0].results.json())?);
            Ok(())
        }
        Cmd::Produce { bootstrap, size, partitions, acks, compression, records, repeats } => {
            let target = match bootstrap {
                Some(b) => Target::Bootstrap(b),
                None => Target::Mock(std::sync::Arc::new(pinned_mock()?)),
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
        Cmd::Latency { bootstrap, rate, secs, repeats } => {
            let target = Target::Bootstrap(bootstrap);
            for _ in 0..repeats {
                let l = workloads::latency(&target, rate, secs)?;
                println!(
                    "{rate} MB/s: p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.1} ms; {:?}; {:?}; slowest 100 ms windows (ms from start, records > 5 ms, max ms): {:?}",
                    l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.steal, l.pauses, l.slow_windows
                );
            }
            Ok(())
        }
        Cmd::Smoke { weir } => smoke(weir),
        Cmd::Security { weir, records, repeats, only } => security::run(weir, records, repeats, only),
        Cmd::Console { weir, topics, groups, repeats } => console::run(weir, topics, groups, repeats),
        Cmd::Startup { weir, partitions, repeats } => startup::run(weir, partitions, repeats),
        Cmd::ManyPartitions { weir, partitions, producers, records, repeats, idle_secs } => {
            scale::partitions(weir, partitions, producers, records, repeats, idle_secs)
        }
        Cmd::Registry { weir, subjects, clients, secs, repeats } => {
            registry::run(weir, subjects, clients, secs, repeats)
        }
        Cmd::Connections { weir, idle, active, records, repeats } => {
            scale::connections(weir, idle, active, records, repeats)
        }
        Cmd::Groups { weir, weir_baseline, protocol, members, partitions, repeats } => {
            let weirs = builds(weir, weir_baseline);
            let protocols: Vec<groups::Protocol> = match protocol.as_deref() {
                None => groups::Protocol::ALL.to_vec(),
                Some("consumer") => vec![groups::Protocol::Consumer],
                Some("classic") => vec![groups::Protocol::Classic],
                Some(other) => bail!("--protocol {other}: expected consumer or classic"),
            };
            groups::run(&weirs, &protocols, members, partitions, repeats)
        }
        Cmd::TxnCommit { weir, weir_baseline, partitions, transactions, repeats, offsets } => {
            txn_commit::run(&builds(weir, weir_baseline), partitions, transactions, repeats, offsets)
        }
        Cmd::LongPoll { weir, consumers, rate, secs, repeats } => long_poll::run(weir, consumers, rate, secs, repeats),
        Cmd::ShareGroups { weir, partitions, records, repeats } => {
            share_groups::run(weir, partitions, records, repeats)
        }
        Cmd::FetchSessions { weir, partitions, secs, repeats, rate } => {
            fetch_sessions::run(weir, partitions, secs, repeats, rate)
        }
        Cmd::Mirror { weir, records, repeats, latency_secs } => mirror::run(weir, records, repeats, latency_secs),
        Cmd::TcpSink { port } => limits::tcp_sink(port),
        Cmd::TcpSource { port, bytes } => limits::tcp_source(port, bytes),
    }
}
