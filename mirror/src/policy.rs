//! Replication policies: how a topic is named on the target, and how a remote
//! topic's source and upstream name are read back, as MirrorMaker 2's
//! `DefaultReplicationPolicy` and `IdentityReplicationPolicy` do, so that the
//! names Weir writes are the names MM2 tooling (`RemoteClusterUtils`) expects.
//!
//! Default: `{source}{sep}{topic}`; `A.orders` came from cluster `A`, upstream
//! `orders`. The internal topics are `heartbeats`, `mm2-offset-syncs{sep}{cluster}
//! {sep}internal` and `{cluster}{sep}checkpoints{sep}internal`, with `.` in place
//! of the separator there when `replication.policy.internal.topic.separator.enabled`
//! is false. Identity: topics keep their names (except heartbeats, which are
//! prefixed as by Default), so it cannot tell where a topic came from and cannot
//! prevent cycles; the source alias is what it is configured with.

/// A replication policy, MM2's two built-in ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    Default { separator: String, internal_separator: bool },
    Identity { separator: String, internal_separator: bool, source_alias: Option<String> },
}

impl Policy {
    pub fn default_policy() -> Policy {
        Policy::Default { separator: ".".into(), internal_separator: true }
    }

    fn separator(&self) -> &str {
        match self {
            Policy::Default { separator, .. } | Policy::Identity { separator, .. } => separator,
        }
    }

    fn internal_separator(&self) -> &str {
        match self {
            Policy::Default { internal_separator: true, separator }
            | Policy::Identity { internal_separator: true, separator, .. } => separator,
            _ => ".",
        }
    }

    /// `heartbeats`, `A.heartbeats`, `B.A.heartbeats`, ...: named like heartbeats.
    fn looks_like_heartbeat(&self, topic: &str) -> bool {
        topic.ends_with(self.heartbeats_topic())
    }

    /// The name `topic` of cluster `source` gets on the target.
    pub fn format_remote_topic(&self, source: &str, topic: &str) -> String {
        match self {
            Policy::Identity { .. } if !self.looks_like_heartbeat(topic) => topic.to_string(),
            _ => format!("{source}{}{topic}", self.separator()),
        }
    }

    /// The cluster a remote topic came from (None: not a remote topic).
    pub fn topic_source(&self, topic: &str) -> Option<String> {
        match self {
            Policy::Identity { source_alias, .. } if !self.looks_like_heartbeat(topic) => source_alias.clone(),
            _ => {
                // As Java's String.split: empty trailing parts do not count.
                let mut parts: Vec<&str> = topic.split(self.separator()).collect();
                while parts.last().is_some_and(|p| p.is_empty()) {
                    parts.pop();
                }
                (parts.len() >= 2).then(|| parts[0].to_string())
            }
        }
    }

    /// The topic's name on the cluster it came from (None: not a remote topic).
    pub fn upstream_topic(&self, topic: &str) -> Option<String> {
        match self {
            Policy::Identity { .. } if !self.looks_like_heartbeat(topic) => Some(topic.to_string()),
            _ => {
                let source = self.topic_source(topic)?;
                Some(topic[source.len() + self.separator().len()..].to_string())
            }
        }
    }

    /// The topic's name where it was first written, through any number of hops.
    pub fn original_topic(&self, topic: &str) -> String {
        match self.upstream_topic(topic) {
            Some(up) if up != topic => self.original_topic(&up),
            _ => topic.to_string(),
        }
    }

