//! weir-manager-ui: the console listener of `weir serve` (default 127.0.0.1:8080).
//!
//! It serves `/metrics` (everything the process records with the `metrics`
//! crate, in Prometheus text format: counters end in `_total`, latencies are
//! `_seconds` histograms; then the broker's state as of the scrape:
//! partition offsets and sizes, consumer group lag, see `state_metrics`;
//! every series is listed in docs/metrics.md), `/health` (the process is up),
//! `/ready` (listeners accepting and storage open; for `weir mirror`, every
//! flow running), and `/api/v1/mirror/flows`: the replication
//! flows this process runs (`weir serve --mirror-config`, `weir mirror
//! --metrics-addr`), each with its state and per-partition progress and lag. The console pages and their JSON API
//! under `/api/v1/` are built on the same listener, on the broker's in-process
//! handle.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use weir_broker::BrokerHandle;
use weir_mirror::MirrorStatus;

pub mod access;
pub mod alerts;
mod api;
pub mod history;
mod login;
mod pages;
mod state_metrics;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot install the metrics recorder: {0}")]
    Recorder(String),
    #[error("cannot bind the console listener {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("console listener: {0}")]
    Security(String),
    #[error("console history (__weir_console_history): {0}")]
    History(String),
    #[error("console alerts: {0}")]
    Alerts(#[from] alerts::AlertError),
}

impl From<weir_http_security::HttpSecurityError> for ConsoleError {
    fn from(e: weir_http_security::HttpSecurityError) -> ConsoleError {
        match e {
            weir_http_security::HttpSecurityError::Bind { addr, source } => ConsoleError::Bind { addr, source },
            other => ConsoleError::Security(other.to_string()),
        }
    }
}

/// Histogram buckets of every `_seconds` metric: 100 µs to 10 s (the same
/// the console's history reads latencies in).
const LATENCY_BUCKETS: &[f64] = &weir_broker::api::stats::LATENCY_BUCKETS;

/// Installs the process-wide Prometheus recorder. Call it once, before the broker
/// starts, so that the broker's metric handles register with it.
pub fn install_recorder() -> Result<PrometheusHandle, ConsoleError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .map_err(|e| ConsoleError::Recorder(e.to_string()))?
        .install_recorder()
        .map_err(|e| ConsoleError::Recorder(e.to_string()))
}

#[derive(Clone)]
struct App {
    /// None when only the metrics are served (`weir mirror --metrics-addr`).
    broker: Option<BrokerHandle>,
    metrics: PrometheusHandle,
    /// The flows this process runs (empty when it runs none).
    mirror: MirrorStatus,
}

/// What a console with a broker serves.
struct Served {
    broker: BrokerHandle,
    registry: Option<std::sync::Arc<weir_registry::store::Store>>,
    mirror_config: Option<std::sync::Arc<weir_mirror::MirrorConfig>>,
}

/// Opens the alerts, starts the history sampler (its task is returned) and
/// builds the API's state.
async fn start_api(served: Served, mirror: MirrorStatus) -> Result<(api::Api, JoinHandle<()>), ConsoleError> {
    let Served { broker, registry, mirror_config } = served;
    let history = std::sync::Arc::new(history::History::default());
    let (b, rt) = (broker.clone(), tokio::runtime::Handle::current());
    let alerts = tokio::task::spawn_blocking(move || alerts::Alerts::open(&b, rt))
        .await
        .map_err(|e| ConsoleError::History(format!("the alerts' start-up task failed: {e}")))??;
    let alerts = std::sync::Arc::new(alerts);
    let sampler = history::Sampler::start(broker.clone(), mirror.clone(), history.clone(), alerts.clone()).await?;
    let api = api::Api { broker, mirror, started: std::time::Instant::now(), history, registry, alerts, mirror_config };
    Ok((api, sampler.task))
}

/// A running console listener.
pub struct Console {
    server: Option<weir_http_security::HttpServer>,
    tasks: Vec<JoinHandle<()>>,
}

/// How long a console login lasts.
const LOGIN_FOR: Duration = Duration::from_secs(8 * 3600);

