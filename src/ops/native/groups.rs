//! Consumer groups through librdkafka's ListConsumerGroups (ListGroups v5,
//! which reports each group's type) and DescribeConsumerGroups
//! (ConsumerGroupDescribe, falling back to DescribeGroups for a classic
//! group), so a KIP-848 group is seen as it is. The legacy group list of the
//! rdkafka crate only speaks DescribeGroups, which answers "Dead, no members"
//! for such a group.
//!
//! Like kafka-consumer-groups, these see consumer groups only: librdkafka
//! drops groups of another protocol type (share groups) from the listing.

use anyhow::Result;
use rdkafka::bindings as rd;

use super::{cstring, nonnull, slice, text, Native, Refusal};

/// A group as ListGroups names it.
#[derive(Debug, Clone)]
pub struct Listing {
    pub id: String,
    /// librdkafka's name of the state: Stable, Empty, PreparingRebalance, ...
    pub state: String,
    /// Consumer (KIP-848), Classic, or Unknown (a broker without ListGroups v5).
    pub kind: String,
    /// No protocol type: a group that only commits offsets.
    pub simple: bool,
}

/// A member: its id, client id, host, static instance id and assignment.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub client_id: String,
    pub host: String,
    pub instance_id: Option<String>,
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// A group as DescribeConsumerGroups tells it; `error` set when it could not be described.
#[derive(Debug, Clone)]
pub struct Description {
    pub id: String,
    pub state: String,
    pub kind: String,
    pub simple: bool,
    /// The assignor (classic: the protocol the members chose; consumer: the server's).
    pub assignor: String,
    pub members: Vec<Member>,
    pub error: Option<Refusal>,
}

fn state_name(s: rd::rd_kafka_consumer_group_state_t) -> String {
    // SAFETY: librdkafka returns a static string, or null for a value past its table.
    unsafe { text(rd::rd_kafka_consumer_group_state_name(s)) }.unwrap_or_default()
}

fn type_name(t: rd::rd_kafka_consumer_group_type_t) -> String {
    // SAFETY: as for the state (null is read as no name).
    unsafe { text(rd::rd_kafka_consumer_group_type_name(t)) }.unwrap_or_default()
}

/// The (topic, partitions) of an assignment, in the order librdkafka gives them.
///
/// # Safety
/// `a` is null or a live assignment of a live description.
unsafe fn partitions(a: *const rd::rd_kafka_MemberAssignment_t) -> Vec<(String, Vec<i32>)> {
    let mut out: Vec<(String, Vec<i32>)> = Vec::new();
    if a.is_null() {
        return out;
    }
    // SAFETY: a is live (the caller); the list it holds lives as long.
    let list = unsafe { rd::rd_kafka_MemberAssignment_partitions(a) };
    if list.is_null() {
        return out;
    }
    // SAFETY: the list is live; elems holds cnt entries.
    let list = unsafe { &*list };
    if list.elems.is_null() || list.cnt <= 0 {
        return out;
    }
    // SAFETY: as above.
    for p in unsafe { std::slice::from_raw_parts(list.elems, list.cnt as usize) } {
        // SAFETY: each entry's topic is a live NUL-terminated string.
        let topic = unsafe { text(p.topic) }.unwrap_or_default();
        match out.last_mut() {
            Some((t, ps)) if *t == topic => ps.push(p.partition),
            _ => out.push((topic, vec![p.partition])),
        }
    }
    out
}

impl Native {
    /// Every consumer group the cluster lists (all brokers are asked), and
    /// the refusals of brokers that could not answer.
    pub fn list_consumer_groups(&self) -> Result<(Vec<Listing>, Vec<Refusal>)> {
        let ev = self.call(
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
            "ListGroups",
            // SAFETY: rk, o and q are live for the call.
            |rk, o, q| unsafe { rd::rd_kafka_ListConsumerGroups(rk, o, q) },
        )?;
        // SAFETY: the event is this call's result; everything read is copied out before it is dropped.
        unsafe {
            let r = nonnull(rd::rd_kafka_event_ListConsumerGroups_result(ev.0), "ListGroups")?;
            let mut n = 0;
            let valid = rd::rd_kafka_ListConsumerGroups_result_valid(r, &mut n);
            let groups = slice(valid, n)
                .iter()
                .map(|&g| Listing {
                    id: text(rd::rd_kafka_ConsumerGroupListing_group_id(g)).unwrap_or_default(),
                    state: state_name(rd::rd_kafka_ConsumerGroupListing_state(g)),
                    kind: type_name(rd::rd_kafka_ConsumerGroupListing_type(g)),
                    simple: rd::rd_kafka_ConsumerGroupListing_is_simple_consumer_group(g) != 0,
                })
                .collect();
            let mut n = 0;
            let errors = rd::rd_kafka_ListConsumerGroups_result_errors(r, &mut n);
            let errors = slice(errors, n).iter().filter_map(|&e| Refusal::from_error(e)).collect();
            Ok((groups, errors))
        }
    }

    /// Describes these groups (none: an empty answer, without a request).
    /// A group that does not exist is described as Dead with no members, as
    /// Kafka's DescribeGroups answers.
    pub fn describe_consumer_groups(&self, groups: &[&str]) -> Result<Vec<Description>> {
        if groups.is_empty() {
            return Ok(vec![]);
        }
        let names = groups.iter().map(|g| cstring(g)).collect::<Result<Vec<_>>>()?;
        let mut ptrs: Vec<*const std::ffi::c_char> = names.iter().map(|c| c.as_ptr()).collect();
        let ev = self.call(
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
            "DescribeConsumerGroups",
            // SAFETY: the names and the array outlive the call, which copies them.
            |rk, o, q| unsafe { rd::rd_kafka_DescribeConsumerGroups(rk, ptrs.as_mut_ptr(), ptrs.len(), o, q) },
        )?;
        // SAFETY: the event is this call's result; everything read is copied out before it is dropped.
        unsafe {
            let r = nonnull(rd::rd_kafka_event_DescribeConsumerGroups_result(ev.0), "DescribeConsumerGroups")?;
            let mut n = 0;
            let all = rd::rd_kafka_DescribeConsumerGroups_result_groups(r, &mut n);
            Ok(slice(all, n)
                .iter()
                .map(|&g| Description {
                    id: text(rd::rd_kafka_ConsumerGroupDescription_group_id(g)).unwrap_or_default(),
                    state: state_name(rd::rd_kafka_ConsumerGroupDescription_state(g)),
                    kind: type_name(rd::rd_kafka_ConsumerGroupDescription_type(g)),
                    simple: rd::rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(g) != 0,
                    assignor: text(rd::rd_kafka_ConsumerGroupDescription_partition_assignor(g)).unwrap_or_default(),
                    members: (0..rd::rd_kafka_ConsumerGroupDescription_member_count(g))
                        .map(|i| rd::rd_kafka_ConsumerGroupDescription_member(g, i))
                        .filter(|m| !m.is_null())
                        .map(|m| Member {
                            id: text(rd::rd_kafka_MemberDescription_consumer_id(m)).unwrap_or_default(),
                            client_id: text(rd::rd_kafka_MemberDescription_client_id(m)).unwrap_or_default(),
                            host: text(rd::rd_kafka_MemberDescription_host(m)).unwrap_or_default(),
                            instance_id: text(rd::rd_kafka_MemberDescription_group_instance_id(m)),
                            assignment: partitions(rd::rd_kafka_MemberDescription_assignment(m)),
                        })
                        .collect(),
                    error: Refusal::from_error(rd::rd_kafka_ConsumerGroupDescription_error(g)),
                })
                .collect())
        }
    }
}
