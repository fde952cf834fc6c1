//! End-to-end: offset-preserving mirror topics (issue 17, `mirror.mode=preserve`).
//! B's copy of `orders` holds A's batches byte for byte at A's offsets (so the
//! same CRCs), transaction markers included, through a SIGKILL of the
//! replicator; producing to the mirror topic fails naming its source; `weir
//! mirror failover` promotes it (writable, offsets go on, the running flow stops
//! copying it) and moves a consumer group over with no record lost or read
//! twice.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::clients::*;
use common::mirror::*;
use common::wire::{call, connect};
use common::Weir;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Every batch of a partition as the broker serves it, read uncommitted, with
/// (base offset, CRC, whether a control batch) of each.
fn raw_log(weir: &Weir, topic: &str, partition: i32) -> (Vec<u8>, Vec<(i64, u32, bool)>) {
    let mut s = connect(weir);
    let (mut bytes, mut batches) = (Vec::new(), Vec::new());
    let mut offset = 0;
    loop {
        let fp = fetch_request::FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(8 << 20);
        let req = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(8 << 20)
            .with_topics(vec![fetch_request::FetchTopic::default().with_topic(name(topic)).with_partitions(vec![fp])]);
        let resp: FetchResponse = call(&mut s, ApiKey::Fetch, 12, &req);
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch {topic}-{partition} at {offset}");
        let records = p.records.clone().unwrap_or_default();
        let mut pos = 0;
        while records.len() - pos >= 61 {
            let b = &records[pos..];
            let len = 12 + i32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
            if len > b.len() {
                break;
            }
            let base = i64::from_be_bytes(b[0..8].try_into().unwrap());
            let crc = u32::from_be_bytes(b[17..21].try_into().unwrap());
            let control = i16::from_be_bytes(b[21..23].try_into().unwrap()) & 0x20 != 0;
            let last_delta = i32::from_be_bytes(b[23..27].try_into().unwrap());
            batches.push((base, crc, control));
            bytes.extend_from_slice(&b[..len]);
            offset = base + last_delta as i64 + 1;
            pos += len;
        }
        if pos == 0 {
            return (bytes, batches);
        }
    }
}

fn ends(addr: &str, topic: &str) -> Vec<i64> {
    let c = consumer(addr);
    (0..PARTITIONS).map(|p| c.fetch_watermarks(topic, p, Duration::from_secs(10)).map_or(-1, |w| w.1)).collect()
}

fn wait_mirrored(a: &Weir, b: &Weir) {
    let want = ends(&a.addr, "orders");
    wait_for("B to hold A's offsets", || (ends(&b.addr, "A.orders") == want).then_some(()));
}

/// A's records: plain, a committed and an aborted transaction, compressed.
fn produce_mix(addr: &str, from: usize) -> usize {
    let (p, _) = producer(addr, &[]);
    for i in from..from + 900 {
        send(&p, "orders", (i % PARTITIONS as usize) as i32, i);
    }
    flush(&p);
    let (t, _) = producer(addr, &[("transactional.id", "orders-writer"), ("message.timeout.ms", "60000")]);
    t.init_transactions(DEADLINE).unwrap();
    for (k, commit) in [(from + 900, true), (from + 930, false)] {
        t.begin_transaction().unwrap();
        for i in k..k + 30 {
            send(&t, "orders", (i % PARTITIONS as usize) as i32, i);
        }
        if commit {
            t.commit_transaction(DEADLINE).unwrap();
        } else {
            t.abort_transaction(DEADLINE).unwrap();
        }
    }
    let (z, _) = producer(addr, &[("compression.type", "lz4"), ("linger.ms", "20")]);
    for i in from + 960..from + 1200 {
        send(&z, "orders", (i % PARTITIONS as usize) as i32, i);
    }
    flush(&z);
    from + 1200
}

/// Records of `topic` read committed by group `group` (subscribed, from its
/// committed offsets), until `want` are read and nothing more comes for a second.
fn read_as_group(addr: &str, topic: &str, group: &str, want: usize) -> Vec<(i32, i64, TestRecord)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let (mut out, started, mut quiet) = (Vec::new(), Instant::now(), Instant::now());
    loop {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push((m.partition(), m.offset(), from_message(&m)));
                quiet = Instant::now();
            }
            Some(Err(e)) => panic!("consume error: {e}"),
            None if out.len() >= want && quiet.elapsed() > Duration::from_secs(1) => return out,
            None => {}
        }
        assert!(started.elapsed() < DEADLINE, "read {} of {want}", out.len());
    }
}

/// Records of A from `from` on in one partition, read committed.
fn committed_records(addr: &str, partition: i32, from: i64, until: i64) -> Vec<(i32, i64, TestRecord)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "unused")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("orders", partition, Offset::Offset(from)).unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    loop {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push((partition, m.offset(), from_message(&m))),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_)))
                if c.position().is_ok_and(|p| {
                    p.find_partition("orders", partition)
                        .is_some_and(|e| matches!(e.offset(), Offset::Offset(o) if o >= until))
                }) =>
            {
                return out
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => panic!("consume error: {e}"),
        }
        assert!(started.elapsed() < DEADLINE, "reading A's partition {partition}");
    }
}

