//! weir-broker: the Kafka protocol server.
//!
//! Layers, from the wire down:
//! - `net/`: one accept loop per configured listener; a connection (generic over
//!   `AsyncRead + AsyncWrite`) reads frames and keeps responses in order; a
//!   [`net::Session`] (listener, peer, principal) goes with every request;
//! - `api/`: the route table (`api/routes.rs`) drives routing, ApiVersions,
//!   request metrics, tracing spans and the authorization hook; one file per
//!   Kafka API turns wire types into calls on the [`BrokerHandle`] and maps typed
//!   errors to Kafka codes (`api/errors.rs`);
//! - [`BrokerHandle`]: the typed in-process API (topics, configs, groups,
//!   partitions, cluster), also used by the registry, the console and the mirror;
//! - `partition/`: a [`partition::Partition`] per topic partition (log, high
//!   watermark, last stable offset, parked fetches, counters);
//! - `internal/`: the broker's own topics as state machines (metadata log,
//!   `__consumer_offsets`, the registry's `_schemas`);
//! - `weir-storage`: the logs on disk.

pub mod acl;
pub mod alloc;
pub mod api;
pub mod auth;
pub mod config;
pub mod configs;
pub mod error;
pub mod features;
pub mod fetch_session;
pub mod group;
mod handle;
pub mod internal;
mod lock;
pub mod loggers;
pub mod metadata;
#[cfg(test)]
mod mock_broker;
pub mod net;
pub mod partition;
pub mod producer_clients;
pub mod quotas;
pub mod schema_validation;
pub mod scram;
pub mod settings;
pub mod share;
pub mod telemetry;
pub mod topics;
pub mod txn;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use weir_storage::{Clock, LogManager, SystemClock};

pub use config::BrokerConfig;
pub use error::{BrokerError, GroupError, Result, TopicError, TxnError};
pub use handle::{BrokerHandle, Cluster, Endpoint};
use metadata::{MetadataStore, METADATA_TOPIC};
use partition::ReplicaManager;
use settings::BrokerSettings;

pub struct BrokerOptions {
    pub data_dir: PathBuf,
    /// Bind address of the first Kafka listener; `None` keeps the `listeners` key's.
    pub kafka_addr: Option<String>,
    pub config: BrokerConfig,
}

/// A running broker.
pub struct Broker {
    handle: BrokerHandle,
    servers: Vec<JoinHandle<()>>,
    timers: Vec<JoinHandle<()>>,
}

/// Runs blocking storage/metadata work (fsync, file creation) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl Broker {
    pub async fn start(opts: BrokerOptions) -> Result<Broker> {
        let settings = BrokerSettings::from_config(&opts.config)?;
        let listeners = net::Listeners::bind(&settings, opts.kafka_addr.as_deref()).await?;
        let endpoints = listeners.endpoints().to_vec();
        let dir = opts.data_dir.clone();
        let config = opts.config.clone();
        let handle = blocking(move || BrokerHandle::open(&dir, config, Arc::new(SystemClock), endpoints)).await?;
        if !settings.bootstrap_users.is_empty() {
            let (h, users) = (handle.clone(), settings.bootstrap_users.clone());
            let created = blocking(move || h.bootstrap_users(&users)).await?;
            tracing::info!(users = settings.bootstrap_users.len(), credentials_created = created, "bootstrap users");
        }
        let timers = tokio::spawn(handle.groups().clone().run_timers(handle.shutdown_signal()));
        let txn_timers = tokio::spawn(handle.txn().clone().run_timers(handle.shutdown_signal()));
        let share_timers = tokio::spawn(handle.shares().clone().run_timers(handle.shutdown_signal()));
        tracing::info!(
            cluster.id = %handle.cluster().cluster_id(),
            node.id = handle.cluster().node_id(),
            listeners = %handle.cluster().endpoints().iter().map(|e| format!("{}://{}", e.listener, e.bound)).collect::<Vec<_>>().join(","),
            topics = handle.topics().list().len(),
            "broker started"
        );
        let servers = listeners.serve(&handle);
        Ok(Broker { handle, servers, timers: vec![timers, txn_timers, share_timers] })
    }

    /// The address of the first listener.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.handle.cluster().endpoints()[0].bound
    }

    pub fn handle(&self) -> &BrokerHandle {
        &self.handle
    }

    /// Stops accepting, lets in-flight requests finish, flushes every log and writes
    /// the clean-shutdown marker.
    pub async fn shutdown(mut self) -> Result<()> {
        let _ = self.handle.core.shutdown.send(true);
        self.handle.partitions().wake_all();
        for server in self.servers.drain(..) {
            let _ = server.await;
        }
        for t in self.timers.drain(..) {
            let _ = t.await;
        }
        let handle = self.handle.clone();
        blocking(move || handle.close()).await?;
        tracing::info!("broker stopped cleanly");
        Ok(())
    }
}

