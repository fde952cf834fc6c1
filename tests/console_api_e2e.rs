//! The console's JSON API (`/api/v1/`) on the real binary: paging, search and
//! sorting done by the server, writes that follow the Kafka APIs' rules and
//! errors, and the pages and OpenAPI document it serves.

mod common;

use common::clients::*;
use common::{http, Weir};
use serde_json::{json, Value};

/// A topic's configs as Kafka's admin API (librdkafka's DescribeConfigs) reports them.
async fn describe_topic_configs(addr: &str, topic: &str) -> std::collections::BTreeMap<String, String> {
    use rdkafka::admin::{AdminOptions, ResourceSpecifier};
    let results = admin(addr).describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()).await.unwrap();
    let resource = results.into_iter().next().unwrap().expect("described");
    resource.entries.into_iter().filter_map(|e| Some((e.name, e.value?))).collect()
}

fn names(v: &Value, key: &str, field: &str) -> Vec<String> {
    v[key].as_array().unwrap().iter().map(|t| t[field].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_paged_searched_and_sorted_by_the_server() {
    let weir = Weir::start();
    for i in 0..25 {
        let body = json!({ "name": format!("page-{i:02}"), "partitions": 1 + i % 3 });
        let r = http::request(&weir.console, "POST", "/api/v1/topics", Some(&body));
        assert_eq!(r.status, 201, "{}", r.body);
    }
    create_topic(&weir.addr, "other", 1, &[]).await;

    let r = http::get(&weir.console, "/api/v1/topics?q=PAGE-&limit=10&offset=20");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!((v["total"].as_u64(), v["offset"].as_u64(), v["limit"].as_u64()), (Some(25), Some(20), Some(10)));
    assert_eq!(names(&v, "topics", "name"), ["page-20", "page-21", "page-22", "page-23", "page-24"]);

    let v = http::get(&weir.console, "/api/v1/topics?sort=partitions&order=desc&limit=3&q=page").json();
    assert!(v["topics"].as_array().unwrap().iter().all(|t| t["partitions"] == 3), "{v}");

    // Sorted by size: the one with data first.
    let (p, _d) = producer(&weir.addr, &[("linger.ms", "0")]);
    for i in 0..20 {
        send(&p, "page-07", 0, i);
    }
    flush(&p);
    let v = http::get(&weir.console, "/api/v1/topics?sort=size&order=desc&limit=1").json();
    assert_eq!(names(&v, "topics", "name"), ["page-07"]);
    assert_eq!(v["topics"][0]["messages"], 20);

    // Internal topics only when asked.
    let all = http::get(&weir.console, "/api/v1/topics?limit=1000").json();
    assert!(names(&all, "topics", "name").iter().all(|n| !n.starts_with('_')));
    let with = http::get(&weir.console, "/api/v1/topics?limit=1000&internal=true").json();
    assert!(names(&with, "topics", "name").contains(&"__consumer_offsets".to_string()), "{with}");

    // Bad queries get a clear 400.
    for bad in ["/api/v1/topics?limit=x", "/api/v1/topics?sort=colour", "/api/v1/topics?order=up"] {
        let r = http::get(&weir.console, bad);
        assert_eq!((r.status, r.json()["error_code"].as_str()), (400, Some("INVALID_REQUEST")), "{bad}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_writes_follow_the_kafka_rules() {
    let weir = Weir::start();
    let c = &weir.console;
    let create = json!({ "name": "orders", "partitions": 2, "configs": { "retention.ms": "60000" } });
    let r = http::request(c, "POST", "/api/v1/topics", Some(&create));
    assert_eq!(r.status, 201, "{}", r.body);
    let t = r.json();
    assert_eq!((t["partition_count"].as_i64(), t["partitions"].as_array().unwrap().len()), (Some(2), 2));
    let retention = t["configs"].as_array().unwrap().iter().find(|e| e["name"] == "retention.ms").unwrap().clone();
    assert_eq!(
        (retention["value"].as_str(), retention["source"].as_str()),
        (Some("60000"), Some("DYNAMIC_TOPIC_CONFIG"))
    );

    let again = http::request(c, "POST", "/api/v1/topics", Some(&create));
    assert_eq!((again.status, again.json()["error_code"].as_str()), (409, Some("TOPIC_ALREADY_EXISTS")));
    let bad_name = http::request(c, "POST", "/api/v1/topics", Some(&json!({ "name": "a/b" })));
    assert_eq!((bad_name.status, bad_name.json()["error_code"].as_str()), (400, Some("INVALID_TOPIC_EXCEPTION")));
    let bad_cfg =
        http::request(c, "PATCH", "/api/v1/topics/orders/configs", Some(&json!({ "set": { "retention.ms": "soon" } })));
    assert_eq!((bad_cfg.status, bad_cfg.json()["error_code"].as_str()), (400, Some("INVALID_CONFIG")));
    let malformed = http::request_raw(c, "POST", "/api/v1/topics", "application/json", b"{\"name\":");
    assert_eq!((malformed.status, malformed.json()["error_code"].as_str()), (400, Some("INVALID_REQUEST")));

    // Alter: set one, remove the other; Kafka's admin API sees the result.
    let change = json!({ "set": { "cleanup.policy": "compact" }, "delete": ["retention.ms"] });
    let r = http::request(c, "PATCH", "/api/v1/topics/orders/configs", Some(&change));
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg = describe_topic_configs(&weir.addr, "orders").await;
    assert_eq!(cfg.get("cleanup.policy").map(String::as_str), Some("compact"));
    assert_eq!(cfg.get("retention.ms").map(String::as_str), Some("604800000"), "back to the default");

    let r = http::request(c, "POST", "/api/v1/topics/orders/partitions", Some(&json!({ "count": 5 })));
    assert_eq!((r.status, r.json()["partition_count"].as_i64()), (200, Some(5)), "{}", r.body);
    let shrink = http::request(c, "POST", "/api/v1/topics/orders/partitions", Some(&json!({ "count": 2 })));
    assert_eq!((shrink.status, shrink.json()["error_code"].as_str()), (400, Some("INVALID_PARTITIONS")));

    assert_eq!(http::request(c, "DELETE", "/api/v1/topics/orders", None).status, 204);
    let gone = http::get(c, "/api/v1/topics/orders");
    assert_eq!((gone.status, gone.json()["error_code"].as_str()), (404, Some("UNKNOWN_TOPIC_OR_PARTITION")));
    assert_eq!(http::request(c, "DELETE", "/api/v1/topics/orders", None).status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_show_lag_and_reset_like_kafka_consumer_groups() {
    let weir = Weir::start();
    let c = &weir.console;
    create_topic(&weir.addr, "events", 2, &[]).await;
    let (p, _d) = producer(&weir.addr, &[("linger.ms", "0")]);
    for i in 0..30 {
        send(&p, "events", (i % 2) as i32, i);
    }
    flush(&p);
    let commit = json!({ "to": "offset", "topic": "events", "offset": 4 });
    let r = http::request(c, "POST", "/api/v1/groups/readers/reset-offsets", Some(&commit));
    assert_eq!(r.status, 200, "a reset names a topic, so it may create the group: {}", r.body);

    let g = http::get(c, "/api/v1/groups/readers").json();
    assert_eq!(g["lag"], 22, "{g}");
    let lags: Vec<i64> = g["offsets"].as_array().unwrap().iter().map(|o| o["lag"].as_i64().unwrap()).collect();
    assert_eq!(lags, [11, 11]);
    let list = http::get(c, "/api/v1/groups?sort=lag&order=desc").json();
    assert_eq!((list["total"].as_u64(), list["groups"][0]["lag"].as_i64()), (Some(1), Some(22)));

    // Dry run changes nothing; the clamp keeps offsets inside the log.
    let dry = json!({ "to": "shift", "shift": -100, "dry_run": true });
    let r = http::request(c, "POST", "/api/v1/groups/readers/reset-offsets", Some(&dry)).json();
    assert!(r["offsets"].as_array().unwrap().iter().all(|o| o["previous_offset"] == 4 && o["new_offset"] == 0), "{r}");
    assert_eq!(http::get(c, "/api/v1/groups/readers").json()["lag"], 22);
    let latest = http::request(c, "POST", "/api/v1/groups/readers/reset-offsets", Some(&json!({ "to": "latest" })));
    assert_eq!(latest.status, 200);
    assert_eq!(http::get(c, "/api/v1/groups/readers").json()["lag"], 0);
    let no_ts = http::request(c, "POST", "/api/v1/groups/readers/reset-offsets", Some(&json!({ "to": "timestamp" })));
    assert_eq!((no_ts.status, no_ts.json()["error_code"].as_str()), (400, Some("INVALID_REQUEST")));

    let unknown = http::get(c, "/api/v1/groups/nobody");
    assert_eq!((unknown.status, unknown.json()["error_code"].as_str()), (404, Some("GROUP_ID_NOT_FOUND")));
    assert_eq!(http::request(c, "DELETE", "/api/v1/groups/readers", None).status, 204);
    assert_eq!(http::get(c, "/api/v1/groups/readers").status, 404);
}

#[test]
fn pages_and_the_openapi_document_are_served() {
    let weir = Weir::start();
    let index = http::get(&weir.console, "/");
    assert_eq!(index.status, 200);
    assert!(index.content_type.starts_with("text/html") && index.body.contains("/assets/app.js"));
    for asset in [
        "/assets/app.js",
        "/assets/ui.js",
        "/assets/topics.js",
        "/assets/groups.js",
        "/assets/alerts.js",
        "/assets/app.css",
    ] {
        let r = http::get(&weir.console, asset);
        assert_eq!(r.status, 200, "{asset}");
        assert!(!r.body.is_empty(), "{asset}");
    }
    let spec = http::get(&weir.console, "/api/v1/openapi.yaml");
    assert_eq!(spec.status, 200);
    assert!(spec.body.starts_with("openapi: 3"));
    // Every path the document lists answers (GET on those without parameters).
    for path in [
        "/cluster",
        "/topics",
        "/groups",
        "/history",
        "/mirror/flows",
        "/alerts",
        "/alerts/history",
        "/alerts/metrics",
        "/alerts/policies",
        "/alerts/notifiers",
        "/openapi.yaml",
    ] {
        assert!(spec.body.contains(&format!("\n  {path}:")), "{path} not documented");
        assert_eq!(http::get(&weir.console, &format!("/api/v1{path}")).status, 200, "{path}");
    }
    let cluster = http::get(&weir.console, "/api/v1/cluster").json();
    assert_eq!(cluster["brokers"].as_array().unwrap().len(), 1);
    assert!(cluster["partitions"].as_u64().unwrap() > 0, "the internal topics' partitions: {cluster}");
}

/// The history behind the charts: rates that add up to what was produced and
/// read, group lag, kept across a restart (read back from its topic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_counts_traffic_and_survives_a_restart() {
    let mut weir = Weir::start_with_env(&[], &[("WEIR_CONSOLE_SAMPLE_MS", "200")]);
    create_topic(&weir.addr, "charted", 2, &[]).await;
    let (p, _d) = producer(&weir.addr, &[("linger.ms", "0")]);
    for i in 0..120 {
        send(&p, "charted", (i % 2) as i32, i);
    }
    flush(&p);
    assert_eq!(read_partition(&weir.addr, "charted", 0, rdkafka::Offset::Beginning, 60).len(), 60);
    let commit = json!({ "to": "offset", "topic": "charted", "offset": 10 });
    assert_eq!(
        http::request(&weir.console, "POST", "/api/v1/groups/watchers/reset-offsets", Some(&commit)).status,
        200
    );

    // Records in per second times each sample's interval, summed: every record
    // produced, once. Waits for the samples that saw them.
    let history =
        |weir: &Weir| http::get(&weir.console, "/api/v1/history?topic=charted&group=watchers&points=2000").json();
    let counted = |h: &Value, key: &str| -> f64 {
        let points = h["topic"]["series"].as_array().unwrap();
        points.iter().filter_map(|p| Some(p[key].as_f64()? * p["interval_ms"].as_f64()? / 1000.0)).sum()
    };
    let started = std::time::Instant::now();
    let mut h = history(&weir);
    while counted(&h, "records_in") < 119.0
        || counted(&h, "records_out") < 59.0
        || h["group"]["series"].as_array().unwrap().last().and_then(|p| p["lag"].as_i64()) != Some(100)
    {
        assert!(started.elapsed() < DEADLINE, "history never showed the traffic: {h}");
        std::thread::sleep(std::time::Duration::from_millis(200));
        h = history(&weir);
    }
    // Exact but for rounding (rates have 3 decimals, intervals whole ms).
    let (r_in, r_out) = (counted(&h, "records_in"), counted(&h, "records_out"));
    assert!((r_in - 120.0).abs() < 1.0, "records in: {r_in}");
    assert!(r_out >= 59.0, "records out: {r_out} (a fetch may have read past the 60 asked for)");
    let topics = http::get(&weir.console, "/api/v1/topics?q=charted").json();
    assert!(topics["topics"][0]["bytes_in_per_sec"].is_number(), "{topics}");

    let before = h["samples"].as_u64().unwrap();
    assert_eq!(weir.stop().code(), Some(0));
    weir.restart();
    let after = history(&weir);
    assert!(after["samples"].as_u64().unwrap() >= before, "samples lost in the restart: {before} -> {after}");
    assert!(counted(&after, "records_in") >= 119.0, "the traffic before the restart is still charted: {after}");
}

/// The message browser reads what producers wrote (positions, filters, a
/// cursor to go on from) and the produce form writes like a producer; records
/// in Confluent's wire format are decoded through the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_browsed_filtered_produced_and_decoded() {
    let weir = Weir::start();
    let c = &weir.console;
    create_topic(&weir.addr, "browse", 2, &[]).await;
    let produce = |body: Value| http::request(c, "POST", "/api/v1/topics/browse/messages", Some(&body));
    for i in 0..30 {
        let body = json!({
            "partition": i % 2,
            "key": { "text": format!("k{i}") },
            "value": { "json": { "n": i, "kind": if i % 3 == 0 { "fizz" } else { "plain" } } },
            "headers": [{ "key": "source", "value": if i == 7 { "special" } else { "bulk" } }],
        });
        let r = produce(body);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!((r.json()["partition"].as_i64(), r.json()["offset"].as_i64()), (Some(i % 2), Some(i / 2)));
    }
    // A keyed record without a partition lands where Kafka's partitioner puts it.
    let r = produce(json!({ "key": { "text": "foobar" }, "value": { "text": "hashed" } })).json();
    assert_eq!(r["partition"], (-790332482i32 & 0x7fff_ffff) % 2);
    let get = |q: &str| {
        let r = http::get(c, &format!("/api/v1/topics/browse/messages?{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.json()
    };
    let offsets = |v: &Value| -> Vec<(i64, i64)> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["partition"].as_i64().unwrap(), m["offset"].as_i64().unwrap()))
            .collect()
    };

    let page1 = get("partition=0&limit=10");
    assert_eq!(offsets(&page1), (0..10).map(|o| (0, o)).collect::<Vec<_>>());
    let m = &page1["messages"][3];
    assert_eq!((m["key"]["encoding"].as_str(), m["key"]["text"].as_str()), (Some("text"), Some("k6")));
    assert_eq!((m["value"]["encoding"].as_str(), m["value"]["json"]["n"].as_i64()), (Some("json"), Some(6)));
    assert_eq!(m["headers"][0]["value"], "bulk");
    let page2 = get(&format!("partition=0&limit=10&cursor={}", page1["cursor"].as_str().unwrap()));
    assert_eq!(offsets(&page2)[0], (0, 10), "the cursor goes on where the page ended");

    let latest = get("partition=1&start=latest&limit=3");
    let ends = latest["end_offsets"]["1"].as_i64().unwrap();
    assert_eq!(offsets(&latest), (ends - 3..ends).map(|o| (1, o)).collect::<Vec<_>>());
    let from = get("partition=1&start=offset&offset=12&limit=100");
    assert_eq!(offsets(&from).first(), Some(&(1, 12)));
    let future = get(&format!("start=timestamp&timestamp={}", i64::MAX / 2));
    assert!(offsets(&future).is_empty(), "nothing at or after a time to come");

    // Filters run on the server, over every partition.
    let fizz = get("value=fizz&limit=100");
    assert_eq!(fizz["messages"].as_array().unwrap().len(), 10, "{fizz}");
    let special = get("header=source%3Dspecial");
    assert_eq!(offsets(&special), [(1, 3)]);
    assert_eq!(get("key=k29")["messages"][0]["offset"], 14);

    // Through the registry: an Avro value serialized by the console, then read
    // back decoded with its schema id, subject and version.
    let schema =
        r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"}]}"#;
    let reg =
        http::request(&weir.registry, "POST", "/subjects/browse-value/versions", Some(&json!({ "schema": schema })));
    assert_eq!(reg.status, 200, "{}", reg.body);
    let id = reg.json()["id"].as_i64().unwrap();
    let r = produce(
        json!({ "partition": 0, "value": { "json": { "id": 42, "item": "lamp" }, "schema": { "subject": "browse-value" } } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let at = r.json()["offset"].as_i64().unwrap();
    let m = get(&format!("partition=0&start=offset&offset={at}&limit=1"))["messages"][0].clone();
    assert_eq!(m["value"]["encoding"], "avro", "{m}");
    assert_eq!(
        (m["value"]["schema_id"].as_i64(), m["value"]["subject"].as_str(), m["value"]["version"].as_i64()),
        (Some(id), Some("browse-value"), Some(1))
    );
    assert_eq!(m["value"]["json"], json!({ "id": 42, "item": "lamp" }));
    let bad = produce(json!({ "value": { "json": { "id": "x" }, "schema": { "subject": "browse-value" } } }));
    assert_eq!((bad.status, bad.json()["error_code"].as_str()), (400, Some("INVALID_RECORD")), "{}", bad.body);

    // What a Kafka consumer reads is what was produced.
    let read = read_partition(&weir.addr, "browse", 1, rdkafka::Offset::Beginning, 15);
    assert_eq!(read.len(), 15);
    assert_eq!(read[0].1.key.as_deref(), Some(&b"k1"[..]));
    let v: Value = serde_json::from_slice(read[0].1.value.as_deref().unwrap()).unwrap();
    assert_eq!(v, json!({ "n": 1, "kind": "plain" }));
    assert_eq!(read[0].1.headers, [("source".to_string(), Some(b"bulk".to_vec()))]);
    let unknown = http::get(c, "/api/v1/topics/nope/messages");
    assert_eq!(unknown.status, 404);
    let bad_start = http::get(c, "/api/v1/topics/browse/messages?start=middle");
    assert_eq!(bad_start.status, 400);
}

/// Schemas from the registry's state: subjects searched and paged, a
/// subject's versions with the compatibility in effect, a topic's subjects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_show_subjects_versions_and_compatibility() {
    let weir = Weir::start();
    create_topic(&weir.addr, "people", 1, &[]).await;
    let v1 = r#"{"type":"record","name":"Person","fields":[{"name":"name","type":"string"}]}"#;
    let v2 = r#"{"type":"record","name":"Person","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#;
    for (subject, schema) in [("people-value", v1), ("people-value", v2), ("other-key", v1)] {
        let r = http::request(
            &weir.registry,
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(&json!({ "schema": schema })),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = http::request(&weir.registry, "PUT", "/config/people-value", Some(&json!({ "compatibility": "FULL" })));
    assert_eq!(r.status, 200, "{}", r.body);

    let list = http::get(&weir.console, "/api/v1/schemas?q=PEOPLE").json();
    assert_eq!(list["total"], 1, "{list}");
    let row = &list["subjects"][0];
    assert_eq!(
        (row["subject"].as_str(), row["versions"].as_i64(), row["latest_version"].as_i64()),
        (Some("people-value"), Some(2), Some(2))
    );
    assert_eq!((row["schema_type"].as_str(), row["compatibility"].as_str()), (Some("AVRO"), Some("FULL")));
    assert_eq!(list["global_compatibility"], "BACKWARD");

    let d = http::get(&weir.console, "/api/v1/schemas/people-value").json();
    assert_eq!((d["compatibility"].as_str(), d["compatibility_source"].as_str()), (Some("FULL"), Some("subject")));
    let versions = d["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[1]["schema"].as_str().unwrap().contains("\"age\""), "{d}");
    let other = http::get(&weir.console, "/api/v1/schemas/other-key").json();
    assert_eq!(other["compatibility_source"], "default");
    assert_eq!(http::get(&weir.console, "/api/v1/schemas/nobody").status, 404);

    let t = http::get(&weir.console, "/api/v1/topics/people").json();
    assert_eq!(t["subjects"], json!(["people-value"]));
}

/// Schema writes from the console go through the registry's own checks: a
/// version registered after the compatibility check (what Confluent's API
/// then serves), compatibility levels per subject and global, and the
/// Cloudera lifecycle of a version.
#[test]
fn schemas_are_registered_and_configured_from_the_console() {
    let weir = Weir::start();
    let c = &weir.console;
    let v1 = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}"#;
    let v2 = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}"#;
    let breaking =
        r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"qty","type":"int"}]}"#;
    let reg = |schema: &str| {
        http::request(c, "POST", "/api/v1/schemas/orders-value/versions", Some(&json!({ "schema": schema })))
    };
    let r = reg(v1);
    assert_eq!(r.status, 201, "{}", r.body);
    let first = r.json();
    assert_eq!((first["version"].as_i64(), first["created"].as_bool()), (Some(1), Some(true)));
    let again = reg(v1);
    assert_eq!(
        (again.status, again.json()["id"].clone()),
        (200, first["id"].clone()),
        "the same schema: no new version"
    );

    let full = json!({ "level": "FULL" });
    let r = http::request(c, "PUT", "/api/v1/schemas/orders-value/compatibility", Some(&full));
    assert_eq!((r.status, r.json()["compatibility_source"].as_str()), (200, Some("subject")), "{}", r.body);
    assert_eq!(http::get(&weir.registry, "/config/orders-value").json()["compatibilityLevel"], "FULL");
    let bad_level =
        http::request(c, "PUT", "/api/v1/schemas/orders-value/compatibility", Some(&json!({ "level": "SIDEWAYS" })));
    assert_eq!((bad_level.status, bad_level.json()["error_code"].as_str()), (400, Some("INVALID_COMPATIBILITY_LEVEL")));

    // A field without a default breaks FULL compatibility: refused, saying why.
    let r = reg(breaking);
    let e = r.json();
    assert_eq!(
        (r.status, e["error_code"].as_str(), e["registry_code"].as_i64()),
        (409, Some("INCOMPATIBLE_SCHEMA"), Some(409))
    );
    assert!(e["message"].as_str().unwrap().contains("incompatible"), "{e}");
    let r = reg("{not json");
    assert_eq!((r.status, r.json()["error_code"].as_str()), (400, Some("INVALID_SCHEMA")), "{}", r.body);
    let r = reg(v2);
    assert_eq!((r.status, r.json()["version"].as_i64()), (201, Some(2)), "{}", r.body);
    assert_eq!(http::get(&weir.registry, "/subjects/orders-value/versions").json(), json!([1, 2]));

    // Back to the global level, then the global level changed.
    let r = http::request(c, "PUT", "/api/v1/schemas/orders-value/compatibility", Some(&json!({ "level": null })));
    assert_eq!(r.json()["compatibility_source"], "default", "{}", r.body);
    let r = http::request(c, "PUT", "/api/v1/registry/compatibility", Some(&json!({ "level": "NONE" })));
    assert_eq!((r.status, r.json()["global_compatibility"].as_str()), (200, Some("NONE")), "{}", r.body);
    assert_eq!(http::get(&weir.registry, "/config").json()["compatibilityLevel"], "NONE");

    // The lifecycle: an enabled version is disabled, and can be enabled again.
    let d = http::get(c, "/api/v1/schemas/orders-value").json();
    let v = &d["versions"][1];
    assert_eq!((v["state"].as_str(), v["actions"].clone()), (Some("Enabled"), json!(["disable", "archive"])), "{d}");
    let state = |action: &str| {
        http::request(c, "POST", "/api/v1/schemas/orders-value/versions/2/state", Some(&json!({ "action": action })))
    };
    let r = state("disable");
    assert_eq!((r.status, r.json()["state"].as_str()), (200, Some("Disabled")), "{}", r.body);
    let r = state("startReview");
    assert_eq!((r.status, r.json()["error_code"].as_str()), (400, Some("INVALID_STATE_TRANSITION")), "{}", r.body);
    assert_eq!(state("enable").json()["state"], "Enabled");
    let missing =
        http::request(c, "POST", "/api/v1/schemas/orders-value/versions/9/state", Some(&json!({ "action": "enable" })));
    assert_eq!(missing.status, 404);
}

/// A mirror topic of this broker (the `weir.mirror.source` config refuses
/// producers) is promoted from the console, and producers may write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_topic_is_promoted_from_the_console() {
    let weir = Weir::start();
    let c = &weir.console;
    create_topic(&weir.addr, "A.orders", 1, &[("weir.mirror.source", "A:orders")]).await;
    create_topic(&weir.addr, "plain", 1, &[]).await;
    let (p, d) = producer(&weir.addr, &[("linger.ms", "0"), ("message.send.max.retries", "0")]);
    send(&p, "A.orders", 0, 1);
    flush(&p);
    assert_eq!(d.errors().len(), 1, "a mirror topic refuses producers");
    let r = http::request(c, "POST", "/api/v1/topics/plain/promote", None);
    assert_eq!((r.status, r.json()["error_code"].as_str()), (400, Some("NOT_A_MIRROR_TOPIC")));
    let r = http::request(c, "POST", "/api/v1/topics/A.orders/promote", None);
    assert_eq!((r.status, r.json()["mirror_of"].as_str()), (200, Some("A:orders")), "{}", r.body);
    let t = http::get(c, "/api/v1/topics/A.orders").json();
    let configs = t["configs"].as_array().unwrap();
    assert!(configs.iter().all(|e| e["name"] != "weir.mirror.source" || e["value"].is_null()), "{t}");
    assert!(configs.iter().any(|e| e["name"] == "weir.mirror.promoted" && e["value"] == "A:orders"), "{t}");
    send(&p, "A.orders", 0, 2);
    flush(&p);
    assert_eq!(d.acked().len(), 1, "writable after the promotion: {:?}", d.errors());
    assert_eq!(http::request(c, "POST", "/api/v1/topics/nope/promote", None).status, 404);
}

