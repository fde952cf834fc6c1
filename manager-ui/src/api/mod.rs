//! The console's JSON API under `/api/v1/` (every page is drawn from it; one
//! OpenAPI file, docs/console-api.yaml, describes it and is served at
//! `/api/v1/openapi.yaml`).
//!
//! Conventions:
//! - Lists are paged on the server: `offset` (default 0) and `limit`
//!   (default 50, at most 1000) select the rows; `q` is a case-insensitive
//!   substring of the name; `sort` and `order` (`asc`, `desc`) order them
//!   before paging. A list answers `{"total": N, "offset", "limit", "<rows>": [...]}`
//!   where `total` counts the rows that matched `q`.
//! - Errors answer `{"error_code": "TOPIC_ALREADY_EXISTS", "message": "..."}`
//!   with Kafka's error name where a Kafka error applies, and an HTTP status
//!   that says the same (404 unknown, 409 conflict, 400 invalid, 503 not
//!   ready, 500 otherwise).
//! - Writes go through the same broker calls the Kafka APIs use (topic
//!   creation, config changes, offset commits), so the same rules apply.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kafka_protocol::ResponseError;
use serde::Deserialize;

use weir_broker::partition::Partition;
use weir_broker::BrokerHandle;
use weir_mirror::MirrorStatus;

mod alerts;
mod cluster;
mod groups;
mod history;
mod messages;
mod mirror;
mod render;
mod schema_writes;
mod schemas;
mod topics;

pub(crate) use topics::is_internal as is_internal_topic;

/// An API failure: the HTTP status, an error name and a message for people.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The schema registry's own error code (Confluent's 409, 42201, ...), for its errors.
    pub registry_code: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_string(), message: message.into(), registry_code: None }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A Kafka error, with the status that best says it over HTTP.
    pub fn kafka(e: ResponseError, message: impl Into<String>) -> ApiError {
        use ResponseError as E;
        let status = match e {
            E::UnknownTopicOrPartition | E::UnknownTopicId | E::GroupIdNotFound => StatusCode::NOT_FOUND,
            E::TopicAlreadyExists | E::NonEmptyGroup | E::RebalanceInProgress | E::GroupSubscribedToTopic => {
                StatusCode::CONFLICT
            }
            E::CoordinatorNotAvailable | E::CoordinatorLoadInProgress | E::NotLeaderOrFollower => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            E::KafkaStorageError | E::UnknownServerError => StatusCode::INTERNAL_SERVER_ERROR,
            E::TopicDeletionDisabled | E::TopicAuthorizationFailed | E::GroupAuthorizationFailed => {
                StatusCode::FORBIDDEN
            }
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError { status, code: error_name(e), message: message.into(), registry_code: None }
    }

    pub fn unknown_topic(name: &str) -> ApiError {
        ApiError::not_found("UNKNOWN_TOPIC_OR_PARTITION", format!("Topic '{name}' does not exist."))
    }

    pub fn unknown_partition(topic: &str, partition: i32) -> ApiError {
        ApiError::not_found(
            "UNKNOWN_TOPIC_OR_PARTITION",
            format!("Partition {partition} of topic '{topic}' does not exist."),
        )
    }

    /// A task the API handed to the blocking pool died (a panic): a server fault.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN_SERVER_ERROR", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error_code": self.code, "message": self.message });
        if let Some(c) = self.registry_code {
            body["registry_code"] = c.into();
        }
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The caller's identity (see `access`); absent where nobody authenticates.
pub type Who = Option<axum::Extension<weir_http_security::Identity>>;

/// Whether the caller may (silently: for filtering lists).
pub fn may(api: &Api, who: &Who, op: weir_broker::auth::Operation, r: weir_broker::auth::Resource<'_>) -> bool {
    who.as_ref().is_none_or(|w| w.may(&api.broker, op, r))
}

/// Kafka's name of an error (`TopicAlreadyExists` -> `TOPIC_ALREADY_EXISTS`).
pub fn error_name(e: ResponseError) -> String {
    weir_broker::api::error_codes::error_name(e.code()).to_string()
}

/// Runs a blocking broker call (fsync of the metadata log, partition
/// directories) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("the request's task failed: {e}")))
}

/// A query string, or 400 INVALID_REQUEST saying what is wrong with it.
pub fn query<T>(q: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>) -> ApiResult<T> {
    q.map(|q| q.0).map_err(|e| ApiError::bad_request(e.body_text()))
}

