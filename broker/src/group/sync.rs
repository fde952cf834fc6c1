//! SyncGroup: the leader hands in the assignment of the generation that completed
//! its join phase; every member parks until then and gets its part. The group is
//! Stable once the leader's assignment is in, and its metadata is persisted before
//! anyone is answered.

use std::collections::BTreeMap;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::state::{GroupState, SyncResult};
use super::{unknown_member, Coordinator};
use crate::error::GroupError;

impl Coordinator {
    pub async fn sync(
        &self,
        group: &str,
        generation: i32,
        member: &str,
        instance_id: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        let err = SyncResult::error;
        let (rx, persist) = {
            let mut groups = self.store.lock();
            let Some(g) = groups.get_mut(group) else { return err(unknown_member(member)) };
            if g.consumer.as_ref().is_some_and(|cg| !cg.members.is_empty()) {
                return self.classic_sync_consumer(g, generation, member, instance_id, self.now());
            }
            if let Err(e) = super::membership::validate_classic_member(g, member, instance_id) {
                return err(e);
            }
            if !g.members.contains_key(member) {
                return err(unknown_member(member));
            }
            if generation != g.generation {
                return err(GroupError::IllegalGeneration);
            }
            // SyncGroup counts as a heartbeat (as in Kafka): the session restarts now,
            // not at the end of the join phase, however long the leader took to assign.
            let now = self.now();
            g.members.get_mut(member).expect("member").last_heartbeat = now;
            let m = &g.members[member];
            match g.state {
                GroupState::PreparingRebalance => return err(GroupError::RebalanceInProgress),
                GroupState::Stable => {
                    return SyncResult {
                        error: None,
                        protocol_type: g.protocol_type.clone(),
                        protocol: g.protocol.clone(),
                        assignment: m.assignment.clone(),
                    }
                }
                GroupState::Empty | GroupState::Dead => return err(unknown_member(member)),
                GroupState::CompletingRebalance => {}
            }
            let (tx, rx) = oneshot::channel();
            g.members.get_mut(member).expect("member").sync_waiter = Some(tx);
            let mut persist = None;
            if g.leader.as_deref() == Some(member) {
                let mut given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
                for m in g.members.values_mut() {
                    m.assignment = given.remove(&m.id).unwrap_or_default();
                    m.last_heartbeat = now;
                }
                g.set_state(GroupState::Stable, now);
                tracing::info!(group = %g.id, generation = g.generation, "rebalance complete: group is stable");
                let waiters: Vec<_> = g
                    .members
                    .values_mut()
                    .filter_map(|m| m.sync_waiter.take().map(|w| (w, m.assignment.clone())))
                    .collect();
                persist = Some((g.id.clone(), g.to_value(), waiters, g.protocol_type.clone(), g.protocol.clone()));
            }
            (rx, persist)
        };
        if let Some((group, value, waiters, protocol_type, protocol)) = persist {
            self.persist_group(group, value).await;
            for (w, assignment) in waiters {
                let _ = w.send(SyncResult {
                    error: None,
                    protocol_type: protocol_type.clone(),
                    protocol: protocol.clone(),
                    assignment,
                });
            }
        }
        rx.await.unwrap_or_else(|_| err(unknown_member(member)))
    }
}