impl BrokerHandle {
    /// Opens a broker's state on `data_dir` without serving it: locks the
    /// directory, opens the logs, replays the metadata log and the group
    /// coordinator's topic. Broker::start serves it; tests and tools use it as it
    /// is. `endpoints`: where clients reach it (empty when it is not served).
    /// Blocking.
    pub fn open(
        data_dir: &Path,
        config: BrokerConfig,
        clock: Arc<dyn Clock>,
        endpoints: Vec<Endpoint>,
    ) -> Result<BrokerHandle> {
        std::fs::create_dir_all(data_dir).map_err(|e| BrokerError::io("create", data_dir, e))?;
        let lock = lock::DirLock::acquire(data_dir)?;
        let settings = Arc::new(BrokerSettings::from_config(&config)?);
        let config = Arc::new(config);
        let logs = Arc::new(LogManager::open(data_dir, clock.clone())?);
        logs.segment_pool().set_budget(settings.log_recycle_bytes);
        logs.start_background(settings.log_retention_check_interval_ms);
        let partitions = Arc::new(ReplicaManager::new(logs, config.clone()));
        let meta = Arc::new(MetadataStore::open(&partitions, clock.clone())?);
        remove_deleted_partitions(data_dir, &meta);
        for t in meta.topics() {
            partitions.open_topic(&t.name, t.id, t.partitions, &t.configs)?;
        }
        let topics = topics::Topics::new(meta.clone(), partitions.clone(), settings.clone());
        let configs = configs::Configs::new(config.clone(), settings.clone(), meta.clone(), partitions.clone());
        let cluster = handle::Cluster::new(settings.node_id, meta.cluster_id(), endpoints, data_dir.to_path_buf());
        let (shutdown, _) = watch::channel(false);
        let handle = BrokerHandle {
            core: Arc::new(handle::Core {
                settings: settings.clone(),
                clock: clock.clone(),
                cluster,
                meta: meta.clone(),
                partitions: partitions.clone(),
                topics,
                configs,
                loggers: Default::default(),
                telemetry: Default::default(),
                producer_clients: Default::default(),
                groups: OnceLock::new(),
                txn: OnceLock::new(),
                shares: OnceLock::new(),
                schema_lookup: OnceLock::new(),
                throttler: quotas::throttle::Throttler::new(meta.clone()),
                fetch_sessions: fetch_session::FetchSessionCache::new(
                    settings.fetch_session_cache_slots,
                    settings.fetch_session_eviction_ms,
                ),
                authorizer: match &settings.authorizer {
                    Some(a) => Arc::new(acl::AclAuthorizer::new(
                        meta.clone(),
                        a.super_users.clone(),
                        a.allow_everyone_if_no_acl_found,
                    )),
                    None => Arc::new(auth::AllowAll),
                },
                shutdown,
                _lock: lock,
            }),
        };
        let mut offsets_configs = BTreeMap::new();
        offsets_configs.insert("cleanup.policy".to_string(), "compact".to_string());
        offsets_configs.insert("segment.bytes".to_string(), settings.offsets_topic_segment_bytes.to_string());
        let offsets = handle.internal_topic(
            group::store::OFFSETS_TOPIC,
            settings.offsets_topic_num_partitions,
            offsets_configs,
        )?;
        let coordinator =
            group::Coordinator::open(offsets, meta.clone(), partitions.clone(), &settings, clock.clone())?;
        let _ = handle.core.groups.set(coordinator.clone());
        let mut txn_configs = BTreeMap::new();
        txn_configs.insert("cleanup.policy".to_string(), "compact".to_string());
        txn_configs.insert("segment.bytes".to_string(), settings.txn.state_log_segment_bytes.to_string());
        let txn_log =
            handle.internal_topic(txn::TRANSACTION_STATE_TOPIC, settings.txn.state_log_partitions, txn_configs)?;
        let txn = txn::TxnCoordinator::open(
            txn_log,
            meta.clone(),
            partitions,
            coordinator.clone(),
            settings.txn.clone(),
            clock.clone(),
        )?;
        let _ = handle.core.txn.set(txn);
        // `__share_group_state` is created with the first share group (as Kafka
        // does); one that exists is read back now.
        let share_topic = |h: &BrokerHandle| {
            let mut configs = BTreeMap::new();
            configs.insert("cleanup.policy".to_string(), "compact".to_string());
            h.internal_topic(share::store::SHARE_STATE_TOPIC, h.settings().share_group.state_topic_partitions, configs)
        };
        let existing = match meta.topic(share::store::SHARE_STATE_TOPIC) {
            Some(_) => Some(share_topic(&handle)?),
            None => None,
        };
        // Weak: the coordinator lives in the handle's core.
        let weak = Arc::downgrade(&handle.core);
        let open_store: share::OpenStateTopic = Box::new(move || {
            let core = weak.upgrade().ok_or_else(|| TopicError::Broker(BrokerError::NotOpen("broker".into())))?;
            share_topic(&BrokerHandle { core })
        });
        let groups = coordinator.clone();
        let other_groups: share::OtherGroups = Box::new(move |g| groups.group_state(g).is_some());
        let shares = share::ShareCoordinator::open(
            existing,
            open_store,
            other_groups,
            meta,
            settings.share_group.clone(),
            clock,
        )?;
        let _ = handle.core.shares.set(shares);
        Ok(handle)
    }

    /// Flushes every log and writes the clean-shutdown marker. Blocking.
    pub fn close(&self) -> Result<()> {
        self.core.partitions.log_manager().shutdown()?;
        Ok(())
    }
}

/// Removes partition directories of topics the metadata log says are gone (a crash
/// between a delete's metadata write and its directory removal).
fn remove_deleted_partitions(data_dir: &Path, meta: &MetadataStore) {
    let live: std::collections::HashSet<(String, i32)> =
        meta.topics().iter().flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), p))).collect();
    let Ok(entries) = std::fs::read_dir(data_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((topic, part)) = name.rsplit_once('-') else { continue };
        let Ok(part) = part.parse::<i32>() else { continue };
        if topic == METADATA_TOPIC || !entry.path().is_dir() || live.contains(&(topic.to_string(), part)) {
            continue;
        }
        tracing::warn!(dir = %entry.path().display(), "removing partition directory of a deleted topic");
        if let Err(e) = std::fs::remove_dir_all(entry.path()) {
            tracing::warn!(dir = %entry.path().display(), error = %e, "could not remove directory");
        }
    }
}
