//! Enforcing client quotas as Kafka does: each request's bytes (a produce
//! request's size, a fetch response's size) are recorded against the quota
//! that applies to the client's user and client id, and a client over it is
//! throttled: the response says for how long (`throttle_time_ms`) and the
//! connection reads nothing more from it until then (Kafka mutes the channel).
//!
//! Which quota applies is Kafka's order of precedence: (user, client-id),
//! (user, default client), (user), (default user, client-id), (default user,
//! default client), (default user), (client-id), (default client); the first
//! entity with the quota key wins. Clients matched to the same entity share one
//! rate, except that a default stands for each user or client separately (as in
//! Kafka: the default quota is per user, not for all of them together).
//!
//! The rate is kept with a token bucket holding one second of quota (as Kafka
//! throttles controller mutations, KIP-599), not Kafka's sampled byte rate:
//! the sampled rate lets a client past its quota each time an old burst leaves
//! the 11-second window (about 10 % over it in a 30-second test), the bucket
//! holds it to the quota plus one second's burst. A client in debt is throttled
//! until the debt is paid, at most 11 s for byte rates (Kafka's window span)
//! and 1 s for request time (Kafka's `ClientRequestQuotaManager`); debt past
//! what that pays is forgotten, as Kafka's window forgets older usage, so one
//! huge request never throttles a client for long after. A fetch is never
//! larger than 10 s of its client's quota (Kafka's
//! `getMaxValueInQuotaWindow`), so fetches are held to the quota exactly.
//! A bucket idle long enough to be full again is the same as a new one and is
//! dropped (client ids are many and short-lived).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{Entity, CLIENT_ID, USER};
use crate::metadata::MetadataStore;

/// The burst a quota allows: one second of it.
const BURST_MS: i64 = 1000;
/// The longest throttle of a byte rate (Kafka's quota window span: 11
/// windows of 1 s).
const MAX_THROTTLE_MS: i64 = 11_000;
/// The longest throttle for request time (one window, as Kafka).
const MAX_REQUEST_THROTTLE_MS: i64 = 1_000;
/// The most a fetch may carry, in ms of its client's quota (Kafka's
/// `getMaxValueInQuotaWindow`: 10 windows of 1 s).
pub const FETCH_WINDOW_MS: i64 = 10_000;
/// How often idle buckets are looked for.
const SWEEP_EVERY_MS: i64 = 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Produce,
    Fetch,
    /// Time spent handling the client's requests, in microseconds.
    Request,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Produce => "produce",
            Kind::Fetch => "fetch",
            Kind::Request => "request",
        }
    }

    /// A stored quota value in the unit this kind records per second: bytes,
    /// or for `request_percentage` (percent of one thread's time) microseconds.
    fn per_second(self, value: f64) -> f64 {
        match self {
            Kind::Request => value * 10_000.0,
            _ => value,
        }
    }

    fn max_throttle_ms(self) -> i64 {
        match self {
            Kind::Request => MAX_REQUEST_THROTTLE_MS,
            _ => MAX_THROTTLE_MS,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Kind::Produce => "producer_byte_rate",
            Kind::Fetch => "consumer_byte_rate",
            Kind::Request => "request_percentage",
        }
    }
}

/// One dimension of an entity: not part of it, its default, or a name.
type Slot = Option<Option<String>>;

/// The quotas by (user, client-id) entity.
#[derive(Default)]
struct Table {
    by_entity: HashMap<(Slot, Slot), HashMap<String, f64>>,
    /// Some entity has a `request_percentage`: request times are worth recording.
    request_quotas: bool,
}

impl Table {
    fn build(quotas: Vec<(Entity, std::collections::BTreeMap<String, f64>)>) -> Table {
        let mut by_entity = HashMap::new();
        for (entity, values) in quotas {
            if entity.keys().any(|k| k != USER && k != CLIENT_ID) {
                continue; // ip quotas limit connections, not bytes
            }
            let key = (entity.get(USER).cloned(), entity.get(CLIENT_ID).cloned());
            by_entity.insert(key, values.into_iter().collect());
        }
        let request_quotas = by_entity.values().any(|v: &HashMap<String, f64>| v.contains_key(Kind::Request.key()));
        Table { by_entity, request_quotas }
    }

    /// The quota of `kind` for this user and client, and the id of the rate it
    /// is measured with.
    fn resolve(&self, kind: Kind, user: &str, client: &str) -> Option<(f64, String)> {
        if self.by_entity.is_empty() {
            return None;
        }
        let named = |s: &str| Some(Some(s.to_string()));
        let default = || Some(None);
        let order: [(Slot, Slot); 8] = [
            (named(user), named(client)),
            (named(user), default()),
            (named(user), None),
            (default(), named(client)),
            (default(), default()),
            (default(), None),
            (None, named(client)),
            (None, default()),
        ];
        for (u, c) in order {
            if let Some(v) = self.by_entity.get(&(u.clone(), c.clone())).and_then(|vs| vs.get(kind.key())) {
                let id =
                    format!("{}\u{0}{}", if u.is_some() { user } else { "" }, if c.is_some() { client } else { "" });
                return Some((kind.per_second(*v), id));
            }
        }
        None
    }
}