impl Console {
    /// The console of `weir serve`: pages and API on `broker`, records decoded
    /// and encoded through `registry`; the flows of `mirror_config` (if any)
    /// report to `mirror` and can be failed over from the replication page.
    pub async fn start(
        broker: BrokerHandle,
        registry: Option<std::sync::Arc<weir_registry::store::Store>>,
        metrics: PrometheusHandle,
        mirror: MirrorStatus,
        mirror_config: Option<weir_mirror::MirrorConfig>,
        addr: &str,
    ) -> Result<Console, ConsoleError> {
        let served = Served { broker, registry, mirror_config: mirror_config.map(std::sync::Arc::new) };
        Console::start_app(Some(served), metrics, mirror, addr).await
    }

    /// `/metrics`, `/health` and the mirror's flows, for a process without a
    /// broker (`weir mirror`).
    pub async fn start_without_broker(
        metrics: PrometheusHandle,
        mirror: MirrorStatus,
        addr: &str,
    ) -> Result<Console, ConsoleError> {
        Console::start_app(None, metrics, mirror, addr).await
    }

    async fn start_app(
        served: Option<Served>,
        metrics: PrometheusHandle,
        mirror: MirrorStatus,
        addr: &str,
    ) -> Result<Console, ConsoleError> {
        use weir_http_security::{AuthMethod, HttpAuth, HttpServer, ListenerConfig};
        // Without a broker (`weir mirror`) there are no users to log in: plain HTTP.
        let config = match &served {
            Some(s) => ListenerConfig::from_config(s.broker.config(), "console", addr)?,
            None => ListenerConfig {
                prefix: "console",
                bind: addr.trim_start_matches("http://").to_string(),
                tls: None,
                method: AuthMethod::None,
                realm: "Weir".into(),
                idle_timeout: weir_http_security::DEFAULT_IDLE_TIMEOUT,
            },
        };
        let (listener, tls) = HttpServer::bind(&config).await?;
        // Histogram samples wait in the recorder until drained; drain them even when
        // nobody scrapes, so memory stays flat.
        let upkeep = {
            let m = metrics.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    m.run_upkeep();
                }
            })
        };
        let mut tasks = vec![upkeep];
        let broker = served.as_ref().map(|s| s.broker.clone());
        let api = match served {
            Some(served) => match start_api(served, mirror.clone()).await {
                Ok((api, sampler)) => {
                    tasks.push(sampler);
                    Some(api)
                }
                Err(e) => {
                    tasks.iter().for_each(JoinHandle::abort);
                    return Err(e);
                }
            },
            None => None,
        };
        let app = App { broker: broker.clone(), metrics, mirror };
        let mut router = router(app, api);
        if let Some(broker) = broker {
            let sessions = weir_http_security::sessions::Sessions::new(LOGIN_FOR);
            let auth = std::sync::Arc::new(HttpAuth::new(
                broker.clone(),
                &config,
                Some(sessions),
                access::reject,
                access::open,
            ));
            let login = login::Login { auth: auth.clone(), broker: broker.clone(), secure: config.tls.is_some() };
            router = router
                .merge(login::routes(login))
                .layer(axum::middleware::from_fn_with_state(broker, access::authorize))
                .layer(axum::middleware::from_fn_with_state(auth, weir_http_security::authenticate));
        }
        let server = HttpServer::start(listener, tls, router, &config);
        tracing::info!(listener = %server.local_addr(), scheme = config.scheme(),
            authentication = ?config.method, "console started");
        Ok(Console { server: Some(server), tasks })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.as_ref().map(|s| s.local_addr()).unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Stops accepting and lets in-flight requests finish.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

