//! SCRAM credentials (RFC 5802/7677) as Kafka keeps them: per user and mechanism,
//! the salt, the iteration count and the two keys derived from the salted password
//! (StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
//! HMAC(SaltedPassword, "Server Key")); the salted password itself is not kept.
//! Stored in the metadata log (`ScramCredentialUpserted` / `ScramCredentialDeleted`)
//! and managed with AlterUserScramCredentials, with Kafka's checks; listed with
//! DescribeUserScramCredentials. SASL/SCRAM authentication reads them.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's mechanism codes.
pub const SCRAM_SHA_256: i8 = 1;
pub const SCRAM_SHA_512: i8 = 2;
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// (StoredKey, ServerKey) of a salted password, with hash `$h`.
macro_rules! keys {
    ($h:ty, $salted:expr) => {{
        let mac = |msg: &[u8]| {
            let mut m = <Hmac<$h> as Mac>::new_from_slice($salted).expect("HMAC takes any key length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        };
        let client_key = mac(b"Client Key");
        (<$h>::digest(&client_key).to_vec(), mac(b"Server Key"))
    }};
}

impl ScramCredential {
    /// The credential kept for a salted password (what AlterUserScramCredentials
    /// sends); `None` for a mechanism Kafka does not know.
    pub fn derive(mechanism: i8, salt: &[u8], salted_password: &[u8], iterations: i32) -> Option<ScramCredential> {
        let (stored_key, server_key) = match mechanism {
            SCRAM_SHA_256 => keys!(Sha256, salted_password),
            SCRAM_SHA_512 => keys!(Sha512, salted_password),
            _ => return None,
        };
        Some(ScramCredential { salt: salt.to_vec(), stored_key, server_key, iterations })
    }
}

/// The client's side of RFC 5802's last step: the proof to send for
/// `auth_message` and the server signature to expect back; `None` for a
/// mechanism Kafka does not know.
pub fn client_proof(mechanism: i8, salted_password: &[u8], auth_message: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    macro_rules! proof {
        ($h:ty) => {{
            let mac = |key: &[u8], msg: &[u8]| {
                let mut m = <Hmac<$h> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            };
            let client_key = mac(salted_password, b"Client Key");
            let signature = mac(&<$h>::digest(&client_key), auth_message);
            let proof = client_key.iter().zip(&signature).map(|(k, s)| k ^ s).collect();
            (proof, mac(&mac(salted_password, b"Server Key"), auth_message))
        }};
    }
    match mechanism {
        SCRAM_SHA_256 => Some(proof!(Sha256)),
        SCRAM_SHA_512 => Some(proof!(Sha512)),
        _ => None,
    }
}

/// Why one user's change was refused (Kafka's codes and messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScramError {
    Duplicate,
    EmptyUser,
    UnknownMechanism,
    NotFound,
    TooFewIterations,
    TooManyIterations,
}

impl ScramError {
    pub fn message(&self) -> &'static str {
        match self {
            ScramError::Duplicate => "A user credential cannot be altered twice in the same request",
            ScramError::EmptyUser => "Username must not be empty",
            ScramError::UnknownMechanism => "Unknown SCRAM mechanism",
            ScramError::NotFound => "Attempt to delete a user credential that does not exist",
            ScramError::TooFewIterations => "Too few iterations",
            ScramError::TooManyIterations => "Too many iterations",
        }
    }
}

