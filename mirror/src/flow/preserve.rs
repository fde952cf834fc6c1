//! The offset-preserving copy (`mirror.mode=preserve`, Weir targets only).
//!
//! Remote topics are created as mirror topics (topic config
//! `weir.mirror.source = SOURCE:TOPIC`): read-only to producers. Source
//! batches are fetched as stored ([`crate::wire`], read committed: aborted
//! batches and transaction markers below the last stable offset come too) and
//! sent to the target in Produce requests marked with the target's reserved
//! copy `transactional_id`; the target appends each at the offset it carries,
//! byte for byte. So offsets, batch boundaries and CRCs are the source's, and
//! consumer offsets need no translation (checkpoints are the identity).
//!
//! Position: the remote partition's end *is* the position. A restart reads it
//! back (ListOffsets on the target) and fetches from there; a batch appended
//! but unacknowledged before a crash is skipped by the target when sent again.
//! Nothing is lost or repeated, with no commit of any kind.
//!
//! Promotion (`weir mirror promote`) removes the marker: the target refuses
//! further copies to the topic (and never lets it become a mirror again), and
//! the flow, told so, drops the topic for good.

use std::collections::BTreeMap;

use bytes::Bytes;

use self::sender::{Answer, Request, Sender};
use super::*;
use crate::promote::MIRROR_SOURCE;
use crate::wire::{complete_batches, Cluster, TopicPartition, EARLIEST, LATEST};

mod sender;

/// The target's reserved Produce `transactional_id` for copied batches.
const COPY_TRANSACTIONAL_ID: &str = "__weir_mirror_copy";
/// The target's Produce partition tag for a copy's expected log end.
const COPY_EXPECTED_END_TAG: i32 = 0x5745;
const MAX_WAIT: Duration = Duration::from_millis(100);
/// Per partition and per fetch. Rounds stay small enough to overlap the
/// source's reads with the target's appends, and buffers below the allocator's
/// mmap threshold (32 MiB in `weir mirror`) are reused, not faulted in anew.
const PARTITION_MAX_BYTES: i32 = 2 << 20;

/// Kafka error codes the copy reacts to.
const OFFSET_OUT_OF_RANGE: i16 = 1;
const INVALID_REQUEST: i16 = 42;
/// The partition moved or is not there yet: look its leader up again.
const RETRY_AFTER_LOOKUP: [i16; 6] = [3, 5, 6, 74, 75, 103];

#[derive(Default)]
struct Progress {
    source_end: i64,
    records: u64,
    bytes: u64,
    last_timestamp: Option<i64>,
}

/// One source partition's batches, ready to send.
struct Copy {
    source: Partition,
    remote: Partition,
    records: Bytes,
    /// Where the remote partition ends before this copy (the one before it
    /// ends there): the target refuses the copy if it ends short of it.
    expected: i64,
    next: i64,
    count: u64,
    max_timestamp: i64,
}

pub(super) struct Preserver {
    source: Cluster,
    pub(super) target: Cluster,
    /// Source partition -> the next offset to copy (its remote partition's
    /// end, as acknowledged).
    positions: BTreeMap<Partition, i64>,
    /// Source partition -> the next offset to fetch: past `positions` by what
    /// is in flight to the target.
    fetched: BTreeMap<Partition, i64>,
    /// Source partition -> where the remote partition will end once every
    /// copy handed to the sender has landed.
    sent_end: BTreeMap<Partition, i64>,
    /// Turns the order partitions are fetched in, so a partition whose next
    /// batch is larger than its share is first, and served whole, in turn.
    round: usize,
    /// Writes the copies to the target on its own thread, while this one
    /// fetches the next.
    sender: Sender,
    progress: HashMap<Partition, Progress>,
    latency: crate::status::Latency,
}

impl Preserver {
    pub(super) fn new(
        cfg: &MirrorConfig,
        flow: &Flow,
        latency: crate::status::Latency,
    ) -> Result<Preserver, MirrorError> {
        let name = flow.name();
        let client = |alias: &str| cfg.client(flow, alias, ClientKind::Consumer);
        Ok(Preserver {
            source: Cluster::new(&flow.source, &client(&flow.source), &format!("{name}|preserve"))?,
            target: Cluster::new(&flow.target, &client(&flow.target), &format!("{name}|preserve"))?,
            positions: BTreeMap::new(),
            fetched: BTreeMap::new(),
            sent_end: BTreeMap::new(),
            round: 0,
            sender: Sender::start(format!("{name}|preserve"), COPY_TRANSACTIONAL_ID, COPY_EXPECTED_END_TAG)?,
            progress: HashMap::new(),
            latency,
        })
    }

