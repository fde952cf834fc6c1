//! Topics: the paged, searchable list; one topic's partitions, configs (each
//! with its source), consuming groups and producers; create, alter configs,
//! add partitions, delete. Writes call the same `Topics`/`Configs` services
//! as CreateTopics, IncrementalAlterConfigs, CreatePartitions and
//! DeleteTopics, so the same validation and errors apply.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use weir_broker::auth::{Operation, Resource};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use weir_broker::api::errors;
use weir_broker::configs::{AlterOp, ConfigChange, ConfigSource};
use weir_broker::partition::Partition;
use weir_broker::topics::CreateTopic;
use weir_broker::TopicError;

use super::{blocking, body, page, query, Api, ApiError, ApiResult, ListQuery};

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/v1/topics", get(list).post(create))
        .route("/api/v1/topics/{name}", get(detail).delete(delete))
        .route("/api/v1/topics/{name}/configs", patch(alter_configs))
        .route("/api/v1/topics/{name}/partitions", post(add_partitions))
}

/// Internal to the platform: Kafka's own (`__consumer_offsets`,
/// `__transaction_state`), Weir's (`__weir_*`) and by the usual convention
/// any name starting with `_` (`_schemas`). The list hides them unless asked.
pub fn is_internal(name: &str) -> bool {
    name.starts_with('_')
}

fn topic_error(e: TopicError) -> ApiError {
    ApiError::kafka(errors::topic(&e), e.to_string())
}

/// Kafka's `ConfigSource` names (DescribeConfigs' `config_source`).
pub fn source_name(s: ConfigSource) -> &'static str {
    match s {
        ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigSource::Default => "DEFAULT_CONFIG",
        ConfigSource::Group => "GROUP_CONFIG",
        ConfigSource::ClientMetrics => "CLIENT_METRICS_CONFIG",
    }
}

/// Totals over a topic's partitions.
#[derive(Default)]
struct Totals {
    size_bytes: u64,
    /// Records between log start and log end (what retention keeps).
    messages: i64,
}

fn totals(parts: &[Arc<Partition>]) -> Totals {
    let mut t = Totals::default();
    for p in parts {
        t.size_bytes += p.size_bytes();
        t.messages += (p.high_watermark() - p.log_start_offset()).max(0);
    }
    t
}

#[derive(Debug, Default, Deserialize)]
struct TopicFilter {
    /// Include internal topics (`_`-prefixed); default false.
    internal: Option<bool>,
}

/// `GET /api/v1/topics?q=&internal=&sort=name|partitions|size|messages&order=&offset=&limit=`
async fn list(
    State(api): State<Api>,
    who: super::Who,
    q: Result<Query<ListQuery>, QueryRejection>,
    filter: Result<Query<TopicFilter>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let (q, filter) = (query(q)?, query(filter)?);
    let descending = q.descending()?;
    let matches = q.matcher();
    let internal = filter.internal.unwrap_or(false);
    let mut topics: Vec<_> = api
        .broker
        .topics()
        .list()
        .into_iter()
        .filter(|t| (internal || !is_internal(&t.name)) && matches(&t.name))
        .filter(|t| super::may(&api, &who, Operation::Describe, Resource::Topic(&t.name)))
        .collect();
    let partitions = api.broker.partitions();
    // Sizes only for the sorts that need them over every match; otherwise only
    // for the page.
    match q.sort.as_deref() {
        None | Some("name") => topics.sort_by(|a, b| a.name.cmp(&b.name)),
        Some("partitions") => topics.sort_by(|a, b| a.partitions.cmp(&b.partitions).then(a.name.cmp(&b.name))),
        Some(key @ ("size" | "messages")) => {
            let mut keyed: Vec<(i64, _)> = topics
                .into_iter()
                .map(|t| {
                    let tot = partitions.topic(&t.name).map(|ps| totals(&ps)).unwrap_or_default();
                    (if key == "size" { tot.size_bytes as i64 } else { tot.messages }, t)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.name.cmp(&b.1.name)));
            topics = keyed.into_iter().map(|(_, t)| t).collect();
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort must be name, partitions, size or messages, not {other:?}"
            )))
        }
    }
    if descending {
        topics.reverse();
    }
    let (total, rows) = page(topics, &q);
    let (offset, limit) = q.window();
    // Rates as of the latest history sample: 0 when the topic was idle, null
    // when unknown (no sample yet, or a full sample that may have cut it).
    let latest = api.history.latest();
    let rate = |name: &str, f: fn(&crate::history::TopicRates) -> f64| -> Option<f64> {
        let s = latest.as_ref()?;
        match s.topics.iter().find(|r| r.topic == name) {
            Some(r) => Some((f(r) * 1000.0).round() / 1000.0),
            None if s.topics.len() < crate::history::TOP_TOPICS => Some(0.0),
            None => None,
        }
    };
    let rows: Vec<Value> = rows
        .iter()
        .map(|t| {
            let tot = partitions.topic(&t.name).map(|ps| totals(&ps)).unwrap_or_default();
            let settings = partitions.get(&t.name, 0).map(|p| p.settings());
            json!({
                "name": t.name,
                "topic_id": t.id.to_string(),
                "internal": is_internal(&t.name),
                "partitions": t.partitions,
                "size_bytes": tot.size_bytes,
                "messages": tot.messages,
                "cleanup_policy": settings.as_ref().map(|s| s.log.cleanup_policy.name()),
                "retention_ms": settings.as_ref().map(|s| s.log.retention_ms),
                "retention_bytes": settings.as_ref().map(|s| s.log.retention_bytes),
                "bytes_in_per_sec": rate(&t.name, |r| r.bytes_in),
                "bytes_out_per_sec": rate(&t.name, |r| r.bytes_out),
                "records_in_per_sec": rate(&t.name, |r| r.records_in),
            })
        })
        .collect();
    Ok(Json(json!({ "total": total, "offset": offset, "limit": limit, "topics": rows })))
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    name: String,
    /// Default: the broker's `num.partitions`.
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    #[serde(default)]
    configs: BTreeMap<String, String>,
    #[serde(default)]
    validate_only: bool,
}

