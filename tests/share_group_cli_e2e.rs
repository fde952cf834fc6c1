//! `weir share-group` against a running Weir: a group made by an offset reset
//! (as kafka-share-groups.sh can make one), listed and described with its start
//! offsets and lag; a member (raw ShareGroupHeartbeat) shown with its
//! assignment and guarding the group from resets; delete-offsets and delete.

mod common;

use common::cli::{json, weir, weir_in};
use common::wire::{call, connect, sb};
use common::Weir;
use kafka_protocol::messages::{ApiKey, GroupId, ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse, TopicName};
use serde_json::Value;

fn heartbeat(w: &Weir, epoch: i32, topics: Option<&[&str]>) -> ShareGroupHeartbeatResponse {
    let req = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb("jobs")))
        .with_member_id(sb("worker-1"))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(topics.map(|t| t.iter().map(|n| TopicName(sb(n))).collect()));
    call(&mut connect(w), ApiKey::ShareGroupHeartbeat, 1, &req)
}

/// (topic, partition, start offset, log end, lag) of each row of a description.
fn offsets(d: &Value) -> Vec<(String, i64, i64, i64, i64)> {
    d["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_i64().unwrap();
            (r["topic"].as_str().unwrap().to_string(), n("partition"), n("start_offset"), n("log_end_offset"), n("lag"))
        })
        .collect()
}

#[test]
fn share_groups_are_listed_described_reset_and_deleted() {
    let w = Weir::start();
    json(&w, &["topic", "create", "orders", "-p", "2"], 0);
    let (code, _, err) = weir_in(&w, &["produce", "orders", "-p", "0"], "a\nb\nc\n");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(json(&w, &["share-group", "list"], 0), serde_json::json!([]));

    // A dry run changes nothing; --execute makes the group, as Kafka's AlterShareGroupOffsets does.
    let plan = json(&w, &["share-group", "reset-offsets", "jobs", "--topic", "orders", "--to-latest"], 0);
    assert_eq!(plan[0]["new_start_offset"], 3, "{plan}");
    assert_eq!(json(&w, &["share-group", "list"], 0), serde_json::json!([]));
    json(&w, &["share-group", "reset-offsets", "jobs", "--topic", "orders", "--to-offset", "1", "--execute"], 0);
    assert_eq!(json(&w, &["share-group", "list"], 0), serde_json::json!([{"group": "jobs", "state": "Empty"}]));
    let d = json(&w, &["share-group", "describe", "jobs"], 0);
    assert_eq!(d["state"], "Empty");
    // Partition 1 is empty: --to-offset 1 is kept within it, at 0.
    assert_eq!(offsets(&d), [("orders".into(), 0, 1, 3, 2), ("orders".into(), 1, 0, 0, 0)], "{d}");

    // A member: shown with its assignment, and no reset while it is there.
    let joined = heartbeat(&w, 0, Some(&["orders"]));
    assert_eq!(joined.error_code, 0);
    let d = json(&w, &["share-group", "describe", "jobs"], 0);
    assert_eq!(d["state"], "Stable");
    let m = &d["members"][0];
    assert_eq!((m["member_id"].as_str(), m["member_epoch"].as_i64()), (Some("worker-1"), Some(1)), "{d}");
    assert_eq!(m["assignment"], serde_json::json!([{"topic": "orders", "partitions": [0, 1]}]));
    let table = String::from_utf8_lossy(&weir(&w, &["share-group", "describe", "jobs"]).stdout).to_string();
    assert!(table.contains("START-OFFSET") && table.contains("worker-1") && table.contains("orders:0,1"), "{table}");
    let out = weir(&w, &["share-group", "reset-offsets", "jobs", "--all-topics", "--to-earliest", "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NON_EMPTY_GROUP"), "{out:?}");
    let out = weir(&w, &["share-group", "delete", "jobs"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(heartbeat(&w, joined.member_epoch, None).error_code, 0);
    assert_eq!(heartbeat(&w, -1, None).error_code, 0);

    // Without members: --all-topics moves what the group has state for; a group
    // without state has nothing to move (and is not made).
    let out = weir(&w, &["share-group", "reset-offsets", "nobody", "--all-topics", "--to-latest", "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no share-partitions to reset"), "{out:?}");
    let plan = json(&w, &["share-group", "reset-offsets", "jobs", "--all-topics", "--to-earliest", "--execute"], 0);
    assert_eq!(plan.as_array().unwrap().len(), 2, "{plan}");
    let d = json(&w, &["share-group", "describe", "jobs"], 0);
    assert_eq!(offsets(&d), [("orders".into(), 0, 0, 3, 3), ("orders".into(), 1, 0, 0, 0)], "{d}");
    // delete-offsets forgets whole topics; an unknown one is reported and fails the command.
    let out = json(&w, &["share-group", "delete-offsets", "jobs", "--topic", "orders", "--topic", "nope"], 1);
    assert_eq!(out[0], serde_json::json!({"topic": "orders", "error": null}));
    assert_eq!(out[1]["error"]["code"], "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(offsets(&json(&w, &["share-group", "describe", "jobs"], 0)), []);
    // Unknown groups, the empty group id, and the delete.
    let out = weir(&w, &["share-group", "describe", "ghost"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GROUP_ID_NOT_FOUND"), "{out:?}");
    for args in
        [&["share-group", "describe", ""][..], &["share-group", "reset-offsets", "", "--all-topics", "--to-latest"]]
    {
        let out = weir(&w, args);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_GROUP_ID"), "{args:?}");
    }
    // Only share groups are deleted: a consumer group's name is refused and the group stays.
    let (code, _, err) = weir_in(&w, &["consume", "orders", "-g", "billing", "-n", "1"], "");
    assert_eq!(code, Some(0), "{err}");
    let out = json(&w, &["share-group", "delete", "billing", "jobs", "jobs"], 1);
    assert_eq!(out.as_array().unwrap().len(), 2, "a name given twice is deleted once: {out}");
    assert_eq!(out[0]["error"]["code"], "GROUP_ID_NOT_FOUND", "{out}");
    assert_eq!(out[0]["error"]["message"], "Group 'billing' is not a share group.");
    assert_eq!(out[1], serde_json::json!({"group": "jobs", "error": null}));
    let groups = json(&w, &["group", "list"], 0);
    assert!(groups.as_array().unwrap().iter().any(|g| g["group"] == "billing"), "{groups}");
    assert_eq!(json(&w, &["share-group", "list"], 0), serde_json::json!([]));
}
