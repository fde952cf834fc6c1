//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on topic configs.
//! The operations are applied to the topic's current overrides under the metadata
//! writer lock, so concurrent alters of one topic never lose each other's changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::alter_configs::BROKER_STATIC;
use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::{blocking, str_bytes, RequestContext};
use crate::config::{topic_config_def, BrokerConfig, ConfigType};
use crate::error::BrokerError;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// One requested operation: key, operation, value.
type Op = (String, i8, Option<String>);

/// The overrides after applying `ops` to `current`, or the reason they are refused.
fn apply(
    current: &BTreeMap<String, String>,
    ops: &[Op],
    broker: &BrokerConfig,
) -> Result<BTreeMap<String, String>, String> {
    let mut configs = current.clone();
    for (key, op, value) in ops {
        let Some(def) = topic_config_def(key) else {
            return Err(format!("Unknown topic config name: {key}"));
        };
        match *op {
            SET => {
                configs.insert(key.clone(), value.clone().unwrap_or_default());
            }
            DELETE => {
                configs.remove(key);
            }
            APPEND | SUBTRACT if def.ty == ConfigType::List => {
                let now =
                    configs.get(key).cloned().or_else(|| broker.topic_default(def).map(|d| d.0)).unwrap_or_default();
                let mut items: Vec<String> =
                    now.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                for v in value.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if *op == APPEND {
                        if !items.iter().any(|i| i == v) {
                            items.push(v.to_string());
                        }
                    } else {
                        items.retain(|i| i != v);
                    }
                }
                configs.insert(key.clone(), items.join(","));
            }
            APPEND | SUBTRACT => {
                return Err(format!("Config value append/subtract is not allowed for config key {key} (not a list)"));
            }
            other => return Err(format!("Unknown config operation {other}")),
        }
    }
    Ok(configs)
}

pub async fn handle(ctx: &RequestContext, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let shared = &ctx.shared;
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let base = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let name = r.resource_name.to_string();
        let result: Result<(), (ResponseError, String)> = match r.resource_type {
            RESOURCE_TOPIC => {
                let ops: Vec<Op> = r
                    .configs
                    .iter()
                    .map(|c| (c.name.to_string(), c.config_operation, c.value.as_ref().map(|v| v.to_string())))
                    .collect();
                let s = Arc::clone(shared);
                let validate_only = req.validate_only;
                blocking(move || {
                    let broker = s.config.clone();
                    s.update_topic_configs(
                        &name,
                        |current| apply(current, &ops, &broker).map_err(BrokerError::InvalidConfig),
                        validate_only,
                    )
                })
                .await
                .map_err(|e: BrokerError| (e.kafka_error(), e.to_string()))
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_apply_in_order() {
        let broker = BrokerConfig::default();
        let mut current = BTreeMap::new();
        current.insert("retention.ms".to_string(), "5".to_string());
        let ops: Vec<Op> = vec![
            ("retention.ms".into(), DELETE, None),
            ("cleanup.policy".into(), APPEND, Some("compact".into())),
            ("segment.ms".into(), SET, Some("1000".into())),
        ];
        let out = apply(&current, &ops, &broker).unwrap();
        assert_eq!(out.get("cleanup.policy").map(String::as_str), Some("delete,compact"));
        assert_eq!(out.get("segment.ms").map(String::as_str), Some("1000"));
        assert!(!out.contains_key("retention.ms"));
        let out = apply(&out, &[("cleanup.policy".into(), SUBTRACT, Some("delete".into()))], &broker).unwrap();
        assert_eq!(out.get("cleanup.policy").map(String::as_str), Some("compact"));
        assert!(apply(&out, &[("segment.ms".into(), APPEND, Some("1".into()))], &broker).is_err());
        assert!(apply(&out, &[("no.such".into(), SET, Some("1".into()))], &broker).is_err());
    }
}
