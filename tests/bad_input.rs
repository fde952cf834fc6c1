//! Bad input over a raw socket: each gets Kafka's answer, only the offending
//! connection is affected, and the broker keeps serving.

mod common;

use common::wire::*;

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::{Buf, BufMut, BytesMut};
use common::Weir;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};

/// True when the server closed the connection (EOF or reset) without answering.
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

fn api_versions_ok(s: &mut TcpStream) {
    let r: ApiVersionsResponse = call(s, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(r.error_code, 0);
}

#[test]
fn api_versions_advertises_only_what_is_served_and_downgrades_unknown_versions() {
    let weir = Weir::start();
    let mut s = connect(&weir);
    let r: ApiVersionsResponse = call(&mut s, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let keys: Vec<i16> = r.api_keys.iter().map(|k| k.api_key).collect();
    assert!(keys.contains(&(ApiKey::Produce as i16)) && keys.contains(&(ApiKey::Fetch as i16)));
    assert!(keys.contains(&(ApiKey::AddPartitionsToTxn as i16)) && keys.contains(&(ApiKey::EndTxn as i16)));
    // Share groups are served; the share coordinator's inter-broker state APIs
    // and streams groups (KIP-1071, key 88) are not, so not advertised.
    assert!(keys.contains(&(ApiKey::ShareGroupHeartbeat as i16)) && keys.contains(&(ApiKey::ShareFetch as i16)));
    assert!(!keys.contains(&(ApiKey::InitializeShareGroupState as i16)) && !keys.contains(&88));

    // A version from the future: a v0 response with UNSUPPORTED_VERSION and our ranges.
    let mut header = BytesMut::new();
    header.put_i16(ApiKey::ApiVersions as i16);
    header.put_i16(99);
    header.put_i32(5);
    header.put_i16(-1); // null client id
    header.put_u8(0); // empty tagged fields
    let mut f = BytesMut::new();
    f.put_i32(header.len() as i32);
    f.extend_from_slice(&header);
    s.write_all(&f).unwrap();
    let mut resp = read_frame(&mut s).unwrap();
    assert_eq!(resp.get_i32(), 5);
    let v0 = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(v0.error_code, 35);
    assert_eq!(v0.api_keys.len(), r.api_keys.len());
    api_versions_ok(&mut s);
}

#[test]
fn protocol_violations_close_only_their_connection() {
    let weir = Weir::start();
    let mut bystander = connect(&weir);
    api_versions_ok(&mut bystander);

    // Unknown API key.
    let mut s = connect(&weir);
    let mut f = BytesMut::new();
    f.put_i32(10);
    f.put_i16(9999);
    f.put_i16(0);
    f.put_i32(1);
    f.put_i16(-1);
    s.write_all(&f).unwrap();
    assert!(closed(&mut s), "unknown API key closes the connection");

    // Unsupported version of a served API (not ApiVersions).
    let mut s = connect(&weir);
    let mut f = frame(ApiKey::Metadata, 12, 1, &MetadataRequest::default());
    f[6..8].copy_from_slice(&99i16.to_be_bytes());
    s.write_all(&f).unwrap();
    assert!(closed(&mut s));

    // Garbage body for a known API.
    let mut s = connect(&weir);
    let mut f = BytesMut::new();
    f.put_i32(20);
    f.put_i16(ApiKey::Produce as i16);
    f.put_i16(9);
    f.put_i32(3);
    f.put_i16(-1);
    f.put_slice(&[0xff; 10]);
    s.write_all(&f).unwrap();
    assert!(closed(&mut s), "malformed request closes the connection");

    // Random bytes, including a negative size.
    let mut s = connect(&weir);
    s.write_all(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]).unwrap();
    assert!(closed(&mut s));

    // Frame above socket.request.max.bytes: closed without reading the body.
    let mut s = connect(&weir);
    s.write_all(&(200 * 1024 * 1024i32).to_be_bytes()).unwrap();
    assert!(closed(&mut s));

    // Truncated frame: the client gives up half way.
    let mut s = connect(&weir);
    s.write_all(&100i32.to_be_bytes()).unwrap();
    s.write_all(&[0, 3, 0, 9]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed(&mut s));

    // An array length far beyond the frame (CreatePartitions v0 claiming
    // 0x5d000000 topics in 16 bytes): the decoder reserves that capacity before
    // reading, which aborted the process until huge reservations got address
    // space only (broker/src/alloc.rs; found by the request_frame fuzz target).
    let mut s = connect(&weir);
    let mut f = BytesMut::new();
    f.put_i32(12);
    f.put_i16(ApiKey::CreatePartitions as i16);
    f.put_i16(0);
    f.put_i32(25);
    f.put_i16(0);
    f.put_i32(0x5d00_0000);
    s.write_all(&f).unwrap();
    assert!(closed(&mut s), "a frame shorter than its arrays closes the connection");

    // The broker and the other connection never noticed.
    api_versions_ok(&mut bystander);
    api_versions_ok(&mut connect(&weir));
}

#[test]
fn corrupt_and_oversize_batches_are_refused_and_lose_nothing() {
    let weir = Weir::start();
    let mut s = connect(&weir);
    create_topic(&mut s, "t", 1, &[("max.message.bytes", "2000")]);

    assert_eq!(produce(&mut s, "t", batch(&[b"one", b"two"]).freeze()), (0, 0));

    let mut bad = batch(&[b"three"]);
    let last = bad.len() - 1;
    bad[last] ^= 0x55; // payload changed, CRC not
    assert_eq!(produce(&mut s, "t", bad.freeze()).0, 2, "CORRUPT_MESSAGE");

    let big = vec![b'x'; 5000];
    assert_eq!(produce(&mut s, "t", batch(&[&big]).freeze()).0, 10, "MESSAGE_TOO_LARGE");

    let mut torn = batch(&[b"four"]);
    torn.truncate(torn.len() - 3);
    assert_eq!(produce(&mut s, "t", torn.freeze()).0, 2, "a cut-short batch is CORRUPT_MESSAGE");

    assert_eq!(produce(&mut s, "t", batch(&[b"five"]).freeze()), (0, 2), "the log is as before each failure");
    let r: ProduceResponse = {
        let req = ProduceRequest::default().with_acks(1).with_timeout_ms(1000).with_topic_data(vec![
            TopicProduceData::default().with_name(TopicName(StrBytes::from_static_str("missing"))).with_partition_data(
                vec![PartitionProduceData::default().with_index(0).with_records(Some(batch(&[b"x"]).freeze()))],
            ),
        ]);
        call(&mut s, ApiKey::Produce, 9, &req)
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");

    // The coordinators' logs take no client records (they would be applied as
    // coordinator state): INVALID_TOPIC_EXCEPTION, as Kafka's "Cannot append to
    // internal topic".
    for internal in ["__consumer_offsets", "__transaction_state"] {
        assert_eq!(produce(&mut s, internal, batch(&[b"forged"]).freeze()).0, 17, "{internal}");
    }
}
