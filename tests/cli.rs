//! The command-line contract: flags, config file, errors at start-up.

mod common;

use std::process::Command;

use common::Weir;

#[test]
fn every_key_in_the_shipped_weir_toml_is_accepted() {
    // Uncomment every `key = value` line of the example (keeping addresses local and
    // the listener on a free port), and start with it.
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/weir.toml")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut uncommented = Vec::new();
    let mut keys = 0;
    for line in example.lines() {
        let body = line.trim_start_matches('#').trim_start();
        let is_setting = line.starts_with("# ") && body.split_whitespace().nth(1) == Some("=");
        // Addresses stay local; mirror_config names a file (its flows are tested in mirror_e2e).
        let skip = [
            "data_dir",
            "kafka_addr",
            "registry_addr",
            "console_addr",
            "advertised.listeners",
            "listeners",
            "mirror_config",
        ];
        if is_setting && !skip.contains(&body.split_whitespace().next().unwrap()) {
            uncommented.push(body.split(" # ").next().unwrap().trim().to_string());
            keys += 1;
        } else {
            uncommented.push(line.to_string());
        }
    }
    assert!(keys > 25, "found {keys} keys in weir.toml");
    let path = tmp.path().join("weir.toml");
    std::fs::write(&path, uncommented.join("\n")).unwrap();
    let mut weir = Weir::start_with(&["--config", path.to_str().unwrap()]);
    assert_eq!(weir.stop().code(), Some(0));
}

