//! The console's login form (`GET`/`POST /login`), `POST /logout`, and
//! `GET /api/v1/whoami`: who the console sees and what it may do, for the
//! pages to show their user and hide what they cannot use.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use weir_broker::auth::{Operation, Resource};
use weir_broker::BrokerHandle;
use weir_http_security::{AuthMethod, ConnInfo, HttpAuth, Identity};

#[derive(Clone)]
pub struct Login {
    pub auth: Arc<HttpAuth>,
    pub broker: BrokerHandle,
    pub secure: bool,
}

pub fn routes(login: Login) -> Router {
    Router::new()
        .route("/login", get(form).post(submit))
        .route("/logout", post(logout))
        .route("/api/v1/whoami", get(whoami))
        .with_state(login)
}

#[derive(Deserialize, Default)]
struct Next {
    next: Option<String>,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    next: Option<String>,
}

/// Only a path of this console: never another site (`//host`, `http:`).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Percent-encodes a path for a query parameter.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn page(next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let error =
        error.map(|e| format!("<div class=\"flash error\" role=\"alert\">{}</div>", escape(e))).unwrap_or_default();
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Weir console</title><link rel="stylesheet" href="/assets/app.css"><link rel="icon" href="data:,">
<style>body{{align-items:center;justify-content:center}} main.login{{flex:none;width:360px;padding:0}} .login h1{{margin-bottom:4px}}
.login p{{color:var(--muted);margin:0 0 16px}} .login input{{width:100%}} .login button{{width:100%;margin-top:6px}}</style>
</head><body><main class="login"><form class="panel" method="post" action="/login">
<h1>Weir console</h1><p>Log in with your Kafka (SCRAM) user.</p>{error}
<div class="form-row"><label for="username">Username</label><input id="username" name="username" autocomplete="username" required autofocus></div>
<div class="form-row"><label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required></div>
<input type="hidden" name="next" value="{next}"><button class="primary" type="submit">Log in</button>
</form></main></body></html>"#,
        next = escape(next),
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

async fn form(State(l): State<Login>, Query(q): Query<Next>) -> Response {
    if l.auth.method() == AuthMethod::None {
        return see_other("/");
    }
    page(safe_next(q.next.as_deref()), None, StatusCode::OK)
}

async fn submit(State(l): State<Login>, Extension(info): Extension<ConnInfo>, Form(c): Form<Credentials>) -> Response {
    let next = safe_next(c.next.as_deref()).to_string();
    let Some(sessions) = l.auth.sessions.as_ref().filter(|_| l.auth.method() == AuthMethod::Basic) else {
        return see_other("/");
    };
    match l.auth.login(&info, &c.username, &c.password).await {
        Some(credential) => {
            let token = sessions.create(&c.username, credential);
            tracing::info!(target: "weir::audit", user = %c.username, peer = %info.peer, "console login");
            let cookie = sessions.cookie(&token, l.secure);
            (StatusCode::SEE_OTHER, [(header::LOCATION, next), (header::SET_COOKIE, cookie)]).into_response()
        }
        None => page(&next, Some("Invalid username or password."), StatusCode::UNAUTHORIZED),
    }
}

async fn logout(State(l): State<Login>, headers: HeaderMap) -> Response {
    if let (Some(sessions), Some(token)) = (&l.auth.sessions, weir_http_security::sessions::cookie_token(&headers)) {
        sessions.end(token);
    }
    let cookie = weir_http_security::sessions::Sessions::expired_cookie();
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/login".to_string()), (header::SET_COOKIE, cookie)]).into_response()
}

async fn whoami(State(l): State<Login>, id: Option<Extension<Identity>>) -> Json<serde_json::Value> {
    let Some(Extension(id)) = id else {
        return Json(serde_json::json!({ "principal": "User:ANONYMOUS", "via": "anonymous" }));
    };
    let may = |op| id.may(&l.broker, op, Resource::Cluster);
    Json(serde_json::json!({
        "principal": id.principal().to_string(),
        "via": format!("{:?}", id.via).to_lowercase(),
        "authentication": if l.auth.method() == AuthMethod::Basic { "BASIC" } else { "NONE" },
        "acls": id.enforced(),
        "cluster": {
            "describe": may(Operation::Describe),
            "alter": may(Operation::Alter),
            "create": may(Operation::Create),
            "alter_configs": may(Operation::AlterConfigs),
        },
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_on_this_console() {
        assert_eq!(super::safe_next(Some("/#/topics")), "/#/topics");
        assert_eq!(super::safe_next(Some("//evil.example/")), "/");
        assert_eq!(super::safe_next(Some("https://evil.example/")), "/");
        assert_eq!(super::safe_next(Some("/\\evil.example")), "/");
        assert_eq!(super::safe_next(None), "/");
        assert_eq!(weir_http_security::decode_segment(&super::encode("/a b?c=d&e")), "/a b?c=d&e");
    }
}
