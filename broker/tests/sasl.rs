//! SASL listeners at the protocol level, for what the client suites do not
//! reach: SaslHandshake v0 with bare tokens, requests before authentication,
//! oversized frames before authentication, the failure answer and close, and
//! SaslHandshake on a PLAINTEXT listener.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_broker::{Broker, BrokerConfig, BrokerOptions};

struct Conn(TcpStream);

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Conn {
        Conn(TcpStream::connect(addr).await.unwrap())
    }

    async fn send<Req: Encodable>(&mut self, key: ApiKey, version: i16, req: &Req) {
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(11)
            .with_client_id(Some(StrBytes::from_static_str("sasl-test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, key.request_header_version(version)).unwrap();
        req.encode(&mut body, version).unwrap();
        self.raw(&body).await;
    }

    async fn raw(&mut self, body: &[u8]) {
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(body);
        self.0.write_all(&frame).await.unwrap();
    }

    /// The next frame, or None when the broker closed the connection.
    async fn frame(&mut self) -> Option<Bytes> {
        let len = self.0.read_i32().await.ok()? as usize;
        let mut buf = vec![0u8; len];
        self.0.read_exact(&mut buf).await.ok()?;
        Some(Bytes::from(buf))
    }

    async fn recv<Resp: Decodable>(&mut self, key: ApiKey, version: i16) -> Resp {
        let mut b = self.frame().await.expect("a response");
        let h = ResponseHeader::decode(&mut b, key.response_header_version(version)).unwrap();
        assert_eq!(h.correlation_id, 11);
        let resp = Resp::decode(&mut b, version).unwrap();
        assert_eq!(b.remaining(), 0);
        resp
    }

    async fn call<Req: Encodable, Resp: Decodable>(&mut self, key: ApiKey, version: i16, req: &Req) -> Resp {
        self.send(key, version, req).await;
        self.recv(key, version).await
    }

    async fn closed(&mut self) -> bool {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.frame()).await.expect("closed in time").is_none()
    }
}

async fn start() -> (Broker, std::net::SocketAddr, std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("bootstrap.users", "alice:alice-secret").unwrap();
    config.set("sasl.server.max.receive.size", "1024").unwrap();
    config.set("connection.failed.authentication.delay.ms", "10").unwrap();
    let broker =
        Broker::start(BrokerOptions { data_dir: dir.path().to_path_buf(), kafka_addr: None, config }).await.unwrap();
    let endpoints = broker.handle().cluster().endpoints().to_vec();
    (broker, endpoints[0].bound, endpoints[1].bound, dir)
}

fn handshake(mechanism: &'static str) -> SaslHandshakeRequest {
    SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism))
}

#[tokio::test]
async fn handshake_v0_takes_bare_tokens_then_requests_flow() {
    let (broker, _, sasl, _dir) = start().await;
    let mut c = Conn::open(sasl).await;
    let v: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).await;
    assert_eq!(v.error_code, 0, "ApiVersions is answered before authentication");
    let h: SaslHandshakeResponse = c.call(ApiKey::SaslHandshake, 0, &handshake("PLAIN")).await;
    assert_eq!(h.error_code, 0);
    let names: Vec<&str> = h.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(names, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    c.raw(b"\0alice\0alice-secret").await;
    assert_eq!(c.frame().await.expect("a bare answer").len(), 0, "PLAIN answers with an empty token");
    let m: MetadataResponse = c.call(ApiKey::Metadata, 12, &MetadataRequest::default()).await;
    assert_eq!(m.brokers.len(), 1, "authenticated: requests flow");
    // v0 with a wrong password: no way to answer in a bare frame, the connection closes.
    let mut c = Conn::open(sasl).await;
    let _: SaslHandshakeResponse = c.call(ApiKey::SaslHandshake, 0, &handshake("PLAIN")).await;
    c.raw(b"\0alice\0nope").await;
    assert!(c.closed().await);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failed_authentication_is_answered_then_closed() {
    let (broker, _, sasl, _dir) = start().await;
    let mut c = Conn::open(sasl).await;
    let h: SaslHandshakeResponse = c.call(ApiKey::SaslHandshake, 1, &handshake("PLAIN")).await;
    assert_eq!(h.error_code, 0);
    let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0alice\0nope"));
    let r: SaslAuthenticateResponse = c.call(ApiKey::SaslAuthenticate, 2, &req).await;
    assert_eq!(r.error_code, 58, "SASL_AUTHENTICATION_FAILED");
    assert_eq!(r.error_message.as_deref(), Some("Authentication failed: Invalid username or password"));
    assert!(c.closed().await);
    // An unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the ones served, then closed.
    let mut c = Conn::open(sasl).await;
    let h: SaslHandshakeResponse = c.call(ApiKey::SaslHandshake, 1, &handshake("GSSAPI")).await;
    assert_eq!((h.error_code, h.mechanisms.len()), (33, 3));
    c.send(ApiKey::Metadata, 12, &MetadataRequest::default()).await;
    assert!(c.closed().await);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn nothing_but_the_handshake_before_authentication() {
    let (broker, plain, sasl, _dir) = start().await;
    let mut c = Conn::open(sasl).await;
    c.send(ApiKey::Metadata, 12, &MetadataRequest::default()).await;
    assert!(c.closed().await, "a request before authentication closes the connection");
    let mut c = Conn::open(sasl).await;
    c.raw(&vec![0u8; 2000]).await;
    assert!(c.closed().await, "a frame above sasl.server.max.receive.size before authentication");
    // The PLAINTEXT listener beside it: no SASL there (Kafka's answer), everything else served.
    let mut c = Conn::open(plain).await;
    let h: SaslHandshakeResponse = c.call(ApiKey::SaslHandshake, 1, &handshake("PLAIN")).await;
    assert_eq!(h.error_code, 34, "ILLEGAL_SASL_STATE");
    let m: MetadataResponse = c.call(ApiKey::Metadata, 12, &MetadataRequest::default()).await;
    assert_eq!(m.brokers.len(), 1);
    broker.shutdown().await.unwrap();
}
