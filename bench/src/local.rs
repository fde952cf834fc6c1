//! A weir the bench starts itself on a data directory it names, for the rows
//! that need one process at a time and its own settings (the console estate,
//! start-up): the descriptor limit raised as operators raise it, the ready
//! line's addresses read, and stopped, killed or restarted on the same data.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The `--set` that runs a weir in page-cache mode (no fdatasync before acks).
pub const PAGE_CACHE: &str = "log.flush.interval.messages=9223372036854775807";

/// Raises this process's descriptor limit to `want` if it is lower: the hard
/// limit too when permitted (root), else the soft limit as far as the hard one
/// allows. Only async-signal-safe calls, so a child may run it before exec.
pub fn raise_fd_limit(want: libc::rlim_t) {
    let mut have = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit on this process with valid pointers.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut have) != 0 || have.rlim_cur >= want {
            return;
        }
        let both = libc::rlimit { rlim_cur: want, rlim_max: want.max(have.rlim_max) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &both) != 0 {
            have.rlim_cur = have.rlim_max.min(want);
            libc::setrlimit(libc::RLIMIT_NOFILE, &have);
        }
    }
}

pub struct Local {
    child: Child,
    pub kafka: String,
    pub registry: String,
    pub console: String,
    /// From spawning to the ready line.
    pub ready_after: Duration,
}

impl Local {
    /// Starts `bin serve` on `data` with `--set` pairs `settings` and `env`, and
    /// waits for its ready line.
    pub fn start(bin: &PathBuf, data: &Path, settings: &[&str], env: &[(&str, &str)]) -> Result<Local> {
        let mut cmd = Command::new(bin);
        // Each partition holds its active log open, so 10,000 partitions and
        // their clients need more than the usual descriptors (Kafka's operators
        // raise the limit the same way). Raising the hard limit needs root;
        // without it the soft limit goes as high as the hard one allows.
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                raise_fd_limit(200_000);
                Ok(())
            });
        }
        cmd.arg("serve").arg("--data-dir").arg(data).args([
            "--kafka-addr",
            "127.0.0.1:0",
            "--registry-addr",
            "127.0.0.1:0",
            "--console-addr",
            "127.0.0.1:0",
        ]);
        for s in settings {
            cmd.args(["--set", s]);
        }
        let started = Instant::now();
        let mut child = cmd
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start weir")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line?;
            if let Some(rest) = line.strip_prefix("weir ready ") {
                let ready_after = started.elapsed();
                let field = |name: &str| {
                    rest.split_whitespace().find_map(|kv| kv.strip_prefix(name)).unwrap_or_default().to_string()
                };
                let (kafka, registry, console) = (field("kafka="), field("registry="), field("console="));
                // Keep reading stdout so that weir never blocks writing to it.
                std::thread::spawn(move || lines.for_each(drop));
                return Ok(Local { child, kafka, registry, console, ready_after });
            }
        }
        let _ = child.wait();
        bail!("weir exited before it was ready")
    }

    /// [`Local::start`] with weir's threads on CPU 0, then this thread moved to
    /// CPU 1 (the threads it starts later follow it), as the suite pins them.
    pub fn start_pinned(bin: &PathBuf, data: &Path, settings: &[&str]) -> Result<Local> {
        let pinned = crate::brokers::cpus() > 1 && crate::brokers::pin_to(0);
        let w = Local::start(bin, data, settings, &[]);
        if pinned {
            crate::brokers::pin_to(1);
        }
        w
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        crate::brokers::Running::status_kib(self.child.id() as i32, "VmRSS:")
    }

    /// SIGTERM and a wait for the clean shutdown.
    pub fn stop(mut self) -> Result<()> {
        self.signal(libc::SIGTERM);
        let status = self.child.wait()?;
        if !status.success() {
            bail!("weir exited with {status} on SIGTERM");
        }
        Ok(())
    }

    /// SIGKILL, as a crash.
    pub fn kill(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(libc::SIGTERM);
            let _ = self.child.wait();
        }
    }
}
