//! The share-group row (KIP-932): a pre-filled topic read from its first record by
//! one consumer, alternately with plain Fetch (sessionless, every partition in every
//! request, as librdkafka fetches) and as the one member of a share group
//! (ShareFetch with a share session, each response's acquired records accepted on
//! the next request, at most `max.poll.records` = 500 records a request as
//! librdkafka's share consumer asks). Both consumers are written here, on the wire,
//! on one thread, so the rows differ only in the protocol. The share row must
//! acquire every record once; the fetch row must read every record. Prints
//! markdown for docs/performance.md.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckBatch,
};
use kafka_protocol::messages::share_fetch_request::{self, AcknowledgementBatch};
use kafka_protocol::messages::*;
use uuid::Uuid;

use crate::client::{self, Target};
use crate::local::Local;
use crate::wire::{self, sb};

const RECORD: usize = 1024;
/// librdkafka's share consumer asks for `max.poll.records` (500 by default).
const MAX_RECORDS: i32 = 500;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fetch,
    Share,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Fetch => "Fetch (plain consumer)",
            Mode::Share => "ShareFetch (share group, each record accepted)",
        }
    }
}

struct Measured {
    secs: f64,
    requests: u64,
    broker_cpu_secs: f64,
}

pub fn run(bin: PathBuf, partitions: i32, records: u64, repeats: usize) -> Result<()> {
    let data = tempfile::tempdir()?;
    let w = Local::start_pinned(&bin, data.path(), &[])?;
    let target = Target::Bootstrap(w.kafka.clone());
    let topic = "share-src";
    client::create_topic(&target, topic, partitions)?;
    fill(&target, topic, partitions, records)?;
    let mut s = TcpStream::connect(&w.kafka)?;
    s.set_nodelay(true)?;
    let topic_id = topic_id(&mut s, topic)?;
    let mut results: Vec<(Mode, Measured)> = Vec::new();
    for r in 0..repeats {
        for mode in [Mode::Fetch, Mode::Share] {
            let cpu0 = crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0);
            let started = Instant::now();
            let requests = match mode {
                Mode::Fetch => fetch_all(&mut s, topic, partitions, records)?,
                Mode::Share => share_all(&mut s, &format!("share-bench-{r}"), topic, topic_id, records)?,
            };
            let m = Measured {
                secs: started.elapsed().as_secs_f64(),
                requests,
                broker_cpu_secs: crate::host::process_cpu_secs(w.pid()).unwrap_or(0.0) - cpu0,
            };
            eprintln!(
                "{} run {r}: {:.0} MB/s, {} requests",
                mode.name(),
                (records as usize * RECORD) as f64 / m.secs / 1e6,
                m.requests
            );
            results.push((mode, m));
        }
    }
    w.stop()?;
    print(partitions, records, &results);
    Ok(())
}

fn fill(target: &Target, topic: &str, partitions: i32, records: u64) -> Result<()> {
    let (p, acks) =
        client::producer(target, &client::ProducerSettings { acks: "1", compression: "none", linger_ms: 5 })?;
    let payload = vec![b's'; RECORD];
    for n in 0..records {
        client::send(&p, topic, (n % partitions as u64) as i32, &payload);
    }
    client::finish(&p, &acks, records)
}

fn topic_id(s: &mut TcpStream, topic: &str) -> Result<Uuid> {
    let req = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(sb(topic))))
    ]));
    let (md, _): (MetadataResponse, _) = wire::call(s, ApiKey::Metadata, 12, &req)?;
    Ok(md.topics[0].topic_id)
}

/// Reads every partition from offset 0 until `records` were read; the requests.
fn fetch_all(s: &mut TcpStream, topic: &str, partitions: i32, records: u64) -> Result<u64> {
    let mut offsets = vec![0i64; partitions as usize];
    let (mut read, mut requests) = (0u64, 0u64);
    while read < records {
        let parts = (0..partitions)
            .map(|p| {
                FetchPartition::default()
                    .with_partition(p)
                    .with_fetch_offset(offsets[p as usize])
                    .with_partition_max_bytes(1 << 20)
            })
            .collect();
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(50 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default().with_topic(TopicName(sb(topic))).with_partitions(parts)]);
        let (resp, _): (FetchResponse, _) = wire::call(s, ApiKey::Fetch, 12, &req)?;
        requests += 1;
        for p in resp.responses.iter().flat_map(|t| &t.partitions) {
            if p.error_code != 0 {
                bail!("fetch: partition {} answered error {}", p.partition_index, p.error_code);
            }
            let (next, count) = wire::walk(p.records.as_deref().unwrap_or_default());
            if let Some(next) = next {
                offsets[p.partition_index as usize] = next;
            }
            read += count;
        }
    }
    Ok(requests)
}

