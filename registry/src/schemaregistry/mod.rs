//! The schema-metadata API in the style of Cloudera's (Hortonworks') Schema
//! Registry, under `/api/v1/schemaregistry`: schema metadata, versions on
//! branches, merges, version lifecycle states, compatibility, search, files and
//! serializer/deserializer registrations. Lists come as `{"entities": [...]}`,
//! errors as `{"responseCode": 1101, "responseMessage": "..."}` with the HTTP
//! status Cloudera's registry uses (404 not found, 400 bad or incompatible
//! schema, 409 conflict, 500 storage).
//!
//! It is a second view of the model the Confluent API serves (see `metadata`): a
//! schema metadata is a subject, its MASTER versions are the subject's versions,
//! its compatibility is the subject's compatibility level (BOTH is FULL, a
//! validation level of ALL makes it transitive).

mod branches;
mod files;
mod schemas;
mod search;
mod versions;
mod views;

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Multipart, Path, Query, RawQuery, State as AxState};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::compat::Level;
use crate::confluent::{check_compat, level_of, mode_of, parse_schema, write, App, DEFAULT_LEVEL};
use crate::metadata::{self, BranchValue, FileValue, MetadataValue, SerdesValue, VersionInfoValue, MASTER};
use crate::schema::SchemaType;
use crate::state::{ConfigValue, Key, SchemaValue, State};
use crate::store::Change;

/// An error as Cloudera's registry sends it.
#[derive(Debug)]
pub struct HwError {
    status: u16,
    code: u32,
    message: String,
}

impl HwError {
    fn not_found(what: impl std::fmt::Display) -> HwError {
        HwError { status: 404, code: 1101, message: format!("Entity with id [{what}] not found.") }
    }
    fn bad_request(why: impl Into<String>) -> HwError {
        HwError { status: 400, code: 1110, message: why.into() }
    }
    fn missing(param: &str) -> HwError {
        HwError { status: 400, code: 1103, message: format!("Bad request. Param [{param}] is missing or empty.") }
    }
    fn incompatible(why: impl Into<String>) -> HwError {
        HwError { status: 400, code: 1106, message: why.into() }
    }
    fn invalid_schema(why: impl Into<String>) -> HwError {
        HwError { status: 400, code: 1107, message: why.into() }
    }
    fn conflict(status: u16, why: impl Into<String>) -> HwError {
        HwError { status, code: 1111, message: why.into() }
    }
    fn unsupported_type(ty: &str) -> HwError {
        HwError {
            status: 400,
            code: 1108,
            message: format!("Schema type '{ty}' is not supported: avro, json or protobuf"),
        }
    }
    fn refused(why: impl Into<String>) -> HwError {
        HwError { status: 400, code: 1112, message: why.into() }
    }
}

impl HwError {
    /// The HTTP status Cloudera's registry answers with.
    pub fn status(&self) -> u16 {
        self.status
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for HwError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Moves schema version `version_id` (the schema-metadata version id) through
/// the lifecycle by `action` (enable, disable, archive, startReview, delete,
/// or a target state id), as `POST /schemaregistry/schemas/versions/{id}/state/{action}`
/// does. Blocking.
pub fn change_version_state(store: &crate::store::Store, version_id: i64, action: &str) -> Result<(), HwError> {
    store
        .write(|st| match branches::state_change(st, version_id, action) {
            Ok((changes, ())) => Ok((changes, Ok(()))),
            Err(e) => Ok((vec![], Err(e))),
        })
        .map_err(HwError::from)?
}

impl From<crate::ApiError> for HwError {
    fn from(e: crate::ApiError) -> HwError {
        match e.code {
            42201 => HwError::invalid_schema(e.message),
            c if c >= 50000 => HwError { status: 500, code: 1102, message: e.message },
            _ => HwError::bad_request(e.message),
        }
    }
}

impl IntoResponse for HwError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"responseCode": self.code, "responseMessage": self.message});
        (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

pub(super) type R = Result<Response, HwError>;

pub(super) fn ok(v: Value) -> R {
    Ok(([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response())
}

pub(super) fn created(v: Value) -> R {
    Ok((StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response())
}

/// DELETE answers 200 with an empty body.
pub(super) fn done() -> R {
    Ok(StatusCode::OK.into_response())
}

pub(super) fn entities(v: Vec<Value>) -> R {
    ok(json!({ "entities": v }))
}

/// `Query` and `Path` with rejections in this API's error shape.
pub(super) struct Q<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = HwError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HwError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Q(t))
            .map_err(|e| HwError::bad_request(e.body_text()))
    }
}

pub(super) struct P<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = HwError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HwError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| P(t))
            .map_err(|e| HwError::bad_request(e.body_text()))
    }
}

