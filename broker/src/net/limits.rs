//! Connection limits, with Kafka's names and behaviour (its `ConnectionQuotas`):
//!
//! - `max.connections`: client connections open at once, every listener
//!   together. At the limit the acceptors stop accepting until one closes, so
//!   new clients wait in the kernel's backlog rather than being refused.
//! - `listener.name.<listener>.max.connections`: the same, for one listener;
//!   both bounds apply.
//! - `max.connections.per.ip`, with `max.connections.per.ip.overrides`
//!   (`host:count,...`, an address or a host name resolved at start-up): a
//!   connection over its address's limit is closed as soon as it is accepted.
//! - `connections.max.idle.ms`: see `connection::run`.
//! - `queued.max.request.bytes`: request bytes held at once, all connections
//!   together ([`ConnectionLimits::reserve`]). A connection reserves a frame's
//!   size before reading its body and keeps it until the response is written;
//!   at the bound, connections stop reading (TCP pushes back on the clients).
//!   A frame larger than the bound waits until nothing else is held.
//!
//! Invariant: every admitted connection holds one [`Slot`], released when the
//! connection's task ends, so the counts are exact however it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::error::BrokerError;

#[derive(Clone, Debug, Default)]
pub struct LimitSettings {
    pub max_connections: usize,
    /// `listener.name.<listener>.max.connections`, by listener name (upper case).
    pub per_listener: HashMap<String, usize>,
    pub max_per_ip: usize,
    /// Host (address or name) -> limit.
    pub overrides: HashMap<String, usize>,
    /// -1 (or 0): never close idle connections.
    pub idle_ms: i64,
    /// -1 (or 0): no bound.
    pub queued_max_request_bytes: i64,
}

/// `max.connections.per.ip.overrides`: `host:count` entries, comma-separated.
pub fn parse_overrides(s: &str) -> Result<HashMap<String, usize>, BrokerError> {
    let mut out = HashMap::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || {
            BrokerError::Config(format!(
                "max.connections.per.ip.overrides: '{entry}' is not host:count (e.g. 10.0.0.5:100,batch-host:20)"
            ))
        };
        let (host, count) = entry.rsplit_once(':').ok_or_else(bad)?;
        let count: usize = count.trim().parse().map_err(|_| bad())?;
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        out.insert(host.to_string(), count);
    }
    Ok(out)
}

pub struct ConnectionLimits {
    max: usize,
    per_listener: HashMap<String, usize>,
    max_per_ip: usize,
    overrides: HashMap<IpAddr, usize>,
    state: Mutex<(usize, HashMap<IpAddr, usize>)>,
    freed: Notify,
    /// `queued.max.request.bytes` as permits, and their number.
    request_bytes: Option<(Arc<Semaphore>, u32)>,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    PerIp { limit: usize },
}

impl ConnectionLimits {
    pub fn new(s: &LimitSettings) -> Result<Arc<ConnectionLimits>, BrokerError> {
        let mut overrides = HashMap::new();
        for (host, count) in &s.overrides {
            let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 0))
                    .map_err(|e| {
                        BrokerError::Config(format!("max.connections.per.ip.overrides: cannot resolve '{host}': {e}"))
                    })?
                    .map(|a| a.ip())
                    .collect(),
            };
            for ip in addrs {
                overrides.insert(ip, *count);
            }
        }
        if s.max_per_ip == 0 && overrides.is_empty() {
            return Err(BrokerError::Config(
                "max.connections.per.ip is 0: name the addresses that may connect in max.connections.per.ip.overrides"
                    .into(),
            ));
        }
        Ok(Arc::new(ConnectionLimits {
            max: s.max_connections,
            per_listener: s.per_listener.clone(),
            max_per_ip: s.max_per_ip,
            overrides,
            state: Mutex::new((0, HashMap::new())),
            freed: Notify::new(),
            request_bytes: (s.queued_max_request_bytes > 0).then(|| {
                let cap = s.queued_max_request_bytes.min(u32::MAX as i64) as u32;
                (Arc::new(Semaphore::new(cap as usize)), cap)
            }),
        }))
    }

    /// `listener.name.<listener>.max.connections`, if set for `listener`.
    pub fn listener_max(&self, listener: &str) -> Option<usize> {
        self.per_listener.get(&listener.to_ascii_uppercase()).copied()
    }

    /// Waits while the broker is at `max.connections`.
    pub async fn wait_for_room(&self) {
        loop {
            let notified = self.freed.notified();
            if self.state.lock().0 < self.max {
                return;
            }
            notified.await;
        }
    }

    /// Takes a slot for a connection from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let limit = self.overrides.get(&ip).copied().unwrap_or(self.max_per_ip);
        let mut st = self.state.lock();
        let from_ip = st.1.get(&ip).copied().unwrap_or(0);
        if from_ip >= limit {
            return Err(Refused::PerIp { limit });
        }
        st.0 += 1;
        st.1.insert(ip, from_ip + 1);
        Ok(Slot { limits: self.clone(), ip })
    }

    /// Holds `bytes` of the request memory bound until the permit is dropped
    /// (None without a bound). Waits while the bound is reached.
    pub async fn reserve(&self, bytes: usize) -> Option<Held> {
        let (pool, cap) = self.request_bytes.as_ref()?;
        let want = bytes.min(*cap as usize).max(1) as u32;
        let permit = pool.clone().acquire_many_owned(want).await.ok()?;
        metrics::gauge!("weir_kafka_request_bytes_held").increment(want as f64);
        Some(Held(permit))
    }

    /// Whether `queued.max.request.bytes` bounds anything (else [`Self::reserve`] is a no-op).
    pub fn bounds_request_bytes(&self) -> bool {
        self.request_bytes.is_some()
    }

    /// Request bytes held now under `queued.max.request.bytes` (0 without a bound).
    #[cfg(test)]
    fn reserved(&self) -> usize {
        self.request_bytes.as_ref().map_or(0, |(pool, cap)| *cap as usize - pool.available_permits())
    }

    /// Connections open now (all listeners).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.state.lock().0
    }
}

