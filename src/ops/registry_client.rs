//! A small client of a Confluent-compatible schema registry's REST API (Weir's,
//! Confluent's, Redpanda's, Apicurio's compatibility API): one HTTP/1.1
//! connection per request (a command makes few), plain or TLS.
//!
//! Connection: `--registry` (or `WEIR_REGISTRY`; the first of a comma-separated
//! list, a path prefix kept), `--registry-user USER:PASSWORD` (or
//! `WEIR_REGISTRY_USER`; Confluent's `basic.auth.user.info`), and for https the
//! system's trusted roots plus `--registry-ca FILE` (or the `-X
//! ssl.ca.location` given for the brokers). A refusal is reported with the
//! registry's `error_code` and `message`.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::Conn;

/// Confluent's content type; plain JSON is accepted too.
const CONTENT: &str = "application/vnd.schemaregistry.v1+json";

pub struct RegistryClient {
    host: String,
    port: u16,
    prefix: String,
    tls: Option<tokio_rustls::TlsConnector>,
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
        let url = conn.registry().split(',').next().unwrap_or_default().trim();
        let (https, rest) = match url.split_once("://") {
            Some(("http", r)) => (false, r),
            Some(("https", r)) => (true, r),
            Some((other, _)) => bail!("--registry: unsupported scheme '{other}' (http or https)"),
            None => (false, url),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
            None => (rest, String::new()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().with_context(|| format!("--registry: bad port in '{url}'"))?),
            None => (authority, if https { 443 } else { 80 }),
        };
        if host.is_empty() {
            bail!("--registry: no host in '{url}'");
        }
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let tls = match https {
            true => Some(tls_connector(conn)?),
            false => None,
        };
        let auth = conn
            .registry_user
            .as_ref()
            .map(|u| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(u.as_bytes())));
        Ok(RegistryClient { host, port, prefix, tls, auth, timeout: conn.timeout() })
    }

    /// `method path` with an optional JSON body; the JSON answer, or the
    /// registry's refusal as a [`RegistryError`].
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        tokio::time::timeout(self.timeout, self.call_once(method.clone(), path, body))
            .await
            .with_context(|| format!("{method} {path}: no answer from the registry within {:?}", self.timeout))?
    }

    async fn call_once(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let what = || format!("{method} {}{path} at {}:{}", self.prefix, self.host, self.port);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot reach the schema registry ({})", what()))?;
        let body = Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()));
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.prefix))
            .header(HOST, format!("{}:{}", self.host, self.port))
            .header(ACCEPT, format!("{CONTENT}, application/json"))
            .header(CONTENT_TYPE, CONTENT);
        if let Some(a) = &self.auth {
            req = req.header(AUTHORIZATION, a);
        }
        let req = req.body(body).context("bad request")?;
        let resp = match &self.tls {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .with_context(|| format!("'{}' is not a TLS server name", self.host))?;
                let stream =
                    tls.connect(name, tcp).await.with_context(|| format!("TLS handshake failed ({})", what()))?;
                send(TokioIo::new(stream), req).await
            }
            None => send(TokioIo::new(tcp), req).await,
        }
        .with_context(what)?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.with_context(what)?.to_bytes();
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

async fn send<S>(io: TokioIo<S>, req: Request<Full<Bytes>>) -> Result<hyper::Response<hyper::body::Incoming>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    Ok(sender.send_request(req).await?)
}

/// The system's roots, plus the CA file named by `--registry-ca` or `-X ssl.ca.location`.
fn tls_connector(conn: &Conn) -> Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let ca = conn.registry_ca.clone().or_else(|| conn.property("ssl.ca.location"));
    if let Some(path) = ca {
        for cert in CertificateDer::pem_file_iter(&path).with_context(|| format!("cannot read {path}"))? {
            roots.add(cert.with_context(|| format!("bad certificate in {path}"))?).context("bad CA certificate")?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(weir_broker::net::tls::provider())
        .with_safe_default_protocol_versions()
        .context("TLS set-up")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
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
