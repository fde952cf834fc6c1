//! Any group's committed offsets, read and written through one admin client
//! per cluster (librdkafka's ListConsumerGroupOffsets and
//! AlterConsumerGroupOffsets, which the `rdkafka` crate does not wrap), as MM2
//! does through its admin clients. A librdkafka consumer reads and commits only
//! for its own `group.id`, so without these a flow would run one client (its
//! threads and connections) per mirrored group on each side.
//!
//! Each call: admin options with a request timeout, a private result queue,
//! the call, one result event polled from it (guards in [`crate::admin_ffi`]).

use std::ffi::{c_char, CString};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;

use crate::admin_ffi::{slice, text, Event, Options, Queue};
use crate::error::{kafka, MirrorError};

/// One partition's committed offset (`None`: nothing committed) and metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub topic: String,
    pub partition: i32,
    pub offset: Option<i64>,
    pub metadata: String,
}

/// `group`'s committed offsets of `partitions` (OffsetFetch, not stable: as
/// MM2's `listConsumerGroupOffsets`).
pub fn list(
    admin: &AdminClient<DefaultClientContext>,
    group: &str,
    partitions: &TopicPartitionList,
    timeout: Duration,
) -> Result<Vec<Committed>, MirrorError> {
    let g = cstring(group)?;
    // SAFETY: g and the list outlive the call, which copies both; the request is freed below.
    let req = unsafe { rd::rd_kafka_ListConsumerGroupOffsets_new(g.as_ptr(), partitions.ptr()) };
    let mut arr = [req];
    let ev =
        call(admin, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, group, timeout, |rk, o, q| {
            // SAFETY: the array is live for the call.
            unsafe { rd::rd_kafka_ListConsumerGroupOffsets(rk, arr.as_mut_ptr(), 1, o, q) }
        });
    // SAFETY: req was created above and is freed once, whatever the call's outcome.
    unsafe { rd::rd_kafka_ListConsumerGroupOffsets_destroy(req) };
    let ev = ev?;
    // SAFETY: the event is this call's result; everything read is copied out before it is dropped.
    unsafe {
        let r = rd::rd_kafka_event_ListConsumerGroupOffsets_result(ev.0);
        let mut n = 0;
        let groups = if r.is_null() {
            &[][..]
        } else {
            slice(rd::rd_kafka_ListConsumerGroupOffsets_result_groups(r, &mut n), n)
        };
        group_partitions(groups, group)
    }
}

/// Commits `offsets` (with their metadata) for `group` without joining it
/// (OffsetCommit as an admin: generation -1, no member), refused by the
/// coordinator while the group has members. The first partition refused fails
/// the call.
pub fn alter(
    admin: &AdminClient<DefaultClientContext>,
    group: &str,
    offsets: &TopicPartitionList,
    timeout: Duration,
) -> Result<(), MirrorError> {
    let g = cstring(group)?;
    // SAFETY: as in list.
    let req = unsafe { rd::rd_kafka_AlterConsumerGroupOffsets_new(g.as_ptr(), offsets.ptr()) };
    let mut arr = [req];
    let ev = call(
        admin,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS,
        group,
        timeout,
        |rk, o, q| {
            // SAFETY: the array is live for the call.
            unsafe { rd::rd_kafka_AlterConsumerGroupOffsets(rk, arr.as_mut_ptr(), 1, o, q) }
        },
    );
    // SAFETY: as in list.
    unsafe { rd::rd_kafka_AlterConsumerGroupOffsets_destroy(req) };
    let ev = ev?;
    // SAFETY: as in list.
    unsafe {
        let r = rd::rd_kafka_event_AlterConsumerGroupOffsets_result(ev.0);
        let mut n = 0;
        let groups = if r.is_null() {
            &[][..]
        } else {
            slice(rd::rd_kafka_AlterConsumerGroupOffsets_result_groups(r, &mut n), n)
        };
        group_partitions(groups, group).map(|_| ())
    }
}

