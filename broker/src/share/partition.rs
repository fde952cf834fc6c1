//! One share-partition: what a share group has done with one topic partition
//! (KIP-932).
//!
//! Offsets below the share-partition start offset (SPSO, `start`) are done with.
//! Every offset in `[start, end)` is in flight and has a slot; `end` (the SPEO) is
//! the first offset never handed out. A slot is Available (to be handed out again),
//! Acquired by one member until its lock's deadline, Acknowledged (accepted) or
//! Archived (rejected, out of deliveries, or no record at all: a control batch or
//! a hole left by compaction). The start moves past every leading slot that is
//! Acknowledged or Archived, so the first slot, when there is one, is Available or
//! Acquired.
//!
//! Invariants: `end - start` never exceeds the in-flight bound it was given
//! (`group.share.partition.max.record.locks`), so the per-offset slots are bounded;
//! a slot's delivery count is the number of times it was acquired (less those to
//! members that closed their sessions without failing) and never exceeds the
//! delivery limit: a record released or timed out with its deliveries used up is
//! archived rather than made available.

use std::collections::VecDeque;
use std::sync::Arc;

use weir_storage::batch::BatchHeader;
use weir_storage::AbortedTxn;

/// A record's state, with Kafka's numbers for it (ShareSnapshotValue's
/// DeliveryState).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordState {
    Available = 0,
    Acquired = 1,
    Acknowledged = 2,
    Archived = 4,
}

impl RecordState {
    pub fn from_code(code: u8) -> Option<RecordState> {
        Some(match code {
            0 => RecordState::Available,
            1 => RecordState::Acquired,
            2 => RecordState::Acknowledged,
            4 => RecordState::Archived,
            _ => return None,
        })
    }
}

/// What a member says of a record (ShareFetch/ShareAcknowledge AcknowledgeTypes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckType {
    /// No record there (a control record, an offset compaction removed).
    Gap,
    Accept,
    /// Hand it out again (to any member).
    Release,
    Reject,
}

impl AckType {
    pub fn from_code(code: i8) -> Option<AckType> {
        Some(match code {
            0 => AckType::Gap,
            1 => AckType::Accept,
            2 => AckType::Release,
            3 => AckType::Reject,
            _ => return None,
        })
    }
}

/// Why an acknowledgement was refused (the partition's state is then unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckError {
    /// A record in the range is not acquired by this member (INVALID_RECORD_STATE).
    InvalidRecordState,
    /// The range or its types are malformed (INVALID_REQUEST).
    InvalidRequest,
}

#[derive(Clone, Debug)]
struct Slot {
    state: RecordState,
    deliveries: u16,
    /// The member holding it while Acquired.
    owner: Option<Arc<str>>,
    /// When an Acquired slot's lock ends (ms).
    deadline: i64,
}

impl Slot {
    fn done(&self) -> bool {
        matches!(self.state, RecordState::Acknowledged | RecordState::Archived)
    }
}

/// A run of acquired offsets with one delivery count (ShareFetch's AcquiredRecords).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcquiredRange {
    pub first: i64,
    pub last: i64,
    pub deliveries: u16,
}

/// The bounds an acquisition works within.
#[derive(Clone, Copy, Debug)]
pub struct AcquireLimits {
    /// Stop after the batch that brings the acquired count to this (whole batches
    /// are handed out, as Kafka does).
    pub max_records: usize,
    /// `group.share.partition.max.record.locks`: the most offsets in flight.
    pub max_in_flight: usize,
    pub delivery_limit: u16,
    pub lock_ms: i64,
}

/// A batch as acquisition sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSpan {
    pub base: i64,
    pub last: i64,
    /// Never handed out, its offsets archived: a control batch (a transaction
    /// marker), or under read_committed a batch of an aborted transaction.
    pub archive: bool,
    /// Its bytes end here in the buffer read.
    pub end_pos: usize,
}

/// The batches in `buf` (whole batches as a read returns them), headers only.
/// `aborted`: the aborted transactions a read_committed read overlaps (empty
/// under read_uncommitted), whose data batches are archived: a transactional
/// batch of an aborted transaction's producer between its first offset and its
/// abort marker.
pub fn spans(buf: &[u8], aborted: &[AbortedTxn]) -> Vec<BatchSpan> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let Ok(h) = BatchHeader::parse(&buf[pos..]) else { break };
        let end = pos + h.total_len();
        if end > buf.len() {
            break;
        }
        let (base, last) = (h.base_offset, h.last_offset());
        let aborted = h.is_transactional()
            && aborted.iter().any(|a| a.producer_id == h.producer_id && a.first_offset <= base && last < a.last_offset);
        out.push(BatchSpan { base, last, archive: h.is_control() || aborted, end_pos: end });
        pos = end;
    }
    out
}

