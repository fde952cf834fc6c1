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
        let p = self.ec.public_key().as_ref();
        json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "ec1", "use": "sig",
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
    v.keys.lock().checked -= RECHECK;
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
    assert!(with("https://idp/jwks").unwrap_err().to_string().contains("not fetched"));
    assert_eq!(with("file:///etc/jwks.json").unwrap().jwks, PathBuf::from("/etc/jwks.json"));
    assert_eq!(with("/etc/jwks.json").unwrap().sub_claim, "sub");
}
