//! SASL authentication on SASL_PLAINTEXT and SASL_SSL listeners, as Kafka does it.
//!
//! A connection starts unauthenticated: it may send ApiVersions and SaslHandshake
//! only (anything else closes it), and frames are bounded by
//! `sasl.server.max.receive.size` instead of `socket.request.max.bytes`.
//! SaslHandshake picks a mechanism of `sasl.enabled.mechanisms`; with handshake v1
//! the tokens travel in SaslAuthenticate requests, with v0 as bare frames (a
//! 4-byte size and the token, no request header). A successful exchange fixes
//! the connection's principal (`User:<name>`); a failed one is answered with
//! SASL_AUTHENTICATION_FAILED and a message after a delay
//! (`connection.failed.authentication.delay.ms`, growing with each consecutive
//! failure from the same host), and the connection is closed.
//!
//! KIP-368: with `connections.max.reauth.ms` > 0 (or an OAUTHBEARER token that
//! expires), SaslAuthenticate v1+ tells the client its session lifetime; a client
//! re-authenticates on the same connection with SaslHandshake and
//! SaslAuthenticate, with the same mechanism and principal. A request that arrives
//! after the session expired, other than those, closes the connection.
//!
//! Mechanisms: PLAIN (checked against the user's SCRAM credential, so no password
//! is stored), SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802/7677), OAUTHBEARER (RFC
//! 7628, a JWT checked against a JWKS: an identity provider's endpoint or a file).

pub mod failures;
mod jwks_http;
mod jwt;
pub mod oauth;
mod plain;
mod scram;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Principal;
use crate::error::BrokerError;
use crate::handle::BrokerHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    fn parse(name: &str) -> Option<Mechanism> {
        [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512, Mechanism::OAuthBearer]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// What SASL listeners are configured with (Kafka's keys).
#[derive(Clone, Debug)]
pub struct SaslSettings {
    pub mechanisms: Vec<Mechanism>,
    /// `connections.max.reauth.ms`; 0: sessions do not expire (unless a token does).
    pub max_reauth_ms: i64,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_delay: Duration,
    /// `sasl.server.max.receive.size`: the largest frame before authentication.
    pub max_receive: usize,
    pub oauth: Option<oauth::OAuthSettings>,
}

fn config_error(m: impl Into<String>) -> BrokerError {
    BrokerError::Config(m.into())
}

impl SaslSettings {
    pub fn from_keys(get: impl Fn(&str) -> String) -> Result<SaslSettings, BrokerError> {
        let mut mechanisms = Vec::new();
        for name in get("sasl.enabled.mechanisms").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let m = Mechanism::parse(name).ok_or_else(|| {
                config_error(format!(
                    "sasl.enabled.mechanisms: {name} is not served (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and \
                     OAUTHBEARER are)"
                ))
            })?;
            if !mechanisms.contains(&m) {
                mechanisms.push(m);
            }
        }
        if mechanisms.is_empty() {
            return Err(config_error("sasl.enabled.mechanisms: a SASL listener needs at least one mechanism"));
        }
        let number = |key: &str, min: i64| -> Result<i64, BrokerError> {
            let v = get(key);
            let n: i64 = v.trim().parse().map_err(|_| config_error(format!("{key}: '{v}' is not a number")))?;
            if n < min {
                return Err(config_error(format!("{key}: {n} must be at least {min}")));
            }
            Ok(n)
        };
        let oauth = match mechanisms.contains(&Mechanism::OAuthBearer) {
            true => Some(oauth::OAuthSettings::from_keys(&get)?),
            false => None,
        };
        Ok(SaslSettings {
            mechanisms,
            max_reauth_ms: number("connections.max.reauth.ms", 0)?,
            failed_delay: Duration::from_millis(number("connection.failed.authentication.delay.ms", 0)? as u64),
            max_receive: number("sasl.server.max.receive.size", 1)? as usize,
            oauth,
        })
    }
}

