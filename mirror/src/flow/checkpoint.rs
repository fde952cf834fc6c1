//! Consumer-group checkpoints: every `refresh.groups.interval.seconds` the
//! source's groups that pass the group filter are listed; every
//! `emit.checkpoints.interval.seconds` their committed offsets are translated to
//! the target's offsets and written as MM2 `Checkpoint` records to
//! `{source}.checkpoints.internal` on the target; with `sync.group.offsets.enabled`,
//! every `sync.group.offsets.interval.seconds` the last translation is committed
//! to the target group, as MM2 does it: only while that group is empty (no
//! consumer of it runs on the target) and never backwards.
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

impl FlowRunner {
    /// The end of what has been mirrored into a remote partition: as of the last
    /// offset syncs written in this run (so the bound and the syncs agree; live
    /// acknowledgements may be ahead of a sync still due), else the partition's
    /// end on the target.
    fn mirrored_end(&mut self, remote: &str, partition: i32) -> Result<Option<i64>, MirrorError> {
        if let Some(end) = self.synced_end.get(&(remote.to_string(), partition)) {
            return Ok(Some(*end));
        }
        let group = position_group(&self.flow);
        let client = self.group_client(true, &group)?;
        Ok(client.fetch_watermarks(remote, partition, TIMEOUT).ok().map(|(_, high)| high))
    }

    /// A consumer of `group` on the source (`target` false) or the target, used
    /// to read and write the group's offsets without joining it.
    pub(super) fn group_client(&mut self, target: bool, group: &str) -> Result<&BaseConsumer, MirrorError> {
        let key = (target, group.to_string());
        if !self.group_clients.contains_key(&key) {
            let alias = if target { &self.flow.target } else { &self.flow.source };
            let mut c = self.cfg.client(&self.flow, alias, ClientKind::Consumer);
            c.insert("group.id".into(), group.to_string());
            let consumer: BaseConsumer = rd_config(&c, &format!("{}|groups", self.flow.name()))
                .create()
                .map_err(|e| kafka("group client", e))?;
            self.group_clients.insert(key.clone(), consumer);
        }
        Ok(&self.group_clients[&key])
    }

