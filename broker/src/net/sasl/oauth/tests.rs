use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use super::*;

struct Issuer {
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
}

impl Issuer {
    fn new() -> Issuer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
        Issuer { ec, ed }
    }

    fn jwks(&self) -> String {
        self.jwks_with_kid("ec1")
    }

    /// The set with the EC key under `ec_kid`.
    fn jwks_with_kid(&self, ec_kid: &str) -> String {
        let p = self.ec.public_key().as_ref();
        json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": ec_kid, "use": "sig",
             "x": B64URL.encode(&p[1..33]), "y": B64URL.encode(&p[33..65])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed1", "x": B64URL.encode(self.ed.public_key().as_ref())},
            {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
        ]})
        .to_string()
    }

    fn token(&self, alg: &str, kid: &str, claims: serde_json::Value) -> String {
        let head = B64URL.encode(json!({"alg": alg, "kid": kid, "typ": "JWT"}).to_string());
        let body = B64URL.encode(claims.to_string());
        let input = format!("{head}.{body}");
        let sig = match alg {
            "ES256" => self.ec.sign(&SystemRandom::new(), input.as_bytes()).unwrap().as_ref().to_vec(),
            _ => self.ed.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", B64URL.encode(sig))
    }
}

fn message(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

fn validator(dir: &std::path::Path, jwks: &str, audience: &str, issuer: &str) -> Validator {
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks).unwrap();
    let url = format!("file://{}", path.display());
    let settings = OAuthSettings::from_keys(&|k: &str| match k {
        "sasl.oauthbearer.jwks.endpoint.url" => url.clone(),
        "sasl.oauthbearer.expected.audience" => audience.to_string(),
        "sasl.oauthbearer.expected.issuer" => issuer.to_string(),
        "sasl.oauthbearer.clock.skew.seconds" => "30".to_string(),
        _ => String::new(),
    })
    .unwrap();
    Validator::load(settings).unwrap()
}

const NOW_MS: i64 = 1_800_000_000_000;

#[test]
fn a_signed_token_gives_its_subject_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let iss = Issuer::new();
    let v = validator(dir.path(), &iss.jwks(), "kafka", "https://idp");
    let claims = json!({"sub": "alice", "exp": NOW_MS / 1000 + 600, "iss": "https://idp", "aud": ["other", "kafka"]});
    for (alg, kid) in [("ES256", "ec1"), ("EdDSA", "ed1")] {
        let t = iss.token(alg, kid, claims.clone());
        assert_eq!(v.check(&message(&t), NOW_MS).unwrap(), ("alice".to_string(), NOW_MS + 600_000), "{alg}");
        let with_authzid = format!("n,a=alice,\x01auth=Bearer {t}\x01host=x\x01\x01");
        assert!(v.check(with_authzid.as_bytes(), NOW_MS).is_ok(), "extensions are ignored");
        let other = format!("n,a=bob,\x01auth=Bearer {t}\x01\x01");
        assert!(v.check(other.as_bytes(), NOW_MS).unwrap_err().contains("authorization id (bob)"));
    }
}

#[test]
fn bad_tokens_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let iss = Issuer::new();
    let v = validator(dir.path(), &iss.jwks(), "kafka", "https://idp");
    let base = json!({"sub": "alice", "exp": NOW_MS / 1000 + 600, "iss": "https://idp", "aud": "kafka"});
    let with = |k: &str, val: serde_json::Value| {
        let mut c = base.clone();
        c[k] = val;
        iss.token("ES256", "ec1", c)
    };
    let err = |t: &str| v.check(&message(t), NOW_MS).unwrap_err();
    assert!(err(&with("exp", json!(NOW_MS / 1000 - 31))).contains("expired"));
    assert!(v.check(&message(&with("exp", json!(NOW_MS / 1000 - 29))), NOW_MS).is_ok(), "within the clock skew");
    assert!(err(&with("nbf", json!(NOW_MS / 1000 + 60))).contains("not valid yet"));
    assert!(err(&with("iss", json!("https://evil"))).contains("issuer"));
    assert!(err(&with("aud", json!("other"))).contains("audience"));
    assert!(err(&with("sub", json!(""))).contains("'sub' claim"));
    let mut no_exp = base.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert!(err(&iss.token("ES256", "ec1", no_exp)).contains("'exp'"));
    // Signed by another key, or with a kid the set does not have.
    let stranger = Issuer::new();
    assert!(err(&stranger.token("ES256", "ec1", base.clone())).contains("does not verify"));
    assert!(err(&iss.token("ES256", "nope", base.clone())).contains("no key with kid 'nope'"));
    // Unsigned, HMAC, tampered claims.
    let head = B64URL.encode(r#"{"alg":"none"}"#);
    let body = B64URL.encode(base.to_string());
    assert!(err(&format!("{head}.{body}.")).contains("'none'"));
    let good = with("sub", json!("alice"));
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = B64URL.encode(json!({"sub": "admin", "exp": NOW_MS / 1000 + 600}).to_string());
    parts[1] = &forged;
    assert!(err(&parts.join(".")).contains("does not verify"));
    assert!(err("a.b").contains("compact form"));
    assert!(v.check(b"n,,auth=Bearer x", NOW_MS).unwrap_err().contains("RFC 7628"));
    assert!(v.check(b"p=tls-unique,,\x01auth=Bearer x\x01\x01", NOW_MS).unwrap_err().contains("channel binding"));
}

