//! The start-up row (issue 24): a weir holding N partitions (topics of 100
//! partitions, one small record in each), its resident memory and allocated
//! disk per idle partition, then the time from spawning it to its ready line
//! after a clean shutdown (SIGTERM) and after a crash (SIGKILL: no
//! clean-shutdown marker, so every log's tail is checked), each repeated. The
//! restarted broker must serve every partition. Prints markdown for
//! docs/performance.md.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

use crate::client;
use crate::local::Local;

const PER_TOPIC: usize = 100;

pub fn run(bin: PathBuf, partitions: usize, repeats: usize) -> Result<()> {
    let data = tempfile::tempdir()?;
    let dir = data.path();
    let w = Local::start(&bin, dir, &[], &[])?;
    std::thread::sleep(Duration::from_secs(1));
    let (empty_rss, empty_disk) = (w.rss_kib(), allocated_bytes(dir));
    let per = PER_TOPIC.min(partitions.max(1));
    let names: Vec<String> = (0..partitions.div_ceil(per)).map(|i| format!("startup-{i:04}")).collect();
    create_and_fill(&w.kafka, &names, per)?;
    std::thread::sleep(Duration::from_secs(2));
    let n = names.len() * per;
    let rss_per = (w.rss_kib().saturating_sub(empty_rss)) as f64 / n as f64;
    let disk_per = allocated_bytes(dir).saturating_sub(empty_disk) as f64 / n as f64 / 1024.0;
    w.stop()?;

    let mut clean = Vec::new();
    for _ in 0..repeats {
        let w = Local::start(&bin, dir, &[], &[])?;
        clean.push(w.ready_after);
        check_serves(&w, &names, per)?;
        w.stop()?;
    }
    let mut crashed = Vec::new();
    let mut w = Local::start(&bin, dir, &[], &[])?;
    for _ in 0..repeats {
        w.kill()?;
        w = Local::start(&bin, dir, &[], &[])?;
        crashed.push(w.ready_after);
        check_serves(&w, &names, per)?;
    }
    w.stop()?;

    let secs = |v: &[Duration]| v.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>().join(", ");
    println!("### Start-up with {n} partitions ({} topics of {per}, one record each)\n", names.len());
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| resident memory per idle partition | {rss_per:.1} KiB |");
    println!("| disk allocated per partition | {disk_per:.1} KiB |");
    println!("| to ready after a clean shutdown (s) | {} |", secs(&clean));
    println!("| to ready after SIGKILL (s) | {} |", secs(&crashed));
    Ok(())
}

/// Topics `names` of `per` partitions each, created ten to a CreateTopics request
/// through one admin client, then one small record written into each partition
/// (so that every log is open, as on a broker that has served it).
pub(crate) fn create_and_fill(kafka: &str, names: &[String], per: usize) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", kafka).create()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    for chunk in names.chunks(10) {
        let new: Vec<NewTopic> =
            chunk.iter().map(|n| NewTopic::new(n, per as i32, TopicReplication::Fixed(1))).collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(120)));
        for r in rt.block_on(admin.create_topics(&new, &opts))? {
            r.map_err(|(t, e)| anyhow::anyhow!("create {t}: {e}"))?;
        }
    }
    let target = client::Target::Bootstrap(kafka.to_string());
    let (producer, acks) =
        client::producer(&target, &client::ProducerSettings { acks: "all", compression: "none", linger_ms: 20 })?;
    for name in names {
        for p in 0..per as i32 {
            client::send(&producer, name, p, b"x");
        }
    }
    client::finish(&producer, &acks, (names.len() * per) as u64)
}

/// Every partition of `names` is in the restarted broker's metadata with a leader.
fn check_serves(w: &Local, names: &[String], per: usize) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", &w.kafka).create()?;
    let meta = admin.inner().fetch_metadata(None, Duration::from_secs(60))?;
    let served: usize = meta
        .topics()
        .iter()
        .filter(|t| t.name().starts_with("startup-"))
        .map(|t| t.partitions().iter().filter(|p| p.leader() >= 0).count())
        .sum();
    if served != names.len() * per {
        bail!("after the restart {served} of {} partitions have a leader", names.len() * per);
    }
    Ok(())
}

/// Bytes of disk allocated under `dir` (sparse holes do not count).
fn allocated_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.blocks() * 512;
            }
        }
    }
    total
}