pub struct Upsertion {
    pub user: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

/// One accepted change.
pub enum ScramChange {
    Delete { user: String, mechanism: i8 },
    Upsert { user: String, mechanism: i8, credential: ScramCredential },
}

/// Kafka's checks of an AlterUserScramCredentials request, in its order: a user
/// named twice is refused once (its earlier change dropped); then the user, the
/// mechanism, existence (deletions) and the iteration bounds (upsertions). Returns
/// the accepted changes (deletions first) and each refused user with why.
pub fn check_alter(
    deletions: &[(String, i8)],
    upsertions: &[Upsertion],
    exists: impl Fn(&str, i8) -> bool,
) -> (Vec<ScramChange>, Vec<(String, ScramError)>) {
    let mut seen = std::collections::HashSet::new();
    let mut dels: Vec<ScramChange> = Vec::new();
    let mut ups: Vec<ScramChange> = Vec::new();
    let mut errors: Vec<(String, ScramError)> = Vec::new();
    let user_of = |c: &ScramChange| match c {
        ScramChange::Delete { user, .. } | ScramChange::Upsert { user, .. } => user.clone(),
    };
    let mut duplicate = |user: &str,
                         dels: &mut Vec<ScramChange>,
                         ups: &mut Vec<ScramChange>,
                         errors: &mut Vec<(String, ScramError)>| {
        if !seen.insert(user.to_string()) {
            if !errors.iter().any(|(u, e)| u == user && *e == ScramError::Duplicate) {
                errors.retain(|(u, _)| u != user);
                errors.push((user.to_string(), ScramError::Duplicate));
            }
            dels.retain(|c| user_of(c) != user);
            ups.retain(|c| user_of(c) != user);
            return true;
        }
        false
    };
    let basic = |user: &str, mechanism: i8| {
        if user.is_empty() {
            Err(ScramError::EmptyUser)
        } else if mechanism != SCRAM_SHA_256 && mechanism != SCRAM_SHA_512 {
            Err(ScramError::UnknownMechanism)
        } else {
            Ok(())
        }
    };
    for (user, mechanism) in deletions {
        if duplicate(user, &mut dels, &mut ups, &mut errors) {
            continue;
        }
        match basic(user, *mechanism).and_then(|()| {
            if exists(user, *mechanism) {
                Ok(())
            } else {
                Err(ScramError::NotFound)
            }
        }) {
            Ok(()) => dels.push(ScramChange::Delete { user: user.clone(), mechanism: *mechanism }),
            Err(e) => errors.push((user.clone(), e)),
        }
    }
    for u in upsertions {
        if duplicate(&u.user, &mut dels, &mut ups, &mut errors) {
            continue;
        }
        let iterations = match u.iterations {
            i if i < MIN_ITERATIONS => Err(ScramError::TooFewIterations),
            i if i > MAX_ITERATIONS => Err(ScramError::TooManyIterations),
            _ => Ok(()),
        };
        let checked = basic(&u.user, u.mechanism).and(iterations);
        match checked {
            Ok(()) => {
                let credential = ScramCredential::derive(u.mechanism, &u.salt, &u.salted_password, u.iterations)
                    .expect("mechanism checked above");
                ups.push(ScramChange::Upsert { user: u.user.clone(), mechanism: u.mechanism, credential });
            }
            Err(e) => errors.push((u.user.clone(), e)),
        }
    }
    dels.extend(ups);
    (dels, errors)
}

/// A credential for `password` with a fresh random salt (what
/// `kafka-configs --add-config 'SCRAM-SHA-256=[password=...]'` makes client-side).
pub fn credential_for_password(mechanism: i8, password: &str, iterations: i32) -> ScramCredential {
    let salt: [u8; 32] = crate::net::sasl::random();
    let salted = salted_password(mechanism, password, &salt, iterations).expect("a known mechanism");
    ScramCredential::derive(mechanism, &salt, &salted, iterations).expect("a known mechanism")
}

/// RFC 5802's SaltedPassword: PBKDF2 with the mechanism's hash; `None` for a
/// mechanism Kafka does not know. Slow by design (thousands of HMACs).
pub fn salted_password(mechanism: i8, password: &str, salt: &[u8], iterations: i32) -> Option<Vec<u8>> {
    let (algorithm, len) = match mechanism {
        SCRAM_SHA_256 => (ring::pbkdf2::PBKDF2_HMAC_SHA256, 32),
        SCRAM_SHA_512 => (ring::pbkdf2::PBKDF2_HMAC_SHA512, 64),
        _ => return None,
    };
    let rounds = std::num::NonZeroU32::new(iterations.max(1) as u32)?;
    let mut salted = vec![0u8; len];
    ring::pbkdf2::derive(algorithm, rounds, salt, password.as_bytes(), &mut salted);
    Some(salted)
}

/// Parses `bootstrap.users` / `WEIR_BOOTSTRAP_USERS`: `name:password[,name:password]`.
pub fn parse_bootstrap_users(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.split_once(':') {
            Some((user, password)) if !user.trim().is_empty() && !password.is_empty() => {
                if out.iter().any(|(u, _)| u == user.trim()) {
                    return Err(format!("user '{}' is given twice", user.trim()));
                }
                out.push((user.trim().to_string(), password.to_string()));
            }
            _ => return Err(format!("'{}' is not name:password", entry.split(':').next().unwrap_or_default())),
        }
    }
    Ok(out)
}

/// One user's outcome of an AlterUserScramCredentials request.
pub type AlterResult = (String, Option<ScramError>);

impl crate::BrokerHandle {
    /// Users with credentials: each with its (mechanism, iterations).
    pub fn scram_users(&self) -> std::collections::BTreeMap<String, Vec<(i8, i32)>> {
        self.core.meta.scram_users()
    }

    /// Checks a password (HTTP basic logins, like SASL/PLAIN) against the
    /// user's SCRAM credential, SHA-256 first; on a match, the mechanism and
    /// the StoredKey it matched, which change when the password does. Blocking:
    /// the derivation is deliberately slow.
    pub fn check_password(&self, user: &str, password: &str) -> Option<(i8, Vec<u8>)> {
        [SCRAM_SHA_256, SCRAM_SHA_512].into_iter().find_map(|m| {
            let c = self.scram_credential(user, m)?;
            crate::net::sasl::plain_matches(m, &c, password).then(|| (m, c.stored_key.clone()))
        })
    }

    /// A user's credential for a mechanism, if it has one.
    pub fn scram_credential(&self, user: &str, mechanism: i8) -> Option<ScramCredential> {
        self.core.meta.scram_credential(user, mechanism)
    }

