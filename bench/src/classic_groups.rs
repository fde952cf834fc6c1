//! The classic-protocol half of the consumer-group row: each member a thread
//! speaking JoinGroup v7, SyncGroup v5 and Heartbeat v4 on the wire as the Java
//! consumer does with the eager `range` assignor. The leader assigns the topic's
//! partitions in contiguous ranges over the members in member-id order; every
//! member heartbeats at the row's interval and rejoins when the broker answers
//! REBALANCE_IN_PROGRESS. Stable is read back with DescribeGroups: the state,
//! the member count and every partition in some member's assignment.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::wire::{self, sb};

const NONE: i16 = 0;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;

/// A ConsumerProtocol message: its version as an int16, then the body.
fn versioned<T: Encodable>(version: i16, msg: &T) -> Result<Bytes> {
    let mut b = BytesMut::new();
    b.put_i16(version);
    msg.encode(&mut b, version)?;
    Ok(b.freeze())
}

/// Partitions in a ConsumerProtocol assignment (an empty one holds none).
fn assigned(data: &Bytes) -> Result<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    let mut b = data.clone();
    let version = b.get_i16();
    let a = ConsumerProtocolAssignment::decode(&mut b, version.clamp(0, 3))?;
    Ok(a.assigned_partitions.iter().map(|tp| tp.partitions.len()).sum())
}

/// The leader's `range` assignment of one topic over `members`.
fn range(
    members: &[join_group_response::JoinGroupResponseMember],
    topic: &str,
    partitions: i32,
) -> Result<Vec<SyncGroupRequestAssignment>> {
    let mut ids: Vec<&StrBytes> = members.iter().map(|m| &m.member_id).collect();
    ids.sort_unstable();
    let (per, extra) = (partitions as usize / ids.len(), partitions as usize % ids.len());
    let mut next = 0i32;
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let take = (per + usize::from(i < extra)) as i32;
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            consumer_protocol_assignment::TopicPartition::default()
                .with_topic(TopicName(sb(topic)))
                .with_partitions((next..next + take).collect()),
        ]);
        next += take;
        out.push(SyncGroupRequestAssignment::default().with_member_id(id.clone()).with_assignment(versioned(0, &a)?));
    }
    Ok(out)
}

/// One member's loop until `stop`: join, sync, heartbeat every `interval`.
pub fn member(
    addr: String,
    group: String,
    topic: String,
    partitions: i32,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let mut s = TcpStream::connect(&addr)?;
    s.set_nodelay(true)?;
    let subscription = versioned(1, &ConsumerProtocolSubscription::default().with_topics(vec![sb(&topic)]))?;
    let mut member_id = String::new();
    'join: while !stop.load(Ordering::Relaxed) {
        let join = JoinGroupRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_session_timeout_ms(45_000)
            .with_rebalance_timeout_ms(60_000)
            .with_member_id(sb(&member_id))
            .with_protocol_type(sb("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(sb("range"))
                .with_metadata(subscription.clone())]);
        let (r, _): (JoinGroupResponse, _) = wire::call(&mut s, ApiKey::JoinGroup, 7, &join)?;
        match r.error_code {
            NONE => {}
            MEMBER_ID_REQUIRED => {
                member_id = r.member_id.to_string();
                continue;
            }
            UNKNOWN_MEMBER_ID => {
                member_id.clear();
                continue;
            }
            REBALANCE_IN_PROGRESS => continue,
            e => bail!("JoinGroup: error {e}"),
        }
        member_id = r.member_id.to_string();
        let assignments = if r.leader == r.member_id { range(&r.members, &topic, partitions)? } else { Vec::new() };
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_generation_id(r.generation_id)
            .with_member_id(sb(&member_id))
            .with_protocol_type(Some(sb("consumer")))
            .with_protocol_name(r.protocol_name.clone())
            .with_assignments(assignments);
        let (sr, _): (SyncGroupResponse, _) = wire::call(&mut s, ApiKey::SyncGroup, 5, &sync)?;
        match sr.error_code {
            NONE => {}
            REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION => continue,
            UNKNOWN_MEMBER_ID => {
                member_id.clear();
                continue;
            }
            e => bail!("SyncGroup: error {e}"),
        }
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(interval);
            let hb = HeartbeatRequest::default()
                .with_group_id(GroupId(sb(&group)))
                .with_generation_id(r.generation_id)
                .with_member_id(sb(&member_id));
            let (hr, _): (HeartbeatResponse, _) = wire::call(&mut s, ApiKey::Heartbeat, 4, &hb)?;
            match hr.error_code {
                NONE => {}
                REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION => continue 'join,
                UNKNOWN_MEMBER_ID => {
                    member_id.clear();
                    continue 'join;
                }
                e => bail!("Heartbeat: error {e}"),
            }
        }
    }
    if !member_id.is_empty() {
        let leave = LeaveGroupRequest::default()
            .with_group_id(GroupId(sb(&group)))
            .with_members(vec![MemberIdentity::default().with_member_id(sb(&member_id))]);
        let _: (LeaveGroupResponse, _) = wire::call(&mut s, ApiKey::LeaveGroup, 4, &leave)?;
    }
    Ok(())
}

/// The group as DescribeGroups shows it: (state, members, partitions in their
/// assignments).
pub fn describe(s: &mut TcpStream, group: &str) -> Result<Option<(String, usize, usize)>> {
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]);
    let (r, _): (DescribeGroupsResponse, _) = wire::call(s, ApiKey::DescribeGroups, 5, &req)?;
    let Some(g) = r.groups.first() else { return Ok(None) };
    let owned = g.members.iter().map(|m| assigned(&m.member_assignment)).sum::<Result<usize>>()?;
    Ok(Some((g.group_state.to_string(), g.members.len(), owned)))
}
