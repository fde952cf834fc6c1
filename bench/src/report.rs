//! The report: one markdown document with the limits, every figure for every
//! broker, the ratio Weir / best peer, and the targets checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::brokers::Kind;
use crate::workloads::{Latency, Throughput};

pub fn show<E: std::fmt::Display>(r: &Result<Throughput, E>) -> String {
    match r {
        Ok(t) => format!("{:.1} MB/s ({:.0} records/s, {:.2} s)", t.mb_per_sec(), t.records_per_sec(), t.secs),
        Err(e) => format!("failed: {e}"),
    }
}

/// Each run's figure to `digits` places, as the standalone rows print them:
/// `1.23 / 1.19 / 1.30`.
pub fn each_run<T>(runs: &[T], digits: usize, f: impl Fn(&T) -> f64) -> String {
    runs.iter().map(|r| format!("{:.*}", digits, f(r))).collect::<Vec<_>>().join(" / ")
}

/// The median run by throughput; the first error if any run failed.
pub fn median(runs: Vec<Result<Throughput, String>>) -> Result<Throughput, String> {
    median_by(runs, Throughput::mb_per_sec)
}

/// The run with the median `key`; the first error if any run failed.
pub fn median_by<T>(runs: Vec<Result<T, String>>, key: impl Fn(&T) -> f64) -> Result<T, String> {
    let mut ok = Vec::with_capacity(runs.len());
    for r in runs {
        ok.push(r?);
    }
    if ok.is_empty() {
        return Err("no runs".into());
    }
    ok.sort_by(|a, b| key(a).total_cmp(&key(b)));
    Ok(ok.swap_remove(ok.len() / 2))
}

#[derive(Debug, Default)]
pub struct Limits {
    pub loopback_mb: Option<f64>,
    pub fdatasync_mb: Option<f64>,
    pub fdatasync_small_mb: Option<f64>,
    /// Buffered writes into new page-cache pages, and into pages already cached.
    pub page_cache_new_mb: Option<f64>,
    pub page_cache_cached_mb: Option<f64>,
    /// Milliseconds of CPU per MB of only receiving 1 MiB frames over loopback and
    /// writing them into a new file: without, and with, writeback started per MiB.
    pub receive_write_ms: Option<f64>,
    pub receive_write_writeback_ms: Option<f64>,
    /// partitions -> produce 1 KiB acks=-1 against the mock cluster.
    pub mock_produce: BTreeMap<i32, Throughput>,
}

pub const EOS_IDEMPOTENT: &str = "idempotent produce";
pub const EOS_TXN: &str = "transactional produce, commit every 100 ms";
pub const EOS_UNCOMMITTED: &str = "consume read_uncommitted";
pub const EOS_COMMITTED: &str = "consume read_committed";
pub const RECOMPRESS_NONE: &str = "uncompressed producer, topic compression.type=producer";
pub const RECOMPRESS_ZSTD: &str = "uncompressed producer, topic compression.type=zstd (broker recompresses)";

pub struct BrokerResults {
    pub name: String,
    pub settings: String,
    pub is_weir: bool,
    /// Another Weir build beside this one: neither Weir nor a peer in the targets.
    pub baseline: bool,
    pub page_cache_weir: bool,
    pub start_error: Option<String>,
    /// In workload order: label -> result.
    pub produce: Vec<(String, Result<Throughput, String>)>,
    pub consume: BTreeMap<i32, Result<Throughput, String>>,
    pub latency: Vec<(f64, Result<Latency, String>)>,
    /// (workload, result, peak resident MiB)
    pub scale: Vec<(String, Result<Throughput, String>, Option<f64>)>,
    /// Exactly-once rows (idempotent and transactional produce, consume by
    /// isolation level): (workload, result).
    pub eos: Vec<(String, Result<Throughput, String>)>,
    /// Broker-side recompression rows: (workload, result).
    pub recompress: Vec<(String, Result<Throughput, String>)>,
    /// "produce <label>" / "consume <partitions>" -> median broker CPU ms per MB.
    pub cpu_ms_per_mb: BTreeMap<String, f64>,
}