pub(super) fn body<T: for<'de> Deserialize<'de>>(b: &Bytes) -> Result<T, HwError> {
    serde_json::from_slice(b).map_err(|e| HwError::bad_request(format!("Malformed request body: {e}")))
}

pub(super) async fn write_hw<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&State) -> Result<(Vec<Change>, T), HwError> + Send + 'static,
) -> Result<T, HwError> {
    // A refusal is carried through `write` as a value: nothing is written for it.
    let out = write(app, move |st| match f(st) {
        Ok((changes, t)) => Ok((changes, Ok(t))),
        Err(e) => Ok((vec![], Err(e))),
    })
    .await?;
    out
}

pub(super) fn read<T>(app: &App, f: impl FnOnce(&State) -> Result<T, HwError>) -> Result<T, HwError> {
    let mut out = None;
    app.read(|st| {
        out = Some(f(st));
        Ok(())
    })?;
    out.expect("read ran")
}

pub(super) fn val<T: serde::Serialize>(t: &T) -> Option<Value> {
    Some(serde_json::to_value(t).expect("serializes"))
}

use branches::*;
use files::*;
use schemas::*;
use search::*;
use versions::*;
use views::*;

/// A body too large or too slow is answered in Cloudera's error form (413, 408).
async fn whole_body(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    weir_http_security::body::read_whole(req, next, |e| {
        HwError { status: e.status().as_u16(), code: 1110, message: e.message() }.into_response()
    })
    .await
}

async fn not_found() -> R {
    Err(HwError { status: 404, code: 1101, message: "No such endpoint in the schema registry API".into() })
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/schemaproviders", get(schema_providers))
        .route("/version", get(server_version))
        .route("/schemasById/{id}", get(schema_by_id))
        // Cloudera's Java client sends these with a trailing slash.
        .route("/schemaproviders/", get(schema_providers))
        .route("/serdes/", get(list_serdes).post(add_serdes))
        .route("/files/", post(upload_file))
        .route("/schemas/{name}/serdes/", get(schema_serdes))
        .route("/schemas", get(list_schemas).post(create_schema))
        .route("/schemas/aggregated", get(list_aggregated))
        .route("/schemas/versions/statemachine", get(state_machine))
        .route("/schemas/versions/{id}/state/{action}", post(change_state))
        .route("/schemas/versions/{id}", delete(delete_version_by_id))
        .route("/schemas/versionsById/{id}", get(version_by_id_handler))
        .route("/schemas/versionsById/{id}/branch", post(create_branch))
        .route("/schemas/versionsByFingerprint/{fp}", get(version_by_fingerprint))
        .route("/schemas/branch/{id}", delete(delete_branch))
        .route("/schemas/{name}", get(get_schema).post(update_schema).put(update_schema).delete(delete_schema))
        .route("/schemas/{name}/aggregated", get(get_aggregated))
        .route("/schemas/{name}/versions", get(list_versions).post(add_version))
        .route("/schemas/{name}/versions/latest", get(latest_version))
        .route("/schemas/{name}/versions/upload", post(upload_version))
        .route("/schemas/{name}/versions/{version}", get(get_version).delete(delete_version))
        .route("/schemas/{name}/versions/{version}/schemaText", get(schema_text))
        .route("/schemas/{name}/branches", get(list_branches))
        .route("/schemas/{name}/merge", post(merge))
        .route("/schemas/{name}/compatibility", post(check_compatibility))
        .route("/schemas/{name}/serdes", get(schema_serdes))
        .route("/schemas/{name}/mapping/{serdes_id}", post(map_serdes).delete(unmap_serdes))
        .route("/search/schemas", get(search))
        .route("/search/schemas/aggregated", get(search_aggregated))
        .route("/search/schemas/fields", get(search_fields))
        .route("/files", post(upload_file))
        .route("/files/download/{id}", get(download_file))
        .route("/serdes", get(list_serdes).post(add_serdes))
        .route("/serdes/{id}", get(get_serdes))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(whole_body))
        .with_state(app)
}
