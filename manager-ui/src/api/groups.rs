//! Groups of every kind (classic, consumer, share): the paged, searchable list
//! (sortable by lag); one group's members, assignments and per-partition
//! committed offset, end and lag; offset resets (earliest, latest, timestamp, an
//! offset, a shift; only while the group has no members, as Kafka requires) and
//! deletion. Lag is the partition's high watermark minus the committed offset,
//! never negative: what Kafka's admin tools compute. A share group shows each
//! share-partition's start offset where the others show a committed offset, its
//! lag less the records finished after the start (`weir_broker::share::overview`),
//! and a reset sets those starts (Kafka's AlterShareGroupOffsets).

use std::collections::BTreeSet;
use weir_broker::auth::{Operation, Resource};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use weir_broker::api::errors;
use weir_broker::group::overview::GroupOverview;
use weir_broker::group::{CommitRequest, OffsetToCommit};
use weir_broker::share::ShareError;
use weir_broker::GroupError;

use super::{body, page, query, Api, ApiError, ApiResult, ListQuery};

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/v1/groups", get(list))
        .route("/api/v1/groups/{id}", get(detail).delete(delete))
        .route("/api/v1/groups/{id}/reset-offsets", post(reset_offsets))
}

fn group_error(e: GroupError) -> ApiError {
    ApiError::kafka(errors::group(&e), e.to_string())
}

fn unknown_group(id: &str) -> ApiError {
    ApiError::not_found("GROUP_ID_NOT_FOUND", format!("Group {id} does not exist."))
}

#[derive(Debug, Default, Deserialize)]
struct GroupFilter {
    /// Only groups in this state (`Stable`, `Empty`, ...).
    state: Option<String>,
}

/// `GET /api/v1/groups?q=&state=&sort=name|lag|members|state&order=&offset=&limit=`
async fn list(
    State(api): State<Api>,
    who: super::Who,
    q: Result<Query<ListQuery>, QueryRejection>,
    filter: Result<Query<GroupFilter>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let (q, filter) = (query(q)?, query(filter)?);
    let descending = q.descending()?;
    let matches = q.matcher();
    let mut groups: Vec<GroupOverview> = api
        .broker
        .group_overviews()
        .into_iter()
        .filter(|g| matches(&g.group_id) && filter.state.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(g.state)))
        .filter(|g| super::may(&api, &who, Operation::Describe, Resource::Group(&g.group_id)))
        .collect();
    match q.sort.as_deref() {
        None | Some("name") => {}
        Some("lag") => groups.sort_by_cached_key(|g| g.total_lag()),
        Some("members") => groups.sort_by_key(|g| g.members.len()),
        Some("state") => groups.sort_by_key(|g| g.state),
        Some(other) => {
            return Err(ApiError::bad_request(format!("sort must be name, lag, members or state, not {other:?}")))
        }
    }
    if descending {
        groups.reverse();
    }
    let (total, rows) = page(groups, &q);
    let (offset, limit) = q.window();
    let rows: Vec<Value> = rows
        .iter()
        .map(|g| {
            let topics: BTreeSet<&str> = g
                .offsets
                .iter()
                .map(|o| o.topic.as_str())
                .chain(g.members.iter().flat_map(|m| m.assignment.keys().map(String::as_str)))
                .collect();
            json!({
                "group_id": g.group_id,
                "type": g.group_type,
                "state": g.state,
                "protocol_type": g.protocol_type,
                "members": g.members.len(),
                "topics": topics.len(),
                "partitions": g.offsets.len(),
                "lag": g.total_lag(),
            })
        })
        .collect();
    Ok(Json(json!({ "total": total, "offset": offset, "limit": limit, "groups": rows })))
}

