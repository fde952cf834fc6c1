//! `weir-bench security`: what TLS and SASL cost. One Weir broker with three
//! listeners side by side (PLAINTEXT, SSL, and SASL_SSL with SCRAM-SHA-512),
//! the same 1 KiB produce and catch-up consume through each, repeated with the
//! listeners' order rotated so drift of this noisy machine falls on all of
//! them; medians and their ratio to PLAINTEXT, as markdown for
//! docs/performance.md. The certificate is a fresh self-signed one (rcgen).
//! Needs librdkafka with OpenSSL: build with `--features tls` (scripts/bench does).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::brokers::{Kind, Running};
use crate::client::{self, Target};
use crate::workloads::{self, ProduceSpec};

const PARTITIONS: i32 = 4;

struct Listener {
    name: &'static str,
    target: Target,
}

fn self_signed(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .context("generate a certificate")?;
    let (keystore, ca) = (dir.join("broker.pem"), dir.join("ca.pem"));
    std::fs::write(&keystore, format!("{}{}", ck.key_pair.serialize_pem(), ck.cert.pem()))?;
    std::fs::write(&ca, ck.cert.pem())?;
    Ok((keystore, ca))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// CPU seconds this process (the clients, librdkafka's threads included) has used.
fn own_cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid rusage for the call to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(weir: PathBuf, records: u64, repeats: usize, only: Option<String>) -> Result<()> {
    if !cfg!(feature = "tls") {
        bail!("weir-bench was built without TLS: build it with `--features tls` (scripts/bench does)");
    }
    let root = tempfile::tempdir()?;
    let (keystore, ca) = self_signed(root.path())?;
    let (ssl, sasl) = (free_port()?, free_port()?);
    let args: Vec<String> = [
        format!("listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{ssl},SASL_SSL://127.0.0.1:{sasl}"),
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", keystore.display()),
        "sasl.enabled.mechanisms=SCRAM-SHA-512".to_string(),
        "bootstrap.users=bench:bench-secret".to_string(),
    ]
    .into_iter()
    .flat_map(|s| ["--set".to_string(), s])
    .collect();
    let broker = Running::start_with(&Kind::Weir { bin: weir, durable: false, baseline: false }, root.path(), &args)?;
    let tls = |extra: &[(&str, &str)]| {
        let mut s = vec![("ssl.ca.location".to_string(), ca.display().to_string())];
        s.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Arc::new(s)
    };
    let listeners = [
        Listener { name: "PLAINTEXT", target: Target::Bootstrap(broker.addr.clone()) },
        Listener {
            name: "SSL",
            target: Target::Secured(format!("127.0.0.1:{ssl}"), tls(&[("security.protocol", "SSL")])),
        },
        Listener {
            name: "SASL_SSL (SCRAM-SHA-512)",
            target: Target::Secured(
                format!("127.0.0.1:{sasl}"),
                tls(&[
                    ("security.protocol", "SASL_SSL"),
                    ("sasl.mechanism", "SCRAM-SHA-512"),
                    ("sasl.username", "bench"),
                    ("sasl.password", "bench-secret"),
                ]),
            ),
        },
    ];
    // `--only SSL` (for profiling): that listener alone, PLAINTEXT still first as the reference.
    let listeners: Vec<Listener> = listeners
        .into_iter()
        .enumerate()
        .filter(|(i, l)| *i == 0 || only.as_deref().is_none_or(|o| l.name.starts_with(o)))
        .map(|(_, l)| l)
        .collect();
    let spec = ProduceSpec { record_size: 1024, partitions: PARTITIONS, acks: "-1", compression: "none", records };
    let mut produced = vec![Vec::new(); listeners.len()];
    let mut consumed = vec![Vec::new(); listeners.len()];
    // CPU seconds per GB written, of the broker and of the client, per listener.
    let mut cpu = vec![Vec::new(); listeners.len()];
    let result = (|| -> Result<()> {
        for r in 0..repeats {
            for k in 0..listeners.len() {
                let i = (r + k) % listeners.len();
                let l = &listeners[i];
                let (b0, c0) = (broker.cpu_secs(), own_cpu_secs());
                let (topic, p) = workloads::produce(&l.target, &spec).with_context(|| l.name)?;
                let gb = p.bytes as f64 / 1e9;
                cpu[i].push(((broker.cpu_secs() - b0) / gb, (own_cpu_secs() - c0) / gb));
                let c = workloads::consume(&l.target, &topic, PARTITIONS, records).with_context(|| l.name)?;
                if c.bytes != p.bytes {
                    bail!("{}: consumed {} bytes of {}", l.name, c.bytes, p.bytes);
                }
                eprintln!("{}: produce {:.0} MB/s, consume {:.0} MB/s", l.name, p.mb_per_sec(), c.mb_per_sec());
                produced[i].push(p.mb_per_sec());
                consumed[i].push(c.mb_per_sec());
                client::delete_topic(&l.target, &topic)?;
            }
        }
        Ok(())
    })();
    broker.stop()?;
    if let Err(e) = result {
        let kept = root.keep();
        bail!("{e:#} (the broker's log is kept in {})", kept.display());
    }
    println!(
        "| listener | produce MB/s | vs PLAINTEXT | consume MB/s | vs PLAINTEXT | produce CPU s/GB: broker | client |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let (p0, c0) = (median(produced[0].clone()), median(consumed[0].clone()));
    for (i, l) in listeners.iter().enumerate() {
        let (p, c) = (median(produced[i].clone()), median(consumed[i].clone()));
        let (bc, cc) = (median(cpu[i].iter().map(|x| x.0).collect()), median(cpu[i].iter().map(|x| x.1).collect()));
        println!("| {} | {p:.0} | {:.2} | {c:.0} | {:.2} | {bc:.2} | {cc:.2} |", l.name, p / p0, c / c0);
    }
    println!(
        "\n{records} records of 1 KiB, {PARTITIONS} partitions, acks=-1, page cache; median of {repeats} runs per \
         listener, one broker, listeners in rotating order."
    );
    Ok(())
}