impl BrokerResults {
    pub fn new(kind: &Kind) -> BrokerResults {
        BrokerResults {
            name: kind.name(),
            settings: kind.settings(),
            is_weir: kind.is_weir(),
            baseline: kind.is_baseline(),
            page_cache_weir: matches!(kind, Kind::Weir { durable: false, baseline: false, .. }),
            start_error: None,
            produce: Vec::new(),
            consume: BTreeMap::new(),
            latency: Vec::new(),
            scale: Vec::new(),
            eos: Vec::new(),
            recompress: Vec::new(),
            cpu_ms_per_mb: BTreeMap::new(),
        }
    }

    pub fn external(bootstrap: &str) -> BrokerResults {
        BrokerResults {
            name: bootstrap.to_string(),
            settings: "external".into(),
            is_weir: false,
            baseline: false,
            page_cache_weir: false,
            start_error: None,
            produce: Vec::new(),
            consume: BTreeMap::new(),
            latency: Vec::new(),
            scale: Vec::new(),
            eos: Vec::new(),
            recompress: Vec::new(),
            cpu_ms_per_mb: BTreeMap::new(),
        }
    }

    fn produce_mb(&self, label: &str) -> Option<f64> {
        self.produce.iter().find(|(l, _)| l == label).and_then(|(_, r)| r.as_ref().ok()).map(Throughput::mb_per_sec)
    }

    fn latency_at(&self, rate: f64) -> Option<&Latency> {
        self.latency.iter().find(|(r, _)| *r == rate).and_then(|(_, l)| l.as_ref().ok())
    }

    pub fn json(&self) -> Value {
        let t = |r: &Result<Throughput, String>| match r {
            Ok(t) => json!({"mb_per_sec": t.mb_per_sec(), "records_per_sec": t.records_per_sec(), "secs": t.secs}),
            Err(e) => json!({"error": e}),
        };
        json!({
            "broker": self.name,
            "settings": self.settings,
            "start_error": self.start_error,
            "produce": self.produce.iter().map(|(l, r)| json!({"workload": l, "result": t(r)})).collect::<Vec<_>>(),
            "consume": self.consume.iter().map(|(p, r)| json!({"partitions": p, "result": t(r)})).collect::<Vec<_>>(),
            "latency": self.latency.iter().map(|(rate, r)| match r {
                Ok(l) => json!({"rate_mb": rate, "result": l}),
                Err(e) => json!({"rate_mb": rate, "error": e}),
            }).collect::<Vec<_>>(),
            "scale": self.scale.iter().map(|(w, r, m)| json!({"workload": w, "result": t(r), "peak_rss_mib": m})).collect::<Vec<_>>(),
            "exactly_once": self.eos.iter().map(|(w, r)| json!({"workload": w, "result": t(r)})).collect::<Vec<_>>(),
            "recompression": self.recompress.iter().map(|(w, r)| json!({"workload": w, "result": t(r)})).collect::<Vec<_>>(),
            "broker_cpu_ms_per_mb": self.cpu_ms_per_mb,
        })
    }
}

pub struct Report {
    pub limits: Limits,
    pub brokers: Vec<BrokerResults>,
    /// (GB stored, RSS MiB, anonymous MiB) of page-cache Weir.
    pub memory: Vec<(u64, f64, f64)>,
    pinned: bool,
    data_dir: PathBuf,
    quick: bool,
}

fn cell(r: Option<&Result<Throughput, String>>) -> String {
    match r {
        Some(Ok(t)) => format!("{:.0} ({:.0}k/s)", t.mb_per_sec(), t.records_per_sec() / 1000.0),
        Some(Err(_)) => "failed".into(),
        None => "–".into(),
    }
}

/// The host's share in a latency run: steal on the broker's / client's CPU, and
/// pauses of the whole machine.
fn host_note(l: &Latency) -> String {
    let mut parts = Vec::new();
    if let Some(s) = l.steal {
        parts.push(format!("steal {:.0} / {:.0} %", s.broker_cpu_pct, s.client_cpu_pct));
    }
    parts.push(format!("paused {}x, {:.0} ms", l.pauses.count, l.pauses.total_ms));
    format!(" ({})", parts.join("; "))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "–".into(),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{} CPUs ({cpu}), {:.0} GiB RAM, Linux {}", crate::brokers::cpus(), mem as f64 / 1048576.0, kernel.trim())
}