/// Request bytes held under `queued.max.request.bytes`, given back on drop.
pub struct Held(OwnedSemaphorePermit);

#[cfg(test)]
impl Held {
    fn bytes(&self) -> usize {
        self.0.num_permits()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        metrics::gauge!("weir_kafka_request_bytes_held").decrement(self.0.num_permits() as f64);
    }
}

/// A connection's place in the counts; dropping it frees the place.
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.limits.state.lock();
        st.0 = st.0.saturating_sub(1);
        if let Some(n) = st.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                st.1.remove(&self.ip);
            }
        }
        drop(st);
        self.limits.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_ip: usize, overrides: &str) -> Arc<ConnectionLimits> {
        let s = LimitSettings {
            max_connections: max,
            max_per_ip: per_ip,
            overrides: parse_overrides(overrides).unwrap(),
            ..Default::default()
        };
        ConnectionLimits::new(&s).unwrap()
    }

    #[test]
    fn per_ip_limits_and_overrides() {
        let l = limits(100, 2, "10.0.0.9:3");
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.9".parse().unwrap();
        let (s1, _s2) = (l.admit(a).unwrap(), l.admit(a).unwrap());
        assert_eq!(l.admit(a).err(), Some(Refused::PerIp { limit: 2 }));
        let _b: Vec<Slot> = (0..3).map(|_| l.admit(b).unwrap()).collect();
        assert_eq!(l.admit(b).err(), Some(Refused::PerIp { limit: 3 }));
        assert_eq!(l.open(), 5);
        drop(s1);
        assert!(l.admit(a).is_ok(), "a closed connection frees its address's place");
    }

    #[tokio::test]
    async fn at_the_broker_limit_accepting_waits_for_a_close() {
        let l = limits(1, 10, "");
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let slot = l.admit(ip).unwrap();
        let waiting = tokio::spawn({
            let l = l.clone();
            async move { l.wait_for_room().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(slot);
        waiting.await.unwrap();
    }

    #[tokio::test]
    async fn request_bytes_are_held_until_released() {
        let s = LimitSettings { max_per_ip: 1, queued_max_request_bytes: 100, ..Default::default() };
        let l = ConnectionLimits::new(&s).unwrap();
        let a = l.reserve(60).await.unwrap();
        assert_eq!(l.reserved(), 60);
        let waiting = tokio::spawn({
            let l = l.clone();
            async move { l.reserve(50).await.map(|p| p.bytes()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "60 + 50 is over the bound");
        drop(a);
        assert_eq!(waiting.await.unwrap(), Some(50));
        // A frame over the bound waits for all of it, then goes through.
        assert_eq!(l.reserve(1000).await.unwrap().bytes(), 100);
        let unbounded = ConnectionLimits::new(&LimitSettings { max_per_ip: 1, ..Default::default() }).unwrap();
        assert!(unbounded.reserve(10).await.is_none());
    }

    #[test]
    fn overrides_are_checked() {
        assert_eq!(parse_overrides(" a:1, 10.0.0.1:20 ,[::1]:3").unwrap().len(), 3);
        assert!(parse_overrides("a").is_err());
        assert!(parse_overrides("a:many").is_err());
        let zero = LimitSettings { max_per_ip: 0, ..Default::default() };
        assert!(ConnectionLimits::new(&zero).is_err());
    }
}
