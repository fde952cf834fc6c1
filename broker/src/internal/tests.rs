use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use weir_storage::batch::{compute_crc, ATTRIBUTES_OFFSET, ATTR_CONTROL, CRC_OFFSET};
use weir_storage::testutil::{BatchBuilder, Record};
use weir_storage::{Clock, ControlType, LogManager, MockClock};

use super::*;
use crate::config::BrokerConfig;
use crate::partition::ReplicaManager;

fn topic(dir: &std::path::Path, partitions: i32) -> (ReplicaManager, InternalTopic) {
    let clock: Arc<dyn Clock> = Arc::new(MockClock::new(5_000));
    let logs = Arc::new(LogManager::open(dir, clock.clone()).unwrap());
    let rm = ReplicaManager::new(logs, Arc::new(BrokerConfig::default()));
    rm.open_topic("_state", uuid::Uuid::new_v4(), partitions, &BTreeMap::new()).unwrap();
    let t = InternalTopic::new("_state", rm.topic("_state").unwrap(), clock);
    (rm, t)
}

fn kv(k: &str, v: Option<&str>) -> Entry {
    (Some(Bytes::copy_from_slice(k.as_bytes())), v.map(|v| Bytes::copy_from_slice(v.as_bytes())))
}

/// A state machine that remembers the last value per key, in apply order.
#[derive(Default)]
struct LastValue {
    values: BTreeMap<String, String>,
    applied: Vec<i64>,
}

impl StateMachine for LastValue {
    fn apply(&mut self, _partition: i32, r: &KeyValue) {
        let k = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
        match r.value.as_deref() {
            Some(v) => self.values.insert(k, String::from_utf8_lossy(v).into_owned()),
            None => self.values.remove(&k),
        };
        self.applied.push(r.offset);
    }
}

#[test]
fn records_read_back_in_order_from_any_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (_rm, t) = topic(dir.path(), 1);
    assert_eq!(t.append(0, vec![kv("a", Some("1")), kv("b", Some("2"))]).unwrap(), 0);
    assert_eq!(t.append(0, vec![kv("a", None)]).unwrap(), 2);
    let (all, next) = t.read(0, 0, 1 << 20).unwrap();
    assert_eq!(next, 3);
    assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(all[2].value, None, "a tombstone");
    assert_eq!(all[0].timestamp, 5_000, "stamped with the broker's clock");
    // From the middle of a batch: the records before the offset are not repeated.
    let (tail, _) = t.read(0, 1, 1 << 20).unwrap();
    assert_eq!(tail.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![1, 2]);
    assert!(t.read(0, 3, 1 << 20).unwrap().0.is_empty());
    assert!(t.append(1, vec![kv("x", None)]).is_err(), "no partition 1");
}

#[test]
fn markers_come_back_as_markers() {
    let dir = tempfile::tempdir().unwrap();
    let (rm, t) = topic(dir.path(), 1);
    t.append(0, vec![kv("a", Some("1"))]).unwrap();
    // A transaction marker, as a transaction coordinator will write it.
    let mut marker = BatchBuilder::new(0).producer(9, 0, 0).record(Record::kv([0u8, 0, 0, 0], [0u8; 6])).build();
    let attrs = i16::from_be_bytes([marker[ATTRIBUTES_OFFSET], marker[ATTRIBUTES_OFFSET + 1]]) | ATTR_CONTROL;
    marker[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    let crc = compute_crc(&marker);
    marker[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    rm.get("_state", 0).unwrap().append_internal(&marker).unwrap();
    t.append(0, vec![kv("b", Some("2"))]).unwrap();
    let (records, next) = t.read(0, 0, 1 << 20).unwrap();
    assert_eq!(next, 3, "the marker's offset is consumed");
    assert_eq!(
        records.iter().map(|r| (r.offset, r.marker)).collect::<Vec<_>>(),
        vec![(0, None), (1, Some(ControlType::Abort)), (2, None)]
    );
    assert_eq!(records[1].producer_id, 9);
}

#[test]
fn a_state_topic_applies_writes_once_durable_and_records_others_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (rm, t) = topic(dir.path(), 2);
    let st = StateTopic::open(t.clone(), LastValue::default()).unwrap();
    st.write(0, vec![kv("a", Some("1"))]).unwrap();
    st.write(1, vec![kv("b", Some("2"))]).unwrap();
    assert_eq!(st.lock().values.len(), 2);
    // Another writer (a client producing to the topic) appends to partition 0.
    let other = BatchBuilder::new(0).record(Record::kv("a", "from a client")).build();
    rm.get("_state", 0).unwrap().append_from_client(&other, 1, None, None).unwrap();
    assert_eq!(st.lock().values["a"], "1", "not applied before a catch-up");
    assert_eq!(st.read(|s| s.values["a"].clone()).unwrap(), "from a client");
    // Our next write lands after it, and is applied after it.
    st.write(0, vec![kv("a", None)]).unwrap();
    assert!(!st.lock().values.contains_key("a"));
    assert_eq!(st.lock().applied, vec![0, 0, 1, 2]);
    // Replaying the topic from scratch gives the same state.
    let again = StateTopic::open(t, LastValue::default()).unwrap();
    assert_eq!(again.lock().values, st.lock().values);
}
