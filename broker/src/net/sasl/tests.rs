//! The connection's authentication as a client sees it: the phases, SCRAM and
//! PLAIN against credentials in a real metadata log, failures, re-authentication.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use kafka_protocol::messages::ApiKey;
use ring::{digest, hmac};

use super::*;
use crate::config::BrokerConfig;

struct Fixture {
    _dir: tempfile::TempDir,
    broker: BrokerHandle,
    server: Arc<SaslServer>,
}

fn fixture(reauth_ms: i64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn weir_storage::Clock> = Arc::new(weir_storage::SystemClock);
    let broker = BrokerHandle::open(dir.path(), BrokerConfig::default(), clock, vec![]).unwrap();
    let users = [("alice".to_string(), "alice-secret".to_string()), ("b,o=b".to_string(), "pw".to_string())];
    assert_eq!(broker.bootstrap_users(&users).unwrap(), 4);
    assert_eq!(broker.bootstrap_users(&users).unwrap(), 0, "a second start creates nothing");
    let settings = SaslSettings::from_keys(|k| match k {
        "sasl.enabled.mechanisms" => "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".into(),
        "connections.max.reauth.ms" => reauth_ms.to_string(),
        "connection.failed.authentication.delay.ms" => "0".into(),
        "sasl.server.max.receive.size" => "524288".into(),
        _ => String::new(),
    })
    .unwrap();
    Fixture { _dir: dir, broker, server: Arc::new(SaslServer::new(settings).unwrap()) }
}

impl Fixture {
    fn conn(&self) -> ConnSasl {
        ConnSasl::new(self.server.clone(), "127.0.0.1".parse().unwrap())
    }
}

fn admitted(c: &ConnSasl, key: ApiKey) -> bool {
    matches!(c.admit(key as i16), Admit::Dispatch)
}

/// A SCRAM client (RFC 5802), run against the connection; the server's final message checked.
async fn scram(f: &Fixture, c: &ConnSasl, m: Mechanism, user: &str, password: &str) -> Step {
    scram_nonce(f, c, m, user, password, false).await
}

/// `doubled`: the final nonce as librdkafka before 2.6.1 sends it (its own nonce, then the server's whole one).
async fn scram_nonce(f: &Fixture, c: &ConnSasl, m: Mechanism, user: &str, password: &str, doubled: bool) -> Step {
    assert!(matches!(c.handshake(m.name(), false), Handshake::Ok));
    let escaped = user.replace('=', "=3D").replace(',', "=2C");
    let bare = format!("n={escaped},r=clientnonce123");
    let server_first = match c.authenticate(&f.broker, format!("n,,{bare}").as_bytes()).await {
        Step::Continue(t) => String::from_utf8(t).unwrap(),
        other => return other,
    };
    let attr = |k: &str| server_first.split(',').find_map(|a| a.strip_prefix(k)).unwrap().to_string();
    let (nonce, salt, iterations) = (attr("r="), B64.decode(attr("s=")).unwrap(), attr("i=").parse::<u32>().unwrap());
    assert!(nonce.starts_with("clientnonce123") && nonce.len() > 14);
    let (h, d, len) = match m {
        Mechanism::ScramSha512 => (hmac::HMAC_SHA512, &digest::SHA512, 64),
        _ => (hmac::HMAC_SHA256, &digest::SHA256, 32),
    };
    let pbkdf2 = if len == 64 { ring::pbkdf2::PBKDF2_HMAC_SHA512 } else { ring::pbkdf2::PBKDF2_HMAC_SHA256 };
    let mut salted = vec![0u8; len];
    ring::pbkdf2::derive(pbkdf2, iterations.try_into().unwrap(), &salt, password.as_bytes(), &mut salted);
    let sign = |key: &[u8], msg: &[u8]| hmac::sign(&hmac::Key::new(h, key), msg).as_ref().to_vec();
    let client_key = sign(&salted, b"Client Key");
    let stored_key = digest::digest(d, &client_key);
    let without_proof = match doubled {
        false => format!("c=biws,r={nonce}"),
        true => format!("c=biws,r=clientnonce123{nonce}"),
    };
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = sign(stored_key.as_ref(), auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    let step = c.authenticate(&f.broker, format!("{without_proof},p={}", B64.encode(proof)).as_bytes()).await;
    if let Step::Done { token, .. } = &step {
        let server_key = sign(&salted, b"Server Key");
        let expected = format!("v={}", B64.encode(sign(&server_key, auth_message.as_bytes())));
        assert_eq!(String::from_utf8(token.clone()).unwrap(), expected, "the server proves it knows the key");
    }
    step
}

#[tokio::test]
async fn scram_sha_256_and_512_authenticate_bootstrap_users() {
    let f = fixture(0);
    for m in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
        for (user, password) in [("alice", "alice-secret"), ("b,o=b", "pw")] {
            let c = f.conn();
            assert!(admitted(&c, ApiKey::ApiVersions) && !admitted(&c, ApiKey::Metadata), "only the handshake first");
            assert!(c.principal().is_none());
            let step = scram(&f, &c, m, user, password).await;
            assert!(matches!(step, Step::Done { session_lifetime_ms: 0, .. }), "{m:?} {user}");
            assert_eq!(c.principal().unwrap().to_string(), format!("User:{user}"));
            assert!(admitted(&c, ApiKey::Metadata) && admitted(&c, ApiKey::Produce));
            assert!(matches!(c.authenticate(&f.broker, b"again").await, Step::IllegalState(_)));
        }
    }
}

