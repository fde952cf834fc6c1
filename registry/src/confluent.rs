//! The Confluent Schema Registry REST API (what every Confluent serializer and most
//! tools speak), on the shared model. Responses use
//! `application/vnd.schemaregistry.v1+json`; request bodies are JSON whatever
//! content type they claim. Subjects containing `/` work URL-encoded.

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
struct Q<T>(T);

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
struct P<T>(T);

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
const MODES: &[&str] = &["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"];

fn ok(v: Value) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], v.to_string()).into_response()
}

fn result(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
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

fn body<T: for<'de> Deserialize<'de>>(b: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(b)
        .map_err(|e| ApiError::new(422, 422, format!("Unrecognized or malformed request body: {e}")))
}

#[derive(Deserialize, Default)]
struct ListQ {
    #[serde(default, deserialize_with = "lenient_bool")]
    deleted: bool,
    #[serde(default, rename = "deletedOnly", deserialize_with = "lenient_bool")]
    deleted_only: bool,
    #[serde(default, rename = "subjectPrefix")]
    subject_prefix: Option<String>,
    #[serde(default, rename = "latestOnly", deserialize_with = "lenient_bool")]
    latest_only: bool,
    #[serde(default, deserialize_with = "lenient_usize")]
    offset: usize,
    #[serde(default, deserialize_with = "lenient_opt_usize")]
    limit: Option<usize>,
    #[serde(default)]
    subject: Option<String>,
}

#[derive(Deserialize, Default)]
struct DeleteQ {
    #[serde(default, deserialize_with = "lenient_bool")]
    permanent: bool,
}

#[derive(Deserialize, Default)]
struct VerboseQ {
    #[serde(default, deserialize_with = "lenient_bool")]
    verbose: bool,
}

#[derive(Deserialize, Default)]
struct ConfigQ {
    #[serde(default, rename = "defaultToGlobal", deserialize_with = "lenient_bool")]
    default_to_global: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    force: bool,
}

#[derive(Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(default, rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
    #[serde(default)]
    id: Option<i32>,
    #[serde(default)]
    version: Option<i32>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default, rename = "ruleSet")]
    rule_set: Option<Value>,
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

fn lenient_usize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let s = String::deserialize(d)?;
    let n: i64 = s.trim().parse().map_err(|_| serde::de::Error::custom(format!("'{s}' is not a number")))?;
    Ok(n.max(0) as usize)
}

/// `limit`: a negative value (clients send -1) means no limit.
fn lenient_opt_usize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
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
fn parse_version(v: &str) -> Result<Option<i32>, ApiError> {
    match v {
        "latest" | "-1" => Ok(None),
        _ => match v.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::invalid_version(v)),
        },
    }
}

fn check_subject(s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.chars().any(char::is_control) {
        return Err(ApiError::new(422, 42208, format!("The specified subject '{s}' is not a valid subject name.")));
    }
    Ok(())
}

/// The version a request names, live unless `deleted`.
fn find_version<'a>(st: &'a State, subject: &str, version: &str, deleted: bool) -> Result<&'a Version, ApiError> {
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

