//! The console row: the JSON API's latency on a large estate (10,000 topics
//! and 1,000 consumer groups by default), each page's calls timed over
//! plain HTTP/1.1 from this process. A benchmark, not a test: it prints
//! markdown for docs/performance.md.
//!
//! Topics are created through Kafka's CreateTopics (librdkafka, in batches),
//! with small offset indexes (`log.index.size.max.bytes`) so that 10,000
//! partitions do not preallocate 100 GiB; groups get committed offsets
//! through the console's own reset endpoint; a few hundred topics get
//! records so sizes, lag and the history have something to show.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

struct Weir {
    child: Child,
    kafka: String,
    console: String,
    _data: tempfile::TempDir,
}

impl Drop for Weir {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn start(bin: &PathBuf) -> Result<Weir> {
    let data = tempfile::tempdir()?;
    let mut cmd = Command::new(bin);
    // Each partition holds three files open (log, offset and time index), so
    // 10,000 topics need more than the usual 20,000 descriptors (Kafka's
    // operators raise the limit the same way). Raising the hard limit needs
    // root; without it the soft limit goes as high as the hard one allows.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let want = libc::rlimit { rlim_cur: 200_000, rlim_max: 200_000 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) != 0 {
                let mut have = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut have) == 0 {
                    have.rlim_cur = have.rlim_max;
                    libc::setrlimit(libc::RLIMIT_NOFILE, &have);
                }
            }
            Ok(())
        });
    }
    let mut child = cmd
        .arg("serve")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--kafka-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"])
        .args(["--set", "log.index.size.max.bytes=65536", "--set", "log.flush.interval.messages=9223372036854775807"])
        .env("RUST_LOG", "warn")
        .env("WEIR_CONSOLE_SAMPLE_MS", "1000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start weir")?;
    let stdout = child.stdout.take().context("stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("weir ready ") {
            let field = |name: &str| {
                rest.split_whitespace().find_map(|kv| kv.strip_prefix(name)).unwrap_or_default().to_string()
            };
            return Ok(Weir { child, kafka: field("kafka="), console: field("console="), _data: data });
        }
    }
    bail!("weir exited before it was ready")
}

/// One HTTP/1.1 request (Connection: close); (status, body).
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no status line")?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

pub fn run(bin: PathBuf, topics: usize, groups: usize, repeats: usize) -> Result<()> {
    let w = start(&bin)?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", &w.kafka).create()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    let names: Vec<String> = (0..topics).map(|i| format!("bench-topic-{i:05}")).collect();
    for chunk in names.chunks(500) {
        let new: Vec<NewTopic> = chunk.iter().map(|n| NewTopic::new(n, 1, TopicReplication::Fixed(1))).collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(120)));
        for r in rt.block_on(admin.create_topics(&new, &opts))? {
            r.map_err(|(t, e)| anyhow::anyhow!("create {t}: {e}"))?;
        }
    }
    let created = started.elapsed();
    // Records in the first few hundred topics: sizes to sort by, lag, history.
    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", &w.kafka).set("linger.ms", "5").create()?;
    let payload = vec![b'x'; 512];
    for (i, name) in names.iter().take(300).enumerate() {
        for _ in 0..(1 + i % 20) {
            while let Err((e, _)) = producer.send(BaseRecord::<(), [u8]>::to(name).payload(&payload[..])) {
                if !matches!(
                    e,
                    rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull)
                ) {
                    bail!("produce: {e}");
                }
                producer.poll(Duration::from_millis(10));
            }
        }
    }
    producer.flush(Duration::from_secs(60))?;
    for g in 0..groups {
        let body = format!(r#"{{"to":"earliest","topic":"{}"}}"#, names[g % topics.min(300)]);
        let (status, text) =
            http(&w.console, "POST", &format!("/api/v1/groups/bench-group-{g:04}/reset-offsets"), Some(&body))?;
        if status != 200 {
            bail!("group {g}: {status} {text}");
        }
    }
    // An alert per lagging group: every group lags on its topic.
    let policy = r#"{"name":"any lag","metric":"group_lag_records","target":"*","operator":"above","threshold":0}"#;
    let (status, text) = http(&w.console, "POST", "/api/v1/alerts/policies", Some(policy))?;
    if status != 201 {
        bail!("alert policy: {status} {text}");
    }
    std::thread::sleep(Duration::from_secs(3)); // a few history samples
    let fired = Instant::now();
    loop {
        let (_, body) = http(&w.console, "GET", "/api/v1/alerts", None)?;
        let firing = serde_json::from_str::<serde_json::Value>(&body)?["firing"].as_array().map_or(0, Vec::len);
        if firing == groups {
            break;
        }
        if fired.elapsed() > Duration::from_secs(60) {
            bail!("{firing} of {groups} lag alerts fired");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mid_topic = &names[topics / 2];
    let last_page = topics.saturating_sub(50);
    let calls: Vec<(&str, String)> = vec![
        ("Overview: cluster", "/api/v1/cluster".into()),
        ("Overview: charts (1 h)", "/api/v1/history?points=360".into()),
        ("Topics: first page", "/api/v1/topics?limit=50".into()),
        ("Topics: last page", format!("/api/v1/topics?limit=50&offset={last_page}")),
        ("Topics: search", "/api/v1/topics?q=topic-0999&limit=50".into()),
        ("Topics: sorted by size", "/api/v1/topics?sort=size&order=desc&limit=50".into()),
        ("Topic detail", format!("/api/v1/topics/{mid_topic}")),
        ("Topic: charts", format!("/api/v1/history?points=360&topic={}", names[0])),
        ("Messages: first 50", format!("/api/v1/topics/{}/messages?limit=50", names[19])),
        ("Groups: by lag", "/api/v1/groups?sort=lag&order=desc&limit=50".into()),
        ("Groups: search", "/api/v1/groups?q=group-05&limit=50".into()),
        ("Group detail", "/api/v1/groups/bench-group-0500".into()),
        ("Group: lag chart", "/api/v1/history?points=360&group=bench-group-0019".into()),
        ("Alerts: firing (one per group)", "/api/v1/alerts".into()),
        ("Alerts: history page", "/api/v1/alerts/history?limit=50".into()),
        ("Alerts: policies", "/api/v1/alerts/policies".into()),
        ("Prometheus scrape /metrics", "/metrics".into()),
    ];
    println!("### Console API latency ({topics} topics, {groups} groups; {repeats} calls each)\n");
    println!("Topics created through CreateTopics in {:.1} s.\n", created.as_secs_f64());
    println!("| page call | median | p95 | max | response |");
    println!("|---|---:|---:|---:|---:|");
    for (label, path) in &calls {
        let mut times = Vec::with_capacity(repeats);
        let mut size = 0;
        for i in 0..repeats + 2 {
            let t = Instant::now();
            let (status, body) = http(&w.console, "GET", path, None)?;
            let took = t.elapsed();
            if status != 200 {
                bail!("{path}: {status} {body}");
            }
            size = body.len();
            if i >= 2 {
                times.push(took); // the first two warm up
            }
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
        println!(
            "| {label} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} KiB |",
            at(0.5),
            at(0.95),
            at(1.0),
            size as f64 / 1024.0
        );
    }
    Ok(())
}
