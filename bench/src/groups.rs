//! The consumer-group row (issue 24): N KIP-848 members (500 by default), each
//! a thread speaking ConsumerGroupHeartbeat v1 on the wire at the interval the
//! broker asks (250 ms for the run), on one topic of P partitions (2,000). A
//! member reports what it owns in every heartbeat and gives up at once what its
//! assignment no longer holds, as the Java consumer does. Reported: the time from
//! the first join until ConsumerGroupDescribe shows the group Stable with every
//! member and every partition owned; the time from one more member joining until
//! Stable again; the broker's CPU over both. Prints markdown.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::client::{self, Target};
use crate::local::Local;
use crate::wire;

const INTERVAL_MS: u32 = 250;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// One member's loop until `stop`.
fn member(addr: String, group: String, topic: String, stop: Arc<AtomicBool>) -> Result<()> {
    let mut s = TcpStream::connect(&addr)?;
    s.set_nodelay(true)?;
    let id = uuid::Uuid::new_v4().to_string();
    let mut epoch = 0;
    let mut owned: BTreeMap<uuid::Uuid, BTreeSet<i32>> = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        let mut req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_member_id(sb(&id))
            .with_member_epoch(epoch)
            .with_rebalance_timeout_ms(60_000)
            .with_topic_partitions(Some(
                owned
                    .iter()
                    .map(|(t, ps)| {
                        TopicPartitions::default().with_topic_id(*t).with_partitions(ps.iter().copied().collect())
                    })
                    .collect(),
            ));
        if epoch == 0 {
            req =
                req.with_subscribed_topic_names(Some(vec![TopicName(sb(&topic))])).with_topic_partitions(Some(vec![]));
        }
        let (r, _): (ConsumerGroupHeartbeatResponse, _) = wire::call(&mut s, ApiKey::ConsumerGroupHeartbeat, 1, &req)?;
        if r.error_code != 0 {
            // Fenced or unknown: rejoin, owning nothing.
            (epoch, owned) = (0, BTreeMap::new());
        } else {
            epoch = r.member_epoch;
            if let Some(a) = r.assignment {
                owned = a
                    .topic_partitions
                    .iter()
                    .map(|tp| (tp.topic_id, tp.partitions.iter().copied().collect()))
                    .collect();
            }
        }
        std::thread::sleep(Duration::from_millis(r.heartbeat_interval_ms.clamp(10, 5_000) as u64));
    }
    let leave = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(&group)))
        .with_member_id(sb(&id))
        .with_member_epoch(-1);
    let _: (ConsumerGroupHeartbeatResponse, _) = wire::call(&mut s, ApiKey::ConsumerGroupHeartbeat, 1, &leave)?;
    Ok(())
}

/// Waits until the group is Stable with `members` members owning `partitions`.
fn stable(addr: &str, group: &str, members: usize, partitions: usize) -> Result<()> {
    let mut s = TcpStream::connect(addr)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(group))]);
        let (r, _): (ConsumerGroupDescribeResponse, _) = wire::call(&mut s, ApiKey::ConsumerGroupDescribe, 0, &req)?;
        if let Some(g) = r.groups.first() {
            let owned: usize =
                g.members.iter().flat_map(|m| m.assignment.topic_partitions.iter()).map(|t| t.partitions.len()).sum();
            if g.group_state.as_str() == "Stable" && g.members.len() == members && owned == partitions {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("group {group} not stable with {members} members within 300 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Measured {
    join_all: Duration,
    join_one: Duration,
    cpu_secs: f64,
}

fn measure(bin: &PathBuf, members: usize, partitions: i32) -> Result<Measured> {
    let data = tempfile::tempdir()?;
    let interval = format!("group.consumer.heartbeat.interval.ms={INTERVAL_MS}");
    let min_interval = format!("group.consumer.min.heartbeat.interval.ms={INTERVAL_MS}");
    let w = Local::start(bin, data.path(), &[&interval, &min_interval], &[])?;
    let target = Target::Bootstrap(w.kafka.clone());
    let topic = "group-row".to_string();
    client::create_topic(&target, &topic, partitions)?;
    let group = "group-row-g".to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0);
    let spawn = |n: usize| -> Vec<std::thread::JoinHandle<Result<()>>> {
        (0..n)
            .map(|_| {
                let (a, g, t, s) = (w.kafka.clone(), group.clone(), topic.clone(), stop.clone());
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn(move || member(a, g, t, s))
                    .expect("a member thread")
            })
            .collect()
    };
    let started = Instant::now();
    let mut threads = spawn(members);
    stable(&w.kafka, &group, members, partitions as usize)?;
    let join_all = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    threads.extend(spawn(1));
    stable(&w.kafka, &group, members + 1, partitions as usize)?;
    let join_one = started.elapsed();
    let cpu_secs = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0) - cpu0;
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("a member panicked"))??;
    }
    w.stop()?;
    Ok(Measured { join_all, join_one, cpu_secs })
}

/// `weirs`: (label, binary), measured in turn `repeats` times.
pub fn run(weirs: &[(String, PathBuf)], members: usize, partitions: i32, repeats: usize) -> Result<()> {
    let mut rows: Vec<(String, Vec<Measured>)> = weirs.iter().map(|(l, _)| (l.clone(), Vec::new())).collect();
    for _ in 0..repeats {
        for (i, (label, bin)) in weirs.iter().enumerate() {
            let m = measure(bin, members, partitions)?;
            eprintln!(
                "{label}: {members} joined and stable in {:.2} s, one more in {:.2} s, broker CPU {:.1} s",
                m.join_all.as_secs_f64(),
                m.join_one.as_secs_f64(),
                m.cpu_secs
            );
            rows[i].1.push(m);
        }
    }
    println!(
        "A KIP-848 group of {members} members (wire clients, heartbeat interval {INTERVAL_MS} ms) on {partitions} partitions.\n"
    );
    println!(
        "| weir | {members} members joined to Stable (s) | one more member to Stable (s) | broker CPU over both (s) |"
    );
    println!("|---|---|---|---|");
    for (label, ms) in &rows {
        let col =
            |f: &dyn Fn(&Measured) -> f64| ms.iter().map(|m| format!("{:.2}", f(m))).collect::<Vec<_>>().join(" / ");
        println!(
            "| {label} | {} | {} | {} |",
            col(&|m| m.join_all.as_secs_f64()),
            col(&|m| m.join_one.as_secs_f64()),
            col(&|m| m.cpu_secs)
        );
    }
    Ok(())
}
