//! The share coordinator's operations, one per Kafka API: a fetch's session step
//! and acquisitions, acknowledgements, and the admin views (heartbeats are in
//! `membership.rs`).

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use uuid::Uuid;
use weir_storage::StorageError;

use super::partition::{self, AckError, AckType, AcquireLimits, AcquiredRange, SharePartition};
use super::session::{FetchPlan, SessionError};
use super::store::{ShareKey, StateKey};
use super::{Result, ShareCoordinator, ShareError, ShareGroup, ShareMember};
use crate::configs::share_reset::ShareReset;
use crate::partition::{Isolation, Partition};

/// One acknowledgement batch as sent.
#[derive(Clone, Debug)]
pub struct AckBatch {
    pub first: i64,
    pub last: i64,
    pub types: Vec<i8>,
}

/// What became of a partition's acknowledgements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckOutcome {
    Done,
    InvalidRecordState,
    InvalidRequest,
    /// Applied, but not written to disk: after a restart the records may be
    /// handed out again.
    NotPersisted,
}

/// A partition's answer to an acquisition.
#[derive(Debug, Default)]
pub struct Acquired {
    pub records: Bytes,
    pub ranges: Vec<AcquiredRange>,
}

/// A partition `prepare` could not start a share-partition of: by_duration
/// found no record timestamped `timestamp` or later. As in Kafka, its fetch is
/// answered OFFSET_NOT_AVAILABLE and a later one looks again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unstarted {
    pub topic_id: Uuid,
    pub partition: i32,
    pub timestamp: i64,
}

/// Where `share.auto.offset.reset` starts a new share-partition.
enum Start {
    At(i64),
    /// by_duration, and no record is timestamped this late or later.
    NoRecordSince(i64),
}

/// A share group as DescribeGroups-style views show it.
#[derive(Clone, Debug)]
pub struct ShareGroupDescription {
    pub group: String,
    pub state: &'static str,
    pub epoch: i32,
    pub members: Vec<(String, ShareMember)>,
}

impl ShareCoordinator {
    /// Gives back what `member` holds in `group`'s share-partitions; the keys that
    /// changed.
    pub(super) fn release_locked(
        &self,
        parts: &std::collections::HashMap<String, super::GroupParts>,
        group: &str,
        member: &str,
        counted: bool,
    ) -> Vec<ShareKey> {
        let Some(gp) = parts.get(group) else { return Vec::new() };
        gp.iter()
            .filter(|(_, p)| p.lock().release_member(member, self.cfg.delivery_count_limit, counted))
            .map(|(&(topic_id, partition), _)| ShareKey { group: group.to_string(), topic_id, partition })
            .collect()
    }

    /// A ShareFetch's session step, on connection `conn`. A session opened again
    /// gives back what the member held (its earlier acknowledgements cannot come
    /// any more).
    #[allow(clippy::too_many_arguments)]
    pub async fn fetch_session(
        &self,
        group: &str,
        member: &str,
        epoch: i32,
        add: &[(Uuid, i32)],
        forget: &[(Uuid, i32)],
        has_acks: bool,
        conn: u64,
    ) -> std::result::Result<FetchPlan, SessionError> {
        let (plan, released) = {
            let mut st = self.state.lock();
            let plan = st.sessions.fetch(group, member, epoch, add, forget, has_acks, self.now(), conn)?;
            let released =
                if plan.replaced { self.release_locked(&st.parts, group, member, false) } else { Vec::new() };
            (plan, released)
        };
        if let Err(e) = self.persist_partitions(released).await {
            tracing::error!(group, error = %e, "could not write records released by a new share session");
        }
        Ok(plan)
    }

    /// A ShareAcknowledge's session step, on connection `conn`: true when it
    /// ends the session.
    pub fn acknowledge_session(
        &self,
        group: &str,
        member: &str,
        epoch: i32,
        conn: u64,
    ) -> std::result::Result<bool, SessionError> {
        self.state.lock().sessions.acknowledge(group, member, epoch, self.now(), conn)
    }

    /// Connection `conn` closed: the share sessions it used last end, and what their
    /// members hold goes back at once, as Kafka's share session cache does on a
    /// disconnect; the delivery counts (the member may have crashed on it).
    pub async fn connection_closed(&self, conn: u64, sessions: Vec<(String, String)>) {
        let released = {
            let mut st = self.state.lock();
            let mut released = Vec::new();
            for (group, member) in &sessions {
                if st.sessions.close_for_connection(group, member, conn) {
                    tracing::debug!(%group, member_id = %member, "share session ended with its connection");
                    released.extend(self.release_locked(&st.parts, group, member, true));
                }
            }
            released
        };
        if let Err(e) = self.persist_partitions(released).await {
            tracing::error!(error = %e, "could not write records released by a closed connection");
        }
    }

