//! The console behind the broker's identities and ACLs. With
//! `console.authentication.method=BASIC` every page, the JSON API and
//! `/metrics` need a login (the form at `/login`, which sets a session
//! cookie), HTTP basic credentials of a SCRAM user, or a client certificate;
//! `/health`, `/ready`, the login form and the static page shell stay open.
//! API calls without a login get 401, which the pages answer by going to the
//! form.
//!
//! With the broker's authorizer on, each API call needs the ACL the matching
//! Kafka request would need, and lists show only what the principal may
//! DESCRIBE (topics, groups) or READ (schema subjects, by their topic):
//!
//! | console call                                      | Kafka ACL needed                  |
//! |---------------------------------------------------|-----------------------------------|
//! | a topic's details                                 | DESCRIBE on the topic             |
//! | browse its messages / produce one                 | READ / WRITE on the topic         |
//! | create a topic                                    | CREATE on the cluster or the topic |
//! | delete a topic / change its configs / partitions / promote | DELETE / ALTER_CONFIGS / ALTER / ALTER on the topic |
//! | a group's details / delete it / reset its offsets | DESCRIBE / DELETE / READ on the group |
//! | a subject's schemas / register, change it         | READ / WRITE on its topic         |
//! | the registry's global compatibility               | ALTER_CONFIGS on the cluster      |
//! | overview, history, alerts, replication, /metrics  | DESCRIBE on the cluster           |
//! | alert policies and notifiers, mirror failover     | ALTER on the cluster              |
//!
//! A denial answers 403 with Kafka's error name (TOPIC_AUTHORIZATION_FAILED,
//! GROUP_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED).

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use weir_broker::auth::{Operation, Resource};
use weir_broker::BrokerHandle;
use weir_http_security::{Identity, Rejection};

use crate::api::ApiError;

/// Paths anyone may fetch: probes, the login form, and the page shell and
/// its scripts (static, no data: their first API call's 401 sends the browser
/// to the login form, keeping the page's `#/...` address to return to).
pub fn open(path: &str) -> bool {
    matches!(path, "/" | "/health" | "/ready" | "/login" | "/logout") || path.starts_with("/assets/")
}

/// Pages redirect to the login form; API calls and `/metrics` answer 401
/// (with a basic challenge, unless the console's own scripts ask: a browser
/// would pop up its password dialog over the page).
pub fn reject(req: &Request, why: Rejection, challenge: &str) -> Response {
    let path = req.uri().path();
    let api = path.starts_with("/api/") || path == "/metrics";
    if !api && *req.method() == Method::GET {
        let next = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let to = format!("/login?next={}", crate::login::encode(next));
        return (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    }
    let message = match why {
        Rejection::Missing => "Authentication required: log in, or send HTTP basic credentials.",
        Rejection::Invalid => "Invalid username or password, or the login has expired.",
    };
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, "SASL_AUTHENTICATION_FAILED", message).into_response();
    if req.headers().get("x-weir-console").is_none() {
        if let Ok(v) = challenge.parse() {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}

#[derive(Debug, PartialEq, Eq)]
enum Need {
    Anyone,
    /// The handler filters or checks what the body names.
    Handler,
    Topic(String, Operation),
    Group(String, Operation),
    Subject(String, Operation),
    Cluster(Operation),
}

fn need(method: &Method, path: &str) -> Need {
    use Operation::*;
    let get = matches!(*method, Method::GET | Method::HEAD);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = weir_http_security::decode_segment;
    let cluster = |get: bool| Need::Cluster(if get { Describe } else { Alter });
    match parts[..] {
        ["metrics"] => Need::Cluster(Describe),
        ["api", "v1", "openapi.yaml"] => Need::Anyone,
        ["api", "v1", "whoami"] => Need::Anyone,
        ["api", "v1", "topics"] | ["api", "v1", "groups"] | ["api", "v1", "schemas"] => Need::Handler,
        ["api", "v1", "topics", t] => Need::Topic(name(t), if get { Describe } else { Delete }),
        ["api", "v1", "topics", t, "messages"] => Need::Topic(name(t), if get { Read } else { Write }),
        ["api", "v1", "topics", t, "configs"] => Need::Topic(name(t), AlterConfigs),
        ["api", "v1", "topics", t, "partitions" | "promote"] => Need::Topic(name(t), Alter),
        ["api", "v1", "groups", g] => Need::Group(name(g), if get { Describe } else { Delete }),
        ["api", "v1", "groups", g, "reset-offsets"] => Need::Group(name(g), Read),
        ["api", "v1", "schemas", s, ..] => Need::Subject(name(s), if get { Read } else { Write }),
        ["api", "v1", "registry", "compatibility"] => Need::Cluster(AlterConfigs),
        ["api", "v1", ..] => cluster(get),
        _ => Need::Anyone,
    }
}

fn denied(code: &str, message: String) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, code, message).into_response()
}

