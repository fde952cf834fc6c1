//! The Confluent Schema Registry REST API (what every Confluent serializer and most
//! tools speak), on the shared model. Responses use
//! `application/vnd.schemaregistry.v1+json`; request bodies are JSON whatever
//! content type they claim. Subjects containing `/` work URL-encoded.

mod config;
mod negotiate;
mod schemas;
mod subjects;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State as AxState};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::compat::{self, Level, Previous};
use crate::error::{ApiError, CONTENT_TYPE};
use crate::schema::{self, Parsed, Reference, SchemaType};
use crate::state::{ConfigValue, Key, ModeValue, SchemaValue, State, Version};
use crate::store::{Change, Store};

pub type App = Arc<Store>;

/// `Query`, with malformed query strings answered in Confluent's error shape.
pub(super) struct Q<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Q(t))
            .map_err(|e| ApiError::new(400, 400, e.body_text()))
    }
}

/// `Path`, likewise (e.g. a schema id that is not a number).
pub(super) struct P<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| P(t))
            .map_err(|e| ApiError::new(404, 404, e.body_text()))
    }
}

pub(crate) const DEFAULT_LEVEL: Level = Level::Backward;
pub(super) const MODES: &[&str] = &["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"];

pub(super) fn ok(v: Value) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], v.to_string()).into_response()
}

pub(super) fn result(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

/// A schema registered from inside the process (the console): what the body
/// of `POST /subjects/{subject}/versions` carries.
#[derive(Clone, Debug, Default)]
pub struct NewSchema {
    pub schema: String,
    /// `AVRO` (the default), `JSON` or `PROTOBUF`.
    pub schema_type: Option<String>,
    pub references: Vec<Reference>,
}

/// What a registration did: the schema id and version, and whether the version
/// is new (false when the subject already held that schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registered {
    pub id: i32,
    pub version: i32,
    pub created: bool,
}

/// Registers `s` under `subject` with every check `POST
/// /subjects/{subject}/versions` makes (mode, references, validity,
/// compatibility; a 409 names what is incompatible). Blocking.
pub fn register_schema(store: &Store, subject: &str, s: NewSchema) -> Result<Registered, ApiError> {
    check_subject(subject)?;
    let b = SchemaBody {
        schema: s.schema,
        schema_type: s.schema_type,
        references: s.references,
        id: None,
        version: None,
        metadata: None,
        rule_set: None,
    };
    store.write(|st| subjects::register_change(st, subject, b, false))
}

/// Sets the compatibility level of `subject` (None: the global level) as
/// `PUT /config[/{subject}]` does; `level` None removes the subject's own
/// level (`DELETE /config/{subject}`). Blocking.
pub fn set_compatibility(store: &Store, subject: Option<&str>, level: Option<&str>) -> Result<(), ApiError> {
    match (subject, level) {
        (subject, Some(level)) => {
            if let Some(s) = subject {
                check_subject(s)?;
            }
            let b = config::ConfigBody {
                compatibility: Some(level.to_string()),
                compatibility_level: None,
                normalize: None,
            };
            store.write(|_st| config::config_change(subject.map(str::to_string), b)).map(|_| ())
        }
        (Some(subject), None) => store.write(|st| config::config_removal(st, subject)).map(|_| ()),
        (None, None) => Err(ApiError::new(422, 42203, "The global compatibility level cannot be removed")),
    }
}

/// Runs a write on a blocking thread (it fsyncs).
pub(crate) async fn write<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&State) -> Result<(Vec<Change>, T), ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || app.write(f))
        .await
        .map_err(|e| ApiError::store(format!("writer failed: {e}")))?
}