fn produce_raw(weir: &Weir, topic: &str) -> (i16, String, i64) {
    produce_as(weir, topic, None)
}

/// A Produce request, optionally with a `transactional_id` (the mirror's copy
/// marker is one).
fn produce_as(weir: &Weir, topic: &str, transactional_id: Option<&'static str>) -> (i16, String, i64) {
    let mut s = connect(weir);
    let td = produce_request::TopicProduceData::default().with_name(name(topic)).with_partition_data(vec![
        produce_request::PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(Bytes::from(common::wire::batch(&[b"after"]).to_vec()))),
    ]);
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![td])
        .with_transactional_id(transactional_id.map(|t| TransactionalId(StrBytes::from_static_str(t))));
    let r: ProduceResponse = call(&mut s, ApiKey::Produce, 9, &req);
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default(), p.base_offset)
}

/// Runs `weir mirror failover` for A->B; checks it moved the group
/// `billing`; returns its output.
fn failover(config: &std::path::Path) -> String {
    let out = Command::new(common::bin())
        .args(["mirror", "failover", "--config"])
        .arg(config)
        .args(["--flow", "A->B"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("group billing: offsets of {PARTITIONS} partitions copied")), "{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preserve_keeps_offsets_and_batches_and_fails_over_a_group() {
    let (a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", PARTITIONS, &[]).await;
    let produced = produce_mix(&a.addr, 0);
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_file(dir.path(), &a.addr, &b.addr, "A->B.mirror.mode = preserve\n");

    let mirror = Mirror::start(&config);
    wait_mirrored(&a, &b);
    // Killed mid-run and started again: it resumes at B's end, nothing twice.
    mirror.kill();
    let produced = produce_mix(&a.addr, produced);
    let mirror = Mirror::start(&config);
    wait_mirrored(&a, &b);

    for p in 0..PARTITIONS {
        let (from_a, batches_a) = raw_log(&a, "orders", p);
        let (from_b, batches_b) = raw_log(&b, "A.orders", p);
        assert!(!batches_a.is_empty());
        assert!(batches_a.iter().any(|b| b.2), "partition {p}: A holds transaction markers");
        assert_eq!(batches_b, batches_a, "partition {p}: same batches at the same offsets with the same CRCs");
        assert!(from_b == from_a, "partition {p}: B's batches are A's, byte for byte");
    }

    // Read-only until promoted, naming the source.
    let (code, message, _) = produce_raw(&b, "A.orders");
    assert_eq!(code, 42, "{message}");
    assert!(message.contains("read-only mirror of A:orders"), "{message}");

    // A group that read part of A; it moves over with failover.
    let a_ends = ends(&a.addr, "orders");
    let at: Vec<i64> = a_ends.iter().map(|e| e / 3).collect();
    let offsets: Vec<(&str, i32, i64)> = (0..PARTITIONS).map(|p| ("orders", p, at[p as usize])).collect();
    commit_group(&a.addr, "billing", &offsets);
    let expected: Vec<(i32, i64, TestRecord)> =
        (0..PARTITIONS).flat_map(|p| committed_records(&a.addr, p, at[p as usize], a_ends[p as usize])).collect();
    assert!(expected.len() > 1000 && expected.len() < produced);

    let stdout = failover(&config);
    assert!(stdout.contains("promoted A.orders (was a mirror of A:orders)"), "{stdout}");
    assert!(!stdout.contains("source not reachable"), "{stdout}");
    // Run again (as after an interruption): the promoted topic's groups move
    // all the same.
    let again = failover(&config);
    assert!(again.contains("A.orders was promoted before"), "{again}");
    assert_eq!(committed(&b.addr, "billing", "A.orders", PARTITIONS), at, "offsets copied verbatim");

    let mut got = read_as_group(&b.addr, "A.orders", "billing", expected.len());
    got.sort_by_key(|(p, o, _)| (*p, *o));
    assert_eq!(got.len(), expected.len(), "nothing lost, nothing twice");
    assert!(got == expected, "B's group reads exactly what A's had left to read, at the same offsets");

    // Promoted: writable, offsets go on from the mirrored end; the running
    // flow stops copying it (A's next record does not reach B).
    let b_end = ends(&b.addr, "A.orders")[0];
    let (code, message, offset) = produce_raw(&b, "A.orders");
    assert_eq!((code, offset), (0, b_end), "{message}");
    let (p, _) = producer(&a.addr, &[]);
    send(&p, "orders", 0, produced);
    flush(&p);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ends(&b.addr, "A.orders")[0], b_end + 1);
    // B's own idempotent producers write to it (that their ids never meet
    // those copied from A is checked in broker/tests/mirror_topics.rs).
    let (idem, deliveries) = producer(&b.addr, &[("enable.idempotence", "true")]);
    for i in 0..20 {
        send(&idem, "A.orders", 1, 50_000 + i);
    }
    flush(&idem);
    assert!(deliveries.errors().is_empty(), "{:?}", deliveries.errors());
    let b_end1 = ends(&b.addr, "A.orders")[1];
    let tail = read_partition(&b.addr, "A.orders", 1, Offset::Offset(b_end1 - 20), 20);
    assert!(tail.iter().map(|(_, r)| r.clone()).eq((50_000..50_020).map(record)), "B's own records after the copy");
    // Copies are refused now, naming why; the copy marker is no producer's id.
    let (code, message, _) = produce_as(&b, "A.orders", Some("__weir_mirror_copy"));
    assert_eq!(code, 42);
    assert!(message.contains("not a mirror topic"), "{message}");
    let mut s = connect(&b);
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("__weir_mirror_copy"))))
        .with_transaction_timeout_ms(60_000);
    let r: InitProducerIdResponse = call(&mut s, ApiKey::InitProducerId, 4, &init);
    assert_eq!(r.error_code, 42, "{r:?}");
    // And it cannot be made a mirror again (INVALID_CONFIG; asked on the wire,
    // as rdkafka's alter_configs does not report a resource's error).
    let mut s = connect(&b);
    let req =
        AlterConfigsRequest::default().with_resources(vec![alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("A.orders"))
            .with_configs(vec![alter_configs_request::AlterableConfig::default()
                .with_name(StrBytes::from_static_str("weir.mirror.source"))
                .with_value(Some(StrBytes::from_static_str("A:orders")))])]);
    let r: AlterConfigsResponse = call(&mut s, ApiKey::AlterConfigs, 1, &req);
    assert_eq!(r.responses[0].error_code, 40, "{r:?}");
    assert!(mirror.stop().success(), "the flow ran on after the promotion");
}