/// The persisted form: the start and every in-flight slot that is not plainly
/// Available with no deliveries (acquired slots persist as Available: a lock does
/// not outlive the broker).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub start: i64,
    /// (first offset, last offset, state, delivery count), in offset order.
    pub batches: Vec<(i64, i64, RecordState, u16)>,
}

#[derive(Clone, Debug)]
pub struct SharePartition {
    start: i64,
    slots: VecDeque<Slot>,
    /// No later than the earliest lock deadline of an Acquired slot (i64::MAX:
    /// none): lowered by each acquisition, made exact by `expire`, so the
    /// coordinator's tick looks at a partition's slots only when a lock may have
    /// run out.
    deadline_floor: i64,
}

impl SharePartition {
    pub fn new(start: i64) -> SharePartition {
        SharePartition { start, slots: VecDeque::new(), deadline_floor: i64::MAX }
    }

    /// The share-partition start offset (SPSO).
    pub fn start(&self) -> i64 {
        self.start
    }

    /// The first offset never handed out (SPEO).
    pub fn end(&self) -> i64 {
        self.start + self.slots.len() as i64
    }

    pub fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// Slots Acquired now.
    pub fn acquired(&self) -> usize {
        self.slots.iter().filter(|s| s.state == RecordState::Acquired).count()
    }

    /// Slots whose delivery is over (Acknowledged or Archived): they count
    /// neither as lag nor as in flight.
    pub fn finished(&self) -> usize {
        self.finished_since(self.start)
    }

    /// As [`SharePartition::finished`], counting only offsets `from` on.
    pub fn finished_since(&self, from: i64) -> usize {
        let skip = usize::try_from(from.saturating_sub(self.start)).unwrap_or(0);
        self.slots
            .iter()
            .skip(skip)
            .filter(|s| matches!(s.state, RecordState::Acknowledged | RecordState::Archived))
            .count()
    }

    /// Where a read for the next acquisition starts: the first Available slot, else
    /// the end; None when nothing can be acquired (every slot taken and the
    /// in-flight bound reached).
    pub fn next_read(&self, max_in_flight: usize) -> Option<i64> {
        if let Some(i) = self.slots.iter().position(|s| s.state == RecordState::Available) {
            return Some(self.start + i as i64);
        }
        (self.slots.len() < max_in_flight).then(|| self.end())
    }

    /// Archives the Available records a read from `from` shows are gone: offsets
    /// no batch holds below the last batch read (compaction removed them after
    /// they were released). Without this the start could never pass them.
    pub fn archive_missing(&mut self, from: i64, batches: &[BatchSpan]) {
        let mut next = from.max(self.start);
        for b in batches {
            let to = b.base.min(self.end());
            while next < to {
                let s = &mut self.slots[(next - self.start) as usize];
                if s.state == RecordState::Available {
                    *s = archived(s.deliveries);
                }
                next += 1;
            }
            next = next.max(b.last.saturating_add(1));
        }
        self.advance();
    }

    /// Drops what the log no longer has (retention, DeleteRecords): the start is
    /// never below the log's start offset.
    pub fn align(&mut self, log_start: i64) -> bool {
        if log_start <= self.start {
            return false;
        }
        let drop = ((log_start - self.start) as usize).min(self.slots.len());
        self.slots.drain(..drop);
        self.start = log_start;
        self.advance();
        true
    }

