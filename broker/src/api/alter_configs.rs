//! AlterConfigs (key 33): replaces a topic's or a group's whole set of overrides.
//! Broker configs are static in Weir (set them in weir.toml or with --set).

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::describe_configs::{
    RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP, RESOURCE_TOPIC,
};
use super::{blocking, errors, str_bytes, RequestContext};

pub const BROKER_STATIC: &str =
    "Broker configs are static in Weir: set them in weir.toml or with `weir serve --set KEY=VALUE`";

pub async fn handle(ctx: &RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let base = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        if let Some(e) = super::describe_configs::config_access(ctx, r.resource_type, r.resource_name.as_str(), true) {
            responses.push(base.with_error_code(e.code()).with_error_message(None));
            continue;
        }
        let configs: BTreeMap<String, String> =
            r.configs.iter().filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string()))).collect();
        let (b, name, validate_only) = (ctx.broker.clone(), r.resource_name.to_string(), req.validate_only);
        let result = match r.resource_type {
            RESOURCE_TOPIC => blocking(move || b.configs().replace_topic(&name, configs, validate_only))
                .await
                .map_err(|e| (errors::topic(&e), e.to_string())),
            RESOURCE_CLIENT_METRICS => {
                blocking(move || b.configs().alter_client_metrics(&name, Some(configs), &[], validate_only))
                    .await
                    .map_err(|e| (errors::topic(&e), e.to_string()))
            }
            RESOURCE_GROUP => blocking(move || b.configs().replace_group(&name, configs, validate_only))
                .await
                .map_err(|e| (errors::topic(&e), e.to_string())),
            RESOURCE_BROKER => Err((ResponseError::InvalidConfig, BROKER_STATIC.to_string())),
            RESOURCE_BROKER_LOGGER => Err((
                ResponseError::InvalidRequest,
                "AlterConfigs is deprecated and does not support the resource type BROKER_LOGGER".to_string(),
            )),
            other => Err((ResponseError::InvalidRequest, format!("Config resource type {other} is not supported"))),
        };
        responses.push(match result {
            Ok(()) => base.with_error_message(None),
            Err((code, msg)) => base.with_error_code(code.code()).with_error_message(Some(str_bytes(msg))),
        });
    }
    AlterConfigsResponse::default().with_responses(responses)
}
