//! Which topics a flow mirrors: discovery every `refresh.topics.interval.seconds`
//! (with the live filter changes of [`crate::live`]), remote topics created with
//! the source's partition count and grown with it, topics that stop passing the
//! filter (or are deleted upstream) dropped from the copy, and topic configs
//! copied: a remote topic is created with its source's (as MM2's
//! `createNewTopics`, whatever `sync.topic.configs.enabled` says), and with
//! that flag on they are compared and copied again every
//! `sync.topic.configs.interval.seconds`. Copied are the configs set on the
//! topic itself, less `config.properties.exclude`.

use super::*;

use crate::live::Kind;

impl FlowRunner {
    fn should_replicate(&self, topic: &str) -> bool {
        let p = &self.flow.policy;
        (self.flow.topics.matches(topic) || p.is_heartbeats_topic(topic))
            && !p.is_internal_topic(topic)
            && !p.is_cycle(topic, &self.flow.target)
    }

    /// Creates a one-partition compacted topic unless it exists.
    pub(super) fn ensure_internal(&self, on_target: bool, topic: &str, rf: i32) -> Result<(), MirrorError> {
        let admin = if on_target { &self.target_admin } else { &self.source_admin };
        let t = NewTopic::new(topic, 1, TopicReplication::Fixed(rf)).set("cleanup.policy", "compact");
        let r = self.rt.block_on(admin.create_topics([&t], &AdminOptions::new().operation_timeout(Some(TIMEOUT))));
        match r.map_err(|e| kafka(topic, e))?.pop() {
            Some(Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))) | Some(Ok(_)) | None => Ok(()),
            Some(Err((_, code))) => Err(kafka(topic, code)),
        }
    }

    /// Takes in filter changes, lists the source's topics, mirrors new ones and
    /// new partitions and drops those no longer wanted; returns whether the
    /// assignment changed.
    pub fn refresh(&mut self) -> Result<bool, MirrorError> {
        if let Some(reader) = &mut self.filters {
            if reader.refresh()? {
                self.flow.topics = reader.current.apply(&self.base_topics, Kind::Topics)?;
                self.flow.groups = reader.current.apply(&self.base_groups, Kind::Groups)?;
                tracing::info!(flow = %self.flow.name(), changes = ?reader.current, "mirror filters changed");
            }
        }
        let md = self.consumer.fetch_metadata(None, TIMEOUT).map_err(|e| kafka("source metadata", e))?;
        let listed: HashMap<String, usize> = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len()))
            .collect();
        let gone: Vec<String> =
            self.topics.keys().filter(|t| !listed.contains_key(*t) || !self.should_replicate(t)).cloned().collect();
        let mut wanted: Vec<(String, usize)> = listed
            .into_iter()
            .filter(|(t, n)| {
                self.should_replicate(t) && !self.promoted.contains(t) && self.topics.get(t).is_none_or(|have| have < n)
            })
            .collect();
        wanted.sort();
        if gone.is_empty() && wanted.is_empty() {
            return Ok(false);
        }
        // Positions are read back from what is committed: commit what was copied.
        self.checkpoint(true)?;
        let new: Vec<&String> = wanted.iter().map(|(t, _)| t).filter(|t| !self.topics.contains_key(*t)).collect();
        let mut source_configs = if new.is_empty() { HashMap::new() } else { self.source_configs(new)? };
        for topic in gone {
            self.topics.remove(&topic);
            if let Some(remote) = self.remote_of.remove(&topic) {
                self.upstream_of.remove(&remote);
                self.synced_configs.remove(&topic);
                self.status.forget_topic(&self.flow.name(), &remote);
            }
            tracing::info!(flow = %self.flow.name(), topic = %topic, "topic no longer mirrored");
        }
        for (topic, partitions) in wanted {
            let remote = self.flow.policy.format_remote_topic(&self.flow.source, &topic);
            let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
            if self.topics.contains_key(&topic) {
                let np = NewPartitions::new(&remote, partitions);
                let r = self.rt.block_on(self.target_admin.create_partitions([&np], &opts));
                if let Some(Err((_, code))) = r.map_err(|e| kafka(&remote, e))?.pop() {
                    return Err(kafka(&remote, code));
                }
            } else {
                let marker = format!("{}:{topic}", self.flow.source);
                let mut configs = source_configs.remove(&topic).unwrap_or_default();
                let create = |configs: &[(String, String)]| {
                    let rf = TopicReplication::Fixed(self.flow.replication_factor);
                    let mut t = NewTopic::new(&remote, partitions as i32, rf);
                    for (k, v) in configs {
                        t = t.set(k, v);
                    }
                    if self.preserve.is_some() {
                        t = t.set(crate::promote::MIRROR_SOURCE, &marker);
                    }
                    let r = self.rt.block_on(self.target_admin.create_topics([&t], &opts));
                    r.map_err(|e| kafka(&remote, e)).map(|mut r| r.pop())
                };
                let mut created = create(&configs)?;
                if matches!(created, Some(Err((_, rdkafka::types::RDKafkaErrorCode::InvalidConfig))))
                    && !configs.is_empty()
                {
                    // A config another kind of cluster does not know must not
                    // keep the topic from being mirrored (the config sync then
                    // says which one, on each pass).
                    tracing::warn!(flow = %self.flow.name(), topic = %remote, configs = ?configs, "the target refused the source topic's configs: created without them");
                    configs.clear();
                    created = create(&configs)?;
                }
                match created {
                    Some(Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)))
                        if self.preserve.is_some() && !self.is_mirror_topic(&remote)? =>
                    {
                        tracing::warn!(flow = %self.flow.name(), topic = %topic, remote_topic = %remote, "remote topic exists and is not a mirror topic (promoted, or made by someone else): not copied");
                        self.promoted.insert(topic);
                        continue;
                    }
                    Some(Err((_, rdkafka::types::RDKafkaErrorCode::InvalidConfig))) if self.preserve.is_some() => {
                        return Err(kafka(
                            &remote,
                            format!(
                                "the target refused {}: mirror.mode=preserve needs Weir as the target",
                                crate::promote::MIRROR_SOURCE
                            ),
                        ));
                    }
                    Some(Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))) => {
                        // From an earlier run: partitions added upstream while no
                        // replicator ran are added now.
                        self.grow_remote(&remote, partitions)?;
                    }
                    Some(Ok(_)) | None => {
                        self.synced_configs.insert(topic.clone(), configs);
                    }
                    Some(Err((_, code))) => return Err(kafka(&remote, code)),
                }
                tracing::info!(flow = %self.flow.name(), topic = %topic, remote_topic = %remote, partitions, "mirroring topic");
            }
            self.topics.insert(topic.clone(), partitions);
            self.remote_of.insert(topic.clone(), remote.clone());
            self.upstream_of.insert(remote, topic);
        }
        self.sync_configs()?;
        self.assign()?;
        metrics::gauge!("weir_mirror_topics", "flow" => self.flow.name()).set(self.topics.len() as f64);
        Ok(true)
    }

    /// Adds partitions to an existing remote topic that has fewer than `partitions`.
    fn grow_remote(&mut self, remote: &str, partitions: usize) -> Result<(), MirrorError> {
        let md = self.position_client()?.fetch_metadata(Some(remote), TIMEOUT);
        let have = md.map_err(|e| kafka(remote, e))?.topics().first().map_or(0, |t| t.partitions().len());
        if have == 0 || have >= partitions {
            return Ok(());
        }
        let np = NewPartitions::new(remote, partitions);
        let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        let r = self.rt.block_on(self.target_admin.create_partitions([&np], &opts));
        if let Some(Err((_, code))) = r.map_err(|e| kafka(remote, e))?.pop() {
            return Err(kafka(remote, code));
        }
        tracing::info!(flow = %self.flow.name(), topic = %remote, from = have, to = partitions, "remote topic grown");
        Ok(())
    }

    /// The configs to copy of each of `topics` (source names): those set on
    /// the topic itself, less the excluded ones. A topic the source could not
    /// describe (deleted meanwhile) is left out.
    fn source_configs(&self, topics: Vec<&String>) -> Result<HashMap<String, Vec<(String, String)>>, MirrorError> {
        let exclude = &self.flow.config_properties_exclude;
        let resources: Vec<ResourceSpecifier<'_>> = topics.into_iter().map(|t| ResourceSpecifier::Topic(t)).collect();
        let described = self
            .rt
            .block_on(
                self.source_admin.describe_configs(&resources, &AdminOptions::new().request_timeout(Some(TIMEOUT))),
            )
            .map_err(|e| kafka("source topic configs", e))?;
        let mut out = HashMap::new();
        for resource in described {
            let Ok(resource) = resource else { continue };
            let rdkafka::admin::OwnedResourceSpecifier::Topic(topic) = resource.specifier else { continue };
            let set: Vec<(String, String)> = resource
                .entries
                .iter()
                .filter(|e| !e.is_default && !e.is_read_only && !e.is_sensitive)
                .filter(|e| e.source == rdkafka::admin::ConfigSource::DynamicTopic)
                .filter(|e| !exclude.matches(&e.name) && e.name != crate::promote::MIRROR_SOURCE)
                .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
                .collect();
            out.insert(topic, set);
        }
        Ok(out)
    }

    /// Copies the mirrored topics' explicitly set configs (except excluded
    /// ones) where they changed since last copied.
    pub fn sync_configs(&mut self) -> Result<(), MirrorError> {
        if !self.flow.sync_topic_configs || self.topics.is_empty() {
            return Ok(());
        }
        let mut changed = Vec::new();
        for (topic, set) in self.source_configs(self.topics.keys().collect())? {
            if !self.topics.contains_key(&topic) {
                continue;
            }
            // A new topic with nothing set needs no call.
            let before = self.synced_configs.get(&topic).map_or(&[][..], Vec::as_slice);
            if before != set.as_slice() {
                changed.push((topic, set));
            }
        }
        for (topic, set) in changed {
            let remote = &self.remote_of[&topic];
            // AlterConfigs replaces the remote topic's set: a config removed
            // upstream is removed downstream too.
            if let Some(p) = self.preserve.as_mut() {
                // A mirror topic keeps its marker; the target refuses to set it
                // on a promoted topic, so this cannot undo a promotion.
                let mut with_marker = set.clone();
                with_marker.push((crate::promote::MIRROR_SOURCE.to_string(), format!("{}:{topic}", self.flow.source)));
                match p.target.alter_topic_configs(remote, &with_marker)? {
                    None => {
                        self.synced_configs.insert(topic, set);
                    }
                    Some(_) if !self.is_mirror_topic(&remote.clone())? => self.drop_promoted(&topic),
                    Some((code, why)) => {
                        tracing::warn!(flow = %self.flow.name(), topic = %remote, error_code = code, error = %why, "topic configs not synced")
                    }
                }
                continue;
            }
            let mut alter = AlterConfig::new(ResourceSpecifier::Topic(remote));
            for (k, v) in &set {
                alter = alter.set(k, v);
            }
            // rdkafka reports only request-level failures here (not a topic's).
            let opts = AdminOptions::new().request_timeout(Some(TIMEOUT));
            let r = self.rt.block_on(self.target_admin.alter_configs([&alter], &opts));
            match r.map_err(|e| kafka(remote, e))?.pop() {
                Some(Err((_, code))) => {
                    tracing::warn!(flow = %self.flow.name(), topic = %remote, error = %code, "topic configs not synced")
                }
                _ => {
                    tracing::debug!(flow = %self.flow.name(), topic = %remote, configs = set.len(), "topic configs synced");
                    self.synced_configs.insert(topic, set);
                }
            }
        }
        Ok(())
    }
}