fn filesystem(dir: &Path) -> String {
    // The mount whose path is the longest prefix of dir.
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && dir.starts_with(f[1])).then(|| (f[1].len(), format!("{} on {} ({})", f[0], f[1], f[2])))
        })
        .max()
        .map(|(_, s)| s)
        .unwrap_or_default()
}

impl Report {
    pub fn new(pinned: bool, data_dir: &Path, quick: bool) -> Report {
        Report {
            limits: Limits::default(),
            brokers: Vec::new(),
            memory: Vec::new(),
            pinned,
            data_dir: data_dir.into(),
            quick,
        }
    }

    fn weir(&self) -> Option<&BrokerResults> {
        self.brokers.iter().find(|b| b.page_cache_weir)
    }

    fn durable(&self) -> Option<&BrokerResults> {
        self.brokers.iter().find(|b| b.is_weir && !b.page_cache_weir)
    }

    fn peers(&self) -> impl Iterator<Item = &BrokerResults> {
        self.brokers.iter().filter(|b| !b.is_weir && !b.baseline)
    }

    fn best_peer(&self, f: impl Fn(&BrokerResults) -> Option<f64>) -> Option<f64> {
        self.peers().filter_map(f).fold(None, |m, v| Some(m.map_or(v, |m: f64| m.max(v))))
    }

    pub fn json(&self) -> Value {
        json!({
            "limits": {
                "loopback_tcp_mb": self.limits.loopback_mb,
                "fdatasync_1mib_mb": self.limits.fdatasync_mb,
                "fdatasync_64kib_mb": self.limits.fdatasync_small_mb,
                "page_cache_write_new_mb": self.limits.page_cache_new_mb,
                "page_cache_write_cached_mb": self.limits.page_cache_cached_mb,
                "receive_write_cpu_ms_per_mb": self.limits.receive_write_ms,
                "receive_write_writeback_cpu_ms_per_mb": self.limits.receive_write_writeback_ms,
                "mock_produce_mb": self.limits.mock_produce.iter().map(|(p, t)| (p.to_string(), t.mb_per_sec())).collect::<BTreeMap<_, _>>(),
            },
            "brokers": self.brokers.iter().map(BrokerResults::json).collect::<Vec<_>>(),
            "memory": self.memory.iter().map(|(g, r, a)| json!({"gb": g, "rss_mib": r, "anon_mib": a})).collect::<Vec<_>>(),
        })
    }

    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let l = &self.limits;
        let names: Vec<&str> = self.brokers.iter().map(|b| b.name.as_str()).collect();
        o += "# Benchmark report\n\n";
        o += &format!("- machine: {}\n", machine());
        o += &format!("- data directories: {}\n", filesystem(&self.data_dir));
        o += &format!(
            "- pinning: {}\n",
            if self.pinned { "broker on CPU 0, client (weir-bench, librdkafka) on CPU 1" } else { "none (one CPU)" }
        );
        o += &format!(
            "- client: librdkafka {} through the rdkafka crate, the same settings for every broker\n",
            rdkafka::util::get_rdkafka_version().1
        );
        if self.quick {
            o += "- **quick run**: small record counts, short latency runs\n";
        }
        o += "\nBrokers and their settings:\n\n";
        for b in &self.brokers {
            o += &format!(
                "- {}: {}{}\n",
                b.name,
                b.settings,
                b.start_error.as_ref().map(|e| format!(" — **did not start**: {e}")).unwrap_or_default()
            );
        }