fn version_json(v: &Version) -> Value {
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

pub(crate) fn mode_of(st: &State, subject: &str) -> String {
    st.subject_mode.get(subject).or(st.global_mode.as_ref()).cloned().unwrap_or_else(|| "READWRITE".into())
}

/// The referenced schemas' (type, text), dependencies first, each once.
fn resolve_references(
    st: &State,
    refs: &[Reference],
    out: &mut Vec<(SchemaType, String)>,
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
        out.push((v.schema_type, v.schema.clone()));
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
    let mut resolved = Vec::new();
    resolve_references(st, refs, &mut resolved, &mut BTreeSet::new(), 0)?;
    schema::parse(ty, text, &resolved).map_err(ApiError::invalid_schema)
}

/// Parsed earlier versions of a subject for compatibility checks (live ones).
fn previous(st: &State, subject: &str) -> Result<Vec<(i32, Parsed, String)>, ApiError> {
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

// ------------------------------------------------------------------ handlers

async fn root() -> Response {
    ok(json!({}))
}

async fn contexts() -> Response {
    ok(json!(["."]))
}

async fn schema_types() -> Response {
    ok(json!(["JSON", "PROTOBUF", "AVRO"]))
}

async fn list_subjects(AxState(app): AxState<App>, Q(q): Q<ListQ>) -> Response {
    result(app.read(|st| {
        let out: Vec<&String> = st
            .subjects
            .iter()
            .filter(|(s, _)| q.subject_prefix.as_deref().is_none_or(|p| s.starts_with(p)))
            .filter(|(_, vs)| {
                let any_live = vs.values().any(|v| !v.deleted);
                if q.deleted_only {
                    vs.values().any(|v| v.deleted)
                } else {
                    any_live || q.deleted
                }
            })
            .map(|(s, _)| s)
            .collect();
        Ok(json!(q.page(out)))
    }))
}

async fn list_versions(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<ListQ>) -> Response {
    result(app.read(|st| {
        let vs = st.versions(&subject).ok_or_else(|| ApiError::subject_not_found(&subject))?;
        let out: Vec<i32> = vs
            .values()
            .filter(|v| if q.deleted_only { v.deleted } else { q.deleted || !v.deleted })
            .map(|v| v.version)
            .collect();
        if out.is_empty() && !q.deleted_only {
            return Err(ApiError::subject_not_found(&subject));
        }
        Ok(json!(q.page(out)))
    }))
}

async fn get_version(
    AxState(app): AxState<App>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<ListQ>,
) -> Response {
    result(app.read(|st| find_version(st, &subject, &version, q.deleted).map(version_json)))
}

async fn get_version_schema(
    AxState(app): AxState<App>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<ListQ>,
) -> Response {
    match app.read(|st| find_version(st, &subject, &version, q.deleted).map(|v| v.schema.clone())) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn referenced_by(AxState(app): AxState<App>, P((subject, version)): P<(String, String)>) -> Response {
    result(app.read(|st| {
        let v = find_version(st, &subject, &version, true)?;
        let ids: BTreeSet<i32> = st.referenced_by(&subject, v.version).into_iter().map(|r| r.id).collect();
        Ok(json!(ids))
    }))
}

async fn register(AxState(app): AxState<App>, P(subject): P<String>, raw: Bytes) -> Response {
    let b: SchemaBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = check_subject(&subject) {
        return e.into_response();
    }
    result(
        write(&app, move |st| {
            let ty = SchemaType::parse(b.schema_type.as_deref()).map_err(ApiError::invalid_schema)?;
            let mode = mode_of(st, &subject);
            if mode == "READONLY" || mode == "READONLY_OVERRIDE" {
                return Err(ApiError::not_permitted(format!("Subject {subject} is in read-only mode")));
            }
            let importing = mode == "IMPORT";
            if b.id.is_some() && !importing {
                return Err(ApiError::not_permitted(format!("Subject {subject} is not in import mode; a schema id cannot be chosen")));
            }
            let (canonical, parsed) = parse_schema(st, ty, &b.schema, &b.references)?;
            let content = (ty, canonical.clone(), b.references.clone());
            let live = st.live(&subject, false);
            if let Some(existing) = live.iter().find(|v| v.schema_type == ty && v.schema == canonical && v.references == b.references) {
                return Ok((vec![], json!({"id": existing.id})));
            }
            if !importing {
                let prev = previous(st, &subject)?;
                let msgs = check_compat(level_of(st, Some(&subject)), &parsed, &prev);
                if !msgs.is_empty() {
                    let latest = prev.last().map(|p| p.0).unwrap_or(0);
                    return Err(ApiError::new(
                        409,
                        409,
                        format!("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}] (latest version {latest})", msgs.join(", ")),
                    ));
                }
            }
            let id = match (b.id, st.content_id(&content)) {
                (Some(id), _) => {
                    if let Some(c) = st.by_id.get(&id) {
                        if *c != content {
                            return Err(ApiError::new(422, 42207, format!("Overwrite new schema with id {id} is not permitted.")));
                        }
                    }
                    id
                }
                (None, Some(id)) => id,
                (None, None) => st.next_id(),
            };
            let next = st.next_version(&subject);
            let version = match b.version {
                Some(v) if importing && v >= 1 => v,
                Some(v) if importing => return Err(ApiError::invalid_version(&v.to_string())),
                _ => next,
            };
            let value = SchemaValue {
                subject: subject.clone(),
                version,
                id,
                schema_type: (ty != SchemaType::Avro).then(|| ty.name().to_string()),
                references: b.references.clone(),
                schema: canonical,
                deleted: false,
                metadata: b.metadata,
                rule_set: b.rule_set,
            };
            tracing::info!(%subject, version, id, schema_type = ty.name(), "schema registered");
            let key = Key::Schema { subject: subject.clone(), version, magic: 1 };
            Ok((vec![(key, Some(serde_json::to_value(value).expect("serializes")))], json!({"id": id})))
        })
        .await,
    )
}

async fn lookup(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<ListQ>, raw: Bytes) -> Response {
    let b: SchemaBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    result(app.read(|st| {
        let ty = SchemaType::parse(b.schema_type.as_deref()).map_err(ApiError::invalid_schema)?;
        if st.live(&subject, q.deleted).is_empty() {
            return Err(ApiError::subject_not_found(&subject));
        }
        let (canonical, _) = parse_schema(st, ty, &b.schema, &b.references)?;
        st.live(&subject, q.deleted)
            .into_iter()
            .find(|v| v.schema_type == ty && v.schema == canonical && v.references == b.references)
            .map(version_json)
            .ok_or_else(ApiError::schema_not_found)
    }))
}

async fn delete_subject(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<DeleteQ>) -> Response {
    result(
        write(&app, move |st| {
            let vs = st.versions(&subject).ok_or_else(|| ApiError::subject_not_found(&subject))?;
            if mode_of(st, &subject).starts_with("READONLY") {
                return Err(ApiError::not_permitted(format!("Subject {subject} is in read-only mode")));
            }
            let live: Vec<&Version> = vs.values().filter(|v| !v.deleted).collect();
            for v in vs.values() {
                if !st.referenced_by(&subject, v.version).is_empty() {
                    return Err(ApiError::new(
                        422,
                        42206,
                        format!(
                            "One or more references exist to the schema {{subject={subject},version={}}}.",
                            v.version
                        ),
                    ));
                }
            }
            if q.permanent {
                if !live.is_empty() {
                    return Err(ApiError::new(
                        404,
                        40405,
                        format!("Subject '{subject}' was not deleted first before being permanently deleted"),
                    ));
                }
                let versions: Vec<i32> = vs.keys().copied().collect();
                let mut changes: Vec<Change> = versions
                    .iter()
                    .map(|v| (Key::Schema { subject: subject.clone(), version: *v, magic: 1 }, None))
                    .collect();
                if st.subject_config.contains_key(&subject) {
                    changes.push((Key::Config { subject: Some(subject.clone()), magic: 0 }, None));
                }
                if st.subject_mode.contains_key(&subject) {
                    changes.push((Key::Mode { subject: Some(subject.clone()), magic: 0 }, None));
                }
                tracing::info!(%subject, "subject deleted permanently");
                return Ok((changes, json!(versions)));
            }
            if live.is_empty() {
                return Err(ApiError::new(
                    404,
                    40404,
                    format!("Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"),
                ));
            }
            let versions: Vec<i32> = live.iter().map(|v| v.version).collect();
            let mut changes: Vec<Change> = live
                .iter()
                .map(|v| {
                    let mut value = stored_value(v);
                    value.deleted = true;
                    (
                        Key::Schema { subject: subject.clone(), version: v.version, magic: 1 },
                        Some(serde_json::to_value(value).expect("serializes")),
                    )
                })
                .collect();
            changes.push((
                Key::DeleteSubject { subject: subject.clone(), magic: 0 },
                Some(json!({"subject": subject, "version": versions.last()})),
            ));
            tracing::info!(%subject, "subject soft-deleted");
            Ok((changes, json!(versions)))
        })
        .await,
    )
}

fn stored_value(v: &Version) -> SchemaValue {
    SchemaValue {
        subject: v.subject.clone(),
        version: v.version,
        id: v.id,
        schema_type: (v.schema_type != SchemaType::Avro).then(|| v.schema_type.name().to_string()),
        references: v.references.clone(),
        schema: v.schema.clone(),
        deleted: v.deleted,
        metadata: v.metadata.clone(),
        rule_set: v.rule_set.clone(),
    }
}

async fn delete_version(
    AxState(app): AxState<App>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<DeleteQ>,
) -> Response {
    result(
        write(&app, move |st| {
            let want = parse_version(&version)?;
            let vs = st.versions(&subject).ok_or_else(|| ApiError::subject_not_found(&subject))?;
            if mode_of(st, &subject).starts_with("READONLY") {
                return Err(ApiError::not_permitted(format!("Subject {subject} is in read-only mode")));
            }
            let v = match want {
                None => vs.values().rev().find(|v| !v.deleted || q.permanent),
                Some(n) => vs.get(&n),
            }
            .ok_or_else(|| ApiError::version_not_found(&version))?;
            if !st.referenced_by(&subject, v.version).is_empty() {
                return Err(ApiError::new(
                    422,
                    42206,
                    format!("One or more references exist to the schema {{subject={subject},version={}}}.", v.version),
                ));
            }
            let key = Key::Schema { subject: subject.clone(), version: v.version, magic: 1 };
            if q.permanent {
                if !v.deleted {
                    return Err(ApiError::new(
                        404,
                        40407,
                        format!(
                            "Subject '{subject}' Version {} was not deleted first before being permanently deleted",
                            v.version
                        ),
                    ));
                }
                return Ok((vec![(key, None)], json!(v.version)));
            }
            if v.deleted {
                return Err(ApiError::new(
                    404,
                    40406,
                    format!(
                        "Subject '{subject}' Version {} was soft deleted.Set permanent=true to delete permanently",
                        v.version
                    ),
                ));
            }
            let mut value = stored_value(v);
            value.deleted = true;
            Ok((vec![(key, Some(serde_json::to_value(value).expect("serializes")))], json!(v.version)))
        })
        .await,
    )
}

fn id_content(st: &State, id: i32) -> Result<&crate::state::Content, ApiError> {
    if !st.id_in_use(id) {
        return Err(ApiError::schema_not_found());
    }
    st.by_id.get(&id).ok_or_else(ApiError::schema_not_found)
}

async fn schema_by_id(AxState(app): AxState<App>, P(id): P<i32>, Q(q): Q<ListQ>) -> Response {
    result(app.read(|st| {
        let (ty, text, refs) = id_content(st, id)?;
        if let Some(s) = &q.subject {
            if !st.live(s, true).iter().any(|v| v.id == id) {
                return Err(ApiError::schema_not_found());
            }
        }
        let mut o = json!({"schema": text});
        if *ty != SchemaType::Avro {
            o["schemaType"] = json!(ty.name());
        }
        if !refs.is_empty() {
            o["references"] = json!(refs);
        }
        Ok(o)
    }))
}

async fn schema_text_by_id(AxState(app): AxState<App>, P(id): P<i32>) -> Response {
    match app.read(|st| id_content(st, id).map(|c| c.1.clone())) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn subjects_by_id(AxState(app): AxState<App>, P(id): P<i32>, Q(q): Q<ListQ>) -> Response {
    result(app.read(|st| {
        id_content(st, id)?;
        let subjects: BTreeSet<&String> = st
            .subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| v.id == id && (q.deleted || !v.deleted))
            .map(|v| &v.subject)
            .collect();
        Ok(json!(subjects))
    }))
}

async fn versions_by_id(AxState(app): AxState<App>, P(id): P<i32>, Q(q): Q<ListQ>) -> Response {
    result(app.read(|st| {
        id_content(st, id)?;
        let out: Vec<Value> = st
            .subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| v.id == id && (q.deleted || !v.deleted))
            .map(|v| json!({"subject": v.subject, "version": v.version}))
            .collect();
        Ok(json!(out))
    }))
}

async fn list_schemas(AxState(app): AxState<App>, Q(q): Q<ListQ>) -> Response {
    result(app.read(|st| {
        let mut out = Vec::new();
        for (s, vs) in &st.subjects {
            if q.subject_prefix.as_deref().is_some_and(|p| !s.starts_with(p)) {
                continue;
            }
            let live: Vec<&Version> = vs.values().filter(|v| q.deleted || !v.deleted).collect();
            if q.latest_only {
                out.extend(live.last().map(|v| version_json(v)));
            } else {
                out.extend(live.into_iter().map(version_json));
            }
        }
        let page: Vec<Value> =
            out.into_iter().skip(q.offset).take(q.limit.filter(|l| *l > 0).unwrap_or(usize::MAX)).collect();
        Ok(json!(page))
    }))
}

async fn compatibility(app: App, subject: String, version: Option<String>, verbose: bool, raw: Bytes) -> Response {
    let b: SchemaBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    result(app.read(|st| {
        let ty = SchemaType::parse(b.schema_type.as_deref()).map_err(ApiError::invalid_schema)?;
        let (_, parsed) = parse_schema(st, ty, &b.schema, &b.references)?;
        let level = level_of(st, Some(&subject));
        let prev = previous(st, &subject)?;
        let msgs = match &version {
            Some(v) => {
                let target = find_version(st, &subject, v, false)?;
                let one: Vec<(i32, Parsed, String)> = prev.into_iter().filter(|p| p.0 == target.version).collect();
                // Against one version: the level's directions, not its transitivity.
                let single = match level {
                    Level::BackwardTransitive => Level::Backward,
                    Level::ForwardTransitive => Level::Forward,
                    Level::FullTransitive => Level::Full,
                    l => l,
                };
                check_compat(single, &parsed, &one)
            }
            None => check_compat(level, &parsed, &prev),
        };
        let mut o = json!({"is_compatible": msgs.is_empty()});
        if verbose {
            o["messages"] = json!(msgs);
        }
        Ok(o)
    }))
}

async fn compat_version(
    AxState(app): AxState<App>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<VerboseQ>,
    raw: Bytes,
) -> Response {
    compatibility(app, subject, Some(version), q.verbose, raw).await
}

async fn compat_all(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<VerboseQ>, raw: Bytes) -> Response {
    compatibility(app, subject, None, q.verbose, raw).await
}

// ------------------------------------------------------------------ config and mode

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: Option<String>,
    #[serde(default, rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
    #[serde(default)]
    normalize: Option<bool>,
}

fn config_json(c: &ConfigValue, fallback: Level) -> Value {
    let mut o = json!({"compatibilityLevel": c.compatibility_level.clone().unwrap_or_else(|| fallback.name().into())});
    if let Some(n) = c.normalize {
        o["normalize"] = json!(n);
    }
    o
}

async fn get_config(AxState(app): AxState<App>) -> Response {
    result(app.read(|st| Ok(config_json(&st.global_config.clone().unwrap_or_default(), DEFAULT_LEVEL))))
}

async fn get_subject_config(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<ConfigQ>) -> Response {
    result(app.read(|st| match st.subject_config.get(&subject) {
        Some(c) => Ok(config_json(c, level_of(st, None))),
        None if q.default_to_global => Ok(config_json(&st.global_config.clone().unwrap_or_default(), DEFAULT_LEVEL)),
        None => Err(ApiError::new(
            404,
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )),
    }))
}

async fn put_config_for(app: App, subject: Option<String>, raw: Bytes) -> Response {
    let b: ConfigBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    result(
        write(&app, move |_st| {
            let name = b.compatibility.or(b.compatibility_level).unwrap_or_default();
            let level = Level::parse(&name).ok_or_else(|| ApiError::new(422, 42203, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"))?;
            let value = ConfigValue { compatibility_level: Some(level.name().into()), normalize: b.normalize, other: Default::default() };
            let mut out = json!({"compatibility": level.name()});
            if let Some(n) = b.normalize {
                out["normalize"] = json!(n);
            }
            Ok((vec![(Key::Config { subject, magic: 0 }, Some(serde_json::to_value(value).expect("serializes")))], out))
        })
        .await,
    )
}

async fn put_config(AxState(app): AxState<App>, raw: Bytes) -> Response {
    put_config_for(app, None, raw).await
}

async fn put_subject_config(AxState(app): AxState<App>, P(subject): P<String>, raw: Bytes) -> Response {
    if let Err(e) = check_subject(&subject) {
        return e.into_response();
    }
    put_config_for(app, Some(subject), raw).await
}

async fn delete_config(AxState(app): AxState<App>) -> Response {
    result(
        write(&app, |st| {
            let prev = config_json(&st.global_config.clone().unwrap_or_default(), DEFAULT_LEVEL);
            Ok((vec![(Key::Config { subject: None, magic: 0 }, None)], prev))
        })
        .await,
    )
}

async fn delete_subject_config(AxState(app): AxState<App>, P(subject): P<String>) -> Response {
    result(
        write(&app, move |st| {
            let c = st.subject_config.get(&subject).ok_or_else(|| {
                ApiError::new(
                    404,
                    40408,
                    format!("Subject '{subject}' does not have subject-level compatibility configured"),
                )
            })?;
            let prev = config_json(c, level_of(st, None));
            Ok((vec![(Key::Config { subject: Some(subject.clone()), magic: 0 }, None)], prev))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct ModeBody {
    mode: String,
}

async fn get_mode(AxState(app): AxState<App>) -> Response {
    result(app.read(|st| Ok(json!({"mode": st.global_mode.clone().unwrap_or_else(|| "READWRITE".into())}))))
}

async fn get_subject_mode(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<ConfigQ>) -> Response {
    result(app.read(|st| match st.subject_mode.get(&subject) {
        Some(m) => Ok(json!({"mode": m})),
        None if q.default_to_global => {
            Ok(json!({"mode": st.global_mode.clone().unwrap_or_else(|| "READWRITE".into())}))
        }
        None => {
            Err(ApiError::new(404, 40409, format!("Subject '{subject}' does not have subject-level mode configured")))
        }
    }))
}

async fn put_mode_for(app: App, subject: Option<String>, force: bool, raw: Bytes) -> Response {
    let b: ModeBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    result(
        write(&app, move |st| {
            let mode = b.mode.to_ascii_uppercase();
            if !MODES.contains(&mode.as_str()) {
                return Err(ApiError::new(
                    422,
                    42204,
                    "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, and IMPORT.",
                ));
            }
            if mode == "IMPORT" && !force {
                let has = match &subject {
                    Some(s) => !st.live(s, true).is_empty(),
                    None => !st.subjects.is_empty(),
                };
                if has {
                    return Err(ApiError::not_permitted("Cannot import since found existing subjects"));
                }
            }
            let value = serde_json::to_value(ModeValue { mode: mode.clone() }).expect("serializes");
            Ok((vec![(Key::Mode { subject, magic: 0 }, Some(value))], json!({"mode": mode})))
        })
        .await,
    )
}

async fn put_mode(AxState(app): AxState<App>, Q(q): Q<ConfigQ>, raw: Bytes) -> Response {
    put_mode_for(app, None, q.force, raw).await
}

async fn put_subject_mode(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<ConfigQ>, raw: Bytes) -> Response {
    put_mode_for(app, Some(subject), q.force, raw).await
}

async fn delete_subject_mode(AxState(app): AxState<App>, P(subject): P<String>) -> Response {
    result(
        write(&app, move |st| {
            let m = st.subject_mode.get(&subject).cloned().ok_or_else(|| {
                ApiError::new(404, 40409, format!("Subject '{subject}' does not have subject-level mode configured"))
            })?;
            Ok((vec![(Key::Mode { subject: Some(subject.clone()), magic: 0 }, None)], json!({"mode": m})))
        })
        .await,
    )
}

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
        .with_state(app)
}