fn describe(g: &GroupOverview) -> Value {
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|m| {
            json!({
                "member_id": m.member_id,
                "group_instance_id": m.instance_id,
                "client_id": m.client_id,
                "client_host": m.client_host,
                "assignment": m.assignment.iter().map(|(t, ps)| json!({ "topic": t, "partitions": ps })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let offsets: Vec<Value> = g
        .offsets
        .iter()
        .map(|o| {
            let owner =
                g.members.iter().find(|m| m.assignment.get(&o.topic).is_some_and(|ps| ps.contains(&o.partition)));
            json!({
                "topic": o.topic,
                "partition": o.partition,
                "committed_offset": o.committed,
                "log_end_offset": o.log_end,
                "lag": o.lag,
                "member_id": owner.map(|m| &m.member_id),
                "client_id": owner.map(|m| &m.client_id),
            })
        })
        .collect();
    json!({
        "group_id": g.group_id,
        "type": g.group_type,
        "state": g.state,
        "protocol_type": g.protocol_type,
        "protocol": g.protocol,
        "epoch": g.epoch,
        "lag": g.total_lag(),
        "members": members,
        "offsets": offsets,
    })
}

async fn detail(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let g = api.broker.group_overview(&id).ok_or_else(|| unknown_group(&id))?;
    Ok(Json(describe(&g)))
}

fn share_error(e: ShareError) -> ApiError {
    ApiError::kafka(errors::share(&e), e.to_string())
}

/// `DELETE /api/v1/groups/{id}`: 204; only a group without members (NON_EMPTY_GROUP otherwise).
async fn delete(State(api): State<Api>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let shares = api.broker.shares();
    if shares.is_share_group(&id) {
        shares.delete(&id).await.map_err(share_error)?;
    } else {
        api.broker.groups().delete_group(&id).await.map_err(group_error)?;
    }
    tracing::info!(group = %id, "console: group deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ResetTo {
    Earliest,
    Latest,
    /// The first offset whose timestamp is at least `timestamp` (ms); the log end when none is.
    Timestamp,
    /// `offset`, brought into the partition's range.
    Offset,
    /// The committed offset plus `shift` (may be negative), brought into range.
    Shift,
}

#[derive(Debug, Deserialize)]
struct ResetBody {
    to: ResetTo,
    /// The topic to reset; default: every topic the group has committed offsets for.
    topic: Option<String>,
    /// With `topic`: only these partitions (default all).
    partitions: Option<Vec<i32>>,
    timestamp: Option<i64>,
    offset: Option<i64>,
    shift: Option<i64>,
    /// Only compute the new offsets (kafka-consumer-groups' default without --execute).
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/v1/groups/{id}/reset-offsets`: what kafka-consumer-groups
/// `--reset-offsets --execute` does. Answers each partition's previous and new offset.
async fn reset_offsets(
    State(api): State<Api>,
    Path(id): Path<String>,
    b: Result<Json<ResetBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let body = body(b)?;
    let broker = &api.broker;
    let g = broker.group_overview(&id);
    if let Some(g) = &g {
        if !g.members.is_empty() {
            return Err(ApiError::kafka(
                kafka_protocol::ResponseError::NonEmptyGroup,
                format!(
                    "Assignments can only be reset if the group '{id}' is inactive, but the current state is {}.",
                    g.state
                ),
            ));
        }
    }
    let committed = |topic: &str, partition: i32| {
        g.as_ref()
            .and_then(|g| g.offsets.iter().find(|o| o.topic == topic && o.partition == partition))
            .map(|o| o.committed)
    };
    let targets: Vec<(String, i32)> = match &body.topic {
        Some(t) => {
            let meta = broker.topics().get(t).ok_or_else(|| ApiError::unknown_topic(t))?;
            match &body.partitions {
                Some(ps) => {
                    if let Some(bad) = ps.iter().find(|p| **p < 0 || **p >= meta.partitions) {
                        return Err(ApiError::unknown_partition(t, *bad));
                    }
                    ps.iter().map(|p| (t.clone(), *p)).collect()
                }
                None => (0..meta.partitions).map(|p| (t.clone(), p)).collect(),
            }
        }
        None => {
            let g = g.as_ref().ok_or_else(|| unknown_group(&id))?;
            g.offsets.iter().filter(|o| o.log_end.is_some()).map(|o| (o.topic.clone(), o.partition)).collect()
        }
    };
    if targets.is_empty() {
        return Err(ApiError::bad_request(format!("group {id} has no committed offsets to reset; name a topic")));
    }
    let need = |v: Option<i64>, what: &str| v.ok_or_else(|| ApiError::bad_request(format!("`{what}` is required")));
    let mut rows = Vec::with_capacity(targets.len());
    let mut commits = Vec::with_capacity(targets.len());
    for (topic, partition) in targets {
        let p =
            broker.partitions().get(&topic, partition).ok_or_else(|| ApiError::unknown_partition(&topic, partition))?;
        let (start, end) = (p.log_start_offset(), p.high_watermark());
        let target = match body.to {
            ResetTo::Earliest => start,
            ResetTo::Latest => end,
            ResetTo::Timestamp => {
                let ts = need(body.timestamp, "timestamp")?;
                let found = p
                    .log()
                    .offset_for_timestamp(ts)
                    .map_err(|e| ApiError::kafka(errors::storage(&e), format!("reading {topic}-{partition}: {e}")))?;
                found.map_or(end, |f| f.offset.min(end))
            }
            ResetTo::Offset => need(body.offset, "offset")?.clamp(start, end),
            ResetTo::Shift => {
                let from = committed(&topic, partition).unwrap_or(start);
                from.saturating_add(need(body.shift, "shift")?).clamp(start, end)
            }
        };
        rows.push(json!({
            "topic": topic, "partition": partition,
            "previous_offset": committed(&topic, partition), "new_offset": target,
        }));
        commits.push(OffsetToCommit { topic, partition, offset: target, leader_epoch: -1, metadata: None });
    }
    if !body.dry_run && g.as_ref().is_some_and(|g| g.group_type == "share") {
        // A share group's starts (Kafka's AlterShareGroupOffsets).
        let mut starts = Vec::with_capacity(commits.len());
        for c in &commits {
            let id = broker.topics().get(&c.topic).ok_or_else(|| ApiError::unknown_topic(&c.topic))?.id;
            starts.push((id, c.partition, c.offset));
        }
        broker.shares().set_start_offsets(&id, &starts).await.map_err(share_error)?;
        tracing::info!(group = %id, partitions = rows.len(), "console: share group start offsets reset");
    } else if !body.dry_run {
        let req = CommitRequest {
            group: id.clone(),
            generation: -1,
            member_id: String::new(),
            instance_id: None,
            offsets: commits,
        };
        let results = broker.groups().commit(req).await.map_err(group_error)?;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(group_error(e));
        }
        tracing::info!(group = %id, partitions = rows.len(), "console: group offsets reset");
    }
    Ok(Json(json!({ "group_id": id, "dry_run": body.dry_run, "offsets": rows })))
}
