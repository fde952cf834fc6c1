//! Topic and group filters changed while the flows run, without a restart (as
//! SRM's `srm-control topics|groups --add/--remove`): the admin call is
//! [`change`], used by `weir mirror topics|groups` and the console.
//!
//! The changes of flow `A->B` live on its target cluster, in the compacted
//! one-partition topic `weir-mirror-filters.internal`, keyed by the flow name
//! (`A->B`); the newest record of a key holds all of that flow's changes, as
//! properties text:
//!
//! ```text
//! topics.add = orders.*, payments
//! topics.remove = orders.test
//! groups.add =
//! groups.remove =
//! ```
//!
//! A flow's topic filter is then `topics` plus `topics.add`, minus
//! `topics.exclude` and `topics.remove` (likewise for groups). Adding a pattern
//! takes it out of the removed ones and removing one takes it out of the added
//! ones, so the last call about a pattern wins. Running flows read the topic at
//! every topic refresh; a topic no longer passing the filter stops being
//! mirrored (its remote topic and committed position stay, so adding it back
//! resumes where it stopped).

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{ClientKind, Flow, MirrorConfig};
use crate::error::kafka;
use crate::error::MirrorError;
use crate::filter::{Filter, Patterns};

pub const FILTERS_TOPIC: &str = "weir-mirror-filters.internal";

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Topics,
    Groups,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Topics => "topics",
            Kind::Groups => "groups",
        }
    }
}

/// A flow's filter changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterChanges {
    pub topics_added: Vec<String>,
    pub topics_removed: Vec<String>,
    pub groups_added: Vec<String>,
    pub groups_removed: Vec<String>,
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()
}

impl FilterChanges {
    fn lists(&mut self, kind: Kind) -> (&mut Vec<String>, &mut Vec<String>) {
        match kind {
            Kind::Topics => (&mut self.topics_added, &mut self.topics_removed),
            Kind::Groups => (&mut self.groups_added, &mut self.groups_removed),
        }
    }

    pub fn add(&mut self, kind: Kind, patterns: &[String]) {
        let (added, removed) = self.lists(kind);
        for p in patterns {
            removed.retain(|r| r != p);
            if !added.contains(p) {
                added.push(p.clone());
            }
        }
    }

    pub fn remove(&mut self, kind: Kind, patterns: &[String]) {
        let (added, removed) = self.lists(kind);
        for p in patterns {
            added.retain(|a| a != p);
            if !removed.contains(p) {
                removed.push(p.clone());
            }
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "topics.add = {}\ntopics.remove = {}\ngroups.add = {}\ngroups.remove = {}\n",
            self.topics_added.join(", "),
            self.topics_removed.join(", "),
            self.groups_added.join(", "),
            self.groups_removed.join(", ")
        )
    }

    pub fn decode(text: &str) -> Result<FilterChanges, MirrorError> {
        let mut c = FilterChanges::default();
        for (k, v) in crate::properties::parse(text)? {
            let target = match k.as_str() {
                "topics.add" => &mut c.topics_added,
                "topics.remove" => &mut c.topics_removed,
                "groups.add" => &mut c.groups_added,
                "groups.remove" => &mut c.groups_removed,
                _ => return Err(MirrorError::Format { what: "filter change", why: format!("unknown key {k}") }),
            };
            *target = list(&v);
        }
        Ok(c)
    }

    /// The flow's configured filter with these changes.
    pub fn apply(&self, base: &Filter, kind: Kind) -> Result<Filter, MirrorError> {
        let (added, removed) = match kind {
            Kind::Topics => (&self.topics_added, &self.topics_removed),
            Kind::Groups => (&self.groups_added, &self.groups_removed),
        };
        let join = |base: &Patterns, more: &[String]| -> Result<Patterns, MirrorError> {
            if more.is_empty() {
                return Ok(base.clone());
            }
            let all = format!("{},{}", base.as_str(), more.join(","));
            Patterns::parse(&all).map_err(|why| MirrorError::config(kind.key(), why))
        };
        Ok(Filter { include: join(&base.include, added)?, exclude: join(&base.exclude, removed)? })
    }
}

#[derive(PartialEq, Eq)]
enum Polled {
    Record,
    /// At the end of the topic (or it does not exist).
    End,
    Nothing,
}

/// Reads the filter changes of flows on one target cluster, following the
/// topic as it grows.
pub struct FilterReader {
    consumer: BaseConsumer,
    key: String,
    pub current: FilterChanges,
}

impl FilterReader {
    pub fn new(cfg: &MirrorConfig, flow: &Flow) -> Result<FilterReader, MirrorError> {
        let mut c = cfg.client(flow, &flow.target, ClientKind::Consumer);
        // librdkafka polls only with a group; this one never joins or commits.
        c.insert("group.id".into(), format!("__weir-mirror.{}.readers", flow.name()));
        c.insert("enable.auto.commit".into(), "false".into());
        c.insert("enable.partition.eof".into(), "true".into());
        c.insert("client.id".into(), format!("{}|filters", flow.name()));
        let mut rd = rdkafka::config::ClientConfig::new();
        for (k, v) in &c {
            rd.set(k, v);
        }
        let consumer: BaseConsumer = rd.create().map_err(|e| kafka("filters consumer", e))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(FILTERS_TOPIC, 0, Offset::Beginning).map_err(|e| kafka(FILTERS_TOPIC, e))?;
        consumer.assign(&tpl).map_err(|e| kafka(FILTERS_TOPIC, e))?;
        let mut r = FilterReader { consumer, key: flow.name(), current: FilterChanges::default() };
        r.read_to_end()?;
        Ok(r)
    }

