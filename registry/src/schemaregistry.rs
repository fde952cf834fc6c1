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
use crate::store::{now_ms, Change};

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

type R = Result<Response, HwError>;

fn ok(v: Value) -> R {
    Ok(([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response())
}

fn created(v: Value) -> R {
    Ok((StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response())
}

/// DELETE answers 200 with an empty body.
fn done() -> R {
    Ok(StatusCode::OK.into_response())
}

fn entities(v: Vec<Value>) -> R {
    ok(json!({ "entities": v }))
}

/// `Query` and `Path` with rejections in this API's error shape.
struct Q<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = HwError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HwError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Q(t))
            .map_err(|e| HwError::bad_request(e.body_text()))
    }
}

struct P<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = HwError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HwError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| P(t))
            .map_err(|e| HwError::bad_request(e.body_text()))
    }
}

fn body<T: for<'de> Deserialize<'de>>(b: &Bytes) -> Result<T, HwError> {
    serde_json::from_slice(b).map_err(|e| HwError::bad_request(format!("Malformed request body: {e}")))
}

async fn write_hw<T: Send + 'static>(
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

fn read<T>(app: &App, f: impl FnOnce(&State) -> Result<T, HwError>) -> Result<T, HwError> {
    let mut out = None;
    app.read(|st| {
        out = Some(f(st));
        Ok(())
    })?;
    out.expect("read ran")
}

fn val<T: serde::Serialize>(t: &T) -> Option<Value> {
    Some(serde_json::to_value(t).expect("serializes"))
}

// ------------------------------------------------------------------ the model's views

/// Cloudera's (compatibility, validationLevel) for one of our levels.
fn hw_compat(level: Level, stored_validation: &str) -> (&'static str, String) {
    match level {
        Level::None => ("NONE", stored_validation.to_string()),
        Level::Backward => ("BACKWARD", "LATEST".into()),
        Level::BackwardTransitive => ("BACKWARD", "ALL".into()),
        Level::Forward => ("FORWARD", "LATEST".into()),
        Level::ForwardTransitive => ("FORWARD", "ALL".into()),
        Level::Full => ("BOTH", "LATEST".into()),
        Level::FullTransitive => ("BOTH", "ALL".into()),
    }
}

fn our_level(compat: &str, validation: &str) -> Result<Level, HwError> {
    let all = match validation.to_ascii_uppercase().as_str() {
        "ALL" => true,
        "LATEST" => false,
        other => return Err(HwError::bad_request(format!("Unknown validationLevel '{other}': LATEST or ALL"))),
    };
    Ok(match (compat.to_ascii_uppercase().as_str(), all) {
        ("NONE", _) => Level::None,
        ("BACKWARD", false) => Level::Backward,
        ("BACKWARD", true) => Level::BackwardTransitive,
        ("FORWARD", false) => Level::Forward,
        ("FORWARD", true) => Level::ForwardTransitive,
        ("BOTH", false) => Level::Full,
        ("BOTH", true) => Level::FullTransitive,
        (other, _) => {
            return Err(HwError::bad_request(format!(
                "Unknown compatibility '{other}': NONE, BACKWARD, FORWARD or BOTH"
            )))
        }
    })
}

fn schema_type_of(m: &MetadataValue) -> Result<SchemaType, HwError> {
    SchemaType::parse(Some(&m.schema_type)).map_err(|_| HwError::unsupported_type(&m.schema_type))
}

fn metadata_json(st: &State, name: &str, m: &MetadataValue) -> Value {
    let (compat, validation) = hw_compat(level_of(st, Some(name)), &m.validation_level);
    json!({
        "schemaMetadata": {
            "type": m.schema_type, "schemaGroup": m.schema_group, "name": name,
            "description": m.description, "compatibility": compat,
            "validationLevel": validation, "evolve": m.evolve,
        },
        "id": m.id,
        "timestamp": m.timestamp,
    })
}

fn find_meta<'a>(st: &'a State, name: &str) -> Result<&'a MetadataValue, HwError> {
    st.meta.schemas.get(name).ok_or_else(|| HwError::not_found(name))
}

/// One version as this API shows it.
#[derive(Clone, Debug)]
struct MetaVersion {
    id: i64,
    metadata_id: i64,
    name: String,
    version: i32,
    branch: String,
    schema_type: SchemaType,
    text: String,
    state_id: u8,
    description: String,
    timestamp: i64,
    merge_info: Option<Value>,
}

fn version_json(v: &MetaVersion) -> Value {
    json!({
        "id": v.id, "schemaMetadataId": v.metadata_id, "name": v.name,
        "description": v.description, "version": v.version, "schemaText": v.text,
        "timestamp": v.timestamp, "stateId": v.state_id, "mergeInfo": v.merge_info,
    })
}

fn meta_version(st: &State, name: &str, version: i32, info: &VersionInfoValue) -> Option<MetaVersion> {
    let metadata_id = st.meta.schemas.get(name).map_or(0, |m| m.id);
    let (schema_type, text, state_id) = if info.branch == MASTER {
        let v = st.subjects.get(name)?.get(&version)?;
        // A version soft-deleted through the Confluent API shows as DELETED here.
        let state = if v.deleted { metadata::DELETED } else { info.state_id };
        (v.schema_type, v.schema.clone(), state)
    } else {
        let ty = SchemaType::parse(info.schema_type.as_deref()).ok()?;
        info.schema_id?;
        (ty, info.schema_text.clone()?, info.state_id)
    };
    Some(MetaVersion {
        id: info.id,
        metadata_id,
        name: name.to_string(),
        version,
        branch: info.branch.clone(),
        schema_type,
        text,
        state_id,
        description: info.description.clone(),
        timestamp: info.timestamp,
        merge_info: info.merge_info.clone(),
    })
}

/// Every version of a schema, on every branch, in version order.
fn all_versions(st: &State, name: &str) -> Vec<MetaVersion> {
    st.meta
        .versions
        .range((name.to_string(), i32::MIN)..)
        .take_while(|((n, _), _)| n == name)
        .filter_map(|((n, v), info)| meta_version(st, n, *v, info))
        .collect()
}

