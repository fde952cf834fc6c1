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

pub mod access;
pub mod avro_bound;
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

use weir_broker::BrokerHandle;
use weir_http_security::{HttpAuth, HttpServer, ListenerConfig};

pub use error::{ApiError, RegistryError};
use store::Store;

/// A running registry.
pub struct Registry {
    store: Arc<Store>,
    server: HttpServer,
    scheme: &'static str,
}

impl Registry {
    /// Opens the store (creating `_schemas` if needed) and serves on `addr`
    /// (`host:port`, or `https://host:port` for TLS), secured as the broker's
    /// `registry.*` keys say (see `weir_http_security`, and `access` for the
    /// permissions).
    pub async fn start(broker: BrokerHandle, addr: &str) -> Result<Registry, RegistryError> {
        let config = ListenerConfig::from_config(broker.config(), "registry", addr)?;
        let lookup = broker.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(broker))
            .await
            .map_err(|e| RegistryError::Startup(format!("store open panicked: {e}")))??;
        let (listener, tls) = HttpServer::bind(&config).await?;
        let auth = Arc::new(HttpAuth::new(lookup.clone(), &config, None, access::reject, |_| false));
        let app = Arc::new(store);
        let store = app.clone();
        lookup.set_schema_lookup(app.clone());
        let router = confluent::router(app.clone())
            .nest("/api/v1/confluent", confluent::router(app.clone()))
            .nest("/api/v1/schemaregistry", schemaregistry::router(app))
            .route_layer(axum::middleware::from_fn(http_metrics::track))
            .layer(axum::middleware::from_fn_with_state(store.clone(), access::authorize))
            .layer(axum::middleware::from_fn_with_state(auth, weir_http_security::authenticate));
        http_metrics::describe();
        let server = HttpServer::start(listener, tls, router, &config);
        tracing::info!(listener = %server.local_addr(), scheme = config.scheme(),
            authentication = ?config.method, "schema registry started");
        Ok(Registry { store, server, scheme: config.scheme() })
    }

    /// The registry's state, for the console (decoding and encoding records).
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Stops accepting and lets in-flight requests finish.
    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}
