//! The network layer: listeners, connections and sessions.
//!
//! One accept loop per configured listener ([`Listeners`]). Every accepted
//! connection gets a [`Session`]: the listener it came in on, the peer address and
//! the authenticated principal (`User:ANONYMOUS` on PLAINTEXT listeners, the
//! certificate's on SSL with client authentication, the SASL user on SASL_*). The
//! session goes with every request of the connection into the request context, so
//! handlers, the authorization hook and Metadata (which advertises the listener the
//! client came in on) all see it.

mod connection;
pub mod http_client;
pub mod limits;
pub mod listeners;
pub mod sasl;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub use listeners::{ListenerSpec, SecurityProtocol};

use crate::api::metrics::ApiMetrics;
use crate::error::BrokerError;
use crate::handle::{BrokerHandle, Endpoint};
use crate::settings::BrokerSettings;

/// How long shutdown waits for connections to finish in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Who a request comes from, as Kafka's `KafkaPrincipal` (`User:alice`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal {
    pub kind: String,
    pub name: String,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal { kind: "User".into(), name: "ANONYMOUS".into() }
    }
}

impl Session {
    /// Reads nothing more from this client for `ms` (Kafka mutes a throttled channel).
    pub fn mute_for(&self, ms: u64) {
        let until = sasl::now_ms() + ms as i64;
        self.muted_until_ms.fetch_max(until, std::sync::atomic::Ordering::AcqRel);
    }