    pub fn heartbeats_topic(&self) -> &'static str {
        "heartbeats"
    }

    /// Where offset syncs for flows involving `cluster` are written.
    pub fn offset_syncs_topic(&self, cluster: &str) -> String {
        let s = self.internal_separator();
        format!("mm2-offset-syncs{s}{cluster}{s}internal")
    }

    /// The checkpoints of groups on `cluster`, on the target.
    pub fn checkpoints_topic(&self, cluster: &str) -> String {
        let s = self.internal_separator();
        format!("{cluster}{s}checkpoints{s}internal")
    }

    pub fn is_heartbeats_topic(&self, topic: &str) -> bool {
        self.original_topic(topic) == self.heartbeats_topic()
    }

    pub fn is_checkpoints_topic(&self, topic: &str) -> bool {
        let s = self.internal_separator();
        topic.ends_with(&format!("{s}checkpoints{s}internal"))
    }

    pub fn is_mm2_internal_topic(&self, topic: &str) -> bool {
        let suffix = format!("{}internal", self.internal_separator());
        topic.starts_with("mm2") && topic.ends_with(&suffix) || self.is_checkpoints_topic(topic)
    }

    /// Never replicated: MM2's own topics, Kafka's (`__*`, `.*`) and Connect's.
    pub fn is_internal_topic(&self, topic: &str) -> bool {
        self.is_mm2_internal_topic(topic)
            || topic.starts_with("__")
            || topic.starts_with('.')
            || topic.ends_with("-internal")
            || topic.ends_with(".internal")
    }

    /// Whether mirroring `topic` to `target` would send it back where it came
    /// from (at any number of hops).
    pub fn is_cycle(&self, topic: &str, target: &str) -> bool {
        match self.topic_source(topic) {
            None => false,
            Some(source) if source == target => true,
            Some(_) => match self.upstream_topic(topic) {
                Some(up) if up != topic => self.is_cycle(&up, target),
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(source: &str) -> Policy {
        Policy::Identity { separator: ".".into(), internal_separator: true, source_alias: Some(source.into()) }
    }

    #[test]
    fn default_names_and_reads_back_remote_topics() {
        let p = Policy::default_policy();
        assert_eq!(p.format_remote_topic("A", "orders"), "A.orders");
        assert_eq!(p.topic_source("A.orders").as_deref(), Some("A"));
        assert_eq!(p.upstream_topic("B.A.orders").as_deref(), Some("A.orders"));
        assert_eq!(p.original_topic("B.A.orders"), "orders");
        assert_eq!(p.topic_source("orders"), None);
        assert_eq!(p.topic_source("A."), None, "an empty upstream part is no remote topic, as Java's split");
        assert_eq!(p.offset_syncs_topic("B"), "mm2-offset-syncs.B.internal");
        assert_eq!(p.checkpoints_topic("A"), "A.checkpoints.internal");
        assert!(p.is_heartbeats_topic("heartbeats") && p.is_heartbeats_topic("B.A.heartbeats"));
        assert!(!p.is_heartbeats_topic("my-heartbeats"));
        for t in [
            "mm2-offset-syncs.B.internal",
            "A.checkpoints.internal",
            "__consumer_offsets",
            ".hidden",
            "connect-offsets-internal",
            "x.internal",
        ] {
            assert!(p.is_internal_topic(t), "{t}");
        }
        assert!(!p.is_internal_topic("orders"));
    }

    #[test]
    fn a_custom_separator_applies_to_internal_topics_unless_disabled() {
        let p = Policy::Default { separator: "_".into(), internal_separator: true };
        assert_eq!(p.format_remote_topic("A", "orders"), "A_orders");
        assert_eq!(p.upstream_topic("A_my.orders").as_deref(), Some("my.orders"));
        assert_eq!(p.offset_syncs_topic("B"), "mm2-offset-syncs_B_internal");
        assert_eq!(p.checkpoints_topic("A"), "A_checkpoints_internal");
        let legacy = Policy::Default { separator: "_".into(), internal_separator: false };
        assert_eq!(legacy.offset_syncs_topic("B"), "mm2-offset-syncs.B.internal");
        assert_eq!(legacy.checkpoints_topic("A"), "A.checkpoints.internal");
    }

    #[test]
    fn cycles_are_detected_at_any_depth() {
        let p = Policy::default_policy();
        assert!(p.is_cycle("B.orders", "B"), "B.orders came from B");
        assert!(p.is_cycle("A.B.orders", "B"));
        assert!(!p.is_cycle("A.orders", "B"));
        assert!(!p.is_cycle("orders", "B"));
    }

    #[test]
    fn identity_keeps_names_but_prefixes_heartbeats() {
        let p = identity("A");
        assert_eq!(p.format_remote_topic("A", "orders"), "orders");
        assert_eq!(p.format_remote_topic("A", "heartbeats"), "A.heartbeats");
        assert_eq!(p.topic_source("orders").as_deref(), Some("A"));
        assert_eq!(p.upstream_topic("orders").as_deref(), Some("orders"));
        assert_eq!(p.original_topic("orders"), "orders");
        assert_eq!(p.topic_source("A.heartbeats").as_deref(), Some("A"));
        assert!(!p.is_cycle("orders", "B"), "Identity cannot see cycles");
        assert!(p.is_cycle("B.heartbeats", "B"));
    }
}
