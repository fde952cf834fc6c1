//! Who may do what in the registry, with the broker's ACLs, following
//! Confluent's topic-ACL authorizer: a subject is governed by the ACLs of its
//! topic (TopicNameStrategy: `orders-value` and `orders-key` belong to topic
//! `orders`; a subject without either suffix is its own topic name).
//!
//! | registry operation                                   | Kafka ACL needed             |
//! |------------------------------------------------------|------------------------------|
//! | read a subject (versions, lookup, its config, mode, compatibility checks) | READ on its topic |
//! | write a subject (register, delete, set its config or mode) | WRITE on its topic     |
//! | read a schema by id                                  | READ on the topic of some subject that uses it |
//! | read the global config or mode                      | DESCRIBE_CONFIGS on the cluster |
//! | change the global config or mode                    | ALTER_CONFIGS on the cluster  |
//! | Cloudera's API: `/schemas/{name}/...`                 | as a subject named `name`     |
//! | Cloudera's API: lists, search, ids, serdes, files    | DESCRIBE_CONFIGS / ALTER_CONFIGS on the cluster |
//!
//! Lists (`/subjects`, `/schemas`, the subjects and versions of an id) show only
//! the subjects the principal may read. `super.users` may do everything. A
//! denial answers 403 with `{"error_code": 40301, "message": "User is denied
//! operation Write on Subject: orders-value"}`; a request without valid
//! credentials answers 401 with `{"error_code": 401, "message": "Unauthorized"}`.
//! ACLs apply only when the broker's authorizer is on and the listener
//! authenticates (`registry.authentication.method=BASIC` or client certificates).

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use weir_broker::auth::{Operation, Resource};
use weir_broker::BrokerHandle;
use weir_http_security::{Identity, Rejection};

use crate::error::{ApiError, CONTENT_TYPE};
use crate::store::Store;

/// The topic whose ACLs govern `subject`.
pub fn subject_topic(subject: &str) -> &str {
    subject.strip_suffix("-value").or_else(|| subject.strip_suffix("-key")).unwrap_or(subject)
}

/// What a request handler may consult to filter lists.
#[derive(Clone)]
pub struct Access {
    identity: Identity,
    broker: BrokerHandle,
}

impl Access {
    pub fn may_read(&self, subject: &str) -> bool {
        self.identity.may(&self.broker, Operation::Read, Resource::Topic(subject_topic(subject)))
    }
}

/// Keeps what `access` (if any) may read.
pub fn readable(access: &Option<axum::Extension<Access>>, subject: &str) -> bool {
    access.as_ref().is_none_or(|a| a.may_read(subject))
}

/// The 401 of a request without valid credentials.
pub fn reject(_req: &Request, _why: Rejection, challenge: &str) -> Response {
    let body = serde_json::json!({"error_code": 401, "message": "Unauthorized"}).to_string();
    let headers = [(header::CONTENT_TYPE, CONTENT_TYPE.to_string()), (header::WWW_AUTHENTICATE, challenge.to_string())];
    (StatusCode::UNAUTHORIZED, headers, body).into_response()
}

#[derive(Debug, PartialEq, Eq)]
enum Need {
    /// Any authenticated principal (server information).
    Anyone,
    /// Handlers filter what they list.
    Filtered,
    Subject(String, bool),
    SchemaId(i32),
    Global(bool),
}

/// What a request needs: `path` without the `/api/v1/confluent` mount.
fn need(method: &Method, path: &str) -> Need {
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let decode = weir_http_security::decode_segment;
    if let Some(rest) = path.strip_prefix("/api/v1/schemaregistry") {
        let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
        return match parts[..] {
            ["schemas", name, ..]
                if !matches!(name, "aggregated" | "versions" | "versionsById" | "versionsByFingerprint" | "branch") =>
            {
                Need::Subject(decode(name), write)
            }
            ["schemaproviders"] | ["version"] | ["schemas", "versions", "statemachine"] => Need::Anyone,
            _ => Need::Global(write),
        };
    }
    let path = path.strip_prefix("/api/v1/confluent").unwrap_or(path);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts[..] {
        [""] | ["contexts"] | ["schemas", "types"] | ["v1", "metadata", ..] => Need::Anyone,
        ["subjects"] | ["schemas"] => Need::Filtered,
        ["schemas", "ids", _, "subjects" | "versions"] => Need::Filtered,
        ["schemas", "ids", id, ..] => id.parse().map(Need::SchemaId).unwrap_or(Need::Anyone),
        // A lookup (POST /subjects/{s}) reads.
        ["subjects", s] if *method == Method::POST => Need::Subject(decode(s), false),
        ["subjects", s, ..] => Need::Subject(decode(s), write),
        // Compatibility checks read.
        ["compatibility", "subjects", s, ..] => Need::Subject(decode(s), false),
        ["config" | "mode"] => Need::Global(write),
        ["config" | "mode", s] => Need::Subject(decode(s), write),
        _ => Need::Anyone,
    }
}

