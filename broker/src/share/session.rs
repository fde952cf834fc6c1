//! Share sessions (KIP-932): per (group, member), the partitions a member's
//! ShareFetch requests read, so that a request names only what changed.
//!
//! Epoch 0 opens a session (replacing one the member had) with the partitions it
//! names and may not carry acknowledgements; each later ShareFetch or
//! ShareAcknowledge carries the next epoch (1, 2, ..., wrapping to 1 after
//! `i32::MAX`), adds the partitions it names and then drops its forgotten ones; -1
//! ends the session (ShareAcknowledge's final request, or a final ShareFetch, whose
//! partitions carry only acknowledgements). An unknown session is SHARE_SESSION_NOT_FOUND, a wrong
//! epoch INVALID_SHARE_SESSION_EPOCH, a new session beyond
//! `group.share.max.share.sessions` SHARE_SESSION_LIMIT_REACHED.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

pub const FINAL_EPOCH: i32 = -1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    NotFound,
    InvalidEpoch,
    LimitReached,
    InvalidRequest(String),
}

#[derive(Default)]
struct Session {
    next_epoch: i32,
    /// In the order first named; `named` indexes them (a request may name many).
    partitions: Vec<(Uuid, i32)>,
    named: HashSet<(Uuid, i32)>,
    last_used: i64,
    /// The connection that used it last ([`crate::net::Session::id`]).
    conn: u64,
}

impl Session {
    fn add(&mut self, add: &[(Uuid, i32)]) {
        for p in add {
            if self.named.insert(*p) {
                self.partitions.push(*p);
            }
        }
    }

    fn forget(&mut self, forget: &[(Uuid, i32)]) {
        if forget.is_empty() {
            return;
        }
        for p in forget {
            self.named.remove(p);
        }
        let named = &self.named;
        self.partitions.retain(|p| named.contains(p));
    }
}

/// What a ShareFetch reads after its session step.
#[derive(Debug, PartialEq, Eq)]
pub struct FetchPlan {
    /// The session's partitions (none for a final request).
    pub partitions: Vec<(Uuid, i32)>,
    /// A session the member had was replaced (its records go back).
    pub replaced: bool,
    /// The request ended the session.
    pub closed: bool,
}

pub struct Sessions {
    map: HashMap<(String, String), Session>,
    max: usize,
}

