//! Several listeners at once, with Kafka's `listeners` / `advertised.listeners`
//! semantics: each has its own accept loop, and Metadata and FindCoordinator
//! advertise the listener the client came in on.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_broker::{Broker, BrokerConfig, BrokerOptions};

async fn call<Req: Encodable, Resp: Decodable>(
    addr: std::net::SocketAddr,
    key: ApiKey,
    version: i16,
    req: &Req,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("listeners-test")));
    let mut body = BytesMut::new();
    header.encode(&mut body, key.request_header_version(version)).unwrap();
    req.encode(&mut body, version).unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    s.write_all(&frame).await.unwrap();
    let len = s.read_i32().await.unwrap() as usize;
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await.unwrap();
    let mut b = Bytes::from(buf);
    let h = ResponseHeader::decode(&mut b, key.response_header_version(version)).unwrap();
    assert_eq!(h.correlation_id, 7);
    let resp = Resp::decode(&mut b, version).unwrap();
    assert_eq!(b.remaining(), 0);
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_listener_serves_and_advertises_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0").unwrap();
    config.set("advertised.listeners", "INTERNAL://kafka.internal.example:19093").unwrap();
    config.set("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT").unwrap();
    let broker =
        Broker::start(BrokerOptions { data_dir: dir.path().to_path_buf(), kafka_addr: None, config }).await.unwrap();
    let endpoints = broker.handle().cluster().endpoints().to_vec();
    assert_eq!(endpoints.iter().map(|e| e.listener.as_str()).collect::<Vec<_>>(), ["PLAINTEXT", "INTERNAL"]);
    let (outer, inner) = (endpoints[0].bound, endpoints[1].bound);
    assert_ne!(outer, inner);

    let req = MetadataRequest::default().with_topics(Some(vec![]));
    let m: MetadataResponse = call(outer, ApiKey::Metadata, 12, &req).await;
    assert_eq!((m.brokers[0].host.as_str(), m.brokers[0].port), ("127.0.0.1", outer.port() as i32));
    let m: MetadataResponse = call(inner, ApiKey::Metadata, 12, &req).await;
    assert_eq!((m.brokers[0].host.as_str(), m.brokers[0].port), ("kafka.internal.example", 19093));

    let req = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
    let c: FindCoordinatorResponse = call(inner, ApiKey::FindCoordinator, 3, &req).await;
    assert_eq!((c.host.as_str(), c.port), ("kafka.internal.example", 19093));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_listener_that_is_not_fully_configured_stops_start_up() {
    let refused = |listeners: &'static str| async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::default();
        config.set("listeners", listeners).unwrap();
        config.set("sasl.enabled.mechanisms", "GSSAPI").unwrap();
        Broker::start(BrokerOptions { data_dir: dir.path().to_path_buf(), kafka_addr: None, config })
            .await
            .err()
            .expect("refused")
            .to_string()
    };
    // TLS needs a keystore (SSL, SASL_SSL); SASL mechanisms must be ones served.
    for tls in ["PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "SASL_SSL://127.0.0.1:0"] {
        let e = refused(tls).await;
        assert!(e.contains("ssl.keystore.location"), "{e}");
    }
    let e = refused("PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0").await;
    assert!(e.contains("sasl.enabled.mechanisms: GSSAPI is not served"), "{e}");
}
