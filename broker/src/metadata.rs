//! Cluster metadata: topics, topic ids, partition counts, topic and group config
//! overrides.
//!
//! Format: the metadata log is an ordinary partition log, `__cluster_metadata-0` in the
//! data directory. Each change is one RecordBatch holding one record whose value is a
//! JSON [`Event`]. Invariants: an event is appended and fsynced before it is applied
//! to the in-memory state (a [`StateTopic`]), so the state after a restart (replaying
//! the log from its start) equals the state every client saw; check-then-commit
//! sequences run under one writer lock. A later multi-node version replicates
//! exactly this log.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use weir_storage::{Clock, LogConfig};

use crate::error::{BrokerError, Result};
use crate::internal::{InternalTopic, KeyValue, StateMachine, StateTopic};
use crate::partition::ReplicaManager;

pub const METADATA_TOPIC: &str = "__cluster_metadata";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    /// Topic-level overrides only; the rest resolves through the broker config.
    pub configs: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(tag = "type")]
pub enum Event {
    ClusterCreated {
        cluster_id: String,
    },
    TopicCreated {
        name: String,
        id: Uuid,
        partitions: i32,
        configs: BTreeMap<String, String>,
    },
    TopicDeleted {
        name: String,
        id: Uuid,
    },
    PartitionsCreated {
        name: String,
        id: Uuid,
        total: i32,
    },
    TopicConfigsReplaced {
        name: String,
        id: Uuid,
        configs: BTreeMap<String, String>,
    },
    /// Producer ids below `next` have been handed out (allocated in blocks).
    ProducerIdsAllocated {
        next: i64,
    },
    /// A user's SCRAM credential for one mechanism, added or replaced.
    ScramCredentialUpserted {
        user: String,
        mechanism: i8,
        credential: crate::scram::ScramCredential,
    },
    ScramCredentialDeleted {
        user: String,
        mechanism: i8,
    },
    /// Quota values set (`Some`) or removed (`None`) for a client-quota entity.
    ClientQuotasAltered {
        entity: crate::quotas::Entity,
        changes: Vec<(String, Option<f64>)>,
    },
    /// A CLIENT_METRICS subscription's configs, all of them; empty removes it.
    ClientMetricsConfigsReplaced {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// A finalized feature level (UpdateFeatures).
    FeatureLevelChanged {
        name: String,
        level: i16,
    },
    /// A group's config overrides (KIP-848 group configs), all of them; empty
    /// removes them.
    GroupConfigsReplaced {
        group: String,
        configs: BTreeMap<String, String>,
    },
    /// ACLs added (CreateAcls); one already there stays as it is.
    AclsCreated {
        acls: Vec<crate::acl::AclBinding>,
    },
    AclsDeleted {
        acls: Vec<crate::acl::AclBinding>,
    },
}

#[derive(Default)]
pub struct MetaState {
    cluster_id: String,
    /// End of the last allocated block of producer ids.
    producer_ids_end: i64,
    topics: BTreeMap<String, Arc<TopicMeta>>,
    by_id: HashMap<Uuid, String>,
    group_configs: BTreeMap<String, Arc<BTreeMap<String, String>>>,
    /// SCRAM credentials by user and mechanism.
    scram: BTreeMap<String, BTreeMap<i8, crate::scram::ScramCredential>>,
    /// Telemetry subscriptions (CLIENT_METRICS resources) by name.
    client_metrics: BTreeMap<String, Arc<BTreeMap<String, String>>>,
    /// Client quotas by entity.
    quotas: BTreeMap<crate::quotas::Entity, BTreeMap<String, f64>>,
    /// Finalized feature levels changed since the cluster was created.
    features: BTreeMap<String, i16>,
    acls: std::collections::BTreeSet<crate::acl::AclBinding>,
    /// The ACLs indexed for decisions; `None` after a change, built when asked.
    acl_index: Option<Arc<crate::acl::AclSet>>,
    /// Bumped on every ACL change (the authorizer's cue to rebuild).
    acl_version: Arc<std::sync::atomic::AtomicU64>,
    /// Bumped on every client quota change (the throttler's cue to rebuild).
    quota_version: Arc<std::sync::atomic::AtomicU64>,
    /// The first event that could not be decoded (start-up fails on it).
    bad: Option<String>,
}

impl MetaState {
    fn apply_event(&mut self, ev: Event) {
        match ev {
            Event::ClusterCreated { cluster_id } => self.cluster_id = cluster_id,
            Event::TopicCreated { name, id, partitions, configs } => {
                self.by_id.insert(id, name.clone());
                self.topics.insert(name.clone(), Arc::new(TopicMeta { name, id, partitions, configs }));
            }
            Event::TopicDeleted { name, id } => {
                self.by_id.remove(&id);
                self.topics.remove(&name);
            }
            Event::PartitionsCreated { name, total, .. } => {
                if let Some(t) = self.topics.get_mut(&name) {
                    Arc::make_mut(t).partitions = total;
                }
            }
            Event::ProducerIdsAllocated { next } => self.producer_ids_end = self.producer_ids_end.max(next),
            Event::TopicConfigsReplaced { name, configs, .. } => {
                if let Some(t) = self.topics.get_mut(&name) {
                    Arc::make_mut(t).configs = configs;
                }
            }
            Event::ScramCredentialUpserted { user, mechanism, credential } => {
                self.scram.entry(user).or_default().insert(mechanism, credential);
            }
            Event::ScramCredentialDeleted { user, mechanism } => {
                if let Some(creds) = self.scram.get_mut(&user) {
                    creds.remove(&mechanism);
                    if creds.is_empty() {
                        self.scram.remove(&user);
                    }
                }
            }
            Event::ClientQuotasAltered { entity, changes } => {
                let values = self.quotas.entry(entity.clone()).or_default();
                for (key, value) in changes {
                    match value {
                        Some(v) => values.insert(key, v),
                        None => values.remove(&key),
                    };
                }
                if values.is_empty() {
                    self.quotas.remove(&entity);
                }
                self.quota_version.fetch_add(1, std::sync::atomic::Ordering::Release);
            }
            Event::ClientMetricsConfigsReplaced { name, configs } if configs.is_empty() => {
                self.client_metrics.remove(&name);
            }
            Event::ClientMetricsConfigsReplaced { name, configs } => {
                self.client_metrics.insert(name, Arc::new(configs));
            }
            Event::FeatureLevelChanged { name, level } => {
                self.features.insert(name, level);
            }
            Event::GroupConfigsReplaced { group, configs } if configs.is_empty() => {
                self.group_configs.remove(&group);
            }
            Event::GroupConfigsReplaced { group, configs } => {
                self.group_configs.insert(group, Arc::new(configs));
            }
            Event::AclsCreated { acls } => {
                self.acls.extend(acls);
                self.acls_changed();
            }
            Event::AclsDeleted { acls } => {
                for a in &acls {
                    self.acls.remove(a);
                }
                self.acls_changed();
            }
        }
    }

