//! End-to-end: `weir mirror` between two Weir processes, A and B, with a
//! MirrorMaker 2 properties file (issue 17). Records appear on B in `A.<topic>`
//! with their partitions, order, keys, values, headers and timestamps; topics
//! created later are found; a topic config reaches B; MM2's internal records
//! (heartbeats, offset syncs) decode with MM2's formats; SIGTERM stops it cleanly
//! and a restart resumes where it stopped.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::clients::*;
use common::mirror::*;
use common::Weir;
use rdkafka::admin::{AdminOptions, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use weir_mirror::formats::{Heartbeat, OffsetSync};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_topics_and_configs_reach_the_target_under_mm2_names() {
    let (a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", 6, &[("retention.ms", "86400000")]).await;
    let (p, _) = producer(&a.addr, &[]);
    let n = 200_000;
    for i in 0..n {
        send(&p, "orders", (i % 6) as i32, i);
    }
    flush(&p);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mm2.properties");
    std::fs::write(
        &config,
        format!(
            "# as for connect-mirror-maker.sh\nclusters = A, B\nA.bootstrap.servers = {}\nB.bootstrap.servers = {}\n\
             A->B.enabled = true\nreplication.factor = 1\noffset-syncs.topic.replication.factor = 1\n\
             heartbeats.topic.replication.factor = 1\ncheckpoints.topic.replication.factor = 1\ntasks.max = 2\n",
            a.addr, b.addr
        ),
    )
    .unwrap();
    let mirror = Mirror::start(&config);

    // Every record, in its partition and order, with keys, values, headers and timestamps.
    assert_eq!(wait_for("A.orders on B", || partitions_of(&b.addr, "A.orders")), 6);
    for part in 0..6 {
        let want: Vec<TestRecord> = (0..n).filter(|i| i % 6 == part).map(record).collect();
        let got: Vec<TestRecord> = read_partition(&b.addr, "A.orders", part as i32, Offset::Beginning, want.len())
            .into_iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(got, want, "partition {part}");
    }
    // The topic's config was synced.
    assert_eq!(topic_config(&b.addr, "A.orders", "retention.ms").await.as_deref(), Some("86400000"));
    // A config changed on A later reaches B (every 5 s by default).
    let alter = rdkafka::admin::AlterConfig::new(ResourceSpecifier::Topic("orders"))
        .set("retention.ms", "172800000")
        .set("cleanup.policy", "compact,delete");
    admin(&a.addr).alter_configs([&alter], &AdminOptions::new()).await.unwrap().pop().unwrap().unwrap();
    let started = Instant::now();
    while topic_config(&b.addr, "A.orders", "retention.ms").await.as_deref() != Some("172800000") {
        assert!(started.elapsed() < Duration::from_secs(60), "the config change did not reach B");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(topic_config(&b.addr, "A.orders", "cleanup.policy").await.as_deref(), Some("compact,delete"));

    // A topic created later is found (refresh every 5 s by default).
    create_topic(&a.addr, "late", 2, &[]).await;
    send(&p, "late", 1, 7);
    flush(&p);
    wait_for("A.late on B", || partitions_of(&b.addr, "A.late"));
    let got = read_partition(&b.addr, "A.late", 1, Offset::Beginning, 1);
    assert_eq!(got[0].1, record(7));

    // MM2's internal records, decoded with MM2's formats.
    let c = consumer(&b.addr);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("heartbeats", 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let m = wait_for("a heartbeat", || c.poll(Duration::from_millis(500)).and_then(Result::ok).map(|m| m.detach()));
    let h = Heartbeat::decode(m.key().unwrap(), m.payload().unwrap()).unwrap();
    assert_eq!((h.source_cluster_alias.as_str(), h.target_cluster_alias.as_str()), ("A", "B"));
    let syncs = consumer(&a.addr);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("mm2-offset-syncs.B.internal", 0, Offset::Beginning).unwrap();
    syncs.assign(&tpl).unwrap();
    let m =
        wait_for("an offset sync", || syncs.poll(Duration::from_millis(500)).and_then(Result::ok).map(|m| m.detach()));
    let s = OffsetSync::decode(m.key().unwrap(), m.payload().unwrap()).unwrap();
    assert!(s.topic == "orders" || s.topic == "late", "{s:?}");
    assert_eq!(s.upstream_offset, s.downstream_offset, "a fresh copy keeps offsets aligned: {s:?}");

    // SIGTERM: a clean stop; a restart copies only what is new.
    assert!(mirror.stop().success());
    for i in n..n + 30 {
        send(&p, "orders", 0, i);
    }
    flush(&p);
    let mirror = Mirror::start(&config);
    let before = (0..n).filter(|i| i % 6 == 0).count();
    let all = read_partition(&b.addr, "A.orders", 0, Offset::Beginning, before + 30);
    let want: Vec<TestRecord> = (0..n).filter(|i| i % 6 == 0).chain(n..n + 30).map(record).collect();
    assert_eq!(all.into_iter().map(|r| r.1).collect::<Vec<_>>(), want, "resumed from the committed position");
    let (_, high) = consumer(&b.addr).fetch_watermarks("A.orders", 0, Duration::from_secs(10)).unwrap();
    assert_eq!(high as usize, before + 30, "nothing copied twice");
    assert!(mirror.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_offsets_are_translated_exactly_across_transaction_markers() {
    use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
    let (a, b) = clusters_with_orders(2, 400).await;
    let (p, _) = producer(&a.addr, &[]);
    // A committed transaction on partition 0: its marker leaves a gap upstream
    // that the copy does not have, so the offsets diverge from here on.
    let tx: ThreadedProducer<rdkafka::producer::DefaultProducerContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &a.addr)
        .set("transactional.id", "mirror-e2e-tx")
        .create()
        .unwrap();
    tx.init_transactions(Duration::from_secs(30)).unwrap();
    tx.begin_transaction().unwrap();
    for i in 0..5 {
        tx.send(BaseRecord::<[u8], [u8]>::to("orders").partition(0).payload(format!("tx-{i}").as_bytes())).unwrap();
    }
    tx.commit_transaction(Duration::from_secs(30)).unwrap();
    for i in 400..600 {
        send(&p, "orders", 0, i);
    }
    flush(&p);
    // Partition 0 upstream: 200 records (0..199), 5 in the transaction (200..204),
    // the marker (205), 200 more (206..405). Downstream: 405 records, contiguous.
    let (_, high) = consumer(&a.addr).fetch_watermarks("orders", 0, Duration::from_secs(10)).unwrap();
    assert_eq!(high, 406);
    commit_group(&a.addr, "billing", &[("orders", 0, 300), ("orders", 1, 150)]);

    let dir = tempfile::tempdir().unwrap();
    let config = mm2_file(
        dir.path(),
        &a.addr,
        &b.addr,
        "emit.checkpoints.interval.seconds = 1\nsync.group.offsets.enabled = true\nsync.group.offsets.interval.seconds = 1\n",
    );
    let mirror = Mirror::start(&config);
    // Upstream 300 is past the marker at 205: downstream 299, exactly.
    let got = wait_for("billing's offsets on B", || {
        let c = committed(&b.addr, "billing", "A.orders", 2);
        (c == [299, 150]).then_some(c)
    });
    assert_eq!(got, [299, 150]);
    // The next record billing reads on B is the one it had not read on A.
    let next = read_partition(&b.addr, "A.orders", 0, Offset::Offset(299), 1);
    let upstream_next = read_partition(&a.addr, "orders", 0, Offset::Offset(300), 1);
    assert_eq!(next[0].1, upstream_next[0].1, "nothing skipped, nothing read twice");

    // MM2's checkpoint records, decoded with MM2's format.
    let c = consumer(&b.addr);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("A.checkpoints.internal", 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let cp = wait_for("a checkpoint of partition 0", || {
        let m = c.poll(Duration::from_millis(500)).and_then(Result::ok)?;
        let cp = weir_mirror::formats::Checkpoint::decode(m.key()?, m.payload()?).ok()?;
        (cp.partition == 0).then_some(cp)
    });
    assert_eq!(
        (cp.group.as_str(), cp.topic.as_str(), cp.upstream_offset, cp.downstream_offset),
        ("billing", "A.orders", 300, 299)
    );
    assert!(mirror.stop().success());

    // A restarted replicator translates from the offset syncs earlier runs wrote,
    // though it copies nothing new.
    commit_group(&a.addr, "audit", &[("orders", 0, 250)]);
    let mirror = Mirror::start(&config);
    wait_for("audit's offsets on B", || (committed(&b.addr, "audit", "A.orders", 1) == [249]).then_some(()));
    assert!(mirror.stop().success());
}

/// As MM2's `createNewTopics`: a remote topic starts with its source's configs
/// (less `config.properties.exclude`) even with `sync.topic.configs.enabled`
/// off, which only stops later changes from being copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_topics_start_with_the_sources_configs_without_config_sync() {
    let (a, b) = (Weir::start(), Weir::start());
    let set = [("cleanup.policy", "compact"), ("retention.ms", "86400000"), ("retention.bytes", "1000000")];
    create_topic(&a.addr, "events", 2, &set).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "sync.topic.configs.enabled = false\nconfig.properties.exclude = retention.bytes\n";
    let mirror = Mirror::start(&mm2_file(dir.path(), &a.addr, &b.addr, extra));
    wait_for("A.events on B", || partitions_of(&b.addr, "A.events"));
    assert_eq!(topic_config(&b.addr, "A.events", "cleanup.policy").await.as_deref(), Some("compact"));
    assert_eq!(topic_config(&b.addr, "A.events", "retention.ms").await.as_deref(), Some("86400000"));
    assert_ne!(topic_config(&b.addr, "A.events", "retention.bytes").await.as_deref(), Some("1000000"), "excluded");
    // A change made later stays on A: the pass that finds a new topic would
    // have synced it.
    let alter = rdkafka::admin::AlterConfig::new(ResourceSpecifier::Topic("events"))
        .set("cleanup.policy", "compact")
        .set("retention.ms", "172800000");
    admin(&a.addr).alter_configs([&alter], &AdminOptions::new()).await.unwrap().pop().unwrap().unwrap();
    create_topic(&a.addr, "late", 1, &[]).await;
    wait_for("A.late on B", || partitions_of(&b.addr, "A.late"));
    assert_eq!(topic_config(&b.addr, "A.events", "retention.ms").await.as_deref(), Some("86400000"));
    assert!(mirror.stop().success());
}

/// One config of a topic, as DescribeConfigs gives it.
async fn topic_config(addr: &str, topic: &str, key: &str) -> Option<String> {
    let described =
        admin(addr).describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()).await.unwrap();
    let cfg = described.into_iter().next().unwrap().unwrap();
    cfg.get(key).and_then(|e| e.value.clone())
}

/// Starts `weir serve --mirror-config` and reads the lines it prints until
/// its mirror is ready. Returns the process, its data directory and its
/// console address.
fn serve_with_mirror(config: &std::path::Path) -> (Child, tempfile::TempDir, String) {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::bin())
        .arg("serve")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--kafka-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"])
        .arg("--mirror-config")
        .arg(config)
        .env("RUST_LOG", std::env::var("WEIR_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .env("WEIR_CONSOLE_SAMPLE_MS", "200")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("weir mirror ready")) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no mirror ready line: {seen:?}");
            }
        }
    }
    assert!(seen.iter().any(|l| l.starts_with("weir ready kafka=")), "{seen:?}");
    assert!(seen.contains(&"weir mirror ready flows=A->B,B->A".to_string()), "{seen:?}");
    let console = seen
        .iter()
        .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("console=")))
        .expect("console address")
        .to_string();
    (child, data, console)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_directions_at_once_never_loop_and_run_inside_weir_serve() {
    let (a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", 1, &[]).await;
    create_topic(&b.addr, "payments", 1, &[]).await;
    let (pa, _) = producer(&a.addr, &[]);
    let (pb, _) = producer(&b.addr, &[]);
    for i in 0..20 {
        send(&pa, "orders", 0, i);
        send(&pb, "payments", 0, 100 + i);
    }
    flush(&pa);
    flush(&pb);
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_file(dir.path(), &a.addr, &b.addr, "B->A.enabled = true\nemit.heartbeats.interval.seconds = 1\n");
    // The flows run inside a third weir (a broker of its own, replicating between A and B).
    let (mut host, _data, console) = serve_with_mirror(&config);
    let got = read_partition(&b.addr, "A.orders", 0, Offset::Beginning, 20);
    assert_eq!(got.into_iter().map(|r| r.1).collect::<Vec<_>>(), (0..20).map(record).collect::<Vec<_>>());
    let got = read_partition(&a.addr, "B.payments", 0, Offset::Beginning, 20);
    assert_eq!(got.into_iter().map(|r| r.1).collect::<Vec<_>>(), (100..120).map(record).collect::<Vec<_>>());
    // Each side's heartbeats reach the other, and nothing comes back: no A.B.* or B.A.*.
    wait_for("B.heartbeats on A", || partitions_of(&a.addr, "B.heartbeats"));
    wait_for("A.heartbeats on B", || partitions_of(&b.addr, "A.heartbeats"));
    for (addr, other) in [(&a.addr, "A.B."), (&b.addr, "B.A.")] {
        let md = consumer(addr).fetch_metadata(None, Duration::from_secs(10)).unwrap();
        let looped: Vec<&str> = md.topics().iter().map(|t| t.name()).filter(|n| n.starts_with(other)).collect();
        assert!(looped.is_empty(), "loops: {looped:?}");
    }
    // The console of the process running the flows shows both, running, caught up.
    let flows = wait_for("both flows caught up", || {
        let reply = common::http::get(&console, "/api/v1/mirror/flows");
        assert_eq!(reply.status, 200);
        let flows = reply.json()["flows"].as_array().cloned().unwrap_or_default();
        let caught_up = |name: &str, topic: &str| {
            flows.iter().any(|f| {
                f["name"] == name
                    && f["state"] == "running"
                    && f["partitions"].as_array().is_some_and(|ps| {
                        ps.iter().any(|p| {
                            p["topic"] == topic
                                && p["mirrored_offset"] == 20
                                && p["lag_records"] == 0
                                && p["records"] == 20
                        })
                    })
            })
        };
        (caught_up("A->B", "A.orders") && caught_up("B->A", "B.payments")).then_some(flows)
    });
    assert_eq!(flows.len(), 2);
    // The console's history charts each flow: the records it mirrored (rate
    // times interval, summed: the 20 orders and the heartbeats that keep
    // coming, never more than the flow reports) and its lag, back to 0.
    let flow_total = |console: &str| -> f64 {
        let flows = common::http::get(console, "/api/v1/mirror/flows").json();
        let f = flows["flows"].as_array().unwrap().iter().find(|f| f["name"] == "A->B").unwrap().clone();
        f["partitions"].as_array().unwrap().iter().map(|p| p["records"].as_f64().unwrap()).sum()
    };
    wait_for("A->B in the history", || {
        let h = common::http::get(&console, "/api/v1/history?flow=A-%3EB&points=2000").json();
        let points = h["flow"]["series"].as_array().cloned().unwrap_or_default();
        let mirrored: f64 =
            points.iter().filter_map(|p| Some(p["records"].as_f64()? * p["interval_ms"].as_f64()? / 1000.0)).sum();
        let last_lag = points.iter().rev().find_map(|p| p["lag_records"].as_i64());
        let total = flow_total(&console);
        assert!(mirrored <= total + 0.5, "the history counts {mirrored} records, the flow mirrored {total}");
        (mirrored >= 19.5 && last_lag == Some(0)).then_some(())
    });
    // A group's offsets on A are checkpointed by A->B, shown on the console
    // with their translation; the flow's replication latency is counted.
    commit_group(&a.addr, "billing", &[("orders", 0, 15)]);
    let flow = |name: &str| -> serde_json::Value {
        let flows = common::http::get(&console, "/api/v1/mirror/flows").json();
        flows["flows"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone()
    };
    wait_for("billing's checkpoint", || {
        let f = flow("A->B");
        let cp = f["checkpoints"].as_array()?.iter().find(|c| c["group"] == "billing")?.clone();
        let p = &cp["partitions"][0];
        (p["topic"] == "A.orders" && p["upstream_offset"] == 15 && p["downstream_offset"] == 15).then_some(())
    });
    assert!(flow("A->B")["replication_latency_ms"]["records"].as_u64().unwrap() >= 20);
    // Stopping one flow from the console leaves the other running.
    let r = common::http::request(&console, "POST", "/api/v1/mirror/flows/B-%3EA/stop", None);
    assert_eq!((r.status, r.json()["state"].as_str()), (200, Some("stopped")), "{}", r.body);
    assert_eq!(flow("B->A")["state"], "stopped");
    assert_eq!(flow("A->B")["state"], "running");
    assert_eq!(common::http::request(&console, "POST", "/api/v1/mirror/flows/nope/stop", None).status, 404);
    // Failover stops the flow and promotes its mirror topics (none here:
    // translated topics carry no mirror marker).
    let r = common::http::request(&console, "POST", "/api/v1/mirror/flows/A-%3EB/failover", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["promoted"], serde_json::json!([]));
    assert_eq!(flow("A->B")["state"], "stopped");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(host.id() as i32, libc::SIGTERM) };
    assert!(host.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_replication_policy_keeps_topic_names() {
    let (a, b) = clusters_with_orders(2, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let config = mm2_file(
        dir.path(),
        &a.addr,
        &b.addr,
        "replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n",
    );
    let mirror = Mirror::start(&config);
    assert_eq!(wait_for("orders on B", || partitions_of(&b.addr, "orders")), 2);
    let got = read_partition(&b.addr, "orders", 1, Offset::Beginning, 5);
    assert_eq!(got.into_iter().map(|r| r.1).collect::<Vec<_>>(), [1, 3, 5, 7, 9].map(record).to_vec());
    assert!(partitions_of(&b.addr, "A.orders").is_none(), "no prefixed copy");
    assert!(mirror.stop().success());
}
