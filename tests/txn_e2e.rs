//! Transactions end to end: librdkafka's transactional producer and
//! read_committed consumers against the real binary.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clients::create_topic;
use common::{wire, Weir};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const T: Duration = Duration::from_secs(30);
/// Short enough to wait for in a test; the broker looks for timed-out transactions
/// every 200 ms (set below).
const TXN_TIMEOUT_MS: &str = "3000";
const ARGS: &[&str] = &[
    "--set",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms=200",
    "--set",
    "group.initial.rebalance.delay.ms=0",
];

type TxnProducer = ThreadedProducer<DefaultProducerContext>;

fn txn_producer(addr: &str, id: &str) -> TxnProducer {
    let p: TxnProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("transactional.id", id)
        .set("transaction.timeout.ms", TXN_TIMEOUT_MS)
        .set("linger.ms", "5")
        .create()
        .expect("transactional producer");
    p.init_transactions(T).expect("init_transactions");
    p
}

fn plain_producer(addr: &str) -> TxnProducer {
    ClientConfig::new().set("bootstrap.servers", addr).set("linger.ms", "0").create().expect("producer")
}

fn send(p: &TxnProducer, topic: &str, partition: i32, value: &str) {
    let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(partition).payload(value.as_bytes());
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((e, back)) => {
                assert!(matches!(e, KafkaError::MessageProduction(_)), "send: {e}");
                rec = back;
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

fn reader(addr: &str, isolation: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "txn-e2e-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer")
}

/// Every value of `topic` (all partitions), read from the start until `idle` passes
/// without a new record (or `want` are read).
fn read_all(addr: &str, topic: &str, partitions: i32, isolation: &str, want: usize, idle: Duration) -> Vec<String> {
    let c = reader(addr, isolation);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    let mut last = Instant::now();
    while out.len() < want && last.elapsed() < idle {
        assert!(started.elapsed() < Duration::from_secs(120), "read {} of {want} from {topic}", out.len());
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap());
                last = Instant::now();
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    out
}

fn counts(values: &[String]) -> BTreeMap<char, usize> {
    let mut m = BTreeMap::new();
    for v in values {
        *m.entry(v.chars().next().unwrap()).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_transactions_are_read_once_and_aborted_ones_never() {
    let weir = Weir::start_with(ARGS);
    create_topic(&weir.addr, "tx", 1, &[]).await;
    let p = txn_producer(&weir.addr, "writer");
    let plain = plain_producer(&weir.addr);
    p.begin_transaction().unwrap();
    for i in 0..100 {
        send(&p, "tx", 0, &format!("c{i}"));
        if i % 10 == 0 {
            send(&plain, "tx", 0, &format!("p{i}")); // interleaved, outside any transaction
        }
    }
    p.commit_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    for i in 0..50 {
        send(&p, "tx", 0, &format!("a{i}"));
    }
    p.flush(T).unwrap();
    p.abort_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "tx", 0, "c-last");
    p.commit_transaction(T).unwrap();
    plain.flush(T).unwrap();

    let committed = read_all(&weir.addr, "tx", 1, "read_committed", 111, Duration::from_secs(3));
    assert_eq!(counts(&committed), BTreeMap::from([('c', 101), ('p', 10)]), "{committed:?}");
    let mut seen = committed.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), committed.len(), "nothing twice");
    let all = read_all(&weir.addr, "tx", 1, "read_uncommitted", 161, Duration::from_secs(3));
    assert_eq!(counts(&all), BTreeMap::from([('a', 50), ('c', 101), ('p', 10)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_producer_with_the_same_id_fences_the_first() {
    let weir = Weir::start_with(ARGS);
    create_topic(&weir.addr, "fence", 1, &[]).await;
    let zombie = txn_producer(&weir.addr, "same-id");
    zombie.begin_transaction().unwrap();
    send(&zombie, "fence", 0, "z-before");
    zombie.flush(T).unwrap();
    let fresh = txn_producer(&weir.addr, "same-id");
    fresh.begin_transaction().unwrap();
    send(&fresh, "fence", 0, "f");
    fresh.commit_transaction(T).unwrap();
    // The zombie's transaction was aborted when the new producer initialised, and
    // its commit fails with the fenced error.
    send(&zombie, "fence", 0, "z-after");
    let err = zombie.commit_transaction(T).expect_err("the zombie must not commit");
    let fatal = matches!(&err, KafkaError::Transaction(e) if e.is_fatal());
    assert!(fatal, "expected a fatal fenced error, got {err:?}");
    let values = read_all(&weir.addr, "fence", 1, "read_committed", 10, Duration::from_secs(3));
    assert_eq!(values, vec!["f".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_transaction_is_aborted_after_its_timeout_and_consumers_move_on() {
    let weir = Weir::start_with(ARGS);
    create_topic(&weir.addr, "abandoned", 1, &[]).await;
    let gone = txn_producer(&weir.addr, "gone");
    gone.begin_transaction().unwrap();
    send(&gone, "abandoned", 0, "g");
    gone.flush(T).unwrap();
    std::mem::forget(gone); // disappears without ending its transaction
    let other = txn_producer(&weir.addr, "other");
    other.begin_transaction().unwrap();
    send(&other, "abandoned", 0, "o");
    other.commit_transaction(T).unwrap();
    // Until the coordinator aborts it (3 s), the open transaction holds the LSO back.
    let started = Instant::now();
    let values = read_all(&weir.addr, "abandoned", 1, "read_committed", 1, Duration::from_secs(15));
    assert_eq!(values, vec!["o".to_string()]);
    assert!(started.elapsed() >= Duration::from_millis(1500), "read before the abort: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_transactions_loses_no_committed_one_and_aborts_the_open_ones() {
    let mut weir = Weir::start_with(ARGS);
    create_topic(&weir.addr, "crash", 2, &[]).await;
    let done = txn_producer(&weir.addr, "done");
    done.begin_transaction().unwrap();
    for i in 0..100 {
        send(&done, "crash", i % 2, &format!("c{i}"));
    }
    done.commit_transaction(T).unwrap();
    let open = txn_producer(&weir.addr, "open");
    open.begin_transaction().unwrap();
    for i in 0..50 {
        send(&open, "crash", i % 2, &format!("a{i}"));
    }
    open.flush(T).unwrap();
    weir.kill();
    std::mem::forget(open);
    weir.restart();
    // The open transaction is aborted after its timeout; then the LSO moves on and
    // a later committed transaction is readable behind it.
    let after = txn_producer(&weir.addr, "after");
    after.begin_transaction().unwrap();
    send(&after, "crash", 0, "late");
    after.commit_transaction(T).unwrap();
    let values = read_all(&weir.addr, "crash", 2, "read_committed", 101, Duration::from_secs(20));
    assert_eq!(counts(&values), BTreeMap::from([('c', 100), ('l', 1)]), "{values:?}");
}

/// One worker of a consume-transform-produce pipeline: its own consumer in the
/// group and its own transactional producer; every batch of input is written and
/// its offsets committed in one transaction.
fn ctp_worker(addr: String, n: usize, stop: Arc<AtomicBool>, crash_after: Option<usize>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .set("group.id", "ctp")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        // A crashed worker's threads keep heartbeating (its memory is leaked, not
        // freed); without polls it is removed after this.
        .set("max.poll.interval.ms", "8000")
        .set("fetch.wait.max.ms", "100")
        .create()
        .unwrap();
    consumer.subscribe(&["ctp-in"]).unwrap();
    let producer = txn_producer(&addr, &format!("ctp-worker-{n}"));
    let mut batches = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut batch = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(200);
        while batch.len() < 500 && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(m)) => batch.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap()),
                Some(Err(e)) => eprintln!("worker {n}: consume: {e}"),
                None => {}
            }
        }
        if batch.is_empty() {
            continue;
        }
        let result = (|| -> Result<(), KafkaError> {
            producer.begin_transaction()?;
            for v in &batch {
                send(&producer, "ctp-out", 0, &format!("out-{v}"));
            }
            if crash_after == Some(batches) {
                producer.flush(T)?;
                return Err(KafkaError::Canceled); // dies mid-transaction
            }
            let positions = consumer.position()?;
            producer.send_offsets_to_transaction(&positions, &consumer.group_metadata().unwrap(), T)?;
            producer.commit_transaction(T)
        })();
        batches += 1;
        match result {
            Ok(()) => {}
            Err(KafkaError::Canceled) => {
                // A crash: nothing ends the transaction, nobody leaves the group.
                std::mem::forget(producer);
                std::mem::forget(consumer);
                return;
            }
            Err(e) => {
                // Abortable (e.g. a rebalance fenced the offsets): abort and
                // re-read from the group's committed offsets.
                eprintln!("worker {n}: transaction failed ({e}); aborting and rewinding");
                producer.abort_transaction(T).expect("abort");
                let assigned = consumer.assignment().unwrap();
                let committed = consumer.committed_offsets(assigned, T).unwrap();
                for e in committed.elements() {
                    let off = if e.offset() == Offset::Invalid { Offset::Beginning } else { e.offset() };
                    let _ = consumer.seek(e.topic(), e.partition(), off, T);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_transform_produce_is_exactly_once_through_a_crash_and_a_join() {
    const N: usize = 100_000;
    let weir = Weir::start_with(ARGS);
    create_topic(&weir.addr, "ctp-in", 6, &[]).await;
    create_topic(&weir.addr, "ctp-out", 1, &[]).await;
    let input = plain_producer(&weir.addr);
    for i in 0..N {
        send(&input, "ctp-in", (i % 6) as i32, &format!("{i}"));
    }
    input.flush(T).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let spawn = |n: usize, crash: Option<usize>| {
        let (addr, stop) = (weir.addr.clone(), stop.clone());
        std::thread::spawn(move || ctp_worker(addr, n, stop, crash))
    };
    let mut workers = vec![spawn(0, None), spawn(1, None), spawn(2, Some(3))];
    std::thread::sleep(Duration::from_secs(4));
    workers.push(spawn(3, None)); // joins while the others work
    let out = read_all(&weir.addr, "ctp-out", 1, "read_committed", N, Duration::from_secs(40));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for v in &out {
        *seen.entry(v.as_str()).or_default() += 1;
    }
    let dupes: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(dupes.is_empty(), "written twice: {dupes:?}");
    assert_eq!(seen.len(), N, "every input record once");
    // The committed offsets are the input's end offsets.
    let c = reader(&weir.addr, "read_committed");
    let mut tpl = TopicPartitionList::new();
    for p in 0..6 {
        tpl.add_partition("ctp-in", p);
    }
    let cfg_group: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", &weir.addr).set("group.id", "ctp").create().unwrap();
    let committed = cfg_group.committed_offsets(tpl, T).unwrap();
    let total: i64 = committed.elements().iter().map(|e| e.offset().to_raw().unwrap_or(0)).sum();
    assert_eq!(total, N as i64);
    drop(c);
}

/// `__transaction_state` and the markers, decoded with Kafka's schemas (written
/// out here from Kafka's message definitions, not shared with the broker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transaction_log_and_markers_follow_kafkas_schemas() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::RecordBatchDecoder;

    let weir = Weir::start_with(ARGS);
    create_topic(&weir.addr, "schemas", 1, &[]).await;
    let p = txn_producer(&weir.addr, "schema-check");
    p.begin_transaction().unwrap();
    send(&p, "schemas", 0, "x");
    p.commit_transaction(T).unwrap();

    let mut s = wire::connect(&weir);
    let fetch =
        |s: &mut std::net::TcpStream, topic: &str, partitions: i32| -> Vec<kafka_protocol::records::Record> {
            let req = FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_topics(vec![
                FetchTopic::default().with_topic(TopicName(StrBytes::from_string(topic.into()))).with_partitions(
                    (0..partitions)
                        .map(|p| FetchPartition::default().with_partition(p).with_partition_max_bytes(1 << 20))
                        .collect(),
                ),
            ]);
            let r: FetchResponse = wire::call(s, ApiKey::Fetch, 11, &req);
            let mut out = Vec::new();
            for pd in &r.responses[0].partitions {
                let mut b = pd.records.clone().unwrap_or_default();
                for set in RecordBatchDecoder::decode_all(&mut b).unwrap() {
                    out.extend(set.records);
                }
            }
            out
        };
    // The data partition: the record, then a commit marker (control, key version 0
    // type 1; value version 0, coordinator epoch).
    let recs = fetch(&mut s, "schemas", 1);
    assert_eq!(recs.len(), 2);
    let marker = &recs[1];
    assert!(marker.control && marker.transactional);
    assert_eq!(marker.producer_id, recs[0].producer_id);
    assert_eq!(&marker.key.as_ref().unwrap()[..], &[0, 0, 0, 1]);
    assert_eq!(&marker.value.as_ref().unwrap()[..2], &[0, 0]);
    // __transaction_state: TransactionLogKey v0 / TransactionLogValue v0.
    let states: Vec<(String, i8, usize)> = fetch(&mut s, "__transaction_state", 50)
        .into_iter()
        .filter_map(|r| {
            let k = r.key?;
            assert_eq!(i16::from_be_bytes([k[0], k[1]]), 0, "key version");
            let len = i16::from_be_bytes([k[2], k[3]]) as usize;
            let id = String::from_utf8(k[4..4 + len].to_vec()).unwrap();
            let v = r.value?;
            assert_eq!(i16::from_be_bytes([v[0], v[1]]), 0, "value version");
            let status = v[16] as i8; // after producer id (8), epoch (2), timeout (4)
            let topics = i32::from_be_bytes(v[17..21].try_into().unwrap());
            Some((id, status, topics.max(0) as usize))
        })
        .filter(|(id, ..)| id == "schema-check")
        .collect();
    // Empty (init) -> Ongoing (partition added) -> PrepareCommit -> CompleteCommit.
    let statuses: Vec<i8> = states.iter().map(|s| s.1).collect();
    assert_eq!(statuses, vec![0, 1, 2, 4], "{states:?}");
    assert_eq!(states[1].2, 1, "the ongoing transaction lists its topic");
    assert_eq!(states[3].2, 0, "a completed one lists none");
}