/// The SASL side of the broker's listeners, shared by their connections.
pub struct SaslServer {
    settings: SaslSettings,
    names: Vec<String>,
    failures: failures::Failures,
    oauth: Option<oauth::Validator>,
    /// Keys the made-up salt of users that do not exist, so that SCRAM answers
    /// an unknown user as it answers a known one with a wrong password.
    secret: [u8; 32],
}

impl SaslServer {
    pub fn new(settings: SaslSettings) -> Result<SaslServer, BrokerError> {
        let oauth = settings.oauth.clone().map(oauth::Validator::load).transpose()?;
        Ok(SaslServer {
            names: settings.mechanisms.iter().map(|m| m.name().to_string()).collect(),
            failures: failures::Failures::default(),
            oauth,
            secret: random(),
            settings,
        })
    }

    pub fn mechanism_names(&self) -> &[String] {
        &self.names
    }

    pub fn max_receive(&self) -> usize {
        self.settings.max_receive
    }

    /// Waits a while for OAUTHBEARER's key set when it comes from an endpoint
    /// (so clients of a broker just started are not refused); whether it is there.
    pub async fn oauth_ready(&self) -> bool {
        match &self.oauth {
            Some(v) => v.ready().await,
            None => true,
        }
    }
}

pub(crate) use plain::matches as plain_matches;

/// `N` bytes from the system's secure random source.
pub fn random<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut out).expect("the system's random source works");
    out
}

/// Where a connection is in its authentication.
enum Phase {
    /// Before the first SaslHandshake.
    Start,
    /// A mechanism is chosen; its exchange runs.
    Exchanging {
        mechanism: Mechanism,
        raw: bool,
        exchange: Exchange,
    },
    Authenticated {
        mechanism: Mechanism,
    },
    /// Refused: the next request closes the connection.
    Failed,
}

enum Exchange {
    /// Nothing received yet.
    Fresh,
    Scram(Box<scram::AwaitingFinal>),
}

/// One connection's authentication.
pub struct ConnSasl {
    server: Arc<SaslServer>,
    peer: IpAddr,
    principal: OnceLock<Principal>,
    state: Mutex<State>,
}

struct State {
    phase: Phase,
    /// A re-authentication is running (the connection stays authenticated).
    reauth: bool,
    expires: Option<Instant>,
}

/// What the connection does with a request frame of a SASL listener.
pub enum Admit {
    Dispatch,
    /// A bare token (after SaslHandshake v0).
    RawToken,
    Close(String),
}

/// The outcome of a SaslHandshake.
pub enum Handshake {
    Ok,
    Unsupported,
    IllegalState(&'static str),
}

/// The outcome of one token of an exchange.
pub enum Step {
    /// The server's next token; more are expected.
    Continue(Vec<u8>),
    /// Authenticated: the last token, and the session lifetime (0: none).
    Done {
        token: Vec<u8>,
        session_lifetime_ms: i64,
    },
    /// Refused: answered with SASL_AUTHENTICATION_FAILED after `delay`, then closed.
    Failed {
        message: String,
        delay: Duration,
    },
    IllegalState(&'static str),
}

/// What a mechanism concluded from the client's token.
enum Verdict {
    Continue(Vec<u8>, Exchange),
    /// The principal's name, the last token, and when its credential expires.
    Success {
        user: String,
        token: Vec<u8>,
        expires_at_ms: Option<i64>,
    },
    Failure(String),
}

impl ConnSasl {
    pub fn new(server: Arc<SaslServer>, peer: IpAddr) -> ConnSasl {
        ConnSasl {
            server,
            peer,
            principal: OnceLock::new(),
            state: Mutex::new(State { phase: Phase::Start, reauth: false, expires: None }),
        }
    }

    pub fn principal(&self) -> Option<&Principal> {
        self.principal.get()
    }

    pub fn server(&self) -> &SaslServer {
        &self.server
    }

