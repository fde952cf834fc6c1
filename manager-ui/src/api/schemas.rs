//! Schemas, read from the registry's state (the `Store` handle, never its
//! HTTP API): `GET /api/v1/schemas` (subjects, searched and paged on the
//! server) and `GET /api/v1/schemas/{subject}` (every version with its id,
//! type, text, references and, from the Cloudera-style metadata, its branch
//! and state; the compatibility level in effect and where it comes from).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use weir_broker::auth::{Operation, Resource};
use weir_registry::state::State as RegistryState;
use weir_registry::store::Store;

use super::{page, query, Api, ApiError, ApiResult, ListQuery};

pub fn routes() -> Router<Api> {
    Router::new().route("/api/v1/schemas", get(list)).route("/api/v1/schemas/{subject}", get(detail))
}

fn registry(api: &Api) -> ApiResult<&Store> {
    api.registry.as_deref().ok_or_else(|| ApiError::not_found("NO_REGISTRY", "no schema registry in this process"))
}

fn registry_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("reading the registry: {e}"))
}

/// The compatibility level in effect for `subject` and where it is set.
fn compatibility(st: &RegistryState, subject: &str) -> (String, &'static str) {
    if let Some(l) = st.subject_config.get(subject).and_then(|c| c.compatibility_level.clone()) {
        return (l, "subject");
    }
    match st.global_config.as_ref().and_then(|c| c.compatibility_level.clone()) {
        Some(l) => (l, "global"),
        None => ("BACKWARD".into(), "default"),
    }
}

/// `{subject, compatibility, compatibility_source, global_compatibility}` now.
pub fn compatibility_json(api: &Api, subject: &str) -> ApiResult<Value> {
    registry(api)?
        .read(|st| {
            let (level, source) = compatibility(st, subject);
            Ok(json!({
                "subject": subject,
                "compatibility": level,
                "compatibility_source": source,
                "global_compatibility": compatibility(st, "").0,
            }))
        })
        .map_err(registry_error)
}

/// The lifecycle actions allowed from state `id` (Cloudera's named actions).
fn actions_from(id: u8) -> Vec<&'static str> {
    weir_registry::metadata::ACTIONS.iter().filter(|(_, from, _)| from.contains(&id)).map(|a| a.0).collect()
}

/// The subjects a topic's records use by Confluent's name strategies: the
/// topic's own (`<topic>-key`, `<topic>-value`) and TopicRecordNameStrategy's
/// (`<topic>-<record name>`).
pub fn subjects_of_topic(store: &Store, topic: &str) -> Vec<String> {
    let prefix = format!("{topic}-");
    store
        .read(|st| {
            Ok(st
                .subjects
                .iter()
                .filter(|(s, vs)| s.starts_with(&prefix) && vs.values().any(|v| !v.deleted))
                .map(|(s, _)| s.clone())
                .collect())
        })
        .unwrap_or_default()
}

/// `GET /api/v1/schemas?q=&offset=&limit=`
async fn list(
    State(api): State<Api>,
    who: super::Who,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let descending = q.descending()?;
    let matches = q.matcher();
    let store = registry(&api)?;
    let (mut rows, global) = store
        .read(|st| {
            let rows: Vec<Value> = st
                .subjects
                .iter()
                .filter(|(s, _)| matches(s))
                .filter(|(s, _)| {
                    let topic = weir_registry::access::subject_topic(s);
                    super::may(&api, &who, Operation::Read, Resource::Topic(topic))
                })
                .filter_map(|(s, vs)| {
                    let live: Vec<_> = vs.values().filter(|v| !v.deleted).collect();
                    let latest = live.last()?;
                    Some(json!({
                        "subject": s,
                        "versions": live.len(),
                        "latest_version": latest.version,
                        "latest_id": latest.id,
                        "schema_type": latest.schema_type.name(),
                        "compatibility": compatibility(st, s).0,
                    }))
                })
                .collect();
            Ok((rows, compatibility(st, "").0))
        })
        .map_err(registry_error)?;
    if descending {
        rows.reverse();
    }
    let (offset, limit) = q.window();
    let (total, rows) = page(rows, &q);
    Ok(Json(
        json!({ "total": total, "offset": offset, "limit": limit, "global_compatibility": global, "subjects": rows }),
    ))
}

/// A schema's text for reading: JSON types pretty-printed, Protobuf as written.
fn pretty(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_string()),
        Err(_) => text.to_string(),
    }
}

async fn detail(State(api): State<Api>, Path(subject): Path<String>) -> ApiResult<Json<Value>> {
    let store = registry(&api)?;
    let found = store
        .read(|st| {
            let Some(vs) = st.versions(&subject) else { return Ok(None) };
            let (level, source) = compatibility(st, &subject);
            let meta = st.meta.schemas.get(&subject);
            let versions: Vec<Value> = vs
                .values()
                .map(|v| {
                    let info = st.meta.versions.get(&(subject.clone(), v.version));
                    json!({
                        "version": v.version,
                        "id": v.id,
                        "schema_type": v.schema_type.name(),
                        "schema": pretty(&v.schema),
                        "references": v.references.iter().map(|r| json!({ "name": r.name, "subject": r.subject, "version": r.version })).collect::<Vec<_>>(),
                        "deleted": v.deleted,
                        "branch": info.map(|i| i.branch.clone()),
                        "state": info.map(|i| weir_registry::metadata::state_name(i.state_id)),
                        "version_id": info.map(|i| i.id),
                        "actions": info.map(|i| actions_from(i.state_id)).unwrap_or_default(),
                        "description": info.map(|i| i.description.clone()),
                    })
                })
                .collect();
            let branches: Vec<Value> = st
                .meta
                .branches
                .iter()
                .filter(|((name, _), _)| name == &subject)
                .map(|((_, b), v)| json!({ "name": b, "description": v.description, "root_version": v.root_version }))
                .collect();
            let serdes: Vec<Value> = st
                .meta
                .mappings
                .iter()
                .filter(|(name, _)| name == &subject)
                .filter_map(|(_, id)| st.meta.serdes.get(id).map(|s| (id, s)))
                .map(|(id, s)| {
                    json!({
                        "id": id,
                        "name": s.name,
                        "description": s.description,
                        "serializer_class_name": s.serializer_class_name,
                        "deserializer_class_name": s.deserializer_class_name,
                        "file_id": s.file_id,
                    })
                })
                .collect();
            Ok(Some(json!({
                "subject": subject,
                "serdes": serdes,
                "global_compatibility": compatibility(st, "").0,
                "compatibility": level,
                "compatibility_source": source,
                "versions": versions,
                "metadata": meta.map(|m| json!({
                    "description": m.description,
                    "schema_group": m.schema_group,
                    "evolve": m.evolve,
                    "validation_level": m.validation_level,
                })),
                "branches": branches,
            })))
        })
        .map_err(registry_error)?;
    found.map(Json).ok_or_else(|| ApiError::not_found("SUBJECT_NOT_FOUND", format!("Subject '{subject}' not found.")))
}
