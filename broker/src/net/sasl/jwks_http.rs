//! A JSON Web Key Set fetched from an identity provider's `http(s)://` endpoint
//! (`sasl.oauthbearer.jwks.endpoint.url`), kept fresh as Kafka keeps it (KIP-768):
//! fetched at start-up, again every `sasl.oauthbearer.jwks.endpoint.refresh.ms`,
//! and at once when a token names a key id the set does not hold (the provider
//! rotated its keys; at most once a minute per key id, and never sooner than a
//! second after the last fetch, so made-up key ids cannot flood the provider).
//! A failed fetch is retried after `sasl.oauthbearer.jwks.endpoint.retry.backoff.ms`,
//! doubling up to `...retry.backoff.max.ms`, and keeps the keys already fetched;
//! until a first fetch succeeds, OAUTHBEARER authentications fail with its error.
//!
//! The refresher is a task on the runtime that holds only a weak reference: it
//! ends when the listeners (and so the validator) are gone.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use super::jwt;
use crate::net::http_client::{HttpClient, Url};

/// One fetch's deadline (connect, TLS, answer).
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A key set larger than this is refused.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// A key id asks for an early fetch at most this often (Kafka's
/// `MISSING_KEY_ID_CACHE_IN_FLIGHT_MS`).
const MISSING_KID_EVERY: Duration = Duration::from_secs(60);
/// Longer key ids are not worth a fetch (Kafka's `MISSING_KEY_ID_MAX_KEY_LENGTH`).
const MAX_KID_LEN: usize = 1000;
/// Key ids remembered at once; more wait until older ones are a minute old.
const MAX_MISSING: usize = 1000;
/// The least time between two fetches when a key id asks for one.
const MIN_EARLY_GAP: Duration = Duration::from_secs(1);

/// How often to fetch (Kafka's three `sasl.oauthbearer.jwks.endpoint.*` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub refresh: Duration,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
}

struct State {
    keys: Option<Vec<jwt::Jwk>>,
    last_error: Option<String>,
    fetched_at: Option<Instant>,
    /// Key ids that asked for an early fetch, and when.
    missing: HashMap<String, Instant>,
}

pub struct RemoteJwks {
    url: Url,
    /// The URL as configured, for messages.
    shown: String,
    timing: Timing,
    state: Mutex<State>,
    /// Wakes the refresher for an early fetch.
    wake: Arc<Notify>,
    /// Becomes true once a fetch has succeeded.
    ready: watch::Sender<bool>,
}

impl RemoteJwks {
    /// Starts fetching on the current runtime. Fails outside one.
    pub fn start(url: Url, shown: String, timing: Timing, client: HttpClient) -> Result<Arc<RemoteJwks>, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "fetching a JWKS over HTTP needs the broker's runtime".to_string())?;
        let me = Arc::new(RemoteJwks {
            url,
            shown,
            timing,
            state: Mutex::new(State { keys: None, last_error: None, fetched_at: None, missing: HashMap::new() }),
            wake: Arc::new(Notify::new()),
            ready: watch::channel(false).0,
        });
        runtime.spawn(refresher(Arc::downgrade(&me), me.wake.clone(), client));
        Ok(me)
    }

    /// The keys, or why there are none yet.
    pub fn keys(&self) -> Result<Vec<jwt::Jwk>, String> {
        let st = self.state.lock();
        st.keys.clone().ok_or_else(|| match &st.last_error {
            Some(e) => format!("the JWKS at {} has not been fetched yet ({e})", self.shown),
            None => format!("the JWKS at {} has not been fetched yet", self.shown),
        })
    }

    /// A token named a key id the set does not hold: fetch early, if this id has
    /// not asked within the last minute.
    pub fn missing(&self, kid: &str) {
        if kid.len() > MAX_KID_LEN {
            return;
        }
        let now = Instant::now();
        let mut st = self.state.lock();
        if st.missing.get(kid).is_some_and(|at| now.duration_since(*at) < MISSING_KID_EVERY) {
            return;
        }
        if st.missing.len() >= MAX_MISSING {
            st.missing.retain(|_, at| now.duration_since(*at) < MISSING_KID_EVERY);
            if st.missing.len() >= MAX_MISSING {
                return;
            }
        }
        st.missing.insert(kid.to_string(), now);
        drop(st);
        tracing::info!(jwks = %self.shown, kid, "a token names a key the JWKS does not hold; fetching it again");
        self.wake.notify_one();
    }

    /// Waits until the first fetch succeeded, at most the longest retry back-off;
    /// whether it did.
    pub async fn ready(&self) -> bool {
        let mut rx = self.ready.subscribe();
        tokio::time::timeout(self.timing.retry_backoff_max, rx.wait_for(|r| *r)).await.is_ok_and(|r| r.is_ok())
    }

    async fn fetch(&self, client: &HttpClient) -> Result<usize, String> {
        let headers = [("accept", "application/json")];
        let answer =
            client.call(hyper::Method::GET, &self.url, &headers, Bytes::new(), FETCH_TIMEOUT, MAX_JWKS_BYTES).await?;
        if answer.status != 200 {
            return Err(format!("{} answered HTTP {}", self.shown, answer.status));
        }
        let text = std::str::from_utf8(&answer.body).map_err(|_| format!("{}: the answer is not UTF-8", self.shown))?;
        let keys = jwt::parse_keys(text).map_err(|e| format!("{}: {e}", self.shown))?;
        let n = keys.len();
        let mut st = self.state.lock();
        st.keys = Some(keys);
        st.last_error = None;
        st.fetched_at = Some(Instant::now());
        drop(st);
        self.ready.send_replace(true);
        Ok(n)
    }

    fn failed(&self, e: String) {
        self.state.lock().last_error = Some(e);
    }

    fn since_fetch(&self) -> Option<Duration> {
        self.state.lock().fetched_at.map(|t| t.elapsed())
    }
}

async fn refresher(me: Weak<RemoteJwks>, wake: Arc<Notify>, client: HttpClient) {
    let mut failures: u32 = 0;
    loop {
        let Some(jwks) = me.upgrade() else { return };
        let timing = jwks.timing;
        let wait = match jwks.fetch(&client).await {
            Ok(n) => {
                let again = failures > 0;
                failures = 0;
                tracing::info!(jwks = %jwks.shown, keys = n, after_failures = again, "JWKS fetched");
                timing.refresh
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let backoff = timing
                    .retry_backoff
                    .saturating_mul(1u32 << (failures - 1).min(20))
                    .min(timing.retry_backoff_max)
                    .max(Duration::from_millis(1));
                tracing::warn!(jwks = %jwks.shown, error = %e, retry_in_ms = backoff.as_millis() as u64,
                    "could not fetch the JWKS; keeping the keys fetched before, if any");
                jwks.failed(e);
                backoff
            }
        };
        drop(jwks);
        let woken = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = wake.notified() => true,
        };
        if woken {
            // Made-up key ids must not turn into a stream of fetches.
            let Some(jwks) = me.upgrade() else { return };
            let gap = jwks.since_fetch().map_or(Duration::ZERO, |s| MIN_EARLY_GAP.saturating_sub(s));
            drop(jwks);
            tokio::time::sleep(gap).await;
        }
    }
}
