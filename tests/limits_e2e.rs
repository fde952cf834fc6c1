//! Connection limits with Kafka's names: `max.connections.per.ip` closes the
//! connections over it, `max.connections` (the broker's, and a listener's
//! `listener.name.<listener>.max.connections`) makes new clients wait until one
//! closes, `connections.max.idle.ms` closes silent connections and ones that
//! stop mid-request. Raw sockets, so the test sees exactly what the broker does.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{wire, Weir};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};

/// Sends ApiVersions; whether an answer came back.
fn answered(s: &mut TcpStream) -> bool {
    s.write_all(&wire::frame(ApiKey::ApiVersions, 0, 7, &ApiVersionsRequest::default())).is_ok()
        && wire::read_frame(s).is_some()
}

/// Whether the broker closed the connection (EOF or reset) within the socket's read timeout.
fn closed_by_broker(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// `c` has sent a request: it is not answered while `holder` is open, and is
/// once it closes.
fn answered_only_after(c: &mut TcpStream, holder: TcpStream, what: &str) {
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let waited = c.read(&mut [0u8; 1]).unwrap_err();
    assert!(matches!(waited.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{waited}");
    drop(holder);
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert!(wire::read_frame(c).is_some(), "{what}");
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn connections_over_the_per_address_limit_are_closed() {
    let w = Weir::start_with(&["--set", "max.connections.per.ip=2"]);
    let mut a = wire::connect(&w);
    let mut b = wire::connect(&w);
    assert!(answered(&mut a) && answered(&mut b));
    let mut c = wire::connect(&w);
    assert!(closed_by_broker(&mut c), "a third connection from 127.0.0.1 is closed");
    // A closed connection gives its place back.
    drop(a);
    until("a new connection is served once one closed", || answered(&mut wire::connect(&w)));
    assert!(answered(&mut b), "the connections within the limit were never disturbed");
    let metrics = common::http::get(&w.console, "/metrics").body;
    assert!(metrics.contains("weir_kafka_connections_refused_total{"), "{metrics}");
}

#[test]
fn at_the_broker_limit_new_clients_wait_for_a_close() {
    let w = Weir::start_with(&["--set", "max.connections=2"]);
    let mut a = wire::connect(&w);
    let mut b = wire::connect(&w);
    assert!(answered(&mut a) && answered(&mut b));
    // The third waits in the backlog: not refused, not answered.
    let mut c = wire::connect(&w);
    c.write_all(&wire::frame(ApiKey::ApiVersions, 0, 7, &ApiVersionsRequest::default())).unwrap();
    answered_only_after(&mut c, a, "served once a connection closed");
}

#[test]
fn a_listener_at_its_own_limit_makes_its_clients_wait_and_leaves_the_others_alone() {
    let internal = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let w = Weir::start_with(&[
        "--set",
        &format!("listeners=PLAINTEXT://:9092,INTERNAL://{internal}"),
        "--set",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
        "--set",
        "listener.name.internal.max.connections=1",
    ]);
    let connect_internal = || {
        let s = TcpStream::connect(&internal).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    };
    let mut a = connect_internal();
    assert!(answered(&mut a));
    let mut b = connect_internal();
    b.write_all(&wire::frame(ApiKey::ApiVersions, 0, 7, &ApiVersionsRequest::default())).unwrap();
    // The other listener has no limit of its own.
    let (mut c, mut d) = (wire::connect(&w), wire::connect(&w));
    assert!(answered(&mut c) && answered(&mut d), "PLAINTEXT serves while INTERNAL is full");
    answered_only_after(&mut b, a, "INTERNAL serves its second client once the first closed");
}

#[test]
fn idle_and_stalled_connections_are_closed() {
    let w = Weir::start_with(&["--set", "connections.max.idle.ms=300"]);
    let mut idle = wire::connect(&w);
    assert!(answered(&mut idle));
    assert!(closed_by_broker(&mut idle), "silent after its request: closed");
    // A frame header and then nothing: closed too.
    let mut stalled = wire::connect(&w);
    stalled.write_all(&100i32.to_be_bytes()).unwrap();
    stalled.write_all(&[0, 18]).unwrap();
    assert!(closed_by_broker(&mut stalled), "stalled mid-request: closed");
}

#[test]
fn request_memory_is_bounded_across_connections() {
    use kafka_protocol::protocol::StrBytes;
    let w = Weir::start_with(&["--set", "queued.max.request.bytes=2048"]);
    // A holds 2000 of the 2048 bytes: a frame announced, its body not all sent.
    let mut a = wire::connect(&w);
    a.write_all(&2000i32.to_be_bytes()).unwrap();
    a.write_all(&[0u8; 100]).unwrap();
    until("the broker holds A's 2000 bytes", || {
        common::http::get(&w.console, "/metrics").body.contains("weir_kafka_request_bytes_held 2000")
    });
    // A small request still fits beside it.
    let mut b = wire::connect(&w);
    assert!(answered(&mut b), "a request within what is left is served");
    // A larger one waits, unread, until A's bytes are given back.
    let big = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_string("a".repeat(200)))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    let mut c = wire::connect(&w);
    c.write_all(&wire::frame(ApiKey::ApiVersions, 3, 7, &big)).unwrap();
    answered_only_after(&mut c, a, "served once the memory was released");
}

/// A field of `/proc/<pid>/status` in bytes (VmRSS, VmHWM: kB there).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb = status.lines().find_map(|l| l.strip_prefix(field)?.trim_start_matches(':').split_whitespace().next());
    kb.unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn a_flood_of_large_produces_keeps_memory_under_the_bound_and_others_are_served() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    const BOUND: u64 = 16 << 20;
    const CONNECTIONS: usize = 24;
    const REQUESTS: usize = 3;
    let w = Weir::start_with(&["--set", &format!("queued.max.request.bytes={BOUND}")]);
    let mut admin = wire::connect(&w);
    wire::create_topic(&mut admin, "flood", 1, &[]);
    assert_eq!(wire::produce(&mut admin, "flood", wire::one_batch(&[b"first"])), (0, 0));
    let before = proc_status_bytes(w.pid(), "VmRSS");
    // Each request: six batches of one 1,000,000-byte record (under max.message.bytes).
    let value = vec![b'f'; 1_000_000];
    let records = wire::batch(&[&value[..]; 6]).freeze();
    let req = ProduceRequest::default().with_acks(1).with_timeout_ms(30_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("flood")))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))]),
    ]);
    let frame = wire::frame(ApiKey::Produce, 9, 7, &req).freeze();
    let flooders: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (frame, mut s) = (frame.clone(), wire::connect(&w));
            std::thread::spawn(move || {
                // Pipelined, as a producer with max.in.flight does, and read afterwards.
                for _ in 0..REQUESTS {
                    s.write_all(&frame).unwrap();
                }
                (0..REQUESTS).filter(|_| wire::read_frame(&mut s).is_some()).count()
            })
        })
        .collect();
    // Meanwhile a small client is served.
    for i in 0..5 {
        assert!(answered(&mut admin), "ApiVersions {i} answered during the flood");
    }
    let (code, _) = wire::produce(&mut admin, "flood", wire::one_batch(&[b"small"]));
    assert_eq!(code, 0, "a small produce is served during the flood");
    let answered_all: usize = flooders.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(answered_all, CONNECTIONS * REQUESTS, "every large produce was answered");
    let peak = proc_status_bytes(w.pid(), "VmHWM");
    let offered = (CONNECTIONS * REQUESTS * frame.len()) as u64;
    // The bound counts request bytes; the slack is everything else a produce
    // allocates (response buffers, the allocator's own rounding).
    let growth = peak.saturating_sub(before);
    assert!(
        growth < BOUND + (48 << 20),
        "resident memory grew {} MiB under a {} MiB bound ({} MiB offered at once)",
        growth >> 20,
        BOUND >> 20,
        offered >> 20
    );
}