    /// Applies a member's acknowledgements, partition by partition (a batch that
    /// fails fails its partition; batches before it stay applied), and writes the
    /// partitions that changed before returning. `closing`: the member's session
    /// ended, so what it still holds goes back too, before the write (not counted
    /// as a delivery).
    pub async fn acknowledge(
        &self,
        group: &str,
        member: &str,
        acks: Vec<(Uuid, i32, Vec<AckBatch>)>,
        closing: bool,
    ) -> Vec<(Uuid, i32, AckOutcome)> {
        let mut out = Vec::with_capacity(acks.len());
        let mut changed = Vec::new();
        for (topic_id, partition, batches) in acks {
            let sp = self.state.lock().part(group, topic_id, partition).cloned();
            let Some(sp) = sp else {
                out.push((topic_id, partition, AckOutcome::InvalidRecordState));
                continue;
            };
            // Every batch's types decoded before anything is applied: all or nothing.
            let types: Option<Vec<Vec<AckType>>> =
                batches.iter().map(|b| b.types.iter().map(|t| AckType::from_code(*t)).collect()).collect();
            let (outcome, any) = match types {
                None => (AckOutcome::InvalidRequest, false),
                Some(types) => {
                    let acks: Vec<(i64, i64, &[AckType])> =
                        batches.iter().zip(&types).map(|(b, t)| (b.first, b.last, t.as_slice())).collect();
                    match sp.lock().acknowledge_batches(member, &acks, self.cfg.delivery_count_limit) {
                        Ok(c) => (AckOutcome::Done, c),
                        Err(AckError::InvalidRecordState) => (AckOutcome::InvalidRecordState, false),
                        Err(AckError::InvalidRequest) => (AckOutcome::InvalidRequest, false),
                    }
                }
            };
            if any {
                changed.push(ShareKey { group: group.to_string(), topic_id, partition });
            }
            out.push((topic_id, partition, outcome));
        }
        if closing {
            let st = self.state.lock();
            for k in self.release_locked(&st.parts, group, member, false) {
                if !changed.contains(&k) {
                    changed.push(k);
                }
            }
        }
        if let Err(e) = self.persist_partitions(changed.clone()).await {
            tracing::error!(group, error = %e, "could not write acknowledgements");
            for (t, p, o) in out.iter_mut() {
                if *o == AckOutcome::Done && changed.iter().any(|k| k.topic_id == *t && k.partition == *p) {
                    *o = AckOutcome::NotPersisted;
                }
            }
        }
        out
    }

