//! The accept loop of an HTTP listener, plain or TLS: every request carries
//! the [`ConnInfo`] of its connection (peer, certificate principal). HTTP/1.1
//! with keep-alive. Bounds (a client cannot hold a connection or memory
//! beyond them): `<prefix>.idle.timeout.ms` (default 30 s) to send a request's
//! headers, counted from the end of the previous response, so it also closes
//! idle connections; as long again for its body ([`crate::body::TimedBody`]);
//! [`MAX_HEADER_BYTES`] of request line and headers (more: 431); 10 s to
//! complete a TLS handshake. Shutdown stops accepting, lets requests in flight
//! finish, and closes idle connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use weir_broker::net::tls::{self, Tls};
use weir_broker::net::Principal;

use crate::body::TimedBody;
use crate::identity::ConnInfo;
use crate::{HttpSecurityError, ListenerConfig};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request line and headers together; browsers' cookies and a bearer token fit
/// many times over.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// A running HTTP listener.
pub struct HttpServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds the listener and loads its TLS files: errors stop start-up.
    pub async fn bind(config: &ListenerConfig) -> Result<(TcpListener, Option<Arc<Tls>>), HttpSecurityError> {
        let tls = match &config.tls {
            Some(settings) => Some(Arc::new(
                Tls::load(settings.clone())
                    .map_err(|e| HttpSecurityError::Config(format!("{} listener (https): {e}", config.prefix)))?,
            )),
            None => None,
        };
        let listener = TcpListener::bind(&config.bind)
            .await
            .map_err(|source| HttpSecurityError::Bind { addr: config.bind.clone(), source })?;
        Ok((listener, tls))
    }

    /// Serves `router` on `listener` (bound for `config`) until [`HttpServer::shutdown`].
    pub fn start(listener: TcpListener, tls: Option<Arc<Tls>>, router: Router, config: &ListenerConfig) -> HttpServer {
        let local_addr = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, tls, router, stopped, config.prefix, config.idle_timeout));
        HttpServer { local_addr, stop, task }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and waits for requests in flight.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    router: Router,
    mut stopped: watch::Receiver<bool>,
    name: &'static str,
    idle: Duration,
) {
    let mut conns = JoinSet::new();
    if let Some(t) = &tls {
        conns.spawn(tls::reload_loop(t.clone(), stopped.clone(), name));
    }
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => break,
        };
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: pause rather than spin.
                tracing::warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        conns.spawn(connection(stream, peer, tls.clone(), router.clone(), stopped.clone(), name, idle));
    }
    while conns.join_next().await.is_some() {}
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<Tls>>,
    router: Router,
    stopped: watch::Receiver<bool>,
    name: &'static str,
    idle: Duration,
) {
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        let info = ConnInfo { peer, tls: false, cert_principal: None };
        return http(TokioIo::new(stream), info, router, stopped, idle).await;
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(listener = name, %peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(listener = name, %peer, "TLS handshake timed out");
            return;
        }
    };
    let cert_principal = match stream.get_ref().1.peer_certificates().and_then(|c| c.first()) {
        None => None,
        Some(cert) => {
            let mapped = tls::subject_dn(cert)
                .ok_or_else(|| "its subject does not parse".to_string())
                .and_then(|dn| tls.mapper().map(&dn));
            match mapped {
                Ok(name) => Some(Principal { kind: "User".into(), name }),
                Err(why) => {
                    tracing::warn!(listener = name, %peer, reason = %why, "client certificate refused: no principal");
                    return;
                }
            }
        }
    };
    let info = ConnInfo { peer, tls: true, cert_principal };
    http(TokioIo::new(stream), info, router, stopped, idle).await
}

async fn http<I>(io: TokioIo<I>, info: ConnInfo, router: Router, mut stopped: watch::Receiver<bool>, idle: Duration)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = tower::ServiceExt::map_request(router, move |req: axum::http::Request<hyper::body::Incoming>| {
        let mut req = req.map(|body| TimedBody::new(body, idle));
        req.extensions_mut().insert(info.clone());
        req
    });
    let service = hyper_util::service::TowerToHyperService::new(service);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .max_header_size(MAX_HEADER_BYTES)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        }
        _ = stopped.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