/// The versions a branch holds: MASTER's own, or for another branch the MASTER
/// versions up to the one it was forked from, then its own.
fn branch_versions(st: &State, name: &str, branch: &str) -> Result<Vec<MetaVersion>, HwError> {
    let b = st
        .meta
        .branches
        .get(&(name.to_string(), branch.to_string()))
        .ok_or_else(|| HwError::not_found(format!("{name}, branch {branch}")))?;
    let all = all_versions(st, name);
    Ok(all
        .into_iter()
        .filter(|v| v.branch == branch || (v.branch == MASTER && b.root_version.is_some_and(|r| v.version <= r)))
        .collect())
}

/// The same, newest first (how lists show them).
fn newest_first(mut vs: Vec<MetaVersion>) -> Vec<MetaVersion> {
    vs.reverse();
    vs
}

fn version_by_id(st: &State, id: i64) -> Result<MetaVersion, HwError> {
    let ((name, version), info) = st.meta.version_by_id(id).ok_or_else(|| HwError::not_found(id))?;
    meta_version(st, name, *version, info).ok_or_else(|| HwError::not_found(id))
}

/// Lowercase hex MD5 of the schema's canonical form: equal for equal schemas.
fn fingerprint(v: &MetaVersion) -> String {
    use md5::Digest;
    // Avro: the Parsing Canonical Form, so formatting, docs and defaults do not
    // count (what Cloudera's registry fingerprints); other types: the canonical text.
    let text = match v.schema_type {
        SchemaType::Avro => {
            apache_avro::Schema::parse_str(&v.text).map(|s| s.canonical_form()).unwrap_or_else(|_| v.text.clone())
        }
        _ => v.text.clone(),
    };
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn branch_json(name: &str, branch: &str, b: &BranchValue) -> Value {
    json!({"id": b.id, "name": branch, "schemaMetadataName": name, "description": b.description, "timestamp": b.timestamp})
}

fn branches_of<'a>(st: &'a State, name: &str) -> Vec<(&'a str, &'a BranchValue)> {
    st.meta
        .branches
        .range((name.to_string(), String::new())..)
        .take_while(|((n, _), _)| n == name)
        .map(|((_, b), v)| (b.as_str(), v))
        .collect()
}

fn aggregated_json(st: &State, name: &str, m: &MetadataValue) -> Value {
    let mut o = metadata_json(st, name, m);
    let branches: Vec<Value> = branches_of(st, name)
        .into_iter()
        .map(|(b, bv)| {
            let versions: Vec<Value> =
                newest_first(branch_versions(st, name, b).unwrap_or_default()).iter().map(version_json).collect();
            // The root is named by its version id.
            let root = bv.root_version.and_then(|r| st.meta.versions.get(&(name.to_string(), r))).map(|i| i.id);
            json!({"schemaBranch": branch_json(name, b, bv), "rootSchemaVersion": root, "schemaVersionInfos": versions})
        })
        .collect();
    o["schemaBranches"] = json!(branches);
    let serdes: Vec<Value> = st
        .meta
        .mappings
        .iter()
        .filter(|(n, _)| n == name)
        .filter_map(|(_, id)| st.meta.serdes.get(id).map(|s| serdes_json(*id, s)))
        .collect();
    o["serDesInfos"] = json!(serdes);
    o
}

/// Parses `text` as a version of schema `name`: its canonical text, and why it
/// does not fit the Enabled versions among `against` (empty: it fits).
fn parse_and_check(
    st: &State,
    name: &str,
    ty: SchemaType,
    text: &str,
    against: &[MetaVersion],
) -> Result<(String, Vec<String>), HwError> {
    let (canonical, parsed) = parse_schema(st, ty, text, &[]).map_err(|e| HwError::invalid_schema(e.message))?;
    // Only enabled versions are what serializers use, so only they constrain.
    let live: Vec<&MetaVersion> = against.iter().filter(|v| v.state_id == metadata::ENABLED).collect();
    let mut prev = Vec::new();
    for v in live {
        let (_, p) = parse_schema(st, v.schema_type, &v.text, &[]).map_err(HwError::from)?;
        prev.push((v.version, p, v.text.clone()));
    }
    let msgs = check_compat(level_of(st, Some(name)), &parsed, &prev);
    Ok((canonical, msgs))
}

/// The records that add version `version` of `name` on `branch`.
#[allow(clippy::too_many_arguments)]
fn version_records(
    st: &State,
    name: &str,
    branch: &str,
    ty: SchemaType,
    canonical: String,
    description: String,
    state_id: u8,
    merge_info: Option<Value>,
) -> (Vec<Change>, i32, i64) {
    let content = (ty, canonical.clone(), vec![]);
    let schema_id = st.content_id(&content).unwrap_or_else(|| st.next_id());
    let version = st.next_version(name);
    let version_id = st.meta.next_version_id();
    let master = branch == MASTER;
    let mut out = Vec::new();
    if master {
        let value = SchemaValue {
            subject: name.to_string(),
            version,
            id: schema_id,
            schema_type: (ty != SchemaType::Avro).then(|| ty.name().to_string()),
            references: vec![],
            schema: canonical.clone(),
            deleted: false,
            metadata: None,
            rule_set: None,
        };
        out.push((Key::Schema { subject: name.to_string(), version, magic: 1 }, val(&value)));
    }
    let info = VersionInfoValue {
        id: version_id,
        branch: branch.to_string(),
        state_id,
        description,
        timestamp: now_ms(),
        schema_id: (!master).then_some(schema_id),
        schema_text: (!master).then_some(canonical),
        schema_type: (!master).then(|| ty.name().to_string()),
        merge_info,
    };
    out.push((Key::SchemaVersionInfo { name: name.to_string(), version, magic: 0 }, val(&info)));
    (out, version, version_id)
}

// ------------------------------------------------------------------ schema metadata

#[derive(Deserialize)]
struct MetadataBody {
    #[serde(rename = "type", default)]
    schema_type: Option<String>,
    #[serde(rename = "schemaGroup", default)]
    schema_group: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    compatibility: Option<String>,
    #[serde(rename = "validationLevel", default)]
    validation_level: Option<String>,
    #[serde(default)]
    evolve: Option<bool>,
}

#[derive(Deserialize, Default)]
struct CreateQ {
    #[serde(rename = "_throwErrorIfExists", default, deserialize_with = "crate::confluent::lenient_bool")]
    throw_if_exists: bool,
}

