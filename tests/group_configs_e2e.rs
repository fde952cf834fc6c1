//! KIP-848 group configs (issue 20): DescribeConfigs, IncrementalAlterConfigs and
//! AlterConfigs on GROUP resources, Kafka's checks against the broker's bounds, and
//! the overrides taking effect in the coordinator (heartbeat interval, session
//! expiry) and surviving a restart.

mod common;

use std::time::{Duration, Instant};

use common::wire::sb;
use common::{wire, Weir};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::*;

const GROUP: i8 = 32;
const SET: i8 = 0;
const DELETE: i8 = 1;

/// (value, source) of each group config.
fn describe(weir: &Weir, group: &str) -> Vec<(String, Option<String>, i8)> {
    let req = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
        .with_resource_type(GROUP)
        .with_resource_name(sb(group))]);
    let r: DescribeConfigsResponse = wire::call(&mut wire::connect(weir), ApiKey::DescribeConfigs, 4, &req);
    let res = &r.results[0];
    assert_eq!(res.error_code, 0, "{:?}", res.error_message);
    res.configs.iter().map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string()), c.config_source)).collect()
}

fn alter(weir: &Weir, group: &str, ops: &[(&str, i8, &str)]) -> (i16, Option<String>) {
    let configs = ops
        .iter()
        .map(|(k, op, v)| {
            AlterableConfig::default().with_name(sb(k)).with_config_operation(*op).with_value(Some(sb(v)))
        })
        .collect();
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(GROUP)
        .with_resource_name(sb(group))
        .with_configs(configs)]);
    let r: IncrementalAlterConfigsResponse =
        wire::call(&mut wire::connect(weir), ApiKey::IncrementalAlterConfigs, 1, &req);
    (r.responses[0].error_code, r.responses[0].error_message.as_ref().map(|m| m.to_string()))
}

fn join(weir: &Weir, group: &str) -> ConsumerGroupHeartbeatResponse {
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(sb("t"))]))
        .with_topic_partitions(Some(vec![]));
    let r: ConsumerGroupHeartbeatResponse =
        wire::call(&mut wire::connect(weir), ApiKey::ConsumerGroupHeartbeat, 0, &req);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r
}

fn members(weir: &Weir, group: &str) -> usize {
    let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(group))]);
    let r: ConsumerGroupDescribeResponse = wire::call(&mut wire::connect(weir), ApiKey::ConsumerGroupDescribe, 0, &req);
    r.groups[0].members.len()
}

