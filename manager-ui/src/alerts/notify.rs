//! Notifiers: each has a worker task with a queue, so a slow or failing
//! endpoint delays only its own deliveries, in order, and never the
//! sampler. A worker applies the notifier's rate limit (a token bucket of
//! `rate_limit_per_minute`, refilled continuously; what exceeds it is dropped
//! and counted, never queued for later) and retries failed webhook calls.
//!
//! Webhook body (`Content-Type: application/json`): the [`Event`]'s fields
//! (`status` `firing` or `resolved`, `ts`, `policy_id`, `policy_name`,
//! `metric`, `subject`, `severity`, `operator`, `threshold`, `value`,
//! `fired_at`, `message`) plus `cluster_id` and `source: "weir"`. A test
//! delivery has `status: "test"`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::mpsc;
use weir_broker::net::http_client::{HttpClient, Url};

use super::{Event, NotifierConfig, NotifierKind, Status};

/// How long one webhook call may take (connect, send, answer).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries a notifier's queue holds; more are dropped and counted.
const QUEUE: usize = 1000;
/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where a webhook goes: an `http://` or `https://` URL (the server verified
/// against the system's trusted roots), checked once.
pub fn target(url: &str) -> Result<Url, String> {
    Url::parse(url).map_err(|e| format!("webhook url {e}"))
}

/// What a notifier has done since the process started.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NotifierStatus {
    pub sent: u64,
    pub failed: u64,
    pub rate_limited: u64,
    /// Dropped because the queue was full (the endpoint is far behind).
    pub dropped: u64,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub last_error: Option<String>,
}

/// One event on its way to one notifier.
pub struct Delivery {
    pub notifier: NotifierConfig,
    pub event: Event,
    pub body: Bytes,
}

/// The body of a webhook call for `event`.
pub fn payload(event: &Event, cluster_id: &str) -> Bytes {
    let mut v = serde_json::to_value(event).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.insert("cluster_id".into(), cluster_id.into());
        m.insert("source".into(), "weir".into());
    }
    Bytes::from(v.to_string())
}

/// The notifiers' workers and what they did.
pub struct Dispatcher {
    runtime: tokio::runtime::Handle,
    workers: Mutex<HashMap<String, mpsc::Sender<Delivery>>>,
    status: Arc<Mutex<BTreeMap<String, NotifierStatus>>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn kind_name(k: &NotifierKind) -> &'static str {
    match k {
        NotifierKind::Webhook { .. } => "webhook",
        NotifierKind::Log => "log",
    }
}

fn count(kind: &'static str, result: &'static str) {
    metrics::counter!("weir_console_alert_notifications_total", "type" => kind, "result" => result).increment(1);
}

impl Dispatcher {
    pub fn new(runtime: tokio::runtime::Handle) -> Dispatcher {
        Dispatcher { runtime, workers: Mutex::default(), status: Arc::default() }
    }

    /// Queues `d` for its notifier's worker (starting it if needed). Never blocks.
    pub fn send(&self, d: Delivery) {
        let id = d.notifier.id.clone();
        let kind = kind_name(&d.notifier.kind);
        let mut workers = self.workers.lock();
        let tx = workers.entry(id.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            self.runtime.spawn(worker(rx, self.status.clone()));
            tx
        });
        if let Err(e) = tx.try_send(d) {
            let full = matches!(e, mpsc::error::TrySendError::Full(_));
            tracing::warn!(notifier = %id, queue_full = full, "alert notification dropped");
            self.status.lock().entry(id).or_default().dropped += 1;
            count(kind, "dropped");
        }
    }

    /// Stops the worker of a deleted notifier (after what it has queued).
    pub fn forget(&self, id: &str) {
        self.workers.lock().remove(id);
        self.status.lock().remove(id);
    }

    pub fn status(&self, id: &str) -> NotifierStatus {
        self.status.lock().get(id).cloned().unwrap_or_default()
    }

    /// One delivery now, without retries or rate limit: what the endpoint answered.
    pub async fn test(&self, n: &NotifierConfig, body: Bytes) -> Result<String, String> {
        match &n.kind {
            NotifierKind::Log => {
                tracing::info!(notifier = %n.id, body = %String::from_utf8_lossy(&body), "alert notifier test");
                Ok("written to the log".to_string())
            }
            NotifierKind::Webhook { url, headers } => {
                let target = target(url)?;
                let status = post(&target, headers, body).await?;
                if (200..300).contains(&status) {
                    Ok(format!("HTTP {status}"))
                } else {
                    Err(format!("the endpoint answered HTTP {status}"))
                }
            }
        }
    }
}