/// `POST /api/v1/topics` `{name, partitions?, replication_factor?, configs?, validate_only?}`: 201 and the topic.
async fn create(
    State(api): State<Api>,
    who: super::Who,
    b: Result<Json<CreateBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = body(b)?;
    // Kafka's CreateTopics: CREATE on the cluster, or on the topic.
    let allowed = who.as_ref().is_none_or(|w| {
        w.may(&api.broker, Operation::Create, Resource::Cluster)
            || w.authorize(&api.broker, Operation::Create, Resource::Topic(&body.name))
    });
    if !allowed {
        let who = who.as_ref().map(|w| w.principal().to_string()).unwrap_or_default();
        let m = format!("{who} is not authorized to create topic '{}'.", body.name);
        return Err(ApiError::new(StatusCode::FORBIDDEN, "TOPIC_AUTHORIZATION_FAILED", m));
    }
    let req = CreateTopic {
        name: body.name.clone(),
        partitions: body.partitions.unwrap_or(-1),
        replication_factor: body.replication_factor.unwrap_or(-1),
        assignments: vec![],
        configs: body.configs,
    };
    let b = api.broker.clone();
    let validate_only = body.validate_only;
    let t = blocking(move || b.topics().create(req, validate_only)).await?.map_err(topic_error)?;
    tracing::info!(topic = %t.name, partitions = t.partitions, validate_only, "console: topic created");
    if validate_only {
        return Ok((
            StatusCode::OK,
            Json(json!({ "name": t.name, "partitions": t.partitions, "validate_only": true })),
        ));
    }
    Ok((StatusCode::CREATED, Json(describe(&api, &t.name)?)))
}

async fn detail(State(api): State<Api>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(describe(&api, &name)?))
}