    fn acls_changed(&mut self) {
        self.acl_index = None;
        self.acl_version.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

impl StateMachine for MetaState {
    fn apply(&mut self, _partition: i32, record: &KeyValue) {
        let value = record.value.as_deref().unwrap_or_default();
        match serde_json::from_slice::<Event>(value) {
            Ok(ev) => self.apply_event(ev),
            Err(e) => {
                if self.bad.is_none() {
                    self.bad = Some(format!("bad event at offset {}: {e}", record.offset));
                }
            }
        }
    }
}

pub struct MetadataStore {
    log: StateTopic<MetaState>,
    writer: Mutex<()>,
    /// Next producer id to hand out, and the end of the block it comes from.
    producer_ids: Mutex<(i64, i64)>,
}

/// Producer ids are reserved in the metadata log in blocks, so allocating one rarely
/// costs an fsync and a restart never hands out an id twice.
const PRODUCER_ID_BLOCK: i64 = 1000;

impl MetadataStore {
    /// Opens (or creates) the metadata log and replays it. Blocking.
    pub fn open(partitions: &ReplicaManager, clock: Arc<dyn Clock>) -> Result<MetadataStore> {
        let config = LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            segment_bytes: 64 * 1024 * 1024,
            ..LogConfig::default()
        };
        let log = partitions.open_private(METADATA_TOPIC, config)?;
        let topic = InternalTopic::new(METADATA_TOPIC, vec![log].into(), clock);
        let log = StateTopic::open(topic, MetaState::default())?;
        if let Some(bad) = log.lock().bad.clone() {
            return Err(BrokerError::Metadata(bad));
        }
        let end = log.lock().producer_ids_end;
        let store = MetadataStore { log, writer: Mutex::new(()), producer_ids: Mutex::new((end, end)) };
        if store.log.lock().cluster_id.is_empty() {
            let id = Uuid::new_v4();
            // Kafka cluster ids are 22-character url-safe base64 of 16 random bytes.
            let cluster_id = base64_url(id.as_bytes());
            store.commit(Event::ClusterCreated { cluster_id })?;
        }
        Ok(store)
    }

    /// The offset after the last event.
    pub fn end_offset(&self) -> i64 {
        self.log.topic().end_offset(0).unwrap_or(0)
    }

    /// Appends an event durably, then applies it.
    pub fn commit(&self, ev: Event) -> Result<()> {
        let _w = self.writer.lock();
        self.commit_locked(ev)
    }

    /// Runs `f` with the writer lock held, so a check-then-commit sequence is atomic.
    pub fn with_writer<T, E: From<BrokerError>>(
        &self,
        f: impl FnOnce(&WriterView<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let _w = self.writer.lock();
        f(&WriterView { store: self })
    }

    /// A producer id never handed out before, on this node.
    pub fn allocate_producer_id(&self) -> Result<i64> {
        let mut ids = self.producer_ids.lock();
        if ids.0 >= ids.1 {
            let next = ids.1 + PRODUCER_ID_BLOCK;
            self.commit(Event::ProducerIdsAllocated { next })?;
            ids.1 = next;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Never hands out `id` or one below it from now on: a promoted mirror
    /// topic remembers the source cluster's producer ids, which this node's
    /// producers must not meet.
    pub fn reserve_producer_ids_through(&self, id: i64) -> Result<()> {
        let mut ids = self.producer_ids.lock();
        if ids.0 > id {
            return Ok(());
        }
        if ids.1 <= id {
            let next = id.saturating_add(1 + PRODUCER_ID_BLOCK);
            self.commit(Event::ProducerIdsAllocated { next })?;
            ids.1 = next;
        }
        ids.0 = id + 1;
        Ok(())
    }

    pub fn cluster_id(&self) -> String {
        self.log.lock().cluster_id.clone()
    }

    pub fn topic(&self, name: &str) -> Option<Arc<TopicMeta>> {
        self.log.lock().topics.get(name).cloned()
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<Arc<TopicMeta>> {
        let s = self.log.lock();
        s.by_id.get(id).and_then(|n| s.topics.get(n)).cloned()
    }

    pub fn topics(&self) -> Vec<Arc<TopicMeta>> {
        self.log.lock().topics.values().cloned().collect()
    }

    /// A group's config overrides (none for most groups).
    pub fn group_configs(&self, group: &str) -> Option<Arc<BTreeMap<String, String>>> {
        self.log.lock().group_configs.get(group).cloned()
    }

    /// The finalized level of each supported feature (its default until changed).
    pub fn finalized_features(&self) -> Vec<(&'static str, i16)> {
        let s = self.log.lock();
        crate::features::FEATURES
            .iter()
            .map(|f| (f.name, s.features.get(f.name).copied().unwrap_or(f.default)))
            .collect()
    }

    /// One feature's finalized level (its default until changed); 0 for a
    /// feature this broker does not support.
    pub fn finalized_level(&self, name: &str) -> i16 {
        let Some(def) = crate::features::feature(name) else { return 0 };
        self.log.lock().features.get(name).copied().unwrap_or(def.default)
    }

    /// Users with SCRAM credentials: each with its (mechanism, iterations).
    pub fn scram_users(&self) -> BTreeMap<String, Vec<(i8, i32)>> {
        let s = self.log.lock();
        s.scram.iter().map(|(u, c)| (u.clone(), c.iter().map(|(m, c)| (*m, c.iterations)).collect())).collect()
    }

    /// A user's credential for a mechanism (SASL/SCRAM authentication).
    /// The counter bumped on every client quota change.
    pub fn quota_version(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.log.lock().quota_version.clone()
    }

    /// The counter bumped on every ACL change.
    pub fn acl_version(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.log.lock().acl_version.clone()
    }

    /// The ACLs indexed for decisions, with the version they are of.
    pub fn acl_set(&self) -> (u64, Arc<crate::acl::AclSet>) {
        let mut s = self.log.lock();
        let version = s.acl_version.load(std::sync::atomic::Ordering::Acquire);
        if s.acl_index.is_none() {
            s.acl_index = Some(Arc::new(crate::acl::AclSet::build(&s.acls)));
        }
        (version, s.acl_index.clone().expect("built above"))
    }

    pub fn acl_bindings(&self) -> Vec<crate::acl::AclBinding> {
        self.log.lock().acls.iter().cloned().collect()
    }

    pub fn scram_credential(&self, user: &str, mechanism: i8) -> Option<crate::scram::ScramCredential> {
        self.log.lock().scram.get(user).and_then(|c| c.get(&mechanism)).cloned()
    }

    /// The telemetry subscriptions (CLIENT_METRICS resources).
    pub fn client_metrics(&self) -> BTreeMap<String, Arc<BTreeMap<String, String>>> {
        self.log.lock().client_metrics.clone()
    }

    /// Every client-quota entity with its values.
    pub fn client_quotas(&self) -> Vec<(crate::quotas::Entity, BTreeMap<String, f64>)> {
        self.log.lock().quotas.iter().map(|(e, v)| (e.clone(), v.clone())).collect()
    }

    /// The groups that have config overrides.
    pub fn groups_with_configs(&self) -> Vec<String> {
        self.log.lock().group_configs.keys().cloned().collect()
    }

    fn commit_locked(&self, ev: Event) -> Result<()> {
        let value = serde_json::to_vec(&ev).map_err(|e| BrokerError::Metadata(e.to_string()))?;
        self.log.write(0, vec![(None, Some(Bytes::from(value)))])?;
        if let Some(bad) = self.log.lock().bad.take() {
            return Err(BrokerError::Metadata(bad));
        }
        Ok(())
    }
}

/// Access for a caller holding the writer lock (see [`MetadataStore::with_writer`]).
pub struct WriterView<'a> {
    store: &'a MetadataStore,
}

impl WriterView<'_> {
    pub fn topic(&self, name: &str) -> Option<Arc<TopicMeta>> {
        self.store.topic(name)
    }
    pub fn group_configs(&self, group: &str) -> Option<Arc<BTreeMap<String, String>>> {
        self.store.group_configs(group)
    }
    pub fn topics(&self) -> Vec<Arc<TopicMeta>> {
        self.store.topics()
    }
    /// Appends and applies; the caller already holds the writer lock.
    pub fn commit(&self, ev: Event) -> Result<()> {
        self.store.commit_locked(ev)
    }
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}