    /// Copies the partitions of `topics`, each from its remote partition's end.
    fn assign(
        &mut self,
        topics: &BTreeMap<String, usize>,
        remote_of: &HashMap<String, String>,
    ) -> Result<(), MirrorError> {
        let wanted: Vec<Partition> =
            topics.iter().flat_map(|(t, n)| (0..*n as i32).map(move |p| (t.clone(), p))).collect();
        self.positions.retain(|tp, _| wanted.contains(tp));
        self.fetched.retain(|tp, _| wanted.contains(tp));
        self.sent_end.retain(|tp, _| wanted.contains(tp));
        self.progress.retain(|tp, _| wanted.contains(tp));
        let new: Vec<Partition> = wanted.into_iter().filter(|tp| !self.positions.contains_key(tp)).collect();
        if new.is_empty() {
            return Ok(());
        }
        self.source.refresh(&topics.keys().cloned().collect::<Vec<_>>())?;
        self.target.refresh(&remote_of.values().cloned().collect::<Vec<_>>())?;
        let remote: Vec<TopicPartition> = new.iter().map(|(t, p)| (remote_of[t].clone(), *p)).collect();
        let ends = self.target.list_offsets(&remote, LATEST)?;
        for ((t, p), r) in new.into_iter().zip(remote) {
            let end = ends.get(&r).copied().unwrap_or(0);
            tracing::debug!(topic = %t, partition = p, offset = end, "preserved copy resumes");
            self.positions.insert((t.clone(), p), end);
            self.sent_end.insert((t.clone(), p), end);
            self.fetched.insert((t, p), end);
        }
        Ok(())
    }

