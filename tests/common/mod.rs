//! Test harness: starts the real `weir` binary on a temporary data directory and a
//! port of its own, and always stops it.

#![allow(dead_code)]

pub mod clients;
pub mod groups;
pub mod http;
pub mod wire;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Generous bound for start-up; reaching it means the broker is broken, not slow.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Weir {
    child: Option<Child>,
    pub addr: String,
    /// The schema registry's address (HOST:PORT).
    pub registry: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub extra: Vec<String>,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_weir")
}

/// A port that was free a moment ago (for restarts on the same address).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(data_dir: &Path, addr: &str, registry: &str, extra: &[String]) -> (Child, String, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--kafka-addr")
        .arg(addr)
        .arg("--registry-addr")
        .arg(registry)
        .args(extra)
        .env("RUST_LOG", std::env::var("WEIR_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn weir");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("weir ready ") {
                let field = |name: &str| {
                    rest.split_whitespace().find_map(|kv| kv.strip_prefix(name)).unwrap_or_default().to_string()
                };
                let _ = tx.send((field("kafka="), field("registry=")));
            }
        }
    });
    match rx.recv_timeout(READY_TIMEOUT) {
        Ok((addr, registry)) => (child, addr, registry),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait();
            panic!("weir did not become ready (exit: {status:?})");
        }
    }
}

impl Weir {
    pub fn start() -> Weir {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Weir {
        Self::start_on(extra, "127.0.0.1:0".into(), "127.0.0.1:0".into())
    }

    /// Like [`Weir::start_with`], on fixed free ports (Kafka and registry), so that
    /// [`Weir::restart`] comes back on the same addresses.
    pub fn start_restartable(extra: &[&str]) -> Weir {
        Self::start_on(extra, format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()))
    }

    fn start_on(extra: &[&str], addr: String, registry: String) -> Weir {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, addr, registry) = spawn(&data_dir, &addr, &registry, &extra);
        Weir { child: Some(child), addr, registry, data_dir, _tmp: Some(tmp), extra }
    }

    /// SIGTERM, and the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().unwrap()
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same data directory and address.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        let (child, addr, registry) = spawn(&self.data_dir, &self.addr, &self.registry, &self.extra);
        assert_eq!(addr, self.addr);
        self.registry = registry;
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        self.kill();
    }
}
