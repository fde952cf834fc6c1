//! Admin calls the `rdkafka` crate does not wrap (ACLs, SCRAM credentials,
//! incremental config changes, group offset deletion, the cluster's
//! description), made through librdkafka's C admin API on a client built from
//! the same [`super::Conn`], so TLS, SASL and every `-X` property apply as to
//! the other commands.
//!
//! Each call follows librdkafka's admin pattern: options with a request timeout,
//! a private result queue, the call, one result event polled from the queue.
//! Every object librdkafka allocates for us is owned by a guard that frees it;
//! pointers read out of a result event live only while the event does, so
//! results are copied into Rust values before the event is dropped.

pub mod acl;
pub mod groups;

use std::ffi::{c_char, CString};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
pub use weir_mirror::admin_ffi::Event;
use weir_mirror::admin_ffi::{slice, text, Options, Queue};

use super::{error_message, error_name, Conn};

/// A refusal: Kafka's error name and the message that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl Refusal {
    fn of(code: rd::rd_kafka_resp_err_t, message: Option<String>) -> Refusal {
        let code = RDKafkaErrorCode::from(code);
        // librdkafka prints a null error message of the response as "(null)".
        let message = message.filter(|m| !m.is_empty() && m != "(null)").unwrap_or_else(|| error_message(code));
        Refusal { code: error_name(code), message }
    }

    /// An `rd_kafka_error_t` owned by a result (null: no error).
    ///
    /// # Safety
    /// `e` is null or points to a live error object.
    unsafe fn from_error(e: *const rd::rd_kafka_error_t) -> Option<Refusal> {
        if e.is_null() {
            return None;
        }
        // SAFETY: the caller guarantees e is live; the string is copied out.
        let (code, msg) = unsafe { (rd::rd_kafka_error_code(e), text(rd::rd_kafka_error_string(e))) };
        (code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR).then(|| Refusal::of(code, msg))
    }
}

/// A typed result of the event, which librdkafka gives as null when the
/// event is of another type (every accessor would then read through null).
fn nonnull<T>(r: *const T, what: &str) -> Result<*const T> {
    if r.is_null() {
        bail!("{what}: librdkafka answered with an unexpected event");
    }
    Ok(r)
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).with_context(|| format!("'{}' contains a NUL byte", s.escape_debug()))
}

/// A client for the calls below.
pub struct Native {
    client: AdminClient<DefaultClientContext>,
    timeout: Duration,
}

impl Native {
    pub fn new(conn: &Conn) -> Result<Native> {
        let client = conn.client_config()?.create().context("cannot create the Kafka client")?;
        Ok(Native { client, timeout: conn.timeout() })
    }

    /// The admin client underneath, for the calls the rdkafka crate wraps.
    pub fn admin(&self) -> &AdminClient<DefaultClientContext> {
        &self.client
    }

