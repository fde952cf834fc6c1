//! weir-http-security: what the registry's and the console's HTTP listeners
//! share to be secured like the Kafka listeners, behind the same identities.
//!
//! - **TLS**: a listener address written `https://host:port` serves TLS with
//!   rustls. The keystore and truststore are the broker's (`ssl.keystore.location`,
//!   `ssl.truststore.location`, PEM) unless the listener has its own
//!   (`registry.ssl.keystore.location`, `console.ssl.truststore.location`, ...);
//!   `<prefix>.ssl.client.auth` (`none`, `requested`, `required`) asks for client
//!   certificates, whose subject becomes the principal through the broker's
//!   `ssl.principal.mapping.rules`. Changed files are reloaded like the broker's.
//! - **Authentication**: `<prefix>.authentication.method=BASIC` (Confluent's
//!   name) requires HTTP basic credentials of a SCRAM user (checked as SASL/PLAIN
//!   checks them: the password must derive the user's StoredKey), a client
//!   certificate, or (the console) a login session cookie. `NONE` (the default)
//!   lets anonymous requests in, but still takes a client certificate's principal.
//! - **Authorization**: with the broker's authorizer on and an authenticating
//!   listener, handlers ask [`Identity::may`] with Kafka's operations and
//!   resources, so the same ACLs govern Kafka, the registry and the console. A
//!   listener that does not authenticate has no principal worth checking and
//!   allows everything, as before security was configured.
//!
//! Verified logins are cached (keyed by an HMAC of the user and password under a
//! per-process random key, so no password is kept) for [`basic::CACHE_FOR`],
//! and dropped as soon as the user's credential changes. Failed logins are
//! answered after `connection.failed.authentication.delay.ms`, growing with
//! consecutive failures from the same host, as on the Kafka listeners.

pub mod basic;
pub mod body;
pub mod identity;
mod serve;
pub mod sessions;

use weir_broker::net::tls::{ClientAuth, TlsSettings};
use weir_broker::BrokerConfig;

pub use identity::{authenticate, ConnInfo, HttpAuth, Identity, Rejection, Via};
pub use serve::HttpServer;

#[derive(Debug, thiserror::Error)]
pub enum HttpSecurityError {
    #[error("{0}")]
    Config(String),
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Tls(#[from] weir_broker::BrokerError),
}

/// How a listener authenticates requests (`<prefix>.authentication.method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    Basic,
}

/// `<prefix>.idle.timeout.ms` by default (Confluent's rest-utils: `idle.timeout.ms`).
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One HTTP listener's address and security, from the broker's config.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// `registry` or `console`: the prefix of its keys, and its name in logs.
    pub prefix: &'static str,
    /// host:port to bind.
    pub bind: String,
    pub tls: Option<TlsSettings>,
    pub method: AuthMethod,
    /// The realm of the `WWW-Authenticate` challenge.
    pub realm: String,
    /// `<prefix>.idle.timeout.ms`: how long a connection may wait for its next
    /// request's headers, and a request for its body (see `serve`).
    pub idle_timeout: std::time::Duration,
}

impl ListenerConfig {
    /// Reads `<prefix>.*` keys; `addr` is `host:port`, `http://host:port` or
    /// `https://host:port` (TLS).
    pub fn from_config(
        config: &BrokerConfig,
        prefix: &'static str,
        addr: &str,
    ) -> Result<ListenerConfig, HttpSecurityError> {
        let err = |m: String| HttpSecurityError::Config(m);
        let (https, bind) = match addr.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, _)) => {
                return Err(err(format!("{prefix} address '{addr}': the scheme '{scheme}' is not http or https")))
            }
            None => (false, addr),
        };
        let own = |key: &str| config.set.get(&format!("{prefix}.{key}")).cloned();
        let tls = if https {
            let get = |key: &str| match key {
                // Not the Kafka listeners' value: browsers seldom hold client certificates.
                "ssl.client.auth" => own(key).unwrap_or_default(),
                _ => own(key).or_else(|| config.get(key)).unwrap_or_default(),
            };
            let settings = TlsSettings::from_keys(get).map_err(|e| err(format!("{prefix} listener (https): {e}")))?;
            Some(settings)
        } else {
            for key in ["ssl.keystore.location", "ssl.client.auth"] {
                if own(key).is_some_and(|v| !v.is_empty() && v != "none") {
                    return Err(err(format!(
                        "{prefix}.{key} is set but the {prefix} address '{addr}' is not https://: write \
                         https://{bind} to serve TLS"
                    )));
                }
            }
            None
        };
        let method = match own("authentication.method").unwrap_or_default().to_ascii_uppercase().as_str() {
            "" | "NONE" => AuthMethod::None,
            "BASIC" => AuthMethod::Basic,
            other => {
                return Err(err(format!("{prefix}.authentication.method: '{other}' must be NONE or BASIC")));
            }
        };
        let realm = own("authentication.realm").filter(|r| !r.is_empty()).unwrap_or_else(|| "Weir".to_string());
        if realm.contains('"') {
            return Err(err(format!("{prefix}.authentication.realm: a realm cannot contain '\"'")));
        }
        let idle_key = format!("{prefix}.idle.timeout.ms");
        let idle = config.get(&idle_key).unwrap_or_default();
        let idle_ms = match idle.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => ms,
            _ => return Err(err(format!("{idle_key}: '{idle}' must be a number of milliseconds above 0"))),
        };
        let idle_timeout = std::time::Duration::from_millis(idle_ms);
        Ok(ListenerConfig { prefix, bind: bind.to_string(), tls, method, realm, idle_timeout })
    }

    /// Whether requests carry an identity to authorize (a login or a certificate).
    pub fn authenticates(&self) -> bool {
        self.method == AuthMethod::Basic || self.tls.as_ref().is_some_and(|t| t.client_auth != ClientAuth::None)
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Decodes a percent-encoded URL path segment (`a%2Fb` is `a/b`), as the
/// routers' path parameters are decoded, for middleware that reads raw paths.
pub fn decode_segment(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).and_then(|c| hex(*c)), b.get(i + 2).and_then(|c| hex(*c))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
