//! Consumer-group checkpoints: every `refresh.groups.interval.seconds` the
//! source's groups that pass the group filter are listed; every
//! `emit.checkpoints.interval.seconds` their committed offsets are translated to
//! the target's offsets and written as MM2 `Checkpoint` records to
//! `{source}.checkpoints.internal` on the target, each partition's only when it
//! changed as MM2 decides (the source group moved back, or the translation
//! forward); the last one of each is kept (MM2's checkpoint store). With
//! `sync.group.offsets.enabled`, every `sync.group.offsets.interval.seconds`
//! those are committed to the target group, with the source commit's metadata,
//! as MM2 does it: only while that group is empty (no consumer of it runs on
//! the target) and never backwards. A new run writes each once again.
//!
//! In preserve mode offsets are the source's: a checkpoint's downstream offset
//! is its upstream one (bounded by what is mirrored, as below).
//!
//! Translation is exact where MM2's is lossy: offset syncs are written whenever
//! the distance between upstream and downstream offsets changes, so from the
//! last sync at or below a group's offset that distance holds, and the group's
//! next record on the target is found precisely. A translated offset is never
//! past what has been mirrored, so a group that read ahead of the mirror is
//! placed at the mirror's end and reads the rest as it arrives.

use super::*;

use crate::formats::Checkpoint;
use crate::group_offsets;

impl FlowRunner {
    /// The end of what has been mirrored into a remote partition: as of the last
    /// offset syncs written in this run (so the bound and the syncs agree; live
    /// acknowledgements may be ahead of a sync still due), else the partition's
    /// end on the target.
    fn mirrored_end(&mut self, remote: &str, partition: i32) -> Result<Option<i64>, MirrorError> {
        if let Some(end) = self.synced_end.get(&(remote.to_string(), partition)) {
            return Ok(Some(*end));
        }
        let client = self.position_client()?;
        Ok(client.fetch_watermarks(remote, partition, TIMEOUT).ok().map(|(_, high)| high))
    }

    /// A consumer of the flow's position group on the target, never joining
    /// it: reads the exactly-once position (stable offsets, as a read-committed
    /// consumer asks) and the target's watermarks and metadata. Other groups'
    /// offsets go through the admin clients ([`crate::group_offsets`]).
    pub(super) fn position_client(&mut self) -> Result<&BaseConsumer, MirrorError> {
        if self.position_client.is_none() {
            let mut c = self.cfg.client(&self.flow, &self.flow.target, ClientKind::Consumer);
            c.insert("group.id".into(), position_group(&self.flow));
            let consumer: BaseConsumer = rd_config(&c, &format!("{}|position", self.flow.name()))
                .create()
                .map_err(|e| kafka("position client", e))?;
            self.position_client = Some(consumer);
        }
        Ok(self.position_client.as_ref().expect("set above"))
    }

    pub(super) fn refresh_groups(&mut self) -> Result<(), MirrorError> {
        let list = self.consumer.fetch_group_list(None, TIMEOUT).map_err(|e| kafka("source groups", e))?;
        self.groups = list
            .groups()
            .iter()
            .map(|g| g.name().to_string())
            .filter(|g| self.flow.groups.matches(g) && !g.starts_with("__weir-mirror"))
            .collect();
        self.checkpoints.retain(|g, _| self.groups.contains(g));
        self.status.retain_groups(&self.flow.name(), |g| self.groups.iter().any(|x| x == g));
        Ok(())
    }

