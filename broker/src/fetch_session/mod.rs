//! Incremental fetch sessions (KIP-227).
//!
//! A consumer of many partitions would otherwise name every partition in every
//! Fetch request and get every partition back in every response. With a session
//! the broker remembers the partitions and their fetch parameters; the client
//! sends only what changed (partitions added or with a new fetch offset, and
//! partitions to forget), and the broker answers only for partitions that have
//! something new: records, a changed high watermark or log start offset, or an
//! error.
//!
//! The request's (session id, epoch) picks one of three ways ([`FetchPlan`]):
//! - epoch -1 (`FINAL_EPOCH`): a full, sessionless fetch; a session named by the
//!   id is closed first.
//! - epoch 0 (`INITIAL_EPOCH`): a full fetch that asks for a new session (any
//!   session named by the id is closed first); the response carries the new id,
//!   or 0 when the cache has no slot for it.
//! - epoch > 0: an incremental fetch of an existing session; the epoch must be the
//!   one the session expects next (one more than the last, wrapping past
//!   `i32::MAX` to 1). Unknown id: FETCH_SESSION_ID_NOT_FOUND; wrong epoch
//!   (including a repeated or concurrent request): INVALID_FETCH_SESSION_EPOCH;
//!   topic ids used (v13+) where the session was made without, or the reverse:
//!   FETCH_SESSION_TOPIC_ID_ERROR. A session left with no partitions is closed
//!   and the fetch answered sessionless.
//!
//! Invariants: a session's epoch is bumped when its request is accepted
//! ([`FetchSessionCache::begin`]), so a request answers for the session only if
//! the epoch is still the one that follows its own when it finishes
//! ([`FetchSessionCache::finish`]); then nothing changed the session in between
//! and the partitions are in the order the request read them. Partitions that
//! returned records move to the end of the session's order, so a response cut
//! at `fetch.max.bytes` serves the others first next time.
//!
//! The cache (`max.incremental.fetch.session.cache.slots`) evicts as Kafka's
//! does: a new session takes the slot of one unused for longer than
//! `min.incremental.fetch.session.eviction.ms`, else of the smallest session
//! older than that if the new one has more partitions, else gets none.

mod cache;

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

pub use cache::FetchSessionCache;

/// Kafka's `FetchMetadata` epochs.
pub const INITIAL_EPOCH: i32 = 0;
pub const FINAL_EPOCH: i32 = -1;

/// The epoch that follows `epoch` (Kafka's `FetchMetadata.nextEpoch`).
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        FINAL_EPOCH
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// How a session names a topic: by id from Fetch v13, else by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TopicKey {
    Id(Uuid),
    Name(Arc<str>),
}

/// One partition a fetch reads, with the client's parameters for it.
#[derive(Clone, Debug)]
pub struct FetchTarget {
    pub topic: TopicKey,
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
    /// The fetcher's log start offset (followers send it; kept, not acted on).
    pub log_start_offset: i64,
}

/// What a partition's answer was, as far as a session cares.
#[derive(Clone, Copy, Debug)]
pub struct Answered {
    pub record_bytes: usize,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub error: bool,
}

/// A Fetch request's session fields and partitions, domain-typed.
#[derive(Debug)]
pub struct SessionRequest {
    pub session_id: i32,
    pub epoch: i32,
    /// Fetch v13+: topics named by id.
    pub uses_topic_ids: bool,
    /// Partitions to read (full fetch) or to add or update (incremental).
    pub targets: Vec<FetchTarget>,
    /// Partitions to drop from the session (incremental only).
    pub forgotten: Vec<(TopicKey, i32)>,
}

/// Why a request cannot use the session it names (Kafka's error for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// FETCH_SESSION_ID_NOT_FOUND (70).
    NotFound,
    /// INVALID_FETCH_SESSION_EPOCH (71).
    InvalidEpoch,
    /// FETCH_SESSION_TOPIC_ID_ERROR (106).
    TopicIdMismatch,
}

/// What a request reads and how its answer is shaped.
pub struct FetchPlan {
    /// The partitions to read, in order.
    pub targets: Vec<FetchTarget>,
    uses_topic_ids: bool,
    kind: PlanKind,
}

enum PlanKind {
    /// Answer every partition; no session.
    Sessionless,
    /// Answer every partition and try to make a session of them.
    Full,
    /// Answer only what changed, for this session.
    Incremental { session: Arc<cache::Session>, request_epoch: i32 },
}

impl FetchPlan {
    pub fn is_incremental(&self) -> bool {
        matches!(self.kind, PlanKind::Incremental { .. })
    }
}

