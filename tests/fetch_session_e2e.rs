//! Incremental fetch sessions (KIP-227) on the wire, as the Java client and
//! kafka-python use them: a full fetch opens a session, incremental fetches name
//! only what changed and get back only partitions with something new, Kafka's
//! session errors, forgetting, closing (answered at once), topic ids, and a full cache evicting a
//! session that its client then recreates.

mod common;

use std::net::TcpStream;

use common::{http, wire, Weir};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
const FETCH_SESSION_TOPIC_ID_ERROR: i16 = 106;
const UNKNOWN_TOPIC_ID: i16 = 100;

/// How a request names its topic: by name (v12) or by id (v13+).
#[derive(Clone, Copy)]
enum Named<'a> {
    Name(&'a str),
    Id(Uuid),
}

struct Fetch<'a> {
    version: i16,
    topic: Named<'a>,
    session_id: i32,
    epoch: i32,
    /// (partition, fetch offset) to send.
    partitions: Vec<(i32, i64)>,
    forget: Vec<i32>,
    max_wait_ms: i32,
}

impl Fetch<'_> {
    fn send(&self, s: &mut TcpStream) -> FetchResponse {
        let mut topic = FetchTopic::default().with_partitions(
            self.partitions
                .iter()
                .map(|&(p, o)| {
                    FetchPartition::default().with_partition(p).with_fetch_offset(o).with_partition_max_bytes(1 << 20)
                })
                .collect(),
        );
        let mut forgotten = ForgottenTopic::default().with_partitions(self.forget.clone());
        match self.topic {
            Named::Name(n) => {
                topic = topic.with_topic(TopicName(StrBytes::from_string(n.into())));
                forgotten = forgotten.with_topic(TopicName(StrBytes::from_string(n.into())));
            }
            Named::Id(id) => {
                topic = topic.with_topic_id(id);
                forgotten = forgotten.with_topic_id(id);
            }
        }
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(self.max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_id(self.session_id)
            .with_session_epoch(self.epoch)
            .with_topics(if self.partitions.is_empty() { vec![] } else { vec![topic] })
            .with_forgotten_topics_data(if self.forget.is_empty() { vec![] } else { vec![forgotten] });
        wire::call(s, ApiKey::Fetch, self.version, &req)
    }
}

/// (partition, record bytes) of each partition in the answer, in order.
fn answered(r: &FetchResponse) -> Vec<(i32, usize)> {
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.records.as_ref().map_or(0, |b| b.len()))))
        .collect()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

fn metric(weir: &Weir, series: &str) -> f64 {
    sample(&http::get(&weir.console, "/metrics").body, series).unwrap_or(0.0)
}

#[test]
fn incremental_fetches_send_and_receive_only_what_changed() {
    let weir = Weir::start();
    let mut s = wire::connect(&weir);
    wire::create_topic(&mut s, "fs", 3, &[]);
    wire::produce_to(&mut s, "fs", 0, wire::one_batch(&[b"a0", b"a1"]));
    wire::produce_to(&mut s, "fs", 1, wire::one_batch(&[b"b0"]));
    let fetch = |session_id, epoch, partitions: Vec<(i32, i64)>, forget: Vec<i32>, max_wait_ms| Fetch {
        version: 12,
        topic: Named::Name("fs"),
        session_id,
        epoch,
        partitions,
        forget,
        max_wait_ms,
    };

    // A full fetch with epoch 0 opens a session and answers every partition.
    let r = fetch(0, 0, vec![(0, 0), (1, 0), (2, 0)], vec![], 0).send(&mut s);
    assert_eq!(r.error_code, 0);
    let id = r.session_id;
    assert!(id > 0, "a session was created");
    let got = answered(&r);
    assert_eq!(got.iter().map(|a| a.0).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(got[0].1 > 0 && got[1].1 > 0 && got[2].1 == 0);
    assert_eq!(metric(&weir, "weir_fetch_sessions"), 1.0);
    assert_eq!(metric(&weir, "weir_fetch_session_partitions"), 3.0);

    // The client moves its offsets: nothing is new, so nothing is answered.
    let r = fetch(id, 1, vec![(0, 2), (1, 1)], vec![], 0).send(&mut s);
    assert_eq!((r.error_code, r.session_id), (0, id));
    assert_eq!(answered(&r), [], "no partition has anything new");

    // An append to partition 2 wakes the session's long poll, and only partition 2
    // is answered, although the request names no partition at all.
    let mut producer = wire::connect(&weir);
    let waiting = std::thread::spawn(move || (fetch(id, 2, vec![], vec![], 30_000).send(&mut s), s));
    std::thread::sleep(std::time::Duration::from_millis(200));
    wire::produce_to(&mut producer, "fs", 2, wire::one_batch(&[b"c0"]));
    let (r, mut s) = waiting.join().unwrap();
    let got = answered(&r);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].0 == 2 && got[0].1 > 0);

    // Kafka's session errors: the same epoch again, an unknown session.
    let r = fetch(id, 2, vec![], vec![], 0).send(&mut s);
    assert_eq!((r.error_code, r.session_id, r.responses.len()), (INVALID_FETCH_SESSION_EPOCH, 0, 0));
    let r = fetch(id.wrapping_add(1).max(1), 1, vec![], vec![], 0).send(&mut s);
    assert_eq!(r.error_code, FETCH_SESSION_ID_NOT_FOUND);

    // Forgotten partitions leave the session: an append to one is not answered.
    let r = fetch(id, 3, vec![(2, 1)], vec![0, 1], 0).send(&mut s);
    assert_eq!((r.error_code, answered(&r)), (0, vec![]));
    assert_eq!(metric(&weir, "weir_fetch_session_partitions"), 1.0);
    wire::produce_to(&mut producer, "fs", 0, wire::one_batch(&[b"a2"]));
    let r = fetch(id, 4, vec![], vec![], 0).send(&mut s);
    assert_eq!(answered(&r), []);

    // Epoch -1 closes the session and fetches without one.
    let r = fetch(id, -1, vec![(0, 2)], vec![], 0).send(&mut s);
    assert_eq!((r.error_code, r.session_id), (0, 0));
    assert_eq!(answered(&r).len(), 1);
    assert_eq!(fetch(id, 5, vec![], vec![], 0).send(&mut s).error_code, FETCH_SESSION_ID_NOT_FOUND);
    assert_eq!(metric(&weir, "weir_fetch_sessions"), 0.0);

    // The Java consumer closes its session with nothing to fetch and waits for
    // the answer: it comes at once, not after max_wait_ms (which is past this
    // socket's 30 s read timeout).
    let r = fetch(0, 0, vec![(0, 3)], vec![], 0).send(&mut s);
    let r = fetch(r.session_id, -1, vec![], vec![], 120_000).send(&mut s);
    assert_eq!((r.error_code, answered(&r)), (0, vec![]));
}

