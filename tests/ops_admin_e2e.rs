//! The operator commands that change configs, partitions, records, group
//! offsets and schemas (`weir topic alter-config|add-partitions|trim`,
//! `weir cluster`, `weir group delete-offsets`, `reset-offsets --to-datetime`,
//! `weir schema`, registry-encoded `produce`/`consume`) against a Weir started
//! by the test: their JSON output, their effect, their exit codes.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::cli::{json, json_lines, weir, weir_in};
use common::Weir;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::{json as j, Value};

fn config<'a>(described: &'a Value, name: &str) -> &'a Value {
    described["configs"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()
}

#[test]
fn topics_are_altered_grown_and_trimmed() {
    let w = Weir::start();
    json(&w, &["topic", "create", "events", "-p", "2"], 0);

    // Only the keys named change; a deleted key goes back to its default.
    json(&w, &["topic", "alter-config", "events", "--set", "retention.ms=60000", "--set", "max.message.bytes=2048"], 0);
    let d = json(&w, &["topic", "describe", "events"], 0);
    assert_eq!(config(&d, "retention.ms")["value"], "60000");
    assert_eq!(config(&d, "max.message.bytes")["source"], "DYNAMIC_TOPIC_CONFIG");
    json(&w, &["topic", "alter-config", "events", "--delete", "retention.ms"], 0);
    let d = json(&w, &["topic", "describe", "events"], 0);
    assert_eq!(config(&d, "retention.ms")["source"], "DEFAULT_CONFIG");
    assert_eq!(config(&d, "max.message.bytes")["value"], "2048", "untouched by the delete");
    let bad = weir(&w, &["topic", "alter-config", "events", "--set", "retention.ms=soon"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("INVALID_CONFIG"), "{bad:?}");
    let ghost = weir(&w, &["topic", "alter-config", "ghost", "--set", "retention.ms=1"]);
    assert_eq!(ghost.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&ghost.stderr).contains("UNKNOWN_TOPIC_OR_PARTITION"), "{ghost:?}");

    // Partitions are added, never removed.
    let grown = json(&w, &["topic", "add-partitions", "events", "-n", "2"], 0);
    assert_eq!(grown[0], j!({"topic": "events", "error": null}));
    assert_eq!(json(&w, &["topic", "describe", "events"], 0)["partitions"].as_array().unwrap().len(), 4);

    // Trim moves the log start: records before the offset are gone.
    let (code, _, err) = weir_in(&w, &["produce", "events", "-p", "0", "--progress"], "a\nb\nc\nd\ne\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("5 records, 10 B"), "the progress line: {err:?}");
    let trimmed = json(&w, &["topic", "trim", "events", "-p", "0", "--offset", "3"], 0);
    assert_eq!(trimmed, j!([{"topic": "events", "partition": 0, "log_start_offset": 3, "error": null}]));
    let (_, out, _) = weir_in(&w, &["consume", "events", "-p", "0", "-e"], "");
    assert_eq!(out, "d\ne\n");
    let beyond = json(&w, &["topic", "trim", "events", "-p", "0", "--offset", "99"], 1);
    assert_eq!(beyond[0]["error"]["code"], "OFFSET_OUT_OF_RANGE");
    let all = json(&w, &["topic", "trim", "events", "--offset", "end"], 0);
    assert_eq!(all.as_array().unwrap().len(), 4);
    assert_eq!(all[0]["log_start_offset"], 5);

    // YAML, for people who read configs that way.
    let out = weir(&w, &["topic", "list", "--format", "yaml"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "- name: \"events\"\n  partitions: 4\n  replicas: 1\n");
}

#[test]
fn cluster_info_health_and_config() {
    let w = Weir::start();
    let info = json(&w, &["cluster", "info"], 0);
    assert!(!info["cluster_id"].as_str().unwrap().is_empty(), "{info}");
    assert_eq!(info["controller"], 1);
    let port: u16 = w.addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(info["brokers"], j!([{"id": 1, "host": "127.0.0.1", "port": port, "rack": null}]));

    let health = json(&w, &["cluster", "health"], 0);
    assert_eq!(health["healthy"], true, "{health}");
    assert_eq!(health["nodes_down"], j!([]));

    let configs = json(&w, &["cluster", "config"], 0);
    let retention = configs.as_array().unwrap().iter().find(|c| c["name"] == "log.retention.hours").unwrap();
    assert_eq!(retention["source"], "DEFAULT_CONFIG");
    // Weir's broker configs are static: the refusal names Kafka's error.
    let out = weir(&w, &["cluster", "config", "--set", "log.retention.hours=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_CONFIG"), "{out:?}");
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn group_offsets_reset_by_time_and_deleted() {
    let w = Weir::start();
    json(&w, &["topic", "create", "ticks", "-p", "1"], 0);
    // Records an hour apart, written with their timestamps.
    let base = now_ms() - 4 * 3_600_000;
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &w.addr).create().unwrap();
    for i in 0..4i64 {
        let rec = BaseRecord::<(), str>::to("ticks").partition(0).payload("t").timestamp(base + i * 3_600_000);
        p.send(rec).unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
    let (code, _, err) = weir_in(&w, &["consume", "ticks", "-g", "clock", "-n", "4"], "");
    assert_eq!(code, Some(0), "{err}");
    // consume -o: from a time, and N before the end.
    let after = format!("@{}", base + 3_600_000 + 1);
    let (_, out, _) = weir_in(&w, &["consume", "ticks", "-o", &after, "-e", "-f", "%o\\n"], "");
    assert_eq!(out, "2\n3\n");
    let (_, out, _) = weir_in(&w, &["consume", "ticks", "-o", "-1", "-e", "-f", "%o\\n"], "");
    assert_eq!(out, "3\n");
    let (_, out, _) = weir_in(&w, &["consume", "ticks", "-o", "@2999-01-01T00:00:00Z", "-e"], "");
    assert_eq!(out, "", "no record after the time: from the end");

    // The first record at or after the time; a dry run changes nothing.
    let at = (base + 3_600_000 + 1).to_string();
    let plan = json(&w, &["group", "reset-offsets", "clock", "--topic", "ticks", "--to-datetime", &at], 0);
    assert_eq!(plan["partitions"], j!([{"topic": "ticks", "partition": 0, "current_offset": 4, "new_offset": 2}]));
    assert_eq!(plan["executed"], false);
    let d = json(&w, &["group", "describe", "clock"], 0);
    assert_eq!(d["offsets"][0]["committed_offset"], 4);
    json(&w, &["group", "reset-offsets", "clock", "--all-topics", "--to-datetime", &at, "--execute"], 0);
    assert_eq!(json(&w, &["group", "describe", "clock"], 0)["offsets"][0]["committed_offset"], 2);
    // After every record: the end, as kafka-consumer-groups does.
    let later =
        json(&w, &["group", "reset-offsets", "clock", "--topic", "ticks", "--to-datetime", "2999-01-01T00:00:00Z"], 0);
    assert_eq!(later["partitions"][0]["new_offset"], 4);

    // OffsetDelete: the group no longer has an offset for the topic.
    let del = json(&w, &["group", "delete-offsets", "clock", "--topic", "ticks"], 0);
    assert_eq!(del["partitions"], j!([{"topic": "ticks", "partition": 0, "error": null}]));
    assert_eq!(json(&w, &["group", "describe", "clock"], 0)["offsets"], j!([]));
}

const ORDER_V1: &str =
    r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"}]}"#;
const ORDER_V2: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int","default":1}]}"#;
const ORDER_BAD: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}"#;

#[test]
fn schemas_are_managed_and_records_go_through_them() {
    let w = Weir::start();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let (v1, v2, bad) = (file("v1.avsc", ORDER_V1), file("v2.avsc", ORDER_V2), file("bad.avsc", ORDER_BAD));

    let r1 = json(&w, &["schema", "register", "orders-value", "--schema", &v1], 0);
    assert_eq!(r1["version"], 1);
    let r2 = json(&w, &["schema", "register", "orders-value", "--schema", &v2], 0);
    assert_eq!((r2["subject"].as_str(), r2["version"].as_i64()), (Some("orders-value"), Some(2)));
    // Registering the same schema again keeps its id and version.
    assert_eq!(json(&w, &["schema", "register", "orders-value", "--schema", &v2], 0), r2);
    let list = json(&w, &["schema", "list"], 0);
    assert_eq!(list, j!([{"subject": "orders-value", "version": 2, "id": r2["id"], "type": "AVRO"}]));
    let by_id = json(&w, &["schema", "get", "--id", &r1["id"].to_string()], 0);
    assert_eq!(serde_json::from_str::<Value>(by_id["schema"].as_str().unwrap()).unwrap()["fields"][1]["name"], "item");

    // Compatibility: the answer and the exit code say it.
    let ok = json(&w, &["schema", "check", "orders-value", "--schema", &v2], 0);
    assert_eq!(ok["is_compatible"], true);
    let no = json(&w, &["schema", "check", "orders-value", "--schema", &bad], 1);
    assert_eq!(no["is_compatible"], false);
    assert!(!no["messages"].as_array().unwrap().is_empty(), "{no}");
    let refused = weir(&w, &["schema", "register", "orders-value", "--schema", &bad]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("error_code 409"), "{refused:?}");
    assert_eq!(json(&w, &["schema", "config"], 0)["compatibility"], "BACKWARD");
    assert_eq!(json(&w, &["schema", "config", "orders-value", "--set", "none"], 0)["compatibility"], "NONE");
    assert_eq!(json(&w, &["schema", "config", "orders-value"], 0)["compatibility"], "NONE");
    assert_eq!(json(&w, &["schema", "mode"], 0)["mode"], "READWRITE");
    let missing = weir(&w, &["schema", "get", "nothing-value"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("error_code 40401"), "{missing:?}");

    // Records through the registry: JSON in, Avro on the wire, JSON out.
    json(&w, &["topic", "create", "orders", "-p", "1"], 0);
    let lines = "{\"id\": 1, \"item\": \"tea\"}\n{\"id\": 2, \"item\": \"cake\", \"qty\": 3}\n";
    let (code, _, err) = weir_in(&w, &["produce", "orders", "--value-subject", "orders-value"], lines);
    assert_eq!(code, Some(0), "{err}");
    let (_, out, _) = weir_in(&w, &["consume", "orders", "-e", "--decode", "--format", "json"], "");
    let values: Vec<Value> = json_lines(&out).into_iter().map(|r| r["value"].clone()).collect();
    assert_eq!(values, [j!({"id": 1, "item": "tea", "qty": 1}), j!({"id": 2, "item": "cake", "qty": 3})]);
    // Without --decode the bytes are the wire format: magic byte, then the schema id.
    let (_, raw, _) = weir_in(&w, &["consume", "orders", "-e", "-n", "1", "-f", "%v"], "");
    assert!(raw.starts_with('\0'), "{raw:?}");
    // A line the schema refuses stops the run; the lines before it are delivered.
    let (code, _, err) = weir_in(
        &w,
        &["produce", "orders", "--value-subject", "orders-value"],
        "{\"id\": 3, \"item\": \"jam\"}\n{\"id\": \"x\"}\n",
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("line 2"), "{err}");
    let (_, out, _) = weir_in(&w, &["consume", "orders", "-e", "--decode"], "");
    assert_eq!(out.lines().count(), 3, "{out}");

    // Soft delete, then the permanent one.
    let del = json(&w, &["schema", "delete", "orders-value", "--version", "1"], 0);
    assert_eq!(del, j!([{"subject": "orders-value", "version": 1, "deleted": "soft"}]));
    let del = json(&w, &["schema", "delete", "orders-value", "--version", "1", "--permanent"], 0);
    assert_eq!(del[0]["deleted"], "permanent");
}

#[test]
fn json_schema_and_protobuf_records_go_through_the_registry() {
    let w = Weir::start();
    let dir = tempfile::tempdir().unwrap();
    let proto = dir.path().join("reading.proto");
    std::fs::write(&proto, "syntax = \"proto3\";\nmessage Reading {\n  string sensor = 1;\n  double celsius = 2;\n}\n")
        .unwrap();
    let schema = dir.path().join("point.json");
    std::fs::write(&schema, r#"{"type":"object","properties":{"x":{"type":"integer"}}}"#).unwrap();
    let p = json(&w, &["schema", "register", "readings-value", "--schema", proto.to_str().unwrap()], 0);
    let s = json(&w, &["schema", "register", "points-value", "--schema", schema.to_str().unwrap()], 0);
    let types: Vec<Value> =
        json(&w, &["schema", "list"], 0).as_array().unwrap().iter().map(|r| r["type"].clone()).collect();
    assert_eq!(types, [j!("JSON"), j!("PROTOBUF")], "points-value, then readings-value");

    // By subject (its latest schema) and by schema id.
    let points_id = s["id"].to_string();
    for (topic, flags, id, line, want) in [
        (
            "readings",
            ["--value-subject", "readings-value"],
            &p["id"],
            r#"{"sensor": "s1", "celsius": 21.5}"#,
            j!({"sensor": "s1", "celsius": 21.5}),
        ),
        ("points", ["--value-schema-id", points_id.as_str()], &s["id"], r#"{"x": 7}"#, j!({"x": 7})),
    ] {
        json(&w, &["topic", "create", topic, "-p", "1"], 0);
        let (code, _, err) = weir_in(&w, &["produce", topic, flags[0], flags[1]], &format!("{line}\n"));
        assert_eq!(code, Some(0), "{err}");
        let (_, out, _) = weir_in(&w, &["consume", topic, "-e", "--decode", "--format", "json"], "");
        let records = json_lines(&out);
        assert_eq!(records[0]["value"], want, "{topic}");
        // The schema id follows the magic byte, as Confluent's serializers write it.
        let (_, raw, _) = weir_in(&w, &["consume", topic, "-e", "-f", "%v"], "");
        let id = id.as_i64().unwrap() as u8;
        assert_eq!(&raw.as_bytes()[..5], &[0, 0, 0, 0, id], "{topic}");
    }
    // A value that is not of the message's shape is refused before anything is sent.
    let (code, _, err) = weir_in(&w, &["produce", "readings", "--value-subject", "readings-value"], "{\"nope\": 1}\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn help_shows_examples_and_completions_are_generated() {
    let run = |args: &[&str]| std::process::Command::new(common::bin()).args(args).output().unwrap();
    let help = String::from_utf8_lossy(&run(&["--help"]).stdout).into_owned();
    assert!(help.contains("Examples:") && help.contains("weir topic create orders"), "{help}");
    for cmd in ["topic", "group", "acl", "user", "cluster", "schema", "profile"] {
        let out = run(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("e.g. weir"), "weir {cmd} --help has an example");
    }
    for (shell, mark) in [("bash", "_weir()"), ("zsh", "#compdef weir"), ("fish", "complete -c weir")] {
        let out = run(&["completion", shell]);
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).contains(mark), "{shell}");
    }
}
