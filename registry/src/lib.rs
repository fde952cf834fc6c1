//! weir-registry: the schema registry served by `weir serve` (default port 8081).
//!
//! One model, stored in the broker's compacted `_schemas` topic (see `state` for
//! the record format and `store` for how writes become records), served through
//! the Confluent Schema Registry REST API (`confluent`), also mounted under
//! `/api/v1/confluent` where Cloudera's registry serves its Confluent-compatible
//! subset, and Cloudera's schema-metadata API with branches and version states
//! under `/api/v1/schemaregistry` (`schemaregistry`, model in `metadata`).
//! Compatibility checks for Avro, JSON Schema and Protobuf live in
//! `compat`. The registry uses the broker only through its in-process handle
//! ([`weir_broker::BrokerHandle`]).

pub mod avro_check;
pub mod canonical;
pub mod compat;
pub mod confluent;
pub mod error;
mod http_metrics;
pub mod metadata;
pub mod proto;
pub mod schema;
pub mod schemaregistry;
pub mod state;
pub mod store;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weir_broker::BrokerHandle;

pub use error::{ApiError, RegistryError};
use store::Store;

/// A running registry.
pub struct Registry {
    store: Arc<Store>,
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Registry {
    /// Opens the store (creating `_schemas` if needed) and serves on `addr`.
    pub async fn start(broker: BrokerHandle, addr: &str) -> Result<Registry, RegistryError> {
        let lookup = broker.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(broker))
            .await
            .map_err(|e| RegistryError::Startup(format!("store open panicked: {e}")))??;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RegistryError::Bind { addr: addr.to_string(), source })?;
        let local_addr =
            listener.local_addr().map_err(|source| RegistryError::Bind { addr: addr.to_string(), source })?;
        let app = Arc::new(store);
        let store = app.clone();
        lookup.set_schema_lookup(app.clone());
        let router = confluent::router(app.clone())
            .nest("/api/v1/confluent", confluent::router(app.clone()))
            .nest("/api/v1/schemaregistry", schemaregistry::router(app))
            .route_layer(axum::middleware::from_fn(http_metrics::track));
        http_metrics::describe();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "schema registry listener failed");
            }
        });
        tracing::info!(listener = %local_addr, "schema registry started");
        Ok(Registry { store, local_addr, stop: Some(stop), task: Some(task) })
    }

    /// The registry's state, for the console (decoding and encoding records).
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and lets in-flight requests finish.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}
