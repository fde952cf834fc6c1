//! weir-broker: the Kafka protocol server.
//!
//! [`Broker::start`] locks the data directory, opens the logs and the metadata log,
//! binds the Kafka listener and serves until [`Broker::shutdown`]. Request handlers
//! (one file per Kafka API under `api/`) turn wire types into calls on [`Shared`],
//! the state every handler and in-process user (registry, mirror, console) shares.

pub mod api;
pub mod config;
pub mod error;
pub mod group;
pub mod internal;
mod lock;
pub mod metadata;
pub mod schema_validation;
mod server;
pub mod topics;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use weir_storage::{Log, LogManager, SystemClock, TopicPartition};

pub use config::BrokerConfig;
pub use error::{BrokerError, Result};
use metadata::{MetadataStore, METADATA_TOPIC};

pub struct BrokerOptions {
    pub data_dir: PathBuf,
    /// Bind address of the Kafka listener; `None` uses the `listeners` key.
    pub kafka_addr: Option<String>,
    pub config: BrokerConfig,
}

/// State shared by all connections and handlers.
pub struct Shared {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub advertised_host: String,
    pub advertised_port: i32,
    pub data_dir: PathBuf,
    pub logs: Arc<LogManager>,
    pub meta: MetadataStore,
    /// Bumped after every append; parked fetches wait for a change.
    pub data_version: watch::Sender<u64>,
    pub shutdown: watch::Sender<bool>,
    /// Set once at start-up, before the listener serves.
    groups: std::sync::OnceLock<Arc<group::Coordinator>>,
    /// The schema registry, once it runs (broker-side schema validation).
    schema_lookup: std::sync::OnceLock<Arc<dyn schema_validation::SchemaIdLookup>>,
    _lock: lock::DirLock,
}

impl Shared {
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Log>> {
        self.logs.get(&TopicPartition { topic: topic.to_string(), partition })
    }

    pub fn notify_data(&self) {
        self.data_version.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub fn groups(&self) -> &Arc<group::Coordinator> {
        self.groups.get().expect("group coordinator is opened before serving")
    }

    /// Plugs in the schema registry for topics that validate schema ids. The first
    /// call wins.
    pub fn set_schema_lookup(&self, lookup: Arc<dyn schema_validation::SchemaIdLookup>) {
        let _ = self.schema_lookup.set(lookup);
    }

    pub fn schema_lookup(&self) -> Option<&dyn schema_validation::SchemaIdLookup> {
        self.schema_lookup.get().map(|l| l.as_ref())
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// A running broker.
pub struct Broker {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

fn listener_addr(listener: &str) -> String {
    let first = listener.split(',').next().unwrap_or("").trim();
    match first.split_once("://") {
        Some((_, addr)) => addr.to_string(),
        None => first.to_string(),
    }
}

fn split_host_port(addr: &str) -> Option<(String, i32)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

impl Broker {
    pub async fn start(opts: BrokerOptions) -> Result<Broker> {
        let data_dir = opts.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|e| BrokerError::io("create", &data_dir, e))?;
        let lock = lock::DirLock::acquire(&data_dir)?;

        let bind =
            opts.kafka_addr.clone().unwrap_or_else(|| listener_addr(&opts.config.get("listeners").unwrap_or_default()));
        let listener =
            TcpListener::bind(&bind).await.map_err(|source| BrokerError::Bind { addr: bind.clone(), source })?;
        let local_addr = listener.local_addr().map_err(|source| BrokerError::Bind { addr: bind, source })?;
        let (advertised_host, advertised_port) = advertised(&opts.config, local_addr);

        let dir = data_dir.clone();
        let config = opts.config.clone();
        let (logs, meta) = tokio::task::spawn_blocking(move || open_storage(&dir, &config))
            .await
            .map_err(|e| BrokerError::Metadata(format!("storage start-up panicked: {e}")))??;
        logs.start_background(opts.config.get_i64("log.retention.check.interval.ms").max(1) as u64);

        let (data_version, _) = watch::channel(0u64);
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            node_id: opts.config.node_id(),
            config: opts.config,
            advertised_host,
            advertised_port,
            data_dir,
            logs,
            meta,
            data_version,
            shutdown,
            groups: std::sync::OnceLock::new(),
            schema_lookup: std::sync::OnceLock::new(),
            _lock: lock,
        });
        let s = shared.clone();
        let coordinator = tokio::task::spawn_blocking(move || group::Coordinator::open(&s))
            .await
            .map_err(|e| BrokerError::Metadata(format!("group coordinator start-up panicked: {e}")))??;
        let _ = shared.groups.set(coordinator.clone());
        tokio::spawn(coordinator.run_timers(shared.clone()));
        tracing::info!(
            cluster.id = %shared.meta.cluster_id(),
            node.id = shared.node_id,
            listener = %local_addr,
            advertised = %format!("{}:{}", shared.advertised_host, shared.advertised_port),
            topics = shared.meta.topics().len(),
            "broker started"
        );
        let server = tokio::spawn(server::serve(shared.clone(), listener));
        Ok(Broker { shared, local_addr, server: Some(server) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, lets in-flight requests finish, flushes every log and writes
    /// the clean-shutdown marker.
    pub async fn shutdown(mut self) -> Result<()> {
        let _ = self.shared.shutdown.send(true);
        self.shared.notify_data();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            shared.meta.close()?;
            shared.logs.shutdown()?;
            Ok(())
        })
        .await
        .map_err(|e| BrokerError::Metadata(format!("shutdown panicked: {e}")))??;
        tracing::info!("broker stopped cleanly");
        Ok(())
    }
}

fn advertised(config: &BrokerConfig, local: SocketAddr) -> (String, i32) {
    if let Some(adv) = config.get("advertised.listeners").filter(|s| !s.trim().is_empty()) {
        if let Some(hp) = split_host_port(&listener_addr(&adv)) {
            return hp;
        }
    }
    let host = if local.ip().is_unspecified() { hostname() } else { local.ip().to_string() };
    (host, local.port() as i32)
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Opens the log manager and metadata, removes partition directories of topics that
/// no longer exist (a crash between a delete's metadata write and its directory
/// removal), and opens every partition of every topic.
fn open_storage(data_dir: &Path, config: &BrokerConfig) -> Result<(Arc<LogManager>, MetadataStore)> {
    let logs = Arc::new(LogManager::open(data_dir, Arc::new(SystemClock))?);
    logs.segment_pool().set_budget(config.get_i64("log.recycle.bytes").max(0) as u64);
    let meta = MetadataStore::open(&logs)?;
    let topics = meta.topics();
    let live: std::collections::HashSet<(String, i32)> =
        topics.iter().flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), p))).collect();
    if let Ok(entries) = std::fs::read_dir(data_dir) {
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
    for t in &topics {
        let lc = config.log_config(&t.configs);
        for p in 0..t.partitions {
            logs.get_or_create(&TopicPartition { topic: t.name.clone(), partition: p }, lc.clone())?;
        }
    }
    Ok((logs, meta))
}
