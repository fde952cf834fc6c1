//! Alerts: what fires now, the history, and the policies and notifiers
//! (create, replace, delete; a test delivery). Writes are durable before
//! they answer.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, body, page, query, Api, ApiError, ApiResult, ListQuery};
use crate::alerts::{AlertError, Metric, NotifierConfig, NotifierStatus, Policy, Status};

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/v1/alerts", get(firing))
        .route("/api/v1/alerts/history", get(history))
        .route("/api/v1/alerts/metrics", get(metrics))
        .route("/api/v1/alerts/policies", get(policies).post(create_policy))
        .route("/api/v1/alerts/policies/{id}", get(policy).put(replace_policy).delete(delete_policy))
        .route("/api/v1/alerts/notifiers", get(notifiers).post(create_notifier))
        .route("/api/v1/alerts/notifiers/{id}", get(notifier).put(replace_notifier).delete(delete_notifier))
        .route("/api/v1/alerts/notifiers/{id}/test", post(test_notifier))
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> ApiError {
        let (status, code) = match &e {
            AlertError::Invalid(_) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
            AlertError::NotFound { .. } => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            AlertError::Exists { .. } => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
            AlertError::InUse { .. } => (StatusCode::CONFLICT, "IN_USE"),
            AlertError::Storage { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "KAFKA_STORAGE_ERROR"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// `GET /api/v1/alerts`: the firing alerts, most recent first.
async fn firing(State(api): State<Api>) -> Json<Value> {
    let a = &api.alerts;
    let (policies, notifiers) = a.counts();
    Json(json!({ "firing": a.firing(), "policies": policies, "notifiers": notifiers }))
}

#[derive(Debug, Default, Deserialize)]
struct HistoryFilter {
    policy: Option<String>,
    subject: Option<String>,
    status: Option<Status>,
}

/// `GET /api/v1/alerts/history?policy=&subject=&status=&offset=&limit=`, newest first.
async fn history(
    State(api): State<Api>,
    q: Result<Query<ListQuery>, QueryRejection>,
    f: Result<Query<HistoryFilter>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let (q, f) = (query(q)?, query(f)?);
    let events: Vec<_> = api
        .alerts
        .history()
        .into_iter()
        .filter(|e| f.policy.as_ref().is_none_or(|p| &e.policy_id == p))
        .filter(|e| f.subject.as_ref().is_none_or(|s| &e.subject == s))
        .filter(|e| f.status.is_none_or(|s| e.status == s))
        .collect();
    let (offset, limit) = q.window();
    let (total, events) = page(events, &q);
    Ok(Json(json!({ "total": total, "offset": offset, "limit": limit, "events": events })))
}

/// `GET /api/v1/alerts/metrics`: what policies can watch, and what their targets name.
async fn metrics() -> Json<Value> {
    let rows: Vec<Value> =
        Metric::ALL.iter().map(|m| json!({ "metric": m.name(), "target": m.target_kind() })).collect();
    Json(json!({ "metrics": rows }))
}

fn policy_row(api: &Api, p: &Policy) -> Value {
    row_with_count(p, api.alerts.firing_per_policy().get(&p.id).copied().unwrap_or(0))
}

fn row_with_count(p: &Policy, firing: usize) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    v["firing"] = json!(firing);
    v
}

async fn policies(State(api): State<Api>) -> Json<Value> {
    // One count of the firing alerts for the whole list, not one per row.
    let firing = api.alerts.firing_per_policy();
    let rows: Vec<Value> =
        api.alerts.policies().iter().map(|p| row_with_count(p, firing.get(&p.id).copied().unwrap_or(0))).collect();
    Json(json!({ "policies": rows }))
}

async fn policy(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let p = api.alerts.policy(&id).ok_or(AlertError::NotFound { kind: "policy", id })?;
    Ok(Json(policy_row(&api, &p)))
}

/// `POST /api/v1/alerts/policies`: a new policy (its id from its name unless given); 201.
async fn create_policy(
    State(api): State<Api>,
    b: Result<Json<Policy>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = body(b)?;
    let a = api.alerts.clone();
    let p = blocking(move || a.put_policy(p, true)).await??;
    Ok((StatusCode::CREATED, Json(policy_row(&api, &p))))
}

/// `PUT /api/v1/alerts/policies/{id}`: replaces the policy (the body's id, if any, must match).
async fn replace_policy(
    State(api): State<Api>,
    Path(id): Path<String>,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let p: Policy = with_id(body(b)?, &id)?;
    let a = api.alerts.clone();
    let p = blocking(move || a.put_policy(p, false)).await??;
    Ok(Json(policy_row(&api, &p)))
}

async fn delete_policy(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let a = api.alerts.clone();
    let now = api.broker.clock().now_ms();
    blocking(move || a.delete_policy(&id, now)).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// The body with `id` set from the path (400 if it names another).
fn with_id<T: serde::de::DeserializeOwned>(mut v: Value, id: &str) -> ApiResult<T> {
    let obj = v.as_object_mut().ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    match obj.get("id").and_then(Value::as_str) {
        Some(given) if given != id => {
            return Err(ApiError::bad_request(format!("the body's id {given:?} is not the path's {id:?}")))
        }
        _ => {
            obj.insert("id".into(), json!(id));
        }
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn notifier_row(n: &NotifierConfig, s: &NotifierStatus) -> Value {
    let mut v = serde_json::to_value(n).unwrap_or_default();
    v["status"] = serde_json::to_value(s).unwrap_or_default();
    v
}

async fn notifiers(State(api): State<Api>) -> Json<Value> {
    let rows: Vec<Value> = api.alerts.notifiers().iter().map(|(n, s)| notifier_row(n, s)).collect();
    Json(json!({ "notifiers": rows }))
}

async fn notifier(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let (n, s) = api.alerts.notifier(&id).ok_or(AlertError::NotFound { kind: "notifier", id })?;
    Ok(Json(notifier_row(&n, &s)))
}

async fn create_notifier(
    State(api): State<Api>,
    b: Result<Json<NotifierConfig>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let n = body(b)?;
    let a = api.alerts.clone();
    let n = blocking(move || a.put_notifier(n, true)).await??;
    Ok((StatusCode::CREATED, Json(notifier_row(&n, &NotifierStatus::default()))))
}

async fn replace_notifier(
    State(api): State<Api>,
    Path(id): Path<String>,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let n: NotifierConfig = with_id(body(b)?, &id)?;
    let a = api.alerts.clone();
    let n = blocking(move || a.put_notifier(n, false)).await??;
    let s = api.alerts.notifier(&n.id).map(|x| x.1).unwrap_or_default();
    Ok(Json(notifier_row(&n, &s)))
}

async fn delete_notifier(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let a = api.alerts.clone();
    blocking(move || a.delete_notifier(&id)).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/alerts/notifiers/{id}/test`: one delivery now; 200 with
/// what the endpoint answered, or 502 NOTIFIER_FAILED saying why not.
async fn test_notifier(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let now = api.broker.clock().now_ms();
    match api.alerts.test_notifier(&id, now).await? {
        Ok(answer) => Ok(Json(json!({ "delivered": true, "answer": answer }))),
        Err(e) => Err(ApiError::new(StatusCode::BAD_GATEWAY, "NOTIFIER_FAILED", e)),
    }
}