/// The records that set schema `name`'s metadata (and its compatibility level).
fn metadata_records(
    st: &State,
    name: &str,
    b: &MetadataBody,
    existing: Option<&MetadataValue>,
) -> Result<Vec<Change>, HwError> {
    let schema_type = b
        .schema_type
        .clone()
        .or_else(|| existing.map(|e| e.schema_type.clone()))
        .ok_or_else(|| HwError::missing("type"))?
        .to_ascii_lowercase();
    SchemaType::parse(Some(&schema_type)).map_err(|_| HwError::unsupported_type(&schema_type))?;
    if let Some(e) = existing {
        if e.schema_type != schema_type && st.subjects.contains_key(name) {
            return Err(HwError::bad_request("The type of a schema with versions cannot change"));
        }
    }
    let (cur_compat, cur_validation) =
        hw_compat(level_of(st, Some(name)), existing.map_or("ALL", |e| e.validation_level.as_str()));
    let validation =
        b.validation_level.clone().unwrap_or_else(|| if existing.is_some() { cur_validation } else { "ALL".into() });
    let compat = b.compatibility.clone().unwrap_or_else(|| {
        if existing.is_some() {
            cur_compat.to_string()
        } else {
            hw_compat(DEFAULT_LEVEL, "ALL").0.to_string()
        }
    });
    let level = our_level(&compat, &validation)?;
    let m = MetadataValue {
        id: existing.map_or_else(|| st.meta.next_schema_id(), |e| e.id),
        schema_type,
        schema_group: b
            .schema_group
            .clone()
            .or_else(|| existing.map(|e| e.schema_group.clone()))
            .unwrap_or_else(|| "Kafka".into()),
        description: b.description.clone().or_else(|| existing.map(|e| e.description.clone())).unwrap_or_default(),
        evolve: b.evolve.or(existing.map(|e| e.evolve)).unwrap_or(true),
        validation_level: validation.to_ascii_uppercase(),
        timestamp: existing.map_or_else(now_ms, |e| e.timestamp),
    };
    let mut out = vec![(Key::SchemaMetadata { name: name.to_string(), magic: 0 }, val(&m))];
    let mut config = st.subject_config.get(name).cloned().unwrap_or_default();
    if config.compatibility_level.as_deref() != Some(level.name()) {
        config.compatibility_level = Some(level.name().to_string());
        out.push((Key::Config { subject: Some(name.to_string()), magic: 0 }, val::<ConfigValue>(&config)));
    }
    if !st.meta.branches.contains_key(&(name.to_string(), MASTER.to_string())) {
        let b = BranchValue {
            id: st.meta.next_branch_id(),
            description: "MASTER branch".into(),
            timestamp: now_ms(),
            root_version: None,
        };
        out.push((Key::SchemaBranch { name: name.to_string(), branch: MASTER.into(), magic: 0 }, val(&b)));
    }
    Ok(out)
}

/// Names that would be shadowed by the API's own paths are reserved.
const RESERVED: &[&str] = &["aggregate", "aggregated", "versions", "compatibility"];

fn check_name(name: &str) -> Result<(), HwError> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(HwError::missing("name"));
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name.trim())) {
        return Err(HwError { status: 400, code: 1103, message: format!("The schema name [{name}] is reserved") });
    }
    Ok(())
}

async fn create_schema(AxState(app): AxState<App>, headers: HeaderMap, Q(q): Q<CreateQ>, raw: Bytes) -> R {
    let b: MetadataBody = body(&raw)?;
    // Cloudera's clients send the flag as a header; a query parameter works too.
    let throw_if_exists = q.throw_if_exists
        || headers
            .get("_throwErrorIfExists")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let name = b.name.clone().unwrap_or_default();
    check_name(&name)?;
    let id = write_hw(&app, move |st| {
        if let Some(m) = st.meta.schemas.get(&name) {
            if throw_if_exists {
                return Err(HwError::conflict(400, format!("Schema with name [{name}] already exists")));
            }
            return Ok((vec![], m.id));
        }
        let changes = metadata_records(st, &name, &b, None)?;
        tracing::info!(schema = %name, "schema metadata created");
        let id = st.meta.next_schema_id();
        Ok((changes, id))
    })
    .await?;
    created(json!(id))
}

#[derive(Deserialize, Default)]
struct FilterQ {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "schemaGroup", default)]
    schema_group: Option<String>,
    #[serde(rename = "type", default)]
    schema_type: Option<String>,
    #[serde(rename = "_orderByFields", default)]
    order_by: Option<String>,
}

impl FilterQ {
    /// Listing: every given field matches exactly.
    fn matches(&self, name: &str, m: &MetadataValue) -> bool {
        let is = |have: &str, want: &Option<String>| want.as_ref().is_none_or(|w| w == have);
        is(name, &self.name)
            && is(&m.description, &self.description)
            && is(&m.schema_group, &self.schema_group)
            && self.schema_type.as_ref().is_none_or(|t| t.eq_ignore_ascii_case(&m.schema_type))
    }

    /// Search: the name contains `name`, or the description contains
    /// `description` (case-insensitive); neither given finds nothing.
    fn found(&self, name: &str, m: &MetadataValue) -> bool {
        let has = |hay: &str, needle: &Option<String>| {
            needle
                .as_ref()
                .filter(|n| !n.trim().is_empty())
                .is_some_and(|n| hay.to_lowercase().contains(&n.to_lowercase()))
        };
        has(name, &self.name) || has(&m.description, &self.description)
    }

