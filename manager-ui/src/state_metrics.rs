//! Series computed at scrape time from the broker's state, in Prometheus text
//! format, appended to what the `metrics` recorder renders. They describe what
//! exists now (partitions and their offsets, consumer groups and their lag),
//! so a deleted topic's or group's series go with it; recorded gauges would
//! outlive them.
//!
//! Series (every one documented in docs/metrics.md):
//! - `weir_topics`, `weir_partitions`, `weir_offline_partitions` (gauges; the
//!   last counts logs an I/O error took offline, Kafka's OfflinePartitionsCount)
//! - `weir_partition_log_start_offset`, `weir_partition_log_end_offset`,
//!   `weir_partition_high_watermark`, `weir_partition_size_bytes`
//!   (gauges; `topic`, `partition`)
//! - `weir_group_lag` (gauge; `group`, `topic`, `partition`): log end minus
//!   the committed offset, never negative
//! - `weir_group_lag_sum` (gauge; `group`), `weir_group_members` (gauge;
//!   `group`), `weir_groups` (gauge; `state`)
//! - `weir_producer_ids` (gauge): producer ids the partitions remember
//! - `weir_disk_free_bytes`, `weir_disk_total_bytes` (gauges): the data
//!   directory's file system
//! - and for any process, broker or not: `weir_process_cpu_seconds_total`
//!   (counter), `weir_process_resident_memory_bytes` and
//!   `weir_process_resident_anonymous_bytes` (gauges) (Linux `/proc`)

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use weir_broker::BrokerHandle;

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// Appends the state series of `broker` to `out`.
pub fn render(broker: &BrokerHandle, out: &mut String) {
    let mut partitions = broker.partitions().all();
    partitions.sort_by(|a, b| (a.topic(), a.index()).cmp(&(b.topic(), b.index())));
    let topics: BTreeSet<&str> = partitions.iter().map(|p| p.topic()).collect();
    header(out, "weir_topics", "Topics on this broker.");
    let _ = writeln!(out, "weir_topics {}", topics.len());
    header(out, "weir_partitions", "Partitions on this broker.");
    let _ = writeln!(out, "weir_partitions {}", partitions.len());
    header(out, "weir_offline_partitions", "Partitions whose log an I/O error took offline until a restart.");
    let _ = writeln!(out, "weir_offline_partitions {}", partitions.iter().filter(|p| p.log().is_offline()).count());
    type Field = fn(&weir_broker::partition::Partition) -> i64;
    let per_partition: [(&str, &str, Field); 4] = [
        ("weir_partition_log_start_offset", "First offset still in the partition's log.", |p| p.log_start_offset()),
        ("weir_partition_log_end_offset", "Offset the partition's next record gets.", |p| p.log_end_offset()),
        ("weir_partition_high_watermark", "Offset up to which consumers may read.", |p| p.high_watermark()),
        ("weir_partition_size_bytes", "Bytes of the partition's log on disk.", |p| p.size_bytes() as i64),
    ];
    for (name, help, field) in per_partition {
        header(out, name, help);
        for p in &partitions {
            let _ = writeln!(out, "{name}{{topic=\"{}\",partition=\"{}\"}} {}", label(p.topic()), p.index(), field(p));
        }
    }
    let groups = broker.group_overviews();
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &groups {
        *states.entry(g.state).or_default() += 1;
    }
    header(out, "weir_groups", "Groups of every kind (classic, consumer, share), by state.");
    for (state, n) in &states {
        let _ = writeln!(out, "weir_groups{{state=\"{state}\"}} {n}");
    }
    header(out, "weir_group_members", "Members of a group.");
    for g in &groups {
        let _ = writeln!(out, "weir_group_members{{group=\"{}\"}} {}", label(&g.group_id), g.members.len());
    }
    header(out, "weir_group_lag", "Records between a group's committed offset (a share group: its share-partition start, less the records finished after it) and the partition's high watermark.");
    for g in &groups {
        for o in &g.offsets {
            let Some(lag) = o.lag else { continue };
            let _ = writeln!(
                out,
                "weir_group_lag{{group=\"{}\",topic=\"{}\",partition=\"{}\"}} {lag}",
                label(&g.group_id),
                label(&o.topic),
                o.partition
            );
        }
    }
    header(out, "weir_group_lag_sum", "A group's lag over all its partitions.");
    for g in &groups {
        let _ = writeln!(out, "weir_group_lag_sum{{group=\"{}\"}} {}", label(&g.group_id), g.total_lag());
    }
    let producers: usize = partitions.iter().map(|p| p.log().producer_count()).sum();
    header(out, "weir_producer_ids", "Producer ids the partitions remember (idempotent and transactional producers).");
    let _ = writeln!(out, "weir_producer_ids {producers}");
    if let Some((free, total)) = disk_space(broker.cluster().data_dir()) {
        header(out, "weir_disk_free_bytes", "Bytes free for this process on the data directory's file system.");
        let _ = writeln!(out, "weir_disk_free_bytes {free}");
        header(out, "weir_disk_total_bytes", "Size of the data directory's file system.");
        let _ = writeln!(out, "weir_disk_total_bytes {total}");
    }
}

/// (bytes available to an unprivileged writer, total bytes) of the file
/// system holding `dir`.
pub(crate) fn disk_space(dir: &std::path::Path) -> Option<(u64, u64)> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and outlives the call; `s` is written
    // by statvfs before it is read, and read only when the call succeeded.
    let s = unsafe {
        if libc::statvfs(path.as_ptr(), s.as_mut_ptr()) != 0 {
            return None;
        }
        s.assume_init()
    };
    let unit = s.f_frsize as u64;
    Some((s.f_bavail as u64 * unit, s.f_blocks as u64 * unit))
}

/// Appends this process's CPU time and resident memory (Linux: from `/proc`;
/// nothing elsewhere).
pub fn render_process(out: &mut String) {
    // SAFETY: sysconf has no preconditions.
    let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    if let (Ok(stat), true) = (std::fs::read_to_string("/proc/self/stat"), ticks > 0) {
        // Fields after the command name (which may hold spaces, so split after
        // its closing parenthesis): utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
        if let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) {
            if let (Ok(u), Ok(s)) = (u.parse::<u64>(), s.parse::<u64>()) {
                let _ =
                    writeln!(out, "# HELP weir_process_cpu_seconds_total CPU time of this process, user and system.");
                let _ = writeln!(out, "# TYPE weir_process_cpu_seconds_total counter");
                let _ = writeln!(out, "weir_process_cpu_seconds_total {}", (u + s) as f64 / ticks as f64);
            }
        }
    }
    if let (Ok(statm), true) = (std::fs::read_to_string("/proc/self/statm"), page > 0) {
        let field = |i: usize| statm.split_whitespace().nth(i).and_then(|v| v.parse::<u64>().ok());
        if let Some(resident) = field(1) {
            header(out, "weir_process_resident_memory_bytes", "Resident memory of this process.");
            let _ = writeln!(out, "weir_process_resident_memory_bytes {}", resident * page as u64);
            // Fetches send from mapped segments, so the total also counts page
            // cache the kernel can take back; what is not file-backed is the
            // process's own (heap, stacks).
            if let Some(shared) = field(2) {
                header(
                    out,
                    "weir_process_resident_anonymous_bytes",
                    "Resident memory of this process not backed by files (heap, stacks).",
                );
                let _ = writeln!(
                    out,
                    "weir_process_resident_anonymous_bytes {}",
                    resident.saturating_sub(shared) * page as u64
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("x\ny"), "x\\ny");
    }
}
