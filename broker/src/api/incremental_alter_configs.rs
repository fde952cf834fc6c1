//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on topic and
//! group configs. The operations are applied to the current overrides under the
//! metadata writer lock, so concurrent alters never lose each other's changes.

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::alter_configs::BROKER_STATIC;
use super::describe_configs::{
    wrong_broker, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP, RESOURCE_TOPIC,
};
use super::{blocking, errors, str_bytes, RequestContext};
use crate::configs::{AlterOp, ConfigChange};
use crate::loggers::Loggers;

fn op(code: i8) -> Option<AlterOp> {
    match code {
        0 => Some(AlterOp::Set),
        1 => Some(AlterOp::Delete),
        2 => Some(AlterOp::Append),
        3 => Some(AlterOp::Subtract),
        _ => None,
    }
}

/// Log levels: every change is checked before any applies (Kafka's checks).
fn alter_loggers(
    ctx: &RequestContext,
    broker_id: &str,
    configs: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    if let Some(msg) = wrong_broker(broker_id, ctx.broker.cluster().node_id(), true) {
        return Err((ResponseError::InvalidRequest, msg));
    }
    let mut changes = Vec::with_capacity(configs.len());
    for c in configs {
        let logger = c.name.to_string();
        let checked = match op(c.config_operation) {
            Some(AlterOp::Set) => {
                let level = c.value.as_deref().unwrap_or_default().to_string();
                Loggers::check_set(&logger, &level).map(|()| Some(level))
            }
            Some(AlterOp::Delete) => Loggers::check_unset(&logger).map(|()| None),
            Some(o @ (AlterOp::Append | AlterOp::Subtract)) => {
                let name = if o == AlterOp::Append { "APPEND" } else { "SUBTRACT" };
                return Err((
                    ResponseError::InvalidRequest,
                    format!("{name} operation is not allowed for the BROKER_LOGGER resource"),
                ));
            }
            None => {
                return Err((ResponseError::InvalidConfig, format!("Unknown config operation {}", c.config_operation)))
            }
        };
        changes.push((logger, checked.map_err(|e| (errors::topic(&e), e.to_string()))?));
    }
    if validate_only {
        return Ok(());
    }
    for (logger, level) in &changes {
        tracing::info!(logger, level = level.as_deref().unwrap_or("(parent's)"), "log level changed");
    }
    ctx.broker.loggers().apply(&changes).map_err(|e| (errors::topic(&e), e.to_string()))
}

pub async fn handle(ctx: &RequestContext, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let base = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let name = r.resource_name.to_string();
        if let Some(e) = super::describe_configs::config_access(ctx, r.resource_type, &name, true) {
            responses.push(base.with_error_code(e.code()).with_error_message(None));
            continue;
        }
        let result: Result<(), (ResponseError, String)> = match r.resource_type {
            RESOURCE_TOPIC | RESOURCE_GROUP | RESOURCE_CLIENT_METRICS => {
                let changes: Result<Vec<ConfigChange>, i8> = r
                    .configs
                    .iter()
                    .map(|c| {
                        Ok(ConfigChange {
                            name: c.name.to_string(),
                            op: op(c.config_operation).ok_or(c.config_operation)?,
                            value: c.value.as_ref().map(|v| v.to_string()),
                        })
                    })
                    .collect();
                match changes {
                    Err(bad) => Err((ResponseError::InvalidConfig, format!("Unknown config operation {bad}"))),
                    Ok(changes) => {
                        let b = ctx.broker.clone();
                        let validate_only = req.validate_only;
                        let kind = r.resource_type;
                        blocking(move || match kind {
                            RESOURCE_GROUP => b.configs().alter_group(&name, &changes, validate_only),
                            RESOURCE_CLIENT_METRICS => {
                                b.configs().alter_client_metrics(&name, None, &changes, validate_only)
                            }
                            _ => b.configs().alter_topic(&name, &changes, validate_only),
                        })
                        .await
                        .map_err(|e| (errors::topic(&e), e.to_string()))
                    }
                }
            }
            RESOURCE_BROKER => Err((ResponseError::InvalidConfig, BROKER_STATIC.to_string())),
            RESOURCE_BROKER_LOGGER => alter_loggers(ctx, &name, &r.configs, req.validate_only),
            other => Err((ResponseError::InvalidRequest, format!("Config resource type {other} is not supported"))),
        };
        responses.push(match result {
            Ok(()) => base.with_error_message(None),
            Err((code, msg)) => base.with_error_code(code.code()).with_error_message(Some(str_bytes(msg))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
