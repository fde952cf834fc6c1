//! The console row: the JSON API's latency on a large estate (10,000 topics
//! and 1,000 consumer groups by default), each page's calls timed over
//! plain HTTP/1.1 from this process. A benchmark, not a test: it prints
//! markdown for docs/performance.md.
//!
//! Topics are created through Kafka's CreateTopics (librdkafka, in batches);
//! groups get committed offsets through the console's own reset endpoint; a
//! few hundred topics get records so sizes, lag and the history have
//! something to show.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use crate::local::Local;

/// The values of per-API metrics (`name{api="API"} value` lines) in a broker's
/// Prometheus metrics at `console`, in the order of `names`.
pub(crate) fn api_metrics(console: &str, api: &str, names: &[&str]) -> Result<Vec<f64>> {
    let (status, body) = http(console, "GET", "/metrics", None)?;
    if status != 200 {
        anyhow::bail!("GET /metrics: {status}");
    }
    let labels = format!("{{api=\"{api}\"}} ");
    names
        .iter()
        .map(|name| {
            body.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(labels.as_str())?.trim().parse::<f64>().ok())
                .with_context(|| format!("no {name} for {api} in /metrics"))
        })
        .collect()
}

/// One HTTP/1.1 request (Connection: close); (status, body).
pub(crate) fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
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
    let data = tempfile::tempdir()?;
    let w = Local::start(&bin, data.path(), &[crate::local::PAGE_CACHE], &[("WEIR_CONSOLE_SAMPLE_MS", "1000")])?;
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
