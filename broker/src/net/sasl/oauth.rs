//! SASL/OAUTHBEARER (RFC 7628) with Kafka's broker-side JWT validation: the
//! client's message is `n,[a=authzid],` `\x01auth=Bearer <JWT>\x01` (more
//! `key=value\x01` extensions may follow, and are ignored) `\x01`. The JWT must be
//! signed by a key of the JWKS named by `sasl.oauthbearer.jwks.endpoint.url`: an
//! identity provider's `https://` (or `http://`) endpoint, fetched and refreshed as
//! Kafka does (`jwks_http.rs`), or a `file:` URL or a path (the file is read again
//! when it changes, checked at most once a second). It must carry `exp` (and respect `nbf`), within
//! `sasl.oauthbearer.clock.skew.seconds`; `iss` must be
//! `sasl.oauthbearer.expected.issuer` and `aud` one of
//! `sasl.oauthbearer.expected.audience` when those are set. The principal is
//! `User:` the claim `sasl.oauthbearer.sub.claim.name` (`sub`). The session
//! lasts no longer than the token (KIP-368).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use serde_json::{Map, Value};

use super::jwks_http::{RemoteJwks, Timing};
use super::{config_error, jwt, now_ms, Verdict};
use crate::error::BrokerError;
use crate::net::http_client::{HttpClient, Url};

/// Where the key set comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Jwks {
    File(PathBuf),
    Http { url: Url, shown: String, timing: Timing },
}

#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub jwks: Jwks,
    pub expected_audience: Vec<String>,
    pub expected_issuer: Option<String>,
    pub sub_claim: String,
    pub clock_skew_s: i64,
}

impl OAuthSettings {
    pub fn from_keys(get: &impl Fn(&str) -> String) -> Result<OAuthSettings, BrokerError> {
        let url = get("sasl.oauthbearer.jwks.endpoint.url");
        let jwks = if let Some(path) = url.strip_prefix("file://") {
            Jwks::File(PathBuf::from(path))
        } else if let Some(path) = url.strip_prefix("file:") {
            Jwks::File(PathBuf::from(path))
        } else if url.starts_with("http://") || url.starts_with("https://") {
            let parsed =
                Url::parse(&url).map_err(|e| config_error(format!("sasl.oauthbearer.jwks.endpoint.url: {e}")))?;
            let ms = |key: &str, min: u64| -> Result<Duration, BrokerError> {
                let v = get(key);
                match v.trim().parse::<u64>() {
                    Ok(n) if n >= min => Ok(Duration::from_millis(n)),
                    _ => Err(config_error(format!("{key}: '{v}' is not a number of milliseconds ≥ {min}"))),
                }
            };
            let timing = Timing {
                refresh: ms("sasl.oauthbearer.jwks.endpoint.refresh.ms", 1)?,
                retry_backoff: ms("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", 1)?,
                retry_backoff_max: ms("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", 1)?,
            };
            Jwks::Http { url: parsed, shown: url.clone(), timing }
        } else if url.is_empty() {
            return Err(config_error(
                "OAUTHBEARER in sasl.enabled.mechanisms needs sasl.oauthbearer.jwks.endpoint.url \
                 (the issuer's JSON Web Key Set: its https:// endpoint or a file: URL)",
            ));
        } else {
            Jwks::File(PathBuf::from(url))
        };
        let skew = get("sasl.oauthbearer.clock.skew.seconds");
        let clock_skew_s = skew.trim().parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| {
            config_error(format!("sasl.oauthbearer.clock.skew.seconds: '{skew}' is not a number ≥ 0"))
        })?;
        let sub_claim = Some(get("sasl.oauthbearer.sub.claim.name")).filter(|s| !s.is_empty()).unwrap_or("sub".into());
        Ok(OAuthSettings {
            jwks,
            expected_audience: get("sasl.oauthbearer.expected.audience")
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
            expected_issuer: Some(get("sasl.oauthbearer.expected.issuer")).filter(|i| !i.is_empty()),
            sub_claim,
            clock_skew_s,
        })
    }
}

/// How often, at most, the JWKS file is looked at for changes.
const RECHECK: Duration = Duration::from_secs(1);

pub struct Validator {
    settings: OAuthSettings,
    keys: Source,
}

enum Source {
    File { path: PathBuf, keys: Mutex<Keys> },
    Http(Arc<RemoteJwks>),
}

struct Keys {
    keys: Vec<jwt::Jwk>,
    modified: Option<SystemTime>,
    checked: Instant,
}

use crate::net::tls::modified;