#[test]
fn group_configs_are_checked_stored_and_obeyed() {
    // The broker: 60 s sessions, 1 s minimum; heartbeats every 2 s, 100 ms minimum.
    let mut weir = Weir::start_with(&[
        "--set",
        "group.consumer.session.timeout.ms=60000",
        "--set",
        "group.consumer.min.session.timeout.ms=1000",
        "--set",
        "group.consumer.heartbeat.interval.ms=2000",
        "--set",
        "group.consumer.min.heartbeat.interval.ms=100",
    ]);
    // Any group id has the configs, from the broker until set (DEFAULT_CONFIG, 5).
    let before = describe(&weir, "gc");
    assert_eq!(
        before,
        vec![
            ("consumer.session.timeout.ms".into(), Some("60000".into()), 5),
            ("consumer.heartbeat.interval.ms".into(), Some("2000".into()), 5),
            ("share.auto.offset.reset".into(), Some("latest".into()), 5),
            ("share.isolation.level".into(), Some("read_uncommitted".into()), 5),
        ]
    );

    // Kafka's checks, with Kafka's messages; nothing is stored by a refused change.
    let (code, msg) = alter(&weir, "gc", &[("consumer.session.timeout.ms", SET, "500")]);
    assert_eq!(code, 40, "INVALID_CONFIG");
    assert_eq!(
        msg.as_deref(),
        Some("consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms")
    );
    let (code, msg) = alter(
        &weir,
        "gc",
        &[("consumer.session.timeout.ms", SET, "3000"), ("consumer.heartbeat.interval.ms", SET, "3000")],
    );
    assert_eq!(
        (code, msg.as_deref()),
        (40, Some("consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"))
    );
    let (code, msg) = alter(&weir, "gc", &[("consumer.rebalance.timeout.ms", SET, "1")]);
    assert_eq!((code, msg.as_deref()), (40, Some("Unknown group config name: consumer.rebalance.timeout.ms")));
    let (code, _) = alter(&weir, "gc", &[("consumer.heartbeat.interval.ms", SET, "soon")]);
    assert_eq!(code, 40);
    assert_eq!(describe(&weir, "gc"), before);

    // Set: GROUP_CONFIG (8) as the source.
    let (code, msg) = alter(
        &weir,
        "gc",
        &[("consumer.session.timeout.ms", SET, "3000"), ("consumer.heartbeat.interval.ms", SET, "700")],
    );
    assert_eq!(code, 0, "{msg:?}");
    let set = describe(&weir, "gc");
    assert_eq!(set[0], ("consumer.session.timeout.ms".into(), Some("3000".into()), 8));
    assert_eq!(set[1], ("consumer.heartbeat.interval.ms".into(), Some("700".into()), 8));
    assert_eq!(describe(&weir, "other")[0].1.as_deref(), Some("60000"), "other groups keep the broker's");

    // The coordinator obeys: members are told the group's interval, and a member
    // that stops heartbeating is removed after the group's 3 s, not the broker's 60 s.
    assert_eq!(join(&weir, "gc").heartbeat_interval_ms, 700);
    assert_eq!(join(&weir, "other").heartbeat_interval_ms, 2000);
    let deadline = Instant::now() + Duration::from_secs(30);
    while members(&weir, "gc") > 0 {
        assert!(Instant::now() < deadline, "the member outlived the group's session timeout");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(members(&weir, "other"), 1, "the broker's 60 s session still holds in the other group");

    // Overrides live in the metadata log: they survive a restart.
    weir.stop();
    weir.restart();
    assert_eq!(describe(&weir, "gc"), set);
    // DELETE returns a key to the broker's value.
    assert_eq!(alter(&weir, "gc", &[("consumer.heartbeat.interval.ms", DELETE, "")]).0, 0);
    assert_eq!(describe(&weir, "gc")[1], ("consumer.heartbeat.interval.ms".into(), Some("2000".into()), 5));
    // A share group's start: latest, earliest or by_duration:<ISO-8601 duration>, as spelt.
    for bad in ["sometimes", "EARLIEST", "by_duration:1h", "by_duration:-PT1H"] {
        let (code, msg) = alter(&weir, "gc", &[("share.auto.offset.reset", SET, bad)]);
        assert_eq!(code, 40, "{bad}: {msg:?}");
        let want = format!("Invalid value `{bad}` for configuration share.auto.offset.reset.");
        assert!(msg.as_deref().is_some_and(|m| m.contains(&want)), "{msg:?}");
    }
    assert_eq!(alter(&weir, "gc", &[("share.auto.offset.reset", SET, "by_duration:P1DT12H")]).0, 0);
    assert_eq!(alter(&weir, "gc", &[("share.auto.offset.reset", SET, "earliest")]).0, 0);
    assert_eq!(describe(&weir, "gc")[2], ("share.auto.offset.reset".into(), Some("earliest".into()), 8));
    // Which transactional records a share group gets: Kafka's two levels, as spelt.
    let (code, msg) = alter(&weir, "gc", &[("share.isolation.level", SET, "READ_COMMITTED")]);
    assert_eq!(code, 40, "{msg:?}");
    assert_eq!(
        msg.as_deref(),
        Some(
            "Invalid value READ_COMMITTED for configuration share.isolation.level: String must be one of: \
             read_committed, read_uncommitted"
        )
    );
    assert_eq!(alter(&weir, "gc", &[("share.isolation.level", SET, "read_committed")]).0, 0);
    assert_eq!(describe(&weir, "gc")[3], ("share.isolation.level".into(), Some("read_committed".into()), 8));
    assert_eq!(weir.stop().code(), Some(0));
}

#[test]
fn a_broker_whose_group_timeouts_break_their_bounds_does_not_start() {
    let out = std::process::Command::new(common::bin())
        .args(["--data-dir", "/nonexistent/never-created", "--set", "group.consumer.heartbeat.interval.ms=100"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("group.consumer.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms"),
        "{err}"
    );
}

#[test]
fn group_coordinator_rebalance_protocols_turns_the_consumer_protocol_off() {
    let weir = Weir::start_with(&["--set", "group.coordinator.rebalance.protocols=classic"]);
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb("off")))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![]))
        .with_topic_partitions(Some(vec![]));
    let r: ConsumerGroupHeartbeatResponse =
        wire::call(&mut wire::connect(&weir), ApiKey::ConsumerGroupHeartbeat, 0, &req);
    assert_eq!(r.error_code, 35, "UNSUPPORTED_VERSION, as Kafka without the consumer protocol");
    let out = std::process::Command::new(common::bin())
        .args(["--data-dir", "/nonexistent/never-created", "--set", "group.coordinator.rebalance.protocols=consumer"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("disabling the 'classic' protocol is not supported"));
}
