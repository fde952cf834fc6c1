//! End-to-end: a running `weir mirror` is changed and watched without a
//! restart (issue 17). `weir mirror topics --add/--remove` changes which topics
//! a flow mirrors (a removed topic stops, and resumes where it stopped when
//! added back, nothing twice); `weir mirror groups` likewise for groups; and
//! `--metrics-addr` serves the flow's metrics in Prometheus form (records, bytes,
//! lag in records and time, latency, state).

mod common;

use std::process::Command;
use std::time::Duration;

use common::clients::*;
use common::mirror::*;
use common::{http, Weir};
use rdkafka::consumer::Consumer;
use rdkafka::Offset;

/// Runs `weir mirror ARGS...`; returns its standard output.
fn weir_mirror(args: &[&str]) -> String {
    let out = Command::new(common::bin()).arg("mirror").args(args).output().unwrap();
    assert!(out.status.success(), "weir mirror {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn end_of(addr: &str, topic: &str) -> i64 {
    consumer(addr).fetch_watermarks(topic, 0, Duration::from_secs(10)).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_change_while_running_and_metrics_show_the_flow() {
    let (a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", 1, &[]).await;
    create_topic(&a.addr, "payments", 1, &[]).await;
    let (p, _) = producer(&a.addr, &[]);
    for i in 0..100 {
        send(&p, "orders", 0, i);
        send(&p, "payments", 0, 1000 + i);
    }
    flush(&p);
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_file(dir.path(), &a.addr, &b.addr, "topics = orders\n");
    let cfg = config.to_str().unwrap();
    let metrics = free_port();
    let mirror = Mirror::start_with(&config, &["--metrics-addr", &metrics], "A->B");
    read_partition(&b.addr, "A.orders", 0, Offset::Beginning, 100);
    assert!(partitions_of(&b.addr, "A.payments").is_none(), "payments is not in the filter");

    // The metrics of the flow, its partition and its state.
    let flow = "flow=\"A->B\"";
    let part = format!("{{{flow},topic=\"A.orders\",partition=\"0\"}}");
    wait_for("100 records counted", || {
        (metric(&metrics, &format!("weir_mirror_records_total{part}")) == Some(100.0)).then_some(())
    });
    assert_eq!(metric(&metrics, &format!("weir_mirror_lag_records{part}")), Some(0.0));
    assert_eq!(metric(&metrics, &format!("weir_mirror_lag_seconds{part}")), Some(0.0));
    assert!(metric(&metrics, &format!("weir_mirror_bytes_total{part}")).unwrap() > 1000.0);
    assert_eq!(metric(&metrics, &format!("weir_mirror_flow_state{{{flow},state=\"running\"}}")), Some(1.0));
    assert_eq!(metric(&metrics, &format!("weir_mirror_flow_state{{{flow},state=\"failed\"}}")), Some(0.0));
    let ready = http::get(&metrics, "/ready");
    assert_eq!((ready.status, ready.json()["checks"]["flow A->B"].as_str()), (200, Some("running")));
    let latencies = metric(&metrics, &format!("weir_mirror_replication_latency_seconds_count{{{flow}}}")).unwrap();
    assert!(latencies >= 100.0, "every record's latency is sampled: {latencies}");
    assert_eq!(metric(&metrics, &format!("weir_mirror_topics{{{flow}}}")), Some(1.0));

    // Add payments: it is mirrored from its start.
    let out = weir_mirror(&["topics", "--config", cfg, "--flow", "A->B", "--add", "payments"]);
    assert_eq!(out, "A->B added: payments\nA->B removed: \n");
    let got = read_partition(&b.addr, "A.payments", 0, Offset::Beginning, 100);
    assert_eq!(got.into_iter().map(|r| r.1).collect::<Vec<_>>(), (1000..1100).map(record).collect::<Vec<_>>());
    wait_for("two topics", || (metric(&metrics, &format!("weir_mirror_topics{{{flow}}}")) == Some(2.0)).then_some(()));

    // Remove orders (srm-control's --source/--target spelling): its copy stops.
    let out = weir_mirror(&["topics", "--config", cfg, "--source", "A", "--target", "B", "--remove", "orders"]);
    assert_eq!(out, "A->B added: payments\nA->B removed: orders\n");
    wait_for("one topic", || (metric(&metrics, &format!("weir_mirror_topics{{{flow}}}")) == Some(1.0)).then_some(()));
    for i in 100..150 {
        send(&p, "orders", 0, i);
        send(&p, "payments", 0, 1000 + i);
    }
    flush(&p);
    read_partition(&b.addr, "A.payments", 0, Offset::Offset(100), 50);
    assert_eq!(end_of(&b.addr, "A.orders"), 100, "orders is no longer copied");

    // Added back, it resumes where it stopped: nothing lost, nothing twice.
    weir_mirror(&["topics", "--config", cfg, "--flow", "A->B", "--add", "orders"]);
    let got = read_partition(&b.addr, "A.orders", 0, Offset::Beginning, 150);
    assert_eq!(got.into_iter().map(|r| r.1).collect::<Vec<_>>(), (0..150).map(record).collect::<Vec<_>>());
    wait_for("a clean end", || (end_of(&b.addr, "A.orders") == 150).then_some(()));

    // Groups change the same way; the listing without --add/--remove shows them.
    weir_mirror(&["groups", "--config", cfg, "--flow", "A->B", "--add", "billing.*", "--remove", "test.*"]);
    let out = weir_mirror(&["groups", "--config", cfg, "--flow", "A->B"]);
    assert_eq!(out, "A->B added: billing.*\nA->B removed: test.*\n");
    // A bad pattern or an unknown flow is refused, naming it.
    let bad = Command::new(common::bin())
        .args(["mirror", "topics", "--config", cfg, "--flow", "A->B", "--add", "("])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("topics"), "{}", String::from_utf8_lossy(&bad.stderr));
    let bad = Command::new(common::bin())
        .args(["mirror", "topics", "--config", cfg, "--flow", "B->A", "--add", "x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no enabled flow B->A"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(mirror.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_upstream_are_added_downstream() {
    use rdkafka::admin::{AdminOptions, NewPartitions};
    let (a, b) = clusters_with_orders(2, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_file(dir.path(), &a.addr, &b.addr, "");
    let mirror = Mirror::start(&config);
    assert_eq!(wait_for("A.orders on B", || partitions_of(&b.addr, "A.orders")), 2);
    let grown =
        admin(&a.addr).create_partitions([&NewPartitions::new("orders", 5)], &AdminOptions::new()).await.unwrap();
    grown.into_iter().next().unwrap().unwrap();
    // A new producer: the first one's metadata knows two partitions.
    let (p, _) = producer(&a.addr, &[]);
    for i in 10..13 {
        send(&p, "orders", 4, i);
    }
    flush(&p);
    wait_for("5 partitions of A.orders on B", || (partitions_of(&b.addr, "A.orders") == Some(5)).then_some(()));
    let got = read_partition(&b.addr, "A.orders", 4, Offset::Beginning, 3);
    assert_eq!(got.into_iter().map(|r| r.1).collect::<Vec<_>>(), (10..13).map(record).collect::<Vec<_>>());
    assert!(mirror.stop().success());

    // Grown while no replicator ran: the next one grows B's copy at start.
    let grown =
        admin(&a.addr).create_partitions([&NewPartitions::new("orders", 7)], &AdminOptions::new()).await.unwrap();
    grown.into_iter().next().unwrap().unwrap();
    let (p, _) = producer(&a.addr, &[]);
    send(&p, "orders", 6, 13);
    flush(&p);
    let mirror = Mirror::start(&config);
    assert_eq!(partitions_of(&b.addr, "A.orders"), Some(7), "grown before the ready line");
    let got = read_partition(&b.addr, "A.orders", 6, Offset::Beginning, 1);
    assert_eq!(got[0].1, record(13));
    assert!(mirror.stop().success());
}

/// Produce v9 of one record to partition 0: (error code, message, base offset).
fn raw_produce(weir: &Weir, topic: &str) -> (i16, Option<String>, i64) {
    use common::wire::*;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::*;
    let mut s = connect(weir);
    let td = TopicProduceData::default()
        .with_name(TopicName(kafka_protocol::protocol::StrBytes::from_string(topic.to_string())))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(batch(&[b"x"]).freeze()))]);
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(vec![td]);
    let r: ProduceResponse = call(&mut s, ApiKey::Produce, 9, &req);
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.error_message.as_ref().map(|m| m.to_string()), p.base_offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_topic_is_read_only_until_promoted() {
    let b = Weir::start();
    create_topic(&b.addr, "A.orders", 1, &[("weir.mirror.source", "A:orders"), ("retention.ms", "86400000")]).await;
    // INVALID_REQUEST (42), with a message naming the mirror and its source.
    let (code, message, _) = raw_produce(&b, "A.orders");
    assert_eq!(code, 42);
    let message = message.unwrap_or_default();
    assert!(message.contains("read-only mirror of A:orders"), "{message}");
    // A real client sees the refusal too.
    let (p, deliveries) = producer(&b.addr, &[("retries", "0")]);
    send(&p, "A.orders", 0, 1);
    rdkafka::producer::Producer::flush(&p, DEADLINE).ok();
    let errors = deliveries.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    // A bad value is refused at creation.
    let r = admin(&b.addr)
        .create_topics(
            [&rdkafka::admin::NewTopic::new("bad", 1, rdkafka::admin::TopicReplication::Fixed(1))
                .set("weir.mirror.source", "no-colon")],
            &rdkafka::admin::AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(r[0].is_err(), "{r:?}");

    // Promote: writable, other configs kept, offsets go on.
    let out = weir_mirror(&["promote", "--bootstrap-server", &b.addr, "--topic", "A.orders"]);
    assert_eq!(out, "promoted A.orders (was a mirror of A:orders)\n");
    assert_eq!(raw_produce(&b, "A.orders").0, 0);
    assert_eq!(raw_produce(&b, "A.orders").2, 1, "offsets continue");
    let described = admin(&b.addr)
        .describe_configs([&rdkafka::admin::ResourceSpecifier::Topic("A.orders")], &rdkafka::admin::AdminOptions::new())
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(described.get("retention.ms").and_then(|e| e.value.clone()).as_deref(), Some("86400000"));
    // Promoting again, or a topic that never was a mirror, is refused by name.
    let again = Command::new(common::bin())
        .args(["mirror", "promote", "--bootstrap-server", &b.addr, "--topic", "A.orders"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("A.orders: not a mirror topic"));
}
