//! Replication actions: stop a flow, fail a flow over (stop it, promote its
//! mirror topics on the target and move its groups' offsets there, as
//! `weir mirror failover` does), and promote one offset-preserving mirror
//! topic of this broker (the topic config `weir.mirror.source` removed,
//! `weir.mirror.promoted` left, through IncrementalAlterConfigs' service).

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use weir_broker::configs::{AlterOp, ConfigChange};
use weir_mirror::promote::{MIRROR_PROMOTED, MIRROR_SOURCE};
use weir_mirror::FlowState;

use super::{blocking, Api, ApiError, ApiResult};

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/v1/mirror/flows/{name}/stop", post(stop))
        .route("/api/v1/mirror/flows/{name}/failover", post(failover))
        .route("/api/v1/topics/{name}/promote", post(promote))
}

fn unknown_flow(name: &str) -> ApiError {
    ApiError::not_found("UNKNOWN_FLOW", format!("This process runs no replication flow '{name}'."))
}

fn state_of(api: &Api, name: &str) -> Option<FlowState> {
    api.mirror.snapshot().get(name).map(|f| f.state)
}

/// Asks the flow to stop and waits (up to 60 s) until it has.
async fn stop_and_wait(api: &Api, name: &str) -> ApiResult<()> {
    if !api.mirror.stop_flow(name) {
        return Err(unknown_flow(name));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while state_of(api, name) != Some(FlowState::Stopped) {
        if Instant::now() > deadline {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "REQUEST_TIMED_OUT",
                format!("flow '{name}' did not stop within 60 s; it stops after its current copy"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `POST /api/v1/mirror/flows/{name}/stop`: the flow commits and stops until
/// the process restarts.
async fn stop(State(api): State<Api>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    stop_and_wait(&api, &name).await?;
    tracing::info!(flow = %name, "console: replication flow stopped");
    Ok(Json(json!({ "flow": name, "state": FlowState::Stopped.as_str() })))
}

/// `POST /api/v1/mirror/flows/{name}/failover`: stops the flow, then
/// promotes its mirror topics and copies its groups' offsets to the target
/// (from the source, or from the checkpoints when the source does not answer).
async fn failover(State(api): State<Api>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let cfg = api.mirror_config.clone().ok_or_else(|| unknown_flow(&name))?;
    let flow = cfg.flows.iter().find(|f| f.name() == name).cloned().ok_or_else(|| unknown_flow(&name))?;
    stop_and_wait(&api, &name).await?;
    let report = blocking(move || weir_mirror::failover::failover(&cfg, &flow)).await?.map_err(|e| {
        ApiError::new(StatusCode::BAD_GATEWAY, "FAILOVER_FAILED", format!("failover of flow '{name}': {e}"))
    })?;
    tracing::info!(flow = %name, promoted = report.promoted.len(), groups = report.groups.len(), "console: failover done");
    Ok(Json(json!({
        "flow": name,
        "promoted": report.promoted.iter().map(|(t, was)| json!({ "topic": t, "mirror_of": was })).collect::<Vec<_>>(),
        "already_promoted": report.already_promoted,
        "groups": report.groups.iter().map(|(g, n)| json!({ "group": g, "partitions": n })).collect::<Vec<_>>(),
        "skipped": report.skipped.iter().map(|(g, why)| json!({ "group": g, "reason": why })).collect::<Vec<_>>(),
        "source_error": report.source_error,
    })))
}

/// `POST /api/v1/topics/{name}/promote`: makes a mirror topic of this broker
/// writable; 400 NOT_A_MIRROR_TOPIC for any other topic.
async fn promote(State(api): State<Api>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let meta = api.broker.topics().get(&name).ok_or_else(|| ApiError::unknown_topic(&name))?;
    let source = meta.configs.get(MIRROR_SOURCE).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "NOT_A_MIRROR_TOPIC",
            format!("Topic '{name}' is not a mirror topic (it has no {MIRROR_SOURCE} config)."),
        )
    })?;
    let changes = vec![
        ConfigChange { name: MIRROR_SOURCE.to_string(), op: AlterOp::Delete, value: None },
        ConfigChange { name: MIRROR_PROMOTED.to_string(), op: AlterOp::Set, value: Some(source.clone()) },
    ];
    let (b, topic) = (api.broker.clone(), name.clone());
    blocking(move || b.configs().alter_topic(&topic, &changes, false))
        .await?
        .map_err(|e| ApiError::kafka(weir_broker::api::errors::topic(&e), e.to_string()))?;
    tracing::info!(topic = %name, mirror_of = %source, "console: mirror topic promoted");
    Ok(Json(json!({ "topic": name, "mirror_of": source })))
}