#[test]
fn sessions_by_topic_id_stay_by_topic_id() {
    let weir = Weir::start();
    let mut s = wire::connect(&weir);
    wire::create_topic(&mut s, "ids", 2, &[]);
    let meta: MetadataResponse = wire::call(
        &mut s,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(vec![metadata_request::MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("ids"))))])),
    );
    let id = meta.topics[0].topic_id;
    let fetch = |version, topic, session_id, epoch, partitions| Fetch {
        version,
        topic,
        session_id,
        epoch,
        partitions,
        forget: vec![],
        max_wait_ms: 0,
    };

    let r = fetch(13, Named::Id(id), 0, 0, vec![(0, 0), (1, 0)]).send(&mut s);
    assert!(r.session_id > 0);
    assert_eq!(r.responses[0].topic_id, id);
    assert_eq!(answered(&r).len(), 2);
    let session = r.session_id;
    // Naming topics by name in a session made with ids is Kafka's
    // FETCH_SESSION_TOPIC_ID_ERROR.
    let r = fetch(12, Named::Name("ids"), session, 1, vec![]).send(&mut s);
    assert_eq!(r.error_code, FETCH_SESSION_TOPIC_ID_ERROR);
    // A topic id the broker does not know, added to the session, is answered with
    // UNKNOWN_TOPIC_ID; the partitions that did not change are left out.
    let unknown = Uuid::from_u128(42);
    let r = fetch(13, Named::Id(unknown), session, 1, vec![(0, 0)]).send(&mut s);
    assert_eq!(r.error_code, 0);
    assert_eq!(r.responses.len(), 1);
    assert_eq!(r.responses[0].topic_id, unknown);
    assert_eq!(r.responses[0].partitions[0].error_code, UNKNOWN_TOPIC_ID);
}

#[test]
fn a_full_cache_evicts_and_the_evicted_client_gets_a_session_again() {
    // One slot; sessions older than one second may be evicted.
    let weir = Weir::start_with(&[
        "--set",
        "max.incremental.fetch.session.cache.slots=1",
        "--set",
        "min.incremental.fetch.session.eviction.ms=1000",
    ]);
    let mut a = wire::connect(&weir);
    let mut b = wire::connect(&weir);
    wire::create_topic(&mut a, "ev", 4, &[]);
    let fetch = |session_id, epoch, partitions: &[i32]| Fetch {
        version: 12,
        topic: Named::Name("ev"),
        session_id,
        epoch,
        partitions: partitions.iter().map(|&p| (p, 0)).collect(),
        forget: vec![],
        max_wait_ms: 0,
    };

    let first = fetch(0, 0, &[0]).send(&mut a).session_id;
    assert!(first > 0);
    // The slot is taken by a young session: a newcomer gets none and fetches
    // without one (every partition answered, session id 0).
    let r = fetch(0, 0, &[1, 2, 3]).send(&mut b);
    assert_eq!((r.session_id, answered(&r).len()), (0, 3));

    // Once the first is older than the eviction time, a bigger newcomer takes
    // its slot even though the first is in use.
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    assert_eq!(fetch(first, 1, &[]).send(&mut a).error_code, 0);
    let second = fetch(0, 0, &[1, 2, 3]).send(&mut b).session_id;
    assert!(second > 0);
    assert_eq!(metric(&weir, "weir_fetch_session_evictions_total"), 1.0);

    // The evicted client is told, starts over with a full fetch, and gets no slot
    // while the other session is young and bigger.
    assert_eq!(fetch(first, 2, &[]).send(&mut a).error_code, FETCH_SESSION_ID_NOT_FOUND);
    assert_eq!(fetch(0, 0, &[0]).send(&mut a).session_id, 0);
    // When the other session has gone unused for longer than the eviction
    // time, the client's next full fetch gets a session again.
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let again = fetch(0, 0, &[0]).send(&mut a).session_id;
    assert!(again > 0 && again != first);
    assert_eq!(fetch(second, 1, &[]).send(&mut b).error_code, FETCH_SESSION_ID_NOT_FOUND);
    assert_eq!(metric(&weir, "weir_fetch_session_evictions_total"), 2.0);
    assert_eq!(fetch(again, 1, &[]).send(&mut a).error_code, 0);
}
