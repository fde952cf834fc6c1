//! Series computed at scrape time from the broker's state, in Prometheus text
//! format, appended to what the `metrics` recorder renders. They describe what
//! exists now (partitions and their offsets, consumer groups and their lag),
//! so a deleted topic's or group's series go with it; recorded gauges would
//! outlive them.
//!
//! Series (every one documented in docs/metrics.md):
//! - `weir_topics`, `weir_partitions` (gauges)
//! - `weir_partition_log_start_offset`, `weir_partition_log_end_offset`,
//!   `weir_partition_high_watermark`, `weir_partition_size_bytes`
//!   (gauges; `topic`, `partition`)
//! - `weir_group_lag` (gauge; `group`, `topic`, `partition`): log end minus
//!   the committed offset, never negative
//! - `weir_group_lag_sum` (gauge; `group`), `weir_group_members` (gauge;
//!   `group`), `weir_groups` (gauge; `state`)

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
    let groups = broker.groups().overviews();
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &groups {
        *states.entry(g.state).or_default() += 1;
    }
    header(out, "weir_groups", "Consumer groups, by state.");
    for (state, n) in &states {
        let _ = writeln!(out, "weir_groups{{state=\"{state}\"}} {n}");
    }
    header(out, "weir_group_members", "Members of a consumer group.");
    for g in &groups {
        let _ = writeln!(out, "weir_group_members{{group=\"{}\"}} {}", label(&g.group_id), g.members.len());
    }
    header(out, "weir_group_lag", "Records between a group's committed offset and the partition's log end.");
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
    header(out, "weir_group_lag_sum", "A consumer group's lag over all its partitions.");
    for g in &groups {
        let _ = writeln!(out, "weir_group_lag_sum{{group=\"{}\"}} {}", label(&g.group_id), g.total_lag());
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