/// The group offsets the flow's checkpoints on B hold for `group`, by partition.
fn checkpointed(b: &Weir, group: &str) -> Vec<i64> {
    let c = consumer(&b.addr);
    let topic = "A.checkpoints.internal";
    let Ok((_, end)) = c.fetch_watermarks(topic, 0, Duration::from_secs(10)) else { return Vec::new() };
    if end <= 0 {
        return Vec::new();
    }
    let mut latest = vec![-1; PARTITIONS as usize];
    for (_, r) in read_partition(&b.addr, topic, 0, Offset::Beginning, end as usize) {
        let cp =
            weir_mirror::formats::Checkpoint::decode(r.key.as_deref().unwrap(), r.value.as_deref().unwrap()).unwrap();
        if cp.group == group && cp.topic == "A.orders" {
            // Preserve mode: the same offset on both sides.
            assert_eq!(cp.upstream_offset, cp.downstream_offset, "{cp:?}");
            latest[cp.partition as usize] = cp.downstream_offset;
        }
    }
    latest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_with_the_source_gone_takes_the_offsets_from_the_checkpoints() {
    let (mut a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", PARTITIONS, &[]).await;
    let (p, _) = producer(&a.addr, &[]);
    for i in 0..1500 {
        send(&p, "orders", (i % PARTITIONS as usize) as i32, i);
    }
    flush(&p);
    let at = vec![100, 250, 499];
    let offsets: Vec<(&str, i32, i64)> = (0..PARTITIONS).map(|p| ("orders", p, at[p as usize])).collect();
    commit_group(&a.addr, "billing", &offsets);
    let expected: Vec<(i32, i64, TestRecord)> =
        (0..PARTITIONS).flat_map(|p| committed_records(&a.addr, p, at[p as usize], 500)).collect();
    let dir = tempfile::tempdir().unwrap();
    let extra =
        "A->B.mirror.mode = preserve\nemit.checkpoints.interval.seconds = 1\nrefresh.groups.interval.seconds = 1\n";
    let config = mm2_file(dir.path(), &a.addr, &b.addr, extra);
    let mirror = Mirror::start(&config);
    wait_mirrored(&a, &b);
    wait_for("the group's checkpoints on B", || (checkpointed(&b, "billing") == at).then_some(()));
    mirror.kill();
    a.kill();

    let stdout = failover(&config);
    assert!(stdout.contains("promoted A.orders (was a mirror of A:orders)"), "{stdout}");
    assert!(stdout.contains("source not reachable"), "{stdout}");
    assert_eq!(committed(&b.addr, "billing", "A.orders", PARTITIONS), at);
    let mut got = read_as_group(&b.addr, "A.orders", "billing", expected.len());
    got.sort_by_key(|(p, o, _)| (*p, *o));
    assert!(got == expected, "B's group reads exactly what A's had left: {} of {}", got.len(), expected.len());
}
