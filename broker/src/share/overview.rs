//! What the console and the metrics exporter see of share groups, in the shape
//! of consumer groups' overviews (`group::overview`), so one list shows every
//! kind of group: type `share`, protocol type `share`, assignor `simple`, the
//! group epoch, members with their assignments by topic name, and per
//! share-partition its start offset (SPSO) where a consumer group shows its
//! committed offset. A share-partition's lag is what is left to deliver: the
//! high watermark minus the start (at least the log start) minus the records in
//! flight from there on whose delivery is over (acknowledged or archived), as
//! Kafka computes it (KIP-1226).

use uuid::Uuid;

use super::ShareCoordinator;
use crate::group::overview::{GroupOverview, MemberOverview, PartitionLag};

/// One share-partition of a group: its start, and of its records in flight how
/// many are held by members and how many are finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareProgress {
    pub topic_id: Uuid,
    pub partition: i32,
    pub start: i64,
    pub acquired: usize,
    pub finished: usize,
}

impl ShareCoordinator {
    /// Every share-partition of `group`, by topic id and partition.
    pub fn progress(&self, group: &str) -> Vec<ShareProgress> {
        let st = self.state.lock();
        let Some(gp) = st.parts.get(group) else { return Vec::new() };
        let mut out: Vec<ShareProgress> = gp
            .iter()
            .map(|(&(topic_id, partition), sp)| {
                let sp = sp.lock();
                ShareProgress {
                    topic_id,
                    partition,
                    start: sp.start(),
                    acquired: sp.acquired(),
                    finished: sp.finished(),
                }
            })
            .collect();
        out.sort_by_key(|p| (p.topic_id, p.partition));
        out
    }

    /// How many of a share-partition's finished records are at `from` or later.
    pub fn finished_since(&self, group: &str, topic_id: Uuid, partition: i32, from: i64) -> Option<usize> {
        let st = self.state.lock();
        let finished = st.part(group, topic_id, partition)?.lock().finished_since(from);
        Some(finished)
    }
}

impl crate::BrokerHandle {
    /// Every share group, by id.
    pub fn share_overviews(&self) -> Vec<GroupOverview> {
        let shares = self.shares();
        shares.list().into_iter().filter_map(|(id, _)| self.share_overview(&id)).collect()
    }

    /// One share group's overview, lag computed against the high watermarks now.
    pub fn share_overview(&self, group: &str) -> Option<GroupOverview> {
        let d = self.shares().describe(group)?;
        let name = |id: &Uuid| self.topics().by_id(id).map(|t| t.name.clone());
        let members = d
            .members
            .iter()
            .map(|(id, m)| MemberOverview {
                member_id: id.clone(),
                instance_id: None,
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                assignment: m
                    .assignment
                    .iter()
                    .filter(|(_, ps)| !ps.is_empty())
                    .filter_map(|(t, ps)| Some((name(t)?, ps.clone())))
                    .collect(),
            })
            .collect();
        let mut offsets: Vec<PartitionLag> = self
            .shares()
            .progress(group)
            .into_iter()
            .filter_map(|p| {
                // A share-partition of a topic deleted since the coordinator's
                // last tick (which drops it) has no name any more: not shown.
                let topic = name(&p.topic_id)?;
                let log = self.partitions().get(&topic, p.partition);
                let log_end = log.as_ref().map(|l| l.high_watermark());
                // Records retention removed are not left to deliver, though the
                // start moves past them only at the next fetch; nor are those
                // finished of the rest.
                let lag = log.map(|l| {
                    let from = p.start.max(l.log_start_offset());
                    let finished = if from > p.start {
                        self.shares().finished_since(group, p.topic_id, p.partition, from).unwrap_or(0)
                    } else {
                        p.finished
                    };
                    (l.high_watermark() - from - finished as i64).max(0)
                });
                Some(PartitionLag { topic, partition: p.partition, committed: p.start, log_end, lag })
            })
            .collect();
        offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Some(GroupOverview {
            group_id: d.group,
            group_type: "share",
            state: d.state,
            protocol_type: "share".into(),
            protocol: "simple".into(),
            epoch: d.epoch,
            members,
            offsets,
        })
    }

    /// Every group of every kind (classic, consumer, share), by id.
    pub fn group_overviews(&self) -> Vec<GroupOverview> {
        let mut all = self.groups().overviews();
        all.extend(self.share_overviews());
        all.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        all
    }

    /// One group of any kind (a share group first, as the console's delete
    /// decides by it).
    pub fn group_overview(&self, group: &str) -> Option<GroupOverview> {
        if self.shares().is_share_group(group) {
            return self.share_overview(group);
        }
        self.groups().overview(group)
    }
}
