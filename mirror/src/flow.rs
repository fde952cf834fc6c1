//! One replication flow, `source->target`, in copy mode and at least once, as
//! an ordinary Kafka client of both clusters (librdkafka through `rdkafka`).
//!
//! Every refresh interval (5 s by default) the source's topics are listed; each
//! that passes the flow's filter (and is not internal, and would not loop back to
//! the target) gets a remote topic on the target with the same partition count,
//! partitions added upstream are added downstream, and topic configs are synced
//! (except the excluded ones). Records are copied to the same partition of the
//! remote topic with their keys, values, headers and timestamps, in order.
//!
//! Position: the source offsets of delivered records are committed to the source
//! cluster under the group `__weir-mirror.{source}->{target}` (excluded from group
//! mirroring by MM2's default `__.*`), once a second and at stop, only after the
//! target acknowledged them; a restart resumes there, so nothing is lost and at
//! most what was in flight is copied again. A delivery error stops the flow's
//! pass, which then resumes from the committed position.
//!
//! Offset syncs (MM2's `OffsetSync`) are written to
//! `mm2-offset-syncs.{target}.internal` (on the source, or on the target with
//! `offset-syncs.topic.location=target`) when a partition's first record is
//! copied, when the downstream offset has moved `offset.lag.max` past the last
//! sync, and when the upstream offsets jump (compaction, transaction markers).
//! Heartbeats (`Heartbeat`) go to the target's `heartbeats` topic.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::config::{ClientKind, Flow, MirrorConfig};
use crate::error::MirrorError;
use crate::formats::{Heartbeat, OffsetSync};

mod checkpoint;

const TIMEOUT: Duration = Duration::from_secs(30);

type Partition = (String, i32);

/// One mirrored partition's acknowledgements.
#[derive(Clone, Copy, Default)]
struct Acked {
    /// The last record acknowledged (upstream, downstream). Deliveries of a
    /// partition arrive in order, so it is also the highest.
    last: Option<(i64, i64)>,
    /// The last offset sync decided on.
    last_sync: Option<(i64, i64)>,
    /// Whether a record was acknowledged since the last checkpoint.
    moved: bool,
}

/// What the target acknowledged. Looked up by the delivered record's topic name
/// and partition number, so a delivery allocates nothing.
#[derive(Default)]
struct Delivered {
    /// Remote topic -> its partitions, by number.
    partitions: HashMap<String, Vec<Acked>>,
    /// Offset syncs due: a partition's first record, a jump in upstream offsets
    /// (the upstream-downstream distance changes), or `offset.lag.max` records
    /// since the last sync. So between two syncs the distance is constant, and
    /// translation is exact.
    due: Vec<(Partition, i64, i64)>,
    offset_lag_max: i64,
    failed: Option<String>,
}

impl Delivered {
    fn acked(&self, remote: &str, partition: i32) -> Option<(i64, i64)> {
        self.partitions.get(remote)?.get(usize::try_from(partition).ok()?)?.last
    }
}

struct Deliveries(Arc<Mutex<Delivered>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<i64>;

    fn delivery(&self, result: &DeliveryResult<'_>, upstream: Box<i64>) {
        let mut d = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            // Heartbeats carry no upstream position.
            Ok(_) if *upstream < 0 => {}
            Ok(m) => {
                let (up, down) = (*upstream, m.offset());
                let Ok(p) = usize::try_from(m.partition()) else { return };
                let lag_max = d.offset_lag_max;
                if !d.partitions.contains_key(m.topic()) {
                    d.partitions.insert(m.topic().to_string(), Vec::new());
                }
                let parts = d.partitions.get_mut(m.topic()).expect("inserted above");
                if parts.len() <= p {
                    parts.resize(p + 1, Acked::default());
                }
                let a = &mut parts[p];
                let due = match (a.last, a.last_sync) {
                    (Some((lu, ld)), Some((_, sd))) => up - lu != down - ld || down - (sd + 1) >= lag_max,
                    _ => true,
                };
                if due {
                    a.last_sync = Some((up, down));
                }
                a.last = Some((up, down));
                a.moved = true;
                if due {
                    d.due.push(((m.topic().to_string(), m.partition()), up, down));
                }
            }
            Err((e, _)) => d.failed = Some(e.to_string()),
        }
    }
}

