//! Consumer-group checkpoints: every `emit.checkpoints.interval.seconds`, the
//! committed offsets of the source's groups that pass the group filter are
//! translated to the target's offsets and written as MM2 `Checkpoint` records to
//! `{source}.checkpoints.internal` on the target; with `sync.group.offsets.enabled`
//! they are also committed to the target group, as MM2 does it: only while that
//! group is empty (no consumer of it runs on the target) and never backwards.
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
    /// The target offset of a group's source offset on a mirrored partition.
    fn translate(&self, remote: &str, partition: i32, upstream: i64) -> Option<i64> {
        let key = (remote.to_string(), partition);
        let (&up, &down) = self.syncs.get(&key)?.range(..=upstream).next_back()?;
        let (_, last_down) = self.delivered.lock().unwrap_or_else(|p| p.into_inner()).acked(remote, partition)?;
        Some((down + (upstream - up)).min(last_down + 1))
    }

    /// A consumer of `group` on the source (`target` false) or the target, used
    /// to read and write the group's offsets without joining it.
    fn group_client(&mut self, target: bool, group: &str) -> Result<&BaseConsumer, MirrorError> {
        let key = (target, group.to_string());
        if !self.group_clients.contains_key(&key) {
            let alias = if target { &self.flow.target } else { &self.flow.source };
            let mut c = self.cfg.client(&self.flow, alias, ClientKind::Consumer);
            c.insert("group.id".into(), group.to_string());
            let consumer: BaseConsumer = rd_config(&c, &format!("{}|checkpoints", self.flow.name()))
                .create()
                .map_err(|e| kafka("group client", e))?;
            self.group_clients.insert(key.clone(), consumer);
        }
        Ok(&self.group_clients[&key])
    }

    pub(super) fn emit_checkpoints(&mut self) -> Result<(), MirrorError> {
        let list = self.consumer.fetch_group_list(None, TIMEOUT).map_err(|e| kafka("source groups", e))?;
        let groups: Vec<String> = list
            .groups()
            .iter()
            .map(|g| g.name().to_string())
            .filter(|g| self.flow.groups.matches(g) && !g.starts_with("__weir-mirror"))
            .collect();
        let topic = self.flow.policy.checkpoints_topic(&self.flow.source);
        let mut partitions = TopicPartitionList::new();
        for (t, n) in &self.topics {
            for p in 0..*n as i32 {
                partitions.add_partition(t, p);
            }
        }
        for group in groups {
            let committed = self
                .group_client(false, &group)?
                .committed_offsets(partitions.clone(), TIMEOUT)
                .map_err(|e| kafka(&format!("offsets of group {group}"), e))?;
            let mut translated = TopicPartitionList::new();
            for e in committed.elements() {
                let Offset::Offset(upstream) = e.offset() else { continue };
                let Some(remote) = self.remote_of.get(e.topic()).cloned() else { continue };
                let Some(downstream) = self.translate(&remote, e.partition(), upstream) else { continue };
                let cp = Checkpoint {
                    group: group.clone(),
                    topic: remote.clone(),
                    partition: e.partition(),
                    upstream_offset: upstream,
                    downstream_offset: downstream,
                    metadata: e.metadata().to_string(),
                };
                let (k, v) = (cp.key(), cp.value());
                let rec: BaseRecord<'_, [u8], [u8], Box<i64>> = BaseRecord::with_opaque_to(&topic, Box::new(-1))
                    .partition(0)
                    .key(k.as_slice())
                    .payload(v.as_slice());
                self.producer.send(rec).map_err(|(e, _)| kafka(&topic, e))?;
                translated
                    .add_partition_offset(&remote, e.partition(), Offset::Offset(downstream))
                    .map_err(|e| kafka("checkpoint", e))?;
            }
            if self.flow.sync_group_offsets.is_some() && translated.count() > 0 {
                self.sync_group(&group, translated)?;
            }
        }
        self.producer.flush(TIMEOUT).map_err(|e| kafka(&topic, e))
    }

    /// Commits translated offsets to the target group while it is empty, never
    /// moving one back.
    fn sync_group(&mut self, group: &str, translated: TopicPartitionList) -> Result<(), MirrorError> {
        let flow = self.flow.name();
        let listed = self.group_client(true, group)?.fetch_group_list(Some(group), TIMEOUT);
        let active = listed
            .map(|l| l.groups().iter().any(|g| g.name() == group && !matches!(g.state(), "Empty" | "Dead" | "")))
            .map_err(|e| kafka(&format!("target group {group}"), e))?;
        if active {
            return Ok(());
        }
        let client = self.group_client(true, group)?;
        let current = client.committed_offsets(translated.clone(), TIMEOUT).map_err(|e| kafka(group, e))?;
        let mut commit = TopicPartitionList::new();
        for e in translated.elements() {
            let Offset::Offset(want) = e.offset() else { continue };
            let now = current.find_partition(e.topic(), e.partition()).map(|c| c.offset());
            if !matches!(now, Some(Offset::Offset(have)) if have >= want) {
                commit
                    .add_partition_offset(e.topic(), e.partition(), Offset::Offset(want))
                    .map_err(|e| kafka(group, e))?;
            }
        }
        if commit.count() == 0 {
            return Ok(());
        }
        tracing::debug!(flow = %flow, group, partitions = commit.count(), "group offsets synced");
        client.commit(&commit, rdkafka::consumer::CommitMode::Sync).map_err(|e| kafka(group, e))
    }
}
