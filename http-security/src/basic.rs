//! HTTP basic credentials (RFC 7617) and the cache of verified logins.
//!
//! A login is checked like SASL/PLAIN: the password, salted and iterated as the
//! user's SCRAM credential says, must give its StoredKey. That costs thousands
//! of HMACs, too much for every request of a client that sends its credentials
//! each time (schema-registry clients do), so a success is remembered under an
//! HMAC of user and password (the key is random per process; no password is
//! kept) together with the StoredKey it matched. A cached login counts only
//! while that StoredKey is still the user's: a changed or deleted credential
//! ends it at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;
use weir_broker::BrokerHandle;

/// How long a verified login is trusted without deriving the password again.
pub const CACHE_FOR: Duration = Duration::from_secs(600);
/// Bound on remembered logins; the cache starts over when full.
const MAX_ENTRIES: usize = 10_000;

/// The user and password of an `Authorization: Basic` header value.
pub fn parse(value: &str) -> Option<(String, String)> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

struct Entry {
    user: String,
    mechanism: i8,
    stored_key: Vec<u8>,
    at: Instant,
}

pub struct Verified {
    key: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl Default for Verified {
    fn default() -> Self {
        Verified { key: weir_broker::net::sasl::random::<32>(), entries: Mutex::default() }
    }
}

impl Verified {
    fn digest(&self, user: &str, password: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(user.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `password` is `user`'s; the mechanism and StoredKey it matched.
    pub async fn check(&self, broker: &BrokerHandle, user: &str, password: &str) -> Option<(i8, Vec<u8>)> {
        if user.is_empty() || password.is_empty() {
            return None;
        }
        let digest = self.digest(user, password);
        if let Some(e) = self.entries.lock().get(&digest) {
            let current = broker.scram_credential(&e.user, e.mechanism).map(|c| c.stored_key);
            if e.user == user && e.at.elapsed() < CACHE_FOR && current.as_deref() == Some(&e.stored_key[..]) {
                return Some((e.mechanism, e.stored_key.clone()));
            }
        }
        let (b, u, p) = (broker.clone(), user.to_string(), password.to_string());
        let matched = weir_broker::blocking(move || b.check_password(&u, &p)).await?;
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let entry =
            Entry { user: user.to_string(), mechanism: matched.0, stored_key: matched.1.clone(), at: Instant::now() };
        entries.insert(digest, entry);
        Some(matched)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_basic_headers() {
        assert_eq!(super::parse("Basic YWxpY2U6czNjcjN0"), Some(("alice".into(), "s3cr3t".into())));
        assert_eq!(super::parse("basic  YWxpY2U6YTpi"), Some(("alice".into(), "a:b".into())), "colons in passwords");
        assert_eq!(super::parse("Bearer YWxpY2U6czNjcjN0"), None);
        assert_eq!(super::parse("Basic !!!"), None);
        assert_eq!(super::parse("Basic YWxpY2U="), None, "no colon");
    }
}