    /// Gives each of `users` SCRAM-SHA-256 and SCRAM-SHA-512 credentials for its
    /// password, where it has none for that mechanism yet (a restart with the same
    /// list changes nothing; a password changed since is kept). Returns how many
    /// credentials were created. Blocking.
    pub fn bootstrap_users(&self, users: &[(String, String)]) -> Result<usize, crate::error::BrokerError> {
        let meta = &self.core.meta;
        meta.with_writer(|w| {
            let mut created = 0;
            for (user, password) in users {
                for mechanism in [SCRAM_SHA_256, SCRAM_SHA_512] {
                    if meta.scram_credential(user, mechanism).is_some() {
                        continue;
                    }
                    let credential = credential_for_password(mechanism, password, MIN_ITERATIONS);
                    w.commit(crate::metadata::Event::ScramCredentialUpserted {
                        user: user.clone(),
                        mechanism,
                        credential,
                    })?;
                    created += 1;
                    tracing::info!(user = %user, mechanism, "bootstrap user: SCRAM credential created");
                }
            }
            Ok(created)
        })
    }

    /// Checks and applies an AlterUserScramCredentials request: the accepted
    /// changes are stored, each user gets its outcome (accepted deletions, then
    /// upsertions, then refusals, as Kafka orders them). Blocking.
    pub fn alter_scram(
        &self,
        deletions: &[(String, i8)],
        upsertions: &[Upsertion],
    ) -> Result<Vec<AlterResult>, crate::error::BrokerError> {
        let meta = &self.core.meta;
        meta.with_writer(|w| {
            let (changes, errors) = check_alter(deletions, upsertions, |u, m| meta.scram_credential(u, m).is_some());
            let mut out = Vec::with_capacity(changes.len() + errors.len());
            for c in changes {
                let (user, ev) = match c {
                    ScramChange::Delete { user, mechanism } => {
                        (user.clone(), crate::metadata::Event::ScramCredentialDeleted { user, mechanism })
                    }
                    ScramChange::Upsert { user, mechanism, credential } => {
                        (user.clone(), crate::metadata::Event::ScramCredentialUpserted { user, mechanism, credential })
                    }
                };
                w.commit(ev)?;
                tracing::info!(user = %user, "SCRAM credential changed");
                out.push((user, None));
            }
            out.extend(errors.into_iter().map(|(u, e)| (u, Some(e))));
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_match_rfc_7677_test_vector() {
        // RFC 7677 section 3: user "user", password "pencil", 4096 iterations.
        let salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
        let salted = hex("c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d");
        let c = ScramCredential::derive(SCRAM_SHA_256, &salt, &salted, 4096).unwrap();
        // ServerSignature in the RFC is HMAC(ServerKey, AuthMessage); the ServerKey
        // itself: HMAC(SaltedPassword, "Server Key").
        let auth = b"n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&c.server_key).unwrap();
        m.update(auth);
        assert_eq!(m.finalize().into_bytes().to_vec(), base64_decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
        assert_eq!(c.stored_key.len(), 32);
        assert!(ScramCredential::derive(3, &salt, &salted, 4096).is_none());
        // The client's side of the same exchange.
        let (proof, server_signature) = client_proof(SCRAM_SHA_256, &salted, auth).unwrap();
        assert_eq!(proof, base64_decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
        assert_eq!(server_signature, base64_decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
        assert!(client_proof(3, &salted, auth).is_none());
    }

    #[test]
    fn alterations_are_checked_as_kafka_checks_them() {
        let up = |user: &str, mechanism: i8, iterations: i32| Upsertion {
            user: user.into(),
            mechanism,
            iterations,
            salt: vec![1; 16],
            salted_password: vec![2; 32],
        };
        let exists = |u: &str, m: i8| u == "bob" && m == SCRAM_SHA_256;
        let (ok, errors) = check_alter(
            &[("bob".into(), SCRAM_SHA_256), ("carol".into(), SCRAM_SHA_256), ("".into(), SCRAM_SHA_256)],
            &[
                up("alice", SCRAM_SHA_512, 8192),
                up("dave", 9, 8192),
                up("erin", SCRAM_SHA_256, 100),
                up("frank", SCRAM_SHA_256, 20000),
                up("bob", SCRAM_SHA_512, 8192),
            ],
            exists,
        );
        let users: Vec<String> = ok
            .iter()
            .map(|c| match c {
                ScramChange::Delete { user, .. } => format!("-{user}"),
                ScramChange::Upsert { user, .. } => format!("+{user}"),
            })
            .collect();
        assert_eq!(users, vec!["+alice"], "bob's deletion is dropped: he is named twice");
        assert_eq!(
            errors,
            vec![
                ("carol".to_string(), ScramError::NotFound),
                ("".to_string(), ScramError::EmptyUser),
                ("dave".to_string(), ScramError::UnknownMechanism),
                ("erin".to_string(), ScramError::TooFewIterations),
                ("frank".to_string(), ScramError::TooManyIterations),
                ("bob".to_string(), ScramError::Duplicate),
            ]
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes().filter(|c| *c != b'=') {
            acc = (acc << 6) | A.iter().position(|a| *a == c).unwrap() as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }
}
