//! A state machine kept in step with an internal topic.
//!
//! Invariant: the state is the fold of [`StateMachine::apply`] over the topic's
//! records, partition by partition in offset order, up to `next[p]`. Nothing else
//! changes it: at start-up the topic is replayed; [`StateTopic::write`] appends
//! records, waits for fsync, and then catches up, so a write is applied only once
//! it is durable, and in log order with records other writers (or other tools)
//! appended meanwhile. So the state after a restart equals the state before it.
//!
//! The state lock is held while catching up (reads are memory-mapped, applies are
//! in memory) but never across an append or an fsync.

use parking_lot::{Mutex, MutexGuard};

use super::{Entry, InternalTopic, KeyValue};
use crate::error::Result;

/// What a state machine over a topic does with one record. Records of a
/// transaction (`record.transactional`) count only once its commit marker comes:
/// a machine that may see them holds them until [`StateMachine::apply_marker`].
pub trait StateMachine: Send + 'static {
    fn apply(&mut self, partition: i32, record: &KeyValue);

    /// A transaction of `producer_id` ended in this partition (commit or abort).
    fn apply_marker(&mut self, _partition: i32, _producer_id: i64, _commit: bool) {}
}

struct Inner<S> {
    state: S,
    /// Per partition: the offset after the last record applied.
    next: Vec<i64>,
}

pub struct StateTopic<S> {
    topic: InternalTopic,
    inner: Mutex<Inner<S>>,
}

/// The state, locked. Derefs to `S`.
pub struct StateGuard<'a, S>(MutexGuard<'a, Inner<S>>);

impl<S> std::ops::Deref for StateGuard<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.0.state
    }
}

impl<S> std::ops::DerefMut for StateGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.0.state
    }
}

impl<S: StateMachine> StateTopic<S> {
    /// Replays every partition of `topic` into `state`. Blocking.
    pub fn open(topic: InternalTopic, state: S) -> Result<StateTopic<S>> {
        let n = topic.partition_count() as usize;
        let st = StateTopic { topic, inner: Mutex::new(Inner { state, next: vec![0; n] }) };
        st.catch_up_all()?;
        Ok(st)
    }

    pub fn topic(&self) -> &InternalTopic {
        &self.topic
    }

    /// The state as applied so far (records others appended since the last catch-up
    /// are not in it yet; see [`StateTopic::read`]).
    pub fn lock(&self) -> StateGuard<'_, S> {
        StateGuard(self.inner.lock())
    }

    /// Catches up with every partition, then runs `f` on the state.
    pub fn read<T>(&self, f: impl FnOnce(&S) -> T) -> Result<T> {
        let mut inner = self.inner.lock();
        for p in 0..inner.next.len() {
            self.catch_up_locked(&mut inner, p as i32)?;
        }
        Ok(f(&inner.state))
    }

    /// Appends `records` to `partition` durably, then applies everything up to the
    /// new end. Blocking.
    pub fn write(&self, partition: i32, records: Vec<Entry>) -> Result<()> {
        if !records.is_empty() {
            self.topic.append(partition, records)?;
        }
        let mut inner = self.inner.lock();
        self.catch_up_locked(&mut inner, partition)
    }

    /// [`StateTopic::write`] on behalf of `writer` (a transaction's records, held by
    /// the state machine until the transaction's marker). Blocking.
    pub fn write_as(&self, partition: i32, records: Vec<Entry>, writer: super::Writer) -> Result<()> {
        if !records.is_empty() {
            self.topic.append_as(partition, records, writer)?;
        }
        let mut inner = self.inner.lock();
        self.catch_up_locked(&mut inner, partition)
    }

    /// Appends a transaction marker durably, then applies it. Blocking.
    pub fn write_marker(
        &self,
        partition: i32,
        kind: weir_storage::ControlType,
        producer_id: i64,
        epoch: i16,
    ) -> Result<()> {
        self.topic.append_marker(partition, kind, producer_id, epoch)?;
        let mut inner = self.inner.lock();
        self.catch_up_locked(&mut inner, partition)
    }

    /// Applies records appended to any partition since the last catch-up.
    pub fn catch_up_all(&self) -> Result<()> {
        let mut inner = self.inner.lock();
        for p in 0..inner.next.len() {
            self.catch_up_locked(&mut inner, p as i32)?;
        }
        Ok(())
    }

    fn catch_up_locked(&self, inner: &mut Inner<S>, partition: i32) -> Result<()> {
        let Inner { state, next } = inner;
        let from = next[partition as usize];
        next[partition as usize] = self.topic.replay(partition, from, |r| match r.marker {
            Some(kind) => state.apply_marker(partition, r.producer_id, kind == weir_storage::ControlType::Commit),
            None => state.apply(partition, r),
        })?;
        Ok(())
    }
}
