//! What the console and the metrics exporter see of consumer groups: each group's
//! kind, state, members with their assignments (decoded: topic -> partitions), and
//! committed offsets with the lag behind each partition's log end offset.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Buf;

use super::state::{Group, GroupState};
use super::Coordinator;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberOverview {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub assignment: BTreeMap<String, BTreeSet<i32>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// Log end offset now; None when the partition no longer exists.
    pub log_end: Option<i64>,
    /// `log_end - committed`, never negative; None when the partition is gone.
    pub lag: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupOverview {
    pub group_id: String,
    /// `classic` or `consumer`.
    pub group_type: &'static str,
    pub state: &'static str,
    pub protocol_type: String,
    /// Classic: the chosen assignment protocol; consumer groups: the assignor.
    pub protocol: String,
    /// Classic: the generation; consumer groups: the group epoch.
    pub epoch: i32,
    pub members: Vec<MemberOverview>,
    pub offsets: Vec<PartitionLag>,
}

impl GroupOverview {
    pub fn total_lag(&self) -> i64 {
        self.offsets.iter().filter_map(|o| o.lag).sum()
    }
}

/// Decodes a ConsumerProtocolAssignment (any version: later versions only append
/// fields). Opaque or malformed bytes decode to nothing.
pub fn decode_consumer_assignment(mut b: &[u8]) -> BTreeMap<String, BTreeSet<i32>> {
    let mut out = BTreeMap::new();
    let mut parse = || -> Option<()> {
        if b.remaining() < 6 {
            return None;
        }
        let _version = b.get_i16();
        let topics = b.get_i32();
        for _ in 0..topics.max(0) {
            if b.remaining() < 2 {
                return None;
            }
            let len = b.get_i16().max(0) as usize;
            if b.remaining() < len + 4 {
                return None;
            }
            let topic = String::from_utf8(b[..len].to_vec()).ok()?;
            b.advance(len);
            let n = b.get_i32().max(0) as usize;
            if b.remaining() < n * 4 {
                return None;
            }
            let parts: BTreeSet<i32> = (0..n).map(|_| b.get_i32()).collect();
            out.insert(topic, parts);
        }
        Some(())
    };
    if parse().is_none() {
        out.clear();
    }
    out
}

impl Coordinator {
    /// Every live group, with lag computed against the partitions' high watermarks
    /// as they are now.
    pub fn overviews(&self) -> Vec<GroupOverview> {
        let groups = self.store.lock();
        let mut out: Vec<GroupOverview> =
            groups.values().filter(|g| g.state != GroupState::Dead).map(|g| self.overview_of(g)).collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// One live group's overview (lag computed for its partitions only).
    pub fn overview(&self, group: &str) -> Option<GroupOverview> {
        let groups = self.store.lock();
        groups.get(group).filter(|g| g.state != GroupState::Dead).map(|g| self.overview_of(g))
    }

    fn overview_of(&self, g: &Group) -> GroupOverview {
        let members = match &g.consumer {
            Some(cg) => cg
                .members
                .values()
                .map(|m| MemberOverview {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    assignment: m
                        .assigned
                        .iter()
                        .filter(|(_, ps)| !ps.is_empty())
                        .map(|(id, ps)| {
                            let name = cg.topics.get(id).map(|(n, _)| n.clone()).unwrap_or_default();
                            (name, ps.clone())
                        })
                        .collect(),
                })
                .collect(),
            None => g
                .members
                .values()
                .map(|m| MemberOverview {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    assignment: if g.protocol_type.as_deref() == Some("consumer") {
                        decode_consumer_assignment(&m.assignment)
                    } else {
                        BTreeMap::new()
                    },
                })
                .collect(),
        };
        let offsets = g
            .offsets
            .iter()
            .map(|((topic, partition), v)| {
                let log_end = self.partitions.get(topic, *partition).map(|p| p.high_watermark());
                PartitionLag {
                    topic: topic.clone(),
                    partition: *partition,
                    committed: v.offset,
                    log_end,
                    // The committed offset is the client's word (i64::MIN is valid input).
                    lag: log_end.map(|e| e.saturating_sub(v.offset).max(0)),
                }
            })
            .collect();
        let (protocol, epoch) = match &g.consumer {
            Some(cg) => (cg.assignor.clone(), cg.epoch),
            None => (g.protocol.clone().unwrap_or_default(), g.generation),
        };
        GroupOverview {
            group_id: g.id.clone(),
            group_type: g.group_type(),
            state: g.state_name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol,
            epoch,
            members,
            offsets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn decodes_consumer_protocol_assignments() {
        let mut b = bytes::BytesMut::new();
        b.put_i16(1);
        b.put_i32(1);
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(2);
        b.put_i32(0);
        b.put_i32(3);
        b.put_i32(-1); // user data
        let a = decode_consumer_assignment(&b);
        assert_eq!(a["t"], [0, 3].into());
        assert!(decode_consumer_assignment(&b[..9]).is_empty(), "truncated");
        assert!(decode_consumer_assignment(b"").is_empty());
    }
}
