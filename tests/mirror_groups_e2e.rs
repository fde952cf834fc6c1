//! Group offset sync beside a consumer group of the new protocol (KIP-848) in
//! use on the target: the classic DescribeGroups does not show it as active, so
//! the replicator's commit is refused; that group waits (synced once its members
//! are gone) and the flow goes on with the others, never failing for it.

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