    /// `share.isolation.level` of `group`: which records it is handed.
    pub fn isolation(&self, group: &str) -> Isolation {
        let committed = self
            .meta
            .group_configs(group)
            .and_then(|c| c.get("share.isolation.level").cloned())
            .is_some_and(|v| v == "read_committed");
        if committed {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }

    /// Where `reset` starts a share-partition of `p` now. For by_duration where
    /// no record is that recent, as in Kafka, the share-partition is not
    /// started until one is (a later fetch looks again, with the window moved
    /// on), so records carrying older timestamps that arrive meanwhile are not
    /// handed out.
    fn reset_start(&self, reset: ShareReset, p: &Partition) -> Result<Start> {
        Ok(match reset {
            ShareReset::Latest => Start::At(p.high_watermark()),
            ShareReset::Earliest => Start::At(p.log_start_offset()),
            ShareReset::ByDuration(ms) => {
                let at = self.now().saturating_sub(ms).max(0);
                let found = p.log().offset_for_timestamp(at).map_err(|e| ShareError::ReadLog(e.to_string()))?;
                match found {
                    Some(t) => Start::At(t.offset.clamp(p.log_start_offset(), p.high_watermark())),
                    None => Start::NoRecordSince(at),
                }
            }
        })
    }

    /// Makes sure each partition has its share-partition, starting where
    /// `share.auto.offset.reset` says, and writes the new ones before anything of
    /// them is handed out. Those by_duration could not start yet are returned.
    pub async fn prepare(&self, group: &str, partitions: &[(Uuid, Arc<Partition>)]) -> Result<Vec<Unstarted>> {
        // A new share-partition is readable (in `parts`) only once its start is on
        // disk; meanwhile it is pending and other fetches acquire nothing from it.
        let new: Vec<(ShareKey, &Arc<Partition>)> = {
            let mut st = self.state.lock();
            let mut new = Vec::new();
            for (topic_id, p) in partitions {
                // A deleted topic's partition (a long poll holds it) starts nothing.
                if p.is_removed() || st.part(group, *topic_id, p.index()).is_some() {
                    continue;
                }
                let key = ShareKey { group: group.to_string(), topic_id: *topic_id, partition: p.index() };
                if st.pending.insert(key.clone()) {
                    new.push((key, p));
                }
            }
            new
        };
        if new.is_empty() {
            return Ok(Vec::new());
        }
        // Read only when something is new: most fetches find every share-partition made.
        let configs = self.meta.group_configs(group);
        let reset =
            ShareReset::of_stored(configs.as_ref().and_then(|c| c.get("share.auto.offset.reset")).map(|v| v.as_str()));
        // Outside the state's lock: a by_duration start reads the time index.
        let mut created: Vec<(ShareKey, SharePartition)> = Vec::with_capacity(new.len());
        let mut unstarted = Vec::new();
        for (key, p) in new.iter() {
            match self.reset_start(reset, p) {
                Ok(Start::At(start)) => created.push((key.clone(), SharePartition::new(start))),
                Ok(Start::NoRecordSince(timestamp)) => {
                    self.state.lock().pending.remove(key);
                    unstarted.push(Unstarted { topic_id: key.topic_id, partition: key.partition, timestamp });
                }
                Err(e) => {
                    let mut st = self.state.lock();
                    for (k, _) in &new {
                        st.pending.remove(k);
                    }
                    return Err(e);
                }
            }
        }
        if created.is_empty() {
            return Ok(unstarted);
        }
        let partition = self.store_partition(group);
        // The turn is held until memory matches what was written, so an offset reset
        // (which takes it too) comes wholly before or after.
        let _turn = self.writers[partition as usize].lock().await;
        let written = {
            let entries: Vec<crate::internal::Entry> = {
                let mut st = self.state.lock();
                // Deleted meanwhile: nothing is written for it (its tombstones may
                // be written already).
                if !st.groups.contains_key(group) {
                    for (k, _) in &created {
                        st.pending.remove(k);
                    }
                    return Ok(unstarted);
                }
                // An offset reset or delete in between (`admin`) decided these; what
                // it wrote stands.
                // The topic deleted meanwhile: its state is swept in this turn too, so
                // nothing of it is written after.
                created.retain(|(k, _)| {
                    let mine = st.pending.contains(k)
                        && st.part(&k.group, k.topic_id, k.partition).is_none()
                        && self.meta.topic_by_id(&k.topic_id).is_some();
                    if !mine {
                        st.pending.remove(k);
                    }
                    mine
                });
                created
                    .iter()
                    .map(|(k, sp)| {
                        let snapshot = super::store::encode_snapshot(&sp.snapshot());
                        (Some(StateKey::Partition(k.clone()).encode()), Some(snapshot))
                    })
                    .collect()
            };
            self.write(partition, entries).await
        };
        let mut st = self.state.lock();
        let alive = st.groups.contains_key(group);
        if alive && written.is_ok() {
            st.wake(group);
        }
        for (k, sp) in created {
            st.pending.remove(&k);
            if written.is_ok() && alive {
                tracing::info!(group, topic_id = %k.topic_id, partition = k.partition, start = sp.start(), "share-partition initialized");
                let gp = st.parts.entry(k.group).or_default();
                gp.insert((k.topic_id, k.partition), Arc::new(Mutex::new(sp)));
            }
        }
        written.map(|()| unstarted)
    }

    /// Acquires for `member` what it can of one partition: at most `max_records`
    /// (whole batches) from at most `max_bytes` read. The records handed out are
    /// the batches holding the acquired offsets.
    #[allow(clippy::too_many_arguments)]
    pub fn acquire(
        &self,
        group: &str,
        member: &Arc<str>,
        topic_id: Uuid,
        p: &Partition,
        max_records: usize,
        max_bytes: usize,
        isolation: Isolation,
    ) -> std::result::Result<Acquired, StorageError> {
        let Some(sp) = self.state.lock().part(group, topic_id, p.index()).cloned() else {
            return Ok(Acquired::default());
        };
        let mut sp = sp.lock();
        sp.align(p.log_start_offset());
        let Some(from) = sp.next_read(self.cfg.partition_max_record_locks) else { return Ok(Acquired::default()) };
        let bound = match isolation {
            Isolation::ReadUncommitted => p.high_watermark(),
            Isolation::ReadCommitted => p.last_stable_offset(),
        };
        if from >= bound {
            return Ok(Acquired::default());
        }
        let read = p.read(from, max_bytes, isolation, true)?;
        let spans = partition::spans(&read.records, &read.aborted);
        let limits = AcquireLimits {
            max_records,
            max_in_flight: self.cfg.partition_max_record_locks,
            delivery_limit: self.cfg.delivery_count_limit,
            lock_ms: self.cfg.record_lock_duration_ms,
        };
        sp.archive_missing(from, &spans);
        let (ranges, used) = sp.acquire(member, &spans, limits, self.now());
        if ranges.is_empty() || used == 0 {
            return Ok(Acquired { records: Bytes::new(), ranges });
        }
        Ok(Acquired { records: read.records.slice(..spans[used - 1].end_pos), ranges })
    }

    pub fn list(&self) -> Vec<(String, &'static str)> {
        let st = self.state.lock();
        let mut out: Vec<(String, &'static str)> = st.groups.iter().map(|(id, g)| (id.clone(), g.state())).collect();
        out.sort();
        out
    }

    pub fn describe(&self, group: &str) -> Option<ShareGroupDescription> {
        let st = self.state.lock();
        let g: &ShareGroup = st.groups.get(group)?;
        Some(ShareGroupDescription {
            group: group.to_string(),
            state: g.state(),
            epoch: g.epoch,
            members: g.members.iter().map(|(id, m)| (id.clone(), m.clone())).collect(),
        })
    }
}
