//! The broker's in-process API: [`BrokerHandle`].
//!
//! Everything outside the Kafka handlers (the schema registry, the console, the
//! mirror, tests) uses the broker through this handle, and so do the handlers:
//! services with domain types and typed errors ([`Topics`], [`Configs`], the group
//! [`Coordinator`], the [`ReplicaManager`]'s partitions, [`Cluster`]), never wire
//! types or Kafka error codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;
use weir_storage::Clock;

use crate::auth::Authorizer;
use crate::config::BrokerConfig;
use crate::configs::Configs;
use crate::error::{BrokerError, Result, TopicError};
use crate::group::Coordinator;
use crate::internal::InternalTopic;
use crate::metadata::MetadataStore;
use crate::partition::ReplicaManager;
use crate::schema_validation::SchemaIdLookup;
use crate::settings::BrokerSettings;
use crate::topics::Topics;
use crate::txn::TxnCoordinator;

/// Where clients reach a listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The listener name (`PLAINTEXT`, `INTERNAL`, ...).
    pub listener: String,
    pub host: String,
    pub port: i32,
    /// The address the listener is bound to.
    pub bound: SocketAddr,
}

/// This node and how clients reach it.
pub struct Cluster {
    node_id: i32,
    cluster_id: String,
    endpoints: Vec<Endpoint>,
    data_dir: PathBuf,
}

impl Cluster {
    pub(crate) fn new(node_id: i32, cluster_id: String, endpoints: Vec<Endpoint>, data_dir: PathBuf) -> Cluster {
        Cluster { node_id, cluster_id, endpoints, data_dir }
    }
    pub fn node_id(&self) -> i32 {
        self.node_id
    }
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }
    /// The endpoint a client that came in on `listener` is given (Kafka advertises
    /// the listener of the connection); else the first one. None when the broker is
    /// not served.
    pub fn endpoint(&self, listener: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.listener == listener).or(self.endpoints.first())
    }
    pub fn data_dir(&self) -> &PathBuf {
        &self.data_dir
    }
}

pub(crate) struct Core {
    pub(crate) settings: Arc<BrokerSettings>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cluster: Cluster,
    pub(crate) meta: Arc<MetadataStore>,
    pub(crate) partitions: Arc<ReplicaManager>,
    pub(crate) topics: Topics,
    pub(crate) configs: Configs,
    pub(crate) loggers: crate::loggers::Loggers,
    pub(crate) telemetry: crate::telemetry::Telemetry,
    pub(crate) producer_clients: crate::producer_clients::ProducerClients,
    pub(crate) groups: OnceLock<Arc<Coordinator>>,
    pub(crate) txn: OnceLock<Arc<TxnCoordinator>>,
    pub(crate) shares: OnceLock<Arc<crate::share::ShareCoordinator>>,
    pub(crate) schema_lookup: OnceLock<Arc<dyn SchemaIdLookup>>,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    /// Byte-rate quotas.
    pub(crate) throttler: crate::quotas::throttle::Throttler,
    pub(crate) fetch_sessions: crate::fetch_session::FetchSessionCache,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) _lock: crate::lock::DirLock,
}

/// The broker, in process. Cheap to clone.
#[derive(Clone)]
pub struct BrokerHandle {
    pub(crate) core: Arc<Core>,
}

impl BrokerHandle {
    pub fn settings(&self) -> &BrokerSettings {
        &self.core.settings
    }
    /// Raw configuration with Kafka's names (for describing it).
    pub fn config(&self) -> &BrokerConfig {
        self.core.configs.broker()
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.core.clock
    }
    pub fn cluster(&self) -> &Cluster {
        &self.core.cluster
    }
    pub fn topics(&self) -> &Topics {
        &self.core.topics
    }
    pub fn configs(&self) -> &Configs {
        &self.core.configs
    }
    /// Who each producer id is (client id, host), from InitProducerId.
    pub fn producer_clients(&self) -> &crate::producer_clients::ProducerClients {
        &self.core.producer_clients
    }
    /// Log levels (Kafka's BROKER_LOGGER resource).
    pub fn loggers(&self) -> &crate::loggers::Loggers {
        &self.core.loggers
    }
    pub fn partitions(&self) -> &Arc<ReplicaManager> {
        &self.core.partitions
    }
    /// Incremental fetch sessions (KIP-227).
    pub fn fetch_sessions(&self) -> &crate::fetch_session::FetchSessionCache {
        &self.core.fetch_sessions
    }
    pub fn groups(&self) -> &Arc<Coordinator> {
        self.core.groups.get().expect("the group coordinator is opened before the broker serves")
    }

    /// The transaction coordinator.
    pub fn txn(&self) -> &Arc<TxnCoordinator> {
        self.core.txn.get().expect("the transaction coordinator is opened before the broker serves")
    }

    /// The share-group coordinator (KIP-932).
    pub fn shares(&self) -> &Arc<crate::share::ShareCoordinator> {
        self.core.shares.get().expect("the share coordinator is opened before the broker serves")
    }

    /// A producer id never handed out before on this node (persisted in blocks).
    /// The end of the metadata log (`__cluster_metadata-0`): what DescribeQuorum
    /// reports as its high watermark.
    pub fn metadata_end_offset(&self) -> i64 {
        self.core.meta.end_offset()
    }

    pub fn allocate_producer_id(&self) -> Result<i64> {
        self.core.meta.allocate_producer_id()
    }

    /// An internal topic, created with `partitions` and `configs` when missing.
    /// Blocking.
    pub fn internal_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: std::collections::BTreeMap<String, String>,
    ) -> Result<InternalTopic, TopicError> {
        self.core.topics.ensure(name, partitions, configs)?;
        let parts = self
            .core
            .partitions
            .topic(name)
            .ok_or_else(|| TopicError::Broker(BrokerError::NotOpen(name.to_string())))?;
        Ok(InternalTopic::new(name, parts, self.core.clock.clone()))
    }

    /// Plugs in the schema registry for topics that validate schema ids. The first
    /// call wins.
    pub fn set_schema_lookup(&self, lookup: Arc<dyn SchemaIdLookup>) {
        let _ = self.core.schema_lookup.set(lookup);
    }

    pub fn schema_lookup(&self) -> Option<&dyn SchemaIdLookup> {
        self.core.schema_lookup.get().map(|l| l.as_ref())
    }

    /// Who may do what (allow-all until ACLs exist).
    pub fn authorizer(&self) -> &dyn Authorizer {
        self.core.authorizer.as_ref()
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.core.shutdown.borrow()
    }

    /// Changes to `true` when the broker begins to shut down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.core.shutdown.subscribe()
    }
}
