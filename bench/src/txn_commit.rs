//! The transaction-commit row: how long committing a small transaction takes (one
//! 1 KiB record in each of 16 partitions, acks=-1, flushed before the commit), as
//! the client sees it (`commit_transaction`, p50 and p99) and at the broker (the
//! mean of EndTxn in its request-latency histogram). EndTxn writes PrepareCommit,
//! a marker into every partition of the transaction and CompleteCommit, each on
//! disk before it answers, so this is the broker's own cost of exactly-once per
//! commit. With `offsets`, each transaction also carries a consumer group's offsets
//! for the 16 partitions (`send_offsets_to_transaction`, as a consume-transform-produce
//! application sends them), so EndTxn also writes a marker into `__consumer_offsets`.
//! Each build in turn, a fresh broker per mode (page cache, durable), the broker
//! pinned to CPU 0 and the client to CPU 1. Prints markdown.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

use crate::client::{self, ProducerSettings, Target};
use crate::local::{Local, PAGE_CACHE};

/// Commits before the measured ones: the producer's connections and the
/// partitions' first markers.
const WARM_UP: usize = 20;

struct Measured {
    p50_ms: f64,
    p99_ms: f64,
    end_txn_ms: f64,
}

pub fn run(
    weirs: &[(String, PathBuf)],
    partitions: i32,
    transactions: usize,
    repeats: usize,
    offsets: bool,
) -> Result<()> {
    if repeats == 0 || transactions < 2 || partitions < 1 {
        anyhow::bail!("--repeats and --partitions must be at least 1, --transactions at least 2");
    }
    let modes: [(&str, &[&str]); 2] = [("page cache", &[PAGE_CACHE]), ("durable", &[])];
    let mut rows: Vec<(String, &str, Vec<Measured>)> =
        modes.iter().flat_map(|(m, _)| weirs.iter().map(move |(l, _)| (l.clone(), *m, Vec::new()))).collect();
    for _ in 0..repeats {
        for (label, mode, ms) in rows.iter_mut() {
            let bin = &weirs.iter().find(|(l, _)| l == label).expect("a labelled build").1;
            let settings = modes.iter().find(|(m, _)| m == mode).expect("a mode").1;
            let m = measure(bin, settings, partitions, transactions, offsets)?;
            eprintln!(
                "{label}, {mode}: commit p50 {:.2} ms, p99 {:.2} ms; EndTxn at the broker {:.2} ms",
                m.p50_ms, m.p99_ms, m.end_txn_ms
            );
            ms.push(m);
        }
    }
    let with = if offsets { ", and a group's offsets for them," } else { "" };
    println!(
        "{transactions} transactions of one 1 KiB record in each of {partitions} partitions (acks=-1){with} after {WARM_UP}.\n"
    );
    println!("| weir | mode | commit p50 (ms) | commit p99 (ms) | EndTxn at the broker, mean (ms) |");
    println!("|---|---|---|---|---|");
    for (label, mode, ms) in &rows {
        let col = |f: &dyn Fn(&Measured) -> f64| crate::report::each_run(ms, 2, f);
        println!("| {label} | {mode} | {} | {} | {} |", col(&|m| m.p50_ms), col(&|m| m.p99_ms), col(&|m| m.end_txn_ms));
    }
    Ok(())
}

fn measure(bin: &PathBuf, settings: &[&str], partitions: i32, transactions: usize, offsets: bool) -> Result<Measured> {
    let data = tempfile::tempdir()?;
    let w = Local::start_pinned(bin, data.path(), settings)?;
    let target = Target::Bootstrap(w.kafka.clone());
    let topic = "bench-txn-commit";
    client::create_topic(&target, topic, partitions)?;
    let producer = ProducerSettings { acks: "-1", compression: "none", linger_ms: 0 };
    let extra = [
        ("enable.idempotence", "true"),
        ("transactional.id", "bench-txn-commit"),
        // librdkafka requires message.timeout.ms <= transaction.timeout.ms.
        ("transaction.timeout.ms", "120000"),
    ];
    let (p, _) = client::producer_with(&target, &producer, &extra)?;
    let t = Duration::from_secs(60);
    p.init_transactions(t).context("init_transactions")?;
    // Only a consumer's group metadata is used: the offsets go through the producer.
    let group = offsets
        .then(|| -> Result<_> {
            let c: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &w.kafka)
                .set("group.id", "bench-txn-commit")
                .create()
                .context("consumer")?;
            c.group_metadata().context("the consumer's group metadata")
        })
        .transpose()?;
    let payload = vec![b'x'; 1024];
    let mut n = 0i64;
    let mut commit = || -> Result<u64> {
        p.begin_transaction().context("begin_transaction")?;
        for partition in 0..partitions {
            client::send(&p, topic, partition, &payload);
        }
        p.flush(t).context("flush")?;
        if let Some(group) = &group {
            n += 1;
            let mut tpl = TopicPartitionList::new();
            for partition in 0..partitions {
                tpl.add_partition_offset(topic, partition, Offset::Offset(n))?;
            }
            p.send_offsets_to_transaction(&tpl, group, t).context("send_offsets_to_transaction")?;
        }
        let started = Instant::now();
        p.commit_transaction(t).context("commit_transaction")?;
        Ok(started.elapsed().as_nanos() as u64)
    };
    for _ in 0..WARM_UP {
        commit()?;
    }
    let names = ["weir_kafka_request_latency_seconds_sum", "weir_kafka_request_latency_seconds_count"];
    let offset_commits = || crate::console::api_metrics(&w.console, "TxnOffsetCommit", &names[1..]);
    let (before, commits_before) = (crate::console::api_metrics(&w.console, "EndTxn", &names)?, offset_commits()?);
    let mut ns = (0..transactions).map(|_| commit()).collect::<Result<Vec<u64>>>()?;
    let (after, commits_after) = (crate::console::api_metrics(&w.console, "EndTxn", &names)?, offset_commits()?);
    let count = after[1] - before[1];
    if count < transactions as f64 {
        anyhow::bail!("the broker counted {count} EndTxn requests for {transactions} commits");
    }
    let offset_count = commits_after[0] - commits_before[0];
    if offsets && offset_count < transactions as f64 {
        anyhow::bail!("the broker counted {offset_count} TxnOffsetCommit requests for {transactions} transactions");
    }
    ns.sort_unstable();
    Ok(Measured {
        p50_ms: crate::workloads::percentile(&ns, 0.5),
        p99_ms: crate::workloads::percentile(&ns, 0.99),
        end_txn_ms: (after[0] - before[0]) / count * 1e3,
    })
}