    pub(super) fn refresh_groups(&mut self) -> Result<(), MirrorError> {
        let list = self.consumer.fetch_group_list(None, TIMEOUT).map_err(|e| kafka("source groups", e))?;
        self.groups = list
            .groups()
            .iter()
            .map(|g| g.name().to_string())
            .filter(|g| self.flow.groups.matches(g) && !g.starts_with("__weir-mirror"))
            .collect();
        self.translated.retain(|g, _| self.groups.contains(g));
        self.status.retain_groups(&self.flow.name(), |g| self.groups.iter().any(|x| x == g));
        // A client per group is a librdkafka instance: drop those of groups gone.
        let keep = position_group(&self.flow);
        self.group_clients.retain(|(_, g), _| *g == keep || self.groups.contains(g));
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
        let mut ends: HashMap<Partition, Option<i64>> = HashMap::new();
        for group in self.groups.clone() {
            let read_at = Instant::now();
            // One group whose offsets cannot be read is skipped this time, as MM2
            // skips it; the flow goes on with the others.
            let committed = match self.group_client(false, &group)?.committed_offsets(partitions.clone(), TIMEOUT) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(flow = %self.flow.name(), group, error = %e, "source group's offsets not read; tried again next time");
                    continue;
                }
            };
            let mut translated = Vec::new();
            let mut shown = Vec::new();
            for e in committed.elements() {
                let Offset::Offset(upstream) = e.offset() else { continue };
                let Some(remote) = self.remote_of.get(e.topic()).cloned() else { continue };
                // Preserve mode keeps offsets: nothing to translate.
                let exact = match self.preserve {
                    Some(_) => upstream,
                    None => match self.syncs.translate(&remote, e.partition(), upstream) {
                        Some(exact) => exact,
                        None => continue,
                    },
                };
                let key = (remote.clone(), e.partition());
                let end = match ends.get(&key) {
                    Some(end) => *end,
                    None => {
                        let end = self.mirrored_end(&remote, e.partition())?;
                        ends.insert(key, end);
                        end
                    }
                };
                let Some(end) = end else { continue };
                let downstream = exact.min(end);
                let cp = Checkpoint {
                    group: group.clone(),
                    topic: remote.clone(),
                    partition: e.partition(),
                    upstream_offset: upstream,
                    downstream_offset: downstream,
                    metadata: e.metadata().to_string(),
                };
                let (k, v) = (cp.key(), cp.value());
                let rec: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(&topic, NO_UPSTREAM)
                    .partition(0)
                    .key(k.as_slice())
                    .payload(v.as_slice());
                self.in_transaction = true;
                self.producer.send(rec).map_err(|(e, _)| kafka(&topic, e))?;
                shown.push(crate::status::CheckpointedPartition {
                    topic: remote.clone(),
                    partition: e.partition(),
                    upstream_offset: upstream,
                    downstream_offset: downstream,
                });
                translated.push((remote, e.partition(), downstream));
            }
            if !translated.is_empty() {
                flush(&self.producer).map_err(|e| kafka(&topic, e))?;
                latency.record(read_at.elapsed().as_secs_f64());
                let at_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let cp = crate::status::GroupCheckpoint { at_ms, partitions: shown };
                self.status.checkpointed(&self.flow.name(), &group, cp);
                self.translated.insert(group, translated);
            }
        }
        Ok(())
    }

    /// Commits the last translated offsets of each group to the target group.
    /// One group's failure is that group's, not the flow's, as in MM2: a
    /// consumer group of the new protocol (KIP-848) in use on the target, which
    /// the classic DescribeGroups librdkafka asks does not show as active,
    /// refuses the commit, and is synced once its members are gone.
    pub(super) fn sync_groups(&mut self) -> Result<(), MirrorError> {
        let translated = std::mem::take(&mut self.translated);
        for (group, offsets) in &translated {
            if let Err(e) = self.sync_group(group, offsets) {
                tracing::warn!(flow = %self.flow.name(), group, error = %e, "target group's offsets not synced; tried again next time");
            }
        }
        self.translated = translated;
        Ok(())
    }

    /// Commits translated offsets to the target group while it is empty, never
    /// moving one back.
    fn sync_group(&mut self, group: &str, translated: &[(String, i32, i64)]) -> Result<(), MirrorError> {
        let flow = self.flow.name();
        let listed = self.group_client(true, group)?.fetch_group_list(Some(group), TIMEOUT);
        let active = listed
            .map(|l| l.groups().iter().any(|g| g.name() == group && !matches!(g.state(), "Empty" | "Dead" | "")))
            .map_err(|e| kafka(&format!("target group {group}"), e))?;
        if active {
            return Ok(());
        }
        let mut wanted = TopicPartitionList::new();
        for (remote, partition, _) in translated {
            wanted.add_partition(remote, *partition);
        }
        let client = self.group_client(true, group)?;
        let current = client.committed_offsets(wanted, TIMEOUT).map_err(|e| kafka(group, e))?;
        let mut commit = TopicPartitionList::new();
        for (remote, partition, want) in translated {
            let now = current.find_partition(remote, *partition).map(|c| c.offset());
            if !matches!(now, Some(Offset::Offset(have)) if have >= *want) {
                commit.add_partition_offset(remote, *partition, Offset::Offset(*want)).map_err(|e| kafka(group, e))?;
            }
        }
        if commit.count() == 0 {
            return Ok(());
        }
        tracing::debug!(flow = %flow, group, partitions = commit.count(), "group offsets synced");
        client.commit(&commit, rdkafka::consumer::CommitMode::Sync).map_err(|e| kafka(group, e))
    }
}