pub(super) fn body<T: for<'de> Deserialize<'de>>(b: &Bytes) -> Result<T, ApiError> {
    // As Confluent: JSON that does not parse is rest-utils' 400 (Jackson's
    // JsonParseException), JSON of the wrong shape the registry's 422 ("Unrecognized
    // field: ...").
    serde_json::from_slice(b).map_err(|e| match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ApiError::new(400, 400, format!("Malformed JSON request body: {e}"))
        }
        _ => ApiError::new(422, 422, format!("Unrecognized or malformed request body: {e}")),
    })
}

#[derive(Deserialize, Default)]
pub(super) struct ListQ {
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) deleted: bool,
    #[serde(default, rename = "deletedOnly", deserialize_with = "lenient_bool")]
    pub(super) deleted_only: bool,
    #[serde(default, rename = "subjectPrefix")]
    pub(super) subject_prefix: Option<String>,
    #[serde(default, rename = "latestOnly", deserialize_with = "lenient_bool")]
    pub(super) latest_only: bool,
    #[serde(default, deserialize_with = "lenient_usize")]
    pub(super) offset: usize,
    #[serde(default, deserialize_with = "lenient_opt_usize")]
    pub(super) limit: Option<usize>,
    #[serde(default)]
    pub(super) subject: Option<String>,
    /// `serialized`: a Protobuf schema as base64 `FileDescriptorProto`.
    #[serde(default)]
    pub(super) format: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) normalize: bool,
}

#[derive(Deserialize, Default)]
pub(super) struct DeleteQ {
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) permanent: bool,
}

#[derive(Deserialize, Default)]
pub(super) struct VerboseQ {
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) verbose: bool,
}

#[derive(Deserialize, Default)]
pub(super) struct ConfigQ {
    #[serde(default, rename = "defaultToGlobal", deserialize_with = "lenient_bool")]
    pub(super) default_to_global: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) force: bool,
}

#[derive(Deserialize)]
pub(super) struct SchemaBody {
    pub(super) schema: String,
    #[serde(default, rename = "schemaType")]
    pub(super) schema_type: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(super) references: Vec<Reference>,
    #[serde(default)]
    pub(super) id: Option<i32>,
    #[serde(default)]
    pub(super) version: Option<i32>,
    #[serde(default)]
    pub(super) metadata: Option<Value>,
    #[serde(default, rename = "ruleSet")]
    pub(super) rule_set: Option<Value>,
}

/// Query flags as clients send them: `true`, `True`, `1`, ... (Python's client
/// sends `verbose=False`).
pub(crate) fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(serde::de::Error::custom(format!("'{other}' is not a boolean"))),
    }
}

/// `"references": null` is the same as none, as in Confluent.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Reference>, D::Error> {
    Ok(Option::<Vec<Reference>>::deserialize(d)?.unwrap_or_default())
}

pub(super) fn lenient_usize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let s = String::deserialize(d)?;
    let n: i64 = s.trim().parse().map_err(|_| serde::de::Error::custom(format!("'{s}' is not a number")))?;
    Ok(n.max(0) as usize)
}

/// `limit`: a negative value (clients send -1) means no limit.
pub(super) fn lenient_opt_usize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let s = String::deserialize(d)?;
    let n: i64 = s.trim().parse().map_err(|_| serde::de::Error::custom(format!("'{s}' is not a number")))?;
    Ok((n > 0).then_some(n as usize))
}

impl ListQ {
    fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        items.into_iter().skip(self.offset).take(self.limit.unwrap_or(usize::MAX)).collect()
    }
}

/// `latest`, `-1` or a positive version number.
pub(super) fn parse_version(v: &str) -> Result<Option<i32>, ApiError> {
    match v {
        "latest" | "-1" => Ok(None),
        _ => match v.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::invalid_version(v)),
        },
    }
}

pub(super) fn check_subject(s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.chars().any(char::is_control) {
        return Err(ApiError::new(422, 42208, format!("The specified subject '{s}' is not a valid.")));
    }
    Ok(())
}

