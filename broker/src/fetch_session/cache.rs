//! The broker's fetch sessions: at most `max.incremental.fetch.session.cache.slots`
//! of them, found by id.
//!
//! Locks: the cache's map lock and a session's own lock are never held together,
//! so the map lock is held only for map operations and the eviction scan, and the
//! per-request work on a session's partitions runs under that session's lock
//! alone. A session's size and last use are copied into its map entry after each
//! accepted request, for eviction to read without taking session locks.

use std::collections::HashMap;
use std::sync::Arc;

use metrics::{Counter, Gauge};
use parking_lot::Mutex;

use super::{
    next_epoch, Answered, FetchPlan, Finished, PlanKind, SessionError, SessionPartitions, SessionRequest, FINAL_EPOCH,
    INITIAL_EPOCH,
};

/// One session: its id, how it names topics, and its partitions.
pub struct Session {
    id: i32,
    uses_topic_ids: bool,
    state: Mutex<State>,
}

struct State {
    /// The epoch the next incremental request must carry.
    epoch: i32,
    partitions: SessionPartitions,
}

struct Entry {
    session: Arc<Session>,
    created_ms: i64,
    last_used_ms: i64,
    size: usize,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<i32, Entry>,
    /// Partitions over all sessions.
    partitions: usize,
}

pub struct FetchSessionCache {
    slots: usize,
    eviction_ms: i64,
    inner: Mutex<Inner>,
    sessions_gauge: Gauge,
    partitions_gauge: Gauge,
    evictions: Counter,
}

impl FetchSessionCache {
    /// `slots`: `max.incremental.fetch.session.cache.slots`; `eviction_ms`:
    /// `min.incremental.fetch.session.eviction.ms`.
    pub fn new(slots: usize, eviction_ms: i64) -> FetchSessionCache {
        metrics::describe_gauge!("weir_fetch_sessions", "Incremental fetch sessions cached (KIP-227).");
        metrics::describe_gauge!("weir_fetch_session_partitions", "Partitions over all cached fetch sessions.");
        metrics::describe_counter!(
            "weir_fetch_session_evictions_total",
            "Fetch sessions evicted from a full cache to make room for a new one."
        );
        FetchSessionCache {
            slots,
            eviction_ms,
            inner: Mutex::new(Inner::default()),
            sessions_gauge: metrics::gauge!("weir_fetch_sessions"),
            partitions_gauge: metrics::gauge!("weir_fetch_session_partitions"),
            evictions: metrics::counter!("weir_fetch_session_evictions_total"),
        }
    }

