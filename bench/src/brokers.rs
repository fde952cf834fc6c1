//! Starting the brokers under test, one at a time, on 127.0.0.1, pinned to CPU 0
//! (the client runs on CPU 1), in their own process group so that stopping one
//! stops everything it started; and reading their memory use from /proc.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

#[derive(Clone, Debug)]
pub enum Kind {
    /// `durable`: Weir's default (fdatasync before acks=-1 answers, group commit);
    /// otherwise Kafka's page-cache behaviour (`log.flush.interval.messages=MAX`).
    /// `baseline`: another build of Weir measured beside this one (before/after a
    /// change, in one run); it is neither Weir nor a peer in the targets.
    Weir { bin: PathBuf, durable: bool, baseline: bool },
    /// Tansu with its in-memory storage engine (`memory://`).
    Tansu { bin: PathBuf },
    /// noida-db's Kafka service.
    Noida { bin: PathBuf },
}

impl Kind {
    pub fn name(&self) -> String {
        match self {
            Kind::Weir { durable: false, baseline: false, .. } => "weir (page cache)".into(),
            Kind::Weir { durable: true, baseline: false, .. } => "weir (durable)".into(),
            Kind::Weir { durable: false, baseline: true, .. } => "weir baseline (page cache)".into(),
            Kind::Weir { durable: true, baseline: true, .. } => "weir baseline (durable)".into(),
            Kind::Tansu { .. } => "tansu".into(),
            Kind::Noida { .. } => "noida-db".into(),
        }
    }

    pub fn is_weir(&self) -> bool {
        matches!(self, Kind::Weir { baseline: false, .. })
    }

    pub fn is_baseline(&self) -> bool {
        matches!(self, Kind::Weir { baseline: true, .. })
    }

    /// The settings the report prints for this broker.
    pub fn settings(&self) -> String {
        match self {
            Kind::Weir { durable: false, .. } => {
                "`weir serve --set log.flush.interval.messages=9223372036854775807` (page cache, as Kafka runs)".into()
            }
            Kind::Weir { durable: true, .. } => {
                "`weir serve` (defaults: fdatasync before acks=-1 is answered, group commit)".into()
            }
            Kind::Tansu { .. } => "`tansu broker --storage-engine memory://tansu/` (in memory, nothing on disk)".into(),
            Kind::Noida { .. } => "`noida-db start --only kafka` (its defaults: the log is held in memory and saved to disk as it changes)".into(),
        }
    }
}

pub struct Running {
    pub addr: String,
    child: Child,
    _data: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Pins the calling thread (and threads it creates later) to `cpu`.
pub fn pin_to(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET stays in bounds for cpu < 1024.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// CPUs online (not the affinity mask: this process pins itself).
pub fn cpus() -> usize {
    // SAFETY: sysconf only reads.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1) as usize
}

impl Running {
    pub fn start(kind: &Kind, data_root: &std::path::Path) -> Result<Running> {
        Running::start_with(kind, data_root, &[])
    }

    /// As [`Running::start`], with more arguments for a Weir broker (`--set ...`).
    pub fn start_with(kind: &Kind, data_root: &std::path::Path, weir_args: &[String]) -> Result<Running> {
        let data = tempfile::tempdir_in(data_root).context("data dir")?;
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = match kind {
            Kind::Weir { bin, durable, .. } => {
                let mut c = Command::new(bin);
                c.arg("serve").arg("--data-dir").arg(data.path()).arg("--kafka-addr").arg(&addr);
                c.args(["--registry-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"]);
                if !durable {
                    c.args(["--set", crate::local::PAGE_CACHE]);
                }
                c.args(weir_args);
                c.env("RUST_LOG", "warn");
                c
            }
            Kind::Tansu { bin } => {
                let mut c = Command::new(bin);
                c.arg("broker")
                    .arg("--listener-url")
                    .arg(format!("tcp://{addr}"))
                    .arg("--advertised-listener-url")
                    .arg(format!("tcp://{addr}"))
                    .arg("--storage-engine")
                    .arg("memory://tansu/");
                c
            }
            Kind::Noida { bin } => {
                let mut c = Command::new(bin);
                c.args(["start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port", &port.to_string()])
                    .arg("--data-dir")
                    .arg(data.path());
                c
            }
        };
        let log = std::fs::File::create(data_root.join(format!("{}.log", kind.name().replace([' ', '(', ')'], "_"))))?;
        cmd.stdout(Stdio::piped()).stderr(log).process_group(0);
        let many = cpus() > 1;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if many {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(0, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().with_context(|| format!("start {}", kind.name()))?;
        let stdout = child.stdout.take().unwrap();
        // Keep draining stdout so the broker never blocks on a full pipe.
        std::thread::spawn(move || for _ in BufReader::new(stdout).lines().map_while(Result::ok) {});
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(&addr).is_err() {
            if let Some(status) = child.try_wait()? {
                bail!("{} exited at start: {status}", kind.name());
            }
            if Instant::now() > deadline {
                bail!("{} did not listen on {addr}", kind.name());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Running { addr, child, _data: data })
    }

    /// Every process in the broker's process group.
    fn pids(&self) -> Vec<i32> {
        let pgid = self.child.id() as i32;
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            // SAFETY: getpgid only reads.
            if unsafe { libc::getpgid(pid) } == pgid {
                out.push(pid);
            }
        }
        out
    }

    /// A `/proc/<pid>/status` field in KiB (0 when unreadable).
    pub fn status_kib(pid: i32, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0)
    }

    /// (peak resident, resident now, anonymous resident now) in MiB, summed over
    /// the broker's processes. Peaks count since the last `reset_peak`.
    pub fn memory_mib(&self) -> (f64, f64, f64) {
        let pids = self.pids();
        let sum = |f: &str| pids.iter().map(|p| Self::status_kib(*p, f)).sum::<u64>() as f64 / 1024.0;
        (sum("VmHWM:"), sum("VmRSS:"), sum("RssAnon:"))
    }

    /// CPU seconds used so far by the broker's processes.
    pub fn cpu_secs(&self) -> f64 {
        self.pids().into_iter().filter_map(crate::host::process_cpu_secs).sum()
    }

    pub fn reset_peak(&self) {
        for p in self.pids() {
            // Writing 5 resets VmHWM to the current resident size.
            let _ = std::fs::write(format!("/proc/{p}/clear_refs"), "5");
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) every process of the broker. A broker
    /// waits frozen while another is measured: some keep working in the background
    /// after a workload (noida-db used up to 60 % of the shared broker CPU for
    /// seconds after its runs), which would land on whoever runs next; frozen, that
    /// work waits for the broker's own turn, where it belongs.
    pub fn set_frozen(&self, frozen: bool) {
        let pgid = self.child.id() as i32;
        // SAFETY: signalling our own child's process group.
        unsafe { libc::kill(-pgid, if frozen { libc::SIGSTOP } else { libc::SIGCONT }) };
    }

    pub fn stop(mut self) -> Result<()> {
        let pgid = self.child.id() as i32;
        self.set_frozen(false);
        // SAFETY: signalling our own child's process group.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                // SAFETY: as above.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                self.child.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Running {
    /// A broker left running (the harness failed before `stop`) is killed, frozen or
    /// not, with everything it started.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let pgid = self.child.id() as i32;
            // SAFETY: signalling our own child's process group.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
                libc::kill(-pgid, libc::SIGCONT);
            }
            let _ = self.child.wait();
        }
    }
}