/// The answer's session id and which partitions to include (all, for a full
/// fetch).
pub enum Finished {
    Respond { session_id: i32, include: Option<Vec<bool>> },
    Error(SessionError),
}

/// A session partition: the client's parameters and what it was last told.
#[derive(Clone, Debug)]
struct Cached {
    target: FetchTarget,
    high_watermark: i64,
    log_start_offset: i64,
}

impl Cached {
    fn new(target: FetchTarget, answered: Option<&Answered>) -> Cached {
        // A partition added by an incremental request has told the client nothing
        // yet: -1 makes its first answer differ, so it is included.
        let (hw, lso) = match answered {
            Some(a) if !a.error => (a.high_watermark, a.log_start_offset),
            _ => (-1, -1),
        };
        Cached { target, high_watermark: hw, log_start_offset: lso }
    }

    /// Kafka's `CachedPartition.maybeUpdateResponseData`: whether the answer must
    /// go to the client, remembering what it tells.
    fn must_respond(&mut self, a: &Answered) -> bool {
        let mut respond = a.record_bytes > 0;
        if self.high_watermark != a.high_watermark {
            self.high_watermark = a.high_watermark;
            respond = true;
        }
        if self.log_start_offset != a.log_start_offset {
            self.log_start_offset = a.log_start_offset;
            respond = true;
        }
        if a.error {
            // Sent again once the error is gone.
            self.high_watermark = -1;
            respond = true;
        }
        respond
    }
}

/// The partitions of one session in fetch order. Each lives in a slot that does
/// not move; the index maps keys to slots and `order` lists slots, so reordering
/// touches only `order` (no rehashing) and forgetting frees slots for reuse.
#[derive(Default)]
struct SessionPartitions {
    slots: Vec<Option<Cached>>,
    free: Vec<usize>,
    index: HashMap<(TopicKey, i32), usize>,
    order: Vec<usize>,
}

impl SessionPartitions {
    fn from_full(targets: &[FetchTarget], answered: &[Answered]) -> SessionPartitions {
        let mut s = SessionPartitions::default();
        for (t, a) in targets.iter().zip(answered) {
            s.upsert(t, Some(a));
        }
        s
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn cached(&self) -> impl Iterator<Item = &Cached> {
        self.order.iter().filter_map(|&i| self.slots[i].as_ref())
    }

    fn upsert(&mut self, target: &FetchTarget, answered: Option<&Answered>) {
        let key = (target.topic.clone(), target.partition);
        if let Some(&i) = self.index.get(&key) {
            if let Some(c) = self.slots[i].as_mut() {
                c.target = target.clone();
            }
            return;
        }
        let cached = Some(Cached::new(target.clone(), answered));
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = cached;
                i
            }
            None => {
                self.slots.push(cached);
                self.slots.len() - 1
            }
        };
        self.index.insert(key, slot);
        self.order.push(slot);
    }

    /// Applies an incremental request: adds or updates its partitions, drops the
    /// forgotten ones.
    fn update(&mut self, targets: &[FetchTarget], forgotten: &[(TopicKey, i32)]) {
        for t in targets {
            self.upsert(t, None);
        }
        let mut any = false;
        for key in forgotten {
            if let Some(i) = self.index.remove(key) {
                self.slots[i] = None;
                self.free.push(i);
                any = true;
            }
        }
        if any {
            // One pass however many were forgotten.
            let slots = &self.slots;
            self.order.retain(|&i| slots[i].is_some());
        }
    }

    fn targets(&self) -> Vec<FetchTarget> {
        self.cached().map(|c| c.target.clone()).collect()
    }

    /// Which answers go to the client; partitions that returned records move to
    /// the end of the order (stable otherwise).
    fn select(&mut self, answered: &[Answered]) -> Vec<bool> {
        debug_assert_eq!(answered.len(), self.order.len());
        let mut include = Vec::with_capacity(answered.len());
        for (&i, a) in self.order.iter().zip(answered) {
            include.push(self.slots[i].as_mut().is_some_and(|c| c.must_respond(a)));
        }
        if answered.iter().any(|a| a.record_bytes > 0) {
            let mut moved = Vec::new();
            let mut kept = 0;
            for (j, a) in answered.iter().enumerate() {
                let slot = self.order[j];
                if a.record_bytes > 0 {
                    moved.push(slot);
                } else {
                    self.order[kept] = slot;
                    kept += 1;
                }
            }
            self.order.truncate(kept);
            self.order.append(&mut moved);
        }
        include
    }
}

#[cfg(test)]
mod tests;
