//! The console listener's `/metrics` (Prometheus text format) and `/health`, on
//! the real binary, with traffic from a real client.

mod common;

use common::clients::*;
use common::{http, Weir};
use rdkafka::Offset;

/// The value of the sample `name{labels}` (labels exactly as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_bytes_and_latency_per_api_and_topic() {
    let weir = Weir::start();
    let health = http::get(&weir.console, "/health");
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("UP")));
    let ready = http::get(&weir.console, "/ready");
    let checks = ready.json()["checks"].clone();
    assert_eq!((ready.status, ready.json()["status"].as_str()), (200, Some("READY")), "{checks}");
    assert_eq!(checks["storage"], "open");
    let listeners: Vec<_> = checks.as_object().unwrap().iter().filter(|(k, _)| k.starts_with("listener ")).collect();
    assert!(!listeners.is_empty() && listeners.iter().all(|(_, v)| *v == "accepting"), "{checks}");

    create_topic(&weir.addr, "metered", 1, &[]).await;
    let (p, deliveries) = producer(&weir.addr, &[("acks", "all"), ("linger.ms", "0")]);
    for i in 0..50 {
        send(&p, "metered", 0, i);
    }
    flush(&p);
    assert_eq!(deliveries.acked().len(), 50);
    assert_eq!(read_partition(&weir.addr, "metered", 0, Offset::Beginning, 50).len(), 50);

    // Two refused creations: errors counted by API and Kafka's error name.
    for _ in 0..2 {
        let t = rdkafka::admin::NewTopic::new("metered", 1, rdkafka::admin::TopicReplication::Fixed(1));
        let r = admin(&weir.addr).create_topics(&[t], &rdkafka::admin::AdminOptions::new()).await.unwrap();
        assert!(matches!(&r[0], Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))), "{r:?}");
    }

    let m = http::get(&weir.console, "/metrics");
    assert_eq!(m.status, 200);
    assert!(m.content_type.starts_with("text/plain"), "{}", m.content_type);
    assert_eq!(
        sample(&m.body, "weir_kafka_errors_total{api=\"CreateTopics\",error=\"TOPIC_ALREADY_EXISTS\"}"),
        Some(2.0)
    );
    assert!(!m.body.contains("weir_kafka_errors_total{api=\"Produce\""), "no produce failed");
    // acks=all waited for the log's fdatasync.
    assert!(sample(&m.body, "weir_storage_fsync_latency_seconds_count").unwrap_or(0.0) >= 1.0);

    // The registry's requests, by route template (not by subject) and status.
    let schema = serde_json::json!({ "schema": "{\"type\":\"string\"}" });
    for subject in ["metered-value", "other-value"] {
        let r = http::request(&weir.registry, "POST", &format!("/subjects/{subject}/versions"), Some(&schema));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(http::get(&weir.registry, "/subjects/none-value/versions").status, 404);
    let text = http::get(&weir.console, "/metrics").body;
    let route = "/subjects/{subject}/versions";
    let ok = format!("weir_registry_requests_total{{method=\"POST\",route=\"{route}\",code=\"200\"}}");
    assert_eq!(sample(&text, &ok), Some(2.0), "{text}");
    let missing = format!("weir_registry_requests_total{{method=\"GET\",route=\"{route}\",code=\"404\"}}");
    assert_eq!(sample(&text, &missing), Some(1.0));
    let timed = format!("weir_registry_request_latency_seconds_count{{method=\"POST\",route=\"{route}\"}}");
    assert_eq!(sample(&text, &timed), Some(2.0));
    let text = &m.body;
    let produces = sample(text, "weir_kafka_requests_total{api=\"Produce\"}").expect("Produce requests counted");
    assert!(produces >= 1.0, "{produces}");
    assert!(sample(text, "weir_kafka_requests_total{api=\"Fetch\"}").unwrap_or(0.0) >= 1.0);
    assert!(sample(text, "weir_kafka_requests_total{api=\"ApiVersions\"}").unwrap_or(0.0) >= 1.0);
    assert!(text.contains("# TYPE weir_kafka_request_latency_seconds histogram"), "latency is a histogram");
    let produce_latencies =
        sample(text, "weir_kafka_request_latency_seconds_count{api=\"Produce\"}").expect("Produce latency count");
    assert_eq!(produce_latencies, produces, "every Produce request has a latency sample");
    assert!(text.contains("weir_kafka_request_latency_seconds_bucket{api=\"Produce\",le=\"0.001\"}"));
    // Each record is a few dozen bytes; 50 of them are well over 1 KB in batches.
    let bytes_in = sample(text, "weir_partition_bytes_in_total{topic=\"metered\"}").expect("bytes in per topic");
    assert!(bytes_in > 1000.0, "{bytes_in}");
    assert_eq!(sample(text, "weir_partition_records_in_total{topic=\"metered\"}"), Some(50.0));
    let bytes_out = sample(text, "weir_partition_bytes_out_total{topic=\"metered\"}").expect("bytes out per topic");
    assert!(bytes_out >= bytes_in, "everything produced was read once: {bytes_out} < {bytes_in}");
    let records_out = sample(text, "weir_partition_records_out_total{topic=\"metered\"}").expect("records out");
    assert!(records_out >= 50.0, "the 50 records were read: {records_out}");
    assert!(sample(text, "weir_kafka_connections_total{listener=\"PLAINTEXT\"}").unwrap_or(0.0) >= 1.0);

    // Connections open now: the producer's, until it goes.
    assert!(sample(text, "weir_kafka_connections_active{listener=\"PLAINTEXT\"}").unwrap_or(0.0) >= 1.0);
    drop(p);
    let started = std::time::Instant::now();
    while sample(&http::get(&weir.console, "/metrics").body, "weir_kafka_connections_active{listener=\"PLAINTEXT\"}")
        != Some(0.0)
    {
        assert!(started.elapsed() < DEADLINE, "connections still counted open after every client closed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // Every series the broker exports is documented.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    let exported: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();
    assert!(exported.len() > 10, "{exported:?}");
    for name in exported.iter().filter(|n| n.starts_with("weir_")) {
        assert!(doc.contains(&format!("`{name}`")), "{name} is not in docs/metrics.md");
    }
}

/// The broker's state as of the scrape: partition offsets and size, group lag
/// as Kafka's admin API computes it (log end minus committed), and series that
/// go when their topic goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_partition_offsets_and_group_lag_as_of_the_scrape() {
    let weir = Weir::start();
    create_topic(&weir.addr, "lagging", 2, &[]).await;
    let (p, _) = producer(&weir.addr, &[("enable.idempotence", "true")]);
    for i in 0..70 {
        send(&p, "lagging", (i % 2) as i32, i);
    }
    flush(&p);
    common::mirror::commit_group(&weir.addr, "billing", &[("lagging", 0, 20), ("lagging", 1, 35)]);

    let text = http::get(&weir.console, "/metrics").body;
    let partition = |name: &str, p: i32| sample(&text, &format!("{name}{{topic=\"lagging\",partition=\"{p}\"}}"));
    assert_eq!(partition("weir_partition_log_end_offset", 0), Some(35.0));
    assert_eq!(partition("weir_partition_log_end_offset", 1), Some(35.0));
    assert_eq!(partition("weir_partition_log_start_offset", 0), Some(0.0));
    assert_eq!(partition("weir_partition_high_watermark", 1), Some(35.0));
    assert!(partition("weir_partition_size_bytes", 0).unwrap_or(0.0) > 35.0 * 20.0);
    let lag =
        |p: i32| sample(&text, &format!("weir_group_lag{{group=\"billing\",topic=\"lagging\",partition=\"{p}\"}}"));
    assert_eq!((lag(0), lag(1)), (Some(15.0), Some(0.0)));
    assert_eq!(sample(&text, "weir_group_lag_sum{group=\"billing\"}"), Some(15.0));
    assert_eq!(sample(&text, "weir_group_members{group=\"billing\"}"), Some(0.0));
    assert!(sample(&text, "weir_groups{state=\"Empty\"}").unwrap_or(0.0) >= 1.0);
    assert!(text.contains("# TYPE weir_group_lag gauge"));
    assert!(sample(&text, "weir_partitions").unwrap_or(0.0) >= 2.0);
    assert!(sample(&text, "weir_producer_ids").unwrap_or(0.0) >= 1.0, "the idempotent producer is remembered");
    let (free, total) =
        (sample(&text, "weir_disk_free_bytes").unwrap(), sample(&text, "weir_disk_total_bytes").unwrap());
    assert!(free > 0.0 && free <= total, "{free} of {total}");
    let resident = sample(&text, "weir_process_resident_memory_bytes").unwrap();
    let anonymous = sample(&text, "weir_process_resident_anonymous_bytes").unwrap();
    assert!(resident > 1e6 && anonymous > 1e6 && anonymous <= resident, "{anonymous} of {resident}");
    assert!(sample(&text, "weir_process_cpu_seconds_total").unwrap() > 0.0);

    // The topic deleted: its series are gone, not left at their last values.
    let deleted = admin(&weir.addr).delete_topics(&["lagging"], &rdkafka::admin::AdminOptions::new()).await.unwrap();
    assert!(deleted[0].is_ok(), "{deleted:?}");
    let text = http::get(&weir.console, "/metrics").body;
    assert!(!text.contains("topic=\"lagging\",partition"), "series of a deleted topic");
}
