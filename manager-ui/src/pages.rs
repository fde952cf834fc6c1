//! The console's pages: one HTML shell and its scripts and styles, embedded in
//! the binary (no build step, no Node at run time). The scripts draw every
//! page from the JSON API under `/api/v1/`; routes are URL fragments
//! (`#/topics/orders`), so every page has an address to bookmark and share.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// (path, content type, body) of every embedded asset.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/assets/app.css", "text/css; charset=utf-8", include_str!("../assets/app.css")),
    ("/assets/ui.js", "text/javascript; charset=utf-8", include_str!("../assets/ui.js")),
    ("/assets/charts.js", "text/javascript; charset=utf-8", include_str!("../assets/charts.js")),
    ("/assets/app.js", "text/javascript; charset=utf-8", include_str!("../assets/app.js")),
    ("/assets/topics.js", "text/javascript; charset=utf-8", include_str!("../assets/topics.js")),
    ("/assets/groups.js", "text/javascript; charset=utf-8", include_str!("../assets/groups.js")),
    ("/assets/messages.js", "text/javascript; charset=utf-8", include_str!("../assets/messages.js")),
    ("/assets/schemas.js", "text/javascript; charset=utf-8", include_str!("../assets/schemas.js")),
    ("/assets/alerts.js", "text/javascript; charset=utf-8", include_str!("../assets/alerts.js")),
];

const INDEX: &str = include_str!("../assets/index.html");

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new().route("/", get(index));
    for (path, ty, body) in ASSETS {
        r = r.route(
            path,
            get(move || async move { ([(header::CONTENT_TYPE, *ty), (header::CACHE_CONTROL, "no-cache")], *body) }),
        );
    }
    r
}

async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX)
}
