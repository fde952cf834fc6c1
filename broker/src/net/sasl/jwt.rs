//! JSON Web Tokens (RFC 7519) signed with a key of a JSON Web Key Set (RFC 7517):
//! the compact form `base64url(header).base64url(claims).base64url(signature)`,
//! signature checked with ring. Algorithms: RS256/384/512, PS256/384/512,
//! ES256/384 and EdDSA (Ed25519); `none` and HMAC are refused (a token must be
//! signed by the issuer's private key, not a secret the broker shares).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

/// One public key of the set.
#[derive(Clone, Debug)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key: KeyMaterial,
}

#[derive(Clone, Debug)]
enum KeyMaterial {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed point (0x04 || x || y) and its curve.
    Ec {
        crv: String,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
}

fn field<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    o.get(name).and_then(Value::as_str)
}

fn bytes(o: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let v = field(o, name).ok_or_else(|| format!("the key has no '{name}'"))?;
    B64URL.decode(v.trim_end_matches('=')).map_err(|_| format!("the key's '{name}' is not base64url"))
}

/// The signing keys of a JWKS document (`{"keys": [...]}`) or of a single JWK.
/// Keys for encryption (`"use": "enc"`) and of unknown types are skipped.
pub fn parse_keys(text: &str) -> Result<Vec<Jwk>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = match doc.get("keys") {
        Some(Value::Array(keys)) => keys.clone(),
        Some(_) => return Err("'keys' is not an array".into()),
        None if doc.get("kty").is_some() => vec![doc],
        None => return Err("neither a JWK set ({\"keys\": [...]}) nor a JWK".into()),
    };
    let mut out = Vec::new();
    for k in &list {
        let Some(o) = k.as_object() else { return Err("a key is not an object".into()) };
        if field(o, "use").is_some_and(|u| u != "sig") {
            continue;
        }
        let key = match field(o, "kty") {
            Some("RSA") => KeyMaterial::Rsa { n: bytes(o, "n")?, e: bytes(o, "e")? },
            Some("EC") => {
                let crv = field(o, "crv").unwrap_or_default().to_string();
                let mut point = vec![4u8];
                point.extend(bytes(o, "x")?);
                point.extend(bytes(o, "y")?);
                KeyMaterial::Ec { crv, point }
            }
            Some("OKP") if field(o, "crv") == Some("Ed25519") => KeyMaterial::Ed25519(bytes(o, "x")?),
            _ => continue,
        };
        out.push(Jwk { kid: field(o, "kid").map(String::from), alg: field(o, "alg").map(String::from), key });
    }
    if out.is_empty() {
        return Err("no signing key (RSA, EC P-256/P-384 or Ed25519)".into());
    }
    Ok(out)
}

impl Jwk {
    fn verifies(&self, alg: &str, message: &[u8], sig: &[u8]) -> bool {
        if self.alg.as_deref().is_some_and(|a| a != alg) {
            return false;
        }
        let rsa = |params: &'static signature::RsaParameters| match &self.key {
            KeyMaterial::Rsa { n, e } => RsaPublicKeyComponents { n, e }.verify(params, message, sig).is_ok(),
            _ => false,
        };
        let ec = |curve: &str, params: &'static signature::EcdsaVerificationAlgorithm| match &self.key {
            KeyMaterial::Ec { crv, point } if crv == curve => {
                UnparsedPublicKey::new(params, point).verify(message, sig).is_ok()
            }
            _ => false,
        };
        match alg {
            "RS256" => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            "RS384" => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
            "RS512" => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
            "PS256" => rsa(&signature::RSA_PSS_2048_8192_SHA256),
            "PS384" => rsa(&signature::RSA_PSS_2048_8192_SHA384),
            "PS512" => rsa(&signature::RSA_PSS_2048_8192_SHA512),
            "ES256" => ec("P-256", &signature::ECDSA_P256_SHA256_FIXED),
            "ES384" => ec("P-384", &signature::ECDSA_P384_SHA384_FIXED),
            "EdDSA" => match &self.key {
                KeyMaterial::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x).verify(message, sig).is_ok(),
                _ => false,
            },
            _ => false,
        }
    }
}

fn segment(s: &str, what: &str) -> Result<Vec<u8>, String> {
    B64URL.decode(s).map_err(|_| format!("the token's {what} is not base64url"))
}

/// The token's claims if one of `keys` signed it (by its `kid`, or any key when
/// the token names none). `Err(Unknown kid)` lets the caller reload the set.
pub fn verify(token: &str, keys: &[Jwk]) -> Result<Map<String, Value>, VerifyError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(VerifyError::Invalid("the token is not a JWS in compact form (three dot-separated parts)".into()));
    };
    let header: Value = serde_json::from_slice(&segment(h, "header").map_err(VerifyError::Invalid)?)
        .map_err(|_| VerifyError::Invalid("the token's header is not JSON".into()))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("none");
    if alg == "none" || alg.starts_with("HS") {
        return Err(VerifyError::Invalid(format!("tokens signed with '{alg}' are not accepted")));
    }
    let sig = segment(s, "signature").map_err(VerifyError::Invalid)?;
    let message = &token.as_bytes()[..h.len() + 1 + c.len()];
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Jwk> = keys.iter().filter(|k| kid.is_none() || k.kid.as_deref() == kid).collect();
    if candidates.is_empty() {
        return Err(VerifyError::UnknownKey(kid.unwrap_or_default().to_string()));
    }
    if !candidates.iter().any(|k| k.verifies(alg, message, &sig)) {
        return Err(VerifyError::Invalid(format!("the token's {alg} signature does not verify")));
    }
    match serde_json::from_slice(&segment(c, "claims").map_err(VerifyError::Invalid)?) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(VerifyError::Invalid("the token's claims are not a JSON object".into())),
    }
}

#[derive(Debug)]
pub enum VerifyError {
    UnknownKey(String),
    Invalid(String),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::UnknownKey(kid) => write!(f, "no key with kid '{kid}' in the JWKS"),
            VerifyError::Invalid(why) => f.write_str(why),
        }
    }
}
