//! Running the `weir` operator commands against a test's Weir, with
//! `WEIR_BROKERS` and `WEIR_REGISTRY` pointing at it.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use super::Weir;

fn command(w: &Weir) -> Command {
    let mut c = Command::new(super::bin());
    c.env("WEIR_BROKERS", &w.addr).env("WEIR_REGISTRY", format!("http://{}", w.registry));
    // No profile of the machine's user applies.
    c.env("WEIR_PROFILES", w.data_dir.join("no-profiles.toml"));
    c
}

pub fn weir(w: &Weir, args: &[&str]) -> Output {
    command(w).args(args).output().expect("weir runs")
}

/// The command's JSON output; it must have exited with `code`.
pub fn json(w: &Weir, args: &[&str], code: i32) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = weir(w, &all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout}"))
}

pub fn names(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

/// Runs `weir` with `stdin` piped in; (exit code, stdout, stderr).
/// `weir args` left running (stdout piped, stderr dropped), as a [`Reaped`].
pub fn spawn(w: &Weir, args: &[&str]) -> Reaped {
    use std::process::Stdio;
    Reaped(command(w).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("weir runs"))
}

/// A child process, killed if the test ends before it does.
pub struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Reaped {
    /// Its exit code and stdout once it ends, within `within`.
    pub fn finish(&mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + within;
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "the process did not end within {within:?}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut out = String::new();
        std::io::Read::read_to_string(self.0.stdout.as_mut().unwrap(), &mut out).unwrap();
        (status.code(), out)
    }
}

pub fn weir_in(w: &Weir, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child =
        command(w).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    // A command that hangs fails the test instead of holding up the suite.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("weir {args:?} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}