#[tokio::test]
async fn old_librdkafka_s_doubled_final_nonce_is_accepted_but_not_a_made_up_one() {
    let f = fixture(0);
    let c = f.conn();
    assert!(matches!(
        scram_nonce(&f, &c, Mechanism::ScramSha256, "alice", "alice-secret", true).await,
        Step::Done { .. }
    ));
    // A final message that leaves out the server's nonce fails.
    let c = f.conn();
    assert!(matches!(c.handshake("SCRAM-SHA-256", false), Handshake::Ok));
    assert!(matches!(c.authenticate(&f.broker, b"n,,n=alice,r=abc").await, Step::Continue(_)));
    let step = c.authenticate(&f.broker, b"c=biws,r=abcabc,p=AAAA").await;
    assert!(matches!(step, Step::Failed { message, .. } if message.contains("nonce")));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_fail_alike() {
    let f = fixture(0);
    let mut messages = Vec::new();
    for (user, password) in [("alice", "wrong"), ("mallory", "alice-secret")] {
        let c = f.conn();
        match scram(&f, &c, Mechanism::ScramSha256, user, password).await {
            Step::Failed { message, .. } => messages.push(message),
            _ => panic!("{user} must fail"),
        }
        assert!(c.principal().is_none());
        assert!(matches!(c.admit(ApiKey::Metadata as i16), Admit::Close(_)), "closed after a failure");
    }
    assert_eq!(messages[0], messages[1], "the answer does not tell which users exist");
    assert!(messages[0].contains("invalid credentials with SASL mechanism SCRAM-SHA-256"));
}

#[tokio::test]
async fn plain_logins_check_the_scram_credential() {
    let f = fixture(0);
    let c = f.conn();
    assert!(matches!(c.handshake("PLAIN", false), Handshake::Ok));
    assert!(matches!(c.authenticate(&f.broker, b"\0alice\0alice-secret").await, Step::Done { .. }));
    assert_eq!(c.principal().unwrap().name, "alice");
    for bad in [&b"\0alice\0nope"[..], b"\0nobody\0alice-secret", b"garbage"] {
        let c = f.conn();
        assert!(matches!(c.handshake("PLAIN", true), Handshake::Ok));
        assert!(matches!(c.admit(ApiKey::Metadata as i16), Admit::RawToken), "v0: bare tokens follow");
        assert!(matches!(c.authenticate(&f.broker, bad).await, Step::Failed { .. }));
    }
}

#[tokio::test]
async fn unknown_mechanisms_and_out_of_turn_requests_are_refused() {
    let f = fixture(0);
    let c = f.conn();
    assert!(matches!(c.handshake("GSSAPI", false), Handshake::Unsupported));
    assert!(matches!(c.admit(ApiKey::SaslHandshake as i16), Admit::Close(_)));
    let c = f.conn();
    assert!(matches!(c.authenticate(&f.broker, b"x").await, Step::IllegalState(_)), "no handshake yet");
    assert!(matches!(c.handshake("SCRAM-SHA-256", false), Handshake::Ok));
    assert!(matches!(c.admit(ApiKey::Fetch as i16), Admit::Close(_)), "the exchange first");
    assert!(matches!(c.handshake("SCRAM-SHA-256", false), Handshake::IllegalState(_)));
    assert_eq!(f.conn().max_frame(100 << 20), 524288, "small frames until authenticated");
}

#[tokio::test]
async fn sessions_expire_and_re_authenticate_with_the_same_principal() {
    let f = fixture(60_000);
    let c = f.conn();
    match scram(&f, &c, Mechanism::ScramSha512, "alice", "alice-secret").await {
        Step::Done { session_lifetime_ms, .. } => assert_eq!(session_lifetime_ms, 60_000),
        _ => panic!("authenticates"),
    }
    assert_eq!(c.max_frame(100 << 20), 100 << 20);
    // Re-authentication with another mechanism is refused; with the same one it extends the session.
    assert!(matches!(c.handshake("SCRAM-SHA-256", false), Handshake::Unsupported));
    let c = f.conn();
    assert!(matches!(scram(&f, &c, Mechanism::ScramSha512, "alice", "alice-secret").await, Step::Done { .. }));
    c.state.lock().expires = Some(std::time::Instant::now() - Duration::from_millis(1));
    assert!(matches!(c.admit(ApiKey::Produce as i16), Admit::Close(m) if m.contains("expired")));
    assert!(admitted(&c, ApiKey::SaslHandshake), "an expired session may still re-authenticate");
    assert!(matches!(scram(&f, &c, Mechanism::ScramSha512, "alice", "alice-secret").await, Step::Done { .. }));
    assert!(admitted(&c, ApiKey::Produce), "re-authenticated");
    // Another user on the same connection: refused, and the connection is done.
    let step = scram(&f, &c, Mechanism::ScramSha512, "b,o=b", "pw").await;
    assert!(matches!(step, Step::Failed { message, .. } if message.contains("Cannot change principals")));
    assert!(matches!(c.admit(ApiKey::Produce as i16), Admit::Close(_)));
}

#[test]
fn settings_refuse_what_is_not_served() {
    let with = |mechs: &str| {
        SaslSettings::from_keys(|k| match k {
            "sasl.enabled.mechanisms" => mechs.into(),
            "connections.max.reauth.ms" | "connection.failed.authentication.delay.ms" => "0".into(),
            "sasl.server.max.receive.size" => "524288".into(),
            _ => String::new(),
        })
    };
    assert!(with("GSSAPI").unwrap_err().to_string().contains("GSSAPI is not served"));
    assert!(with("").unwrap_err().to_string().contains("at least one mechanism"));
    assert!(with("OAUTHBEARER").unwrap_err().to_string().contains("sasl.oauthbearer.jwks.endpoint.url"));
    assert_eq!(with("SCRAM-SHA-512, PLAIN").unwrap().mechanisms, vec![Mechanism::ScramSha512, Mechanism::Plain]);
}
