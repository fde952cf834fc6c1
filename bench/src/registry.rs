//! The schema-registry row (issue 24): N subjects registered (one Avro record
//! schema each), then for `secs` at a time C client threads, each with one
//! keep-alive HTTP/1.1 connection, send one kind of request after another:
//! `GET /schemas/ids/{id}` of a random registered id, and `POST /subjects/{s}`
//! (the lookup: is this schema registered under s, and as which version) of a
//! random subject with its schema. Every answer must be 200 with the expected
//! id in it. Requests per second and latency percentiles of each; the broker
//! runs on CPU 0 and the clients on CPU 1, as in the suite.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::local::Local;
use crate::workloads::percentile;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// One keep-alive connection to an HTTP/1.1 server.
struct Conn {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
    host: String,
}

impl Conn {
    fn open(addr: &str) -> Result<Conn> {
        let s = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Conn { rd: BufReader::new(s.try_clone()?), wr: s, host: addr.to_string() })
    }

    /// Sends one request and reads its whole response: (status, body).
    fn call(&mut self, method: &str, path: &str, body: &str) -> Result<(u16, Vec<u8>)> {
        write!(
            self.wr,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {CONTENT_TYPE}\r\nAccept: {CONTENT_TYPE}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        )?;
        let mut line = String::new();
        self.rd.read_line(&mut line)?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no status line")?;
        let (mut length, mut chunked) = (None, false);
        loop {
            line.clear();
            if self.rd.read_line(&mut line)? == 0 {
                bail!("connection closed in the headers");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.trim().eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.rd.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim(), 16).context("chunk size")?;
                let mut chunk = vec![0; size + 2];
                self.rd.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..size]);
            }
        } else {
            out.resize(length.context("a response with neither Content-Length nor chunks")?, 0);
            self.rd.read_exact(&mut out)?;
        }
        Ok((status, out))
    }
}

fn schema(i: usize) -> String {
    format!(
        r#"{{"type":"record","name":"Event{i}","namespace":"bench.registry","fields":[{{"name":"id","type":"long"}},{{"name":"name","type":"string"}},{{"name":"at","type":{{"type":"long","logicalType":"timestamp-millis"}}}},{{"name":"tags","type":{{"type":"array","items":"string"}},"default":[]}}]}}"#
    )
}

/// The request body that carries `schema` (a JSON string inside JSON).
fn body(schema: &str) -> String {
    serde_json::json!({ "schema": schema }).to_string()
}

/// Registers one schema under each of `n` subjects; returns each subject's id.
fn register(addr: &str, n: usize) -> Result<Vec<i64>> {
    let mut c = Conn::open(addr)?;
    (0..n)
        .map(|i| {
            let (status, b) = c.call("POST", &format!("/subjects/bench-{i:05}-value/versions"), &body(&schema(i)))?;
            if status != 200 {
                bail!("register subject {i}: {status} {}", String::from_utf8_lossy(&b));
            }
            let v: serde_json::Value = serde_json::from_slice(&b)?;
            v["id"].as_i64().context("no id in the register response")
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Kind {
    ById,
    Lookup,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::ById => "GET /schemas/ids/{id}",
            Kind::Lookup => "POST /subjects/{subject} (lookup)",
        }
    }
}

/// `clients` threads sending `kind` requests for `secs`: (requests/s, sorted latencies in ns).
fn load(addr: &str, ids: &[i64], kind: Kind, clients: usize, secs: f64) -> Result<(f64, Vec<u64>)> {
    let bodies: std::sync::Arc<Vec<String>> = std::sync::Arc::new((0..ids.len()).map(|i| body(&schema(i))).collect());
    let ids = std::sync::Arc::new(ids.to_vec());
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let (addr, ids, bodies) = (addr.to_string(), ids.clone(), bodies.clone());
            std::thread::spawn(move || -> Result<Vec<u64>> {
                let mut c = Conn::open(&addr)?;
                let mut lat = Vec::new();
                // A cheap deterministic spread over the subjects, different per thread.
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                while Instant::now() < until {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let i = (x % ids.len() as u64) as usize;
                    let sent = Instant::now();
                    let (status, b) = match kind {
                        Kind::ById => c.call("GET", &format!("/schemas/ids/{}", ids[i]), "")?,
                        Kind::Lookup => c.call("POST", &format!("/subjects/bench-{i:05}-value"), &bodies[i])?,
                    };
                    lat.push(sent.elapsed().as_nanos() as u64);
                    if status != 200 {
                        bail!("{}: {status} {}", kind.label(), String::from_utf8_lossy(&b));
                    }
                    if let Kind::Lookup = kind {
                        let v: serde_json::Value = serde_json::from_slice(&b)?;
                        if v["id"].as_i64() != Some(ids[i]) {
                            bail!("lookup of subject {i} answered {v}, not id {}", ids[i]);
                        }
                    }
                }
                Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in threads {
        lat.extend(t.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    Ok((lat.len() as f64 / elapsed, lat))
}

pub fn run(bin: PathBuf, subjects: usize, clients: usize, secs: f64, repeats: usize) -> Result<()> {
    if subjects == 0 || clients == 0 || repeats == 0 {
        bail!("--subjects, --clients and --repeats must be at least 1");
    }
    let data = tempfile::tempdir()?;
    let w = Local::start_pinned(&bin, data.path(), &[])?;
    let started = Instant::now();
    let ids = register(&w.registry, subjects)?;
    let registered = started.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    for kind in [Kind::ById, Kind::Lookup] {
        // One warm-up second, not counted.
        load(&w.registry, &ids, kind, clients, 1.0)?;
        let mut rates = Vec::new();
        let mut all = Vec::new();
        let cpu0 = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0);
        let t0 = Instant::now();
        for _ in 0..repeats {
            let (rate, lat) = load(&w.registry, &ids, kind, clients, secs)?;
            eprintln!("{}: {rate:.0} requests/s", kind.label());
            rates.push(rate);
            all.extend(lat);
        }
        let cpu = (crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0) - cpu0) / t0.elapsed().as_secs_f64();
        all.sort_unstable();
        rows.push((kind, rates, percentile(&all, 0.5), percentile(&all, 0.99), cpu));
    }
    w.stop()?;
    println!(
        "{subjects} subjects (one Avro record schema each, registered in {registered:.1} s), {clients} clients with \
         a keep-alive connection each, {secs} s per run, {repeats} runs of each request.\n"
    );
    println!("| request | requests/s | p50 (ms) | p99 (ms) | broker CPU |");
    println!("|---|---|---|---|---|");
    for (kind, rates, p50, p99, cpu) in rows {
        let rates = rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ");
        println!("| {} | {rates} | {p50:.3} | {p99:.3} | {:.0} % of a core |", kind.label(), cpu * 100.0);
    }
    Ok(())
}
