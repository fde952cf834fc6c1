//! Group offset sync beside a consumer group of the new protocol (KIP-848) in
//! use on the target: the classic DescribeGroups does not show it as active, so
//! the replicator's commit is refused; that group waits (synced once its members
//! are gone) and the flow goes on with the others, never failing for it.
//! Checkpoints are written when they change; synced offsets keep the source
//! commit's metadata.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::clients::*;
use common::mirror::*;
use common::Weir;
use rdkafka::consumer::{BaseConsumer, Consumer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_in_use_on_the_target_waits_and_the_flow_goes_on() {
    let (a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", 1, &[]).await;
    create_topic(&b.addr, "local", 1, &[]).await;
    let (p, _) = producer(&a.addr, &[]);
    for i in 0..100 {
        send(&p, "orders", 0, i);
    }
    flush(&p);
    commit_group(&a.addr, "busy", &[("orders", 0, 50)]);
    commit_group(&a.addr, "idle", &[("orders", 0, 40)]);

    // "busy" is a KIP-848 group with a member on B, polling until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let member = {
        let (addr, stop) = (b.addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let c: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &addr)
                .set("group.id", "busy")
                .set("group.protocol", "consumer")
                .create()
                .unwrap();
            c.subscribe(&["local"]).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let _ = c.poll(Duration::from_millis(100));
            }
            // Dropping closes the consumer: it leaves the group.
            drop(c);
        })
    };
    wait_for("busy's member", || {
        let c: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", &b.addr).create().unwrap();
        let groups = c.fetch_group_list(None, Duration::from_secs(10)).ok()?;
        groups.groups().iter().any(|g| g.name() == "busy").then_some(())
    });

    let dir = tempfile::tempdir().unwrap();
    let config = mm2_file(
        dir.path(),
        &a.addr,
        &b.addr,
        "emit.checkpoints.interval.seconds = 1\nsync.group.offsets.enabled = true\nsync.group.offsets.interval.seconds = 1\n",
    );
    let metrics = free_port();
    let mirror = Mirror::start_with(&config, &["--metrics-addr", &metrics], "A->B");
    wait_for("idle's offsets on B", || (committed(&b.addr, "idle", "A.orders", 1) == [40]).then_some(()));
    // Two more rounds: idle moved on A, then seen on B, so busy's commit was tried since.
    commit_group(&a.addr, "idle", &[("orders", 0, 60)]);
    wait_for("idle's new offsets on B", || (committed(&b.addr, "idle", "A.orders", 1) == [60]).then_some(()));
    commit_group(&a.addr, "idle", &[("orders", 0, 70)]);
    wait_for("idle's newer offsets on B", || (committed(&b.addr, "idle", "A.orders", 1) == [70]).then_some(()));
    assert_eq!(committed(&b.addr, "busy", "A.orders", 1), [-1], "not while its member reads");
    let flow = "flow=\"A->B\"";
    assert_eq!(metric(&metrics, &format!("weir_mirror_flow_state{{{flow},state=\"running\"}}")), Some(1.0));
    assert_eq!(metric(&metrics, &format!("weir_mirror_flow_restarts_total{{{flow}}}")).unwrap_or(0.0), 0.0);

    // Its member gone, busy is synced.
    stop.store(true, Ordering::Relaxed);
    member.join().unwrap();
    wait_for("busy's offsets on B", || (committed(&b.addr, "busy", "A.orders", 1) == [50]).then_some(()));
    assert!(mirror.stop().success());
}

/// As MM2: a checkpoint is written when the group's translated position
/// changes (not again each interval while it stands still), and group sync
/// commits on the target with the source commit's metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_written_on_change_and_sync_keeps_the_commits_metadata() {
    let (a, b) = (Weir::start(), Weir::start());
    create_topic(&a.addr, "orders", 1, &[]).await;
    let (p, _) = producer(&a.addr, &[]);
    for i in 0..100 {
        send(&p, "orders", 0, i);
    }
    flush(&p);
    let commit_with_metadata = |offset: i64, metadata: &str| {
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &a.addr)
            .set("group.id", "moving")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        let mut e = tpl.add_partition("orders", 0);
        e.set_offset(rdkafka::Offset::Offset(offset)).unwrap();
        e.set_metadata(metadata);
        c.commit(&tpl, rdkafka::consumer::CommitMode::Sync).unwrap();
    };
    commit_with_metadata(40, "state-40");
    commit_group(&a.addr, "still", &[("orders", 0, 30)]);
    let dir = tempfile::tempdir().unwrap();
    let extra = "emit.checkpoints.interval.seconds = 1\nsync.group.offsets.enabled = true\nsync.group.offsets.interval.seconds = 1\n";
    let mirror = Mirror::start(&mm2_file(dir.path(), &a.addr, &b.addr, extra));
    let on_b = || {
        let c: BaseConsumer =
            rdkafka::ClientConfig::new().set("bootstrap.servers", &b.addr).set("group.id", "moving").create().unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition("A.orders", 0);
        let got = c.committed_offsets(tpl, Duration::from_secs(10)).ok()?;
        let e = got.find_partition("A.orders", 0)?;
        Some((e.offset(), e.metadata().to_string()))
    };
    let want = |o: i64, m: &str| Some((rdkafka::Offset::Offset(o), m.to_string()));
    wait_for("moving's offset on B", || (on_b() == want(40, "state-40")).then_some(()));
    // Moved on A: a second checkpoint, and some intervals have passed for "still".
    commit_with_metadata(60, "state-60");
    wait_for("moving's new offset on B", || (on_b() == want(60, "state-60")).then_some(()));
    assert!(mirror.stop().success());

    let (_, high) = consumer(&b.addr).fetch_watermarks("A.checkpoints.internal", 0, Duration::from_secs(10)).unwrap();
    let written: Vec<(String, i64, String)> =
        read_partition(&b.addr, "A.checkpoints.internal", 0, rdkafka::Offset::Beginning, high as usize)
            .into_iter()
            .map(|(_, r)| {
                let cp =
                    weir_mirror::formats::Checkpoint::decode(r.key.as_deref().unwrap(), r.value.as_deref().unwrap())
                        .unwrap();
                (cp.group, cp.downstream_offset, cp.metadata)
            })
            .collect();
    let of =
        |g: &str| written.iter().filter(|(group, ..)| group == g).map(|(_, o, m)| (*o, m.clone())).collect::<Vec<_>>();
    // A first pass may come while the copy is still short of a group's offset
    // (its checkpoint then at the mirrored end, and a later one once past it);
    // never is one written again unchanged.
    for group in ["still", "moving"] {
        let cps = of(group);
        assert!(cps.windows(2).all(|w| w[0].0 < w[1].0), "{group}: each checkpoint moved on: {cps:?}");
    }
    assert_eq!(of("still").last(), Some(&(30, String::new())));
    let moving = of("moving");
    assert!(moving.contains(&(40, "state-40".to_string())), "{moving:?}");
    assert_eq!(moving.last(), Some(&(60, "state-60".to_string())));
}