        o += "\n## Limits of this machine and client\n\n| limit | MB/s |\n| --- | --- |\n";
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.0}"));
        o += &format!("| loopback TCP, one connection between two processes | {} |\n", f(l.loopback_mb));
        o += &format!("| sequential write + fdatasync, 1 MiB per sync | {} |\n", f(l.fdatasync_mb));
        o += &format!("| sequential write + fdatasync, 64 KiB per sync | {} |\n", f(l.fdatasync_small_mb));
        o += &format!(
            "| buffered 1 MiB writes into a new file, no sync (page allocation + copy; measured once, before the brokers) | {} |\n",
            f(l.page_cache_new_mb)
        );
        o += &format!("| buffered 1 MiB writes into pages already cached | {} |\n", f(l.page_cache_cached_mb));
        for (p, t) in &l.mock_produce {
            o += &format!(
                "| client ceiling: produce 1 KiB acks=-1 to librdkafka's mock cluster, {p} partition(s) (in the brokers' rotation) | {:.0} |\n",
                t.mb_per_sec()
            );
        }

        o += "\n## Produce throughput\n\nMB/s (records/s). Ratio: page-cache Weir / best peer.\n\n";
        o += &format!(
            "| workload | {} | weir / best peer |\n|{}\n",
            names.join(" | "),
            " --- |".repeat(names.len() + 2)
        );
        let labels: Vec<String> =
            self.weir().map(|w| w.produce.iter().map(|(l, _)| l.clone()).collect()).unwrap_or_default();
        for label in &labels {
            let cells: Vec<String> =
                self.brokers.iter().map(|b| cell(b.produce.iter().find(|(x, _)| x == label).map(|(_, r)| r))).collect();
            let w = self.weir().and_then(|w| w.produce_mb(label));
            o += &format!(
                "| {label} | {} | {} |\n",
                cells.join(" | "),
                ratio(w, self.best_peer(|b| b.produce_mb(label)))
            );
        }

        o += "\n## Catch-up consume (1 KiB records, pre-filled topic, from the first record)\n\n";
        o += &format!(
            "| partitions | {} | weir / best peer |\n|{}\n",
            names.join(" | "),
            " --- |".repeat(names.len() + 2)
        );
        for p in [1, 16] {
            let cells: Vec<String> = self.brokers.iter().map(|b| cell(b.consume.get(&p))).collect();
            let get = |b: &BrokerResults| b.consume.get(&p).and_then(|r| r.as_ref().ok()).map(Throughput::mb_per_sec);
            let w = self.weir().and_then(get);
            o += &format!("| {p} | {} | {} |\n", cells.join(" | "), ratio(w, self.best_peer(get)));
        }

        o += "\n## End-to-end latency (1 KiB, acks=-1, one partition, from the intended send time)\n\n";
        o += "p50 / p99 / p99.9 / max, ms; of several runs per broker, the one with the median p99. In brackets: \
              the share of the broker's CPU / the client's CPU that the hypervisor gave to others during that run \
              (steal, from /proc/stat), and the time the whole machine stood still (every CPU's probe thread \
              late at once by over 2 ms; count, total ms): both stall every broker alike and are the usual cause \
              of a slow row.\n\n";
        o += &format!("| rate | {} |\n|{}\n", names.join(" | "), " --- |".repeat(names.len() + 1));
        for rate in [20.0, 50.0] {
            let cells: Vec<String> = self
                .brokers
                .iter()
                .map(|b| match b.latency.iter().find(|(r, _)| *r == rate) {
                    Some((_, Ok(l))) => format!(
                        "{:.2} / {:.2} / {:.2} / {:.1}{}",
                        l.p50_ms,
                        l.p99_ms,
                        l.p999_ms,
                        l.max_ms,
                        host_note(l)
                    ),
                    Some((_, Err(_))) => "failed".into(),
                    None => "–".into(),
                })
                .collect();
            o += &format!("| {rate} MB/s | {} |\n", cells.join(" | "));
        }

        o += "\n## Scale (1 KiB, acks=-1)\n\nMB/s (records/s), median of the runs (rotated with the other brokers, as the headline rows); peak resident memory of the broker over them.\n\n";
        o += &format!("| workload | {} |\n|{}\n", names.join(" | "), " --- |".repeat(names.len() + 1));
        let scale_names: Vec<String> =
            self.brokers.first().map(|b| b.scale.iter().map(|s| s.0.clone()).collect()).unwrap_or_default();
        for w in &scale_names {
            let cells: Vec<String> = self
                .brokers
                .iter()
                .map(|b| match b.scale.iter().find(|s| &s.0 == w) {
                    Some((_, r, m)) => {
                        format!("{}, {}", cell(Some(r)), m.map_or("–".into(), |m| format!("{m:.0} MiB")))
                    }
                    None => "–".into(),
                })
                .collect();
            o += &format!("| {w} | {} |\n", cells.join(" | "));
        }

        o += "\n## Exactly-once (1 KiB, 16 partitions, acks=-1)\n\nMB/s (records/s), median of the runs: an idempotent producer, a transactional one committing every 100 ms, and the transactional topic read back with each isolation level.\n\n";
        o += &self.rows_table(&names, |b| &b.eos);
        o += "\n## Broker-side recompression (1 KiB, 16 partitions, acks=-1)\n\nMB/s (records/s), median of the runs, from an uncompressed producer.\n\n";
        o += &self.rows_table(&names, |b| &b.recompress);

        o += &self.cpu_table(&names, &labels);

        if !self.memory.is_empty() {
            o += "\n## Resident memory of Weir (page cache) while data is stored\n\n| stored | RSS MiB | anonymous MiB |\n| --- | --- | --- |\n";
            for (gb, rss, anon) in &self.memory {
                o += &format!("| {gb} GB | {rss:.0} | {anon:.0} |\n");
            }
        }

        o += &self.targets();
        o
    }

    /// Broker CPU per MB: a figure of the broker's own efficiency that does not
    /// depend on the client's ceiling (every produce workload here is client-bound
    /// for an efficient broker).
    /// A workload-by-broker table of named rows (the exactly-once and recompression
    /// groups), in the first broker's row order.
    #[allow(clippy::type_complexity)]
    fn rows_table(
        &self,
        names: &[&str],
        rows: impl Fn(&BrokerResults) -> &Vec<(String, Result<Throughput, String>)>,
    ) -> String {
        let mut o = format!("| workload | {} |\n|{}\n", names.join(" | "), " --- |".repeat(names.len() + 1));
        let workloads: Vec<String> =
            self.brokers.first().map(|b| rows(b).iter().map(|s| s.0.clone()).collect()).unwrap_or_default();
        for w in &workloads {
            let cells: Vec<String> =
                self.brokers.iter().map(|b| cell(rows(b).iter().find(|s| &s.0 == w).map(|s| &s.1))).collect();
            o += &format!("| {w} | {} |\n", cells.join(" | "));
        }
        o
    }

    fn cpu_table(&self, names: &[&str], labels: &[String]) -> String {
        let rows: Vec<String> = labels
            .iter()
            .filter(|l| l.starts_with("1024 B"))
            .map(|l| format!("produce {l}"))
            .chain([1, 16].iter().map(|p| format!("consume {p}")))
            .collect();
        if self.brokers.iter().all(|b| b.cpu_ms_per_mb.is_empty()) {
            return String::new();
        }
        let mut o = String::from(
            "\n## Broker CPU per MB\n\nMilliseconds of the broker's CPU time (user + system, all its \
             processes) per MB produced or consumed, median of the runs above; lower is better. Ratio: best \
             peer / page-cache Weir.\n\n",
        );
        o += &format!(
            "| workload | {} | best peer / weir |\n|{}\n",
            names.join(" | "),
            " --- |".repeat(names.len() + 2)
        );
        for row in rows {
            let get = |b: &BrokerResults| b.cpu_ms_per_mb.get(&row).copied();
            let cells: Vec<String> =
                self.brokers.iter().map(|b| get(b).map_or("–".into(), |v| format!("{v:.2}"))).collect();
            let best_peer =
                self.peers().filter_map(get).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
            o += &format!("| {row} | {} | {} |\n", cells.join(" | "), ratio(best_peer, self.weir().and_then(get)));
        }
        let l = &self.limits;
        if let (Some(plain), Some(wb)) = (l.receive_write_ms, l.receive_write_writeback_ms) {
            o += &format!(
                "\nThe floor on this machine, for any broker that keeps its log in files: a thread on the \
                 broker's CPU that only receives 1 MiB frames over loopback and writes each into a new file (no \
                 parsing, CRC, index or answer) spends {plain:.2} ms per MB, {wb:.2} with writeback of each MiB \
                 started as page-cache Weir starts it (the lowest of three runs each).\n"
            );
        }
        o
    }

    fn targets(&self) -> String {
        let mut o = String::from("\n## Targets\n\n| target | measured | met |\n| --- | --- | --- |\n");
        let mut row = |t: &str, m: String, ok: Option<bool>| {
            o += &format!("| {t} | {m} | {} |\n", ok.map_or("–", |b| if b { "yes" } else { "**no**" }));
        };
        for p in [1, 16] {
            let label = format!("1024 B, {p} part, acks=-1, none");
            let w = self.weir().and_then(|w| w.produce_mb(&label));
            let peer = self.best_peer(|b| b.produce_mb(&label));
            let r = w.zip(peer).map(|(w, p)| w / p);
            row(
                &format!("produce 1 KiB acks=-1, {p} partition(s), page cache: >= 1.3x best peer"),
                r.map_or("–".into(), |r| format!("{r:.2}x")),
                r.map(|r| r >= 1.3),
            );
            let mock = self.limits.mock_produce.get(&p).map(Throughput::mb_per_sec);
            let r = w.zip(mock).map(|(w, m)| w / m);
            row(
                "same, >= 70% of the client's mock-cluster ceiling",
                r.map_or("–".into(), |r| format!("{:.0}%", r * 100.0)),
                r.map(|r| r >= 0.7),
            );
            let r = w.zip(self.limits.page_cache_new_mb).map(|(w, m)| w / m);
            row(
                "same, as a share of buffered writes into a new file (no target)",
                r.map_or("–".into(), |r| format!("{:.0}%", r * 100.0)),
                None,
            );
            let d = self.durable().and_then(|d| d.produce_mb(&label));
            let r = d.zip(self.limits.fdatasync_mb).map(|(d, f)| d / f);
            row(
                &format!("produce 1 KiB acks=-1, {p} partition(s), durable: >= 60% of write+fdatasync (1 MiB)"),
                r.map_or("–".into(), |r| format!("{:.0}%", r * 100.0)),
                r.map(|r| r >= 0.6),
            );
            let get = |b: &BrokerResults| b.consume.get(&p).and_then(|r| r.as_ref().ok()).map(Throughput::mb_per_sec);
            let r = self.weir().and_then(get).zip(self.best_peer(get)).map(|(w, p)| w / p);
            row(
                &format!("catch-up consume, {p} partition(s): >= 2x best peer"),
                r.map_or("–".into(), |r| format!("{r:.2}x")),
                r.map(|r| r >= 2.0),
            );
        }
        for b in self.brokers.iter().filter(|b| b.is_weir) {
            let l = b.latency_at(50.0);
            row(
                &format!("{}: p99 at 50 MB/s <= 5 ms", b.name),
                l.map_or("–".into(), |l| format!("{:.2} ms", l.p99_ms)),
                l.map(|l| l.p99_ms <= 5.0),
            );
            row(
                &format!("{}: p99.9 at 50 MB/s <= 20 ms", b.name),
                l.map_or("–".into(), |l| format!("{:.2} ms", l.p999_ms)),
                l.map(|l| l.p999_ms <= 20.0),
            );
        }
        if let (Some(first), Some(last)) = (self.memory.first(), self.memory.last()) {
            let growth = last.1 - first.1;
            row(
                &format!("resident memory flat (within 64 MiB) from {} GB to {} GB stored", first.0, last.0),
                format!("{growth:+.0} MiB RSS ({:+.0} MiB anonymous)", last.2 - first.2),
                Some(growth <= 64.0),
            );
        }
        if let Some(w) = self.weir() {
            let mb = |name: &str| {
                w.eos.iter().find(|e| e.0 == name).and_then(|e| e.1.as_ref().ok()).map(Throughput::mb_per_sec)
            };
            let r = mb(EOS_TXN).zip(mb(EOS_IDEMPOTENT)).map(|(t, i)| t / i);
            row(
                "transactional produce (commit every 100 ms) >= 85% of idempotent, page cache",
                r.map_or("–".into(), |r| format!("{:.0}%", r * 100.0)),
                r.map(|r| r >= 0.85),
            );
            let r = mb(EOS_COMMITTED).zip(mb(EOS_UNCOMMITTED)).map(|(c, u)| c / u);
            row(
                "read_committed consume >= 90% of read_uncommitted, page cache",
                r.map_or("–".into(), |r| format!("{:.0}%", r * 100.0)),
                r.map(|r| r >= 0.90),
            );
        }
        o
    }
}
