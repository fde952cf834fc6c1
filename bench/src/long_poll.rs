//! The long-polling row (issue 24): N consumers (1,000 by default), each its own
//! connection long-polling its own partition (Fetch v12, max.wait 500 ms,
//! min.bytes 1, no session, as a consumer of one partition fetches), while one
//! producer writes 1 KiB records round-robin over the N partitions at a steady
//! rate (50 MB/s, acks=-1, linger.ms=1). Every record carries the time it was
//! meant to be sent; its latency is the time its consumer received it minus that.
//! Beside it the same rate to one partition read by one consumer, on the same
//! build in the same run. An append must wake only the fetch parked on its
//! partition: with every fetch woken by every append, 1,000 parked fetches turn
//! 49,000 appends a second into 49 million wake-ups and the tail grows with N.
//! Prints markdown.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::client::{self, Target};
use crate::local::Local;
use crate::wire;
use crate::workloads::{now_ns, paced_produce, percentile};

const RECORD: usize = 1024;
const WARMUP_NS: u64 = 1_000_000_000;

/// One consumer: long-polls `partition` from offset 0 until it has `expected`
/// records; returns the latencies (ns) of those meant to be sent after `warm_from`.
fn consumer(
    addr: String,
    topic: Arc<str>,
    partition: i32,
    expected: u64,
    warm_from: u64,
    deadline: Instant,
) -> Result<Vec<u64>> {
    let mut s = TcpStream::connect(&addr)?;
    s.set_nodelay(true)?;
    let (mut offset, mut got) = (0i64, 0u64);
    let mut lat = Vec::with_capacity(expected as usize);
    while got < expected {
        if Instant::now() > deadline {
            bail!("partition {partition}: {got} of {expected} records");
        }
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]);
        let (r, _): (FetchResponse, _) = wire::call(&mut s, ApiKey::Fetch, 12, &req)?;
        let now = now_ns();
        for p in r.responses.iter().flat_map(|t| t.partitions.iter()) {
            if p.error_code != 0 {
                bail!("partition {partition}: fetch error {}", p.error_code);
            }
            let mut records: Bytes = p.records.clone().unwrap_or_default();
            for set in RecordBatchDecoder::decode_all(&mut records)? {
                for rec in set.records {
                    offset = rec.offset + 1;
                    got += 1;
                    let value = rec.value.context("a record without a value")?;
                    let intended = u64::from_le_bytes(value[..8].try_into()?);
                    if intended >= warm_from {
                        lat.push(now.saturating_sub(intended));
                    }
                }
            }
        }
    }
    Ok(lat)
}

struct Measured {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    cpu_secs: f64,
}

/// `consumers` consumers of as many partitions at `rate_mb` for `secs`.
fn measure(w: &Local, consumers: usize, rate_mb: f64, secs: f64) -> Result<Measured> {
    let target = Target::Bootstrap(w.kafka.clone());
    let topic = crate::workloads::unique_topic("bench-long-poll");
    client::create_topic(&target, &topic, consumers as i32)?;
    let total = (rate_mb * 1e6 / RECORD as f64 * secs) as u64;
    let interval_ns = RECORD as f64 / (rate_mb * 1e6) * 1e9;
    let n = consumers as u64;
    // The producer starts 50 ms after it is created; the first second is warm-up.
    let warm_from = now_ns() + 50_000_000 + WARMUP_NS;
    let deadline = Instant::now() + Duration::from_secs_f64(secs + 120.0);
    let name: Arc<str> = Arc::from(topic.as_str());
    let threads: Vec<_> = (0..consumers)
        .map(|p| {
            let expected = total / n + u64::from((p as u64) < total % n);
            let (addr, name) = (w.kafka.clone(), name.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || consumer(addr, name, p as i32, expected, warm_from, deadline))
                .context("a consumer thread")
        })
        .collect::<Result<_>>()?;
    // Let every consumer park its first fetch before the first record.
    std::thread::sleep(Duration::from_millis(200));
    let cpu0 = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0);
    paced_produce(&target, &topic, consumers as i32, total, interval_ns)?;
    let mut lat = Vec::with_capacity(total as usize);
    for t in threads {
        lat.extend(t.join().map_err(|_| anyhow::anyhow!("a consumer panicked"))??);
    }
    let cpu_secs = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0) - cpu0;
    client::delete_topic(&target, &topic)?;
    lat.sort_unstable();
    Ok(Measured {
        p50: percentile(&lat, 0.50),
        p99: percentile(&lat, 0.99),
        p999: percentile(&lat, 0.999),
        max: lat.last().map_or(f64::NAN, |m| *m as f64 / 1e6),
        cpu_secs,
    })
}

/// Alternates one consumer and `consumers` consumers on one page-cache Weir,
/// `repeats` times each.
pub fn run(weir: PathBuf, consumers: usize, rate_mb: f64, secs: f64, repeats: usize) -> Result<()> {
    let data = tempfile::tempdir()?;
    let w = Local::start(&weir, data.path(), &[crate::local::PAGE_CACHE], &[])?;
    let mut rows: Vec<(usize, Vec<Measured>)> = vec![(1, Vec::new()), (consumers, Vec::new())];
    for _ in 0..repeats {
        for (n, ms) in rows.iter_mut() {
            let m = measure(&w, *n, rate_mb, secs)?;
            eprintln!(
                "{n} consumer(s) at {rate_mb} MB/s: p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.1} ms, broker CPU {:.1} s",
                m.p50, m.p99, m.p999, m.max, m.cpu_secs
            );
            ms.push(m);
        }
    }
    w.stop()?;
    println!(
        "1 KiB records at {rate_mb} MB/s (acks=-1) round-robin over as many partitions as consumers, each consumer \
         long-polling its own partition; {secs} s per run, the first second not counted; page cache.\n"
    );
    println!("| consumers | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | broker CPU per run (s) |");
    println!("|---|---|---|---|---|---|");
    for (n, ms) in &rows {
        let col = |f: &dyn Fn(&Measured) -> f64, d: usize| crate::report::each_run(ms, d, f);
        println!(
            "| {n} | {} | {} | {} | {} | {} |",
            col(&|m| m.p50, 2),
            col(&|m| m.p99, 2),
            col(&|m| m.p999, 2),
            col(&|m| m.max, 1),
            col(&|m| m.cpu_secs, 1)
        );
    }
    Ok(())
}