/// A token bucket of one second of quota (Kafka's controller mutation quota,
/// KIP-599, throttles this way): bytes take credit, time gives it back at the
/// quota's rate, and a client in debt waits until it is paid.
#[derive(Default)]
struct Bucket {
    credit: f64,
    at_ms: i64,
    started: bool,
}

impl Bucket {
    /// Takes `bytes` at `now_ms`; how long until the debt is paid (ms), at
    /// most `max_ms`: debt beyond what `max_ms` pays is forgotten.
    fn take(&mut self, now_ms: i64, bytes: f64, quota: f64, max_ms: i64) -> i64 {
        let burst = quota * BURST_MS as f64 / 1000.0;
        if !self.started {
            (self.credit, self.at_ms, self.started) = (burst, now_ms, true);
        }
        let earned = (now_ms - self.at_ms).max(0) as f64 * quota / 1000.0;
        let floor = -quota * max_ms as f64 / 1000.0;
        self.credit = ((self.credit + earned).min(burst) - bytes).max(floor);
        self.at_ms = self.at_ms.max(now_ms);
        match self.credit < 0.0 {
            true => ((-self.credit / quota * 1000.0).ceil() as i64).min(max_ms),
            false => 0,
        }
    }

    /// Idle long enough to have paid any debt and refilled: a new bucket
    /// would behave the same.
    fn full_at(&self, now_ms: i64) -> bool {
        now_ms - self.at_ms > MAX_THROTTLE_MS + BURST_MS
    }
}

pub struct Throttler {
    meta: Arc<MetadataStore>,
    version: Arc<AtomicU64>,
    table: RwLock<(u64, Arc<Table>)>,
    buckets: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    by_id: HashMap<(Kind, String), Bucket>,
    swept_ms: i64,
}

impl Throttler {
    pub fn new(meta: Arc<MetadataStore>) -> Throttler {
        let version = meta.quota_version();
        let v = version.load(Ordering::Acquire);
        let table = Arc::new(Table::build(meta.client_quotas()));
        Throttler { meta, version, table: RwLock::new((v, table)), buckets: Mutex::default() }
    }

    fn table(&self) -> Arc<Table> {
        let want = self.version.load(Ordering::Acquire);
        {
            let t = self.table.read();
            if t.0 == want {
                return t.1.clone();
            }
        }
        let table = Arc::new(Table::build(self.meta.client_quotas()));
        *self.table.write() = (want, table.clone());
        table
    }

    /// Whether any request-time quota is set (else request times need no recording).
    pub fn request_quotas(&self) -> bool {
        // Asked on every request: read the flag under the lock rather than clone the table.
        {
            let t = self.table.read();
            if t.0 == self.version.load(Ordering::Acquire) {
                return t.1.request_quotas;
            }
        }
        self.table().request_quotas
    }

    /// Records `bytes` for this client; how long it is to be throttled (ms).
    pub fn record(&self, kind: Kind, user: &str, client: &str, bytes: usize, now_ms: i64) -> u64 {
        let Some((quota, id)) = self.table().resolve(kind, user, client) else { return 0 };
        let throttle = {
            let mut b = self.buckets.lock();
            if now_ms - b.swept_ms >= SWEEP_EVERY_MS {
                b.swept_ms = now_ms;
                b.by_id.retain(|_, bucket| !bucket.full_at(now_ms));
            }
            b.by_id.entry((kind, id)).or_default().take(now_ms, bytes as f64, quota, kind.max_throttle_ms()) as u64
        };
        tracing::trace!(
            quota.kind = kind.name(),
            user,
            client.id = client,
            bytes,
            quota,
            throttle_ms = throttle,
            "quota"
        );
        throttle
    }

    /// The most one fetch may carry for this client under its fetch quota
    /// (10 s of it), if it has one.
    pub fn fetch_bound(&self, user: &str, client: &str) -> Option<usize> {
        let (quota, _) = self.table().resolve(Kind::Fetch, user, client)?;
        Some((quota * FETCH_WINDOW_MS as f64 / 1000.0).clamp(1.0, usize::MAX as f64) as usize)
    }