#[test]
fn a_rotated_key_set_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let old = Issuer::new();
    let v = validator(dir.path(), &old.jwks(), "", "");
    let claims = json!({"sub": "svc", "exp": NOW_MS / 1000 + 60});
    let new = Issuer::new();
    assert!(v.check(&message(&new.token("ES256", "ec1", claims.clone())), NOW_MS).is_err());
    std::fs::write(dir.path().join("jwks.json"), new.jwks()).unwrap();
    // Make the change visible to the next look (mtime granularity, RECHECK).
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options().write(true).open(dir.path().join("jwks.json")).unwrap().set_modified(later).unwrap();
    let Source::File { keys, .. } = &v.keys else { panic!("a file source") };
    keys.lock().checked -= RECHECK;
    assert_eq!(v.check(&message(&new.token("ES256", "ec1", claims)), NOW_MS).unwrap().0, "svc");
}

#[test]
fn settings_name_what_is_missing() {
    let with = |url: &str| {
        OAuthSettings::from_keys(&|k: &str| match k {
            "sasl.oauthbearer.jwks.endpoint.url" => url.to_string(),
            "sasl.oauthbearer.clock.skew.seconds" => "30".into(),
            _ => String::new(),
        })
    };
    assert!(with("").unwrap_err().to_string().contains("sasl.oauthbearer.jwks.endpoint.url"));
    assert!(with("https://idp/jwks").unwrap_err().to_string().contains("refresh.ms"), "Kafka's timing keys are read");
    assert!(with("https:///jwks").unwrap_err().to_string().contains("sasl.oauthbearer.jwks.endpoint.url"));
    assert_eq!(with("file:///etc/jwks.json").unwrap().jwks, Jwks::File(PathBuf::from("/etc/jwks.json")));
    assert_eq!(with("/etc/jwks.json").unwrap().sub_claim, "sub");
}

/// A JWKS endpoint for the tests: answers every request with the current
/// (status, body), over TLS when given an acceptor; counts the requests.
struct Endpoint {
    answer: Arc<Mutex<(u16, String)>>,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    url: String,
}

impl Endpoint {
    async fn start(status: u16, body: String, tls: Option<tokio_rustls::TlsAcceptor>) -> Endpoint {
        use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
        async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, status: u16, body: String) {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
            let _ = s.write_all(format!("{head}{body}").as_bytes()).await;
            let _ = s.shutdown().await;
        }
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/realms/test/certs", l.local_addr().unwrap());
        let e = Endpoint { answer: Arc::new(Mutex::new((status, body))), requests: Arc::default(), url };
        let (current, requests) = (e.answer.clone(), e.requests.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = l.accept().await {
                requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (status, body) = current.lock().clone();
                match &tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(tcp).await {
                            answer(s, status, body).await;
                        }
                    }
                    None => answer(tcp, status, body).await,
                }
            }
        });
        e
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn settings(&self) -> OAuthSettings {
        OAuthSettings::from_keys(&|k: &str| match k {
            "sasl.oauthbearer.jwks.endpoint.url" => self.url.clone(),
            "sasl.oauthbearer.clock.skew.seconds" => "30".into(),
            "sasl.oauthbearer.jwks.endpoint.refresh.ms" => "3600000".into(),
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms" => "20".into(),
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms" => "200".into(),
            _ => String::new(),
        })
        .unwrap()
    }
}