/// The partitions of the one group result; the group's or a partition's error
/// fails.
///
/// # Safety
/// Each pointer in `groups` is a live group result of an event not yet dropped.
unsafe fn group_partitions(
    groups: &[*const rd::rd_kafka_group_result_t],
    group: &str,
) -> Result<Vec<Committed>, MirrorError> {
    let Some(&g) = groups.first() else { return Err(kafka(group, "librdkafka answered with an unexpected event")) };
    // SAFETY: g is live as the caller guarantees; strings are copied out.
    unsafe {
        let e = rd::rd_kafka_group_result_error(g);
        if !e.is_null() {
            let code = RDKafkaErrorCode::from(rd::rd_kafka_error_code(e));
            let msg = text(rd::rd_kafka_error_string(e)).unwrap_or_default();
            return Err(kafka(group, format!("{code:?}: {msg}")));
        }
        let list = rd::rd_kafka_group_result_partitions(g);
        if list.is_null() || (*list).elems.is_null() || (*list).cnt <= 0 {
            return Ok(Vec::new());
        }
        let elems = std::slice::from_raw_parts((*list).elems, (*list).cnt as usize);
        let mut out = Vec::with_capacity(elems.len());
        for p in elems {
            let topic = text(p.topic).unwrap_or_default();
            if p.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                let code = RDKafkaErrorCode::from(p.err);
                return Err(kafka(&format!("{group} {topic}/{}", p.partition), format!("{code:?}")));
            }
            let metadata = if p.metadata.is_null() || p.metadata_size == 0 {
                String::new()
            } else {
                let bytes = std::slice::from_raw_parts(p.metadata as *const u8, p.metadata_size);
                String::from_utf8_lossy(bytes).into_owned()
            };
            out.push(Committed {
                topic,
                partition: p.partition,
                offset: (p.offset >= 0).then_some(p.offset),
                metadata,
            });
        }
        Ok(out)
    }
}

/// Runs one admin call (`start` issues it, options and queue given) and waits
/// for its result event; an error of the request as a whole fails.
fn call(
    admin: &AdminClient<DefaultClientContext>,
    op: rd::rd_kafka_admin_op_t,
    group: &str,
    timeout: Duration,
    start: impl FnOnce(*mut rd::rd_kafka_t, *const rd::rd_kafka_AdminOptions_t, *mut rd::rd_kafka_queue_t),
) -> Result<Event, MirrorError> {
    let rk = admin.inner().native_ptr();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: rk is the admin client's live handle; each object is freed by its guard.
    let (queue, options) =
        unsafe { (Queue(rd::rd_kafka_queue_new(rk)), Options(rd::rd_kafka_AdminOptions_new(rk, op))) };
    let mut err = [0 as c_char; 256];
    // SAFETY: options is live; err is a writable buffer of the size given.
    let rc = unsafe { rd::rd_kafka_AdminOptions_set_request_timeout(options.0, ms, err.as_mut_ptr(), err.len()) };
    if rc != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into err.
        return Err(kafka(group, unsafe { text(err.as_ptr()) }.unwrap_or_default()));
    }
    start(rk, options.0, queue.0);
    // The request timeout bounds the call; the extra second lets its timeout event arrive.
    // SAFETY: queue is live; a returned event is owned by the guard.
    let ev = unsafe { rd::rd_kafka_queue_poll(queue.0, ms.saturating_add(1000)) };
    if ev.is_null() {
        return Err(kafka(group, format!("no answer within {} s", timeout.as_secs())));
    }
    let ev = Event(ev);
    // SAFETY: ev is live; the string is copied out.
    let code = unsafe { rd::rd_kafka_event_error(ev.0) };
    if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: as above.
        let msg = unsafe { text(rd::rd_kafka_event_error_string(ev.0)) }.unwrap_or_default();
        return Err(kafka(group, format!("{:?}: {msg}", RDKafkaErrorCode::from(code))));
    }
    Ok(ev)
}

fn cstring(s: &str) -> Result<CString, MirrorError> {
    CString::new(s).map_err(|_| kafka(s, "contains a NUL byte"))
}