/// The version a request names, live unless `deleted`.
pub(super) fn find_version<'a>(
    st: &'a State,
    subject: &str,
    version: &str,
    deleted: bool,
) -> Result<&'a Version, ApiError> {
    let want = parse_version(version)?;
    let live = st.live(subject, deleted);
    if live.is_empty() {
        return Err(ApiError::subject_not_found(subject));
    }
    match want {
        None => Ok(live.last().copied().expect("non-empty")),
        Some(n) => live.iter().find(|v| v.version == n).copied().ok_or_else(|| ApiError::version_not_found(version)),
    }
}

pub(super) fn version_json(v: &Version) -> Value {
    let mut o = json!({"subject": v.subject, "version": v.version, "id": v.id, "schema": v.schema});
    if v.schema_type != SchemaType::Avro {
        o["schemaType"] = json!(v.schema_type.name());
    }
    if !v.references.is_empty() {
        o["references"] = json!(v.references);
    }
    if let Some(m) = &v.metadata {
        o["metadata"] = m.clone();
    }
    if let Some(r) = &v.rule_set {
        o["ruleSet"] = r.clone();
    }
    o
}

pub(crate) fn level_of(st: &State, subject: Option<&str>) -> Level {
    subject
        .and_then(|s| st.subject_config.get(s))
        .or(st.global_config.as_ref())
        .and_then(|c| c.compatibility_level.as_deref())
        .and_then(Level::parse)
        .unwrap_or(DEFAULT_LEVEL)
}

/// Whether a register or lookup normalizes: asked for, or the subject's (else the
/// global) `normalize` config.
pub(super) fn normalize_of(st: &State, subject: &str, asked: bool) -> bool {
    asked
        || st
            .subject_config
            .get(subject)
            .and_then(|c| c.normalize)
            .or(st.global_config.as_ref().and_then(|c| c.normalize))
            .unwrap_or(false)
}

/// A schema's text in the `format` asked for: `serialized` gives a Protobuf
/// schema as base64 `FileDescriptorProto`; other formats give the stored text.
pub(super) fn formatted(
    st: &State,
    ty: SchemaType,
    text: &str,
    refs: &[Reference],
    format: Option<&str>,
) -> Result<String, ApiError> {
    if ty != SchemaType::Protobuf || format != Some("serialized") {
        return Ok(text.to_string());
    }
    let mut deps = Vec::new();
    resolve_references(st, refs, &mut deps, &mut BTreeSet::new(), 0)?;
    let deps: Vec<(String, String)> = deps.into_iter().map(|d| (d.name, d.text)).collect();
    crate::proto::compile(text, &deps, false)
        .map(|c| c.serialized)
        .map_err(|e| ApiError::store(format!("stored schema does not compile: {e}")))
}

pub(crate) fn mode_of(st: &State, subject: &str) -> String {
    st.subject_mode.get(subject).or(st.global_mode.as_ref()).cloned().unwrap_or_else(|| "READWRITE".into())
}

/// References as stored: version -1 is the referenced subject's latest version
/// at the time of the request, as Confluent resolves it.
pub(super) fn latest_references(st: &State, refs: &[Reference]) -> Result<Vec<Reference>, ApiError> {
    refs.iter()
        .map(|r| {
            if r.version != -1 {
                return Ok(r.clone());
            }
            let latest = st.live(&r.subject, false).into_iter().map(|v| v.version).max().ok_or_else(|| {
                ApiError::invalid_schema(format!(
                    "Invalid schema: reference {} points at subject '{}', which has no versions",
                    r.name, r.subject
                ))
            })?;
            Ok(Reference { version: latest, ..r.clone() })
        })
        .collect()
}

