//! Login sessions of the console's form login: a random token in an
//! `HttpOnly; SameSite=Strict` cookie ([`COOKIE`]) names a user for
//! [`Sessions::ttl`]. A session also ends when the user's SCRAM credential
//! changes or is deleted (it remembers the StoredKey it logged in with), or at
//! logout. Sessions live in memory: a restart logs everyone out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine;
use parking_lot::Mutex;
use weir_broker::BrokerHandle;

pub const COOKIE: &str = "weir_session";
/// Bound on live sessions; the oldest half is dropped when full.
const MAX_SESSIONS: usize = 10_000;

struct Live {
    user: String,
    mechanism: i8,
    stored_key: Vec<u8>,
    until: Instant,
}

pub struct Sessions {
    live: Mutex<HashMap<String, Live>>,
    pub ttl: Duration,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions { live: Mutex::default(), ttl }
    }

    /// A new session for `user`, logged in with the credential (mechanism,
    /// StoredKey) its password matched; the token to set in the cookie.
    pub fn create(&self, user: &str, credential: (i8, Vec<u8>)) -> String {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(weir_broker::net::sasl::random::<32>());
        let mut live = self.live.lock();
        let now = Instant::now();
        live.retain(|_, s| s.until > now);
        if live.len() >= MAX_SESSIONS {
            let mut ends: Vec<Instant> = live.values().map(|s| s.until).collect();
            ends.sort();
            let cut = ends[ends.len() / 2];
            live.retain(|_, s| s.until > cut);
        }
        let session =
            Live { user: user.to_string(), mechanism: credential.0, stored_key: credential.1, until: now + self.ttl };
        live.insert(token.clone(), session);
        token
    }

    /// The user of a live session.
    pub fn get(&self, broker: &BrokerHandle, token: &str) -> Option<String> {
        let mut live = self.live.lock();
        let s = live.get(token)?;
        let current = broker.scram_credential(&s.user, s.mechanism).map(|c| c.stored_key);
        if s.until <= Instant::now() || current.as_deref() != Some(&s.stored_key[..]) {
            live.remove(token);
            return None;
        }
        Some(s.user.clone())
    }

    pub fn end(&self, token: &str) {
        self.live.lock().remove(token);
    }

    /// The `Set-Cookie` value for a token (`Secure` on TLS listeners).
    pub fn cookie(&self, token: &str, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", self.ttl.as_secs())
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn expired_cookie() -> String {
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    }
}

/// The session token of a request's `Cookie` headers.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append("cookie", HeaderValue::from_static("theme=dark; weir_session=abc123"));
        assert_eq!(super::cookie_token(&h), Some("abc123"));
        let mut h = HeaderMap::new();
        h.append("cookie", HeaderValue::from_static("weir_session_old=x; other=y"));
        assert_eq!(super::cookie_token(&h), None);
        h.append("cookie", HeaderValue::from_static("weir_session="));
        assert_eq!(super::cookie_token(&h), None, "an emptied cookie is no session");
    }
}
