//! A small client of a Confluent-compatible schema registry's REST API (Weir's,
//! Confluent's, Redpanda's, Apicurio's compatibility API) through the broker
//! crate's `http_client`: one HTTP/1.1 connection per request (a command makes
//! few), plain or TLS.
//!
//! Connection: `--registry` (or `WEIR_REGISTRY`; the first of a comma-separated
//! list, a path prefix kept), `--registry-user USER:PASSWORD` (or
//! `WEIR_REGISTRY_USER`; Confluent's `basic.auth.user.info`), and for https the
//! system's trusted roots plus `--registry-ca FILE` (or the `-X
//! ssl.ca.location` given for the brokers). A refusal is reported with the
//! registry's `error_code` and `message`.

use anyhow::{anyhow, bail, Result};
use base64::Engine;
use bytes::Bytes;
use hyper::Method;
use serde_json::Value;
use weir_broker::net::http_client::{HttpClient, Url};

use super::Conn;

/// Confluent's content type; plain JSON is accepted too.
const CONTENT: &str = "application/vnd.schemaregistry.v1+json";
/// The longest answer read (a schema listing of a large registry fits).
const MAX_ANSWER: usize = 256 << 20;

pub struct RegistryClient {
    url: Url,
    /// The registry's path prefix, without a trailing slash.
    prefix: String,
    http: HttpClient,
    auth: Option<String>,
    timeout: std::time::Duration,
}

/// A refusal by the registry: HTTP status, Confluent error code, message.
#[derive(Debug)]
pub struct RegistryError {
    pub status: u16,
    pub code: i64,
    pub message: String,
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (error_code {}, HTTP {})", self.message, self.code, self.status)
    }
}

impl std::error::Error for RegistryError {}

impl RegistryClient {
    pub fn new(conn: &Conn) -> Result<RegistryClient> {
        let written = conn.registry().split(',').next().unwrap_or_default().trim().to_string();
        let with_scheme = match written.split_once("://") {
            Some(("http" | "https", _)) => written.clone(),
            Some((other, _)) => bail!("--registry: unsupported scheme '{other}' (http or https)"),
            None => format!("http://{written}"),
        };
        let mut url = Url::parse(&with_scheme).map_err(|e| anyhow!("--registry: {e}"))?;
        let prefix = url.path.split('?').next().unwrap_or_default().trim_end_matches('/').to_string();
        let http = match url.https {
            true => tls_client(conn)?,
            false => HttpClient::system(),
        };
        url.path = String::new();
        let auth = conn
            .registry_user
            .as_ref()
            .map(|u| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(u.as_bytes())));
        Ok(RegistryClient { url, prefix, http, auth, timeout: conn.timeout() })
    }

    /// `method path` with an optional JSON body; the JSON answer, or the
    /// registry's refusal as a [`RegistryError`].
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let what = format!("{method} {}{path} at {}", self.prefix, self.url.authority);
        let url = Url { path: format!("{}{path}", self.prefix), ..self.url.clone() };
        let accept = format!("{CONTENT}, application/json");
        let mut headers = vec![("accept", accept.as_str()), ("content-type", CONTENT)];
        if let Some(a) = &self.auth {
            headers.push(("authorization", a.as_str()));
        }
        let body = Bytes::from(body.map(|b| b.to_string()).unwrap_or_default());
        let answer = self
            .http
            .call(method, &url, &headers, body, self.timeout, MAX_ANSWER)
            .await
            .map_err(|e| anyhow!("the schema registry: {e} ({what})"))?;
        let (status, bytes) = (answer.status, answer.body);
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        if !(200..300).contains(&status) {
            let code = value.get("error_code").and_then(Value::as_i64).unwrap_or(status as i64);
            let message = match value.get("message").and_then(Value::as_str) {
                Some(m) => m.to_string(),
                None => value.as_str().map_or_else(|| value.to_string(), str::to_string),
            };
            return Err(RegistryError { status, code, message }.into());
        }
        Ok(value)
    }
}

/// The system's roots, plus the CA file named by `--registry-ca` or `-X ssl.ca.location`.
fn tls_client(conn: &Conn) -> Result<HttpClient> {
    let ca = conn.registry_ca.clone().or_else(|| conn.property("ssl.ca.location"));
    Ok(HttpClient::with_roots(super::trusted_roots(ca.as_deref(), None)?))
}

/// `%2F` and friends: subjects may hold any character.
pub fn escape(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn subjects_are_escaped() {
        assert_eq!(super::escape("orders-value"), "orders-value");
        assert_eq!(super::escape("a/b c:d"), "a%2Fb%20c%3Ad");
    }
}
