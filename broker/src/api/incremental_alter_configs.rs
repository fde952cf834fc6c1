//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on topic configs.

use std::sync::Arc;

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::alter_configs::BROKER_STATIC;
use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::{blocking, str_bytes, RequestContext};
use crate::config::{topic_config_def, ConfigType};
use crate::error::BrokerError;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn handle(ctx: &RequestContext, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let shared = &ctx.shared;
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let base = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let name = r.resource_name.to_string();
        let result: Result<(), (ResponseError, String)> = match r.resource_type {
            RESOURCE_TOPIC => match shared.meta.topic(&name) {
                None => Err((ResponseError::UnknownTopicOrPartition, format!("Topic {name} does not exist"))),
                Some(topic) => {
                    let mut configs = topic.configs.clone();
                    let mut err = None;
                    for c in &r.configs {
                        let key = c.name.to_string();
                        let value = c.value.as_ref().map(|v| v.to_string());
                        let Some(def) = topic_config_def(&key) else {
                            err = Some(format!("Unknown topic config name: {key}"));
                            break;
                        };
                        match c.config_operation {
                            SET => {
                                configs.insert(key, value.unwrap_or_default());
                            }
                            DELETE => {
                                configs.remove(&key);
                            }
                            APPEND | SUBTRACT if def.ty == ConfigType::List => {
                                let current = configs
                                    .get(&key)
                                    .cloned()
                                    .or_else(|| shared.config.topic_default(def).map(|d| d.0))
                                    .unwrap_or_default();
                                let mut items: Vec<String> = current
                                    .split(',')
                                    .map(|s| s.trim().to_string())
                                    .filter(|s| !s.is_empty())
                                    .collect();
                                for v in value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                                    if c.config_operation == APPEND {
                                        if !items.iter().any(|i| i == v) {
                                            items.push(v.to_string());
                                        }
                                    } else {
                                        items.retain(|i| i != v);
                                    }
                                }
                                configs.insert(key, items.join(","));
                            }
                            APPEND | SUBTRACT => {
                                err = Some(format!(
                                    "Config value append/subtract is not allowed for config key {key} (not a list)"
                                ));
                                break;
                            }
                            op => {
                                err = Some(format!("Unknown config operation {op}"));
                                break;
                            }
                        }
                    }
                    match err {
                        Some(e) => Err((ResponseError::InvalidConfig, e)),
                        None => {
                            let s = Arc::clone(shared);
                            let validate_only = req.validate_only;
                            blocking(move || s.set_topic_configs(&name, configs, validate_only))
                                .await
                                .map_err(|e: BrokerError| (e.kafka_error(), e.to_string()))
                        }
                    }
                }
            },
            RESOURCE_BROKER => Err((ResponseError::InvalidConfig, BROKER_STATIC.to_string())),
            other => Err((ResponseError::InvalidRequest, format!("Config resource type {other} is not supported"))),
        };
        responses.push(match result {
            Ok(()) => base,
            Err((code, msg)) => base.with_error_code(code.code()).with_error_message(Some(str_bytes(msg))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
