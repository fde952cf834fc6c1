//! `weir-bench security`: what TLS, SASL and ACLs cost. One Weir broker with
//! four listeners side by side (PLAINTEXT, SSL, SASL_SSL and SASL_PLAINTEXT,
//! SCRAM-SHA-512), and a second one with ACLs on (1,000 ACLs for other users
//! and topics besides the bench user's, checked on its SASL_PLAINTEXT
//! listener); the same 1 KiB produce and catch-up consume through each,
//! repeated with the listeners' order rotated so drift of this noisy machine
//! falls on all of them; medians and their ratio to PLAINTEXT, as markdown for
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
    /// On the second broker (ACLs on).
    acls: bool,
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

/// The bench user's ACLs (everything on `bench-*` topics and on groups) among
/// 1,000 for other users and topics, half prefixed, half literal.
fn bench_acls() -> Vec<(i8, String, i8, String, i8, i8)> {
    const TOPIC: i8 = 2;
    const GROUP: i8 = 3;
    const LITERAL: i8 = 3;
    const PREFIXED: i8 = 4;
    const ALL: i8 = 2;
    const WRITE: i8 = 4;
    const ALLOW: i8 = 3;
    let mut acls: Vec<(i8, String, i8, String, i8, i8)> = (0..1000)
        .map(|i| {
            let pattern = if i % 2 == 0 { PREFIXED } else { LITERAL };
            (TOPIC, format!("team-{i}-"), pattern, format!("User:svc-{i}"), WRITE, ALLOW)
        })
        .collect();
    acls.push((TOPIC, "bench-".into(), PREFIXED, "User:bench".into(), ALL, ALLOW));
    acls.push((GROUP, "*".into(), LITERAL, "User:bench".into(), ALL, ALLOW));
    acls
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
    let (ssl, sasl, sasl_plain, acl_sasl) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let sets = |v: Vec<String>| -> Vec<String> { v.into_iter().flat_map(|s| ["--set".to_string(), s]).collect() };
    let common =
        vec!["sasl.enabled.mechanisms=SCRAM-SHA-512".to_string(), "bootstrap.users=bench:bench-secret".to_string()];
    let mut a_args = vec![
        format!(
            "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{ssl},SASL_SSL://127.0.0.1:{sasl},\
             SASL_PLAINTEXT://127.0.0.1:{sasl_plain}"
        ),
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", keystore.display()),
    ];
    a_args.extend(common.clone());
    let mut b_args = vec![
        format!("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:{acl_sasl}"),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        // The PLAINTEXT listener only sets the ACLs up.
        "super.users=User:ANONYMOUS".to_string(),
    ];
    b_args.extend(common);
    let kind = Kind::Weir { bin: weir, durable: false, baseline: false };
    let a_root = root.path().join("a");
    let b_root = root.path().join("b");
    std::fs::create_dir_all(&a_root)?;
    std::fs::create_dir_all(&b_root)?;
    let broker = Running::start_with(&kind, &a_root, &sets(a_args))?;
    let with_acls = match Running::start_with(&kind, &b_root, &sets(b_args)) {
        Ok(b) => b,
        Err(e) => {
            broker.stop()?;
            return Err(e);
        }
    };
    if let Err(e) = crate::acls::create(&with_acls.addr, &bench_acls()) {
        broker.stop()?;
        with_acls.stop()?;
        return Err(e);
    }
    let tls = |extra: &[(&str, &str)]| {
        let mut s = vec![("ssl.ca.location".to_string(), ca.display().to_string())];
        s.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Arc::new(s)
    };
    let scram = |addr: String, protocol: &str| {
        let mut s = vec![
            ("security.protocol", protocol),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "bench"),
            ("sasl.password", "bench-secret"),
        ];
        let settings = if protocol == "SASL_SSL" {
            tls(&s)
        } else {
            s.truncate(4);
            Arc::new(s.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        };
        Target::Secured(addr, settings)
    };
    let listeners = [
        Listener { name: "PLAINTEXT", target: Target::Bootstrap(broker.addr.clone()), acls: false },
        Listener {
            name: "SSL",
            target: Target::Secured(format!("127.0.0.1:{ssl}"), tls(&[("security.protocol", "SSL")])),
            acls: false,
        },
        Listener {
            name: "SASL_SSL (SCRAM-SHA-512)",
            target: scram(format!("127.0.0.1:{sasl}"), "SASL_SSL"),
            acls: false,
        },
        Listener {
            name: "SASL_PLAINTEXT (SCRAM-SHA-512)",
            target: scram(format!("127.0.0.1:{sasl_plain}"), "SASL_PLAINTEXT"),
            acls: false,
        },
        Listener {
            name: "SASL_PLAINTEXT with ACLs (1,002)",
            target: scram(format!("127.0.0.1:{acl_sasl}"), "SASL_PLAINTEXT"),
            acls: true,
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
                let serving = if l.acls { &with_acls } else { &broker };
                let (b0, c0) = (serving.cpu_secs(), own_cpu_secs());
                let (topic, p) = workloads::produce(&l.target, &spec).with_context(|| l.name)?;
                let gb = p.bytes as f64 / 1e9;
                cpu[i].push(((serving.cpu_secs() - b0) / gb, (own_cpu_secs() - c0) / gb));
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
    with_acls.stop()?;
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