    /// Acquires for `member` what the read `batches` (whole batches read from the
    /// log, in offset order) hold that is Available or new. Control batches and
    /// holes between batches are archived, never handed out. Returns the acquired
    /// ranges and how many of the batches were used (the answer carries those).
    pub fn acquire(
        &mut self,
        member: &Arc<str>,
        batches: &[BatchSpan],
        limits: AcquireLimits,
        now: i64,
    ) -> (Vec<AcquiredRange>, usize) {
        let mut out: Vec<AcquiredRange> = Vec::new();
        let mut count = 0usize;
        let mut used = 0usize;
        let deadline = now.saturating_add(limits.lock_ms);
        for b in batches {
            if b.last < self.start {
                used += 1;
                continue;
            }
            if count >= limits.max_records {
                break;
            }
            let mut took = false;
            let mut blocked = false;
            for off in b.base.max(self.start)..=b.last {
                if off >= self.end() {
                    // A hole before this batch (compaction) holds no records: with
                    // nothing in flight the start moves past it, else it is archived
                    // slot by slot, within the in-flight bound like any offset.
                    if self.slots.is_empty() {
                        self.start = off;
                    }
                    if (off - self.start) as usize >= limits.max_in_flight {
                        blocked = true;
                        break;
                    }
                    while self.end() < off {
                        self.slots.push_back(archived(0));
                    }
                    self.slots.push_back(Slot {
                        state: RecordState::Available,
                        deliveries: 0,
                        owner: None,
                        deadline: 0,
                    });
                }
                let slot = &mut self.slots[(off - self.start) as usize];
                if slot.state != RecordState::Available {
                    continue;
                }
                // Delivered as often as allowed already (the last delivery was in
                // flight at a restart, which a snapshot keeps counted): archived,
                // as a release at the limit would be.
                if b.archive || slot.deliveries >= limits.delivery_limit {
                    *slot = archived(slot.deliveries);
                    continue;
                }
                slot.state = RecordState::Acquired;
                slot.deliveries = slot.deliveries.saturating_add(1);
                slot.owner = Some(member.clone());
                slot.deadline = deadline;
                self.deadline_floor = self.deadline_floor.min(deadline);
                count += 1;
                took = true;
                match out.last_mut() {
                    Some(r) if r.last + 1 == off && r.deliveries == slot.deliveries => r.last = off,
                    _ => out.push(AcquiredRange { first: off, last: off, deliveries: slot.deliveries }),
                }
            }
            if took || !blocked {
                used += 1;
            }
            if blocked {
                break;
            }
        }
        self.advance();
        (out, used)
    }

    /// [`SharePartition::acknowledge_batches`] of one batch.
    pub fn acknowledge(
        &mut self,
        member: &str,
        first: i64,
        last: i64,
        types: &[AckType],
        delivery_limit: u16,
    ) -> Result<bool, AckError> {
        self.acknowledge_batches(member, &[(first, last, types)], delivery_limit)
    }

    /// Applies a member's acknowledgement batches (first, last, and one type for
    /// the batch or one per offset), all or nothing, as Kafka rolls back every
    /// batch of the partition when one fails:
    /// - malformed (first after last, a negative offset, no types or neither one
    ///   nor one per offset, batches out of order or overlapping), or reaching
    ///   past what is in flight ("past acquired records"): INVALID_REQUEST;
    /// - an offset from the start on not Acquired by `member` (a gap may name an
    ///   archived offset): INVALID_RECORD_STATE.
    ///
    /// Offsets below the start are done already (accepted by another member once
    /// this one's lock ran out, or gone with the log's start) and are skipped, as
    /// Kafka skips them. True when something changed (a gap over records that
    /// hold nothing changes nothing).
    pub fn acknowledge_batches(
        &mut self,
        member: &str,
        batches: &[(i64, i64, &[AckType])],
        delivery_limit: u16,
    ) -> Result<bool, AckError> {
        let mut previous_last = -1;
        for &(first, last, types) in batches {
            let well_formed = first >= 0
                && first <= last
                && first > previous_last
                && (types.len() == 1 || Some(types.len() as u64) == (last - first).checked_add(1).map(|n| n as u64));
            if !well_formed {
                return Err(AckError::InvalidRequest);
            }
            previous_last = last;
        }
        let ty = |first: i64, types: &[AckType], off: i64| {
            if types.len() == 1 {
                types[0]
            } else {
                types[(off - first) as usize]
            }
        };
        for &(first, last, types) in batches {
            if last < self.start {
                continue;
            }
            if last >= self.end() {
                return Err(AckError::InvalidRequest);
            }
            for off in first.max(self.start)..=last {
                let s = &self.slots[(off - self.start) as usize];
                let held = s.state == RecordState::Acquired && s.owner.as_deref() == Some(member);
                let gap_ok = ty(first, types, off) == AckType::Gap && s.state == RecordState::Archived;
                if !held && !gap_ok {
                    return Err(AckError::InvalidRecordState);
                }
            }
        }
        let mut changed = false;
        for &(first, last, types) in batches {
            for off in first.max(self.start)..=last {
                let s = &mut self.slots[(off - self.start) as usize];
                if s.state != RecordState::Acquired {
                    continue;
                }
                *s = match ty(first, types, off) {
                    AckType::Accept => done(RecordState::Acknowledged, s.deliveries),
                    AckType::Gap | AckType::Reject => archived(s.deliveries),
                    AckType::Release => released(s.deliveries, delivery_limit),
                };
                changed = true;
            }
        }
        self.advance();
        Ok(changed)
    }

