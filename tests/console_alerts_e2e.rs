//! The console's alerts on the real binary: policies and notifiers through
//! the API, a lag alert that fires to a webhook (retried after failures)
//! and resolves, durability across a restart without a second notification,
//! the rate limit, and cluster-wide metrics.

mod common;

use std::time::Duration;

use common::clients::*;
use common::webhook::{Call, Webhook};
use common::{http, Weir};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

fn post(weir: &Weir, path: &str, body: Value) -> http::Reply {
    http::request(&weir.console, "POST", path, Some(&body))
}

/// Commits `offset` for `group` on partition 0 of `topic` (the group has no members).
fn commit(weir: &Weir, group: &str, topic: &str, to: Value) {
    let mut body = json!({ "topic": topic });
    body.as_object_mut().unwrap().extend(to.as_object().unwrap().clone());
    let r = post(weir, &format!("/api/v1/groups/{group}/reset-offsets"), body);
    assert_eq!(r.status, 200, "{}", r.body);
}

fn firing(weir: &Weir) -> Vec<Value> {
    http::get(&weir.console, "/api/v1/alerts").json()["firing"].as_array().unwrap().clone()
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < WAIT, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn statuses(calls: &[Call]) -> Vec<String> {
    calls.iter().map(|c| c.body["status"].as_str().unwrap_or("?").to_string()).collect()
}

/// The value of a Prometheus sample line `name{labels} value` (labels as written).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lag_alert_fires_to_a_webhook_resolves_and_survives_a_restart() {
    // An https receiver whose CA the broker trusts as any program would.
    let tls_hook = Webhook::start_tls();
    let ca = tls_hook.ca_file.clone().unwrap();
    let env = [("WEIR_CONSOLE_SAMPLE_MS", "200"), ("SSL_CERT_FILE", ca.to_str().unwrap())];
    let mut weir = Weir::start_with_env(&[], &env);
    let hook = Webhook::start();
    // The first call fails twice: the notifier retries.
    hook.answer(&[500, 503]);
    let notifier = json!({ "name": "Ops hook", "type": "webhook", "url": hook.url,
        "headers": { "X-Token": "s3cret" }, "max_retries": 3, "retry_backoff_ms": 50 });
    let r = post(&weir, "/api/v1/alerts/notifiers", notifier.clone());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["id"], "ops-hook");
    let policy = json!({ "name": "Watchers behind", "metric": "group_lag_records", "target": "watchers",
        "operator": "above", "threshold": 5, "severity": "critical", "notifiers": ["ops-hook"] });

    // What cannot be accepted is refused, saying why.
    let unknown = post(
        &weir,
        "/api/v1/alerts/policies",
        json!({ "name": "x", "metric": "group_lag_records",
        "target": "g", "operator": "above", "threshold": 1, "notifiers": ["nobody"] }),
    );
    assert_eq!(
        (unknown.status, unknown.json()["error_code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{}",
        unknown.body
    );
    let no_target = post(
        &weir,
        "/api/v1/alerts/policies",
        json!({ "name": "x", "metric": "group_lag_records", "operator": "above", "threshold": 1 }),
    );
    assert!(no_target.json()["message"].as_str().unwrap().contains("needs a target"), "{}", no_target.body);
    let ftp = post(
        &weir,
        "/api/v1/alerts/notifiers",
        json!({ "name": "ftp", "type": "webhook", "url": "ftp://example.com/" }),
    );
    assert_eq!(ftp.status, 400, "{}", ftp.body);
    // An https webhook: its test delivery arrives over TLS.
    let https =
        post(&weir, "/api/v1/alerts/notifiers", json!({ "name": "tls", "type": "webhook", "url": tls_hook.url }));
    assert_eq!(https.status, 201, "{}", https.body);
    let t = post(&weir, "/api/v1/alerts/notifiers/tls/test", json!({}));
    assert_eq!((t.status, t.json()["delivered"].as_bool()), (200, Some(true)), "{}", t.body);
    assert_eq!(statuses(&tls_hook.calls()), ["test"]);
    assert_eq!(http::request(&weir.console, "DELETE", "/api/v1/alerts/notifiers/tls", None).status, 204);
    let r = post(&weir, "/api/v1/alerts/policies", policy.clone());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(post(&weir, "/api/v1/alerts/policies", policy.clone()).status, 409);
    let in_use = http::request(&weir.console, "DELETE", "/api/v1/alerts/notifiers/ops-hook", None);
    assert_eq!((in_use.status, in_use.json()["error_code"].as_str()), (409, Some("IN_USE")));

    // A group 10 records behind: the alert fires, once, after two failed calls.
    create_topic(&weir.addr, "watched", 1, &[]).await;
    let (p, _d) = producer(&weir.addr, &[("linger.ms", "0")]);
    for i in 0..20 {
        send(&p, "watched", 0, i);
    }
    flush(&p);
    commit(&weir, "watchers", "watched", json!({ "to": "offset", "offset": 10 }));
    let calls = hook.wait_for(WAIT, "the firing alert", |c| c.len() >= 3);
    assert_eq!(statuses(&calls), ["firing", "firing", "firing"], "the same delivery, tried three times");
    let fired = &calls[2];
    assert_eq!(fired.path, "/hook");
    assert_eq!(fired.header("x-token"), Some("s3cret"));
    assert_eq!(fired.header("content-type"), Some("application/json"));
    let b = &fired.body;
    assert_eq!(
        (b["policy_id"].as_str(), b["subject"].as_str(), b["severity"].as_str()),
        (Some("watchers-behind"), Some("watchers"), Some("critical"))
    );
    assert_eq!(
        (b["value"].as_f64(), b["threshold"].as_f64(), b["metric"].as_str()),
        (Some(10.0), Some(5.0), Some("group_lag_records"))
    );
    assert!(b["cluster_id"].as_str().is_some_and(|c| !c.is_empty()), "{b}");
    assert_eq!(b["message"], "consumer lag of group watchers (records) is 10, above 5");
    let now = firing(&weir);
    assert_eq!((now.len(), now[0]["value"].as_f64()), (1, Some(10.0)), "{now:?}");
    let n = http::get(&weir.console, "/api/v1/alerts/notifiers/ops-hook").json();
    assert_eq!((n["status"]["sent"].as_u64(), n["status"]["failed"].as_u64()), (Some(1), Some(0)), "{n}");
    let text = http::get(&weir.console, "/metrics").body;
    assert_eq!(metric(&text, "weir_console_alerts_firing "), Some(1.0), "{text}");
    assert_eq!(metric(&text, "weir_console_alert_notifications_total{type=\"webhook\",result=\"sent\"} "), Some(1.0));

    // A restart keeps the policy, the notifier, the firing alert and the
    // history, and does not notify again while the alert still fires.
    assert_eq!(weir.stop().code(), Some(0));
    weir.restart();
    assert_eq!(firing(&weir).len(), 1);
    assert_eq!(http::get(&weir.console, "/api/v1/alerts/policies/watchers-behind").status, 200);
    assert_eq!(http::get(&weir.console, "/api/v1/alerts/notifiers/ops-hook").status, 200);
    let h = http::get(&weir.console, "/api/v1/alerts/history").json();
    assert_eq!(h["total"], 1, "{h}");
    std::thread::sleep(Duration::from_millis(1500)); // several evaluations
    assert_eq!(hook.calls().len(), 3, "no second notification after the restart");

    // Caught up: the alert resolves and says so.
    commit(&weir, "watchers", "watched", json!({ "to": "latest" }));
    let calls = hook.wait_for(WAIT, "the resolution", |c| c.len() >= 4);
    assert_eq!(statuses(&calls)[3], "resolved");
    assert_eq!(calls[3].body["value"].as_f64(), Some(0.0));
    assert_eq!(calls[3].body["message"], "consumer lag of group watchers (records) is 0, no longer above 5");
    wait_until("nothing fires", || firing(&weir).is_empty());
    let h = http::get(&weir.console, "/api/v1/alerts/history").json();
    let events: Vec<&str> = h["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(events, ["resolved", "firing"], "newest first: {h}");
    let only_firing = http::get(&weir.console, "/api/v1/alerts/history?status=firing").json();
    assert_eq!(only_firing["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_drops_excess_and_policies_cover_every_subject() {
    let weir = Weir::start_with_env(&[], &[("WEIR_CONSOLE_SAMPLE_MS", "200")]);
    let hook = Webhook::start();
    let r = post(
        &weir,
        "/api/v1/alerts/notifiers",
        json!({ "name": "slow", "type": "webhook", "url": hook.url, "rate_limit_per_minute": 1 }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(post(&weir, "/api/v1/alerts/notifiers", json!({ "name": "log", "type": "log" })).status, 201);

    // A test delivery reaches the endpoint; the log notifier writes to the log.
    let t = post(&weir, "/api/v1/alerts/notifiers/slow/test", json!({}));
    assert_eq!((t.status, t.json()["delivered"].as_bool()), (200, Some(true)), "{}", t.body);
    assert_eq!(statuses(&hook.wait_for(WAIT, "the test", |c| !c.is_empty())), ["test"]);
    assert_eq!(post(&weir, "/api/v1/alerts/notifiers/log/test", json!({})).status, 200);

    // Every group with lag: three alerts at once, one notification a minute.
    create_topic(&weir.addr, "busy", 1, &[]).await;
    let (p, _d) = producer(&weir.addr, &[("linger.ms", "0")]);
    for i in 0..5 {
        send(&p, "busy", 0, i);
    }
    flush(&p);
    for g in ["g1", "g2", "g3"] {
        commit(&weir, g, "busy", json!({ "to": "earliest" }));
    }
    let any = json!({ "name": "any lag", "metric": "group_lag_records", "target": "*", "operator": "above",
        "threshold": 0, "notifiers": ["slow", "log"] });
    assert_eq!(post(&weir, "/api/v1/alerts/policies", any.clone()).status, 201);
    wait_until("three alerts fire", || firing(&weir).len() == 3);
    wait_until("the rate limit counts two", || {
        http::get(&weir.console, "/api/v1/alerts/notifiers/slow").json()["status"]["rate_limited"] == 2
    });
    let n = http::get(&weir.console, "/api/v1/alerts/notifiers/slow").json();
    assert_eq!(n["status"]["sent"], 1, "one alert (test deliveries are not counted): {n}");
    let log = http::get(&weir.console, "/api/v1/alerts/notifiers/log").json();
    assert_eq!(log["status"]["sent"], 3, "the log has no limit here: {log}");
    let text = http::get(&weir.console, "/metrics").body;
    assert_eq!(
        metric(&text, "weir_console_alert_notifications_total{type=\"webhook\",result=\"rate_limited\"} "),
        Some(2.0)
    );

    // Disabling the policy resolves its alerts.
    let mut off = any.clone();
    off["enabled"] = json!(false);
    let r = http::request(&weir.console, "PUT", "/api/v1/alerts/policies/any-lag", Some(&off));
    assert_eq!(r.status, 200, "{}", r.body);
    wait_until("the alerts resolve", || firing(&weir).is_empty());
    let h = http::get(&weir.console, "/api/v1/alerts/history?status=resolved&policy=any-lag").json();
    assert_eq!(h["total"], 3, "{h}");
    assert_eq!(h["events"][0]["message"], "policy 'any lag' was disabled");

    // A cluster-wide metric: free disk below 101 % always holds.
    let disk = json!({ "name": "disk", "metric": "disk_free_percent", "operator": "below", "threshold": 101 });
    assert_eq!(post(&weir, "/api/v1/alerts/policies", disk).status, 201);
    wait_until("the disk alert fires", || firing(&weir).iter().any(|a| a["subject"] == "cluster"));
    // Deleting the policy resolves it at once.
    assert_eq!(http::request(&weir.console, "DELETE", "/api/v1/alerts/policies/disk", None).status, 204);
    assert!(firing(&weir).is_empty());
    let h = http::get(&weir.console, "/api/v1/alerts/history?policy=disk&status=resolved").json();
    assert_eq!(h["events"][0]["message"], "policy 'disk' was deleted");
    assert_eq!(http::request(&weir.console, "DELETE", "/api/v1/alerts/policies/disk", None).status, 404);
    assert_eq!(http::request(&weir.console, "DELETE", "/api/v1/alerts/policies/any-lag", None).status, 204);
    assert_eq!(http::request(&weir.console, "DELETE", "/api/v1/alerts/notifiers/slow", None).status, 204);
}
