//! The server side of SASL/SCRAM (RFC 5802, RFC 7677), as Kafka speaks it:
//!
//! ```text
//! client-first  n,[a=authzid],n=user,r=cnonce[,ext=value...]
//! server-first  r=cnonce+snonce,s=base64(salt),i=iterations
//! client-final  c=base64(gs2-header),r=cnonce+snonce,p=base64(ClientProof)
//! server-final  v=base64(ServerSignature)
//! ```
//!
//! ClientProof is ClientKey XOR HMAC(StoredKey, AuthMessage), so the server checks
//! H(ClientKey) = StoredKey without ever knowing the password. No channel binding
//! (`p=` is refused). An unknown user gets a made-up salt (keyed by the broker's
//! secret, so the same on every try) and fails where a wrong password fails,
//! with the same message: the exchange does not tell which users exist. Kafka's
//! `tokenauth` extension (delegation tokens) is refused.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac};

use super::{Exchange, Mechanism, Verdict};
use crate::handle::BrokerHandle;
use crate::scram::{ScramCredential, MIN_ITERATIONS, SCRAM_SHA_256, SCRAM_SHA_512};

/// What the server remembers between the two client messages.
pub(crate) struct AwaitingFinal {
    mechanism: Mechanism,
    user: String,
    credential: ScramCredential,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    /// The client's nonce followed by the server's.
    nonce: String,
    client_nonce_len: usize,
}

fn algorithms(m: Mechanism) -> (hmac::Algorithm, &'static digest::Algorithm) {
    match m {
        Mechanism::ScramSha512 => (hmac::HMAC_SHA512, &digest::SHA512),
        _ => (hmac::HMAC_SHA256, &digest::SHA256),
    }
}

fn mac(m: Mechanism, key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(algorithms(m).0, key), msg).as_ref().to_vec()
}

/// Equal contents, compared in time independent of where they differ.
pub(crate) fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn failed(m: Mechanism) -> Verdict {
    Verdict::Failure(format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        m.name()
    ))
}

/// RFC 5802 `saslname`: `=2C` is `,` and `=3D` is `=`; any other `=` is invalid.
fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// The client-first message: answers with server-first, or refuses.
pub(super) fn first(broker: &BrokerHandle, secret: &[u8], m: Mechanism, token: &[u8]) -> Verdict {
    let bad = |why: &str| Verdict::Failure(format!("Invalid SCRAM client first message: {why}"));
    let Ok(text) = std::str::from_utf8(token) else { return bad("not UTF-8") };
    let mut gs2 = text.splitn(3, ',');
    let (Some(flag), Some(authzid), Some(bare)) = (gs2.next(), gs2.next(), gs2.next()) else {
        return bad("no GS2 header");
    };
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return bad("channel binding is not supported"),
        _ => return bad("invalid GS2 channel binding flag"),
    }
    let mut attrs = bare.split(',');
    let (Some(user_attr), Some(nonce_attr)) = (attrs.next(), attrs.next()) else { return bad("missing attributes") };
    let Some(user) = user_attr.strip_prefix("n=").and_then(unescape).filter(|u| !u.is_empty()) else {
        return bad("invalid user name");
    };
    let Some(client_nonce) = nonce_attr.strip_prefix("r=").filter(|n| !n.is_empty()) else {
        return bad("invalid nonce");
    };
    for ext in attrs {
        match ext.split_once('=') {
            Some(("tokenauth", v)) if v.eq_ignore_ascii_case("true") => {
                return Verdict::Failure("Authentication failed: delegation tokens are not supported".into())
            }
            Some((k, _)) if !k.is_empty() => {}
            _ => return bad("invalid extension"),
        }
    }
    if !authzid.is_empty() {
        match authzid.strip_prefix("a=").and_then(unescape) {
            Some(a) if a == user => {}
            _ => {
                return Verdict::Failure(
                    "Authentication failed: Client requested an authorization id that is different from username"
                        .into(),
                )
            }
        }
    }
    let code = if m == Mechanism::ScramSha512 { SCRAM_SHA_512 } else { SCRAM_SHA_256 };
    let credential = broker.scram_credential(&user, code).unwrap_or_else(|| {
        // Keys that match no proof: the client fails at its final message.
        let salt = mac(Mechanism::ScramSha256, secret, format!("{code}:{user}").as_bytes())[..16].to_vec();
        let noise = super::random::<64>();
        let len = algorithms(m).1.output_len();
        ScramCredential {
            salt,
            stored_key: noise[..len].to_vec(),
            server_key: noise[..len].to_vec(),
            iterations: MIN_ITERATIONS,
        }
    });
    let nonce = format!("{client_nonce}{}", B64.encode(super::random::<18>()));
    let server_first = format!("r={nonce},s={},i={}", B64.encode(&credential.salt), credential.iterations);
    let token = server_first.clone().into_bytes();
    Verdict::Continue(
        token,
        Exchange::Scram(Box::new(AwaitingFinal {
            mechanism: m,
            user,
            credential,
            gs2_header: format!("{flag},{authzid},"),
            client_first_bare: bare.to_string(),
            server_first,
            client_nonce_len: client_nonce.len(),
            nonce,
        })),
    )
}

