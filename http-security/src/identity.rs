//! Who a request comes from, and the middleware that finds out.
//!
//! In order: `Authorization: Basic` credentials (when the listener's method is
//! BASIC; a NONE listener ignores them, as Confluent's does), a login session
//! cookie (the console), the client certificate's principal, and, on a NONE
//! listener, `User:ANONYMOUS`. A request with none of these, or with wrong
//! credentials, gets the listener's own rejection (the registry answers
//! Confluent's 401 body, the console redirects pages to its login form).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use weir_broker::auth::{Operation, Resource};
use weir_broker::net::sasl::failures::Failures;
use weir_broker::net::{Principal, SecurityProtocol, Session};
use weir_broker::BrokerHandle;

use crate::basic::Verified;
use crate::sessions::Sessions;
use crate::{AuthMethod, ListenerConfig};

/// What the connection says about the client; every request carries it.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// The verified client certificate's principal.
    pub cert_principal: Option<Principal>,
}

/// How the principal was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Anonymous,
    Certificate,
    Basic,
    Login,
}

/// The request's principal, as the broker's authorizer takes it.
#[derive(Clone)]
pub struct Identity {
    session: Arc<Session>,
    pub via: Via,
    /// ACLs apply: the broker's authorizer is on and the listener authenticates.
    enforce: bool,
}

impl Identity {
    pub fn principal(&self) -> &Principal {
        self.session.principal()
    }

    /// Whether ACLs decide what this identity may do.
    pub fn enforced(&self) -> bool {
        self.enforce
    }

    /// May the principal do `op` on `resource`? Silent: for filtering lists.
    pub fn may(&self, broker: &BrokerHandle, op: Operation, resource: Resource<'_>) -> bool {
        !self.enforce || broker.authorizer().authorize(&self.session, op, resource)
    }

    /// As [`Identity::may`], and a denial is written to the audit log.
    pub fn authorize(&self, broker: &BrokerHandle, op: Operation, resource: Resource<'_>) -> bool {
        let ok = self.may(broker, op, resource);
        if !ok {
            tracing::info!(target: "weir::audit", principal = %self.principal(), host = %self.session.peer.ip(),
                listener = %self.session.listener, operation = ?op, resource = ?resource, "denied");
        }
        ok
    }
}

/// Why a request was not let in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No credentials, and the listener needs them.
    Missing,
    /// Credentials that do not check out, or an expired login.
    Invalid,
}

/// A listener's answer to a rejected request.
pub type Reject = fn(&Request, Rejection, &str) -> Response;

/// A listener's authentication: its method, the login cache and sessions.
pub struct HttpAuth {
    broker: BrokerHandle,
    method: AuthMethod,
    realm: String,
    enforce: bool,
    listener: Arc<str>,
    verified: Verified,
    failures: Failures,
    failed_delay: Duration,
    /// Login sessions (the console's form login); None on the registry.
    pub sessions: Option<Sessions>,
    reject: Reject,
    /// Paths served to anyone (health checks, the login form and its assets).
    open: fn(&str) -> bool,
}

impl HttpAuth {
    pub fn new(
        broker: BrokerHandle,
        config: &ListenerConfig,
        sessions: Option<Sessions>,
        reject: Reject,
        open: fn(&str) -> bool,
    ) -> HttpAuth {
        let delay = broker.config().get("connection.failed.authentication.delay.ms");
        let failed_delay = Duration::from_millis(delay.and_then(|d| d.parse().ok()).unwrap_or(100));
        HttpAuth {
            enforce: config.authenticates() && broker.authorizer().enabled(),
            method: config.method,
            realm: config.realm.clone(),
            listener: config.prefix.to_ascii_uppercase().into(),
            broker,
            verified: Verified::default(),
            failures: Failures::default(),
            failed_delay,
            sessions,
            reject,
            open,
        }
    }

    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// The `WWW-Authenticate` challenge of this listener.
    pub fn challenge(&self) -> String {
        format!("Basic realm=\"{}\"", self.realm)
    }

    fn identity(&self, info: &ConnInfo, principal: Principal, via: Via) -> Identity {
        let session = Session {
            listener: self.listener.clone(),
            protocol: if info.tls { SecurityProtocol::Ssl } else { SecurityProtocol::Plaintext },
            peer: info.peer,
            transport_principal: principal,
            sasl: None,
            muted_until_ms: Arc::default(),
            software: Default::default(),
            id: weir_broker::net::next_connection_id(),
            share_sessions: Default::default(),
        };
        Identity { session: Arc::new(session), via, enforce: self.enforce }
    }

    /// Checks a user's password (a basic header or the login form); a failure
    /// is logged and answered only after the host's failure delay.
    pub async fn login(&self, info: &ConnInfo, user: &str, password: &str) -> Option<(i8, Vec<u8>)> {
        match self.verified.check(&self.broker, user, password).await {
            Some(m) => {
                self.failures.succeeded(info.peer.ip());
                Some(m)
            }
            None => {
                let delay = self.failures.failed(info.peer.ip(), self.failed_delay);
                tracing::warn!(target: "weir::audit", listener = %self.listener, peer = %info.peer, user = %user,
                    delay_ms = delay.as_millis() as u64, "HTTP authentication failed: invalid username or password");
                tokio::time::sleep(delay).await;
                None
            }
        }
    }

    /// The identity of a request, or why it has none.
    pub async fn identify(&self, headers: &HeaderMap, info: &ConnInfo) -> Result<Identity, Rejection> {
        let user = |name: String| Principal { kind: "User".into(), name };
        if self.method == AuthMethod::Basic {
            if let Some(value) = headers.get(header::AUTHORIZATION) {
                let parsed = value.to_str().ok().and_then(crate::basic::parse);
                let Some((name, password)) = parsed else {
                    return Err(Rejection::Invalid);
                };
                return match self.login(info, &name, &password).await {
                    Some(_) => Ok(self.identity(info, user(name), Via::Basic)),
                    None => Err(Rejection::Invalid),
                };
            }
            if let Some(sessions) = &self.sessions {
                if let Some(token) = crate::sessions::cookie_token(headers) {
                    return match sessions.get(&self.broker, token) {
                        Some(name) => Ok(self.identity(info, user(name), Via::Login)),
                        None => Err(Rejection::Invalid),
                    };
                }
            }
        }
        if let Some(p) = &info.cert_principal {
            return Ok(self.identity(info, p.clone(), Via::Certificate));
        }
        match self.method {
            AuthMethod::None => Ok(self.identity(info, Principal::anonymous(), Via::Anonymous)),
            AuthMethod::Basic => Err(Rejection::Missing),
        }
    }
}

/// The middleware: puts the request's [`Identity`] in its extensions, or
/// answers with the listener's rejection.
pub async fn authenticate(State(auth): State<Arc<HttpAuth>>, mut req: Request, next: Next) -> Response {
    let info = req.extensions().get::<ConnInfo>().cloned().unwrap_or_else(|| ConnInfo {
        peer: SocketAddr::from(([0, 0, 0, 0], 0)),
        tls: false,
        cert_principal: None,
    });
    let identified = auth.identify(req.headers(), &info).await;
    match identified {
        Ok(id) => {
            req.extensions_mut().insert(id);
            next.run(req).await
        }
        Err(_) if (auth.open)(req.uri().path()) => {
            let id = auth.identity(&info, Principal::anonymous(), Via::Anonymous);
            req.extensions_mut().insert(id);
            next.run(req).await
        }
        Err(why) => (auth.reject)(&req, why, &auth.challenge()),
    }
}
