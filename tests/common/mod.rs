//! Test harness: starts the real `weir` binary on a temporary data directory, on
//! ports the kernel picks (port 0, read back from the ready line: no window in
//! which another process could take them), and always stops it.

#![allow(dead_code)]

pub mod cli;
pub mod clients;
pub mod groups;
pub mod http;
pub mod mirror;
pub mod webhook;
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
    /// The console listener's address (HOST:PORT): /metrics, /health.
    pub console: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub extra: Vec<String>,
    pub env: Vec<(String, String)>,
    /// A command weir runs under (its path and arguments follow), e.g. `unshare`.
    pub wrapper: Vec<String>,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_weir")
}

/// The addresses of a running weir: Kafka, registry, console.
struct Ready {
    kafka: String,
    registry: String,
    console: String,
}

/// Starts weir; `Err` with its exit status when it exits before it is ready.
fn try_spawn(
    data_dir: &Path,
    addrs: [&str; 3],
    extra: &[String],
    env: &[(String, String)],
    wrapper: &[String],
) -> Result<(Child, Ready), ExitStatus> {
    let [addr, registry, console] = addrs;
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--kafka-addr")
        .arg(addr)
        .arg("--registry-addr")
        .arg(registry)
        .arg("--console-addr")
        .arg(console)
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
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
                let _ =
                    tx.send(Ready { kafka: field("kafka="), registry: field("registry="), console: field("console=") });
            }
        }
    });
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(ready) => return Ok((child, ready)),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(child.wait().unwrap()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait().unwrap() {
                    return Err(status);
                }
                if std::time::Instant::now() >= deadline {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!("weir did not become ready (exit: {status:?})");
                }
            }
        }
    }
}

fn spawn(
    data_dir: &Path,
    addrs: [&str; 3],
    extra: &[String],
    env: &[(String, String)],
    wrapper: &[String],
) -> (Child, Ready) {
    try_spawn(data_dir, addrs, extra, env, wrapper)
        .unwrap_or_else(|status| panic!("weir exited before it was ready: {status}"))
}

impl Weir {
    pub fn start() -> Weir {
        Self::start_with(&[])
    }

    /// A weir whose [`Weir::restart`] comes back on the same addresses (it binds
    /// the ports it got the first time again).
    pub fn start_with(extra: &[&str]) -> Weir {
        Self::start_with_env(extra, &[])
    }

    /// [`Weir::start_with`] with environment variables for the process (kept
    /// for restarts).
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Weir {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        Self::launch(&[], data_dir, Some(tmp), extra, env)
    }

    /// Starts weir under `wrapper` (a command that runs its arguments: weir's
    /// path and flags follow it) on `data_dir`, with `env` for both.
    pub fn start_wrapped(wrapper: &[&str], data_dir: PathBuf, extra: &[&str], env: &[(&str, &str)]) -> Weir {
        Self::launch(wrapper, data_dir, None, extra, env)
    }

    fn launch(
        wrapper: &[&str],
        data_dir: PathBuf,
        tmp: Option<tempfile::TempDir>,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Weir {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let (extra, wrapper) = (owned(extra), owned(wrapper));
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let any = "127.0.0.1:0";
        let (child, ready) = spawn(&data_dir, [any, any, any], &extra, &env, &wrapper);
        Weir {
            child: Some(child),
            addr: ready.kafka,
            registry: ready.registry,
            console: ready.console,
            data_dir,
            _tmp: tmp,
            extra,
            env,
            wrapper,
        }
    }

    /// Like [`Weir::start_with`]; kept for the tests that restart.
    pub fn start_restartable(extra: &[&str]) -> Weir {
        Self::start_with(extra)
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

    /// Starts again on the same data directory and addresses. The ports were this
    /// broker's until it stopped; should another process hold one for a moment,
    /// the start is tried again.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        let addrs = [self.addr.as_str(), self.registry.as_str(), self.console.as_str()];
        let mut tries = 0;
        let (child, ready) = loop {
            match try_spawn(&self.data_dir, addrs, &self.extra, &self.env, &self.wrapper) {
                Ok(started) => break started,
                Err(status) if tries < 20 => {
                    tries += 1;
                    eprintln!("weir restart failed ({status}); retrying");
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(status) => panic!("weir could not restart on its addresses: {status}"),
            }
        };
        assert_eq!(ready.kafka, self.addr);
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
