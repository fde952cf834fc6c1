//! The suite: the limits first, then every broker started at once and every
//! workload run on each broker in turn, repetition by repetition (the order rotates
//! so no broker always follows the same one). Runs of the same workload on
//! different brokers are then minutes apart, not a quarter of an hour, and meet the
//! same state of the host: on a shared VM, steal time and the host's memory state
//! drift over minutes, and a broker measured alone in a slow stretch would lose to
//! one measured in a quick one. Only the broker being measured runs: the others
//! wait frozen (SIGSTOP), so work one broker does in the background after its runs
//! cannot land on another's measurement (see `Running::set_frozen`). The
//! peak-memory workloads read each broker's own processes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use crate::brokers::{self, Kind, Running};
use crate::client::{self, Target};
use crate::report::{self, BrokerResults, Report};
use crate::workloads::{self, Latency, ProduceSpec, Throughput};
use crate::{limits, pinned_mock};

/// Record counts and durations of a suite run.
pub struct Scale {
    /// Runs of each produce/consume workload per broker; the median is reported.
    pub repeats: usize,
    /// Runs of the headline workloads (1 KiB, acks=-1, uncompressed), which the
    /// targets are set on: the client is the limit there and its own speed moves by
    /// a quarter from run to run (the mock cluster's did, in one rotation), so a
    /// median of three could turn on one run.
    pub headline_repeats: usize,
    /// Runs of each latency workload per broker; the run with the median p99 is
    /// reported.
    pub latency_repeats: usize,
    pub kib_records: u64,
    pub small_records: u64,
    pub latency_secs: f64,
    pub scale_records: u64,
    pub memory_gb: (u64, u64),
}

impl Scale {
    pub fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                repeats: 1,
                headline_repeats: 1,
                latency_repeats: 1,
                kib_records: 50_000,
                small_records: 200_000,
                latency_secs: 3.0,
                scale_records: 20_000,
                memory_gb: (1, 2),
            }
        } else {
            Scale {
                repeats: 3,
                headline_repeats: 5,
                latency_repeats: 3,
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

/// One broker under test: where to reach it, its process (for memory and CPU; none
/// for an external broker), and what it measured.
pub struct Subject<'a> {
    pub target: Target,
    pub broker: Option<&'a Running>,
    pub results: BrokerResults,
}

impl Subject<'_> {
    fn cpu_secs(&self) -> Option<f64> {
        self.broker.map(Running::cpu_secs)
    }
}

/// Thaws subject `i` and freezes every other broker (all of them for an `i` past
/// the end: the mock cluster's turn).
fn activate(subjects: &[Subject<'_>], i: usize) {
    for (j, s) in subjects.iter().enumerate() {
        if let Some(b) = s.broker {
            b.set_frozen(j != i);
        }
    }
}

/// Every workload starts from the same state: what earlier workloads left dirty in
/// the page cache is written out first, so no broker pays for another's writeback.
fn settle() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
}

/// Broker CPU milliseconds per MB moved, when the broker's CPU time is known.
fn cpu_ms_per_mb(before: Option<f64>, after: Option<f64>, t: &Throughput) -> Option<f64> {
    let (a, b) = (before?, after?);
    (t.bytes > 0).then(|| (b - a) * 1000.0 / (t.bytes as f64 / 1e6))
}