/// Tokens of a `per_minute` bucket, refilled continuously, at most `per_minute`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, per_minute: u32, now: Instant) -> bool {
        if per_minute == 0 {
            return true;
        }
        let cap = per_minute as f64;
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * cap / 60.0).min(cap);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn worker(mut rx: mpsc::Receiver<Delivery>, status: Arc<Mutex<BTreeMap<String, NotifierStatus>>>) {
    let mut bucket: Option<Bucket> = None;
    while let Some(d) = rx.recv().await {
        let n = &d.notifier;
        let kind = kind_name(&n.kind);
        let b = bucket.get_or_insert_with(|| Bucket { tokens: n.rate_limit_per_minute as f64, at: Instant::now() });
        if !b.take(n.rate_limit_per_minute, Instant::now()) {
            tracing::warn!(notifier = %n.id, policy = %d.event.policy_id, subject = %d.event.subject,
                rate_limit_per_minute = n.rate_limit_per_minute, "alert notification dropped by the rate limit");
            status.lock().entry(n.id.clone()).or_default().rate_limited += 1;
            count(kind, "rate_limited");
            continue;
        }
        let result = deliver(&d).await;
        let mut st = status.lock();
        let s = st.entry(n.id.clone()).or_default();
        match result {
            Ok(()) => {
                s.sent += 1;
                s.last_success_at = Some(now_ms());
                count(kind, "sent");
            }
            Err(e) => {
                tracing::warn!(notifier = %n.id, policy = %d.event.policy_id, subject = %d.event.subject,
                    error = %e, "alert notification failed");
                s.failed += 1;
                s.last_failure_at = Some(now_ms());
                s.last_error = Some(e);
                count(kind, "failed");
            }
        }
    }
}

/// Delivers with the notifier's retries; the last error if every attempt failed.
async fn deliver(d: &Delivery) -> Result<(), String> {
    let n = &d.notifier;
    match &n.kind {
        NotifierKind::Log => {
            let e = &d.event;
            let body = String::from_utf8_lossy(&d.body);
            match e.status {
                Status::Firing => tracing::warn!(notifier = %n.id, policy = %e.policy_id, subject = %e.subject,
                    severity = %e.severity, alert = %body, "alert firing: {}", e.message),
                Status::Resolved => tracing::info!(notifier = %n.id, policy = %e.policy_id, subject = %e.subject,
                    alert = %body, "alert resolved: {}", e.message),
            }
            Ok(())
        }
        NotifierKind::Webhook { url, headers } => {
            let target = target(url)?;
            let mut backoff = Duration::from_millis(n.retry_backoff_ms);
            let mut attempt = 0;
            loop {
                let err = match post(&target, headers, d.body.clone()).await {
                    Ok(s) if (200..300).contains(&s) => return Ok(()),
                    Ok(s) if s == 408 || s == 429 || s >= 500 => format!("HTTP {s}"),
                    Ok(s) => return Err(format!("the endpoint answered HTTP {s} (not retried)")),
                    Err(e) => e,
                };
                if attempt >= n.max_retries {
                    return Err(format!("{err} after {} attempts", attempt + 1));
                }
                attempt += 1;
                tracing::debug!(notifier = %n.id, attempt, error = %err, "alert webhook failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// POSTs `body` as JSON; the HTTP status, or why there is none.
async fn post(target: &Url, headers: &BTreeMap<String, String>, body: Bytes) -> Result<u16, String> {
    let mut all = vec![("content-type", "application/json")];
    all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let answer = HttpClient::system().call(hyper::Method::POST, target, &all, body, CALL_TIMEOUT, 0).await?;
    Ok(answer.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = target("http://127.0.0.1:8099/hooks/weir?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1", 8099, "127.0.0.1:8099", "/hooks/weir?x=1")
        );
        let t = target("http://alerts.example").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        assert_eq!(target("http://[::1]:9/").unwrap().host, "::1");
        let t = target("https://hooks.example/x").unwrap();
        assert_eq!((t.https, t.port), (true, 443));
        assert!(target("ftp://x/").unwrap_err().starts_with("webhook url"));
    }

    #[test]
    fn the_bucket_limits_per_minute() {
        let t0 = Instant::now();
        let mut b = Bucket { tokens: 2.0, at: t0 };
        assert!(b.take(2, t0));
        assert!(b.take(2, t0));
        assert!(!b.take(2, t0), "the third in the same instant is over the limit");
        assert!(b.take(2, t0 + Duration::from_secs(30)), "one token back after half a minute at 2/min");
        assert!(!b.take(2, t0 + Duration::from_secs(31)));
        assert!(b.take(0, t0), "0 is no limit");
    }
}