    /// Runs one admin call (`start` issues it on the client, options and
    /// queue given) and waits for its result event; an error of the request
    /// as a whole (timeout, transport, the broker's top-level error) fails.
    fn call(
        &self,
        op: rd::rd_kafka_admin_op_t,
        what: &str,
        start: impl FnOnce(*mut rd::rd_kafka_t, *const rd::rd_kafka_AdminOptions_t, *mut rd::rd_kafka_queue_t),
    ) -> Result<Event> {
        let rk = self.client.inner().native_ptr();
        let ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: rk is the live client this struct owns; each object is freed by its guard.
        let (queue, options) =
            unsafe { (Queue(rd::rd_kafka_queue_new(rk)), Options(rd::rd_kafka_AdminOptions_new(rk, op))) };
        let mut err = [0 as c_char; 256];
        // SAFETY: options is live; err is a writable buffer of the size given.
        let rc = unsafe { rd::rd_kafka_AdminOptions_set_request_timeout(options.0, ms, err.as_mut_ptr(), err.len()) };
        if rc != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            // SAFETY: librdkafka wrote a NUL-terminated message into err.
            bail!("{what}: {}", unsafe { text(err.as_ptr()) }.unwrap_or_default());
        }
        start(rk, options.0, queue.0);
        // The request timeout bounds the call; the extra second lets its timeout event arrive.
        // SAFETY: queue is live; a returned event is owned by the guard.
        let ev = unsafe { rd::rd_kafka_queue_poll(queue.0, ms.saturating_add(1000)) };
        if ev.is_null() {
            bail!("{what}: no answer from the cluster within {} s", self.timeout.as_secs());
        }
        // SAFETY: ev is the live event just polled.
        let code = unsafe { rd::rd_kafka_event_error(ev) };
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            && op == rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEUSERSCRAMCREDENTIALS
        {
            // librdkafka 2.12's DescribeUserScramCredentials parser stores a
            // request-level error string it does not own (a static string or a
            // stack copy) and frees it with the event: reading it is a
            // use-after-return and destroying the event aborts the process. So
            // neither: the event is leaked (one small allocation; the command ends).
            bail!("{what}: {}", Refusal::of(code, None));
        }
        let ev = Event(ev);
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            // SAFETY: as above; the string is copied out.
            let msg = unsafe { text(rd::rd_kafka_event_error_string(ev.0)) };
            bail!("{what}: {}", Refusal::of(code, msg));
        }
        Ok(ev)
    }

    /// The cluster id, the controller and the brokers (host, port, rack), as
    /// librdkafka's DescribeCluster reads them from Metadata.
    pub fn describe_cluster(&self) -> Result<ClusterInfo> {
        let ev = self.call(rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ANY, "DescribeCluster", |rk, o, q| {
            // SAFETY: rk, o and q are live for the call.
            unsafe { rd::rd_kafka_DescribeCluster(rk, o, q) }
        })?;
        // SAFETY: the event is a DescribeCluster result (the call's only event); what it points to
        // is copied out before it is dropped.
        unsafe {
            let r = nonnull(rd::rd_kafka_event_DescribeCluster_result(ev.0), "DescribeCluster")?;
            let mut n = 0;
            let nodes = slice(rd::rd_kafka_DescribeCluster_result_nodes(r, &mut n), n);
            let controller = rd::rd_kafka_DescribeCluster_result_controller(r);
            Ok(ClusterInfo {
                cluster_id: text(rd::rd_kafka_DescribeCluster_result_cluster_id(r)),
                controller: (!controller.is_null()).then(|| rd::rd_kafka_Node_id(controller)),
                brokers: nodes
                    .iter()
                    .map(|&b| Node {
                        id: rd::rd_kafka_Node_id(b),
                        host: text(rd::rd_kafka_Node_host(b)).unwrap_or_default(),
                        port: rd::rd_kafka_Node_port(b),
                        rack: text(rd::rd_kafka_Node_rack(b)),
                    })
                    .collect(),
            })
        }
    }

    /// IncrementalAlterConfigs of one resource (`kind`: topic or broker, by
    /// id; librdkafka has no cluster-wide default resource): each op is (name,
    /// op, value).
    pub fn incremental_alter(&self, kind: ConfigKind, name: &str, ops: &[(String, AlterOp, String)]) -> Result<()> {
        let cname = cstring(name)?;
        let restype = match kind {
            ConfigKind::Topic => rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            ConfigKind::Broker => rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_BROKER,
        };
        // SAFETY: cname outlives the call; the resource is handed to the call below, then freed.
        let res = unsafe { rd::rd_kafka_ConfigResource_new(restype, cname.as_ptr()) };
        struct Res(*mut rd::rd_kafka_ConfigResource_t);
        impl Drop for Res {
            fn drop(&mut self) {
                // SAFETY: created above; the call copies it, so it is freed by us once.
                unsafe { rd::rd_kafka_ConfigResource_destroy(self.0) }
            }
        }
        if res.is_null() {
            bail!("librdkafka refused the config resource '{name}'");
        }
        let res = Res(res);
        for (key, op, value) in ops {
            let (k, v) = (cstring(key)?, cstring(value)?);
            let op = match op {
                AlterOp::Set => rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                AlterOp::Delete => rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE,
                AlterOp::Append => rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_APPEND,
                AlterOp::Subtract => rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SUBTRACT,
            };
            let value_ptr = if matches!(op, rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE) {
                std::ptr::null()
            } else {
                v.as_ptr()
            };
            // SAFETY: res is live; librdkafka copies the strings; a returned error is ours to free.
            let e = unsafe { rd::rd_kafka_ConfigResource_add_incremental_config(res.0, k.as_ptr(), op, value_ptr) };
            if !e.is_null() {
                // SAFETY: e is live until destroyed just after.
                let refusal = unsafe { Refusal::from_error(e) };
                // SAFETY: e was returned to us and is freed once.
                unsafe { rd::rd_kafka_error_destroy(e) };
                bail!("{key}: {}", refusal.map_or("invalid".into(), |r| r.to_string()));
            }
        }
        let mut arr = [res.0];
        let ev = self.call(
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            "IncrementalAlterConfigs",
            // SAFETY: the array and the resource are live for the call, which copies them.
            |rk, o, q| unsafe { rd::rd_kafka_IncrementalAlterConfigs(rk, arr.as_mut_ptr(), 1, o, q) },
        )?;
        // SAFETY: the event is this call's result; strings are copied out before it is dropped.
        unsafe {
            let r = nonnull(rd::rd_kafka_event_IncrementalAlterConfigs_result(ev.0), "IncrementalAlterConfigs")?;
            let mut n = 0;
            for &c in slice(rd::rd_kafka_IncrementalAlterConfigs_result_resources(r, &mut n), n) {
                let code = rd::rd_kafka_ConfigResource_error(c);
                if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    let msg = text(rd::rd_kafka_ConfigResource_error_string(c));
                    bail!("{}", Refusal::of(code, msg));
                }
            }
        }
        Ok(())
    }

    /// Deletes `group`'s committed offsets of these partitions (OffsetDelete):
    /// per partition, the refusal if any.
    pub fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &rdkafka::TopicPartitionList,
    ) -> Result<Vec<(String, i32, Option<Refusal>)>> {
        let g = cstring(group)?;
        // SAFETY: g and the list outlive the call, which copies both; the request object is
        // handed to the call and freed after it.
        let req = unsafe { rd::rd_kafka_DeleteConsumerGroupOffsets_new(g.as_ptr(), partitions.ptr()) };
        let mut arr = [req];
        let ev = self.call(
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS,
            "OffsetDelete",
            // SAFETY: the array is live for the call.
            |rk, o, q| unsafe { rd::rd_kafka_DeleteConsumerGroupOffsets(rk, arr.as_mut_ptr(), 1, o, q) },
        );
        // SAFETY: req was created above and is freed once, whatever the call's outcome.
        unsafe { rd::rd_kafka_DeleteConsumerGroupOffsets_destroy(req) };
        let ev = ev?;
        let mut out = Vec::new();
        // SAFETY: the event is this call's result; everything read is copied out before it is dropped.
        unsafe {
            let r = nonnull(rd::rd_kafka_event_DeleteConsumerGroupOffsets_result(ev.0), "DeleteConsumerGroupOffsets")?;
            let mut n = 0;
            for &g in slice(rd::rd_kafka_DeleteConsumerGroupOffsets_result_groups(r, &mut n), n) {
                if let Some(refusal) = Refusal::from_error(rd::rd_kafka_group_result_error(g)) {
                    bail!("{refusal} (group '{group}')");
                }
                let list = rd::rd_kafka_group_result_partitions(g);
                if list.is_null() {
                    continue;
                }
                let list = &*list;
                let elems = match list.elems.is_null() || list.cnt <= 0 {
                    true => &[][..],
                    false => std::slice::from_raw_parts(list.elems, list.cnt as usize),
                };
                for p in elems {
                    let refusal = (p.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
                        .then(|| Refusal::of(p.err, None));
                    out.push((text(p.topic).unwrap_or_default(), p.partition, refusal));
                }
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    Topic,
    Broker,
}

/// IncrementalAlterConfigs' operations (KIP-339).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterOp {
    Set,
    Delete,
    Append,
    Subtract,
}

pub struct Node {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

pub struct ClusterInfo {
    pub cluster_id: Option<String>,
    pub controller: Option<i32>,
    pub brokers: Vec<Node>,
}