    /// `_orderByFields=timestamp,d,name,a`: field/direction pairs.
    fn sort(&self, items: &mut [(String, &MetadataValue)]) {
        let spec: Vec<&str> = self
            .order_by
            .as_deref()
            .filter(|o| !o.is_empty())
            .unwrap_or("timestamp,d")
            .split(',')
            .map(str::trim)
            .collect();
        for pair in spec.chunks(2).rev() {
            let desc = pair.get(1).is_some_and(|d| d.eq_ignore_ascii_case("d"));
            items.sort_by(|(an, a), (bn, b)| {
                let o = match pair[0] {
                    "timestamp" => a.timestamp.cmp(&b.timestamp),
                    "id" => a.id.cmp(&b.id),
                    "description" => a.description.cmp(&b.description),
                    _ => an.cmp(bn),
                };
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
    }
}

fn filtered<'a>(st: &'a State, q: &FilterQ, search: bool) -> Vec<(String, &'a MetadataValue)> {
    let mut items: Vec<(String, &MetadataValue)> = st
        .meta
        .schemas
        .iter()
        .filter(|(n, m)| if search { q.found(n, m) } else { q.matches(n, m) })
        .map(|(n, m)| (n.clone(), m))
        .collect();
    q.sort(&mut items);
    items
}

async fn list_schemas(AxState(app): AxState<App>, Q(q): Q<FilterQ>) -> R {
    listing(&app, &q, false, false)
}

fn listing(app: &App, q: &FilterQ, search: bool, aggregated: bool) -> R {
    let out = read(app, |st| {
        Ok(filtered(st, q, search)
            .iter()
            .map(|(n, m)| if aggregated { aggregated_json(st, n, m) } else { metadata_json(st, n, m) })
            .collect())
    })?;
    entities(out)
}

async fn list_aggregated(AxState(app): AxState<App>, Q(q): Q<FilterQ>) -> R {
    listing(&app, &q, false, true)
}

async fn get_schema(AxState(app): AxState<App>, P(name): P<String>) -> R {
    ok(read(&app, |st| find_meta(st, &name).map(|m| metadata_json(st, &name, m)))?)
}

async fn get_aggregated(AxState(app): AxState<App>, P(name): P<String>) -> R {
    ok(read(&app, |st| find_meta(st, &name).map(|m| aggregated_json(st, &name, m)))?)
}

async fn update_schema(AxState(app): AxState<App>, P(name): P<String>, raw: Bytes) -> R {
    let b: MetadataBody = body(&raw)?;
    if b.name.as_ref().is_some_and(|n| n != &name) {
        return Err(HwError::bad_request("The name in the body differs from the one in the path"));
    }
    let n = name.clone();
    write_hw(&app, move |st| {
        let existing = find_meta(st, &n)?.clone();
        Ok((metadata_records(st, &n, &b, Some(&existing))?, ()))
    })
    .await?;
    ok(read(&app, |st| find_meta(st, &name).map(|m| metadata_json(st, &name, m)))?)
}

/// Deletes a schema and everything of it: versions on all branches, branches,
/// config, mappings.
async fn delete_schema(AxState(app): AxState<App>, P(name): P<String>) -> R {
    write_hw(&app, move |st| {
        find_meta(st, &name)?;
        if let Some(vs) = st.versions(&name) {
            for v in vs.values() {
                let users = st.referenced_by(&name, v.version);
                if !users.is_empty() {
                    return Err(HwError::bad_request(format!(
                        "Version {} of {name} is referenced by schema id {}",
                        v.version, users[0].id
                    )));
                }
            }
        }
        let mut out: Vec<Change> = Vec::new();
        for v in st.versions(&name).into_iter().flat_map(|vs| vs.keys()) {
            out.push((Key::Schema { subject: name.clone(), version: *v, magic: 1 }, None));
        }
        for (n, v) in st.meta.versions.keys().filter(|(n, _)| *n == name) {
            out.push((Key::SchemaVersionInfo { name: n.clone(), version: *v, magic: 0 }, None));
        }
        for (b, _) in branches_of(st, &name) {
            out.push((Key::SchemaBranch { name: name.clone(), branch: b.to_string(), magic: 0 }, None));
        }
        for (_, id) in st.meta.mappings.iter().filter(|(n, _)| *n == name) {
            out.push((Key::SerdesMapping { name: name.clone(), serdes_id: *id, magic: 0 }, None));
        }
        if st.subject_config.contains_key(&name) {
            out.push((Key::Config { subject: Some(name.clone()), magic: 0 }, None));
        }
        if st.subject_mode.contains_key(&name) {
            out.push((Key::Mode { subject: Some(name.clone()), magic: 0 }, None));
        }
        out.push((Key::SchemaMetadata { name: name.clone(), magic: 0 }, None));
        tracing::info!(schema = %name, "schema metadata deleted");
        Ok((out, ()))
    })
    .await?;
    done()
}

// ------------------------------------------------------------------ versions

#[derive(Deserialize)]
struct VersionBody {
    #[serde(rename = "schemaText", default)]
    schema_text: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// The state a MASTER version starts in (default Enabled).
    #[serde(rename = "initialState", default)]
    initial_state: Option<u8>,
}

#[derive(Deserialize, Default)]
struct BranchQ {
    #[serde(default)]
    branch: Option<String>,
}

impl BranchQ {
    fn branch(&self) -> &str {
        self.branch.as_deref().filter(|b| !b.is_empty()).unwrap_or(MASTER)
    }
}

async fn add_version(AxState(app): AxState<App>, P(name): P<String>, Q(q): Q<BranchQ>, raw: Bytes) -> R {
    let b: VersionBody = body(&raw)?;
    add_version_to(&app, name, q.branch().to_string(), b).await
}

/// The same with the schema text uploaded as the multipart part `file` (and the
/// description as the part `description`).
async fn upload_version(AxState(app): AxState<App>, P(name): P<String>, Q(q): Q<BranchQ>, mut form: Multipart) -> R {
    let mut b = VersionBody { schema_text: None, description: None, initial_state: None };
    while let Some(field) = form.next_field().await.map_err(|e| HwError::bad_request(format!("Bad upload: {e}")))? {
        let part = field.name().unwrap_or("").to_string();
        let text = field.text().await.map_err(|e| HwError::bad_request(format!("Bad upload: {e}")))?;
        match part.as_str() {
            "file" => b.schema_text = Some(text),
            "description" => b.description = Some(text),
            _ => {}
        }
    }
    add_version_to(&app, name, q.branch().to_string(), b).await
}

async fn add_version_to(app: &App, name: String, branch: String, b: VersionBody) -> R {
    let text = b.schema_text.filter(|t| !t.trim().is_empty()).ok_or_else(|| HwError::missing("schemaText"))?;
    let version = write_hw(app, move |st| {
        let m = find_meta(st, &name)?;
        let ty = schema_type_of(m)?;
        if branch == MASTER && mode_of(st, &name).starts_with("READONLY") {
            return Err(HwError::bad_request(format!("Schema {name} is in read-only mode")));
        }
        let on_branch = branch_versions(st, &name, &branch)?;
        let (canonical, msgs) = parse_and_check(st, &name, ty, &text, &on_branch)?;
        if let Some(same) = on_branch.iter().find(|v| v.text == canonical && v.state_id != metadata::DELETED) {
            return Ok((vec![], same.version));
        }
        if !m.evolve && on_branch.iter().any(|v| v.state_id != metadata::DELETED) {
            return Err(HwError::refused(format!("Schema {name} does not evolve: it has a version already")));
        }
        if !msgs.is_empty() {
            return Err(HwError::incompatible(format!(
                "Given schema is incompatible with the versions of {name} on branch {branch}: [{}]",
                msgs.join(", ")
            )));
        }
        // Versions off MASTER always start INITIATED.
        let state = match (branch == MASTER, b.initial_state) {
            (false, _) => metadata::INITIATED,
            (true, None) => metadata::ENABLED,
            (true, Some(s)) if metadata::STATES.iter().any(|x| x.0 == s) => s,
            (true, Some(s)) => return Err(HwError::bad_request(format!("{s} is not a state id"))),
        };
        let (changes, version, _) =
            version_records(st, &name, &branch, ty, canonical, b.description.unwrap_or_default(), state, None);
        tracing::info!(schema = %name, %branch, version, "schema version added");
        Ok((changes, version))
    })
    .await?;
    created(json!(version))
}

/// `states=5&states=6` or `states=5,6`.
fn parse_states(raw: Option<&str>) -> Result<Option<BTreeSet<u8>>, HwError> {
    let mut out = BTreeSet::new();
    for pair in raw.unwrap_or("").split('&') {
        let Some(("states", v)) = pair.split_once('=') else { continue };
        let v = v.replace("%2C", ",").replace("%2c", ",");
        for x in v.split([',', '+']).filter(|x| !x.is_empty()) {
            out.insert(x.trim().parse::<u8>().map_err(|_| HwError::bad_request(format!("'{x}' is not a state id")))?);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

async fn list_versions(AxState(app): AxState<App>, P(name): P<String>, Q(q): Q<BranchQ>, RawQuery(raw): RawQuery) -> R {
    let states = parse_states(raw.as_deref())?;
    let out = read(&app, |st| {
        find_meta(st, &name)?;
        Ok(newest_first(branch_versions(st, &name, q.branch())?)
            .iter()
            .filter(|v| states.as_ref().is_none_or(|s| s.contains(&v.state_id)))
            .map(version_json)
            .collect())
    })?;
    entities(out)
}

fn live_on_branch(st: &State, name: &str, branch: &str) -> Result<Vec<MetaVersion>, HwError> {
    find_meta(st, name)?;
    Ok(branch_versions(st, name, branch)?.into_iter().filter(|v| v.state_id != metadata::DELETED).collect())
}

/// The newest Enabled version on the branch.
async fn latest_version(AxState(app): AxState<App>, P(name): P<String>, Q(q): Q<BranchQ>) -> R {
    ok(read(&app, |st| {
        let vs = live_on_branch(st, &name, q.branch())?;
        vs.iter()
            .rev()
            .find(|v| v.state_id == metadata::ENABLED)
            .map(version_json)
            .ok_or_else(|| HwError::not_found(format!("{name}, latest enabled version")))
    })?)
}

/// A version by number, on any branch; `-1`: the newest in any state.
fn one_version(st: &State, name: &str, version: &str) -> Result<MetaVersion, HwError> {
    find_meta(st, name)?;
    let n: i32 = version.parse().map_err(|_| HwError::bad_request(format!("'{version}' is not a version number")))?;
    let all = all_versions(st, name);
    let found = if n == -1 { all.last().cloned() } else { all.into_iter().find(|v| v.version == n) };
    found.ok_or_else(|| HwError::not_found(format!("{name}, version {version}")))
}

async fn get_version(AxState(app): AxState<App>, P((name, version)): P<(String, String)>) -> R {
    ok(read(&app, |st| one_version(st, &name, &version).map(|v| version_json(&v)))?)
}

/// The records that remove a version for good (from MASTER: the subject's version too).
fn removal(st: &State, v: &MetaVersion) -> Result<Vec<Change>, HwError> {
    if v.branch == MASTER {
        let users = st.referenced_by(&v.name, v.version);
        if !users.is_empty() {
            return Err(HwError::bad_request(format!(
                "Version {} of {} is referenced by schema id {}",
                v.version, v.name, users[0].id
            )));
        }
    }
    if st.meta.branches.iter().any(|((n, _), b)| *n == v.name && b.root_version == Some(v.version)) {
        return Err(HwError::refused(format!(
            "Version {} of {} is the root of a branch; delete the branch first",
            v.version, v.name
        )));
    }
    let mut out = vec![(Key::SchemaVersionInfo { name: v.name.clone(), version: v.version, magic: 0 }, None)];
    if v.branch == MASTER {
        out.push((Key::Schema { subject: v.name.clone(), version: v.version, magic: 1 }, None));
    }
    Ok(out)
}

async fn delete_version(AxState(app): AxState<App>, P((name, version)): P<(String, String)>) -> R {
    write_hw(&app, move |st| {
        let v = one_version(st, &name, &version)?;
        Ok((removal(st, &v)?, ()))
    })
    .await?;
    done()
}

async fn version_by_id_handler(AxState(app): AxState<App>, P(id): P<i64>) -> R {
    ok(read(&app, |st| version_by_id(st, id).map(|v| version_json(&v)))?)
}

async fn delete_version_by_id(AxState(app): AxState<App>, P(id): P<i64>) -> R {
    write_hw(&app, move |st| {
        let v = version_by_id(st, id)?;
        Ok((removal(st, &v)?, ()))
    })
    .await?;
    done()
}

async fn version_by_fingerprint(AxState(app): AxState<App>, P(fp): P<String>) -> R {
    ok(read(&app, |st| {
        st.meta
            .schemas
            .keys()
            .flat_map(|n| all_versions(st, n))
            .find(|v| fingerprint(v) == fp.to_ascii_lowercase())
            .map(|v| version_json(&v))
            .ok_or_else(|| HwError::not_found(&fp))
    })?)
}

async fn schema_text(AxState(app): AxState<App>, P((name, version)): P<(String, String)>) -> R {
    let text = read(&app, |st| {
        if version == "latest" {
            live_on_branch(st, &name, MASTER)?.last().map(|v| v.text.clone()).ok_or_else(|| HwError::not_found(&name))
        } else {
            one_version(st, &name, &version).map(|v| v.text)
        }
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], text).into_response())
}

// ------------------------------------------------------------------ branches and merge

async fn list_branches(AxState(app): AxState<App>, P(name): P<String>) -> R {
    let out = read(&app, |st| {
        find_meta(st, &name)?;
        Ok(branches_of(st, &name).into_iter().map(|(b, v)| branch_json(&name, b, v)).collect())
    })?;
    entities(out)
}

#[derive(Deserialize)]
struct BranchBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

async fn create_branch(AxState(app): AxState<App>, P(version_id): P<i64>, raw: Bytes) -> R {
    let b: BranchBody = body(&raw)?;
    let branch = b.name.filter(|n| !n.trim().is_empty()).ok_or_else(|| HwError::missing("name"))?;
    if branch.eq_ignore_ascii_case(MASTER) || branch.chars().any(char::is_control) {
        return Err(HwError::bad_request(format!("'{branch}' cannot be the name of a new branch")));
    }
    let out = write_hw(&app, move |st| {
        // An unknown version is a bad request here, as Cloudera's clients expect.
        let v = version_by_id(st, version_id).map_err(|e| HwError { status: 400, ..e })?;
        if st.meta.branches.contains_key(&(v.name.clone(), branch.clone())) {
            return Err(HwError::conflict(409, format!("Schema {} already has a branch named {branch}", v.name)));
        }
        if v.branch != MASTER {
            return Err(HwError::bad_request("A branch can only be forked from a version on MASTER"));
        }
        let bv = BranchValue {
            id: st.meta.next_branch_id(),
            description: b.description.unwrap_or_default(),
            timestamp: now_ms(),
            root_version: Some(v.version),
        };
        let json = branch_json(&v.name, &branch, &bv);
        tracing::info!(schema = %v.name, %branch, root = v.version, "schema branch created");
        Ok((vec![(Key::SchemaBranch { name: v.name.clone(), branch, magic: 0 }, val(&bv))], json))
    })
    .await?;
    ok(out)
}

/// Merges a branch version into MASTER: a new MASTER version with its schema
/// (or the MASTER version that already has it), checked against MASTER.
async fn merge(AxState(app): AxState<App>, P(version_id): P<i64>) -> R {
    let out = write_hw(&app, move |st| {
        let v = version_by_id(st, version_id)?;
        if v.branch == MASTER {
            return Err(HwError::bad_request(format!("Version id {version_id} is on MASTER already")));
        }
        let master = live_on_branch(st, &v.name, MASTER)?;
        let merged_from = json!({"schemaBranchName": v.branch, "schemaVersionId": v.id});
        if let Some(same) = master.iter().find(|m| m.text == v.text) {
            let res = json!({
                "schemaIdVersion": {"schemaMetadataId": same.metadata_id, "version": same.version, "schemaVersionId": same.id},
                "mergeMessage": format!("The schema of version {} is MASTER version {} already", v.version, same.version),
            });
            return Ok((vec![], res));
        }
        let (_, msgs) = parse_and_check(st, &v.name, v.schema_type, &v.text, &master)?;
        if !msgs.is_empty() {
            return Err(HwError::incompatible(format!(
                "Version {} of {} is incompatible with MASTER: [{}]",
                v.version,
                v.name,
                msgs.join(", ")
            )));
        }
        let (changes, version, new_id) = version_records(
            st,
            &v.name,
            MASTER,
            v.schema_type,
            v.text.clone(),
            v.description.clone(),
            metadata::ENABLED,
            Some(merged_from),
        );
        tracing::info!(schema = %v.name, branch = %v.branch, version, "branch version merged into MASTER");
        let res = json!({
            "schemaIdVersion": {"schemaMetadataId": v.metadata_id, "version": version, "schemaVersionId": new_id},
            "mergeMessage": format!("Version {} of branch {} merged into MASTER as version {version}", v.version, v.branch),
        });
        Ok((changes, res))
    })
    .await?;
    ok(out)
}

async fn delete_branch(AxState(app): AxState<App>, P(branch_id): P<i64>) -> R {
    write_hw(&app, move |st| {
        let ((name, branch), _) = st.meta.branch_by_id(branch_id).ok_or_else(|| HwError::not_found(branch_id))?;
        if branch == MASTER {
            return Err(HwError::refused("The MASTER branch cannot be deleted"));
        }
        let own: Vec<MetaVersion> = all_versions(st, name).into_iter().filter(|v| &v.branch == branch).collect();
        // Only versions nobody uses may go with their branch.
        if let Some(v) = own.iter().find(|v| ![metadata::INITIATED, metadata::CHANGES_REQUIRED, metadata::ARCHIVED].contains(&v.state_id)) {
            return Err(HwError::refused(format!(
                "Version {} of branch {branch} is {}; a branch is deleted when its versions are INITIATED, ChangesRequired or Archived",
                v.version,
                metadata::state_name(v.state_id)
            )));
        }
        let mut out: Vec<Change> = own
            .iter()
            .map(|v| (Key::SchemaVersionInfo { name: name.clone(), version: v.version, magic: 0 }, None))
            .collect();
        out.push((Key::SchemaBranch { name: name.clone(), branch: branch.clone(), magic: 0 }, None));
        Ok((out, ()))
    })
    .await?;
    done()
}

// ------------------------------------------------------------------ states

async fn state_machine() -> R {
    let states: Vec<Value> =
        metadata::STATES.iter().map(|(id, name, d)| json!({"id": id, "name": name, "description": d})).collect();
    let transitions: Vec<Value> = metadata::TRANSITIONS
        .iter()
        .map(|(from, to, action)| {
            json!({"sourceStateId": from, "targetStateId": to, "name": action,
                   "description": format!("{action}: {} to {}", metadata::state_name(*from), metadata::state_name(*to))})
        })
        .collect();
    ok(json!({"states": states, "transitions": transitions}))
}

/// Moves a version through the lifecycle: `action` is a transition name
/// (enable, disable, archive, startReview, ...) or a target state id.
async fn change_state(AxState(app): AxState<App>, P((id, action)): P<(i64, String)>) -> R {
    write_hw(&app, move |st| {
        let v = version_by_id(st, id)?;
        let target = metadata::transition(v.state_id, &action).ok_or_else(|| {
            let why = format!(
                "Version id {id} is {}; '{action}' is not a transition from there",
                metadata::state_name(v.state_id)
            );
            if action == "delete" {
                HwError::refused(why)
            } else {
                HwError::bad_request(why)
            }
        })?;
        // Deleting removes the version (from MASTER: the subject's version too).
        if target == metadata::DELETED {
            tracing::info!(schema = %v.name, version = v.version, "schema version deleted");
            return Ok((removal(st, &v)?, ()));
        }
        // Enabling makes it a version serializers use: it must fit the enabled ones.
        if target == metadata::ENABLED {
            let others: Vec<MetaVersion> =
                branch_versions(st, &v.name, &v.branch)?.into_iter().filter(|o| o.id != v.id).collect();
            let (_, msgs) = parse_and_check(st, &v.name, v.schema_type, &v.text, &others)?;
            if !msgs.is_empty() {
                return Err(HwError::incompatible(format!(
                    "Version {} of {} cannot be enabled: [{}]",
                    v.version,
                    v.name,
                    msgs.join(", ")
                )));
            }
        }
        let ((name, version), info) = st.meta.version_by_id(id).expect("found above");
        let mut info = info.clone();
        info.state_id = target;
        tracing::info!(schema = %name, version, state = metadata::state_name(target), "schema version state changed");
        Ok((vec![(Key::SchemaVersionInfo { name: name.clone(), version: *version, magic: 0 }, val(&info))], ()))
    })
    .await?;
    ok(json!(true))
}

// ------------------------------------------------------------------ compatibility and search

#[derive(Deserialize, Default)]
struct CompatQ {
    #[serde(default)]
    branch: Option<String>,
}

/// The schema text comes as the raw body (Cloudera's client), or as a JSON
/// string or `{"schemaText": ...}`.
fn schema_text_from(raw: &Bytes) -> Result<String, HwError> {
    let text = std::str::from_utf8(raw).map_err(|_| HwError::bad_request("The schema text is not UTF-8"))?;
    Ok(match serde_json::from_str::<Value>(text) {
        Ok(Value::String(s)) => s,
        Ok(Value::Object(o)) if o.get("schemaText").is_some_and(Value::is_string) => {
            o["schemaText"].as_str().expect("checked").to_string()
        }
        _ => text.to_string(),
    })
}

async fn check_compatibility(AxState(app): AxState<App>, P(name): P<String>, Q(q): Q<CompatQ>, raw: Bytes) -> R {
    let text = schema_text_from(&raw)?;
    let branch = q.branch.unwrap_or_else(|| MASTER.into());
    ok(read(&app, |st| {
        let m = find_meta(st, &name)?;
        let ty = schema_type_of(m)?;
        let on_branch = live_on_branch(st, &name, &branch)?;
        let (_, msgs) = parse_and_check(st, &name, ty, &text, &on_branch)?;
        let mut o = json!({"compatible": msgs.is_empty(), "schema": text});
        if !msgs.is_empty() {
            o["errorMessage"] = json!(msgs.join(", "));
            o["errorLocation"] =
                json!(msgs.iter().find_map(|m| m.split("at path ").nth(1)).map(|p| p.trim_end_matches("'}")));
        }
        Ok(o)
    })?)
}

async fn search(AxState(app): AxState<App>, Q(q): Q<FilterQ>) -> R {
    listing(&app, &q, true, false)
}

async fn search_aggregated(AxState(app): AxState<App>, Q(q): Q<FilterQ>) -> R {
    listing(&app, &q, true, true)
}

#[derive(Deserialize, Default)]
struct FieldQ {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "fieldNamespace", default)]
    field_namespace: Option<String>,
    #[serde(rename = "type", default)]
    field_type: Option<String>,
}

/// The fields of every record in an Avro schema: (name, enclosing namespace, type).
fn avro_fields(v: &Value, namespace: &str, out: &mut Vec<(String, String, String)>) {
    match v {
        Value::Array(branches) => branches.iter().for_each(|b| avro_fields(b, namespace, out)),
        Value::Object(o) => {
            let ns = match (o.get("namespace").and_then(Value::as_str), o.get("name").and_then(Value::as_str)) {
                (Some(ns), _) => ns.to_string(),
                (None, Some(n)) if n.contains('.') => {
                    n.rsplit_once('.').map(|(ns, _)| ns.to_string()).unwrap_or_default()
                }
                _ => namespace.to_string(),
            };
            for key in ["items", "values"] {
                if let Some(inner) = o.get(key) {
                    avro_fields(inner, &ns, out);
                }
            }
            for f in o.get("fields").and_then(Value::as_array).into_iter().flatten() {
                let Some(name) = f.get("name").and_then(Value::as_str) else { continue };
                let ty = match f.get("type") {
                    Some(Value::String(t)) => t.clone(),
                    Some(Value::Object(t)) => t.get("type").and_then(Value::as_str).unwrap_or("").to_string(),
                    Some(Value::Array(_)) => "union".to_string(),
                    _ => String::new(),
                };
                out.push((name.to_string(), ns.clone(), ty));
                if let Some(t) = f.get("type") {
                    avro_fields(t, &ns, out);
                }
            }
        }
        _ => {}
    }
}

/// Versions with a record field matching every given criterion, one entry per field.
async fn search_fields(AxState(app): AxState<App>, Q(q): Q<FieldQ>) -> R {
    let out = read(&app, |st| {
        let mut out = Vec::new();
        for name in st.meta.schemas.keys() {
            for v in all_versions(st, name).iter().filter(|v| v.schema_type == SchemaType::Avro) {
                let Ok(json) = serde_json::from_str::<Value>(&v.text) else { continue };
                let mut fields = Vec::new();
                avro_fields(&json, "", &mut fields);
                for (field, ns, ty) in fields {
                    let is = |have: &str, want: &Option<String>| want.as_ref().is_none_or(|w| w == have);
                    if is(&field, &q.name) && is(&ns, &q.field_namespace) && is(&ty, &q.field_type) {
                        out.push(json!({"schemaName": name, "version": v.version}));
                    }
                }
            }
        }
        Ok(out)
    })?;
    entities(out)
}

async fn schema_providers() -> R {
    entities(vec![
        json!({"name": "Avro schema provider", "description": "Avro schemas", "type": "avro",
               "defaultSerializerClassName": null, "defaultDeserializerClassName": null}),
        json!({"name": "JSON schema provider", "description": "JSON Schema", "type": "json",
               "defaultSerializerClassName": null, "defaultDeserializerClassName": null}),
        json!({"name": "Protobuf schema provider", "description": "Protocol Buffers", "type": "protobuf",
               "defaultSerializerClassName": null, "defaultDeserializerClassName": null}),
    ])
}

// ------------------------------------------------------------------ files and serdes

/// Files live in `_schemas` too, so they are bounded by what one record may hold.
const MAX_FILE: usize = 768 << 10;

async fn upload_file(AxState(app): AxState<App>, mut form: Multipart) -> R {
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = form.next_field().await.map_err(|e| HwError::bad_request(format!("Bad upload: {e}")))? {
        if field.name() == Some("file") || field.file_name().is_some() {
            let name = field.file_name().unwrap_or("file").to_string();
            let bytes = field.bytes().await.map_err(|e| HwError::bad_request(format!("Bad upload: {e}")))?;
            file = Some((name, bytes.to_vec()));
        }
    }
    let (name, bytes) = file.ok_or_else(|| HwError::missing("file"))?;
    if bytes.len() > MAX_FILE {
        return Err(HwError {
            status: 413,
            code: 1110,
            message: format!("The file is {} bytes; at most {MAX_FILE} are kept", bytes.len()),
        });
    }
    let id = write_hw(&app, move |st| {
        let id = st.meta.next_file_id();
        let f = FileValue { name, data: crate::compat::descriptor::base64_encode(&bytes) };
        Ok((vec![(Key::File { id: id.clone(), magic: 0 }, val(&f))], id))
    })
    .await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], id).into_response())
}