/// One topic: partitions, configs with sources, the groups that committed
/// offsets on it or are assigned its partitions (with their lag here), and the
/// producers its partitions remember.
fn describe(api: &Api, name: &str) -> ApiResult<Value> {
    let broker = &api.broker;
    let meta = broker.topics().get(name).ok_or_else(|| ApiError::unknown_topic(name))?;
    let parts = broker.partitions().topic(name).unwrap_or_else(|| Arc::from(Vec::new()));
    let node = broker.cluster().node_id();
    let tot = totals(&parts);
    let partitions: Vec<Value> = parts
        .iter()
        .map(|p| {
            json!({
                "partition": p.index(),
                "leader": node,
                "replicas": [node],
                "isr": [node],
                "leader_epoch": p.leader_epoch(),
                "log_start_offset": p.log_start_offset(),
                "log_end_offset": p.log_end_offset(),
                "high_watermark": p.high_watermark(),
                "last_stable_offset": p.last_stable_offset(),
                "size_bytes": p.size_bytes(),
                "messages": (p.high_watermark() - p.log_start_offset()).max(0),
            })
        })
        .collect();
    let configs: Vec<Value> = broker
        .configs()
        .describe_topic(name)
        .map_err(topic_error)?
        .into_iter()
        .map(|e| {
            json!({
                "name": e.name,
                "value": if e.sensitive { None } else { e.value },
                "source": source_name(e.source),
                "read_only": e.read_only,
                "sensitive": e.sensitive,
                "documentation": e.doc,
            })
        })
        .collect();
    let mut groups = Vec::new();
    for g in broker.group_overviews() {
        let assigned: BTreeSet<i32> =
            g.members.iter().filter_map(|m| m.assignment.get(name)).flatten().copied().collect();
        let offsets: Vec<_> = g.offsets.iter().filter(|o| o.topic == name).collect();
        if offsets.is_empty() && assigned.is_empty() {
            continue;
        }
        groups.push(json!({
            "group_id": g.group_id,
            "state": g.state,
            "members": g.members.len(),
            "lag": offsets.iter().filter_map(|o| o.lag).sum::<i64>(),
            "partitions": offsets.iter().map(|o| json!({
                "partition": o.partition, "committed_offset": o.committed, "log_end_offset": o.log_end, "lag": o.lag,
            })).collect::<Vec<_>>(),
        }));
    }
    // A producer id per partition it wrote to; merged into one row per id.
    let mut producers: BTreeMap<i64, Value> = BTreeMap::new();
    let rates = api.history.producer_rates();
    let rates = rates.get(name);
    for p in parts.iter() {
        for s in p.log().active_producers() {
            let row = producers.entry(s.producer_id).or_insert_with(|| {
                let client = api.broker.producer_clients().get(s.producer_id);
                json!({
                    "producer_id": s.producer_id,
                    "producer_epoch": s.epoch,
                    "client_id": client.as_ref().map(|c| c.client_id.clone()),
                    "client_host": client.as_ref().map(|c| c.host.clone()),
                    "transactional_id": client.as_ref().and_then(|c| c.transactional_id.clone()),
                    "records_per_sec": rates.and_then(|r| r.get(&s.producer_id)).copied().unwrap_or(0.0),
                    "partitions": [],
                    "last_timestamp": -1,
                })
            });
            if let Some(ps) = row["partitions"].as_array_mut() {
                ps.push(json!({ "partition": p.index(), "last_sequence": s.last_sequence,
                    "last_timestamp": s.last_timestamp, "current_txn_start_offset": s.txn_first_offset }));
            }
            if row["last_timestamp"].as_i64().unwrap_or(-1) < s.last_timestamp {
                row["last_timestamp"] = json!(s.last_timestamp);
            }
        }
    }
    Ok(json!({
        "name": meta.name,
        "topic_id": meta.id.to_string(),
        "internal": is_internal(&meta.name),
        "partition_count": meta.partitions,
        "replication_factor": 1,
        "size_bytes": tot.size_bytes,
        "messages": tot.messages,
        "partitions": partitions,
        "configs": configs,
        "groups": groups,
        "producers": producers.into_values().collect::<Vec<_>>(),
        "subjects": api.registry.as_deref().map(|r| super::schemas::subjects_of_topic(r, name)).unwrap_or_default(),
    }))
}

#[derive(Debug, Deserialize)]
struct AlterBody {
    /// Overrides to set.
    #[serde(default)]
    set: BTreeMap<String, String>,
    /// Overrides to remove (back to the broker's value or the default).
    #[serde(default)]
    delete: Vec<String>,
    #[serde(default)]
    validate_only: bool,
}

/// `PATCH /api/v1/topics/{name}/configs` `{set: {k: v}, delete: [k]}`: the
/// topic's configs afterwards (IncrementalAlterConfigs SET and DELETE).
async fn alter_configs(
    State(api): State<Api>,
    Path(name): Path<String>,
    b: Result<Json<AlterBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let body = body(b)?;
    if api.broker.topics().get(&name).is_none() {
        return Err(ApiError::unknown_topic(&name));
    }
    let mut changes: Vec<ConfigChange> =
        body.set.into_iter().map(|(name, value)| ConfigChange { name, op: AlterOp::Set, value: Some(value) }).collect();
    changes.extend(body.delete.into_iter().map(|name| ConfigChange { name, op: AlterOp::Delete, value: None }));
    if changes.is_empty() {
        return Err(ApiError::bad_request("nothing to change: give `set` and/or `delete`"));
    }
    let b = api.broker.clone();
    let topic = name.clone();
    let validate_only = body.validate_only;
    blocking(move || b.configs().alter_topic(&topic, &changes, validate_only)).await?.map_err(topic_error)?;
    tracing::info!(topic = %name, validate_only, "console: topic configs altered");
    Ok(Json(describe(&api, &name)?))
}

#[derive(Debug, Deserialize)]
struct PartitionsBody {
    /// The new total number of partitions.
    count: i32,
    #[serde(default)]
    validate_only: bool,
}

/// `POST /api/v1/topics/{name}/partitions` `{count}`: grows the topic to `count` partitions.
async fn add_partitions(
    State(api): State<Api>,
    Path(name): Path<String>,
    b: Result<Json<PartitionsBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let body = body(b)?;
    let b = api.broker.clone();
    let topic = name.clone();
    blocking(move || b.topics().create_partitions(&topic, body.count, None, body.validate_only))
        .await?
        .map_err(topic_error)?;
    tracing::info!(topic = %name, count = body.count, "console: partitions added");
    Ok(Json(describe(&api, &name)?))
}

/// `DELETE /api/v1/topics/{name}`: 204.
async fn delete(State(api): State<Api>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let meta = api.broker.topics().get(&name).ok_or_else(|| ApiError::unknown_topic(&name))?;
    let b = api.broker.clone();
    blocking(move || b.topics().delete(&meta)).await?.map_err(topic_error)?;
    tracing::info!(topic = %name, "console: topic deleted");
    Ok(StatusCode::NO_CONTENT)
}
