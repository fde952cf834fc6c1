//! The broker under torture: one `weir serve` process on fixed loopback ports
//! (chosen by the kernel at the first start, kept across restarts so clients
//! reconnect to the same address), its data directory kept across kills.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct Node {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// kafka, registry, console (host:port), once known.
    pub addrs: [String; 3],
    pub starts: u32,
}

impl Node {
    /// `data`: the data directory; `log`: where weir's stderr goes (not on the
    /// disk the run fills).
    pub fn new(bin: &Path, data: &Path, log: &Path) -> Node {
        Node {
            bin: bin.to_path_buf(),
            data: data.to_path_buf(),
            log: log.to_path_buf(),
            child: None,
            addrs: ["127.0.0.1:0".into(), "127.0.0.1:0".into(), "127.0.0.1:0".into()],
            starts: 0,
        }
    }

    pub fn kafka(&self) -> &str {
        &self.addrs[0]
    }
    pub fn registry(&self) -> &str {
        &self.addrs[1]
    }

    /// Starts weir and waits for its ready line (a kill may leave the ports
    /// briefly unusable: a failed start is retried).
    pub fn start(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match self.try_start() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() < deadline => {
                    eprintln!("torture: weir did not start ({e:#}); retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn try_start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut child = Command::new(&self.bin)
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--kafka-addr", &self.addrs[0], "--registry-addr", &self.addrs[1], "--console-addr", &self.addrs[2]])
            // Small segments: rolls, index rebuilds and recovery across many files.
            // Small index bounds: the run's disk is a small tmpfs.
            .args(["--set", "log.segment.bytes=1048576", "--set", "auto.create.topics.enable=false"])
            .args(["--set", "log.index.size.max.bytes=65536", "--set", "offsets.topic.num.partitions=8"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("weir ready ") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let ready = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(r) => r,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                bail!("no ready line (exit {status})");
            }
        };
        for (i, key) in ["kafka=", "registry=", "console="].iter().enumerate() {
            let addr = ready.split(' ').find_map(|p| p.strip_prefix(key)).context("ready line")?;
            self.addrs[i] = addr.to_string();
        }
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// Notes a fault in weir's log, so that what the broker logged can be read
    /// beside what was done to it.
    pub fn mark(&self, what: &str) {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.log) {
            let _ = writeln!(f, "torture: {what} at {} ms since the epoch (start {})", epoch_ms(), self.starts);
        }
    }

    /// SIGKILL, and reaps the process.
    pub fn kill(&mut self) {
        self.mark("SIGKILL");
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn pause(&self) {
        self.mark("SIGSTOP");
        self.signal(libc::SIGSTOP);
    }
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// SIGTERM and a wait for the clean shutdown.
    pub fn stop(&mut self) -> Result<()> {
        // A frozen process is thawed first.
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM);
        if let Some(mut c) = self.child.take() {
            let status = c.wait()?;
            if !status.success() {
                bail!("weir exited with {status} on SIGTERM");
            }
        }
        Ok(())
    }

    /// The end of weir's log (stderr), for a failure report.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

pub fn epoch_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

impl Drop for Node {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}