async fn download_file(AxState(app): AxState<App>, P(id): P<String>) -> R {
    let (name, data) = read(&app, |st| {
        let f = st.meta.files.get(&id).ok_or_else(|| HwError::not_found(&id))?;
        let data = crate::compat::descriptor::base64_decode(&f.data).ok_or_else(|| HwError {
            status: 500,
            code: 1102,
            message: format!("stored file {id} is corrupt"),
        })?;
        Ok((f.name.clone(), data))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", name.replace('"', ""))),
        ],
        data,
    )
        .into_response())
}

fn serdes_json(id: i64, s: &SerdesValue) -> Value {
    json!({
        "id": id, "timestamp": s.timestamp,
        "serDesPair": {"name": s.name, "description": s.description, "fileId": s.file_id,
                       "serializerClassName": s.serializer_class_name,
                       "deserializerClassName": s.deserializer_class_name},
    })
}

#[derive(Deserialize)]
struct SerdesBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "fileId", default)]
    file_id: Option<String>,
    #[serde(rename = "serializerClassName", default)]
    serializer: Option<String>,
    #[serde(rename = "deserializerClassName", default)]
    deserializer: Option<String>,
}

async fn add_serdes(AxState(app): AxState<App>, raw: Bytes) -> R {
    let b: SerdesBody = body(&raw)?;
    let need = |v: Option<String>, what: &str| v.filter(|s| !s.trim().is_empty()).ok_or_else(|| HwError::missing(what));
    let value = SerdesValue {
        name: need(b.name, "name")?,
        description: b.description.unwrap_or_default(),
        file_id: need(b.file_id, "fileId")?,
        serializer_class_name: need(b.serializer, "serializerClassName")?,
        deserializer_class_name: need(b.deserializer, "deserializerClassName")?,
        timestamp: now_ms(),
    };
    let id = write_hw(&app, move |st| {
        if !st.meta.files.contains_key(&value.file_id) {
            return Err(HwError::not_found(format!("file {}", value.file_id)));
        }
        let id = st.meta.next_serdes_id();
        Ok((vec![(Key::Serdes { id, magic: 0 }, val(&value))], id))
    })
    .await?;
    ok(json!(id))
}