/// A topic's producers are named by the client id and host they
/// initialised with, with their rate from their sequence numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topics_producers_show_client_ids_and_rates() {
    let weir = Weir::start_with_env(&[], &[("WEIR_CONSOLE_SAMPLE_MS", "200")]);
    create_topic(&weir.addr, "billed", 2, &[]).await;
    let (p, _d) =
        producer(&weir.addr, &[("linger.ms", "0"), ("enable.idempotence", "true"), ("client.id", "billing-svc")]);
    let started = std::time::Instant::now();
    let row = loop {
        for i in 0..20 {
            send(&p, "billed", (i % 2) as i32, i);
        }
        flush(&p);
        let t = http::get(&weir.console, "/api/v1/topics/billed").json();
        let rows = t["producers"].as_array().unwrap().clone();
        if let Some(r) = rows.into_iter().find(|r| r["records_per_sec"].as_f64().unwrap_or(0.0) > 0.0) {
            break r;
        }
        assert!(started.elapsed() < DEADLINE, "no producer rate: {t}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(
        (row["client_id"].as_str(), row["client_host"].as_str()),
        (Some("billing-svc"), Some("127.0.0.1")),
        "{row}"
    );
    assert!(row["transactional_id"].is_null());
    assert_eq!(row["partitions"].as_array().unwrap().len(), 2, "{row}");
}
