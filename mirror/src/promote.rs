//! Promotion of an offset-preserving mirror topic on a Weir target: the topic
//! config `weir.mirror.source` makes it read-only (produce fails naming the
//! source); `promote` removes that key, keeping every other config the topic
//! has, so producers can write and offsets go on from the mirrored end, and
//! records what it was a mirror of as `weir.mirror.promoted`.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::error::kafka;
use crate::error::MirrorError;

/// The topic config that marks a mirror topic (`SOURCE-ALIAS:TOPIC`).
pub const MIRROR_SOURCE: &str = "weir.mirror.source";
/// The topic config a promotion leaves: what the topic was a mirror of.
pub const MIRROR_PROMOTED: &str = "weir.mirror.promoted";

const TIMEOUT: Duration = Duration::from_secs(30);

/// Makes `topic` on the cluster at `bootstrap` writable; returns what it was a
/// mirror of. A topic that is not a mirror is an error naming it.
pub fn promote(client: &crate::config::ClientConfig, topic: &str) -> Result<String, MirrorError> {
    let mut rd = rdkafka::config::ClientConfig::new();
    for (k, v) in client {
        rd.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = rd.create().map_err(|e| kafka("admin client", e))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| kafka("runtime", e))?;
    let opts = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let described = rt
        .block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &opts))
        .map_err(|e| kafka(topic, e))?
        .pop()
        .ok_or_else(|| kafka(topic, "no answer"))?
        .map_err(|e| kafka(topic, e))?;
    let source = described
        .get(MIRROR_SOURCE)
        .and_then(|e| e.value.clone())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| kafka(topic, format!("not a mirror topic ({MIRROR_SOURCE} is not set)")))?;
    // AlterConfigs replaces the topic's set: send every other key it has.
    // Sent over the wire client: rdkafka would not report the topic's error.
    let mut kept: Vec<(String, String)> = described
        .entries
        .iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic && e.name != MIRROR_SOURCE && e.name != MIRROR_PROMOTED)
        .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
        .collect();
    kept.push((MIRROR_PROMOTED.to_string(), source.clone()));
    let mut cluster = crate::wire::Cluster::new("target", client, "weir-mirror-promote")?;
    match cluster.alter_topic_configs(topic, &kept)? {
        Some((code, why)) => Err(kafka(topic, format!("not promoted (error code {code}): {why}"))),
        None => Ok(source),
    }
}