/// Checks `token` until it passes or 20 s have gone by; the last answer.
async fn until_accepted(v: &Validator, token: &str) -> Result<(String, i64), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = v.check(&message(token), NOW_MS);
        if r.is_ok() || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn plain_http() -> HttpClient {
    HttpClient::with_roots(tokio_rustls::rustls::RootCertStore::empty())
}

#[tokio::test]
async fn a_key_set_from_an_endpoint_is_fetched_and_fetched_again_for_a_new_key_id() {
    let old = Issuer::new();
    let e = Endpoint::start(200, old.jwks(), None).await;
    let v = Validator::load_with(e.settings(), plain_http).unwrap();
    assert!(v.ready().await, "the first fetch is awaited at start-up");
    let claims = json!({"sub": "svc", "exp": NOW_MS / 1000 + 60});
    assert_eq!(v.check(&message(&old.token("ES256", "ec1", claims.clone())), NOW_MS).unwrap().0, "svc");
    assert_eq!(e.requests(), 1);

    // The provider rotates to a key under a new id: the first token signed with it
    // is refused and asks for the set again; once fetched, it passes.
    let new = Issuer::new();
    e.answer.lock().1 = new.jwks_with_kid("ec2");
    let token = new.token("ES256", "ec2", claims.clone());
    assert!(v.check(&message(&token), NOW_MS).unwrap_err().contains("no key with kid 'ec2'"));
    assert_eq!(until_accepted(&v, &token).await.unwrap().0, "svc");
    assert_eq!(e.requests(), 2);

    // A key id the provider does not have asks once a minute, not per token.
    let stranger = new.token("ES256", "nope", claims);
    for _ in 0..3 {
        assert!(v.check(&message(&stranger), NOW_MS).unwrap_err().contains("'nope'"));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while e.requests() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(e.requests(), 3, "one fetch for the unknown key id");
    tokio::time::sleep(MIN_EARLY_GAP_FOR_TESTS).await;
    assert!(v.check(&message(&stranger), NOW_MS).is_err());
    tokio::time::sleep(MIN_EARLY_GAP_FOR_TESTS).await;
    assert_eq!(e.requests(), 3, "the same key id does not ask again within a minute");
}

/// Longer than the least gap between two early fetches.
const MIN_EARLY_GAP_FOR_TESTS: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn an_endpoint_that_fails_refuses_tokens_with_its_reason_until_it_answers() {
    let iss = Issuer::new();
    let e = Endpoint::start(503, "down".into(), None).await;
    let v = Validator::load_with(e.settings(), plain_http).unwrap();
    assert!(!v.ready().await, "start-up waits at most retry.backoff.max.ms");
    let token = iss.token("ES256", "ec1", json!({"sub": "svc", "exp": NOW_MS / 1000 + 60}));
    let why = v.check(&message(&token), NOW_MS).unwrap_err();
    assert!(why.contains("has not been fetched yet") && why.contains("HTTP 503"), "{why}");
    assert!(e.requests() >= 2, "retried: {}", e.requests());
    // A set that does not parse is an error too; then the provider recovers.
    *e.answer.lock() = (200, "{\"keys\": 1}".into());
    let deadline = Instant::now() + Duration::from_secs(20);
    let why = loop {
        let why = v.check(&message(&token), NOW_MS).unwrap_err();
        if why.contains("'keys' is not an array") || Instant::now() > deadline {
            break why;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(why.contains("'keys' is not an array"), "{why}");
    *e.answer.lock() = (200, iss.jwks());
    assert_eq!(until_accepted(&v, &token).await.unwrap().0, "svc");
}

#[tokio::test]
async fn an_https_endpoint_is_verified_against_the_trusted_roots() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use tokio_rustls::rustls;
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, "test IdP CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = p.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf =
        CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(crate::net::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
    let iss = Issuer::new();
    let e = Endpoint::start(200, iss.jwks(), Some(tokio_rustls::TlsAcceptor::from(Arc::new(server)))).await;
    let token = iss.token("EdDSA", "ed1", json!({"sub": "svc", "exp": NOW_MS / 1000 + 60}));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let trusted = Validator::load_with(e.settings(), || HttpClient::with_roots(roots)).unwrap();
    assert!(trusted.ready().await);
    assert_eq!(trusted.check(&message(&token), NOW_MS).unwrap().0, "svc");

    let untrusted = Validator::load_with(e.settings(), plain_http).unwrap();
    assert!(!untrusted.ready().await);
    let why = untrusted.check(&message(&token), NOW_MS).unwrap_err();
    assert!(why.contains("TLS with") && why.contains("has not been fetched yet"), "{why}");
}