fn rd_config(c: &crate::config::ClientConfig, client_id: &str) -> RdConfig {
    let mut rd = RdConfig::new();
    for (k, v) in c {
        rd.set(k, v);
    }
    rd.set("client.id", client_id);
    rd
}

fn kafka(what: &str, e: impl std::fmt::Display) -> MirrorError {
    MirrorError::Kafka { what: what.to_string(), why: e.to_string() }
}

/// A running flow's clients and what it has seen.
pub struct FlowRunner {
    flow: Flow,
    consumer: BaseConsumer,
    producer: BaseProducer<Deliveries>,
    syncs_producer: BaseProducer,
    source_admin: AdminClient<DefaultClientContext>,
    target_admin: AdminClient<DefaultClientContext>,
    delivered: Arc<Mutex<Delivered>>,
    /// Source topic -> partition count mirrored.
    topics: BTreeMap<String, usize>,
    /// (remote topic, partition) -> the offset syncs written, upstream -> downstream.
    syncs: HashMap<Partition, BTreeMap<i64, i64>>,
    /// Consumers of one group each, on the source and the target (checkpoints).
    group_clients: HashMap<(bool, String), BaseConsumer>,
    /// Remote topic -> source topic.
    upstream_of: HashMap<String, String>,
    /// Source topic -> remote topic (the inverse), so a copied record's name is
    /// looked up, not formatted.
    remote_of: HashMap<String, String>,
    rt: tokio::runtime::Runtime,
    cfg: MirrorConfig,
}

