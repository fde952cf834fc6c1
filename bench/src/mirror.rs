//! `weir-bench mirror`: the replicator's rows, measured side by side with the
//! plain reads they are compared to, in one run.
//!
//! Two Weir brokers A and B (pinned to CPU 0, as in the suite) and `weir mirror`
//! between them. Each repetition fills a new 16-partition topic on A with 1 KiB
//! records, reads it once with a plain consumer (the rate the mirror is held
//! to), then starts the mirror on it and times the copy from its ready line
//! (topics found and created) to the last record on B (B's high watermarks,
//! polled), and checks the mirror's own
//! count (`weir_mirror_records_total`, scraped from `--metrics-addr`), once in
//! copy mode (records produced anew, as MM2) and once in preserve mode (batches
//! kept as they are, at their offsets). Then the end-to-end latency at 20 MB/s:
//! the suite's latency workload produced to A and read from A, and produced to A
//! and read from B's copy while the mirror runs, in each mode; the difference is
//! what replication adds.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::brokers::{Kind, Running};
use crate::client::{self, Target};
use crate::workloads::{self, Latency, ProduceSpec, Throughput};

const PARTITIONS: i32 = 16;

struct MirrorProcess {
    child: Child,
    metrics: String,
}

impl MirrorProcess {
    fn start(weir: &Path, config: &Path) -> Result<MirrorProcess> {
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string();
        let mut child = Command::new(weir)
            .args(["mirror", "--config"])
            .arg(config)
            .args(["--metrics-addr", &metrics])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start weir mirror")?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut m = MirrorProcess { child, metrics };
        match lines.next() {
            Some(Ok(l)) if l.starts_with("weir mirror ready") => {}
            other => {
                let _ = m.child.kill();
                bail!("weir mirror did not start: {other:?}");
            }
        }
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Ok(m)
    }

    /// Records the flow has had acknowledged by the target, over all partitions.
    fn records(&self) -> Result<u64> {
        let mut s = std::net::TcpStream::connect(&self.metrics)?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n", self.metrics)?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with("weir_mirror_records_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64)
    }

    fn stop(mut self) -> Result<()> {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait()?;
        if !status.success() {
            bail!("weir mirror exited with {status}");
        }
        Ok(())
    }
}

impl Drop for MirrorProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn mm2_file(dir: &Path, a: &str, b: &str, topic: &str, mode: &str) -> Result<PathBuf> {
    let path = dir.join(format!("{topic}-{mode}.properties"));
    std::fs::write(
        &path,
        format!(
            "clusters = A, B\nA.bootstrap.servers = {a}\nB.bootstrap.servers = {b}\nA->B.enabled = true\n\
             A->B.topics = {topic}\nreplication.factor = 1\noffset-syncs.topic.replication.factor = 1\n\
             heartbeats.topic.replication.factor = 1\ncheckpoints.topic.replication.factor = 1\n\
             A->B.mirror.mode = {mode}\n"
        ),
    )?;
    Ok(path)
}

/// CPU seconds of the mirror, A and B during a copy.
#[derive(Clone, Copy, Default)]
struct CopyCpu {
    mirror: f64,
    a: f64,
    b: f64,
}