    /// The largest request frame accepted now.
    pub fn max_frame(&self, authenticated: usize) -> usize {
        match self.principal.get() {
            Some(_) => authenticated,
            None => self.server.settings.max_receive,
        }
    }

    /// May a request of `api_key` run now?
    pub fn admit(&self, api_key: i16) -> Admit {
        use kafka_protocol::messages::ApiKey;
        let is = |k: ApiKey| api_key == k as i16;
        let st = self.state.lock();
        let expired = st.expires.is_some_and(|at| Instant::now() >= at);
        match &st.phase {
            Phase::Start if is(ApiKey::ApiVersions) || is(ApiKey::SaslHandshake) => Admit::Dispatch,
            Phase::Start => Admit::Close(format!("{} before SASL authentication", api_name(api_key))),
            Phase::Exchanging { raw: true, .. } => Admit::RawToken,
            Phase::Exchanging { .. } if is(ApiKey::SaslAuthenticate) => Admit::Dispatch,
            Phase::Exchanging { .. } if st.reauth && !expired => Admit::Dispatch,
            Phase::Exchanging { .. } => {
                Admit::Close(format!("{} during the SASL exchange (SaslAuthenticate expected)", api_name(api_key)))
            }
            Phase::Authenticated { .. } if expired && !is(ApiKey::SaslHandshake) => Admit::Close(format!(
                "{} after the SASL session of {} expired (the client did not re-authenticate)",
                api_name(api_key),
                self.principal.get().map(|p| p.to_string()).unwrap_or_default()
            )),
            Phase::Authenticated { .. } => Admit::Dispatch,
            Phase::Failed => Admit::Close("request after failed SASL authentication".into()),
        }
    }

    /// SaslHandshake: picks the mechanism (`raw`: v0, bare tokens follow).
    pub fn handshake(&self, mechanism: &str, raw: bool) -> Handshake {
        let mut st = self.state.lock();
        let chosen = Mechanism::parse(mechanism).filter(|m| self.server.settings.mechanisms.contains(m));
        match (&st.phase, chosen) {
            (Phase::Start, Some(m)) => {
                st.phase = Phase::Exchanging { mechanism: m, raw, exchange: Exchange::Fresh };
                Handshake::Ok
            }
            (Phase::Authenticated { mechanism: was }, Some(m)) if *was == m && !raw => {
                st.phase = Phase::Exchanging { mechanism: m, raw, exchange: Exchange::Fresh };
                st.reauth = true;
                Handshake::Ok
            }
            (Phase::Authenticated { .. }, _) if raw => {
                st.phase = Phase::Failed;
                Handshake::IllegalState("re-authentication needs SaslHandshake v1 or later")
            }
            (Phase::Start | Phase::Authenticated { .. }, _) => {
                // Kafka closes the connection after this answer; so does the next request.
                st.phase = Phase::Failed;
                Handshake::Unsupported
            }
            (Phase::Exchanging { .. }, _) | (Phase::Failed, _) => {
                st.phase = Phase::Failed;
                Handshake::IllegalState("SaslHandshake in the middle of a SASL exchange")
            }
        }
    }

