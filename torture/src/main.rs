//! weir-torture: one weir process under a randomized workload, killed with
//! SIGKILL and frozen with SIGSTOP at random moments, then checked (see
//! `check.rs` for what is proved). `scripts/torture --minutes N` runs it;
//! docs/reliability.md reports the long runs.

mod check;
mod disk;
mod history;
mod node;
mod registry;
mod workload;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use rand::{Rng, SeedableRng};

use history::{History, TxnOutcome};
use node::Node;

#[derive(Parser)]
#[command(about = "Crash torture: a randomized workload against a weir that is killed and frozen, then a checker")]
struct Args {
    /// The weir binary [default: weir beside this program]
    #[arg(long)]
    weir: Option<PathBuf>,
    /// How long faults are injected.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Seed of the fault schedule [default: from the clock]; printed, so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
    /// Keep weir's log (printed at the end; the data directory is a tmpfs that
    /// ends with the run).
    #[arg(long)]
    keep: bool,
}

/// The run's disk, a tmpfs of its own (`disk.rs`). Without user namespaces the
/// run fails, unless WEIR_SKIP_NAMESPACE_TESTS=1 says to go on knowingly on the
/// machine's disk, without the disk-full fault.
fn own_disk(dir: &std::path::Path) -> Result<bool> {
    match disk::private_tmpfs(dir) {
        Ok(()) => Ok(true),
        Err(e) if std::env::var("WEIR_SKIP_NAMESPACE_TESTS").is_ok_and(|v| v == "1") => {
            println!("torture: no tmpfs of its own ({e}); the disk-full fault is SKIPPED (WEIR_SKIP_NAMESPACE_TESTS=1)");
            Ok(false)
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot make the run's tmpfs ({e}): user namespaces are needed; set WEIR_SKIP_NAMESPACE_TESTS=1 to run without the disk-full fault"
        )),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let weir = match args.weir {
        Some(w) => w,
        None => std::env::current_exe()?.with_file_name("weir"),
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    let dir = tempfile::Builder::new().prefix("weir-torture-").tempdir()?;
    let fs = dir.path().join("fs");
    std::fs::create_dir_all(&fs)?;
    // Before any thread exists (unshare(2) needs a single-threaded process).
    let tmpfs = own_disk(&fs)?;
    let mut node = Node::new(&weir, &fs.join("data"), &dir.path().join("weir.log"));
    node.start().context("the first start")?;
    println!(
        "torture: seed {seed}, {} s of faults, weir {} (data in {})",
        args.seconds,
        node.kafka(),
        dir.path().display()
    );
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let bootstrap = node.kafka().to_string();
    rt.block_on(workload::create_topics(&bootstrap))?;

    let history: workload::Shared = Arc::new(Mutex::new(History::default()));
    let commits: history::Commits = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for id in 0..4 {
        tasks.push(rt.spawn(workload::idempotent_producer(id, bootstrap.clone(), history.clone(), stop.clone())));
    }
    tasks.push(rt.spawn(workload::admin(bootstrap.clone(), history.clone(), stop.clone())));
    let mut threads = Vec::new();
    {
        let (b, h, s) = (bootstrap.clone(), history.clone(), stop.clone());
        threads.push(std::thread::spawn(move || workload::transactional_producer(b, h, s)));
    }
    for group in workload::GROUPS {
        let (b, h, c, s) = (bootstrap.clone(), history.clone(), commits.clone(), stop.clone());
        threads.push(std::thread::spawn(move || workload::consumer(group, b, h, c, s)));
    }
    {
        let (b, h, c, s) = (bootstrap.clone(), history.clone(), commits.clone(), stop.clone());
        threads.push(std::thread::spawn(move || workload::offset_sampler(b, h, c, s)));
    }
    {
        let (r, h, s) = (node.registry().to_string(), history.clone(), stop.clone());
        threads.push(std::thread::spawn(move || registry::register(r, h, s)));
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut kills, mut pauses, mut disk_fulls) = (0u32, 0u32, 0u32);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    // Once, between a third and two thirds of the way.
    let fill_at = started + Duration::from_secs(args.seconds) * rng.gen_range(33..67) / 100;
    let mut violations = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(rng.gen_range(500..4000)));
        if tmpfs && disk_fulls == 0 && Instant::now() >= fill_at {
            node.mark("disk filled");
            let size = disk::fill(&fs)?;
            std::thread::sleep(Duration::from_millis(rng.gen_range(2000..6000)));
            disk::free(&fs)?;
            node.mark("disk freed");
            disk_fulls += 1;
            println!("torture: the disk was full at {} MiB for a while", size >> 20);
        } else if rng.gen_bool(0.75) {
            node.kill();
            kills += 1;
            if let Err(e) = node.start() {
                violations.push(format!("weir did not restart after kill {kills}: {e:#}\n{}", node.log_tail()));
                break;
            }
        } else {
            node.pause();
            std::thread::sleep(Duration::from_millis(rng.gen_range(200..2500)));
            node.resume();
            pauses += 1;
        }
    }
    // Quiet time: the clients catch up with a broker that stays up.
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = rt.block_on(t);
    }
    for t in threads {
        let _ = t.join();
    }
    if let Err(e) = node.stop().and_then(|()| node.start()) {
        violations.push(format!("weir did not stop and start cleanly: {e:#}\n{}", node.log_tail()));
    }

    let h = std::mem::take(&mut *history.lock().unwrap_or_else(|p| p.into_inner()));
    violations.extend(h.violations.iter().cloned());
    let commits = std::mem::take(&mut *commits.lock().unwrap_or_else(|p| p.into_inner()));
    let counts = rt.block_on(check::check(node.kafka(), &h, &commits, &mut violations))?;
    registry::check(node.registry(), &h.schemas, &mut violations);
    node.stop()?;
    if tmpfs {
        disk::unmount(&fs);
    }

    let txn = |o: TxnOutcome| h.txns.iter().filter(|(_, x)| *x == o).count();
    println!(
        "torture: {:.0} s, {kills} kills, {pauses} stops, {disk_fulls} disk full, {} starts; {} records acknowledged ({} unacknowledged), \
         {} read back; transactions {} committed, {} aborted, {} unknown ({} records read committed); \
         {} offset commits ({} records consumed, {} partition commits below an earlier acknowledged one), {} committed-offset samples; {} schemas, {} topics, {} config changes ({} acknowledged)",
        started.elapsed().as_secs_f64(),
        node.starts,
        h.acked.len(),
        h.unacked,
        counts.records,
        txn(TxnOutcome::Committed),
        txn(TxnOutcome::Aborted),
        txn(TxnOutcome::Unknown),
        counts.txn_records,
        h.commit_count,
        h.consumed,
        h.commit_regressions,
        h.offset_samples,
        h.schemas.len(),
        h.topics.len(),
        h.configs.len(),
        h.configs.iter().filter(|(_, a)| *a).count(),
    );
    if args.keep {
        println!("torture: kept {}", dir.keep().display());
    }
    if violations.is_empty() {
        println!("torture: every check passed");
        Ok(())
    } else {
        for v in violations.iter().take(50) {
            println!("VIOLATION: {v}");
        }
        println!("torture: {} violations (seed {seed})", violations.len());
        std::process::exit(1);
    }
}