#[test]
fn bad_settings_stop_start_up_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let mm2 = tmp.path().join("mm2.properties");
    std::fs::write(
        &mm2,
        "clusters = A, B\nA.bootstrap.servers = a:1\nB.bootstrap.servers = b:1\nA->B.enabled = maybe\n",
    )
    .unwrap();
    for (args, expect) in [
        (vec!["--mirror-config", "/nonexistent/mm2.properties"], "cannot read /nonexistent/mm2.properties"),
        (vec!["--mirror-config", mm2.to_str().unwrap()], "A->B.enabled: 'maybe' is not true or false"),
        (vec!["--set", "no.such.key=1"], "unknown broker config key 'no.such.key'"),
        (vec!["--set", "log.retention.hour=1"], "did you mean 'log.retention.hours'?"),
        (vec!["--set", "log.retention.ms=-9"], "log.retention.ms"),
        (vec!["--set", "auto.create.topics.enable"], "KEY=VALUE"),
        (vec!["--set", "listener.name.nosuch.max.connections=1"], "no listener is named NOSUCH"),
        (vec!["--set", "listener.name.plaintext.max.connections=many"], "'many' is not a number"),
    ] {
        let out = Command::new(common::bin())
            .args(["serve", "--kafka-addr", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

#[test]
fn help_lists_the_contract_flags() {
    let out = Command::new(common::bin()).args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in
        ["--config", "--data-dir", "--kafka-addr", "--registry-addr", "--console-addr", "--set", "WEIR_DATA_DIR"]
    {
        assert!(text.contains(flag), "missing {flag} in:\n{text}");
    }
}

#[test]
fn sigterm_right_after_the_ready_line_still_exits_zero() {
    // The signal handlers exist before the ready line is printed, so a supervisor
    // that stops weir as soon as it is ready gets a clean shutdown every time.
    for _ in 0..10 {
        let mut weir = Weir::start();
        assert_eq!(weir.stop().code(), Some(0));
    }
}

/// Runs `weir` with `args` and `env`, waits for the ready line, SIGTERMs it and
/// returns the ready line and the exit code.
fn run_until_ready(args: &[&str], env: &[(&str, String)]) -> (String, Option<i32>) {
    use std::io::{BufRead, BufReader};
    let mut cmd = Command::new(common::bin());
    cmd.args(args).stdout(std::process::Stdio::piped()).env("RUST_LOG", "warn");
    for k in ["WEIR_CONFIG", "WEIR_DATA_DIR", "WEIR_KAFKA_ADDR", "WEIR_REGISTRY_ADDR", "WEIR_CONSOLE_ADDR"] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("a line").unwrap();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    (ready, child.wait().unwrap().code())
}

#[test]
fn bare_weir_serves_and_takes_its_settings_from_weir_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("from-env");
    // Another loopback address than the flags below use, so the ready line shows
    // which one won; port 0 leaves the port to the kernel.
    let env = [
        ("WEIR_DATA_DIR", data.display().to_string()),
        ("WEIR_KAFKA_ADDR", "127.0.0.2:0".to_string()),
        ("WEIR_REGISTRY_ADDR", "127.0.0.1:0".to_string()),
        ("WEIR_CONSOLE_ADDR", "127.0.0.1:0".to_string()),
    ];
    let (ready, code) = run_until_ready(&[], &env);
    assert!(ready.starts_with("weir ready kafka=127.0.0.2:"), "{ready}");
    assert_eq!(code, Some(0));
    assert!(data.join("__cluster_metadata-0").is_dir(), "the data directory came from WEIR_DATA_DIR");

    // Flags win over variables.
    let other = tmp.path().join("from-flag");
    let (ready, code) =
        run_until_ready(&["serve", "--data-dir", other.to_str().unwrap(), "--kafka-addr", "127.0.0.1:0"], &env);
    assert!(ready.starts_with("weir ready kafka=127.0.0.1:"), "{ready}");
    assert_eq!(code, Some(0));
    assert!(other.join("__cluster_metadata-0").is_dir());

    // A config file named by WEIR_CONFIG.
    let cfg = tmp.path().join("weir.toml");
    std::fs::write(
        &cfg,
        format!("data_dir = \"{}\"\n[broker]\nnum.partitions = 2\n", tmp.path().join("from-file").display()),
    )
    .unwrap();
    let local = ["--kafka-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"];
    let (_, code) = run_until_ready(&local, &[("WEIR_CONFIG", cfg.display().to_string())]);
    assert_eq!(code, Some(0));
    assert!(tmp.path().join("from-file").join("__cluster_metadata-0").is_dir());
}

#[test]
fn a_kafka_properties_file_configures_the_broker_and_its_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("kraft-logs");
    let props = tmp.path().join("server.properties");
    std::fs::write(
        &props,
        format!(
            "# Kafka's format\nnode.id=1\nlog.dirs={}\nnum.partitions=3\nlog.retention.hours=168\n\
             log.segment.bytes=1073741824\nlog.retention.check.interval.ms=300000\n",
            data.display()
        ),
    )
    .unwrap();
    let cfg = props.to_str().unwrap();
    let args = ["serve", "--config", cfg, "--kafka-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0"];
    let (ready, code) = run_until_ready(&[&args[..], &["--console-addr", "127.0.0.1:0"]].concat(), &[]);
    assert!(ready.starts_with("weir ready kafka=127.0.0.1:"), "{ready}");
    assert_eq!(code, Some(0));
    assert!(data.join("__cluster_metadata-0").is_dir(), "the data directory came from log.dirs");

    // A misspelt key in it stops start-up and names the file's key and the nearest one.
    std::fs::write(&props, "log.retention.hour=1\n").unwrap();
    let out = Command::new(common::bin())
        .args(["serve", "--config", cfg, "--kafka-addr", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("unused"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean 'log.retention.hours'?"), "{err}");
}

/// Kafka 4.1's shipped `config/server.properties` (KRaft, combined mode), every
/// setting as shipped, the commented optional ones uncommented. `--kafka-addr`
/// replaces the first listener's port 9092 (tests bind ephemeral ports); the
/// CONTROLLER listener is not bound at all (Weir's quorum is internal); the data
/// directory is left to the flags.
const KAFKA_41_SERVER_PROPERTIES: &str = "\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.flush.interval.messages=10000
log.flush.interval.ms=1000
log.retention.hours=168
log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
";

#[test]
fn kafka_41_server_properties_starts_weir_and_unused_keys_are_logged_once() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let props = tmp.path().join("server.properties");
    std::fs::write(&props, KAFKA_41_SERVER_PROPERTIES).unwrap();
    let mut child = Command::new(common::bin())
        .args(["serve", "--config", props.to_str().unwrap(), "--data-dir"])
        .arg(tmp.path().join("data"))
        .args(["--kafka-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ready = BufReader::new(child.stdout.take().unwrap()).lines().next().expect("a line").unwrap();
    assert!(ready.starts_with("weir ready "), "{ready}");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    for key in ["process.roles", "num.io.threads", "offsets.topic.replication.factor", "inter.broker.listener.name"] {
        let lines =
            log.lines().filter(|l| l.contains("accepted, no effect") && l.contains(&format!("key={key} "))).count();
        assert_eq!(lines, 1, "{key} logged once:\n{log}");
    }
    assert!(!log.contains("key=num.partitions "), "a key Weir uses is not reported as unused");

    // A Kafka key with a value of the wrong type still stops start-up.
    std::fs::write(&props, "num.io.threads=eight\n").unwrap();
    let out = Command::new(common::bin())
        .args(["serve", "--config", props.to_str().unwrap(), "--kafka-addr", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("unused"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("num.io.threads: 'eight' is not a number"));
}