    /// One client token of the exchange (SaslAuthenticate, or a bare token).
    pub async fn authenticate(&self, broker: &BrokerHandle, token: &[u8]) -> Step {
        let (mechanism, exchange) = {
            let mut st = self.state.lock();
            match std::mem::replace(&mut st.phase, Phase::Failed) {
                Phase::Exchanging { mechanism, exchange, raw } => {
                    st.phase = Phase::Exchanging { mechanism, raw, exchange: Exchange::Fresh };
                    (mechanism, exchange)
                }
                other => {
                    let authenticated = matches!(other, Phase::Authenticated { .. });
                    st.phase = other;
                    return Step::IllegalState(if authenticated {
                        "SaslAuthenticate request received after successful authentication"
                    } else {
                        "SaslAuthenticate request received before SaslHandshake"
                    });
                }
            }
        };
        let verdict = match (mechanism, exchange) {
            (Mechanism::Plain, Exchange::Fresh) => plain::verify(broker, token.to_vec()).await,
            (Mechanism::ScramSha256 | Mechanism::ScramSha512, Exchange::Fresh) => {
                scram::first(broker, &self.server.secret, mechanism, token)
            }
            (Mechanism::ScramSha256 | Mechanism::ScramSha512, Exchange::Scram(state)) => (*state).finish(token),
            (Mechanism::OAuthBearer, Exchange::Fresh) => match &self.server.oauth {
                Some(v) => v.verify(token),
                None => Verdict::Failure("OAUTHBEARER is not configured".into()),
            },
            (_, Exchange::Scram(_)) => Verdict::Failure("unexpected SASL state".into()),
        };
        self.conclude(mechanism, verdict)
    }

    fn conclude(&self, mechanism: Mechanism, verdict: Verdict) -> Step {
        let mut st = self.state.lock();
        match verdict {
            Verdict::Continue(token, exchange) => {
                if let Phase::Exchanging { exchange: e, .. } = &mut st.phase {
                    *e = exchange;
                }
                Step::Continue(token)
            }
            Verdict::Success { user, token, expires_at_ms } => {
                let principal = Principal { kind: "User".into(), name: user };
                if let Some(was) = self.principal.get() {
                    if *was != principal {
                        st.phase = Phase::Failed;
                        let message =
                            format!("Cannot change principals during re-authentication from {was} to {principal}");
                        return self.failed(mechanism, message);
                    }
                }
                let _ = self.principal.set(principal.clone());
                let lifetime_ms = self.lifetime_ms(expires_at_ms);
                let now = Instant::now();
                st.expires = (lifetime_ms > 0).then(|| now + Duration::from_millis(lifetime_ms as u64));
                st.phase = Phase::Authenticated { mechanism };
                let reauth = std::mem::take(&mut st.reauth);
                self.server.failures.succeeded(self.peer);
                tracing::info!(peer = %self.peer, principal = %principal, mechanism = mechanism.name(), reauth,
                    session_lifetime_ms = lifetime_ms, "SASL authentication succeeded");
                metrics::counter!("weir_sasl_authentications_total", "mechanism" => mechanism.name(), "result" => "success")
                    .increment(1);
                Step::Done { token, session_lifetime_ms: lifetime_ms }
            }
            Verdict::Failure(message) => {
                st.phase = Phase::Failed;
                self.failed(mechanism, message)
            }
        }
    }

    fn failed(&self, mechanism: Mechanism, message: String) -> Step {
        let delay = self.server.failures.failed(self.peer, self.server.settings.failed_delay);
        tracing::warn!(peer = %self.peer, mechanism = mechanism.name(), reason = %message,
            delay_ms = delay.as_millis() as u64, "SASL authentication failed");
        metrics::counter!("weir_sasl_authentications_total", "mechanism" => mechanism.name(), "result" => "failure")
            .increment(1);
        Step::Failed { message, delay }
    }

    /// Kafka's session lifetime: `connections.max.reauth.ms`, or less if the
    /// credential expires sooner; 0 when neither applies.
    fn lifetime_ms(&self, expires_at_ms: Option<i64>) -> i64 {
        let max = self.server.settings.max_reauth_ms;
        let until_expiry = expires_at_ms.map(|at| (at - now_ms()).max(0));
        match (until_expiry, max > 0) {
            (None, false) => 0,
            (None, true) => max,
            (Some(left), false) => left.max(1),
            (Some(left), true) => left.min(max).max(1),
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn api_name(key: i16) -> String {
    match kafka_protocol::messages::ApiKey::try_from(key) {
        Ok(k) => format!("{k:?}"),
        Err(_) => format!("API key {key}"),
    }
}

impl std::fmt::Debug for ConnSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnSasl").field("principal", &self.principal.get()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
