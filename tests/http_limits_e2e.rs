//! The schema registry's and the console's HTTP listeners against clients that
//! misbehave: a connection that sends nothing, headers that never end, a body
//! announced and not sent, headers or a body over their bounds, and JSON that
//! does not parse. Each gets its answer (or its connection closed) in the
//! API's own error form, and the server goes on serving. Raw sockets, so the
//! test sees exactly what the server sends.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::http::{self, Reply};
use common::Weir;
use serde_json::json;

/// The idle timeout both listeners run with here.
const IDLE_MS: &str = "400";

fn weir() -> Weir {
    Weir::start_with(&[
        "--set",
        &format!("registry.idle.timeout.ms={IDLE_MS}"),
        "--set",
        &format!("console.idle.timeout.ms={IDLE_MS}"),
    ])
}

/// A POST whose headers announce 100 bytes of body, of which a few are sent.
fn stalled_body(addr: &str, path: &str) -> Reply {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"sch"
    );
    http::exchange(addr, head.as_bytes())
}

/// Whether the server closes a connection on which `sent` was written, well
/// within the test's patience.
fn closed_after(addr: &str, sent: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(sent).unwrap();
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn idle_connections_and_unfinished_headers_are_closed() {
    let w = weir();
    for addr in [&w.registry, &w.console] {
        assert!(closed_after(addr, b""), "{addr}: a connection that sends nothing is closed");
        assert!(closed_after(addr, b"GET /subjects HTTP/1.1\r\nHost: x\r\n"), "{addr}: headers that never end");
        // A connection kept alive after its request is closed once idle too.
        let mut s = TcpStream::connect(addr.as_str()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(format!("GET /subjects HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
        let mut buf = Vec::new();
        let end = s.read_to_end(&mut buf);
        assert!(end.is_ok(), "{addr}: a kept-alive connection is closed when idle: {end:?}");
        assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 "), "{addr}: it was answered first");
    }
    assert_eq!(http::get(&w.registry, "/subjects").status, 200, "the registry still serves");
}

#[test]
fn a_body_not_sent_in_time_is_answered_408_in_each_apis_form() {
    let w = weir();
    let confluent = stalled_body(&w.registry, "/subjects/orders-value/versions");
    assert_eq!((confluent.status, confluent.error_code()), (408, 408), "{}", confluent.body);
    assert!(confluent.json()["message"].as_str().unwrap().contains(&format!("within {IDLE_MS} ms")));
    let cloudera = stalled_body(&w.registry, "/api/v1/schemaregistry/schemas");
    assert_eq!((cloudera.status, cloudera.json()["responseCode"].as_i64()), (408, Some(1110)), "{}", cloudera.body);
    let console = stalled_body(&w.console, "/api/v1/topics");
    assert_eq!((console.status, console.json()["error_code"].as_str()), (408, Some("REQUEST_TIMEOUT")));
    // Nothing was registered or created by the halves.
    assert_eq!(http::get(&w.registry, "/subjects").json(), json!([]));
    let ok = http::post(&w.registry, "/subjects/orders-value/versions", &json!({"schema": "\"string\""}));
    assert_eq!((ok.status, ok.json()["id"].as_i64()), (200, Some(1)), "{}", ok.body);
}

#[test]
fn oversize_headers_and_bodies_are_refused_and_bad_json_gets_its_error_code() {
    let w = weir();
    // Headers over the bound: 431, from either listener.
    for addr in [&w.registry, &w.console] {
        let big = format!("GET /subjects HTTP/1.1\r\nHost: {addr}\r\nX-Filler: {}\r\n\r\n", "a".repeat(40 * 1024));
        let reply = http::exchange(addr, big.as_bytes());
        assert_eq!(reply.status, 431, "{addr}");
    }
    // A body announced over 2 MiB: 413 before any of it is read.
    let huge = |addr: &str, path: &str| {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            3 << 20
        );
        http::exchange(addr, head.as_bytes())
    };
    let confluent = huge(&w.registry, "/subjects/a/versions");
    assert_eq!((confluent.status, confluent.error_code()), (413, 413), "{}", confluent.body);
    let cloudera = huge(&w.registry, "/api/v1/schemaregistry/schemas");
    assert_eq!((cloudera.status, cloudera.json()["responseCode"].as_i64()), (413, Some(1110)), "{}", cloudera.body);
    let console = huge(&w.console, "/api/v1/topics");
    assert_eq!((console.status, console.json()["error_code"].as_str()), (413, Some("REQUEST_TOO_LARGE")));
    // JSON that does not parse is 400 (Confluent's rest-utils), JSON of the wrong
    // shape the registry's 422.
    for (bad, code) in
        [(&b"{\"schema\": "[..], 400), (b"{\"schema\" 1}", 400), (b"[1, 2]", 422), (b"{\"schema\": 5}", 422)]
    {
        let r = http::request_raw(&w.registry, "POST", "/subjects/a/versions", "application/json", bad);
        assert_eq!((r.status, r.error_code()), (code, code as i64), "{}: {}", String::from_utf8_lossy(bad), r.body);
    }
    let r = http::request_raw(&w.registry, "POST", "/api/v1/schemaregistry/schemas", "application/json", b"{");
    assert_eq!((r.status, r.json()["responseCode"].as_i64()), (400, Some(1110)), "{}", r.body);
    // A schema that does not parse is the registry's own 42201.
    let r = http::post(&w.registry, "/subjects/a/versions", &json!({"schema": "{\"type\": \"record\""}));
    assert_eq!((r.status, r.error_code()), (422, 42201), "{}", r.body);
    assert_eq!(http::get(&w.registry, "/subjects").json(), json!([]), "nothing was registered");
}
