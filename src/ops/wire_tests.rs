//! The SCRAM client against a made-up broker that answers as told: what a
//! real broker never sends (a low iteration count, a wrong signature, `e=`)
//! must stop the client.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{Sasl, Security, Wire};

/// Serves one connection: ApiVersions, SaslHandshake, then the SCRAM answers
/// `server_first` (a format string taking the client's nonce) and `server_final`.
async fn broker(listener: TcpListener, server_first: &'static str, server_final: &'static str) {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut authenticates = 0;
    loop {
        let Ok(size) = s.read_i32().await else { return };
        let mut buf = vec![0u8; size as usize];
        s.read_exact(&mut buf).await.unwrap();
        let mut b = Bytes::from(buf);
        let (key, version) = (i16::from_be_bytes([b[0], b[1]]), i16::from_be_bytes([b[2], b[3]]));
        let key = ApiKey::try_from(key).unwrap();
        let header = RequestHeader::decode(&mut b, key.request_header_version(version)).unwrap();
        let mut body = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut body, key.response_header_version(version))
            .unwrap();
        match key {
            ApiKey::ApiVersions => {
                let keys = [(ApiKey::ApiVersions, 3), (ApiKey::SaslHandshake, 1), (ApiKey::SaslAuthenticate, 2)];
                ApiVersionsResponse::default()
                    .with_api_keys(
                        keys.iter()
                            .map(|(k, max)| ApiVersion::default().with_api_key(*k as i16).with_max_version(*max))
                            .collect(),
                    )
                    .encode(&mut body, version)
                    .unwrap();
            }
            ApiKey::SaslHandshake => SaslHandshakeResponse::default().encode(&mut body, version).unwrap(),
            ApiKey::SaslAuthenticate => {
                let req = SaslAuthenticateRequest::decode(&mut b, version).unwrap();
                authenticates += 1;
                let answer = if authenticates == 1 {
                    let first = String::from_utf8(req.auth_bytes.to_vec()).unwrap();
                    let nonce = first.split(",r=").nth(1).unwrap().to_string();
                    server_first.replace("{nonce}", &nonce)
                } else {
                    server_final.to_string()
                };
                SaslAuthenticateResponse::default()
                    .with_auth_bytes(Bytes::from(answer.into_bytes()))
                    .encode(&mut body, version)
                    .unwrap();
            }
            _ => return,
        }
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        s.write_all(&frame).await.unwrap();
    }
}

async fn attempt(server_first: &'static str, server_final: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let served = tokio::spawn(broker(listener, server_first, server_final));
    let security = Security {
        tls: None,
        sasl: Some(Sasl::Scram { mechanism: 1, name: "SCRAM-SHA-256", user: "ops".into(), password: "secret".into() }),
    };
    let out = Wire::connect(&security, &addr, std::time::Duration::from_secs(10)).await;
    served.abort();
    match out {
        Ok(_) => "connected".into(),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn the_scram_client_refuses_what_a_real_broker_never_sends() {
    let first = "r={nonce}srv,s=c2FsdA==,i=4096";
    let e = attempt("r={nonce}srv,s=c2FsdA==,i=1", "v=AAAA").await;
    assert!(e.contains("the server asks for 1 iterations, outside 4096-16384"), "{e}");
    let e = attempt(first, "v=AAAA").await;
    assert!(e.contains("the server's signature does not match"), "{e}");
    let e = attempt(first, "e=invalid-proof").await;
    assert!(e.contains("authentication failed: invalid-proof"), "{e}");
    let e = attempt("r=someone-else,s=c2FsdA==,i=4096", "v=AAAA").await;
    assert!(e.contains("nonce does not extend ours"), "{e}");
}
