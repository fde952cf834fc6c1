//! The replicator under test: `weir mirror` processes (stopped with SIGTERM or
//! killed, always reaped), MM2 properties files, and waiting for what it copies.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use super::clients::{consumer, create_topic, flush, producer, send};
use super::Weir;

pub struct Mirror {
    pub child: Child,
}

impl Mirror {
    pub fn start(config: &std::path::Path) -> Mirror {
        Mirror::start_with(config, &[], "A->B")
    }

    /// Starts `weir mirror --config FILE ARGS...`, waiting for its ready line naming `flows`.
    pub fn start_with(config: &std::path::Path, args: &[&str], flows: &str) -> Mirror {
        let mut child = Command::new(super::bin())
            .args(["mirror", "--config"])
            .arg(config)
            .args(args)
            .env("RUST_LOG", std::env::var("WEIR_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("weir mirror");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("weir mirror ready") {
                    let _ = tx.send(line);
                }
            }
        });
        // Built first, so that a start that fails still kills the process.
        let mirror = Mirror { child };
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("weir mirror ready");
        assert_eq!(line, format!("weir mirror ready flows={flows}"));
        mirror
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().expect("wait")
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn partitions_of(addr: &str, topic: &str) -> Option<usize> {
    let md = consumer(addr).fetch_metadata(Some(topic), Duration::from_secs(10)).ok()?;
    let t = md.topics().first()?;
    (t.error().is_none() && !t.partitions().is_empty()).then(|| t.partitions().len())
}

pub fn mm2_file(dir: &std::path::Path, a: &str, b: &str, extra: &str) -> std::path::PathBuf {
    let config = dir.join("mm2.properties");
    std::fs::write(
        &config,
        format!(
            "clusters = A, B\nA.bootstrap.servers = {}\nB.bootstrap.servers = {}\nA->B.enabled = true\n\
             replication.factor = 1\noffset-syncs.topic.replication.factor = 1\nheartbeats.topic.replication.factor = 1\n\
             checkpoints.topic.replication.factor = 1\n{extra}",
            a, b
        ),
    )
    .unwrap();
    config
}

/// Commits `offsets` for `group` on the cluster at `addr` without joining it.
pub fn commit_group(addr: &str, group: &str, offsets: &[(&str, i32, i64)]) {
    let c: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for (t, p, o) in offsets {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o)).unwrap();
    }
    c.commit(&tpl, rdkafka::consumer::CommitMode::Sync).unwrap();
}

pub fn committed(addr: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let c: rdkafka::consumer::BaseConsumer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", addr).set("group.id", group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => -1,
        })
        .collect()
}

impl Mirror {
    /// SIGKILL (through `Drop`): no last checkpoint, no clean close.
    pub fn kill(self) {
        drop(self)
    }
}

/// Two clusters, A and B, with `records` numbered records round-robin over the
/// partitions of `orders` on A.
pub async fn clusters_with_orders(partitions: i32, records: usize) -> (Weir, Weir) {
    let (a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", partitions, &[]).await;
    let (p, _) = producer(&a.addr, &[]);
    for i in 0..records {
        send(&p, "orders", (i % partitions as usize) as i32, i);
    }
    flush(&p);
    (a, b)
}

/// A free port on 127.0.0.1 (host:port), for a listener the test names.
pub fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// The value of one series on the Prometheus `/metrics` served at `addr`.
pub fn metric(addr: &str, series: &str) -> Option<f64> {
    let reply = super::http::get(addr, "/metrics");
    assert_eq!(reply.status, 200);
    reply.body.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}
