//! The consumer-group row (issue 24): N members (500 by default) of one group on
//! one topic of P partitions (2,000), once with each protocol. KIP-848: each
//! member a thread speaking ConsumerGroupHeartbeat v1 on the wire at the interval
//! the broker asks (250 ms for the run), reporting what it owns in every heartbeat
//! and giving up at once what its assignment no longer holds, as the Java consumer
//! does. Classic: see [`crate::classic_groups`] (heartbeats every 250 ms too, the
//! broker's default `group.initial.rebalance.delay.ms` of 3 s). Reported: the time
//! from the first join until the group's describe shows it Stable with every member
//! and every partition owned; the time from one more member joining until Stable
//! again; the broker's CPU over both. Prints markdown.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::*;

use crate::classic_groups;
use crate::client::{self, Target};
use crate::local::Local;
use crate::wire::{self, sb};

const INTERVAL_MS: u32 = 250;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Protocol {
    Consumer,
    Classic,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Consumer, Protocol::Classic];

    fn name(self) -> &'static str {
        match self {
            Protocol::Consumer => "KIP-848",
            Protocol::Classic => "classic",
        }
    }
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

/// The group as ConsumerGroupDescribe shows it: (state, members, partitions they own).
fn describe(s: &mut TcpStream, group: &str) -> Result<Option<(String, usize, usize)>> {
    let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(group))]);
    let (r, _): (ConsumerGroupDescribeResponse, _) = wire::call(s, ApiKey::ConsumerGroupDescribe, 0, &req)?;
    Ok(r.groups.first().map(|g| {
        let owned =
            g.members.iter().flat_map(|m| m.assignment.topic_partitions.iter()).map(|t| t.partitions.len()).sum();
        (g.group_state.to_string(), g.members.len(), owned)
    }))
}

/// Waits until the group is Stable with `members` members owning `partitions`.
fn stable(addr: &str, protocol: Protocol, group: &str, members: usize, partitions: usize) -> Result<()> {
    let mut s = TcpStream::connect(addr)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let seen = match protocol {
            Protocol::Consumer => describe(&mut s, group)?,
            Protocol::Classic => classic_groups::describe(&mut s, group)?,
        };
        if seen.is_some_and(|(state, n, owned)| state == "Stable" && n == members && owned == partitions) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} group {group} not stable with {members} members within 300 s", protocol.name());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Measured {
    join_all: Duration,
    join_one: Duration,
    cpu_secs: f64,
}

fn measure(bin: &PathBuf, protocol: Protocol, members: usize, partitions: i32) -> Result<Measured> {
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
                let interval = Duration::from_millis(INTERVAL_MS.into());
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn(move || match protocol {
                        Protocol::Consumer => member(a, g, t, s),
                        Protocol::Classic => classic_groups::member(a, g, t, partitions, interval, s),
                    })
                    .expect("a member thread")
            })
            .collect()
    };
    let started = Instant::now();
    let stable = |n: usize| stable(&w.kafka, protocol, &group, n, partitions as usize);
    let mut threads = spawn(members);
    stable(members)?;
    let join_all = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    threads.extend(spawn(1));
    stable(members + 1)?;
    let join_one = started.elapsed();
    let cpu_secs = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0) - cpu0;
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("a member panicked"))??;
    }
    w.stop()?;
    Ok(Measured { join_all, join_one, cpu_secs })
}

/// `weirs`: (label, binary), measured in turn `repeats` times with each protocol.
pub fn run(
    weirs: &[(String, PathBuf)],
    protocols: &[Protocol],
    members: usize,
    partitions: i32,
    repeats: usize,
) -> Result<()> {
    let mut rows: Vec<(String, Protocol, Vec<Measured>)> =
        protocols.iter().flat_map(|p| weirs.iter().map(move |(l, _)| (l.clone(), *p, Vec::new()))).collect();
    for _ in 0..repeats {
        for (label, protocol, ms) in rows.iter_mut() {
            let bin = &weirs.iter().find(|(l, _)| l == label).expect("a labelled build").1;
            let m = measure(bin, *protocol, members, partitions)?;
            eprintln!(
                "{label} {}: {members} joined and stable in {:.2} s, one more in {:.2} s, broker CPU {:.1} s",
                protocol.name(),
                m.join_all.as_secs_f64(),
                m.join_one.as_secs_f64(),
                m.cpu_secs
            );
            ms.push(m);
        }
    }
    println!(
        "A group of {members} members (wire clients, heartbeat interval {INTERVAL_MS} ms) on {partitions} partitions.\n"
    );
    println!(
        "| weir | protocol | {members} members joined to Stable (s) | one more member to Stable (s) | broker CPU over both (s) |"
    );
    println!("|---|---|---|---|---|");
    for (label, protocol, ms) in &rows {
        let col = |f: &dyn Fn(&Measured) -> f64| crate::report::each_run(ms, 2, f);
        println!(
            "| {label} | {} | {} | {} | {} |",
            protocol.name(),
            col(&|m| m.join_all.as_secs_f64()),
            col(&|m| m.join_one.as_secs_f64()),
            col(&|m| m.cpu_secs)
        );
    }
    Ok(())
}
