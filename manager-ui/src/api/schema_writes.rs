//! Schema writes from the console, through the registry's own functions
//! (the ones its REST APIs call, so the same checks and errors apply):
//! - `POST /api/v1/schemas/{subject}/versions` registers a version after the
//!   compatibility check (409 INCOMPATIBLE_SCHEMA names what breaks);
//! - `PUT /api/v1/schemas/{subject}/compatibility` sets or removes the
//!   subject's level; `PUT /api/v1/registry/compatibility` sets the global one;
//! - `POST /api/v1/schemas/{subject}/versions/{version}/state` moves a version
//!   through the Cloudera lifecycle (enable, disable, archive, startReview, ...).
//!
//! Registry errors keep their Confluent or Cloudera code (`registry_code`)
//! beside a name for it.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use weir_registry::confluent::{self, NewSchema};
use weir_registry::schema::Reference;

use super::{blocking, body, Api, ApiError, ApiResult};

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/v1/schemas/{subject}/versions", post(register))
        .route("/api/v1/schemas/{subject}/compatibility", put(subject_compatibility))
        .route("/api/v1/registry/compatibility", put(global_compatibility))
        .route("/api/v1/schemas/{subject}/versions/{version}/state", post(change_state))
}

/// A name for a Confluent registry error code.
fn confluent_name(code: u32) -> &'static str {
    match code {
        409 => "INCOMPATIBLE_SCHEMA",
        40401 => "SUBJECT_NOT_FOUND",
        40402 => "VERSION_NOT_FOUND",
        40408 => "SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED",
        42201 => "INVALID_SCHEMA",
        42202 => "INVALID_VERSION",
        42203 => "INVALID_COMPATIBILITY_LEVEL",
        42205 => "OPERATION_NOT_PERMITTED",
        42208 => "INVALID_SUBJECT",
        c if c >= 50000 => "REGISTRY_STORE_ERROR",
        _ => "INVALID_REQUEST",
    }
}

fn from_registry(e: weir_registry::ApiError) -> ApiError {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // 422 is how Confluent says "invalid"; the console says 400.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { status };
    let mut err = ApiError::new(status, confluent_name(e.code), e.message);
    err.registry_code = Some(e.code);
    err
}

fn store(api: &Api) -> ApiResult<std::sync::Arc<weir_registry::store::Store>> {
    api.registry.clone().ok_or_else(|| ApiError::not_found("NO_REGISTRY", "no schema registry in this process"))
}

#[derive(Debug, Deserialize)]
struct Register {
    schema: String,
    /// AVRO (default), JSON or PROTOBUF.
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

/// Registers a version; 201 with its id and version, 200 when the subject
/// already had that schema.
async fn register(
    State(api): State<Api>,
    Path(subject): Path<String>,
    b: Result<Json<Register>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = body(b)?;
    let store = store(&api)?;
    let subj = subject.clone();
    let new = NewSchema { schema: r.schema, schema_type: r.schema_type, references: r.references };
    let r = blocking(move || confluent::register_schema(&store, &subj, new)).await?.map_err(from_registry)?;
    let status = if r.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({ "subject": subject, "id": r.id, "version": r.version, "created": r.created }))))
}

#[derive(Debug, Deserialize)]
struct Compatibility {
    /// NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE,
    /// FULL, FULL_TRANSITIVE; null removes the subject's own level.
    level: Option<String>,
}

async fn subject_compatibility(
    State(api): State<Api>,
    Path(subject): Path<String>,
    b: Result<Json<Compatibility>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let c = body(b)?;
    let store = store(&api)?;
    let subj = subject.clone();
    blocking(move || confluent::set_compatibility(&store, Some(&subj), c.level.as_deref()))
        .await?
        .map_err(from_registry)?;
    Ok(Json(super::schemas::compatibility_json(&api, &subject)?))
}

async fn global_compatibility(
    State(api): State<Api>,
    b: Result<Json<Compatibility>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let c = body(b)?;
    let level = c.level.ok_or_else(|| ApiError::bad_request("level is required for the global compatibility"))?;
    let store = store(&api)?;
    blocking(move || confluent::set_compatibility(&store, None, Some(&level))).await?.map_err(from_registry)?;
    Ok(Json(super::schemas::compatibility_json(&api, "")?))
}

#[derive(Debug, Deserialize)]
struct StateChange {
    /// enable, disable, archive, startReview, delete (Cloudera's actions).
    action: String,
}

async fn change_state(
    State(api): State<Api>,
    Path((subject, version)): Path<(String, i32)>,
    b: Result<Json<StateChange>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let a = body(b)?;
    let store = store(&api)?;
    let version_id = store
        .read(|st| Ok(st.meta.versions.get(&(subject.clone(), version)).map(|i| i.id)))
        .map_err(from_registry)?
        .ok_or_else(|| {
            ApiError::not_found("VERSION_NOT_FOUND", format!("Subject '{subject}' has no version {version}."))
        })?;
    let s = store.clone();
    blocking(move || weir_registry::schemaregistry::change_version_state(&s, version_id, &a.action)).await?.map_err(
        |e| {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            ApiError::new(status, "INVALID_STATE_TRANSITION", e.message())
        },
    )?;
    let state = store
        .read(|st| Ok(st.meta.versions.get(&(subject.clone(), version)).map(|i| i.state_id)))
        .map_err(from_registry)?;
    Ok(Json(json!({
        "subject": subject,
        "version": version,
        "state": state.map_or("Deleted", weir_registry::metadata::state_name),
    })))
}