fn denied(op: &str, what: &str) -> Response {
    ApiError::new(403, 40301, format!("User is denied operation {op} on {what}")).into_response()
}

/// The middleware: checks what the request needs, after `authenticate`.
pub async fn authorize(State(store): State<std::sync::Arc<Store>>, mut req: Request, next: Next) -> Response {
    let Some(identity) = req.extensions().get::<Identity>().cloned() else {
        return next.run(req).await;
    };
    if !identity.enforced() {
        return next.run(req).await;
    }
    let broker = store.broker().clone();
    let (read, write) = (Operation::Read, Operation::Write);
    match need(req.method(), req.uri().path()) {
        Need::Anyone | Need::Filtered => {}
        Need::Subject(s, w) => {
            let op = if w { write } else { read };
            if !identity.authorize(&broker, op, Resource::Topic(subject_topic(&s))) {
                return denied(if w { "Write" } else { "Read" }, &format!("Subject: {s}"));
            }
        }
        Need::SchemaId(id) => {
            let subjects: Vec<String> = store
                .read(|st| {
                    Ok(st
                        .subjects
                        .values()
                        .flat_map(|vs| vs.values())
                        .filter(|v| v.id == id)
                        .map(|v| v.subject.clone())
                        .collect())
                })
                .unwrap_or_default();
            // An unknown id falls through to the handler's 404.
            let any = subjects.iter().any(|s| identity.may(&broker, read, Resource::Topic(subject_topic(s))));
            if !subjects.is_empty() && !any {
                identity.authorize(&broker, read, Resource::Topic(subject_topic(&subjects[0])));
                return denied("Read", &format!("Schema: {id}"));
            }
        }
        Need::Global(w) => {
            let op = if w { Operation::AlterConfigs } else { Operation::DescribeConfigs };
            if !identity.authorize(&broker, op, Resource::Cluster) {
                return denied(if w { "Write" } else { "Read" }, "the global configuration");
            }
        }
    }
    req.extensions_mut().insert(Access { identity, broker });
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_belong_to_topics() {
        assert_eq!(subject_topic("orders-value"), "orders");
        assert_eq!(subject_topic("orders-key"), "orders");
        assert_eq!(subject_topic("com.acme.Order"), "com.acme.Order");
    }

    #[test]
    fn requests_need_what_confluent_asks() {
        let (g, p, d, put) = (Method::GET, Method::POST, Method::DELETE, Method::PUT);
        let s = |n: &str, w| Need::Subject(n.into(), w);
        assert_eq!(need(&p, "/subjects/orders-value/versions"), s("orders-value", true));
        assert_eq!(need(&g, "/subjects/orders-value/versions/latest"), s("orders-value", false));
        assert_eq!(need(&p, "/subjects/orders-value"), s("orders-value", false), "a lookup reads");
        assert_eq!(need(&d, "/subjects/orders-value"), s("orders-value", true));
        assert_eq!(need(&p, "/compatibility/subjects/a%2Fb-value/versions/latest"), s("a/b-value", false));
        assert_eq!(need(&g, "/schemas/ids/7"), Need::SchemaId(7));
        assert_eq!(need(&g, "/api/v1/confluent/schemas/ids/7/schema"), Need::SchemaId(7));
        assert_eq!(need(&g, "/schemas/ids/7/subjects"), Need::Filtered);
        assert_eq!(need(&g, "/subjects"), Need::Filtered);
        assert_eq!(need(&put, "/config"), Need::Global(true));
        assert_eq!(need(&g, "/config"), Need::Global(false));
        assert_eq!(need(&put, "/config/orders-value"), s("orders-value", true));
        assert_eq!(need(&g, "/"), Need::Anyone);
        assert_eq!(need(&g, "/schemas/types"), Need::Anyone);
        assert_eq!(need(&p, "/api/v1/schemaregistry/schemas/orders/versions"), s("orders", true));
        assert_eq!(need(&g, "/api/v1/schemaregistry/schemas/orders/versions/latest"), s("orders", false));
        assert_eq!(need(&g, "/api/v1/schemaregistry/schemas"), Need::Global(false));
        assert_eq!(need(&p, "/api/v1/schemaregistry/schemas/versions/3/state/enable"), Need::Global(true));
        assert_eq!(need(&g, "/api/v1/schemaregistry/schemaproviders"), Need::Anyone);
    }
}