fn median_f64(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The run with the median p99; the first error if any run failed.
fn median_latency(runs: Vec<Result<Latency, String>>) -> Result<Latency, String> {
    report::median_by(runs, |l| l.p99_ms)
}

/// Runs `f` on each subject in turn, `repeats` times, starting one further along
/// the list each time.
fn rotate(n: usize, repeats: usize, mut f: impl FnMut(usize)) {
    for rep in 0..repeats {
        for k in 0..n {
            f((k + rep) % n);
        }
    }
}

/// Runs every workload on every subject. With `ceiling` (librdkafka's mock
/// cluster), the headline produce workloads (1 KiB, acks=-1, uncompressed) run on it
/// too, in the same rotation, and its median per partition count is returned.
pub fn run_workloads(
    subjects: &mut [Subject<'_>],
    scale: &Scale,
    only: Option<&str>,
    ceiling: Option<&Target>,
) -> BTreeMap<i32, Throughput> {
    let mut ceilings = BTreeMap::new();
    let want = |w: &str| only.is_none_or(|o| o.split(',').any(|x| x.trim() == w));
    let n = subjects.len();
    // Warm-up, not measured: connections, first segments, the client's buffers.
    for (i, s) in subjects.iter().enumerate() {
        activate(subjects, i);
        let warm = ProduceSpec {
            record_size: 1024,
            partitions: 16,
            acks: "1",
            compression: "none",
            records: scale.kib_records / 4,
        };
        if let Err(e) = workloads::produce(&s.target, &warm) {
            eprintln!("  {}: warm-up failed: {e:#}", s.results.name);
        }
    }
    // Latency first, on quiet brokers: later workloads leave deleted topics whose
    // files are removed in the background (file.delete.delay.ms) for minutes.
    for rate in [20.0, 50.0].into_iter().filter(|_| want("latency")) {
        let mut runs: Vec<Vec<Result<Latency, String>>> = vec![Vec::new(); n];
        rotate(n, scale.latency_repeats, |i| {
            activate(subjects, i);
            settle();
            let r = workloads::latency(&subjects[i].target, rate, scale.latency_secs);
            match &r {
                Ok(l) => eprintln!(
                    "  {}: latency at {rate} MB/s: p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.1} ms, steal {:?}, {:?}",
                    subjects[i].results.name, l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.steal, l.pauses
                ),
                Err(e) => eprintln!("  {}: latency at {rate} MB/s failed: {e:#}", subjects[i].results.name),
            }
            runs[i].push(r.map_err(|e| format!("{e:#}")));
        });
        for (s, r) in subjects.iter_mut().zip(runs) {
            s.results.latency.push((rate, median_latency(r)));
        }
    }
    for spec in scale.produce_specs().into_iter().filter(|_| want("produce")) {
        let headline = spec.record_size == 1024 && spec.acks == "-1" && spec.compression == "none";
        let mut produced: Vec<Vec<Result<Throughput, String>>> = vec![Vec::new(); n];
        let mut consumed: Vec<Vec<Result<Throughput, String>>> = vec![Vec::new(); n];
        let mut produce_cpu: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut consume_cpu: Vec<Vec<f64>> = vec![Vec::new(); n];
        let ceiling = ceiling.filter(|_| headline);
        let mut mock_runs = Vec::new();
        let repeats = if headline { scale.headline_repeats } else { scale.repeats };
        rotate(n + usize::from(ceiling.is_some()), repeats, |i| {
            activate(subjects, i);
            if i == n {
                let r = workloads::produce(ceiling.expect("a ceiling subject"), &spec).map(|(_, t)| t);
                eprintln!("  mock cluster: produce {}: {}", spec.label(), report::show(&r));
                mock_runs.push(r.map_err(|e| format!("{e:#}")));
                return;
            }
            let s = &subjects[i];
            settle();
            let cpu0 = s.cpu_secs();
            let r = workloads::produce(&s.target, &spec);
            let cpu1 = s.cpu_secs();
            eprintln!(
                "  {}: produce {}: {}",
                s.results.name,
                spec.label(),
                report::show(&r.as_ref().map(|(_, t)| t.clone()))
            );
            match r {
                Ok((topic, t)) => {
                    produce_cpu[i].extend(cpu_ms_per_mb(cpu0, cpu1, &t));
                    produced[i].push(Ok(t));
                    // Catch-up consume of the headline topics (1 KiB, acks=-1, uncompressed).
                    if headline {
                        let cpu0 = s.cpu_secs();
                        let c = workloads::consume(&s.target, &topic, spec.partitions, spec.records);
                        let cpu1 = s.cpu_secs();
                        eprintln!(
                            "  {}: consume {} partition(s): {}",
                            s.results.name,
                            spec.partitions,
                            report::show(&c)
                        );
                        if let Ok(t) = &c {
                            consume_cpu[i].extend(cpu_ms_per_mb(cpu0, cpu1, t));
                        }
                        consumed[i].push(c.map_err(|e| format!("{e:#}")));
                    }
                    if let Err(e) = client::delete_topic(&s.target, &topic) {
                        eprintln!("  {}: delete {topic}: {e:#}", s.results.name);
                    }
                }
                Err(e) => produced[i].push(Err(format!("{e:#}"))),
            }
        });
        for (i, s) in subjects.iter_mut().enumerate() {
            let label = spec.label();
            if let Some(c) = median_f64(std::mem::take(&mut produce_cpu[i])) {
                s.results.cpu_ms_per_mb.insert(format!("produce {label}"), c);
            }
            if headline {
                s.results.consume.insert(spec.partitions, report::median(std::mem::take(&mut consumed[i])));
                if let Some(c) = median_f64(std::mem::take(&mut consume_cpu[i])) {
                    s.results.cpu_ms_per_mb.insert(format!("consume {}", spec.partitions), c);
                }
            }
            s.results.produce.push((label, report::median(std::mem::take(&mut produced[i]))));
        }
        if !mock_runs.is_empty() {
            match report::median(mock_runs) {
                Ok(t) => {
                    ceilings.insert(spec.partitions, t);
                }
                Err(e) => eprintln!("  mock cluster produce: {e}"),
            }
        }
    }
    if !want("produce") && want("consume") {
        // Catch-up reads alone (for profiling the fetch path): fill, then read.
        for i in 0..n {
            activate(subjects, i);
            let s = &mut subjects[i];
            for partitions in [1, 16] {
                let spec = ProduceSpec {
                    record_size: 1024,
                    partitions,
                    acks: "1",
                    compression: "none",
                    records: scale.kib_records,
                };
                let filled = workloads::produce(&s.target, &spec);
                if let Ok((topic, _)) = &filled {
                    eprintln!("  filled {topic}; consuming in 2 s");
                    std::thread::sleep(std::time::Duration::from_secs(2));
                    let c = workloads::consume(&s.target, topic, partitions, spec.records);
                    eprintln!("  consume {partitions} partition(s): {}", report::show(&c));
                    s.results.consume.insert(partitions, c.map_err(|e| e.to_string()));
                }
            }
        }
    }
    type ScaleRun = fn(&Target, u64) -> Result<(String, Throughput)>;
    let scale_workloads: [(&str, &str, ScaleRun); 2] = [
        ("partitions", "1,000 partitions", |t, r| workloads::many_partitions(t, 1000, r)),
        ("producers", "100 producer connections", |t, r| workloads::many_producers(t, 100, r)),
    ];
    for (_, label, run) in scale_workloads.iter().filter(|w| want(w.0)) {
        // Rotated and repeated as the headline rows are: a run lasts under a second,
        // and single runs of one broker ranged 58-522 MB/s in one sitting.
        let mut runs: Vec<Vec<Result<Throughput, String>>> = vec![Vec::new(); n];
        let mut peak: Vec<Option<f64>> = vec![None; n];
        rotate(n, scale.headline_repeats, |i| {
            activate(subjects, i);
            let s = &subjects[i];
            settle();
            if let Some(b) = s.broker {
                b.reset_peak();
            }
            let r = run(&s.target, scale.scale_records);
            let mem = s.broker.map(|b| b.memory_mib().0);
            peak[i] = match (peak[i], mem) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            // Deleted at once: every broker of the rotation keeps its logs (and each
            // Weir partition's preallocated indexes) on the same disk.
            let r = r.map(|(topic, t)| {
                if let Err(e) = client::delete_topic(&s.target, &topic) {
                    eprintln!("  {}: delete {topic}: {e:#}", s.results.name);
                }
                t
            });
            eprintln!("  {}: {label}: {} peak RSS {mem:?} MiB", s.results.name, report::show(&r));
            runs[i].push(r.map_err(|e| format!("{e:#}")));
        });
        for (s, (r, mem)) in subjects.iter_mut().zip(runs.into_iter().zip(peak)) {
            s.results.scale.push((label.to_string(), report::median(r), mem));
        }
    }
    if want("eos") {
        for i in 0..n {
            activate(subjects, i);
            exactly_once_rows(&mut subjects[i], scale);
        }
    }
    if want("recompress") {
        for i in 0..n {
            activate(subjects, i);
            recompression_rows(&mut subjects[i], scale);
        }
    }
    ceilings
}

/// Broker-side recompression: an uncompressed producer (1 KiB, 16 partitions,
/// acks=-1) to a topic that keeps the producer's codec and to one with
/// `compression.type=zstd`, alternated. Only the zstd row makes the broker
/// decode and re-encode every batch.
fn recompression_rows(s: &mut Subject<'_>, scale: &Scale) {
    use report::{RECOMPRESS_NONE, RECOMPRESS_ZSTD};
    let spec =
        ProduceSpec { record_size: 1024, partitions: 16, acks: "-1", compression: "none", records: scale.kib_records };
    let (mut kept, mut zstd) = (vec![], vec![]);
    for _ in 0..scale.repeats {
        for (configs, runs) in [(&[][..], &mut kept), (&[("compression.type", "zstd")][..], &mut zstd)] {
            settle();
            let r = workloads::produce_with_topic_config(&s.target, &spec, configs);
            if let Ok((topic, _)) = &r {
                let _ = client::delete_topic(&s.target, topic);
            }
            runs.push(r.map(|(_, t)| t).map_err(|e| format!("{e:#}")));
        }
    }
    for (name, runs) in [(RECOMPRESS_NONE, kept), (RECOMPRESS_ZSTD, zstd)] {
        let r = report::median(runs);
        eprintln!("  {}: {name}: {}", s.results.name, report::show(&r));
        s.results.recompress.push((name.to_string(), r));
    }
}

/// The exactly-once rows of one broker: idempotent and transactional produce
/// alternated, then the last transactional topic read with each isolation level.
fn exactly_once_rows(s: &mut Subject<'_>, scale: &Scale) {
    use report::{EOS_COMMITTED, EOS_IDEMPOTENT, EOS_TXN, EOS_UNCOMMITTED};
    let records = scale.kib_records;
    let (mut idem, mut txn, mut unc, mut com) = (vec![], vec![], vec![], vec![]);
    for _ in 0..scale.repeats {
        settle();
        let r = workloads::produce_idempotent(&s.target, 16, records);
        if let Ok((topic, _)) = &r {
            let _ = client::delete_topic(&s.target, topic);
        }
        idem.push(r.map(|(_, t)| t).map_err(|e| format!("{e:#}")));
        settle();
        let r = workloads::produce_transactional(&s.target, 16, records, std::time::Duration::from_millis(100));
        if let Ok((topic, _)) = &r {
            unc.push(
                workloads::consume_isolated(&s.target, topic, 16, records, "read_uncommitted")
                    .map_err(|e| format!("{e:#}")),
            );
            com.push(
                workloads::consume_isolated(&s.target, topic, 16, records, "read_committed")
                    .map_err(|e| format!("{e:#}")),
            );
            let _ = client::delete_topic(&s.target, topic);
        }
        txn.push(r.map(|(_, t)| t).map_err(|e| format!("{e:#}")));
    }
    for (name, runs) in [(EOS_IDEMPOTENT, idem), (EOS_TXN, txn), (EOS_UNCOMMITTED, unc), (EOS_COMMITTED, com)] {
        let r = report::median(runs);
        eprintln!("  {}: {name}: {}", s.results.name, report::show(&r));
        s.results.eos.push((name.to_string(), r));
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

pub fn suite(
    weir: PathBuf,
    weir_baseline: Option<PathBuf>,
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
    limits::measure(&mut report.limits, root.path(), quick);

    let mut kinds = vec![
        Kind::Weir { bin: weir.clone(), durable: false, baseline: false },
        Kind::Weir { bin: weir, durable: true, baseline: false },
    ];
    if let Some(bin) = weir_baseline {
        kinds.push(Kind::Weir { bin: bin.clone(), durable: false, baseline: true });
        kinds.push(Kind::Weir { bin, durable: true, baseline: true });
    }
    if let Some(bin) = tansu {
        kinds.push(Kind::Tansu { bin });
    }
    if let Some(bin) = noida {
        kinds.push(Kind::Noida { bin });
    }
    let started: Vec<(Kind, Result<Running>)> = kinds
        .into_iter()
        .map(|k| {
            let r = Running::start(&k, root.path());
            if let Err(e) = &r {
                eprintln!("{}: could not start: {e:#}", k.name());
            }
            (k, r)
        })
        .collect();
    let mut subjects: Vec<Subject<'_>> = started
        .iter()
        .filter_map(|(k, r)| r.as_ref().ok().map(|b| (k, b)))
        .map(|(k, b)| Subject {
            target: Target::Bootstrap(b.addr.clone()),
            broker: Some(b),
            results: BrokerResults::new(k),
        })
        .collect();
    eprintln!("brokers: {}", subjects.iter().map(|s| s.results.name.as_str()).collect::<Vec<_>>().join(", "));
    // The client's ceiling: librdkafka's mock cluster, measured in the same rotation
    // as the brokers. No consume ceiling: a mock partition keeps only its last 5 MiB
    // (librdkafka's rdkafka_mock.c), so a catch-up read from the first record finds
    // the log start moved past it.
    let mock = match pinned_mock() {
        Ok(m) => Some(Target::Mock(std::sync::Arc::new(m))),
        Err(e) => {
            eprintln!("  mock cluster: {e:#}");
            None
        }
    };
    report.limits.mock_produce = run_workloads(&mut subjects, &scale, None, mock.as_ref());
    if let Some(i) = subjects.iter().position(|s| s.results.page_cache_weir) {
        activate(&subjects, i);
        let s = &subjects[i];
        match memory_growth(&s.target, s.broker.expect("started"), &scale) {
            Ok(m) => report.memory = m,
            Err(e) => eprintln!("  memory: {e}"),
        }
    }
    let mut results: BTreeMap<String, BrokerResults> =
        subjects.into_iter().map(|s| (s.results.name.clone(), s.results)).collect();
    for (kind, running) in started {
        let r = match running {
            Ok(b) => {
                if let Err(e) = b.stop() {
                    eprintln!("  {}: stop: {e}", kind.name());
                }
                results.remove(&kind.name()).expect("results of a started broker")
            }
            Err(e) => {
                let mut r = BrokerResults::new(&kind);
                r.start_error = Some(format!("{e:#}"));
                r
            }
        };
        report.brokers.push(r);
    }
    let md = report.markdown();
    println!("{md}");
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&report.json())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_repetition_starts_one_broker_further_and_runs_every_broker_once() {
        let mut order = Vec::new();
        rotate(3, 3, |i| order.push(i));
        assert_eq!(order, [0, 1, 2, 1, 2, 0, 2, 0, 1]);
    }

    fn lat(p99: f64) -> Latency {
        Latency {
            rate_mb: 50.0,
            samples: 1,
            p50_ms: 1.0,
            p99_ms: p99,
            p999_ms: p99,
            max_ms: p99,
            slow_windows: Vec::new(),
            steal: None,
            pauses: Default::default(),
        }
    }

    #[test]
    fn the_reported_latency_run_is_the_one_with_the_median_p99_and_a_failed_run_fails_it() {
        let m = median_latency(vec![Ok(lat(9.0)), Ok(lat(2.0)), Ok(lat(4.0))]).unwrap();
        assert_eq!(m.p99_ms, 4.0);
        assert!(median_latency(vec![Ok(lat(2.0)), Err("lost records".into())]).is_err());
        assert!(median_latency(vec![]).is_err());
    }

    #[test]
    fn cpu_per_mb_needs_both_readings() {
        let t = Throughput { records: 1000, bytes: 2_000_000, secs: 1.0 };
        assert_eq!(cpu_ms_per_mb(Some(1.0), Some(1.5), &t), Some(250.0));
        assert_eq!(cpu_ms_per_mb(None, Some(1.5), &t), None);
    }
}