/// Joins `group` (share.auto.offset.reset=earliest) and acquires until `records`
/// were acquired, accepting each response's records on the next request; the
/// requests (the final acknowledgement included).
fn share_all(s: &mut TcpStream, group: &str, topic: &str, topic_id: Uuid, records: u64) -> Result<u64> {
    let cfg = AlterConfigsResource::default().with_resource_type(32).with_resource_name(sb(group)).with_configs(vec![
        AlterableConfig::default()
            .with_name(sb("share.auto.offset.reset"))
            .with_config_operation(0)
            .with_value(Some(sb("earliest"))),
    ]);
    let (r, _): (IncrementalAlterConfigsResponse, _) = wire::call(
        s,
        ApiKey::IncrementalAlterConfigs,
        1,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![cfg]),
    )?;
    if r.responses[0].error_code != 0 {
        bail!("share.auto.offset.reset: error {}", r.responses[0].error_code);
    }
    let member = Uuid::new_v4().to_string();
    let hb = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_member_id(sb(&member))
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(vec![TopicName(sb(topic))]));
    let (joined, _): (ShareGroupHeartbeatResponse, _) = wire::call(s, ApiKey::ShareGroupHeartbeat, 1, &hb)?;
    if joined.error_code != 0 {
        bail!("ShareGroupHeartbeat: error {}", joined.error_code);
    }
    let owned: Vec<i32> =
        joined.assignment.iter().flat_map(|a| &a.topic_partitions).flat_map(|t| t.partitions.clone()).collect();
    let (mut acquired, mut requests, mut epoch) = (0u64, 0u64, 0i32);
    // Per partition, the ranges acquired by the last response: accepted next.
    let mut pending: BTreeMap<i32, Vec<(i64, i64)>> = BTreeMap::new();
    while acquired < records {
        let parts: Vec<i32> = if epoch == 0 { owned.clone() } else { pending.keys().copied().collect() };
        let topics = if parts.is_empty() {
            vec![]
        } else {
            vec![share_fetch_request::FetchTopic::default().with_topic_id(topic_id).with_partitions(
                parts
                    .iter()
                    .map(|p| {
                        let acks = pending.get(p).into_iter().flatten().map(|&(f, l)| {
                            AcknowledgementBatch::default()
                                .with_first_offset(f)
                                .with_last_offset(l)
                                .with_acknowledge_types(vec![1])
                        });
                        share_fetch_request::FetchPartition::default()
                            .with_partition_index(*p)
                            .with_acknowledgement_batches(acks.collect())
                    })
                    .collect(),
            )]
        };
        let req = ShareFetchRequest::default()
            .with_group_id(Some(GroupId(sb(group))))
            .with_member_id(Some(sb(&member)))
            .with_share_session_epoch(epoch)
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(50 << 20)
            .with_max_records(MAX_RECORDS)
            .with_batch_size(MAX_RECORDS)
            .with_topics(topics);
        let (resp, _): (ShareFetchResponse, _) = wire::call(s, ApiKey::ShareFetch, 1, &req)?;
        requests += 1;
        if resp.error_code != 0 {
            bail!("ShareFetch: error {}", resp.error_code);
        }
        epoch += 1;
        pending.clear();
        for p in resp.responses.iter().flat_map(|t| &t.partitions) {
            if p.error_code != 0 || p.acknowledge_error_code != 0 {
                bail!(
                    "ShareFetch: partition {} answered {} / {}",
                    p.partition_index,
                    p.error_code,
                    p.acknowledge_error_code
                );
            }
            for a in &p.acquired_records {
                if a.delivery_count != 1 {
                    bail!("offset {} delivered {} times", a.first_offset, a.delivery_count);
                }
                acquired += (a.last_offset - a.first_offset + 1) as u64;
                pending.entry(p.partition_index).or_default().push((a.first_offset, a.last_offset));
            }
        }
    }
    let last = ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(sb(group))))
        .with_member_id(Some(sb(&member)))
        .with_share_session_epoch(-1)
        .with_topics(vec![AcknowledgeTopic::default().with_topic_id(topic_id).with_partitions(
            pending
                .iter()
                .map(|(p, ranges)| {
                    AcknowledgePartition::default().with_partition_index(*p).with_acknowledgement_batches(
                        ranges
                            .iter()
                            .map(|&(f, l)| {
                                AckBatch::default()
                                    .with_first_offset(f)
                                    .with_last_offset(l)
                                    .with_acknowledge_types(vec![1])
                            })
                            .collect(),
                    )
                })
                .collect(),
        )]);
    let (r, _): (ShareAcknowledgeResponse, _) = wire::call(s, ApiKey::ShareAcknowledge, 1, &last)?;
    if r.error_code != 0 || r.responses.iter().flat_map(|t| &t.partitions).any(|p| p.error_code != 0) {
        bail!("final ShareAcknowledge failed");
    }
    let leave = hb.with_member_epoch(-1).with_subscribed_topic_names(None);
    wire::call::<_, ShareGroupHeartbeatResponse>(s, ApiKey::ShareGroupHeartbeat, 1, &leave)?;
    Ok(requests + 1)
}

fn print(partitions: i32, records: u64, results: &[(Mode, Measured)]) {
    println!(
        "One consumer on one thread reads {records} records of 1 KiB ({partitions} partitions, pre-filled) from the first, alternately with each protocol.\n"
    );
    println!("| consuming with | MB/s | records per request | broker CPU s per GB |");
    println!("| --- | --- | --- | --- |");
    for mode in [Mode::Fetch, Mode::Share] {
        let runs: Vec<&Measured> = results.iter().filter(|(m, _)| *m == mode).map(|(_, r)| r).collect();
        let col = |f: &dyn Fn(&Measured) -> f64, digits: usize| crate::report::each_run(&runs, digits, |r| f(r));
        let gb = (records as usize * RECORD) as f64 / 1e9;
        println!(
            "| {} | {} | {} | {} |",
            mode.name(),
            col(&|r| gb * 1e3 / r.secs, 0),
            col(&|r| records as f64 / r.requests as f64, 0),
            col(&|r| r.broker_cpu_secs / gb, 2),
        );
    }
}