    /// Everything `member` holds goes back. `counted`: the member failed (its
    /// connection dropped, its session timed out), so the delivery counts, as a
    /// lock running out would (a record that crashes its consumers is archived
    /// after the limit); otherwise (it ended its session, or opened a new one) the
    /// delivery is not counted, as Kafka does for a member that closes. True when
    /// something changed.
    pub fn release_member(&mut self, member: &str, delivery_limit: u16, counted: bool) -> bool {
        let mut changed = false;
        for s in self.slots.iter_mut() {
            if s.state == RecordState::Acquired && s.owner.as_deref() == Some(member) {
                let deliveries = if counted { s.deliveries } else { s.deliveries.saturating_sub(1) };
                *s = released(deliveries, delivery_limit);
                changed = true;
            }
        }
        self.advance();
        changed
    }

    /// Locks whose deadline passed go back. True when something changed.
    pub fn expire(&mut self, now: i64, delivery_limit: u16) -> bool {
        let mut changed = false;
        let mut floor = i64::MAX;
        for s in self.slots.iter_mut() {
            if s.state != RecordState::Acquired {
                continue;
            }
            if s.deadline <= now {
                *s = released(s.deliveries, delivery_limit);
                changed = true;
            } else {
                floor = floor.min(s.deadline);
            }
        }
        self.deadline_floor = floor;
        self.advance();
        changed
    }

    /// No later than the earliest lock deadline (exact after an `expire`); None
    /// when no lock can be running.
    pub fn next_deadline(&self) -> Option<i64> {
        (self.deadline_floor != i64::MAX).then_some(self.deadline_floor)
    }

    fn advance(&mut self) {
        while self.slots.front().is_some_and(Slot::done) {
            self.slots.pop_front();
            self.start += 1;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut batches: Vec<(i64, i64, RecordState, u16)> = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            let off = self.start + i as i64;
            let state = if s.state == RecordState::Acquired { RecordState::Available } else { s.state };
            if state == RecordState::Available && s.deliveries == 0 {
                continue;
            }
            match batches.last_mut() {
                Some(b) if b.1 + 1 == off && b.2 == state && b.3 == s.deliveries => b.1 = off,
                _ => batches.push((off, off, state, s.deliveries)),
            }
        }
        Snapshot { start: self.start, batches }
    }

    /// The partition a snapshot describes: what it names keeps its state and
    /// deliveries (acquired as Available); offsets between its batches are
    /// Available with no deliveries.
    pub fn restore(snap: &Snapshot) -> SharePartition {
        let mut p = SharePartition::new(snap.start);
        for &(first, last, state, deliveries) in &snap.batches {
            if last < p.end() || first < p.start {
                continue;
            }
            while p.end() < first {
                p.slots.push_back(Slot { state: RecordState::Available, deliveries: 0, owner: None, deadline: 0 });
            }
            let state = if state == RecordState::Acquired { RecordState::Available } else { state };
            for _ in first..=last {
                p.slots.push_back(Slot { state, deliveries, owner: None, deadline: 0 });
            }
        }
        // Trailing Available slots with no deliveries are simply not handed out yet.
        while p.slots.back().is_some_and(|s| s.state == RecordState::Available && s.deliveries == 0) {
            p.slots.pop_back();
        }
        p.advance();
        p
    }
}

fn done(state: RecordState, deliveries: u16) -> Slot {
    Slot { state, deliveries, owner: None, deadline: 0 }
}

fn archived(deliveries: u16) -> Slot {
    done(RecordState::Archived, deliveries)
}

/// A record given back: Available again, or archived when its deliveries are used up.
fn released(deliveries: u16, limit: u16) -> Slot {
    if deliveries >= limit {
        archived(deliveries)
    } else {
        done(RecordState::Available, deliveries)
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
