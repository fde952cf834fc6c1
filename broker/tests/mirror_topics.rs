//! Offset-preserving mirror topics through the in-process handle: copies
//! appended at their offsets, and what a promotion leaves behind (issue 17).

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_broker::topics::CreateTopic;
use weir_broker::{BrokerConfig, BrokerHandle};
use weir_storage::testutil::{BatchBuilder, Record};
use weir_storage::SystemClock;

fn open(dir: &std::path::Path) -> BrokerHandle {
    BrokerHandle::open(dir, BrokerConfig::default(), Arc::new(SystemClock), vec![]).unwrap()
}

#[test]
fn a_promotion_moves_producer_ids_past_the_copied_ones_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    let configs: BTreeMap<String, String> = [("weir.mirror.source".to_string(), "A:t".to_string())].into();
    broker
        .topics()
        .create(
            CreateTopic { name: "A.t".into(), partitions: 1, replication_factor: -1, assignments: vec![], configs },
            false,
        )
        .unwrap();
    let p = broker.partitions().get("A.t", 0).unwrap();
    // The source's idempotent producer 700 wrote sequences 0..3.
    let copied =
        BatchBuilder::new(0).producer(700, 0, 0).records((0..3).map(|i| Record::value(format!("a{i}")))).build();
    p.append_copied(&copied, 1, Some(0)).unwrap();
    let before = broker.allocate_producer_id().unwrap();
    assert!(before < 700, "a fresh broker hands out low ids ({before})");

    broker.configs().replace_topic("A.t", BTreeMap::new(), false).unwrap();
    let after = broker.allocate_producer_id().unwrap();
    assert!(after > 700, "promoted: ids past the copied producer's ({after})");
    // A producer of this broker with that id would otherwise have met the
    // copied state: a first batch of sequence 0 and epoch 0 would have been an
    // out-of-order sequence for producer 700.
    let own = BatchBuilder::new(0).producer(after, 0, 0).record(Record::value("b")).build();
    p.append_from_client(&own, 1, None, None).unwrap();
    // The marker cannot come back.
    let again: BTreeMap<String, String> = [("weir.mirror.source".to_string(), "A:t".to_string())].into();
    assert!(broker.configs().replace_topic("A.t", again, false).is_err());
    drop(p);
    drop(broker);

    let broker = open(dir.path());
    assert!(broker.allocate_producer_id().unwrap() > 700, "kept across a restart");
}
