//! The operator commands (`weir topic ...`) against a Weir started by the test:
//! their JSON output, their effect on the cluster, and their exit codes.

mod common;

use std::process::Command;
use std::time::Duration;

use common::cli::{json, json_lines, names, spawn, weir, weir_in};
use common::Weir;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::Value;

#[test]
fn topics_are_created_described_listed_and_deleted() {
    let w = Weir::start_with(&["--set", "auto.create.topics.enable=true"]);
    let made = json(&w, &["topic", "create", "orders", "payments", "-p", "3", "-c", "retention.ms=3600000"], 0);
    assert_eq!(made[0], serde_json::json!({"topic": "orders", "error": null}));
    assert_eq!(made[1]["topic"], "payments");

    // A dry run checks and creates nothing; a second create is Kafka's refusal, exit 1.
    let dry = json(&w, &["topic", "create", "drafts", "--dry-run"], 0);
    assert_eq!(dry[0]["error"], Value::Null);
    let again = json(&w, &["topic", "create", "orders"], 1);
    assert_eq!(again[0]["error"]["code"], "TOPIC_ALREADY_EXISTS");
    let bad = json(&w, &["topic", "create", "zero", "-p", "0"], 1);
    assert_eq!(bad[0]["error"]["code"], "INVALID_PARTITIONS");
    assert_eq!(names(&json(&w, &["topic", "list"], 0)), ["orders", "payments"]);

    // Records written show in the partitions' offsets.
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &w.addr).create().unwrap();
    for i in 0..5 {
        p.send(BaseRecord::<(), str>::to("orders").partition(1).payload(&format!("r{i}"))).unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
    let d = json(&w, &["topic", "describe", "orders"], 0);
    assert_eq!(d["name"], "orders");
    let parts = d["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[1]["high_watermark"], 5);
    assert_eq!(parts[1]["log_start_offset"], 0);
    assert_eq!(parts[0]["replicas"], serde_json::json!([1]));
    let cfg = |name: &str| d["configs"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap();
    assert_eq!(cfg("retention.ms")["value"], "3600000");
    assert_eq!(cfg("retention.ms")["source"], "DYNAMIC_TOPIC_CONFIG");
    assert_eq!(cfg("cleanup.policy")["source"], "DEFAULT_CONFIG");

    // Describing an unknown topic fails without creating it, even where auto-creation is on.
    let out = weir(&w, &["topic", "describe", "ghost"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNKNOWN_TOPIC_OR_PARTITION"));
    let deleted = json(&w, &["topic", "delete", "payments", "ghost"], 1);
    assert_eq!(deleted[0], serde_json::json!({"topic": "payments", "error": null}));
    assert_eq!(deleted[1]["error"]["code"], "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(names(&json(&w, &["topic", "list"], 0)), ["orders"]);

    // The table form, for people.
    let out = weir(&w, &["topic", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("NAME") && text.contains("orders") && text.contains('3'), "{text}");
    // A cluster that is not there is an error, not a hang.
    let out = Command::new(common::bin())
        .args(["topic", "list", "--brokers", "127.0.0.1:1", "--timeout", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn consume_reads_what_produce_wrote() {
    let w = Weir::start();
    json(&w, &["topic", "create", "events", "-p", "2"], 0);
    let (code, _, err) =
        weir_in(&w, &["produce", "events", "-K", ":", "-H", "source=cli", "-p", "1"], "a:1\nb:2\nplain\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("produced 3 records to events"), "{err}");

    // Every record, with its key, headers and partition, as JSON lines; -e stops at the end.
    let (code, out, err) = weir_in(&w, &["consume", "events", "-e", "--format", "json"], "");
    assert_eq!(code, Some(0), "{err}");
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 3, "{out}");
    assert_eq!(recs[0]["key"], "a");
    assert_eq!(recs[0]["value"], "1");
    assert_eq!(recs[2]["key"], Value::Null);
    assert_eq!(recs[2]["value"], "plain");
    assert_eq!(recs[1]["partition"], 1);
    assert_eq!(recs[1]["offset"], 1);
    assert_eq!(recs[0]["headers"], serde_json::json!([{"key": "source", "value": "cli"}]));
    assert!(recs[0]["timestamp"].as_i64().unwrap() > 0);

    // Values alone by default; -n stops after COUNT; -o starts at an offset; -f is kcat's template.
    let (_, out, _) = weir_in(&w, &["consume", "events", "-n", "2"], "");
    assert_eq!(out, "1\n2\n");
    let (_, out, _) = weir_in(&w, &["consume", "events", "-p", "1", "-o", "2", "-n", "1"], "");
    assert_eq!(out, "plain\n");
    let (_, out, _) = weir_in(&w, &["consume", "events", "-e", "-f", "%p:%o %k=%v %h\\n"], "");
    assert_eq!(out, "1:0 a=1 source=cli\n1:1 b=2 source=cli\n1:2 =plain source=cli\n");

    // With a group, offsets are committed: a second run starts where the first stopped.
    let (_, out, _) = weir_in(&w, &["consume", "events", "-g", "readers", "-n", "2"], "");
    assert_eq!(out, "1\n2\n");
    weir_in(&w, &["produce", "events", "-p", "1"], "late\n");
    let (_, out, _) = weir_in(&w, &["consume", "events", "-g", "readers", "-n", "2"], "");
    assert_eq!(out, "plain\nlate\n");

    // An unknown topic is named, with Kafka's error.
    let (code, _, err) = weir_in(&w, &["consume", "missing", "-e"], "");
    assert_eq!(code, Some(1));
    assert!(err.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{err}");
}
#[test]
fn groups_are_described_reset_and_deleted() {
    let w = Weir::start();
    json(&w, &["topic", "create", "ledger", "-p", "2"], 0);
    for p in ["0", "1"] {
        let (code, _, err) = weir_in(&w, &["produce", "ledger", "-p", p], "a\nb\nc\nd\ne\n");
        assert_eq!(code, Some(0), "{err}");
    }
    let (_, out, _) = weir_in(&w, &["consume", "ledger", "-g", "billing", "-n", "6"], "");
    assert_eq!(out.lines().count(), 6);

    let list = json(&w, &["group", "list"], 0);
    let billing = list.as_array().unwrap().iter().find(|g| g["group"] == "billing").cloned().unwrap();
    assert_eq!(billing["members"], 0);
    assert_eq!(billing["state"], "Empty");
    assert_eq!(billing["type"], "Classic");

    let lag = |d: &Value| -> (i64, i64) {
        let rows = d["offsets"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{d}");
        rows.iter()
            .fold((0, 0), |(c, l), r| (c + r["committed_offset"].as_i64().unwrap(), l + r["lag"].as_i64().unwrap()))
    };
    let d = json(&w, &["group", "describe", "billing"], 0);
    assert_eq!(lag(&d), (6, 4), "{d}");
    assert_eq!(d["offsets"][0]["log_end_offset"], 5);

    // A dry run plans and changes nothing; --execute commits.
    let plan = json(&w, &["group", "reset-offsets", "billing", "--topic", "ledger", "--to-earliest"], 0);
    assert_eq!(plan["executed"], false);
    assert!(plan["partitions"].as_array().unwrap().iter().all(|p| p["new_offset"] == 0), "{plan}");
    assert_eq!(lag(&json(&w, &["group", "describe", "billing"], 0)), (6, 4), "a dry run changed nothing");
    json(&w, &["group", "reset-offsets", "billing", "--topic", "ledger", "--to-earliest", "--execute"], 0);
    assert_eq!(lag(&json(&w, &["group", "describe", "billing"], 0)), (0, 10));
    json(&w, &["group", "reset-offsets", "billing", "--topic", "ledger", "--shift-by", "3", "--execute"], 0);
    assert_eq!(lag(&json(&w, &["group", "describe", "billing"], 0)), (6, 4));
    json(
        &w,
        &["group", "reset-offsets", "billing", "--topic", "ledger", "--partition", "1", "--to-latest", "--execute"],
        0,
    );
    assert_eq!(lag(&json(&w, &["group", "describe", "billing"], 0)), (8, 2));
    // A consumer resumes where the reset put the group.
    let (_, out, _) = weir_in(&w, &["consume", "ledger", "-g", "billing", "-n", "2", "-p", "0"], "");
    assert_eq!(out, "d\ne\n");

    // Delete: gone from the list; an unknown group is Kafka's refusal.
    let del = json(&w, &["group", "delete", "billing", "nobody"], 1);
    assert_eq!(del[0], serde_json::json!({"group": "billing", "error": null}));
    assert_eq!(del[1]["error"]["code"], "GROUP_ID_NOT_FOUND");
    let list = json(&w, &["group", "list"], 0);
    assert!(list.as_array().unwrap().iter().all(|g| g["group"] != "billing"), "{list}");

    // A group with members is not reset, as kafka-consumer-groups refuses it.
    let member = spawn(&w, &["consume", "ledger", "-g", "live"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = json(&w, &["group", "list"], 0);
        if list.as_array().unwrap().iter().any(|g| g["group"] == "live" && g["members"] == 1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the consumer never joined: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = weir(&w, &["group", "reset-offsets", "live", "--topic", "ledger", "--to-earliest", "--execute"]);
    drop(member);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("can only be reset if the group 'live' is inactive"));

    // The empty group id is refused as Kafka refuses it, before any client is made.
    for args in [&["group", "describe", ""][..], &["group", "reset-offsets", "", "--all-topics", "--to-earliest"]] {
        let out = weir(&w, args);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_GROUP_ID"), "{args:?}");
    }
}

/// The group commands see a KIP-848 group as it is (librdkafka's legacy group
/// list asks DescribeGroups, which calls such a group Dead with no members).
#[test]
fn kip848_groups_are_listed_described_and_guarded() {
    let w = Weir::start();
    json(&w, &["topic", "create", "ledger", "-p", "2"], 0);
    let (code, _, err) = weir_in(&w, &["produce", "ledger", "-p", "0"], "a\nb\nc\n");
    assert_eq!(code, Some(0), "{err}");

    // A member that stays until it has read a fourth record.
    let mut member = spawn(&w, &["consume", "ledger", "-g", "modern", "-n", "4", "-X", "group.protocol=consumer"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let list = json(&w, &["group", "list"], 0);
        let g = list.as_array().unwrap().iter().find(|g| g["group"] == "modern").cloned();
        if let Some(g) = g.filter(|g| g["members"] == 1 && g["state"] == "Stable") {
            break g;
        }
        assert!(std::time::Instant::now() < deadline, "the member never settled: {list}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(listed["type"], "Consumer", "{listed}");
    assert_eq!(listed["protocol_type"], "consumer", "{listed}");

    let d = json(&w, &["group", "describe", "modern"], 0);
    assert_eq!(d["type"], "Consumer", "{d}");
    assert_eq!(d["state"], "Stable", "{d}");
    let members = d["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{d}");
    assert_eq!(members[0]["assignment"], serde_json::json!([{"topic": "ledger", "partitions": [0, 1]}]), "{d}");
    let member_id = members[0]["member_id"].as_str().unwrap();
    assert!(!member_id.is_empty(), "{d}");

    // A group with members is not reset.
    let out = weir(&w, &["group", "reset-offsets", "modern", "--topic", "ledger", "--to-earliest", "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("can only be reset if the group 'modern' is inactive, but the current state is Stable"),
        "{err}"
    );

    // The fourth record lets the member finish: it commits, leaves, and the group is Empty.
    let (code, _, err) = weir_in(&w, &["produce", "ledger", "-p", "1"], "d\n");
    assert_eq!(code, Some(0), "{err}");
    let (code, out) = member.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 4, "{out}");
    let list = json(&w, &["group", "list"], 0);
    let g = list.as_array().unwrap().iter().find(|g| g["group"] == "modern").cloned().unwrap();
    assert_eq!(
        (g["state"].as_str(), g["members"].as_i64(), g["type"].as_str()),
        (Some("Empty"), Some(0), Some("Consumer"))
    );
    let d = json(&w, &["group", "describe", "modern"], 0);
    let committed: Vec<(i64, i64)> = d["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["partition"].as_i64().unwrap(), r["committed_offset"].as_i64().unwrap()))
        .collect();
    assert_eq!(committed, [(0, 3), (1, 1)], "{d}");
}