fn read_keys(path: &std::path::Path) -> Result<Vec<jwt::Jwk>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    jwt::parse_keys(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Validator {
    /// A file is read now (a bad one stops start-up); an endpoint is fetched from
    /// now on, on the current runtime, with the system's trusted roots.
    pub fn load(settings: OAuthSettings) -> Result<Validator, BrokerError> {
        Validator::load_with(settings, HttpClient::system)
    }

    /// [`Validator::load`] with the client an endpoint is fetched with.
    pub fn load_with(settings: OAuthSettings, client: impl FnOnce() -> HttpClient) -> Result<Validator, BrokerError> {
        let keys = match &settings.jwks {
            Jwks::File(path) => {
                let keys =
                    read_keys(path).map_err(|e| config_error(format!("sasl.oauthbearer.jwks.endpoint.url: {e}")))?;
                let keys = Mutex::new(Keys { keys, modified: modified(path), checked: Instant::now() });
                Source::File { path: path.clone(), keys }
            }
            Jwks::Http { url, shown, timing } => Source::Http(
                RemoteJwks::start(url.clone(), shown.clone(), *timing, client())
                    .map_err(|e| config_error(format!("sasl.oauthbearer.jwks.endpoint.url: {e}")))?,
            ),
        };
        Ok(Validator { keys, settings })
    }

    /// Waits for an endpoint's first fetch, at most
    /// `sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms`; whether the keys are there.
    pub async fn ready(&self) -> bool {
        match &self.keys {
            Source::Http(remote) => remote.ready().await,
            Source::File { .. } => true,
        }
    }

    /// The current keys: a file's read again if it changed since it was last looked
    /// at; an endpoint's as last fetched, or why there are none.
    fn keys(&self) -> Result<Vec<jwt::Jwk>, String> {
        let (path, keys) = match &self.keys {
            Source::Http(remote) => return remote.keys(),
            Source::File { path, keys } => (path, keys),
        };
        let mut k = keys.lock();
        if k.checked.elapsed() >= RECHECK {
            k.checked = Instant::now();
            let now = modified(path);
            if now != k.modified {
                match read_keys(path) {
                    Ok(keys) => {
                        tracing::info!(jwks = %path.display(), keys = keys.len(), "JWKS reloaded");
                        k.keys = keys;
                        k.modified = now;
                    }
                    Err(e) => tracing::error!(error = %e, "JWKS changed but does not load; keeping the previous keys"),
                }
            }
        }
        Ok(k.keys.clone())
    }

    pub(super) fn verify(&self, message: &[u8]) -> Verdict {
        match self.check(message, now_ms()) {
            Ok((user, exp_ms)) => Verdict::Success { user, token: Vec::new(), expires_at_ms: Some(exp_ms) },
            Err(why) => Verdict::Failure(format!("Authentication failed: {why}")),
        }
    }

    /// The principal's name and the token's expiry (ms since the epoch).
    fn check(&self, message: &[u8], now_ms: i64) -> Result<(String, i64), String> {
        let (authzid, token) = parse_message(message)?;
        let claims = jwt::verify(&token, &self.keys()?).map_err(|e| {
            if let (jwt::VerifyError::UnknownKey(kid), Source::Http(remote)) = (&e, &self.keys) {
                remote.missing(kid);
            }
            e.to_string()
        })?;
        let user = self.check_claims(&claims, now_ms)?;
        if authzid.as_deref().is_some_and(|a| a != user) {
            return Err(format!(
                "Client requested an authorization id ({}) that is different from the token's principal name ({user})",
                authzid.unwrap_or_default()
            ));
        }
        let exp = claims.get("exp").and_then(Value::as_f64).unwrap_or_default();
        Ok((user, (exp * 1000.0) as i64))
    }

    fn check_claims(&self, claims: &Map<String, Value>, now_ms: i64) -> Result<String, String> {
        let s = &self.settings;
        let skew_ms = s.clock_skew_s * 1000;
        let time = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| (t * 1000.0) as i64);
        let exp = time("exp").ok_or("the token has no 'exp' claim")?;
        if now_ms - skew_ms >= exp {
            return Err("the token expired".into());
        }
        if time("nbf").is_some_and(|nbf| now_ms + skew_ms < nbf) {
            return Err("the token is not valid yet ('nbf')".into());
        }
        if let Some(issuer) = &s.expected_issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
                return Err(format!("the token's issuer is not '{issuer}'"));
            }
        }
        if !s.expected_audience.is_empty() {
            let auds: Vec<&str> = match claims.get("aud") {
                Some(Value::String(a)) => vec![a.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !auds.iter().any(|a| s.expected_audience.iter().any(|e| e == a)) {
                return Err("the token's audience is not one of sasl.oauthbearer.expected.audience".into());
            }
        }
        match claims.get(&s.sub_claim).and_then(Value::as_str).map(str::trim) {
            Some(sub) if !sub.is_empty() => Ok(sub.to_string()),
            _ => Err(format!("the token has no '{}' claim (sasl.oauthbearer.sub.claim.name)", s.sub_claim)),
        }
    }
}

/// The authorization id (if any) and the bearer token of an OAUTHBEARER client message.
fn parse_message(message: &[u8]) -> Result<(Option<String>, String), String> {
    let text = std::str::from_utf8(message).map_err(|_| "the OAUTHBEARER message is not UTF-8".to_string())?;
    let bad = || "invalid OAUTHBEARER client message (RFC 7628)".to_string();
    let (gs2, rest) = text.split_once('\x01').ok_or_else(bad)?;
    let mut header = gs2.splitn(3, ',');
    let (Some(flag), Some(authzid), Some("")) = (header.next(), header.next(), header.next()) else {
        return Err(bad());
    };
    if flag != "n" && flag != "y" {
        return Err("channel binding is not supported".into());
    }
    let authzid = match authzid {
        "" => None,
        a => Some(a.strip_prefix("a=").ok_or_else(bad)?.to_string()),
    };
    let body = rest.strip_suffix("\x01\x01").ok_or_else(bad)?;
    let mut token = None;
    for kv in body.split('\x01') {
        let (k, v) = kv.split_once('=').ok_or_else(bad)?;
        if k == "auth" {
            let (scheme, t) = v.split_once(' ').ok_or_else(bad)?;
            if !scheme.eq_ignore_ascii_case("Bearer") || t.trim().is_empty() {
                return Err(bad());
            }
            token = Some(t.trim().to_string());
        }
    }
    Ok((authzid, token.ok_or("the OAUTHBEARER message has no auth=Bearer token")?))
}

#[cfg(test)]
mod tests;
