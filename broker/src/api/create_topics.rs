//! CreateTopics (key 19).

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::ResponseError;

use super::describe_configs::source_code;
use super::{blocking, errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::handle::BrokerHandle;
use crate::topics::CreateTopic;

/// Resolved topic configs as CreateTopics v5+ returns them.
pub fn resolved_configs(broker: &BrokerHandle, overrides: &BTreeMap<String, String>) -> Vec<CreatableTopicConfigs> {
    broker
        .configs()
        .resolve_topic(overrides)
        .into_iter()
        .map(|e| {
            CreatableTopicConfigs::default()
                .with_name(str_bytes(e.name))
                .with_value(e.value.map(str_bytes))
                .with_config_source(source_code(e.source))
        })
        .collect()
}

pub async fn handle(ctx: &RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *counts.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let base = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        if counts.get(&name).copied().unwrap_or(0) > 1 {
            results.push(base.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(
                str_bytes(format!("Create topics request from client contains multiple entries for topic {name}")),
            )));
            continue;
        }
        if !ctx.may(Operation::Create, Resource::Cluster) && !ctx.authorize(Operation::Create, Resource::Topic(&name)) {
            results.push(base.with_error_code(ResponseError::TopicAuthorizationFailed.code()));
            continue;
        }
        let mut configs = BTreeMap::new();
        for c in &t.configs {
            if let Some(v) = &c.value {
                configs.insert(c.name.to_string(), v.to_string());
            }
        }
        let create = CreateTopic {
            name: name.clone(),
            partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t.assignments.iter().map(|a| a.broker_ids.iter().map(|b| b.0).collect()).collect(),
            configs,
        };
        let b = ctx.broker.clone();
        let validate_only = req.validate_only;
        match blocking(move || b.topics().create(create, validate_only)).await {
            Ok(topic) => {
                let mut r =
                    base.with_topic_id(topic.id).with_num_partitions(topic.partitions).with_replication_factor(1);
                if ctx.version >= 5 {
                    r = r.with_configs(Some(resolved_configs(&ctx.broker, &topic.configs)));
                }
                results.push(r);
            }
            Err(e) => {
                results.push(
                    base.with_error_code(errors::topic(&e).code()).with_error_message(Some(str_bytes(e.to_string()))),
                );
            }
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}