    /// Leaders of every partition copied, looked up where unknown.
    fn lookup(&mut self, remote_of: &HashMap<String, String>) -> Result<(), MirrorError> {
        if self.positions.keys().any(|tp| !self.source.knows_leader(tp)) {
            self.source.refresh(&remote_of.keys().cloned().collect::<Vec<_>>())?;
        }
        if self.positions.keys().any(|(t, p)| !self.target.knows_leader(&(remote_of[t].clone(), *p))) {
            self.target.refresh(&remote_of.values().cloned().collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// One fetch from each source leader (while the sender writes what was
    /// fetched before), its copies handed to the sender, and the answers that
    /// have come applied. Returns the records acknowledged and the source
    /// topics whose copies the target refused as not (or no longer) a mirror.
    fn copy(&mut self, remote_of: &HashMap<String, String>) -> Result<(usize, Vec<String>), MirrorError> {
        let copies = self.fetch(remote_of)?;
        self.send(copies)?;
        let (mut copied, mut refused) = (0, Vec::new());
        while let Some(answer) = self.sender.answer() {
            copied += self.apply(answer, &mut refused)?;
        }
        refused.sort();
        refused.dedup();
        Ok((copied, refused))
    }

    /// The copies of one fetch from each source leader.
    fn fetch(&mut self, remote_of: &HashMap<String, String>) -> Result<Vec<Copy>, MirrorError> {
        if self.fetched.is_empty() {
            std::thread::sleep(MAX_WAIT);
            return Ok(Vec::new());
        }
        self.lookup(remote_of)?;
        let mut parts: Vec<(Partition, i64)> = self.fetched.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
        self.round = self.round.wrapping_add(1);
        let turn = self.round % parts.len();
        parts.rotate_left(turn);
        let by_leader = self.source.by_leader(&parts);
        if by_leader.is_empty() {
            std::thread::sleep(MAX_WAIT);
            return Ok(Vec::new());
        }
        let wait = MAX_WAIT / by_leader.len() as u32;
        let mut copies = Vec::new();
        for (node, parts) in by_leader {
            let resp = self.source.fetch(node, &parts, wait, PARTITION_MAX_BYTES)?;
            for t in resp.responses {
                let topic = t.topic.0.to_string();
                for p in t.partitions {
                    let tp = (topic.clone(), p.partition_index);
                    let Some(&from) = self.fetched.get(&tp) else { continue };
                    match p.error_code {
                        0 => {}
                        OFFSET_OUT_OF_RANGE => {
                            self.skip_to_source_start(&tp, from)?;
                            continue;
                        }
                        code if RETRY_AFTER_LOOKUP.contains(&code) => {
                            self.source.refresh(&remote_of.keys().cloned().collect::<Vec<_>>())?;
                            continue;
                        }
                        code => {
                            return Err(kafka(
                                &format!("{topic}-{}", p.partition_index),
                                format!("fetch error code {code}"),
                            ))
                        }
                    }
                    self.progress.entry(tp.clone()).or_default().source_end = p.high_watermark;
                    let Some(records) = p.records else { continue };
                    let remote = (remote_of[&topic].clone(), p.partition_index);
                    let expected = self.sent_end.get(&tp).copied().unwrap_or(from);
                    if let Some(c) = slice_from(tp.clone(), remote, &records, from, expected)? {
                        self.fetched.insert(tp.clone(), c.next);
                        self.sent_end.insert(tp, c.next);
                        copies.push(c);
                    }
                }
            }
        }
        Ok(copies)
    }

    /// The source no longer has `from` (retention or a deletion moved its start
    /// past it): the copy goes on from the source's start, leaving the gap.
    fn skip_to_source_start(&mut self, tp: &Partition, from: i64) -> Result<(), MirrorError> {
        let start = self.source.list_offsets(std::slice::from_ref(tp), EARLIEST)?.get(tp).copied().unwrap_or(from);
        if start <= from {
            return Err(kafka(
                &format!("{}-{}", tp.0, tp.1),
                format!(
                    "offset {from} is out of range on the source, past its end (the source was truncated or recreated)"
                ),
            ));
        }
        tracing::warn!(topic = %tp.0, partition = tp.1, from, to = start, "records gone from the source before they were copied; copy goes on from its start");
        self.fetched.insert(tp.clone(), start);
        if self.positions.get(tp).is_some_and(|p| *p >= from) {
            // Nothing of it in flight: the position moves too.
            self.positions.insert(tp.clone(), start);
        }
        Ok(())
    }

    /// Hands the copies to the sender, a request per remote leader. A remote
    /// partition without a known leader fails the pass (the flow resumes
    /// from the target's ends).
    fn send(&mut self, copies: Vec<Copy>) -> Result<(), MirrorError> {
        let keyed: Vec<(Partition, usize)> = copies.iter().enumerate().map(|(i, c)| (c.remote.clone(), i)).collect();
        let by_leader = self.target.by_leader(&keyed);
        let mut slots: Vec<Option<Copy>> = copies.into_iter().map(Some).collect();
        for (node, group) in by_leader {
            let copies: Vec<Copy> = group.iter().filter_map(|(_, i)| slots[*i].take()).collect();
            let addr =
                self.target.broker_addr(node).ok_or_else(|| kafka("target", format!("no address of broker {node}")))?;
            self.sender.send(Request { addr, copies })?;
        }
        if let Some(c) = slots.into_iter().flatten().next() {
            return Err(kafka(&format!("{}-{}", c.remote.0, c.remote.1), "no leader known on the target"));
        }
        Ok(())
    }

    /// Moves the positions of what an answer says was appended; returns the
    /// records. A topic refused as not a mirror is added to `refused`.
    fn apply(&mut self, answer: Answer, refused: &mut Vec<String>) -> Result<usize, MirrorError> {
        let (copies, resp) = answer?;
        let mut copied = 0;
        {
            let now = now_ms();
            for t in resp.responses {
                for p in t.partition_responses {
                    let remote = (t.name.0.to_string(), p.index);
                    let Some(c) = copies.iter().find(|c| c.remote == remote) else { continue };
                    match p.error_code {
                        0 if self.positions.contains_key(&c.source) => {
                            self.positions.insert(c.source.clone(), c.next);
                            let pr = self.progress.entry(c.source.clone()).or_default();
                            pr.records += c.count;
                            pr.bytes += c.records.len() as u64;
                            pr.last_timestamp = Some(c.max_timestamp);
                            self.latency.record((now - c.max_timestamp).max(0) as f64 / 1000.0);
                            copied += c.count as usize;
                        }
                        // Dropped from the copy meanwhile.
                        0 => {}
                        INVALID_REQUEST => refused.push(c.source.0.clone()),
                        code => {
                            let why = p.error_message.map(|m| m.to_string()).unwrap_or_default();
                            return Err(kafka(
                                &format!("{}-{}", remote.0, remote.1),
                                format!("copy refused ({code}): {why}"),
                            ));
                        }
                    }
                }
            }
        }
        Ok(copied)
    }

    /// Every copied partition's progress since the last call, as status.
    fn take_status(&mut self, remote_of: &HashMap<String, String>) -> Vec<(String, i32, PartitionStatus)> {
        let now = now_ms();
        let mut out = Vec::new();
        for (tp, pos) in &self.positions {
            let pr = self.progress.entry(tp.clone()).or_default();
            let end = pr.source_end.max(*pos);
            let lag_records = end - pos;
            let lag_ms = match pr.last_timestamp {
                Some(ts) if lag_records > 0 => (now - ts).max(0),
                _ => 0,
            };
            let s = PartitionStatus {
                mirrored_offset: *pos,
                source_end: end,
                lag_records,
                lag_ms,
                records: std::mem::take(&mut pr.records),
                bytes: std::mem::take(&mut pr.bytes),
            };
            out.push((remote_of[&tp.0].clone(), tp.1, s));
        }
        out
    }
}

/// The complete batches of a fetch from `from` on, as one copy (a fetch starts
/// at the batch holding `from`, so earlier ones are dropped).
fn slice_from(
    source: Partition,
    remote: Partition,
    records: &Bytes,
    from: i64,
    expected: i64,
) -> Result<Option<Copy>, MirrorError> {
    let batches = complete_batches(records).map_err(|why| kafka(&format!("{}-{}", source.0, source.1), why))?;
    let (mut start, mut end, mut next, mut count, mut max_timestamp) = (0, 0, from, 0u64, -1);
    for b in batches {
        if b.last_offset < from {
            start += b.len;
            end += b.len;
            continue;
        }
        end += b.len;
        next = b.last_offset + 1;
        count += b.records.max(0) as u64;
        max_timestamp = max_timestamp.max(b.max_timestamp);
    }
    Ok((end > start).then(|| Copy {
        source,
        remote,
        records: records.slice(start..end),
        expected,
        next,
        count,
        max_timestamp,
    }))
}

impl FlowRunner {
    /// Preserve mode's `assign`.
    pub(super) fn assign_preserved(&mut self) -> Result<(), MirrorError> {
        let (topics, remote_of) = (&self.topics, &self.remote_of);
        match self.preserve.as_mut() {
            Some(p) => p.assign(topics, remote_of),
            None => Ok(()),
        }
    }

    /// Preserve mode's `copy_batch`: a topic whose copy the target refused is
    /// dropped if it was promoted (an error otherwise).
    pub(super) fn copy_preserved(&mut self) -> Result<usize, MirrorError> {
        let Some(p) = self.preserve.as_mut() else { return Ok(0) };
        let (n, refused) = p.copy(&self.remote_of)?;
        for topic in refused {
            // Already dropped (more of its copies were in flight).
            let Some(remote) = self.remote_of.get(&topic).cloned() else { continue };
            if self.is_mirror_topic(&remote)? {
                return Err(kafka(&remote, "the target refused a copy to this mirror topic"));
            }
            self.drop_promoted(&topic);
        }
        Ok(n)
    }

    /// Whether the remote topic still carries the mirror marker.
    pub(super) fn is_mirror_topic(&self, remote: &str) -> Result<bool, MirrorError> {
        let opts = AdminOptions::new().request_timeout(Some(TIMEOUT));
        let described =
            self.rt.block_on(self.target_admin.describe_configs([&ResourceSpecifier::Topic(remote)], &opts));
        let described = described.map_err(|e| kafka(remote, e))?.pop().ok_or_else(|| kafka(remote, "no answer"))?;
        let described = described.map_err(|e| kafka(remote, e))?;
        Ok(described.get(MIRROR_SOURCE).and_then(|e| e.value.as_deref()).is_some_and(|v| !v.is_empty()))
    }

    /// A promoted topic is no longer copied, by this run or any later one.
    pub(super) fn drop_promoted(&mut self, topic: &str) {
        self.topics.remove(topic);
        self.synced_configs.remove(topic);
        if let Some(remote) = self.remote_of.remove(topic) {
            self.upstream_of.remove(&remote);
            self.status.forget_topic(&self.flow.name(), &remote);
            tracing::info!(flow = %self.flow.name(), topic = %topic, remote_topic = %remote, "mirror topic promoted on the target; no longer copied");
        }
        self.promoted.insert(topic.to_string());
        if let Some(p) = self.preserve.as_mut() {
            p.positions.retain(|(t, _), _| t != topic);
            p.fetched.retain(|(t, _), _| t != topic);
            p.sent_end.retain(|(t, _), _| t != topic);
        }
    }

    /// Preserve mode's `publish_status`.
    pub(super) fn publish_preserved(&mut self) {
        let name = self.flow.name();
        let Some(p) = self.preserve.as_mut() else { return };
        for (remote, partition, s) in p.take_status(&self.remote_of) {
            self.status.update_partition(&name, &remote, partition, s);
        }
    }
}
