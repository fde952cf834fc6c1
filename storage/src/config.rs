//! Per-log configuration (Kafka topic-level keys) and flush policy.

/// `cleanup.policy`: `delete`, `compact` or both (`compact,delete`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy { delete: true, compact: false }
    }
}

impl CleanupPolicy {
    /// The policy as Kafka writes it (`delete`, `compact`, `compact,delete`).
    pub fn name(&self) -> &'static str {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        }
    }

    /// Parses Kafka's comma separated list (`delete`, `compact`, `compact,delete`).
    pub fn parse(s: &str) -> Option<CleanupPolicy> {
        let mut p = CleanupPolicy { delete: false, compact: false };
        for part in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            match part {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                _ => return None,
            }
        }
        Some(p)
    }
}

/// `message.timestamp.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}

/// When appended data is forced to disk.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum FlushPolicy {
    /// Default. Appends go to the page cache; `Log::flush_to` makes them durable with
    /// fdatasync, and concurrent callers share one fdatasync (group commit).
    #[default]
    Durable,
    /// Kafka's page-cache behaviour: fsync when `messages` records are unflushed or
    /// the oldest unflushed append is `ms` old (checked by LogManager's background
    /// thread). i64::MAX for either means "never for this reason".
    Interval { messages: i64, ms: i64 },
}

/// Configuration of one partition log; defaults are Kafka's.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// `segment.bytes`, default 1 GiB.
    pub segment_bytes: u64,
    /// `segment.ms`, default 7 days.
    pub segment_ms: i64,
    /// `segment.index.bytes`, default 10 MiB.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`, default 4096.
    pub index_interval_bytes: u64,
    /// `retention.ms`, default 7 days, -1 = unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`, default -1 = unlimited.
    pub retention_bytes: i64,
    /// `cleanup.policy`, default delete.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`, default 1 day.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`, default 0.5.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`, default 0.
    pub min_compaction_lag_ms: i64,
    /// `max.message.bytes`, default 1048588 (largest batch).
    pub max_message_bytes: u64,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `producer.id.expiration.ms`: idle idempotent producers are forgotten after this
    /// long, default 1 day.
    pub producer_id_expiration_ms: i64,
    /// Flush policy, default [`FlushPolicy::Durable`].
    pub flush: FlushPolicy,
    /// `file.delete.delay.ms`, default 60000.
    pub file_delete_delay_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            producer_id_expiration_ms: 86_400_000,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::default(),
            delete_retention_ms: 24 * 3600 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            flush: FlushPolicy::Durable,
            file_delete_delay_ms: 60_000,
        }
    }
}

impl LogConfig {
    /// Offset-index capacity in entries (8 bytes each), at least 1.
    pub(crate) fn offset_index_entries(&self) -> usize {
        ((self.segment_index_bytes / 8) as usize).max(1)
    }
    /// Time-index capacity in entries (12 bytes each), at least 1.
    pub(crate) fn time_index_entries(&self) -> usize {
        ((self.segment_index_bytes / 12) as usize).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cleanup_policy() {
        assert_eq!(CleanupPolicy::parse("compact,delete"), Some(CleanupPolicy { delete: true, compact: true }));
        assert!(!CleanupPolicy::parse("compact").unwrap().delete);
        assert_eq!(CleanupPolicy::parse("bogus"), None);
        let d = LogConfig::default();
        assert_eq!(d.segment_bytes, 1 << 30);
        assert_eq!(d.flush, FlushPolicy::Durable);
    }
}
