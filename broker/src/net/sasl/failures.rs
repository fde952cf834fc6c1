//! Consecutive authentication failures per client host, to slow a client that
//! keeps failing: the n-th failure in a row is answered after n times
//! `connection.failed.authentication.delay.ms`, up to [`MAX_DELAY`]. A success
//! from the host, or [`FORGET_AFTER`] without a failure, starts it over. At most
//! [`MAX_HOSTS`] hosts are tracked, so a flood of addresses cannot grow it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const MAX_DELAY: Duration = Duration::from_secs(5);
const FORGET_AFTER: Duration = Duration::from_secs(300);
const MAX_HOSTS: usize = 10_000;

#[derive(Default)]
pub struct Failures {
    hosts: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Failures {
    /// Records a failure; the delay before it is answered.
    pub fn failed(&self, host: IpAddr, base: Duration) -> Duration {
        let now = Instant::now();
        let mut hosts = self.hosts.lock();
        if hosts.len() >= MAX_HOSTS && !hosts.contains_key(&host) {
            hosts.retain(|_, (_, last)| now.duration_since(*last) < FORGET_AFTER);
            if hosts.len() >= MAX_HOSTS {
                return base;
            }
        }
        let entry = hosts.entry(host).or_insert((0, now));
        if now.duration_since(entry.1) >= FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        base.saturating_mul(entry.0).min(MAX_DELAY.max(base))
    }

    pub fn succeeded(&self, host: IpAddr) {
        let mut hosts = self.hosts.lock();
        if !hosts.is_empty() {
            hosts.remove(&host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_from_a_host_wait_longer_until_it_succeeds() {
        let f = Failures::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let base = Duration::from_millis(100);
        assert_eq!(f.failed(a, base), base);
        assert_eq!(f.failed(a, base), base * 2);
        assert_eq!(f.failed(b, base), base, "another host is not slowed");
        for _ in 0..100 {
            f.failed(a, base);
        }
        assert_eq!(f.failed(a, base), MAX_DELAY, "bounded");
        f.succeeded(a);
        assert_eq!(f.failed(a, base), base, "a success starts over");
        assert_eq!(f.failed(a, Duration::ZERO), Duration::ZERO, "no delay configured: none");
    }
}