    /// The principal requests run as.
    pub fn principal(&self) -> &Principal {
        self.sasl.as_ref().and_then(|s| s.principal()).unwrap_or(&self.transport_principal)
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// One client connection, as every request of it sees it.
#[derive(Clone, Debug)]
pub struct Session {
    pub listener: Arc<str>,
    pub protocol: SecurityProtocol,
    pub peer: SocketAddr,
    /// Who the transport says the client is: anonymous, or its certificate's
    /// principal. On SASL listeners [`Session::principal`] is the SASL user.
    pub transport_principal: Principal,
    /// SASL listeners: the connection's authentication.
    pub sasl: Option<Arc<sasl::ConnSasl>>,
    /// A throttled client (quotas): nothing more is read from it before this
    /// time (ms since the epoch).
    pub muted_until_ms: Arc<std::sync::atomic::AtomicI64>,
    /// The client's software name and version (KIP-511, ApiVersions v3+), for
    /// matching telemetry subscriptions.
    pub software: std::sync::OnceLock<(String, String)>,
    /// This connection, among every connection the broker served.
    pub id: u64,
    /// The share sessions (group, member) this connection used: when it closes they
    /// end and what their members hold goes back, as in Kafka.
    pub share_sessions: Arc<parking_lot::Mutex<Vec<(String, String)>>>,
}

/// A new connection's [`Session::id`].
pub fn next_connection_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Bound listeners, not yet serving.
pub struct Listeners {
    bound: Vec<(TcpListener, ListenerSpec)>,
    endpoints: Vec<Endpoint>,
    /// Loaded when an SSL or SASL_SSL listener is configured.
    tls: Option<Arc<tls::Tls>>,
    /// Built when a SASL listener is configured.
    sasl: Option<Arc<sasl::SaslServer>>,
    /// Shared by every listener: the broker-wide and per-address counts.
    limits: Arc<limits::ConnectionLimits>,
}

impl Listeners {
    /// Binds every listener of the configuration; `first_addr` replaces the first
    /// one's address (`--kafka-addr`).
    pub async fn bind(settings: &BrokerSettings, first_addr: Option<&str>) -> Result<Listeners, BrokerError> {
        let (client_listeners, advertised) = listeners::without_controller_listeners(
            &settings.listeners,
            &settings.advertised_listeners,
            &settings.controller_listener_names,
        );
        let specs =
            listeners::parse(&client_listeners, &advertised, &settings.listener_security_protocol_map, first_addr)?;
        // Before binding: a bad keystore stops start-up with its reason.
        let tls = match specs.iter().any(|s| s.protocol.uses_tls()) {
            true => Some(Arc::new(tls::Tls::load(tls::TlsSettings::from_keys(|k| {
                settings.ssl.get(k).cloned().unwrap_or_default()
            })?)?)),
            false => None,
        };
        let sasl = match specs.iter().any(|s| s.protocol.uses_sasl()) {
            true => Some(Arc::new(sasl::SaslServer::new(sasl::SaslSettings::from_keys(|k| {
                settings.sasl.get(k).cloned().unwrap_or_default()
            })?)?)),
            false => None,
        };
        if let Some(s) = &sasl {
            if !s.oauth_ready().await {
                tracing::error!(
                    "the OAUTHBEARER key set (sasl.oauthbearer.jwks.endpoint.url) could not be fetched yet; \
                     OAUTHBEARER authentications fail until it is (retrying)"
                );
            }
        }
        let controllers = settings.controller_listener_names.to_ascii_uppercase();
        for name in settings.connections.per_listener.keys() {
            let known = specs.iter().any(|s| s.name.eq_ignore_ascii_case(name))
                || controllers.split(',').any(|c| c.trim() == name);
            if !known {
                return Err(BrokerError::Config(format!(
                    "listener.name.{}.max.connections: no listener is named {name} (listeners: {client_listeners})",
                    name.to_ascii_lowercase()
                )));
            }
        }
        let limits = limits::ConnectionLimits::new(&settings.connections)?;
        let mut bound = Vec::with_capacity(specs.len());
        let mut endpoints = Vec::with_capacity(specs.len());
        for spec in specs {
            let listener = TcpListener::bind(&spec.bind)
                .await
                .map_err(|source| BrokerError::Bind { addr: spec.bind.clone(), source })?;
            let local =
                listener.local_addr().map_err(|source| BrokerError::Bind { addr: spec.bind.clone(), source })?;
            let (host, port) = spec.advertised.clone().unwrap_or_else(|| {
                let host = if local.ip().is_unspecified() { hostname() } else { local.ip().to_string() };
                (host, local.port() as i32)
            });
            endpoints.push(Endpoint { listener: spec.name.clone(), host, port, bound: local });
            bound.push((listener, spec));
        }
        Ok(Listeners { bound, endpoints, tls, sasl, limits })
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// Serves every listener until the broker shuts down.
    pub fn serve(self, broker: &BrokerHandle) -> Vec<JoinHandle<()>> {
        let metrics = Arc::new(ApiMetrics::new());
        let tls = self.tls;
        let sasl = self.sasl;
        let limits = self.limits;
        let mut tasks: Vec<JoinHandle<()>> = self
            .bound
            .into_iter()
            .map(|(listener, spec)| {
                let tls = spec.protocol.uses_tls().then(|| tls.clone()).flatten();
                let sasl = spec.protocol.uses_sasl().then(|| sasl.clone()).flatten();
                tokio::spawn(accept_loop(broker.clone(), metrics.clone(), listener, spec, tls, sasl, limits.clone()))
            })
            .collect();
        if let Some(tls) = tls {
            tasks.push(tokio::spawn(tls::reload_loop(tls, broker.shutdown_signal(), "kafka")));
        }
        tasks
    }
}

/// Completes the TLS handshake (bounded in time) and serves the connection
/// with the principal of its client certificate, if any.
async fn serve_tls(
    broker: BrokerHandle,
    metrics: Arc<ApiMetrics>,
    limits: Arc<limits::ConnectionLimits>,
    tls: Arc<tls::Tls>,
    stream: tokio::net::TcpStream,
    mut session: Session,
) {
    let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await;
    let stream = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(listener = %session.listener, peer = %session.peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(listener = %session.listener, peer = %session.peer, "TLS handshake timed out");
            return;
        }
    };
    // On SASL_SSL the principal comes from SASL; a certificate only secures the channel.
    let cert = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).filter(|_| session.sasl.is_none());
    if let Some(cert) = cert {
        let mapped = tls::subject_dn(cert)
            .ok_or_else(|| "its subject does not parse".to_string())
            .and_then(|dn| tls.mapper().map(&dn));
        match mapped {
            Ok(name) => session.transport_principal = Principal { kind: "User".into(), name },
            Err(why) => {
                tracing::warn!(listener = %session.listener, peer = %session.peer, reason = %why,
                    "client certificate refused: no principal");
                return;
            }
        }
    }
    tracing::debug!(listener = %session.listener, peer = %session.peer, principal = %session.principal(), "TLS connection");
    let (rd, wr) = tokio::io::split(stream);
    connection::run(broker, metrics, Arc::new(session), limits, rd, wr).await
}

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn accept_loop(
    broker: BrokerHandle,
    metrics: Arc<ApiMetrics>,
    listener: TcpListener,
    spec: ListenerSpec,
    tls: Option<Arc<tls::Tls>>,
    sasl: Option<Arc<sasl::SaslServer>>,
    limits: Arc<limits::ConnectionLimits>,
) {
    let mut shutdown = broker.shutdown_signal();
    let refused = metrics::counter!("weir_kafka_connections_refused_total", "listener" => spec.name.clone(),
        "reason" => "max.connections.per.ip");
    let name: Arc<str> = spec.name.as_str().into();
    let connections = metrics::counter!("weir_kafka_connections_total", "listener" => spec.name.clone());
    let active = metrics::gauge!("weir_kafka_connections_active", "listener" => spec.name.clone());
    let mut conns = JoinSet::new();
    let listener_max = limits.listener_max(&spec.name);
    loop {
        // At max.connections (the broker's or this listener's) the listener is
        // left alone: clients wait in the backlog.
        if listener_max.is_some_and(|max| conns.len() >= max) {
            tokio::select! {
                Some(_) = conns.join_next() => {
                    active.decrement(1.0);
                    continue;
                }
                _ = shutdown.changed() => break,
            }
        }
        tokio::select! {
            _ = limits.wait_for_room() => {}
            Some(_) = conns.join_next(), if !conns.is_empty() => {
                active.decrement(1.0);
                continue;
            }
            _ = shutdown.changed() => break,
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let slot = match limits.admit(peer.ip()) {
                        Ok(slot) => slot,
                        Err(limits::Refused::PerIp { limit }) => {
                            refused.increment(1);
                            tracing::info!(listener = %name, %peer, limit,
                                "connection refused: the address has max.connections.per.ip connections open");
                            drop(stream);
                            continue;
                        }
                    };
                    connections.increment(1);
                    active.increment(1.0);
                    let session = Session {
                        listener: name.clone(),
                        protocol: spec.protocol,
                        peer,
                        transport_principal: Principal::anonymous(),
                        sasl: sasl.as_ref().map(|s| Arc::new(sasl::ConnSasl::new(s.clone(), peer.ip()))),
                        muted_until_ms: Default::default(),
                        software: Default::default(),
                        id: next_connection_id(),
                        share_sessions: Default::default(),
                    };
                    let _ = stream.set_nodelay(true);
                    match &tls {
                        Some(tls) => {
                            let serve =
                                serve_tls(broker.clone(), metrics.clone(), limits.clone(), tls.clone(), stream, session);
                            conns.spawn(async move { serve.await; drop(slot) });
                        }
                        None => {
                            let (rd, wr) = stream.into_split();
                            let session = Arc::new(session);
                            let serve = connection::run(broker.clone(), metrics.clone(), session, limits.clone(), rd, wr);
                            conns.spawn(async move { serve.await; drop(slot) });
                        }
                    }
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => active.decrement(1.0),
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {
            active.decrement(1.0);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(listener = %name, open = conns.len(), "connections still busy after drain timeout; closing them");
        conns.abort_all();
    }
    active.set(0.0);
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
