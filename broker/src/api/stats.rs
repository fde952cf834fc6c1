//! Readable per-API request totals for the console's history and alerts:
//! requests, responses carrying an error code, and latency in the same
//! buckets as the `weir_kafka_request_latency_seconds` histogram. The
//! Prometheus handles cannot be read back, so the request path bumps these
//! atomics beside them (a few relaxed adds per request). Process-wide, like
//! the route table they are indexed by.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use super::routes::ROUTES;

/// Upper bounds (seconds) of the latency buckets, 100 µs to 10 s; the
/// Prometheus histograms of every `_seconds` metric use the same.
pub const LATENCY_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
pub struct RouteStats {
    requests: AtomicU64,
    /// Responses with at least one non-zero error code.
    errors: AtomicU64,
    /// One per bound, then one for slower requests.
    latency: [AtomicU64; 17],
}

impl RouteStats {
    pub fn record_latency(&self, seconds: f64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let i = LATENCY_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BUCKETS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Indexed like [`ROUTES`].
pub static ROUTE_STATS: LazyLock<Vec<RouteStats>> =
    LazyLock::new(|| ROUTES.iter().map(|_| RouteStats::default()).collect());

/// One API's totals since the process started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteTotals {
    pub api: &'static str,
    pub requests: u64,
    pub errors: u64,
    pub latency_buckets: [u64; 17],
}

/// Every served API's totals.
pub fn totals() -> Vec<RouteTotals> {
    ROUTES
        .iter()
        .zip(ROUTE_STATS.iter())
        .map(|(r, s)| RouteTotals {
            api: r.name,
            requests: s.requests.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            latency_buckets: std::array::from_fn(|i| s.latency[i].load(Ordering::Relaxed)),
        })
        .collect()
}

/// The latency (seconds) below which `q` (0..=1) of `buckets`' requests fell:
/// the upper bound of the bucket holding that rank (10 s and more: 10 s).
pub fn quantile(buckets: &[u64; 17], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(LATENCY_BUCKETS[i.min(LATENCY_BUCKETS.len() - 1)]);
        }
    }
    Some(LATENCY_BUCKETS[LATENCY_BUCKETS.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_their_buckets_and_quantiles_read_them() {
        let s = RouteStats::default();
        for _ in 0..98 {
            s.record_latency(0.0004);
        }
        s.record_latency(0.2);
        s.record_latency(30.0);
        let b: [u64; 17] = std::array::from_fn(|i| s.latency[i].load(Ordering::Relaxed));
        assert_eq!((b[2], b[10], b[16]), (98, 1, 1));
        assert_eq!(quantile(&b, 0.5), Some(0.0005));
        assert_eq!(quantile(&b, 0.99), Some(0.25));
        assert_eq!(quantile(&b, 1.0), Some(10.0));
        assert_eq!(quantile(&[0; 17], 0.5), None);
    }
}