    pub(super) fn emit_checkpoints(&mut self) -> Result<(), MirrorError> {
        let topic = self.flow.policy.checkpoints_topic(&self.flow.source);
        let latency = metrics::histogram!("weir_mirror_checkpoint_latency_seconds", "flow" => self.flow.name());
        let mut partitions = TopicPartitionList::new();
        for (t, n) in &self.topics {
            for p in 0..*n as i32 {
                partitions.add_partition(t, p);
            }
        }
        // Nothing mirrored, nothing to checkpoint (librdkafka refuses an empty
        // partition list).
        if partitions.count() == 0 {
            return Ok(());
        }
        let mut ends: HashMap<Partition, Option<i64>> = HashMap::new();
        for group in self.groups.clone() {
            let read_at = Instant::now();
            // One group whose offsets cannot be read is skipped this time, as MM2
            // skips it; the flow goes on with the others.
            let committed = match group_offsets::list(&self.source_admin, &group, &partitions, TIMEOUT) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(flow = %self.flow.name(), group, error = %e, "source group's offsets not read; tried again next time");
                    continue;
                }
            };
            let mut emitted = Vec::new();
            for e in committed {
                let Some(upstream) = e.offset else { continue };
                let Some(remote) = self.remote_of.get(&e.topic).cloned() else { continue };
                // Preserve mode keeps offsets: nothing to translate.
                let exact = match self.preserve {
                    Some(_) => upstream,
                    None => match self.syncs.translate(&remote, e.partition, upstream) {
                        Some(exact) => exact,
                        None => continue,
                    },
                };
                let key = (remote.clone(), e.partition);
                let end = match ends.get(&key) {
                    Some(end) => *end,
                    None => {
                        let end = self.mirrored_end(&remote, e.partition)?;
                        ends.insert(key.clone(), end);
                        end
                    }
                };
                let Some(end) = end else { continue };
                let last = Last { upstream, downstream: exact.min(end), metadata: e.metadata };
                let before = self.checkpoints.get(&group).and_then(|g| g.get(&key));
                if before.is_some_and(|b| !last.supersedes(b)) {
                    continue;
                }
                let cp = Checkpoint {
                    group: group.clone(),
                    topic: remote.clone(),
                    partition: e.partition,
                    upstream_offset: last.upstream,
                    downstream_offset: last.downstream,
                    metadata: last.metadata.clone(),
                };
                let (k, v) = (cp.key(), cp.value());
                let rec: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(&topic, NO_UPSTREAM)
                    .partition(0)
                    .key(k.as_slice())
                    .payload(v.as_slice());
                self.in_transaction = true;
                self.producer.send(rec).map_err(|(e, _)| kafka(&topic, e))?;
                emitted.push((key, last));
            }
            let store = self.checkpoints.entry(group.clone()).or_default();
            // Partitions no longer mirrored are no longer the group's.
            store.retain(|(remote, _), _| self.upstream_of.contains_key(remote));
            if emitted.is_empty() {
                continue;
            }
            flush(&self.producer).map_err(|e| kafka(&topic, e))?;
            latency.record(read_at.elapsed().as_secs_f64());
            store.extend(emitted);
            let at_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let partitions = store
                .iter()
                .map(|((topic, partition), l)| crate::status::CheckpointedPartition {
                    topic: topic.clone(),
                    partition: *partition,
                    upstream_offset: l.upstream,
                    downstream_offset: l.downstream,
                })
                .collect();
            self.status.checkpointed(&self.flow.name(), &group, crate::status::GroupCheckpoint { at_ms, partitions });
        }
        Ok(())
    }

    /// Commits the last checkpoint of each group to the target group.
    /// One group's failure is that group's, not the flow's, as in MM2: a
    /// consumer group of the new protocol (KIP-848) in use on the target, which
    /// the classic DescribeGroups librdkafka asks does not show as active,
    /// refuses the commit, and is synced once its members are gone.
    pub(super) fn sync_groups(&mut self) -> Result<(), MirrorError> {
        let checkpoints = std::mem::take(&mut self.checkpoints);
        for (group, last) in &checkpoints {
            if let Err(e) = self.sync_group(group, last) {
                tracing::warn!(flow = %self.flow.name(), group, error = %e, "target group's offsets not synced; tried again next time");
            }
        }
        self.checkpoints = checkpoints;
        Ok(())
    }

    /// Commits checkpointed offsets, with the source commit's metadata (as
    /// MM2's `Checkpoint.offsetAndMetadata`), to the target group while it is
    /// empty, never moving one back.
    fn sync_group(&mut self, group: &str, last: &BTreeMap<Partition, Last>) -> Result<(), MirrorError> {
        if last.is_empty() {
            return Ok(());
        }
        let flow = self.flow.name();
        let listed = self.target_admin.inner().fetch_group_list(Some(group), TIMEOUT);
        let active = listed
            .map(|l| l.groups().iter().any(|g| g.name() == group && !matches!(g.state(), "Empty" | "Dead" | "")))
            .map_err(|e| kafka(&format!("target group {group}"), e))?;
        if active {
            return Ok(());
        }
        let mut wanted = TopicPartitionList::new();
        for (remote, partition) in last.keys() {
            wanted.add_partition(remote, *partition);
        }
        let current = group_offsets::list(&self.target_admin, group, &wanted, TIMEOUT)?;
        let mut commit = TopicPartitionList::new();
        for ((remote, partition), l) in last {
            let now = current.iter().find(|c| c.topic == *remote && c.partition == *partition).and_then(|c| c.offset);
            if now.is_none_or(|have| have < l.downstream) {
                let mut e = commit.add_partition(remote, *partition);
                e.set_offset(Offset::Offset(l.downstream)).map_err(|e| kafka(group, e))?;
                e.set_metadata(&l.metadata);
            }
        }
        if commit.count() == 0 {
            return Ok(());
        }
        tracing::debug!(flow = %flow, group, partitions = commit.count(), "group offsets synced");
        group_offsets::alter(&self.target_admin, group, &commit, TIMEOUT)
    }
}

/// A group's last checkpoint of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Last {
    pub upstream: i64,
    pub downstream: i64,
    /// The source commit's metadata.
    pub metadata: String,
}

impl Last {
    /// Whether this checkpoint is written after `before`, as MM2 decides
    /// (`checkpointIsMoreRecent`): when the source group moved back, or the
    /// translation moved forward. A repeat is not written, nor one that would
    /// move the target back while the source did not.
    fn supersedes(&self, before: &Last) -> bool {
        self.upstream < before.upstream || self.downstream > before.downstream
    }
}

#[cfg(test)]
mod tests {
    use super::Last;

    fn at(upstream: i64, downstream: i64) -> Last {
        Last { upstream, downstream, metadata: String::new() }
    }

    #[test]
    fn checkpoints_are_written_as_mm2_writes_them() {
        let before = at(100, 90);
        assert!(!at(100, 90).supersedes(&before), "a repeat");
        assert!(at(120, 95).supersedes(&before), "moved forward");
        assert!(at(50, 40).supersedes(&before), "the source group rewound");
        // A sync dropped since: the same upstream translates lower.
        assert!(!at(100, 85).supersedes(&before), "the target is not moved back");
        assert!(!at(105, 90).supersedes(&before), "moved on the source but not on the target");
    }
}
