//! Guards and helpers for librdkafka's C admin API, for the admin calls the
//! `rdkafka` crate does not wrap (here [`crate::group_offsets`]; the `weir`
//! CLI's native admin calls use them too). Each object librdkafka allocates
//! for a call is owned by a guard that frees it once; what a result event
//! points to lives only while the event does, so callers copy it out first.

use std::ffi::{c_char, CStr};

use rdkafka::bindings as rd;

/// A private result queue.
pub struct Queue(pub *mut rd::rd_kafka_queue_t);
impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_queue_new and destroyed once, here.
        unsafe { rd::rd_kafka_queue_destroy(self.0) }
    }
}

/// A call's admin options.
pub struct Options(pub *mut rd::rd_kafka_AdminOptions_t);
impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_AdminOptions_new and destroyed once, here.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.0) }
    }
}

/// A result event; what it points to lives until it is dropped.
pub struct Event(pub *mut rd::rd_kafka_event_t);
impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: polled from our queue, destroyed once, here.
        unsafe { rd::rd_kafka_event_destroy(self.0) }
    }
}

/// Copies a C string librdkafka owns (null: none).
///
/// # Safety
/// `p` is null or a NUL-terminated string alive for the call.
pub unsafe fn text(p: *const c_char) -> Option<String> {
    // SAFETY: as the caller guarantees.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Views a result array librdkafka returns with its count.
///
/// # Safety
/// `p` points to `n` elements (or `n` is 0) that outlive the returned slice.
pub unsafe fn slice<'a, T>(p: *mut *const T, n: usize) -> &'a [*const T] {
    if p.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: as the caller guarantees.
    unsafe { std::slice::from_raw_parts(p, n) }
}
