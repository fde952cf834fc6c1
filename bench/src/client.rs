//! The one Kafka client every broker is driven with: librdkafka through the rdkafka
//! crate, with the same settings for every broker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

/// librdkafka's in-process mock cluster: brokers that answer from memory, inside
/// this process, so what the client reaches against it is the client's own ceiling.
pub struct Mock {
    cluster: rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    bootstrap: String,
}

// SAFETY: librdkafka's mock cluster API is thread-safe (it posts operations to the
// cluster's own thread); the handle is only used through `&self`.
unsafe impl Send for Mock {}
// SAFETY: as above.
unsafe impl Sync for Mock {}

impl Mock {
    pub fn new() -> Result<Mock> {
        let cluster = rdkafka::mocking::MockCluster::new(1).context("mock cluster")?;
        let bootstrap = cluster.bootstrap_servers();
        Ok(Mock { cluster, bootstrap })
    }
}

/// Where the client connects: a broker, or the mock cluster.
#[derive(Clone)]
pub enum Target {
    Bootstrap(String),
    Mock(Arc<Mock>),
    /// A broker's listener that needs client settings (`security.protocol`, `sasl.*`, `ssl.*`).
    Secured(String, Arc<Vec<(String, String)>>),
}

impl Target {
    pub fn apply(&self, cfg: &mut ClientConfig) {
        let b = match self {
            Target::Bootstrap(b) => b,
            Target::Mock(m) => &m.bootstrap,
            Target::Secured(b, settings) => {
                for (k, v) in settings.iter() {
                    cfg.set(k, v);
                }
                b
            }
        };
        cfg.set("bootstrap.servers", b);
    }
}

/// Delivery reports: counted, errors kept (the first few) so a run can fail loudly.
#[derive(Clone, Default)]
pub struct Deliveries {
    pub ok: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
    pub first_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap();
                if first.is_none() {
                    *first = Some(e.to_string());
                }
            }
        }
    }
}

pub struct ProducerSettings {
    pub acks: &'static str,
    pub compression: &'static str,
    pub linger_ms: u32,
}

pub fn producer(target: &Target, s: &ProducerSettings) -> Result<(BaseProducer<Deliveries>, Deliveries)> {
    producer_with(target, s, &[])
}

/// [`producer`] with further librdkafka settings (which win).
pub fn producer_with(
    target: &Target,
    s: &ProducerSettings,
    extra: &[(&str, &str)],
) -> Result<(BaseProducer<Deliveries>, Deliveries)> {
    let mut cfg = ClientConfig::new();
    target.apply(&mut cfg);
    cfg.set("acks", s.acks)
        .set("compression.type", s.compression)
        .set("linger.ms", s.linger_ms.to_string())
        .set("batch.size", "1048576")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.max.bytes", "2000000")
        // Comparable across brokers: not every peer serves InitProducerId.
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "120000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    let d = Deliveries::default();
    let p = cfg.create_with_context(d.clone()).context("create producer")?;
    Ok((p, d))
}

/// Sends, polling while librdkafka's queue is full.
pub fn send(p: &BaseProducer<Deliveries>, topic: &str, partition: i32, payload: &[u8]) {
    let mut rec = BaseRecord::to(topic).partition(partition).payload(payload).key(&[]);
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((e, r)) => {
                if e.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                    panic!("produce failed: {e}");
                }
                p.poll(Duration::from_millis(1));
                rec = r;
            }
        }
    }
}

/// Flushes and checks that every record was acknowledged.
pub fn finish(p: &BaseProducer<Deliveries>, d: &Deliveries, expected: u64) -> Result<()> {
    p.flush(Duration::from_secs(300)).context("flush")?;
    let failed = d.failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} records failed: {}", d.first_error.lock().unwrap().clone().unwrap_or_default());
    }
    let ok = d.ok.load(Ordering::Relaxed);
    if ok != expected {
        bail!("{ok} of {expected} records acknowledged");
    }
    Ok(())
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

pub fn create_topic(target: &Target, name: &str, partitions: i32) -> Result<()> {
    create_topic_with(target, name, partitions, &[])
}

/// [`create_topic`] with topic configs (the mock cluster takes none).
pub fn create_topic_with(target: &Target, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
    if let Target::Mock(m) = target {
        if !configs.is_empty() {
            bail!("the mock cluster takes no topic configs");
        }
        return m.cluster.create_topic(name, partitions, 1).context("mock CreateTopics");
    }
    let mut cfg = ClientConfig::new();
    target.apply(&mut cfg);
    let admin: AdminClient<DefaultClientContext> = cfg.create().context("admin client")?;
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    let res = runtime().block_on(admin.create_topics([&topic], &opts)).context("CreateTopics")?;
    for r in res {
        if let Err((t, e)) = r {
            bail!("creating {t}: {e}");
        }
    }
    wait_for_topic(target, name, partitions)
}

/// Waits until metadata shows the topic with every partition led.
pub fn wait_for_topic(target: &Target, name: &str, partitions: i32) -> Result<()> {
    let consumer: rdkafka::consumer::BaseConsumer = {
        let mut c = ClientConfig::new();
        target.apply(&mut c);
        c.set("group.id", "weir-bench-meta").create()?
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        use rdkafka::consumer::Consumer;
        let md = consumer.fetch_metadata(Some(name), Duration::from_secs(10))?;
        let ok = md.topics().first().is_some_and(|t| {
            t.error().is_none()
                && t.partitions().len() == partitions as usize
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if ok {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("topic {name} did not show {partitions} led partitions");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Deletes a topic (peers that keep data in memory need the room back).
pub fn delete_topic(target: &Target, name: &str) -> Result<()> {
    if let Target::Mock(_) = target {
        return Ok(());
    }
    let mut cfg = ClientConfig::new();
    target.apply(&mut cfg);
    let admin: AdminClient<DefaultClientContext> = cfg.create().context("admin client")?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    let res = runtime().block_on(admin.delete_topics(&[name], &opts)).context("DeleteTopics")?;
    for r in res {
        if let Err((t, e)) = r {
            bail!("deleting {t}: {e}");
        }
    }
    Ok(())
}