    /// Sessions cached now.
    pub fn len(&self) -> usize {
        self.inner.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Partitions over all cached sessions.
    pub fn partitions(&self) -> usize {
        self.inner.lock().partitions
    }

    /// Accepts a request's session fields: what to read, or why the session it
    /// names cannot be used.
    pub fn begin(&self, req: SessionRequest, now_ms: i64) -> Result<FetchPlan, SessionError> {
        let uses_topic_ids = req.uses_topic_ids;
        if req.epoch == INITIAL_EPOCH || req.epoch == FINAL_EPOCH {
            if req.session_id != 0 {
                self.remove(req.session_id);
            }
            let kind = if req.epoch == FINAL_EPOCH { PlanKind::Sessionless } else { PlanKind::Full };
            return Ok(FetchPlan { targets: req.targets, uses_topic_ids, kind });
        }
        let session = self.inner.lock().sessions.get(&req.session_id).map(|e| e.session.clone());
        let session = session.ok_or(SessionError::NotFound)?;
        let (targets, size) = {
            let mut st = session.state.lock();
            if st.epoch != req.epoch {
                return Err(SessionError::InvalidEpoch);
            }
            if session.uses_topic_ids != uses_topic_ids {
                return Err(SessionError::TopicIdMismatch);
            }
            st.partitions.update(&req.targets, &req.forgotten);
            if st.partitions.len() == 0 {
                drop(st);
                self.remove(session.id);
                return Ok(FetchPlan { targets: req.targets, uses_topic_ids, kind: PlanKind::Sessionless });
            }
            st.epoch = next_epoch(st.epoch);
            (st.partitions.targets(), st.partitions.len())
        };
        self.touch(&session, size, now_ms);
        Ok(FetchPlan { targets, uses_topic_ids, kind: PlanKind::Incremental { session, request_epoch: req.epoch } })
    }

    /// After the read: the session id to answer with and, for an incremental
    /// fetch, which partitions to include. `answered` follows `plan.targets`.
    pub fn finish(&self, plan: &FetchPlan, answered: &[Answered], now_ms: i64) -> Finished {
        match &plan.kind {
            PlanKind::Sessionless => Finished::Respond { session_id: 0, include: None },
            PlanKind::Full => {
                let session_id = self.create(plan, answered, now_ms);
                Finished::Respond { session_id, include: None }
            }
            PlanKind::Incremental { session, request_epoch } => {
                let mut st = session.state.lock();
                // Anything else means another request of this session got in
                // between (a client must wait for each answer).
                if st.epoch != next_epoch(*request_epoch) || st.partitions.len() != answered.len() {
                    return Finished::Error(SessionError::InvalidEpoch);
                }
                let include = st.partitions.select(answered);
                Finished::Respond { session_id: session.id, include: Some(include) }
            }
        }
    }

    /// A new session of a full fetch's partitions, or 0 when there is no slot.
    fn create(&self, plan: &FetchPlan, answered: &[Answered], now_ms: i64) -> i32 {
        let mut inner = self.inner.lock();
        if inner.sessions.len() >= self.slots && !self.try_evict(&mut inner, plan.targets.len(), now_ms) {
            return 0;
        }
        let id = loop {
            // A random positive id, so one client cannot guess another's.
            let id = (uuid::Uuid::new_v4().as_u128() as u32 & 0x7fff_ffff) as i32;
            if id != 0 && !inner.sessions.contains_key(&id) {
                break id;
            }
        };
        let partitions = SessionPartitions::from_full(&plan.targets, answered);
        // A partition named twice is cached once.
        let size = partitions.len();
        let session = Arc::new(Session {
            id,
            uses_topic_ids: plan.uses_topic_ids,
            state: Mutex::new(State { epoch: next_epoch(INITIAL_EPOCH), partitions }),
        });
        inner.sessions.insert(id, Entry { session, created_ms: now_ms, last_used_ms: now_ms, size });
        inner.partitions += size;
        self.publish(&inner);
        tracing::debug!(session_id = id, partitions = size, "fetch session created");
        id
    }

    /// Kafka's `tryEvict`: the least recently used session if it is stale; else
    /// the smallest of those older than the eviction time, if the newcomer has
    /// more partitions.
    fn try_evict(&self, inner: &mut Inner, size: usize, now_ms: i64) -> bool {
        let Some(lru) = inner.sessions.values().min_by_key(|e| (e.last_used_ms, e.session.id)) else {
            return false;
        };
        let victim = if now_ms - lru.last_used_ms > self.eviction_ms {
            lru.session.id
        } else {
            let smallest = inner
                .sessions
                .values()
                .filter(|e| now_ms - e.created_ms > self.eviction_ms)
                .min_by_key(|e| (e.size, e.session.id));
            match smallest {
                Some(e) if size > e.size => e.session.id,
                _ => return false,
            }
        };
        if let Some(e) = inner.sessions.remove(&victim) {
            inner.partitions -= e.size;
            self.evictions.increment(1);
            tracing::debug!(session_id = victim, partitions = e.size, "fetch session evicted");
        }
        true
    }

    fn touch(&self, session: &Arc<Session>, size: usize, now_ms: i64) {
        let mut inner = self.inner.lock();
        let Some(e) = inner.sessions.get_mut(&session.id).filter(|e| Arc::ptr_eq(&e.session, session)) else {
            return; // evicted meanwhile
        };
        let old = std::mem::replace(&mut e.size, size);
        e.last_used_ms = e.last_used_ms.max(now_ms);
        inner.partitions = inner.partitions + size - old;
        self.publish(&inner);
    }

    fn remove(&self, id: i32) {
        let mut inner = self.inner.lock();
        if let Some(e) = inner.sessions.remove(&id) {
            inner.partitions -= e.size;
            self.publish(&inner);
        }
    }

    fn publish(&self, inner: &Inner) {
        self.sessions_gauge.set(inner.sessions.len() as f64);
        self.partitions_gauge.set(inner.partitions as f64);
    }
}