    #[cfg(test)]
    fn buckets(&self) -> usize {
        self.buckets.lock().by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn entity(pairs: &[(&str, Option<&str>)]) -> Entity {
        pairs.iter().map(|(k, v)| (k.to_string(), v.map(String::from))).collect()
    }

    fn quota(rate: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([("producer_byte_rate".to_string(), rate)])
    }

    #[test]
    fn the_most_specific_entity_wins_and_defaults_are_per_client() {
        let t = Table::build(vec![
            (entity(&[(USER, Some("alice")), (CLIENT_ID, Some("etl"))]), quota(1.0)),
            (entity(&[(USER, Some("alice"))]), quota(2.0)),
            (entity(&[(USER, None)]), quota(3.0)),
            (entity(&[(CLIENT_ID, Some("etl"))]), quota(4.0)),
            (entity(&[(CLIENT_ID, None)]), quota(5.0)),
        ]);
        let r = |u: &str, c: &str| t.resolve(Kind::Produce, u, c).unwrap();
        assert_eq!(r("alice", "etl").0, 1.0);
        assert_eq!(r("alice", "web"), (2.0, "alice\u{0}".to_string()), "her clients share her quota");
        assert_eq!(r("bob", "etl"), (3.0, "bob\u{0}".to_string()), "the default user quota, for bob alone");
        assert!(t.resolve(Kind::Fetch, "alice", "etl").is_none(), "no consumer quota");
        let clients = Table::build(vec![(entity(&[(CLIENT_ID, None)]), quota(5.0))]);
        assert_eq!(clients.resolve(Kind::Produce, "x", "c1").unwrap().1, "\u{0}c1");
        assert!(Table::default().resolve(Kind::Produce, "x", "y").is_none());
    }

    #[test]
    fn a_bucket_allows_a_second_of_burst_then_the_quota() {
        let mut b = Bucket::default();
        let max = MAX_THROTTLE_MS;
        assert_eq!(b.take(10_000, 5e6, 5e6, max), 0, "one second's worth at once");
        assert_eq!(b.take(10_000, 1e6, 5e6, max), 200, "then 1 MB in debt: 200 ms at 5 MB/s");
        assert_eq!(b.take(10_200, 1e6, 5e6, max), 200, "the debt was paid; the new one waits again");
        assert_eq!(b.take(20_000, 0.0, 5e6, max), 0, "credit refills up to one second only");
        assert_eq!(b.take(20_000, 6e6, 5e6, max), 200);
        assert_eq!(b.take(20_000, 1e12, 5e6, max), MAX_THROTTLE_MS, "bounded");
        // The rest of that debt is forgotten: once the throttle has passed, a
        // small request is not throttled for an hour.
        assert_eq!(b.take(20_000 + MAX_THROTTLE_MS + 1000, 1.0, 5e6, max), 0);
        let mut r = Bucket::default();
        assert_eq!(r.take(0, 1e9, 1e4, MAX_REQUEST_THROTTLE_MS), MAX_REQUEST_THROTTLE_MS, "request time: 1 s at most");
    }

    /// A consumer fetching as much as it may (10 s of its quota, then muted
    /// for its throttle) over five minutes gets its quota, and debt does not
    /// pile up: a minute later a small fetch is not throttled.
    #[test]
    fn bounded_fetches_hold_a_consumer_to_its_quota() {
        let quota = 1e6;
        let fetch = quota * FETCH_WINDOW_MS as f64 / 1000.0;
        let mut b = Bucket::default();
        let (start, mut now, mut got) = (1_000_000i64, 1_000_000i64, 0.0);
        while now < start + 300_000 {
            got += fetch;
            now += b.take(now, fetch, quota, MAX_THROTTLE_MS).max(1);
        }
        let rate = got / ((now - start) as f64 / 1000.0);
        assert!(rate <= quota * 1.05, "{rate}");
        assert_eq!(b.take(now + 60_000, 1.0, quota, MAX_THROTTLE_MS), 0);
    }

    #[test]
    fn idle_buckets_are_dropped() {
        let m = crate::mock_broker::MockBroker::new(&[]);
        let set = vec![(entity(&[(CLIENT_ID, None)]), vec![("producer_byte_rate".to_string(), 1e6, false)])];
        m.broker().alter_client_quotas(set, false).unwrap();
        let t = &m.broker().core.throttler;
        for c in 0..1000 {
            t.record(Kind::Produce, "u", &format!("client-{c}"), 10, 1_000_000);
        }
        assert_eq!(t.buckets(), 1000);
        t.record(Kind::Produce, "u", "late", 10, 1_000_000 + SWEEP_EVERY_MS);
        assert_eq!(t.buckets(), 1, "only the one just used");
        assert_eq!(t.fetch_bound("u", "c"), None, "no fetch quota");
    }

    /// A client sending 1 MB requests at 10 MB/s whenever it is not muted,
    /// against a 5 MB/s quota: over a minute, what gets through is the quota.
    #[test]
    fn throttling_holds_a_greedy_client_to_its_quota() {
        const REQUEST: f64 = 1e6;
        let quota = 5e6;
        let mut b = Bucket::default();
        let (mut now, mut muted_until, mut accepted_late) = (1_000_000i64, 0i64, 0.0);
        let end = now + 90_000;
        while now < end {
            if now >= muted_until {
                let t = b.take(now, REQUEST, quota, MAX_THROTTLE_MS);
                if now >= end - 30_000 {
                    accepted_late += REQUEST;
                }
                muted_until = now + t;
            }
            now += (REQUEST / 10e3) as i64; // 10 MB/s when not muted
        }
        let rate = accepted_late / 30.0;
        assert!((rate - quota).abs() < 0.05 * quota, "{rate}");
    }
}
