//! The SCRAM client against a made-up broker that answers as told: what a
//! real broker never sends (a low iteration count, a wrong signature, `e=`)
//! must stop the client.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Cluster, Sasl, Security, Wire};

/// Answers each request on `s` with what `answer` encodes (given the key, the
/// version and the request body) until it answers nothing or the client goes.
async fn serve(mut s: TcpStream, mut answer: impl FnMut(ApiKey, i16, &mut Bytes, &mut BytesMut) -> bool) {
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
        if !answer(key, version, &mut b, &mut body) {
            return;
        }
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        s.write_all(&frame).await.unwrap();
    }
}

/// An ApiVersions answer serving `keys` (key, max version) from v0.
fn versions(keys: &[(ApiKey, i16)], body: &mut BytesMut, version: i16) {
    ApiVersionsResponse::default()
        .with_api_keys(
            keys.iter().map(|(k, max)| ApiVersion::default().with_api_key(*k as i16).with_max_version(*max)).collect(),
        )
        .encode(body, version)
        .unwrap();
}

/// Serves one connection: ApiVersions, SaslHandshake, then the SCRAM answers
/// `server_first` (a format string taking the client's nonce) and `server_final`.
async fn broker(listener: TcpListener, server_first: &'static str, server_final: &'static str) {
    let (s, _) = listener.accept().await.unwrap();
    let mut authenticates = 0;
    serve(s, |key, version, b, body| {
        match key {
            ApiKey::ApiVersions => {
                let keys = [(ApiKey::ApiVersions, 3), (ApiKey::SaslHandshake, 1), (ApiKey::SaslAuthenticate, 2)];
                versions(&keys, body, version);
            }
            ApiKey::SaslHandshake => SaslHandshakeResponse::default().encode(body, version).unwrap(),
            ApiKey::SaslAuthenticate => {
                let req = SaslAuthenticateRequest::decode(b, version).unwrap();
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
                    .encode(body, version)
                    .unwrap();
            }
            _ => return false,
        }
        true
    })
    .await
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

/// A coordinator that is loading for its first `loading` ShareGroupDescribes
/// (COORDINATOR_LOAD_IN_PROGRESS), then answers; how often the client asked
/// FindCoordinator and ShareGroupDescribe.
async fn loading_coordinator(loading: usize, timeout_ms: u64) -> (i16, usize, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (finds, describes) = (std::sync::Arc::new(AtomicUsize::new(0)), std::sync::Arc::new(AtomicUsize::new(0)));
    let (f, d) = (finds.clone(), describes.clone());
    let served = tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            let (f, d) = (f.clone(), d.clone());
            tokio::spawn(serve(s, move |key, version, _, body| {
                match key {
                    ApiKey::ApiVersions => {
                        versions(&[(ApiKey::FindCoordinator, 4), (ApiKey::ShareGroupDescribe, 1)], body, version)
                    }
                    ApiKey::FindCoordinator => {
                        f.fetch_add(1, SeqCst);
                        let c = find_coordinator_response::Coordinator::default()
                            .with_host(StrBytes::from_string(addr.ip().to_string()))
                            .with_port(addr.port() as i32);
                        FindCoordinatorResponse::default().with_coordinators(vec![c]).encode(body, version).unwrap();
                    }
                    ApiKey::ShareGroupDescribe => {
                        let code = if d.fetch_add(1, SeqCst) < loading { 14 } else { 0 };
                        let g = share_group_describe_response::DescribedGroup::default().with_error_code(code);
                        ShareGroupDescribeResponse::default().with_groups(vec![g]).encode(body, version).unwrap();
                    }
                    _ => return false,
                }
                true
            }));
        }
    });
    let timeout = std::time::Duration::from_millis(timeout_ms);
    let security = Security { tls: None, sasl: None };
    let bootstrap = Wire::connect(&security, &addr.to_string(), timeout).await.unwrap();
    let mut cluster = Cluster { security, timeout, bootstrap, coordinator: None };
    let req = ShareGroupDescribeRequest::default();
    let r: ShareGroupDescribeResponse = cluster
        .group_call("g", ApiKey::ShareGroupDescribe, 1, &req, |r: &ShareGroupDescribeResponse| r.groups[0].error_code)
        .await
        .unwrap();
    served.abort();
    (r.groups[0].error_code, finds.load(SeqCst), describes.load(SeqCst))
}

#[tokio::test]
async fn group_calls_are_asked_again_while_the_coordinator_loads() {
    // Each time the coordinator is found again.
    assert_eq!(loading_coordinator(2, 10_000).await, (0, 3, 3));
    // Until the timeout: then the caller has the last answer to report.
    let (code, finds, describes) = loading_coordinator(usize::MAX, 600).await;
    assert_eq!(code, 14);
    assert!(describes > 1 && finds == describes, "{finds} finds, {describes} describes");
}