fn router(app: App, api: Option<api::Api>) -> Router {
    let mut r = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/api/v1/mirror/flows", get(mirror_flows));
    // The pages and the broker's API only where there is a broker.
    if let Some(api) = api {
        r = r.merge(api::router(api)).merge(pages::router());
    }
    r.with_state(app)
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    // The process's metrics, the broker's state as of now, then what clients
    // pushed (KIP-714).
    let mut text = app.metrics.render();
    state_metrics::render_process(&mut text);
    if let Some(broker) = &app.broker {
        state_metrics::render(broker, &mut text);
        text.push_str(&broker.telemetry().render_prometheus());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// The replication flows, by name: state, last error, restarts, and each
/// mirrored partition's position, source end, lag (records, ms) and totals.
async fn mirror_flows(State(app): State<App>) -> impl IntoResponse {
    let flows: Vec<serde_json::Value> = app
        .mirror
        .snapshot()
        .into_iter()
        .map(|(name, f)| {
            let partitions: Vec<serde_json::Value> = f
                .partitions
                .iter()
                .map(|((topic, partition), p)| {
                    serde_json::json!({
                        "topic": topic,
                        "partition": partition,
                        "mirrored_offset": p.mirrored_offset,
                        "source_end_offset": p.source_end,
                        "lag_records": p.lag_records,
                        "lag_ms": p.lag_ms,
                        "records": p.records,
                        "bytes": p.bytes,
                    })
                })
                .collect();
            let checkpoints: Vec<serde_json::Value> = f
                .checkpoints
                .iter()
                .map(|(group, cp)| {
                    let parts: Vec<serde_json::Value> = cp
                        .partitions
                        .iter()
                        .map(|p| {
                            serde_json::json!({
                                "topic": p.topic,
                                "partition": p.partition,
                                "upstream_offset": p.upstream_offset,
                                "downstream_offset": p.downstream_offset,
                            })
                        })
                        .collect();
                    serde_json::json!({ "group": group, "at": cp.at_ms, "partitions": parts })
                })
                .collect();
            let latency = f.latency.counts();
            serde_json::json!({
                "name": name,
                "state": f.state.as_str(),
                "last_error": f.last_error,
                "restarts": f.restarts,
                "partitions": partitions,
                "checkpoints": checkpoints,
                "replication_latency_ms": {
                    "records": latency.iter().sum::<u64>(),
                    "p50": weir_mirror::status::latency_quantile_ms(&latency, 0.5),
                    "p99": weir_mirror::status::latency_quantile_ms(&latency, 0.99),
                },
            })
        })
        .collect();
    ([(header::CONTENT_TYPE, "application/json")], serde_json::json!({ "flows": flows }).to_string())
}

/// Ready to serve: with a broker, every Kafka listener accepts a connection
/// (tried now, over loopback for a wildcard bind) and storage is open (not
/// shutting down, the data directory there); without one (`weir mirror`),
/// every flow is running. 503 otherwise, naming what is not.
async fn ready(State(app): State<App>) -> impl IntoResponse {
    let mut checks = serde_json::Map::new();
    let mut ok = true;
    let mut check = |name: String, good: bool, state: &str| {
        ok &= good;
        checks.insert(name, serde_json::Value::String(state.to_string()));
    };
    match &app.broker {
        Some(broker) => {
            for e in broker.cluster().endpoints() {
                let mut addr = e.bound;
                if addr.ip().is_unspecified() {
                    addr.set_ip(if addr.is_ipv4() {
                        [127, 0, 0, 1].into()
                    } else {
                        std::net::Ipv6Addr::LOCALHOST.into()
                    });
                }
                let connect = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await;
                let accepting = matches!(connect, Ok(Ok(_)));
                check(
                    format!("listener {} {}", e.listener, e.bound),
                    accepting,
                    if accepting { "accepting" } else { "not accepting" },
                );
            }
            let open = !broker.is_shutting_down() && broker.cluster().data_dir().is_dir();
            check("storage".into(), open, if open { "open" } else { "closed" });
        }
        None => {
            for (name, f) in app.mirror.snapshot() {
                let running = f.state == weir_mirror::FlowState::Running;
                check(format!("flow {name}"), running, f.state.as_str());
            }
        }
    }
    let (status, text) = if ok { (StatusCode::OK, "READY") } else { (StatusCode::SERVICE_UNAVAILABLE, "NOT_READY") };
    let body = serde_json::json!({ "status": text, "checks": checks });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string())
}

async fn health(State(app): State<App>) -> impl IntoResponse {
    let (status, text) = if app.broker.as_ref().is_some_and(|b| b.is_shutting_down()) {
        (StatusCode::SERVICE_UNAVAILABLE, "DOWN")
    } else {
        (StatusCode::OK, "UP")
    };
    (status, [(header::CONTENT_TYPE, "application/json")], serde_json::json!({ "status": text }).to_string())
}