/// Starts the mirror on `topic` and times the copy of `records` records.
fn timed_copy(
    weir: &Path,
    dir: &Path,
    (a, b): (&Running, &Running),
    topic: &str,
    records: u64,
    mode: &str,
) -> Result<(Throughput, CopyCpu)> {
    let config = mm2_file(dir, &a.addr, &b.addr, topic, mode)?;
    let m = MirrorProcess::start(weir, &config)?;
    // From the ready line (topics found and created): the copy starts there.
    // (Timing from the first record seen on B was fragile: until the remote
    // topic is known to librdkafka, a watermark query may wait, and a late
    // first sighting made a copy look several times faster than it was.)
    let started = Instant::now();
    let cpu = |m: &MirrorProcess| CopyCpu {
        mirror: crate::host::process_cpu_secs(m.child.id() as i32).unwrap_or(0.0),
        a: a.cpu_secs(),
        b: b.cpu_secs(),
    };
    let before = cpu(&m);
    let remote = format!("A.{topic}");
    let watch: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &b.addr)
        .set("group.id", "weir-bench-mirror-watch")
        .create()?;
    // Records on B: the sum of its partitions' high watermarks (the metrics are
    // published once a second, too coarse for a copy of a second or two).
    let on_b = || -> u64 {
        use rdkafka::consumer::Consumer;
        (0..PARTITIONS)
            .map(|p| {
                watch.fetch_watermarks(&remote, p, Duration::from_secs(5)).map_or(0, |(_, high)| high.max(0) as u64)
            })
            .sum()
    };
    let mut last_progress = (Instant::now(), 0);
    loop {
        let n = on_b();
        if n >= records {
            break;
        }
        if n > last_progress.1 {
            last_progress = (Instant::now(), n);
        } else if last_progress.0.elapsed() > Duration::from_secs(30) {
            bail!("the mirror copied {n} of {records}, then nothing for 30 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let secs = started.elapsed().as_secs_f64();
    let after = cpu(&m);
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.records()? != records {
        if Instant::now() > deadline {
            bail!("the mirror's weir_mirror_records_total did not reach {records}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    m.stop()?;
    let used = CopyCpu { mirror: after.mirror - before.mirror, a: after.a - before.a, b: after.b - before.b };
    Ok((Throughput { records, bytes: records * 1024, secs }, used))
}

fn show(l: &Latency) -> String {
    format!("p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms", l.p50_ms, l.p99_ms, l.max_ms)
}

pub fn run(weir: PathBuf, records: u64, repeats: usize, latency_secs: f64) -> Result<()> {
    let root = tempfile::tempdir()?;
    let kind = Kind::Weir { bin: weir.clone(), durable: false, baseline: false };
    let (a, b) = (Running::start(&kind, root.path())?, Running::start(&kind, root.path())?);
    let (ta, tb) = (Target::Bootstrap(a.addr.clone()), Target::Bootstrap(b.addr.clone()));
    let mut consumed = Vec::new();
    let mut mirrored = Vec::new();
    let mut preserved = Vec::new();
    // Each repetition's mirror rate over its own consume rate: the ratio is
    // measured side by side, the absolute rates drift with the machine.
    let mut ratios: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..repeats {
        let spec = ProduceSpec { record_size: 1024, partitions: PARTITIONS, acks: "1", compression: "none", records };
        let (topic, _) = workloads::produce(&ta, &spec)?;
        let c = workloads::consume(&ta, &topic, PARTITIONS, records)?;
        consumed.push(c.mb_per_sec());
        for (i, (mode, rates)) in [("copy", &mut mirrored), ("preserve", &mut preserved)].into_iter().enumerate() {
            let (m, cpu) = timed_copy(&weir, root.path(), (&a, &b), &topic, records, mode)?;
            println!(
                "repeat: consume {:.0} MB/s, mirror ({mode}) {:.0} MB/s ({:.0} %) in {:.2} s; CPU s: mirror {:.2}, A {:.2}, B {:.2}",
                c.mb_per_sec(),
                m.mb_per_sec(),
                100.0 * m.mb_per_sec() / c.mb_per_sec(),
                m.secs,
                cpu.mirror,
                cpu.a,
                cpu.b
            );
            rates.push(m.mb_per_sec());
            ratios[i].push(100.0 * m.mb_per_sec() / c.mb_per_sec());
            client::delete_topic(&tb, &format!("A.{topic}"))?;
        }
        client::delete_topic(&ta, &topic)?;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (c, m, p) = (median(&mut consumed), median(&mut mirrored), median(&mut preserved));
    let [mut rc, mut rp] = ratios;
    let (rc, rp) = (median(&mut rc), median(&mut rp));

    // Latency at 20 MB/s: A to A, then A to B through the mirror in each mode.
    let plain = workloads::latency(&ta, 20.0, latency_secs)?;
    let mut through = Vec::new();
    for mode in ["copy", "preserve"] {
        let topic = workloads::unique_topic("bench-mirror-latency");
        client::create_topic(&ta, &topic, 1)?;
        let config = mm2_file(root.path(), &a.addr, &b.addr, &topic, mode)?;
        let mirror = MirrorProcess::start(&weir, &config)?;
        let remote = format!("A.{topic}");
        client::wait_for_topic(&tb, &remote, 1)?;
        through.push(workloads::latency_path(&ta, &topic, &tb, &remote, 20.0, latency_secs)?);
        mirror.stop()?;
    }
    println!();
    println!(
        "| mirror A->B, 1 KiB records, {PARTITIONS} partitions, {records} records, median of {repeats} | figure |"
    );
    println!("|---|---|");
    println!("| plain consume of A (the bar) | {c:.0} MB/s |");
    println!("| mirror A->B, copy mode (ready line to last record on B) | {m:.0} MB/s; {rc:.0} % of consume |");
    println!("| mirror A->B, preserve mode | {p:.0} MB/s; {rp:.0} % of consume |");
    println!("(percentages: the median of each repetition's mirror rate over its own consume rate)");
    println!("| latency at 20 MB/s, produce to A, consume from A | {} |", show(&plain));
    println!("| latency at 20 MB/s, through the mirror, copy mode | {} |", show(&through[0]));
    println!("| latency at 20 MB/s, through the mirror, preserve mode | {} |", show(&through[1]));
    a.stop()?;
    b.stop()?;
    Ok(())
}
