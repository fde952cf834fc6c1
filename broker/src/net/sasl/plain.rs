//! SASL/PLAIN (RFC 4616): one message, `authzid NUL authcid NUL password`. The
//! password is checked against the user's SCRAM credential (the salted password
//! derived again with its salt and iterations must give its StoredKey), so PLAIN
//! logins need no password store of their own and none is kept in clear. The
//! derivation is deliberately slow (thousands of HMACs): it runs off the async
//! workers.

use super::Verdict;
use crate::handle::BrokerHandle;
use crate::scram::{ScramCredential, SCRAM_SHA_256, SCRAM_SHA_512};

const INVALID: &str = "Authentication failed: Invalid username or password";

/// The user and password of a PLAIN message, or why it is refused.
pub(super) fn parse(token: &[u8]) -> Result<(String, String), String> {
    let text = std::str::from_utf8(token).map_err(|_| "Invalid SASL/PLAIN response: not UTF-8".to_string())?;
    let parts: Vec<&str> = text.split('\0').collect();
    let [authzid, user, password] = parts[..] else {
        return Err(format!("Invalid SASL/PLAIN response: expected 3 tokens, got {}", parts.len()));
    };
    if user.is_empty() {
        return Err("Authentication failed: username not specified".into());
    }
    if password.is_empty() {
        return Err("Authentication failed: password not specified".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Err(
            "Authentication failed: Client requested an authorization id that is different from username".into()
        );
    }
    Ok((user.to_string(), password.to_string()))
}

/// Does `password` give `credential`'s StoredKey?
pub(crate) fn matches(mechanism: i8, credential: &ScramCredential, password: &str) -> bool {
    crate::scram::salted_password(mechanism, password, &credential.salt, credential.iterations)
        .and_then(|salted| ScramCredential::derive(mechanism, &credential.salt, &salted, credential.iterations))
        .is_some_and(|derived| super::scram::equal(&derived.stored_key, &credential.stored_key))
}

pub(super) async fn verify(broker: &BrokerHandle, token: Vec<u8>) -> Verdict {
    let (user, password) = match parse(&token) {
        Ok(up) => up,
        Err(why) => return Verdict::Failure(why),
    };
    // The cheaper derivation when the user has both.
    let credential =
        [SCRAM_SHA_256, SCRAM_SHA_512].into_iter().find_map(|m| broker.scram_credential(&user, m).map(|c| (m, c)));
    let Some((mechanism, credential)) = credential else {
        return Verdict::Failure(INVALID.into());
    };
    let ok = crate::blocking(move || matches(mechanism, &credential, &password)).await;
    match ok {
        true => Verdict::Success { user, token: Vec::new(), expires_at_ms: None },
        false => Verdict::Failure(INVALID.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages_parse_as_kafka_parses_them() {
        assert_eq!(parse(b"\0alice\0secret").unwrap(), ("alice".into(), "secret".into()));
        assert_eq!(parse(b"alice\0alice\0secret").unwrap(), ("alice".into(), "secret".into()));
        assert!(parse(b"bob\0alice\0secret").unwrap_err().contains("authorization id"));
        assert!(parse(b"alice\0secret").unwrap_err().contains("expected 3 tokens, got 2"));
        assert!(parse(b"\0\0secret").unwrap_err().contains("username not specified"));
        assert!(parse(b"\0alice\0").unwrap_err().contains("password not specified"));
        assert!(parse(&[0, b'a', 0, 0xff]).is_err());
    }

    #[test]
    fn a_password_matches_the_credential_derived_from_it_only() {
        for mechanism in [SCRAM_SHA_256, SCRAM_SHA_512] {
            let c = crate::scram::credential_for_password(mechanism, "pencil", 4096);
            assert!(matches(mechanism, &c, "pencil"));
            assert!(!matches(mechanism, &c, "pencil2"));
            assert!(!matches(mechanism, &c, ""));
        }
    }
}