/// The middleware, after `authenticate`: checks what the call needs.
pub async fn authorize(State(broker): State<BrokerHandle>, req: Request, next: Next) -> Response {
    let Some(id) = req.extensions().get::<Identity>().cloned() else {
        return next.run(req).await;
    };
    if !id.enforced() {
        return next.run(req).await;
    }
    let p = id.principal();
    let refused = match need(req.method(), req.uri().path()) {
        Need::Anyone | Need::Handler => None,
        Need::Topic(t, op) => (!id.authorize(&broker, op, Resource::Topic(&t))).then(|| {
            let m = format!("{p} is not authorized to {} topic '{t}'.", verb(op));
            denied("TOPIC_AUTHORIZATION_FAILED", m)
        }),
        Need::Group(g, op) => (!id.authorize(&broker, op, Resource::Group(&g))).then(|| {
            let m = format!("{p} is not authorized to {} group '{g}'.", verb(op));
            denied("GROUP_AUTHORIZATION_FAILED", m)
        }),
        Need::Subject(s, op) => {
            let topic = weir_registry::access::subject_topic(&s);
            (!id.authorize(&broker, op, Resource::Topic(topic))).then(|| {
                let m = format!("{p} is not authorized to {} subject '{s}' (topic '{topic}').", verb(op));
                denied("TOPIC_AUTHORIZATION_FAILED", m)
            })
        }
        Need::Cluster(op) => (!id.authorize(&broker, op, Resource::Cluster)).then(|| {
            let m = format!("{p} is not authorized to {} the cluster.", verb(op));
            denied("CLUSTER_AUTHORIZATION_FAILED", m)
        }),
    };
    match refused {
        Some(r) => r,
        None => next.run(req).await,
    }
}

fn verb(op: Operation) -> &'static str {
    match op {
        Operation::Read => "read",
        Operation::Write => "write to",
        Operation::Create => "create",
        Operation::Delete => "delete",
        Operation::Alter => "alter",
        Operation::AlterConfigs => "alter the configs of",
        Operation::DescribeConfigs => "describe the configs of",
        _ => "describe",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation::*;

    #[test]
    fn calls_need_the_acls_of_their_kafka_requests() {
        let (g, p, d) = (Method::GET, Method::POST, Method::DELETE);
        assert_eq!(need(&g, "/api/v1/topics"), Need::Handler);
        assert_eq!(need(&p, "/api/v1/topics"), Need::Handler, "create checks the body's name");
        assert_eq!(need(&g, "/api/v1/topics/orders"), Need::Topic("orders".into(), Describe));
        assert_eq!(need(&d, "/api/v1/topics/a%20b"), Need::Topic("a b".into(), Delete));
        assert_eq!(need(&g, "/api/v1/topics/orders/messages"), Need::Topic("orders".into(), Read));
        assert_eq!(need(&p, "/api/v1/topics/orders/messages"), Need::Topic("orders".into(), Write));
        assert_eq!(need(&Method::PATCH, "/api/v1/topics/orders/configs"), Need::Topic("orders".into(), AlterConfigs));
        assert_eq!(need(&p, "/api/v1/groups/g1/reset-offsets"), Need::Group("g1".into(), Read));
        assert_eq!(need(&g, "/api/v1/schemas/orders-value"), Need::Subject("orders-value".into(), Read));
        assert_eq!(need(&p, "/api/v1/schemas/orders-value/versions"), Need::Subject("orders-value".into(), Write));
        assert_eq!(need(&g, "/api/v1/cluster"), Need::Cluster(Describe));
        assert_eq!(need(&p, "/api/v1/alerts/policies"), Need::Cluster(Alter));
        assert_eq!(need(&g, "/metrics"), Need::Cluster(Describe));
        assert_eq!(need(&g, "/"), Need::Anyone);
    }
}
