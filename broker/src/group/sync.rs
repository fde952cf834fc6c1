//! SyncGroup: the leader hands in the assignment of the generation that completed
//! its join phase; every member parks until then and gets its part. As in Kafka,
//! the group metadata carrying the assignment is written first and the group stays
//! CompletingRebalance meanwhile: it becomes Stable, and the members get their
//! assignments, only once the write is on disk. A failed write answers every
//! waiting member with the error and starts a new rebalance, so no member works
//! from an assignment the log does not hold.

use std::collections::BTreeMap;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::records::GroupValue;
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
                given.retain(|id, _| g.members.contains_key(id));
                let mut value = g.to_value();
                for m in &mut value.members {
                    m.assignment = given.get(&m.member_id).cloned().unwrap_or_default();
                }
                persist = Some((value, given));
            }
            (rx, persist)
        };
        if let Some((value, given)) = persist {
            // On its own task: a leader that goes away mid-write must not leave the
            // members it was to answer parked.
            let me = self.arc();
            let group = group.to_string();
            let done = tokio::spawn(async move { me.complete_sync(&group, generation, value, given).await });
            let _ = done.await;
        }
        rx.await.unwrap_or_else(|_| err(unknown_member(member)))
    }

    /// Writes the leader's assignment, then (if the group is still completing that
    /// generation's rebalance) hands it out, or the write's error.
    async fn complete_sync(&self, group: &str, generation: i32, value: GroupValue, mut given: BTreeMap<String, Bytes>) {
        let written = self.write_group(group, &value).await;
        let mut groups = self.store.lock();
        let Some(g) = groups.get_mut(group) else { return };
        if g.generation != generation || g.state != GroupState::CompletingRebalance || g.consumer.is_some() {
            // A member left or joined meanwhile: the rebalance that started has
            // answered the waiting members already.
            return;
        }
        let now = self.now();
        if let Err(e) = written {
            tracing::error!(group = %g.id, generation, error = %e, "could not persist the group's assignment; rebalancing");
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncResult::error(GroupError::CoordinatorNotAvailable));
                }
            }
            self.prepare_rebalance(g, now);
            return;
        }
        for m in g.members.values_mut() {
            m.assignment = given.remove(&m.id).unwrap_or_default();
            m.last_heartbeat = now;
        }
        g.set_state(GroupState::Stable, now);
        tracing::info!(group = %g.id, generation, "rebalance complete: group is stable");
        let (protocol_type, protocol) = (g.protocol_type.clone(), g.protocol.clone());
        for m in g.members.values_mut() {
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncResult {
                    error: None,
                    protocol_type: protocol_type.clone(),
                    protocol: protocol.clone(),
                    assignment: m.assignment.clone(),
                });
            }
        }
    }
}
