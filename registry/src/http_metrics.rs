//! Request metrics of the registry's HTTP API: `weir_registry_requests_total`
//! (`method`, `route`, `code`) and `weir_registry_request_latency_seconds`
//! (`method`, `route`). `route` is the matched route's template
//! (`/subjects/{subject}/versions`), not the path, so subjects do not become
//! labels. Requests no route matched (404 before any handler) are not counted.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

pub fn describe() {
    metrics::describe_counter!(
        "weir_registry_requests_total",
        "Schema registry HTTP requests, by method, route template and status code."
    );
    metrics::describe_histogram!(
        "weir_registry_request_latency_seconds",
        "Time to answer a schema registry HTTP request, by method and route template."
    );
}

/// The middleware: times the request and counts its answer.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(String::new, |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let code = resp.status().as_u16().to_string();
    metrics::histogram!("weir_registry_request_latency_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("weir_registry_requests_total", "method" => method, "route" => route, "code" => code)
        .increment(1);
    resp
}