impl FlowRunner {
    pub fn new(cfg: &MirrorConfig, flow: &Flow) -> Result<FlowRunner, MirrorError> {
        let name = flow.name();
        let mut consumer_cfg = cfg.client(flow, &flow.source, ClientKind::Consumer);
        consumer_cfg.insert("group.id".into(), format!("__weir-mirror.{name}"));
        let consumer: BaseConsumer =
            rd_config(&consumer_cfg, &format!("{name}|source")).create().map_err(|e| kafka("source consumer", e))?;
        let delivered = Arc::new(Mutex::new(Delivered { offset_lag_max: flow.offset_lag_max, ..Delivered::default() }));
        let mut producer_cfg = cfg.client(flow, &flow.target, ClientKind::Producer);
        producer_cfg.entry("acks".into()).or_insert_with(|| "all".into());
        producer_cfg.entry("enable.idempotence".into()).or_insert_with(|| "true".into());
        let producer = rd_config(&producer_cfg, &format!("{name}|target"))
            .create_with_context(Deliveries(delivered.clone()))
            .map_err(|e| kafka("target producer", e))?;
        let syncs_cluster = if flow.offset_syncs_on_target { &flow.target } else { &flow.source };
        let syncs_producer: BaseProducer =
            rd_config(&cfg.client(flow, syncs_cluster, ClientKind::Producer), &format!("{name}|offset-syncs"))
                .create()
                .map_err(|e| kafka("offset-syncs producer", e))?;
        let source_admin =
            rd_config(&cfg.client(flow, &flow.source, ClientKind::Admin), &format!("{name}|source-admin"))
                .create()
                .map_err(|e| kafka("source admin", e))?;
        let target_admin =
            rd_config(&cfg.client(flow, &flow.target, ClientKind::Admin), &format!("{name}|target-admin"))
                .create()
                .map_err(|e| kafka("target admin", e))?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| kafka("runtime", e))?;
        Ok(FlowRunner {
            flow: flow.clone(),
            consumer,
            producer,
            syncs_producer,
            source_admin,
            target_admin,
            delivered,
            topics: BTreeMap::new(),
            syncs: HashMap::new(),
            group_clients: HashMap::new(),
            cfg: cfg.clone(),
            upstream_of: HashMap::new(),
            remote_of: HashMap::new(),
            rt,
        })
    }

    fn should_replicate(&self, topic: &str) -> bool {
        let p = &self.flow.policy;
        (self.flow.topics.matches(topic) || p.is_heartbeats_topic(topic))
            && !p.is_internal_topic(topic)
            && !p.is_cycle(topic, &self.flow.target)
    }

    /// Creates a one-partition compacted topic unless it exists.
    fn ensure_internal(
        &self,
        admin: &AdminClient<DefaultClientContext>,
        topic: &str,
        rf: i32,
    ) -> Result<(), MirrorError> {
        let t = NewTopic::new(topic, 1, TopicReplication::Fixed(rf)).set("cleanup.policy", "compact");
        let r = self.rt.block_on(admin.create_topics([&t], &AdminOptions::new().operation_timeout(Some(TIMEOUT))));
        match r.map_err(|e| kafka(topic, e))?.pop() {
            Some(Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))) | Some(Ok(_)) | None => Ok(()),
            Some(Err((_, code))) => Err(kafka(topic, code)),
        }
    }

    /// Lists the source's topics and mirrors new ones and new partitions;
    /// returns whether the assignment changed.
    pub fn refresh(&mut self) -> Result<bool, MirrorError> {
        let md = self.consumer.fetch_metadata(None, TIMEOUT).map_err(|e| kafka("source metadata", e))?;
        let mut changed = false;
        let wanted: Vec<(String, usize)> = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none() && self.should_replicate(t.name()))
            .map(|t| (t.name().to_string(), t.partitions().len()))
            .collect();
        for (topic, partitions) in wanted {
            let remote = self.flow.policy.format_remote_topic(&self.flow.source, &topic);
            match self.topics.get(&topic).copied() {
                Some(n) if n >= partitions => continue,
                Some(_) => {
                    let np = NewPartitions::new(&remote, partitions);
                    let r = self.rt.block_on(
                        self.target_admin
                            .create_partitions([&np], &AdminOptions::new().operation_timeout(Some(TIMEOUT))),
                    );
                    if let Some(Err((_, code))) = r.map_err(|e| kafka(&remote, e))?.pop() {
                        return Err(kafka(&remote, code));
                    }
                }
                None => {
                    let t = NewTopic::new(
                        &remote,
                        partitions as i32,
                        TopicReplication::Fixed(self.flow.replication_factor),
                    );
                    let r = self.rt.block_on(
                        self.target_admin.create_topics([&t], &AdminOptions::new().operation_timeout(Some(TIMEOUT))),
                    );
                    match r.map_err(|e| kafka(&remote, e))?.pop() {
                        Some(Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))) | Some(Ok(_)) | None => {}
                        Some(Err((_, code))) => return Err(kafka(&remote, code)),
                    }
                    tracing::info!(flow = %self.flow.name(), topic = %topic, remote_topic = %remote, partitions, "mirroring topic");
                }
            }
            self.sync_configs(&topic, &remote)?;
            self.topics.insert(topic.clone(), partitions);
            self.remote_of.insert(topic.clone(), remote.clone());
            self.upstream_of.insert(remote, topic);
            changed = true;
        }
        if changed {
            self.assign()?;
        }
        Ok(changed)
    }

    /// Copies the source topic's explicitly set configs, except excluded ones.
    pub fn sync_configs(&self, topic: &str, remote: &str) -> Result<(), MirrorError> {
        let Some(exclude) = &self.flow.sync_topic_configs else { return Ok(()) };
        let described = self
            .rt
            .block_on(self.source_admin.describe_configs(
                [&ResourceSpecifier::Topic(topic)],
                &AdminOptions::new().request_timeout(Some(TIMEOUT)),
            ))
            .map_err(|e| kafka(topic, e))?;
        let Some(Ok(resource)) = described.into_iter().next() else { return Ok(()) };
        let set: Vec<(String, String)> = resource
            .entries
            .iter()
            .filter(|e| !e.is_default && !e.is_read_only && !e.is_sensitive)
            .filter(|e| e.source == rdkafka::admin::ConfigSource::DynamicTopic)
            .filter(|e| !exclude.matches(&e.name))
            .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
            .collect();
        if set.is_empty() {
            return Ok(());
        }
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(remote));
        for (k, v) in &set {
            alter = alter.set(k, v);
        }
        let r = self
            .rt
            .block_on(self.target_admin.alter_configs([&alter], &AdminOptions::new().request_timeout(Some(TIMEOUT))));
        if let Some(Err((_, code))) = r.map_err(|e| kafka(remote, e))?.pop() {
            tracing::warn!(flow = %self.flow.name(), topic = %remote, error = %code, "topic configs not synced");
        }
        Ok(())
    }

    /// Assigns every mirrored partition from the committed position (else the start).
    fn assign(&mut self) -> Result<(), MirrorError> {
        let mut tpl = TopicPartitionList::new();
        for (t, n) in &self.topics {
            for p in 0..*n as i32 {
                tpl.add_partition(t, p);
            }
        }
        let committed = self.consumer.committed_offsets(tpl, TIMEOUT).map_err(|e| kafka("committed offsets", e))?;
        let mut start = TopicPartitionList::new();
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            start.add_partition_offset(e.topic(), e.partition(), offset).map_err(|e| kafka("assignment", e))?;
        }
        self.consumer.assign(&start).map_err(|e| kafka("assign", e))
    }

    /// Copies what one poll returns; returns the number of records.
    pub fn copy_batch(&mut self) -> Result<usize, MirrorError> {
        let mut n = 0;
        let Some(first) = self.consumer.poll(Duration::from_millis(100)) else { return Ok(0) };
        let mut next = Some(first);
        while let Some(m) = next.take() {
            let m = m.map_err(|e| kafka("source fetch", e))?;
            let remote = self.remote_of.get(m.topic()).ok_or_else(|| kafka(m.topic(), "fetched but not mirrored"))?;
            let mut record: BaseRecord<'_, [u8], [u8], Box<i64>> =
                BaseRecord::with_opaque_to(remote, Box::new(m.offset())).partition(m.partition());
            if let Some(k) = m.key() {
                record = record.key(k);
            }
            if let Some(v) = m.payload() {
                record = record.payload(v);
            }
            if let Some(ts) = m.timestamp().to_millis() {
                record = record.timestamp(ts);
            }
            if let Some(h) = m.headers() {
                record = record.headers(h.detach());
            }
            let mut record = record;
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((e, back)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                        self.producer.poll(Duration::from_millis(50));
                        record = back;
                    }
                    Err((e, _)) => return Err(kafka(remote, e)),
                }
            }
            n += 1;
            if n >= 10_000 {
                break;
            }
            next = self.consumer.poll(Duration::ZERO);
        }
        self.producer.poll(Duration::ZERO);
        Ok(n)
    }

    /// Waits for every record sent, then commits their source positions and
    /// writes the offset syncs due.
    pub fn checkpoint(&mut self) -> Result<(), MirrorError> {
        self.producer.flush(TIMEOUT).map_err(|e| kafka("target flush", e))?;
        let (moved, due, failed) = {
            let mut d = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
            let mut moved = Vec::new();
            for (remote, parts) in d.partitions.iter_mut() {
                for (p, a) in parts.iter_mut().enumerate() {
                    if let (true, Some((up, _))) = (a.moved, a.last) {
                        moved.push((remote.clone(), p as i32, up));
                        a.moved = false;
                    }
                }
            }
            (moved, std::mem::take(&mut d.due), d.failed.take())
        };
        if let Some(why) = failed {
            return Err(kafka("target delivery", why));
        }
        let syncs_topic = self.flow.policy.offset_syncs_topic(&self.flow.target);
        for ((remote, partition), up, down) in due {
            let Some(topic) = self.upstream_of.get(&remote) else { continue };
            let sync = OffsetSync { topic: topic.clone(), partition, upstream_offset: up, downstream_offset: down };
            let (k, v) = (sync.key(), sync.value());
            let rec: BaseRecord<'_, [u8], [u8]> =
                BaseRecord::to(&syncs_topic).partition(0).key(k.as_slice()).payload(v.as_slice());
            self.syncs_producer.send(rec).map_err(|(e, _)| kafka(&syncs_topic, e))?;
            self.syncs.entry((remote, partition)).or_default().insert(up, down);
        }
        self.syncs_producer.flush(TIMEOUT).map_err(|e| kafka(&syncs_topic, e))?;
        let mut commit = TopicPartitionList::new();
        for (remote, partition, up) in moved {
            let Some(topic) = self.upstream_of.get(&remote) else { continue };
            commit.add_partition_offset(topic, partition, Offset::Offset(up + 1)).map_err(|e| kafka("commit", e))?;
        }
        if commit.count() == 0 {
            return Ok(());
        }
        self.consumer.commit(&commit, rdkafka::consumer::CommitMode::Sync).map_err(|e| kafka("commit", e))
    }

    pub fn heartbeat(&self) -> Result<(), MirrorError> {
        let h = Heartbeat {
            source_cluster_alias: self.flow.source.clone(),
            target_cluster_alias: self.flow.target.clone(),
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        };
        let topic = self.flow.policy.heartbeats_topic();
        let (k, v) = (h.key(), h.value());
        let rec: BaseRecord<'_, [u8], [u8], Box<i64>> = BaseRecord::with_opaque_to(topic, Box::new(-1))
            .partition(0)
            .key(k.as_slice())
            .payload(v.as_slice())
            .timestamp(h.timestamp);
        self.producer.send(rec).map_err(|(e, _)| kafka(topic, e))
    }

    /// Runs until `stop`; `ready` is set after the first discovery.
    pub fn run(&mut self, stop: &AtomicBool, ready: &AtomicBool) -> Result<(), MirrorError> {
        let syncs_topic = self.flow.policy.offset_syncs_topic(&self.flow.target);
        let syncs_admin = if self.flow.offset_syncs_on_target { &self.target_admin } else { &self.source_admin };
        self.ensure_internal(syncs_admin, &syncs_topic, self.flow.offset_syncs_replication_factor)?;
        if self.flow.emit_heartbeats.is_some() {
            self.ensure_internal(
                &self.target_admin,
                self.flow.policy.heartbeats_topic(),
                self.flow.heartbeats_replication_factor,
            )?;
        }
        if self.flow.emit_checkpoints.is_some() {
            let topic = self.flow.policy.checkpoints_topic(&self.flow.source);
            self.ensure_internal(&self.target_admin, &topic, self.flow.checkpoints_replication_factor)?;
        }
        self.refresh()?;
        ready.store(true, Ordering::SeqCst);
        let mut last_refresh = Instant::now();
        let mut last_checkpoint = Instant::now();
        let mut last_heartbeat: Option<Instant> = None;
        let mut last_groups = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if self.flow.refresh_topics.is_some_and(|every| last_refresh.elapsed() >= every) {
                self.refresh()?;
                last_refresh = Instant::now();
            }
            if let Some(every) = self.flow.emit_heartbeats {
                if last_heartbeat.is_none_or(|t| t.elapsed() >= every) {
                    self.heartbeat()?;
                    last_heartbeat = Some(Instant::now());
                }
            }
            self.copy_batch()?;
            if last_checkpoint.elapsed() >= Duration::from_secs(1) {
                self.checkpoint()?;
                last_checkpoint = Instant::now();
            }
            if self.flow.emit_checkpoints.is_some_and(|every| last_groups.elapsed() >= every) {
                self.emit_checkpoints()?;
                last_groups = Instant::now();
            }
        }
        self.checkpoint()
    }
}