/// A JSON body, or 400 INVALID_REQUEST saying what is wrong with it.
pub fn body<T>(b: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> ApiResult<T> {
    b.map(|b| b.0).map_err(|e| ApiError::bad_request(e.body_text()))
}

/// A body too large is 413 REQUEST_TOO_LARGE (before it is read), one too slow
/// 408 REQUEST_TIMEOUT.
async fn whole_body(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use weir_http_security::body::BodyError;
    weir_http_security::body::read_whole(req, next, |e| {
        let code = match e {
            BodyError::TooLarge { .. } => "REQUEST_TOO_LARGE",
            BodyError::TimedOut(_) => "REQUEST_TIMEOUT",
            BodyError::Broken(_) => "INVALID_REQUEST",
        };
        ApiError::new(e.status(), code, e.message()).into_response()
    })
    .await
}

/// A topic's open partitions, in partition order; 404 for an unknown topic.
pub fn topic_partitions(api: &Api, name: &str) -> ApiResult<std::sync::Arc<[std::sync::Arc<Partition>]>> {
    api.broker.partitions().topic(name).ok_or_else(|| ApiError::unknown_topic(name))
}

/// Partition `p` of `parts` (a topic's), or 404.
pub fn partition_of(parts: &[std::sync::Arc<Partition>], topic: &str, p: i32) -> ApiResult<std::sync::Arc<Partition>> {
    usize::try_from(p).ok().and_then(|i| parts.get(i)).cloned().ok_or_else(|| ApiError::unknown_partition(topic, p))
}

/// `offset`, `limit`, `q`, `sort`, `order` of a list request.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub offset: Option<usize>,
    pub limit: Option<usize>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
}

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

impl ListQuery {
    pub fn window(&self) -> (usize, usize) {
        (self.offset.unwrap_or(0), self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT))
    }

    /// Whether `name` matches `q` (case-insensitive substring; no `q` matches all).
    pub fn matcher(&self) -> impl Fn(&str) -> bool {
        let q = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_lowercase);
        move |name: &str| match &q {
            None => true,
            Some(q) => name.to_lowercase().contains(q.as_str()),
        }
    }

    pub fn descending(&self) -> ApiResult<bool> {
        match self.order.as_deref() {
            None | Some("asc") => Ok(false),
            Some("desc") => Ok(true),
            Some(o) => Err(ApiError::bad_request(format!("order must be asc or desc, not {o:?}"))),
        }
    }
}

/// One page of `rows` (already filtered and sorted) as the API answers lists.
pub fn page<T>(rows: Vec<T>, q: &ListQuery) -> (usize, Vec<T>) {
    let (offset, limit) = q.window();
    let total = rows.len();
    (total, rows.into_iter().skip(offset).take(limit).collect())
}

/// What the API handlers share: the broker's in-process handle and the
/// mirror flows this process runs.
#[derive(Clone)]
pub struct Api {
    pub broker: BrokerHandle,
    pub mirror: MirrorStatus,
    pub started: std::time::Instant,
    pub history: std::sync::Arc<crate::history::History>,
    /// The schema registry of this process, for decoding and encoding records.
    pub registry: Option<std::sync::Arc<weir_registry::store::Store>>,
    /// Alert policies, notifiers, firing alerts and their history.
    pub alerts: std::sync::Arc<crate::alerts::Alerts>,
    /// The replication flows' configuration (`weir serve --mirror-config`), for failover.
    pub mirror_config: Option<std::sync::Arc<weir_mirror::MirrorConfig>>,
}

/// The routes under `/api/v1/`.
pub fn router<S: Clone + Send + Sync + 'static>(api: Api) -> axum::Router<S> {
    axum::Router::new()
        .merge(alerts::routes())
        .merge(cluster::routes())
        .merge(topics::routes())
        .merge(groups::routes())
        .merge(history::routes())
        .merge(messages::routes())
        .merge(mirror::routes())
        .merge(schemas::routes())
        .merge(schema_writes::routes())
        .route("/api/v1/openapi.yaml", axum::routing::get(openapi))
        .layer(axum::middleware::from_fn(whole_body))
        .with_state(api)
}

/// The OpenAPI description of this API (docs/console-api.yaml).
async fn openapi() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/yaml")], include_str!("../../../docs/console-api.yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_error_names() {
        assert_eq!(error_name(ResponseError::TopicAlreadyExists), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(ResponseError::NonEmptyGroup), "NON_EMPTY_GROUP");
        assert_eq!(error_name(ResponseError::UnknownTopicOrPartition), "UNKNOWN_TOPIC_OR_PARTITION");
    }

    #[test]
    fn paging_and_search() {
        let q = ListQuery { offset: Some(1), limit: Some(2), q: Some(" OrD ".into()), ..Default::default() };
        let m = q.matcher();
        let rows: Vec<&str> =
            ["orders", "audit", "ORDERS-dlq", "words", "records"].into_iter().filter(|n| m(n)).collect();
        assert_eq!(rows, ["orders", "ORDERS-dlq", "words", "records"]);
        let (total, rows) = page(rows, &q);
        assert_eq!((total, rows), (4, vec!["ORDERS-dlq", "words"]));
        let q = ListQuery { limit: Some(1_000_000), ..Default::default() };
        assert_eq!(q.window(), (0, MAX_LIMIT));
        assert!(ListQuery { order: Some("up".into()), ..Default::default() }.descending().is_err());
    }
}
