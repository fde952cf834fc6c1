//! A full disk under the real broker: weir runs in a private mount namespace
//! (`unshare -Urm`) with its data directory on a 32 MiB tmpfs, which a helper in
//! the namespace fills (and later empties) when the test asks, through files in
//! a control directory outside it. While the disk is full, produce is answered
//! KAFKA_STORAGE_ERROR and changes nothing, while fetches and the registry's
//! reads keep working; a consumer group's assignment that cannot be written is
//! refused (COORDINATOR_NOT_AVAILABLE) and the group rebalances rather than going
//! Stable; a share group's member whose join cannot be written is refused
//! (COORDINATOR_NOT_AVAILABLE) and not kept; once space is freed, writes resume
//! by themselves at the offset where they stopped, the groups complete, and the
//! broker stops cleanly.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::http;
use common::wire::*;
use common::Weir;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::*;
use rdkafka::Offset;
use serde_json::json;

/// Mounts the tmpfs, starts the filler (waits for `fill`, fills the disk with
/// dd, says `filled`; waits for `free`, deletes the filler, says `freed`; gives
/// up after two minutes), then becomes weir.
const SCRIPT: &str = r#"set -e
mount -t tmpfs -o size=32m weir-disk-full "$WEIR_MNT"
(
  n=0; while [ ! -e "$WEIR_CTL/fill" ]; do sleep 0.05; n=$((n+1)); [ $n -lt 2400 ] || exit 0; done
  dd if=/dev/zero of="$WEIR_MNT/filler" bs=65536 2>/dev/null || true
  touch "$WEIR_CTL/filled"
  n=0; while [ ! -e "$WEIR_CTL/free" ]; do sleep 0.05; n=$((n+1)); [ $n -lt 2400 ] || exit 0; done
  rm -f "$WEIR_MNT/filler"
  touch "$WEIR_CTL/freed"
) &
exec "$@"
"#;

/// Needs user and mount namespaces; without them the test fails unless the run
/// says it skips such tests knowingly (it must not pass having checked nothing).
fn namespaces() -> bool {
    if Command::new("unshare").args(["-Urm", "true"]).status().is_ok_and(|s| s.success()) {
        return true;
    }
    if std::env::var("WEIR_SKIP_NAMESPACE_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: `unshare -Urm` is not available (WEIR_SKIP_NAMESPACE_TESTS=1)");
        return false;
    }
    panic!("`unshare -Urm` is not available, so the disk-full test cannot run; set WEIR_SKIP_NAMESPACE_TESTS=1 to skip it knowingly");
}

/// JoinGroup v5 of a classic group's only member (first asked for its member id,
/// KIP-394); its (member id, generation).
fn join_alone(s: &mut std::net::TcpStream, group: &str, member: &str) -> (String, i32) {
    let mut req = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_member_id(sb(member))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(sb("range"))]);
    let mut r: JoinGroupResponse = call(s, ApiKey::JoinGroup, 5, &req);
    if r.error_code == 79 {
        req = req.with_member_id(r.member_id.clone());
        r = call(s, ApiKey::JoinGroup, 5, &req);
    }
    assert_eq!(r.error_code, 0, "join");
    assert_eq!(r.leader, r.member_id, "the only member leads");
    (r.member_id.to_string(), r.generation_id)
}

/// The leader's SyncGroup v3 handing itself `assignment`.
fn sync_leader(
    s: &mut std::net::TcpStream,
    group: &str,
    member: &str,
    generation: i32,
    assignment: &[u8],
) -> SyncGroupResponse {
    let given = sync_group_request::SyncGroupRequestAssignment::default()
        .with_member_id(sb(member))
        .with_assignment(bytes::Bytes::copy_from_slice(assignment));
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id(generation)
        .with_member_id(sb(member))
        .with_assignments(vec![given]);
    call(s, ApiKey::SyncGroup, 3, &req)
}

fn group_state(s: &mut std::net::TcpStream, group: &str) -> String {
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(group))]);
    let r: DescribeGroupsResponse = call(s, ApiKey::DescribeGroups, 5, &req);
    r.groups[0].group_state.to_string()
}

/// ShareGroupHeartbeat v1 of `member` joining share group `full-share`
/// subscribed to `topics`.
fn share_join(s: &mut std::net::TcpStream, member: &str, topics: &[String]) -> ShareGroupHeartbeatResponse {
    let req = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb("full-share")))
        .with_member_id(sb(member))
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(topics.iter().map(|n| TopicName(sb(n))).collect()));
    call(s, ApiKey::ShareGroupHeartbeat, 1, &req)
}

/// `member`'s ShareGroupHeartbeat v1 at `epoch` saying only that it is alive
/// (it writes nothing, so it is answered on a full disk too); its error code.
fn share_alive(s: &mut std::net::TcpStream, member: &str, epoch: i32) -> i16 {
    let req = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb("full-share")))
        .with_member_id(sb(member))
        .with_member_epoch(epoch);
    let r: ShareGroupHeartbeatResponse = call(s, ApiKey::ShareGroupHeartbeat, 1, &req);
    r.error_code
}

/// `full-share`'s (epoch, member ids).
fn share_members(s: &mut std::net::TcpStream) -> (i32, Vec<String>) {
    let req = ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb("full-share"))]);
    let r: ShareGroupDescribeResponse = call(s, ApiKey::ShareGroupDescribe, 1, &req);
    let g = &r.groups[0];
    assert_eq!(g.error_code, 0);
    (g.group_epoch, g.members.iter().map(|m| m.member_id.to_string()).collect())
}

