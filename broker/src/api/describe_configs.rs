//! DescribeConfigs (key 32): topic and group configs with their sources and synonyms,
//! and the broker's static configs.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{str_bytes, RequestContext};
use crate::config::ConfigType;
use crate::configs::{ConfigEntry, ConfigSource};
use crate::error::TopicError;
use kafka_protocol::protocol::StrBytes;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;
pub const RESOURCE_CLIENT_METRICS: i8 = 16;
pub const RESOURCE_GROUP: i8 = 32;

/// Kafka's check of a config resource: DESCRIBE_CONFIGS (`alter`: ALTER_CONFIGS)
/// on the topic, the group, or the cluster for brokers, loggers and client
/// metrics; the refusal's code if not allowed.
pub fn config_access(
    ctx: &RequestContext,
    resource_type: i8,
    name: &str,
    alter: bool,
) -> Option<kafka_protocol::ResponseError> {
    use crate::auth::{Operation, Resource};
    use kafka_protocol::ResponseError as E;
    let op = if alter { Operation::AlterConfigs } else { Operation::DescribeConfigs };
    let (resource, refused) = match resource_type {
        RESOURCE_TOPIC => (Resource::Topic(name), E::TopicAuthorizationFailed),
        RESOURCE_GROUP => (Resource::Group(name), E::GroupAuthorizationFailed),
        _ => (Resource::Cluster, E::ClusterAuthorizationFailed),
    };
    (!ctx.authorize(op, resource)).then_some(refused)
}

/// Why a BROKER or BROKER_LOGGER resource name is not this broker, as Kafka says it.
pub fn wrong_broker(name: &str, node_id: i32, logger: bool) -> Option<String> {
    match name {
        "" if logger => Some("Broker id must not be empty".into()),
        "" => None,
        n if n == node_id.to_string() => None,
        n => Some(format!("Unexpected broker id, expected {node_id} but received {n}")),
    }
}

/// Kafka's `ConfigSource` codes.
pub fn source_code(s: ConfigSource) -> i8 {
    match s {
        ConfigSource::DynamicTopic => 1,
        ConfigSource::StaticBroker => 4,
        ConfigSource::Default => 5,
        ConfigSource::ClientMetrics => 7,
        ConfigSource::Group => 8,
    }
}

/// Loggers with their levels, as Kafka describes them (source
/// DYNAMIC_BROKER_LOGGER_CONFIG, never read-only).
fn loggers(ctx: &RequestContext, wanted: Option<&[StrBytes]>) -> Vec<DescribeConfigsResourceResult> {
    ctx.broker
        .loggers()
        .describe()
        .into_iter()
        .filter(|(name, _)| wanted.is_none_or(|w| w.is_empty() || w.iter().any(|k| **k == **name)))
        .map(|(name, level)| {
            DescribeConfigsResourceResult::default()
                .with_name(str_bytes(name))
                .with_value(Some(str_bytes(level)))
                .with_config_source(6)
                .with_config_type(ConfigType::String as i8)
        })
        .collect()
}

pub fn handle(ctx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let b = &ctx.broker;
    let node_id = b.cluster().node_id();
    let mut results = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let base = DescribeConfigsResult::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let name = r.resource_name.to_string();
        if let Some(e) = config_access(ctx, r.resource_type, &name, false) {
            results.push(base.with_error_code(e.code()).with_error_message(None));
            continue;
        }
        let found = match r.resource_type {
            RESOURCE_TOPIC => b.configs().describe_topic(&name),
            RESOURCE_CLIENT_METRICS => b.configs().describe_client_metrics(&name),
            RESOURCE_GROUP => b.configs().describe_group(&name),
            RESOURCE_BROKER | RESOURCE_BROKER_LOGGER => {
                let logger = r.resource_type == RESOURCE_BROKER_LOGGER;
                match wrong_broker(&name, node_id, logger) {
                    Some(msg) => Err(TopicError::InvalidRequest(msg)),
                    None if logger => {
                        results.push(base.with_configs(loggers(ctx, r.configuration_keys.as_deref())));
                        continue;
                    }
                    None => Ok(b.configs().describe_broker()),
                }
            }
            other => Err(TopicError::InvalidRequest(format!("Config resource type {other} is not supported"))),
        };
        let entries: Vec<ConfigEntry> = match found {
            Ok(entries) => entries,
            Err(e) => {
                results.push(
                    base.with_error_code(super::errors::topic(&e).code())
                        .with_error_message(Some(str_bytes(e.to_string()))),
                );
                continue;
            }
        };
        // Null or empty: every config, as Kafka does.
        let wanted =
            r.configuration_keys.filter(|k| !k.is_empty()).map(|k| k.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let configs = entries
            .into_iter()
            .filter(|e| wanted.as_ref().is_none_or(|w| w.iter().any(|k| k == e.name)))
            .map(|e| {
                let mut c = DescribeConfigsResourceResult::default()
                    .with_name(str_bytes(e.name))
                    .with_value(e.value.map(str_bytes))
                    .with_read_only(e.read_only)
                    .with_is_sensitive(e.sensitive)
                    .with_config_source(source_code(e.source))
                    .with_config_type(e.ty as i8);
                if req.include_synonyms {
                    c = c.with_synonyms(
                        e.synonyms
                            .into_iter()
                            .map(|s| {
                                DescribeConfigsSynonym::default()
                                    .with_name(str_bytes(s.name))
                                    .with_value(s.value.map(str_bytes))
                                    .with_source(source_code(s.source))
                            })
                            .collect(),
                    );
                }
                if req.include_documentation {
                    c = c.with_documentation(Some(str_bytes(e.doc)));
                }
                c
            })
            .collect();
        results.push(base.with_configs(configs));
    }
    DescribeConfigsResponse::default().with_results(results)
}