fn next(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

impl Sessions {
    pub fn new(max: usize) -> Sessions {
        Sessions { map: HashMap::new(), max }
    }

    fn key(group: &str, member: &str) -> (String, String) {
        (group.to_string(), member.to_string())
    }

    /// A ShareFetch's session step.
    #[allow(clippy::too_many_arguments)]
    pub fn fetch(
        &mut self,
        group: &str,
        member: &str,
        epoch: i32,
        add: &[(Uuid, i32)],
        forget: &[(Uuid, i32)],
        has_acks: bool,
        now: i64,
        conn: u64,
    ) -> Result<FetchPlan, SessionError> {
        let key = Self::key(group, member);
        match epoch {
            0 => {
                if has_acks {
                    return Err(SessionError::InvalidRequest(
                        "Acknowledge data present on initial fetch for a share session".into(),
                    ));
                }
                if !self.map.contains_key(&key) && self.map.len() >= self.max {
                    return Err(SessionError::LimitReached);
                }
                let mut s = Session { next_epoch: 1, last_used: now, conn, ..Default::default() };
                s.add(add);
                let partitions = s.partitions.clone();
                let replaced = self.map.insert(key, s).is_some();
                Ok(FetchPlan { partitions, replaced, closed: false })
            }
            FINAL_EPOCH => {
                // Its partitions carry the last acknowledgements; nothing is fetched.
                self.map.remove(&key).ok_or(SessionError::NotFound)?;
                Ok(FetchPlan { partitions: Vec::new(), replaced: false, closed: true })
            }
            e if e < FINAL_EPOCH => Err(SessionError::InvalidRequest(format!("Invalid share session epoch {e}"))),
            e => {
                let s = self.step(&key, e, now, conn)?;
                // As Kafka's session update: the named partitions in, then the
                // forgotten ones out (a partition acknowledged and forgotten in one
                // request leaves the session).
                s.add(add);
                s.forget(forget);
                Ok(FetchPlan { partitions: s.partitions.clone(), replaced: false, closed: false })
            }
        }
    }

    /// A ShareAcknowledge's session step: true when it ends the session.
    pub fn acknowledge(
        &mut self,
        group: &str,
        member: &str,
        epoch: i32,
        now: i64,
        conn: u64,
    ) -> Result<bool, SessionError> {
        let key = Self::key(group, member);
        match epoch {
            0 => Err(SessionError::InvalidEpoch),
            FINAL_EPOCH => {
                self.map.remove(&key).ok_or(SessionError::NotFound)?;
                Ok(true)
            }
            e if e < FINAL_EPOCH => Err(SessionError::InvalidRequest(format!("Invalid share session epoch {e}"))),
            e => {
                self.step(&key, e, now, conn)?;
                Ok(false)
            }
        }
    }

    /// A request in an open session: `epoch` must be the one expected next.
    fn step(&mut self, key: &(String, String), epoch: i32, now: i64, conn: u64) -> Result<&mut Session, SessionError> {
        let s = self.map.get_mut(key).ok_or(SessionError::NotFound)?;
        if s.next_epoch != epoch {
            return Err(SessionError::InvalidEpoch);
        }
        s.next_epoch = next(epoch);
        s.last_used = now;
        s.conn = conn;
        Ok(s)
    }

    /// Ends the member's session if connection `conn` used it last (the
    /// connection closed); true when it did.
    pub fn close_for_connection(&mut self, group: &str, member: &str, conn: u64) -> bool {
        let key = Self::key(group, member);
        if self.map.get(&key).is_some_and(|s| s.conn == conn) {
            self.map.remove(&key);
            return true;
        }
        false
    }

    pub fn remove(&mut self, group: &str, member: &str) {
        self.map.remove(&Self::key(group, member));
    }

    /// Drops every session of `group`.
    pub fn remove_group(&mut self, group: &str) {
        self.map.retain(|(g, _), _| g != group);
    }

    /// Drops sessions unused for `idle_ms` whose member is no longer in its group
    /// (`member_in(group, member)`): one that left but kept its connection open.
    /// A member's own session stays however long it works on what it holds (its
    /// locks bound that, not the session), as Kafka keeps it until the
    /// connection closes or the member goes.
    pub fn evict_idle(&mut self, now: i64, idle_ms: i64, member_in: impl Fn(&str, &str) -> bool) {
        self.map.retain(|(g, m), s| now - s.last_used < idle_ms || member_in(g, m));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: (Uuid, i32) = (Uuid::from_u128(1), 0);
    const Q: (Uuid, i32) = (Uuid::from_u128(1), 1);

    #[test]
    fn a_session_grows_and_shrinks_with_its_epochs() {
        let mut s = Sessions::new(10);
        assert_eq!(s.fetch("g", "m", 1, &[], &[], false, 0, 7), Err(SessionError::NotFound));
        let plan = s.fetch("g", "m", 0, &[P, P], &[], false, 0, 7).unwrap();
        assert_eq!((plan.partitions, plan.replaced), (vec![P], false));
        assert_eq!(s.fetch("g", "m", 1, &[Q], &[], true, 0, 7).unwrap().partitions, vec![P, Q]);
        assert_eq!(s.acknowledge("g", "m", 2, 0, 7), Ok(false));
        assert_eq!(s.fetch("g", "m", 3, &[], &[P], false, 0, 7).unwrap().partitions, vec![Q]);
        // Acknowledged and forgotten in one request: out.
        assert_eq!(s.fetch("g", "m", 4, &[P], &[P], true, 0, 7).unwrap().partitions, vec![Q]);
        // A wrong epoch is refused and the session keeps its place.
        assert_eq!(s.fetch("g", "m", 4, &[], &[], false, 0, 7), Err(SessionError::InvalidEpoch));
        assert_eq!(s.fetch("g", "m", 5, &[], &[], false, 0, 7).unwrap().partitions, vec![Q]);
        assert!(s.fetch("g", "m", 0, &[P], &[], false, 0, 7).unwrap().replaced);
        assert_eq!(s.acknowledge("g", "m", 0, 0, 7), Err(SessionError::InvalidEpoch));
        assert_eq!(s.acknowledge("g", "m", FINAL_EPOCH, 0, 7), Ok(true));
        assert_eq!(s.acknowledge("g", "m", FINAL_EPOCH, 0, 7), Err(SessionError::NotFound));
    }

    #[test]
    fn a_closed_connection_ends_the_sessions_it_used_last() {
        let mut s = Sessions::new(10);
        s.fetch("g", "m", 0, &[P], &[], false, 0, 7).unwrap();
        // The member goes on over another connection: the first one's close
        // leaves the session alone.
        s.fetch("g", "m", 1, &[], &[], false, 0, 8).unwrap();
        assert!(!s.close_for_connection("g", "m", 7));
        assert!(s.close_for_connection("g", "m", 8));
        assert_eq!(s.fetch("g", "m", 2, &[], &[], false, 0, 8), Err(SessionError::NotFound));
    }

    #[test]
    fn limits_and_malformed_requests() {
        let mut s = Sessions::new(1);
        s.fetch("g", "a", 0, &[P], &[], false, 0, 7).unwrap();
        assert_eq!(s.fetch("g", "b", 0, &[P], &[], false, 0, 7), Err(SessionError::LimitReached));
        // The member that has one may open it again.
        s.fetch("g", "a", 0, &[P], &[], false, 0, 7).unwrap();
        assert!(matches!(s.fetch("g", "a", 0, &[P], &[], true, 0, 7), Err(SessionError::InvalidRequest(_))));
        assert!(s.fetch("g", "a", FINAL_EPOCH, &[P], &[], true, 0, 7).unwrap().closed);
        s.fetch("g", "a", 0, &[P], &[], false, 0, 7).unwrap();
        assert!(matches!(s.fetch("g", "a", -2, &[], &[], false, 0, 7), Err(SessionError::InvalidRequest(_))));
        // Idle, but its member is still in the group: kept. Once it is not: dropped.
        s.evict_idle(100, 50, |_, _| true);
        assert_eq!(s.len(), 1);
        s.evict_idle(100, 50, |_, m| m != "a");
        assert_eq!(s.len(), 0);
        assert_eq!(next(i32::MAX), 1);
    }
}