impl AwaitingFinal {
    /// The client-final message: the proof is checked; server-final on success.
    pub(super) fn finish(self, token: &[u8]) -> Verdict {
        let m = self.mechanism;
        let bad = |why: &str| Verdict::Failure(format!("Invalid SCRAM client final message: {why}"));
        let Ok(text) = std::str::from_utf8(token) else { return bad("not UTF-8") };
        let Some((without_proof, proof)) = text.rsplit_once(",p=") else { return bad("no proof") };
        let mut attrs = without_proof.split(',');
        let (Some(binding), Some(nonce)) = (attrs.next(), attrs.next()) else { return bad("missing attributes") };
        match binding.strip_prefix("c=").and_then(|c| B64.decode(c).ok()) {
            Some(c) if c == self.gs2_header.as_bytes() => {}
            _ => return bad("channel binding does not match the GS2 header"),
        }
        let client_nonce = &self.nonce[..self.client_nonce_len];
        match nonce.strip_prefix("r=") {
            Some(n) if n == self.nonce => {}
            // librdkafka before 2.6.1 (Debian's kcat among its users) puts its own
            // nonce before the whole server nonce again; Kafka 3.8.1-3.9 accepted
            // that (it checked the ending), Kafka 4 refuses those clients. The
            // server's fresh nonce is still required, so a replay still fails.
            Some(n) if n.strip_prefix(client_nonce) == Some(self.nonce.as_str()) => {}
            _ => return bad("nonce does not match the server's"),
        }
        let Ok(proof) = B64.decode(proof) else { return bad("proof is not base64") };
        let auth_message = format!("{},{},{}", self.client_first_bare, self.server_first, without_proof);
        let signature = mac(m, &self.credential.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return failed(m);
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        let stored = digest::digest(algorithms(m).1, &client_key);
        if !equal(stored.as_ref(), &self.credential.stored_key) {
            return failed(m);
        }
        let server_signature = mac(m, &self.credential.server_key, auth_message.as_bytes());
        let token = format!("v={}", B64.encode(server_signature)).into_bytes();
        Verdict::Success { user: self.user, token, expires_at_ms: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saslnames_unescape() {
        assert_eq!(unescape("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(unescape("plain").as_deref(), Some("plain"));
        assert_eq!(unescape("bad=2"), None);
        assert_eq!(unescape("bad=41"), None);
    }

    /// RFC 7677 section 3, checked through `finish` with the RFC's nonces.
    #[test]
    fn the_rfc_7677_exchange_verifies_and_signs_as_the_rfc_says() {
        let salted = (0..64)
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(&"c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d"[i..i + 2], 16)
                    .unwrap()
            })
            .collect::<Vec<u8>>();
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = ScramCredential::derive(SCRAM_SHA_256, &salt, &salted, 4096).unwrap();
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let state = || AwaitingFinal {
            mechanism: Mechanism::ScramSha256,
            user: "user".into(),
            credential: credential.clone(),
            gs2_header: "n,,".into(),
            client_first_bare: "n=user,r=rOprNGfwEbeRWgbNEkqO".into(),
            server_first: format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
            nonce: nonce.into(),
            client_nonce_len: "rOprNGfwEbeRWgbNEkqO".len(),
        };
        let final_msg = format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        match state().finish(final_msg.as_bytes()) {
            Verdict::Success { user, token, .. } => {
                assert_eq!(user, "user");
                assert_eq!(String::from_utf8(token).unwrap(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
            }
            _ => panic!("the RFC's proof is valid"),
        }
        let wrong = format!("c=biws,r={nonce},p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert!(matches!(state().finish(wrong.as_bytes()), Verdict::Failure(m) if m.contains("invalid credentials")));
        let other_nonce = "c=biws,r=rOprNGfwEbeRWgbNEkqOxx,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert!(matches!(state().finish(other_nonce.as_bytes()), Verdict::Failure(m) if m.contains("nonce")));
        let other_binding = format!("c=eSws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert!(matches!(state().finish(other_binding.as_bytes()), Verdict::Failure(m) if m.contains("binding")));
    }
}
