//! Whose each producer id is: the client id and host of the connection that
//! got it from InitProducerId (and its transactional id), so that the console
//! can name a topic's producers. Kept in memory only: after a restart a
//! producer is known again once it initialises. Bounded to the
//! [`MAX_REMEMBERED`] most recently initialised ids.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

/// Producer ids remembered at most.
pub const MAX_REMEMBERED: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerClient {
    pub client_id: String,
    /// The client's address (without the port).
    pub host: String,
    pub transactional_id: Option<String>,
    /// When it initialised (ms since the epoch).
    pub at_ms: i64,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<i64, ProducerClient>,
    /// Ids in the order they were recorded, with when; an entry whose time is
    /// not the id's current one is stale (the id initialised again since).
    order: VecDeque<(i64, i64)>,
}

#[derive(Default)]
pub struct ProducerClients(Mutex<Inner>);

impl ProducerClients {
    /// Notes who got (or re-initialised) `producer_id`.
    pub fn record(&self, producer_id: i64, client: ProducerClient) {
        let mut g = self.0.lock();
        g.order.push_back((producer_id, client.at_ms));
        g.by_id.insert(producer_id, client);
        while g.by_id.len() > MAX_REMEMBERED {
            let Some((id, at)) = g.order.pop_front() else { break };
            if g.by_id.get(&id).is_some_and(|c| c.at_ms == at) {
                g.by_id.remove(&id);
            }
        }
        // Stale entries are dropped once they outnumber the live ones.
        if g.order.len() > 2 * g.by_id.len() + 1024 {
            let Inner { by_id, order } = &mut *g;
            order.retain(|(id, at)| by_id.get(id).is_some_and(|c| c.at_ms == *at));
        }
    }

    pub fn get(&self, producer_id: i64) -> Option<ProducerClient> {
        self.0.lock().by_id.get(&producer_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, at_ms: i64) -> ProducerClient {
        ProducerClient { client_id: name.into(), host: "127.0.0.1".into(), transactional_id: None, at_ms }
    }

    #[test]
    fn remembers_the_latest_and_stays_bounded() {
        let c = ProducerClients::default();
        c.record(7, client("a", 1));
        c.record(7, client("b", 2));
        assert_eq!(c.get(7).unwrap().client_id, "b");
        for id in 0..(MAX_REMEMBERED as i64 + 10) {
            c.record(1000 + id, client("x", 10 + id));
        }
        let g = c.0.lock();
        assert_eq!(g.by_id.len(), MAX_REMEMBERED);
        assert!(!g.by_id.contains_key(&7), "the oldest went first");
        assert!(g.by_id.contains_key(&(1000 + MAX_REMEMBERED as i64 + 9)));
        assert!(g.order.len() <= 2 * g.by_id.len() + 1024);
    }
}
