//! librdkafka (rdkafka crate) helpers for the end-to-end tests.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Bound for operations that should finish quickly; hitting it is a failure.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// The deterministic record number `i` of a test stream.
#[derive(Clone, Debug, PartialEq)]
pub struct TestRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
}

pub const BASE_TS: i64 = 1_700_000_000_000;

pub fn record(i: usize) -> TestRecord {
    let key = if i % 50 == 49 { None } else { Some(format!("key-{}", i % 1000).into_bytes()) };
    let value = if i % 10 == 7 { None } else { Some(format!("value-{i}-{}", "x".repeat(i % 97)).into_bytes()) };
    let headers = if i.is_multiple_of(3) {
        vec![("h1".to_string(), Some(format!("hv{i}").into_bytes())), ("h-null".to_string(), None)]
    } else {
        vec![]
    };
    TestRecord { key, value, headers, timestamp: BASE_TS + i as i64 }
}

pub fn from_message<M: Message>(m: &M) -> TestRecord {
    let headers = m
        .headers()
        .map(|h| {
            (0..h.count())
                .map(|i| {
                    let hd = h.get(i);
                    (hd.key.to_string(), hd.value.map(|v| v.to_vec()))
                })
                .collect()
        })
        .unwrap_or_default();
    TestRecord {
        key: m.key().map(|k| k.to_vec()),
        value: m.payload().map(|v| v.to_vec()),
        headers,
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
    }
}

/// Delivery reports: (record number, Ok(offset) or Err(description)).
type Reports = Vec<(usize, Result<i64, String>)>;

#[derive(Clone, Default)]
pub struct Deliveries(pub Arc<Mutex<Reports>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<usize>;
    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Box<usize>) {
        let r = match result {
            Ok(m) => Ok(m.offset()),
            Err((e, _)) => Err(e.to_string()),
        };
        self.0.lock().unwrap().push((*opaque, r));
    }
}

impl Deliveries {
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn acked(&self) -> Vec<(usize, i64)> {
        self.0.lock().unwrap().iter().filter_map(|(i, r)| r.as_ref().ok().map(|o| (*i, *o))).collect()
    }
    pub fn errors(&self) -> Vec<(usize, String)> {
        self.0.lock().unwrap().iter().filter_map(|(i, r)| r.as_ref().err().map(|e| (*i, e.clone()))).collect()
    }
}

pub fn producer(addr: &str, settings: &[(&str, &str)]) -> (ThreadedProducer<Deliveries>, Deliveries) {
    let deliveries = Deliveries::default();
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", addr)
        .set("queue.buffering.max.messages", "500000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000");
    for (k, v) in settings {
        cfg.set(*k, *v);
    }
    let p = cfg.create_with_context(deliveries.clone()).expect("producer");
    (p, deliveries)
}

pub fn send(p: &ThreadedProducer<Deliveries>, topic: &str, partition: i32, i: usize) {
    let r = record(i);
    let mut headers = OwnedHeaders::new();
    for (k, v) in &r.headers {
        headers = headers.insert(Header { key: k, value: v.as_deref() });
    }
    let mut rec: BaseRecord<'_, [u8], [u8], Box<usize>> =
        BaseRecord::with_opaque_to(topic, Box::new(i)).partition(partition).timestamp(r.timestamp);
    if let Some(k) = r.key.as_deref() {
        rec = rec.key(k);
    }
    if let Some(v) = r.value.as_deref() {
        rec = rec.payload(v);
    }
    if !r.headers.is_empty() {
        rec = rec.headers(headers);
    }
    let mut rec = rec;
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((e, back)) => {
                assert!(
                    matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ),
                    "send failed: {e}"
                );
                rec = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

pub fn consumer(addr: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "weir-e2e-unused")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer")
}

/// Reads `count` records of one partition from `from`, by assignment.
pub fn read_partition(addr: &str, topic: &str, partition: i32, from: Offset, count: usize) -> Vec<(i64, TestRecord)> {
    let c = consumer(addr);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, from).unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::with_capacity(count);
    let started = Instant::now();
    while out.len() < count {
        assert!(started.elapsed() < DEADLINE, "read {} of {count} records from {topic}", out.len());
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((m.offset(), from_message(&m))),
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    out
}

pub fn admin(addr: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", addr).create().expect("admin")
}

pub async fn create_topic(addr: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let a = admin(addr);
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let r = a.create_topics(&[t], &AdminOptions::new()).await.expect("create_topics");
    for x in r {
        x.unwrap_or_else(|(n, e)| panic!("create {n}: {e}"));
    }
}

pub fn flush(p: &ThreadedProducer<Deliveries>) {
    p.flush(DEADLINE).expect("flush");
}
