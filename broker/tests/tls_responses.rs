//! Large responses over TLS to a slow reader: a client with a small receive
//! buffer, reading slowly, fetches 8 MiB over SSL and gets all of it without
//! sending anything more. (The TLS stream buffers what the socket cannot take;
//! the connection flushes it when it has nothing more to write:
//! `net::connection`'s unit test checks that contract deterministically.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, RequestHeader, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use weir_broker::topics::CreateTopic;
use weir_broker::{Broker, BrokerConfig, BrokerOptions};
use weir_storage::testutil::simple_batch;

// The broker's provider (ring); rustls deprecates it for its lack of post-quantum key exchange.
#[allow(deprecated)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_response_over_tls_arrives_whole_without_another_request() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let keystore = dir.path().join("broker.pem");
    std::fs::write(&keystore, format!("{}{}", cert.key_pair.serialize_pem(), cert.cert.pem())).unwrap();
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0").unwrap();
    config.set("ssl.keystore.location", keystore.to_str().unwrap()).unwrap();
    config.set("log.flush.interval.messages", "9223372036854775807").unwrap();
    let data = dir.path().join("data");
    let broker = Broker::start(BrokerOptions { data_dir: data, kafka_addr: None, config }).await.unwrap();
    let h = broker.handle().clone();
    let create = CreateTopic {
        name: "big".into(),
        partitions: 1,
        replication_factor: -1,
        assignments: vec![],
        configs: BTreeMap::new(),
    };
    h.topics().create(create, false).unwrap();
    let p = h.partitions().get("big", 0).unwrap();
    for _ in 0..80 {
        p.append_from_client(&simple_batch(100, 1024, 0), 1, None, None).unwrap();
    }
    let ssl = h.cluster().endpoints()[1].bound;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    let tcp = socket.connect(ssl).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await.unwrap();

    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(64 << 20)
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("big")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(64 << 20)])]);
    let version = 11;
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Fetch as i16)
        .with_request_api_version(version)
        .with_correlation_id(3);
    let mut body = BytesMut::new();
    header.encode(&mut body, ApiKey::Fetch.request_header_version(version)).unwrap();
    req.encode(&mut body, version).unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    s.write_all(&frame).await.unwrap();
    s.flush().await.unwrap();
    // A slow reader: the broker's socket stays full, up to its last write.
    let read = async {
        let len = s.read_i32().await.unwrap() as usize;
        let mut buf = vec![0u8; len];
        let mut at = 0;
        while at < len {
            let end = (at + 16 * 1024).min(len);
            let n = s.read(&mut buf[at..end]).await.unwrap();
            assert!(n > 0, "the broker closed the connection");
            at += n;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        buf
    };
    let buf = tokio::time::timeout(Duration::from_secs(20), read).await.expect("the whole response arrives");
    let mut b = Bytes::from(buf);
    let hdr = ResponseHeader::decode(&mut b, ApiKey::Fetch.response_header_version(version)).unwrap();
    assert_eq!(hdr.correlation_id, 3);
    let resp = FetchResponse::decode(&mut b, version).unwrap();
    assert_eq!(b.remaining(), 0);
    let records = resp.responses[0].partitions[0].records.as_ref().expect("records");
    assert!(records.len() > 8_000_000, "{} bytes of records", records.len());
    drop(s);
    broker.shutdown().await.unwrap();
}