    /// Reads up to the topic's end as of now (nothing if it does not exist yet).
    fn read_to_end(&mut self) -> Result<(), MirrorError> {
        if self.consumer.fetch_watermarks(FILTERS_TOPIC, 0, TIMEOUT).is_err() {
            return Ok(());
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if Instant::now() > deadline {
                return Err(kafka(FILTERS_TOPIC, "timed out reading the filter changes"));
            }
            if self.poll(Duration::from_millis(100))? == Polled::End {
                return Ok(());
            }
        }
    }

    /// Applies one polled record, if any.
    fn poll(&mut self, wait: Duration) -> Result<Polled, MirrorError> {
        let Some(m) = self.consumer.poll(wait) else { return Ok(Polled::Nothing) };
        let m = match m {
            Ok(m) => m,
            Err(rdkafka::error::KafkaError::PartitionEOF(_)) => return Ok(Polled::End),
            // Not created yet: nothing changed.
            Err(rdkafka::error::KafkaError::MessageConsumption(
                rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
            )) => return Ok(Polled::End),
            Err(e) => return Err(kafka(FILTERS_TOPIC, e)),
        };
        if m.key() == Some(self.key.as_bytes()) {
            let text = String::from_utf8_lossy(m.payload().unwrap_or_default());
            // One bad record must not stop the flow (or the CLI that would
            // write a good one over it): it is skipped.
            match FilterChanges::decode(&text) {
                Ok(c) => self.current = c,
                Err(e) => tracing::warn!(flow = %self.key, offset = m.offset(), error = %e, "filter change skipped"),
            }
        }
        Ok(Polled::Record)
    }

    /// Takes in what was written since; returns whether the changes differ.
    pub fn refresh(&mut self) -> Result<bool, MirrorError> {
        let before = self.current.clone();
        while self.poll(Duration::ZERO)? == Polled::Record {}
        Ok(before != self.current)
    }
}

/// Creates the filters topic on the flow's target unless it exists.
pub(crate) fn ensure_topic(cfg: &MirrorConfig, flow: &Flow) -> Result<(), MirrorError> {
    let mut rd = rdkafka::config::ClientConfig::new();
    for (k, v) in &cfg.client(flow, &flow.target, ClientKind::Admin) {
        rd.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = rd.create().map_err(|e| kafka("target admin", e))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| kafka("runtime", e))?;
    let t = NewTopic::new(FILTERS_TOPIC, 1, TopicReplication::Fixed(flow.checkpoints_replication_factor))
        .set("cleanup.policy", "compact");
    let r = rt.block_on(admin.create_topics([&t], &AdminOptions::new().operation_timeout(Some(TIMEOUT))));
    match r.map_err(|e| kafka(FILTERS_TOPIC, e))?.pop() {
        Some(Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))) | Some(Ok(_)) | None => Ok(()),
        Some(Err((_, code))) => Err(kafka(FILTERS_TOPIC, code)),
    }
}

/// The admin call: adds and removes filter patterns of one flow and returns
/// the flow's changes as they now stand. Running flows pick them up at their
/// next topic refresh (5 s by default).
pub fn change(
    cfg: &MirrorConfig,
    flow: &Flow,
    kind: Kind,
    add: &[String],
    remove: &[String],
) -> Result<FilterChanges, MirrorError> {
    for p in add.iter().chain(remove) {
        Patterns::parse(p).map_err(|why| MirrorError::config(kind.key(), format!("{p}: {why}")))?;
    }
    ensure_topic(cfg, flow)?;
    let mut changes = FilterReader::new(cfg, flow)?.current;
    changes.add(kind, add);
    changes.remove(kind, remove);
    let mut rd = rdkafka::config::ClientConfig::new();
    for (k, v) in &cfg.client(flow, &flow.target, ClientKind::Producer) {
        rd.set(k, v);
    }
    let producer: BaseProducer = rd.create().map_err(|e| kafka("filters producer", e))?;
    let (key, value) = (flow.name(), changes.encode());
    producer
        .send(BaseRecord::to(FILTERS_TOPIC).partition(0).key(key.as_bytes()).payload(value.as_bytes()))
        .map_err(|(e, _)| kafka(FILTERS_TOPIC, e))?;
    producer.flush(TIMEOUT).map_err(|e| kafka(FILTERS_TOPIC, e))?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Filter {
        Filter { include: Patterns::parse("orders.*").unwrap(), exclude: Patterns::parse("__.*").unwrap() }
    }

    #[test]
    fn the_last_call_about_a_pattern_wins() {
        let mut c = FilterChanges::default();
        c.add(Kind::Topics, &["payments".into()]);
        let f = c.apply(&base(), Kind::Topics).unwrap();
        assert!(f.matches("payments") && f.matches("orders.eu"));
        c.remove(Kind::Topics, &["payments".into(), "orders.eu".into()]);
        let f = c.apply(&base(), Kind::Topics).unwrap();
        assert!(!f.matches("payments") && !f.matches("orders.eu") && f.matches("orders.us"));
        c.add(Kind::Topics, &["orders.eu".into()]);
        let f = c.apply(&base(), Kind::Topics).unwrap();
        assert!(f.matches("orders.eu"));
        // Groups are untouched by topic changes.
        assert_eq!(c.apply(&base(), Kind::Groups).unwrap().include.as_str(), "orders.*");
    }

    #[test]
    fn changes_round_trip_as_properties_text() {
        let mut c = FilterChanges::default();
        c.add(Kind::Topics, &["a.*".into(), "b".into()]);
        c.remove(Kind::Groups, &["g1".into()]);
        assert_eq!(FilterChanges::decode(&c.encode()).unwrap(), c);
        assert_eq!(FilterChanges::decode("").unwrap(), FilterChanges::default());
        assert!(FilterChanges::decode("topics.bogus = x").is_err());
    }
}
