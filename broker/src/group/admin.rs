//! What admin tools ask of groups: ListGroups, DescribeGroups, DeleteGroups.

use bytes::Bytes;

use super::records::Key;
use super::state::GroupState;
use super::Coordinator;
use crate::error::GroupError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    /// Kafka's state name (`Stable`, `Empty`, `Reconciling`, ...).
    pub state: &'static str,
    /// `classic`, `consumer` or `share`.
    pub group_type: &'static str,
}

pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

pub struct Description {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

impl Coordinator {
    /// Every live group, by id.
    pub fn list(&self) -> Vec<ListedGroup> {
        let groups = self.store.lock();
        let mut out: Vec<ListedGroup> = groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state_name(),
                group_type: g.group_type(),
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    pub fn is_consumer_group(&self, group: &str) -> bool {
        self.store.lock().get(group).is_some_and(|g| g.consumer.is_some())
    }

    /// A classic group's description; None for unknown and for consumer groups.
    pub fn describe(&self, group: &str) -> Option<Description> {
        let groups = self.store.lock();
        let g = groups.get(group).filter(|g| g.consumer.is_none())?;
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(Description {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable { protocol.clone() } else { String::new() },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata_for(&protocol) } else { Bytes::new() },
                    assignment: if stable { m.assignment.clone() } else { Bytes::new() },
                })
                .collect(),
        })
    }

    /// DeleteGroups: only groups without members; writes tombstones for its offsets
    /// and its metadata.
    pub async fn delete_group(&self, group: &str) -> Result<(), GroupError> {
        // The group's turn: no consumer-protocol member joins between the check and
        // the tombstones (while loading, the classic-metadata tombstone drops the
        // consumer-group records written before it).
        let _turn = self.consumer_turn(group).await;
        let keys: Vec<Key> = {
            let groups = self.store.lock();
            let Some(g) = groups.get(group) else {
                return Err(GroupError::GroupIdNotFound(format!("Group {group} does not exist.")));
            };
            if g.has_members() {
                return Err(GroupError::NonEmptyGroup);
            }
            let mut keys: Vec<Key> = g
                .offsets
                .keys()
                .map(|(t, p)| Key::Offset { group: group.to_string(), topic: t.clone(), partition: *p })
                .collect();
            keys.push(Key::Group { group: group.to_string() });
            keys
        };
        self.write(group, keys.into_iter().map(|k| (k, None)).collect())
            .await
            .map_err(|_| GroupError::CoordinatorNotAvailable)?;
        // An empty consumer group's own records go too.
        self.persist_consumer_in_turn(group, None).await.map_err(|_| GroupError::CoordinatorNotAvailable)?;
        tracing::info!(%group, "group deleted");
        Ok(())
    }
}