async fn get_serdes(AxState(app): AxState<App>, P(id): P<i64>) -> R {
    ok(read(&app, |st| st.meta.serdes.get(&id).map(|s| serdes_json(id, s)).ok_or_else(|| HwError::not_found(id)))?)
}

async fn list_serdes(AxState(app): AxState<App>) -> R {
    let out = read(&app, |st| Ok(st.meta.serdes.iter().map(|(id, s)| serdes_json(*id, s)).collect()))?;
    entities(out)
}

async fn map_serdes(AxState(app): AxState<App>, P((name, id)): P<(String, i64)>) -> R {
    write_hw(&app, move |st| {
        find_meta(st, &name)?;
        if !st.meta.serdes.contains_key(&id) {
            return Err(HwError::not_found(format!("serdes {id}")));
        }
        Ok((vec![(Key::SerdesMapping { name, serdes_id: id, magic: 0 }, Some(json!({})))], ()))
    })
    .await?;
    ok(json!(true))
}

async fn unmap_serdes(AxState(app): AxState<App>, P((name, id)): P<(String, i64)>) -> R {
    write_hw(&app, move |st| {
        if !st.meta.mappings.contains(&(name.clone(), id)) {
            return Err(HwError::not_found(format!("{name}, serdes {id}")));
        }
        Ok((vec![(Key::SerdesMapping { name, serdes_id: id, magic: 0 }, None)], ()))
    })
    .await?;
    ok(json!(true))
}

async fn schema_serdes(AxState(app): AxState<App>, P(name): P<String>) -> R {
    let out = read(&app, |st| {
        find_meta(st, &name)?;
        Ok(st
            .meta
            .mappings
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, id)| st.meta.serdes.get(id).map(|s| serdes_json(*id, s)))
            .collect())
    })?;
    entities(out)
}

async fn schema_by_id(AxState(app): AxState<App>, P(id): P<i64>) -> R {
    ok(read(&app, |st| {
        st.meta
            .schemas
            .iter()
            .find(|(_, m)| m.id == id)
            .map(|(n, m)| metadata_json(st, n, m))
            .ok_or_else(|| HwError::not_found(id))
    })?)
}

async fn server_version() -> R {
    ok(json!({"version": env!("CARGO_PKG_VERSION"), "revision": "weir", "timestamp": null}))
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
        .with_state(app)
}
