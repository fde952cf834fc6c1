//! `GET /api/v1/cluster`: what the overview page shows at the top: the
//! cluster, its broker and listeners, counts of topics, partitions and groups,
//! bytes stored and disk space. It does not scan groups' offsets (lag comes
//! from the groups list), so it stays cheap on a large estate.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{Api, ApiResult};

pub fn routes() -> Router<Api> {
    Router::new().route("/api/v1/cluster", get(cluster))
}

async fn cluster(State(api): State<Api>) -> ApiResult<Json<Value>> {
    let b = &api.broker;
    let c = b.cluster();
    let topics = b.topics().list();
    let internal = topics.iter().filter(|t| super::topics::is_internal(&t.name)).count();
    let partitions = b.partitions().all();
    let size: u64 = partitions.iter().map(|p| p.size_bytes()).sum();
    let groups = b.groups().list();
    let shares = b.shares().list();
    let mut states = serde_json::Map::new();
    for state in groups.iter().map(|g| g.state).chain(shares.iter().map(|(_, s)| *s)) {
        let n = states.get(state).and_then(Value::as_u64).unwrap_or(0);
        states.insert(state.to_string(), json!(n + 1));
    }
    let listeners: Vec<Value> = c
        .endpoints()
        .iter()
        .map(|e| json!({ "listener": e.listener, "host": e.host, "port": e.port, "bound": e.bound.to_string() }))
        .collect();
    let disk = crate::state_metrics::disk_space(c.data_dir())
        .map(|(free, total)| json!({ "free_bytes": free, "total_bytes": total }));
    Ok(Json(json!({
        "cluster_id": c.cluster_id(),
        "controller_id": c.node_id(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": api.started.elapsed().as_secs(),
        "brokers": [{
            "node_id": c.node_id(),
            "listeners": listeners,
            "data_dir": c.data_dir().display().to_string(),
            "size_bytes": size,
            "disk": disk,
        }],
        "topics": topics.len(),
        "internal_topics": internal,
        "partitions": partitions.len(),
        "size_bytes": size,
        "groups": groups.len() + shares.len(),
        "groups_by_state": states,
        "mirror_flows": api.mirror.snapshot().len(),
    })))
}