/// The referenced schemas, dependencies first, each once.
pub(super) fn resolve_references(
    st: &State,
    refs: &[Reference],
    out: &mut Vec<schema::Dep>,
    seen: &mut BTreeSet<(String, i32)>,
    depth: usize,
) -> Result<(), ApiError> {
    if depth > 32 {
        return Err(ApiError::invalid_schema("Invalid schema: references nest too deeply"));
    }
    for r in refs {
        if !seen.insert((r.subject.clone(), r.version)) {
            continue;
        }
        let v = st.live(&r.subject, true).into_iter().find(|v| v.version == r.version).ok_or_else(|| {
            ApiError::invalid_schema(format!(
                "Invalid schema: reference {} points at subject '{}' version {}, which does not exist",
                r.name, r.subject, r.version
            ))
        })?;
        resolve_references(st, &v.references, out, seen, depth + 1)?;
        out.push(schema::Dep { name: r.name.clone(), ty: v.schema_type, text: v.schema.clone() });
    }
    Ok(())
}

/// Parses a schema (with its references) into canonical text and model.
pub(crate) fn parse_schema(
    st: &State,
    ty: SchemaType,
    text: &str,
    refs: &[Reference],
) -> Result<(String, Parsed), ApiError> {
    parse_schema_as(st, ty, text, refs, false)
}

/// `parse_schema`, the canonical text normalized when `normalize`.
pub(crate) fn parse_schema_as(
    st: &State,
    ty: SchemaType,
    text: &str,
    refs: &[Reference],
    normalize: bool,
) -> Result<(String, Parsed), ApiError> {
    let mut resolved = Vec::new();
    resolve_references(st, refs, &mut resolved, &mut BTreeSet::new(), 0)?;
    schema::parse(ty, text, &resolved, normalize).map_err(ApiError::invalid_schema)
}

/// `schema::check_new` for a schema being registered or checked (Avro defaults).
pub(super) fn check_new(st: &State, ty: SchemaType, text: &str, refs: &[Reference]) -> Result<(), ApiError> {
    let mut resolved = Vec::new();
    resolve_references(st, refs, &mut resolved, &mut BTreeSet::new(), 0)?;
    schema::check_new(ty, text, &resolved).map_err(ApiError::invalid_schema)
}

/// Parsed earlier versions of a subject for compatibility checks (live ones).
pub(super) fn previous(st: &State, subject: &str) -> Result<Vec<(i32, Parsed, String)>, ApiError> {
    st.live(subject, false)
        .into_iter()
        .map(|v| {
            parse_schema(st, v.schema_type, &v.schema, &v.references)
                .map(|(_, p)| (v.version, p, v.schema.clone()))
                .map_err(|e| {
                    ApiError::store(format!("stored version {} of {subject} does not parse: {}", v.version, e.message))
                })
        })
        .collect()
}

pub(crate) fn check_compat(level: Level, new: &Parsed, prev: &[(i32, Parsed, String)]) -> Vec<String> {
    let refs: Vec<Previous<'_>> = prev.iter().map(|(v, p, t)| Previous { version: *v, parsed: p, text: t }).collect();
    compat::check(level, new, &refs)
}

use config::*;
use schemas::*;
use subjects::*;

async fn not_found() -> Response {
    ApiError::new(404, 404, "HTTP 404 Not Found").into_response()
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(root).post(root))
        .route("/contexts", get(contexts))
        .route("/schemas", get(list_schemas))
        .route("/schemas/types", get(schema_types))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(schema_text_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_by_id))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(list_versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(get_version).delete(delete_version))
        .route("/subjects/{subject}/versions/{version}/schema", get(get_version_schema))
        .route("/subjects/{subject}/versions/{version}/referencedby", get(referenced_by))
        .route("/compatibility/subjects/{subject}/versions", post(compat_all))
        .route("/compatibility/subjects/{subject}/versions/{version}", post(compat_version))
        .route("/config", get(get_config).put(put_config).delete(delete_config))
        .route("/config/{subject}", get(get_subject_config).put(put_subject_config).delete(delete_subject_config))
        .route("/mode", get(get_mode).put(put_mode))
        .route("/mode/{subject}", get(get_subject_mode).put(put_subject_mode).delete(delete_subject_mode))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(negotiate::middleware))
        .with_state(app)
}