/// Asks the helper for `step` and waits for its `done` answer.
fn ask(ctl: &Path, step: &str, done: &str) {
    std::fs::write(ctl.join(step), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ctl.join(done).exists() {
        assert!(Instant::now() < deadline, "the helper in the namespace did not answer '{step}'");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_full_disk_refuses_produce_keeps_reads_and_resumes_by_itself() {
    if !namespaces() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (mnt, ctl) = (tmp.path().join("mnt"), tmp.path().join("ctl"));
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(&ctl).unwrap();
    let mut weir = Weir::start_wrapped(
        &["unshare", "-Urm", "sh", "-c", SCRIPT, "sh"],
        mnt.join("data"),
        &[
            // Small indexes and one offsets partition: the 32 MiB hold the broker's own topics.
            "--set",
            "log.index.size.max.bytes=65536",
            "--set",
            "offsets.topic.num.partitions=1",
            "--set",
            "log.segment.bytes=1048576",
            "--set",
            "group.initial.rebalance.delay.ms=0",
        ],
        &[("WEIR_MNT", mnt.to_str().unwrap()), ("WEIR_CTL", ctl.to_str().unwrap())],
    );
    let mut s = connect(&weir);
    create_topic(&mut s, "full", 1, &[]);
    assert_eq!(produce(&mut s, "full", one_batch(&[b"one", b"two", b"three"])), (0, 0));
    let schema =
        json!({"schema": "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"}]}"});
    let registered = http::post(&weir.registry, "/subjects/full-value/versions", &schema);
    assert_eq!(registered.status, 200, "{}", registered.body);
    let id = registered.json()["id"].as_i64().unwrap();

    let mut sg = connect(&weir);
    assert_eq!(share_join(&mut sg, "m0", &["full".to_string()]).error_code, 0);

    ask(&ctl, "fill", "filled");
    // Larger than a page, so it needs blocks the disk no longer has.
    let big = vec![b'x'; 256 * 1024];
    for _ in 0..3 {
        let (code, _) = produce(&mut s, "full", one_batch(&[&big[..]]));
        assert_eq!(code, 56, "KAFKA_STORAGE_ERROR while the disk is full");
    }
    let read = common::clients::read_partition(&weir.addr, "full", 0, Offset::Beginning, 3);
    let values: Vec<Option<Vec<u8>>> = read.iter().map(|(_, r)| r.value.clone()).collect();
    assert_eq!(values, [Some(b"one".to_vec()), Some(b"two".to_vec()), Some(b"three".to_vec())]);
    let schema_back = http::get(&weir.registry, &format!("/schemas/ids/{id}"));
    assert_eq!(schema_back.status, 200, "the registry reads while the disk is full: {}", schema_back.body);
    // Larger than the slack in the last page of the registry's log (a small one fits there).
    let fields: Vec<_> = (0..400).map(|i| json!({"name": format!("field_number_{i}"), "type": "long"})).collect();
    let large = json!({"schema": json!({"type": "record", "name": "S", "fields": fields}).to_string()});
    let refused = http::post(&weir.registry, "/subjects/full-other-value/versions", &large);
    assert_eq!(
        (refused.status, refused.error_code()),
        (500, 50001),
        "Confluent's 'Error in the backend data store': {}",
        refused.body
    );
    // A group's assignment is on disk before anyone is given it.
    let mut g = connect(&weir);
    let (member, generation) = join_alone(&mut g, "full-group", "");
    let synced = sync_leader(&mut g, "full-group", &member, generation, &big);
    assert_eq!(synced.error_code, 15, "COORDINATOR_NOT_AVAILABLE: the assignment could not be written");
    assert!(synced.assignment.is_empty());
    assert_eq!(group_state(&mut g, "full-group"), "PreparingRebalance", "not Stable with an unwritten assignment");

    // A share group's member is on disk before it is told its epoch.
    let many: Vec<String> = (0..8).map(|i| format!("{i}{}", "t".repeat(32_000))).collect();
    // m0's session stays open however slow the steps before were.
    assert_eq!(share_alive(&mut sg, "m0", 1), 0);
    let refused = share_join(&mut sg, "m1", &many);
    assert_eq!(refused.error_code, 15, "COORDINATOR_NOT_AVAILABLE: the member could not be written");
    assert_eq!(share_members(&mut sg), (1, vec!["m0".to_string()]), "the join is not kept");

    ask(&ctl, "free", "freed");
    // No restart, no operator: the next produce is appended where the log stopped.
    assert_eq!(produce(&mut s, "full", one_batch(&[&big[..]])), (0, 3), "writes resume at the offset they stopped at");
    let read = common::clients::read_partition(&weir.addr, "full", 0, Offset::Offset(3), 1);
    assert_eq!(read[0].1.value.as_deref(), Some(&big[..]));
    let again = http::post(&weir.registry, "/subjects/full-other-value/versions", &large);
    assert_eq!(again.status, 200, "the registry writes again: {}", again.body);
    let (rejoined, next) = join_alone(&mut g, "full-group", &member);
    assert_eq!(rejoined, member);
    assert!(next > generation, "a new generation: {next} after {generation}");
    let synced = sync_leader(&mut g, "full-group", &member, next, &big);
    assert_eq!(synced.error_code, 0, "the group completes once its assignment can be written");
    assert_eq!(&synced.assignment[..], &big[..]);
    assert_eq!(group_state(&mut g, "full-group"), "Stable");
    assert_eq!(share_alive(&mut sg, "m0", 1), 0);
    let joined = share_join(&mut sg, "m1", &many);
    assert_eq!((joined.error_code, joined.member_epoch), (0, 2), "the share group takes the member");
    assert!(weir.stop().success(), "a clean shutdown after the disk was full");
}
