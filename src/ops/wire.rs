//! A small Kafka wire client (the `kafka-protocol` codecs over tokio sockets)
//! for what librdkafka 2.12's admin API cannot ask: the share-group APIs
//! (ShareGroupDescribe, DescribeShareGroupOffsets, AlterShareGroupOffsets,
//! DeleteShareGroupOffsets) and ListGroups for share groups.
//!
//! It connects as librdkafka would from the same properties (`-X` or the
//! profile): `security.protocol` PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL;
//! `sasl.mechanism` (or `sasl.mechanisms`) PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
//! with `sasl.username`/`sasl.password` (SCRAM iteration counts outside Kafka's
//! 4096-16384 refused, the server's signature checked); for TLS the system's
//! trusted roots plus `ssl.ca.location` (a PEM file) or `ssl.ca.pem`, the
//! broker's name checked. What it cannot do as asked (OAUTHBEARER, GSSAPI,
//! client certificates, verification or name checks turned off, a CA directory)
//! is refused by name rather than tried another way.
//!
//! Requests carry fixed versions (those Kafka 4.1 and Weir serve); one call at
//! a time per connection, each within the command's `--timeout`. A group call
//! whose coordinator is loading or moving is asked again, as Kafka's admin
//! client does, until the timeout.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::Conn;

/// The longest answer read.
const MAX_FRAME: usize = 64 << 20;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum Sasl {
    Plain { user: String, password: String },
    Scram { mechanism: i8, name: &'static str, user: String, password: String },
}

/// How to connect: TLS or not, SASL or not.
pub struct Security {
    tls: Option<Arc<rustls::ClientConfig>>,
    sasl: Option<Sasl>,
}

impl Security {
    pub fn of(conn: &Conn) -> Result<Security> {
        let protocol = conn.property("security.protocol").unwrap_or_else(|| "plaintext".into()).to_ascii_lowercase();
        let (tls, sasl) = match protocol.as_str() {
            "plaintext" => (false, false),
            "ssl" => (true, false),
            "sasl_plaintext" => (false, true),
            "sasl_ssl" => (true, true),
            other => bail!("security.protocol: unknown protocol '{other}'"),
        };
        for key in [
            "ssl.certificate.location",
            "ssl.key.location",
            "ssl.keystore.location",
            "ssl.certificate.pem",
            "ssl.key.pem",
        ] {
            if tls && conn.property(key).is_some() {
                bail!("{key}: client certificates are not supported by this command (librdkafka's admin API has no share-group calls, so it speaks the protocol itself)");
            }
        }
        if tls && conn.property("enable.ssl.certificate.verification").is_some_and(|v| v == "false") {
            bail!("enable.ssl.certificate.verification=false is not supported by this command");
        }
        if tls && conn.property("ssl.endpoint.identification.algorithm").is_some_and(|v| v == "none") {
            bail!("ssl.endpoint.identification.algorithm=none is not supported by this command (it checks the broker's name)");
        }
        let tls = tls.then(|| tls_config(conn)).transpose()?;
        let sasl = sasl.then(|| sasl_of(conn)).transpose()?;
        Ok(Security { tls, sasl })
    }
}

fn tls_config(conn: &Conn) -> Result<Arc<rustls::ClientConfig>> {
    let roots =
        super::trusted_roots(conn.property("ssl.ca.location").as_deref(), conn.property("ssl.ca.pem").as_deref())?;
    let config = rustls::ClientConfig::builder_with_provider(weir_broker::net::tls::provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn sasl_of(conn: &Conn) -> Result<Sasl> {
    let mechanism = conn.property("sasl.mechanisms").unwrap_or_else(|| "GSSAPI".into()).to_ascii_uppercase();
    let user = conn.property("sasl.username").ok_or_else(|| anyhow!("sasl.username is not set"))?;
    let password = conn.property("sasl.password").ok_or_else(|| anyhow!("sasl.password is not set"))?;
    Ok(match mechanism.as_str() {
        "PLAIN" => Sasl::Plain { user, password },
        "SCRAM-SHA-256" => Sasl::Scram { mechanism: 1, name: "SCRAM-SHA-256", user, password },
        "SCRAM-SHA-512" => Sasl::Scram { mechanism: 2, name: "SCRAM-SHA-512", user, password },
        other => bail!("sasl.mechanism {other} is not supported by this command (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"),
    })
}

/// One connection to one broker.
pub struct Wire {
    io: Box<dyn Io>,
    addr: String,
    correlation: i32,
    timeout: Duration,
    /// What the broker serves (ApiVersions): key -> (min, max).
    versions: std::collections::HashMap<i16, (i16, i16)>,
}

impl Wire {
    /// Connects to `addr` (host:port) and authenticates as `security` says.
    pub async fn connect(security: &Security, addr: &str, timeout: Duration) -> Result<Wire> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connecting to {addr}: timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &security.tls {
            None => Box::new(tcp),
            Some(config) => {
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| anyhow!("{addr}: not a name TLS can check: {e}"))?;
                let tls = tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp);
                Box::new(
                    tokio::time::timeout(timeout, tls)
                        .await
                        .map_err(|_| anyhow!("TLS handshake with {addr}: timed out"))?
                        .with_context(|| format!("TLS handshake with {addr}"))?,
                )
            }
        };
        let mut wire = Wire { io, addr: addr.to_string(), correlation: 0, timeout, versions: Default::default() };
        wire.learn_versions().await?;
        if let Some(sasl) = &security.sasl {
            wire.authenticate(sasl).await?;
        }
        Ok(wire)
    }

    /// ApiVersions (v3, else v0 for an older broker), before anything else as clients do.
    async fn learn_versions(&mut self) -> Result<()> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("weir"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut r: ApiVersionsResponse = self.exchange_within(ApiKey::ApiVersions, 3, &req).await?;
        if r.error_code == 35 {
            r = self.exchange_within(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default()).await?;
        }
        if r.error_code != 0 {
            bail!("ApiVersions to {}: {}", self.addr, super::kafka_error_name(r.error_code));
        }
        self.versions = r.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        Ok(())
    }

    /// One request and its answer; refused before sending when the broker does
    /// not serve that version.
    pub async fn call<Q: Encodable, R: Decodable>(&mut self, key: ApiKey, version: i16, req: &Q) -> Result<R> {
        match self.versions.get(&(key as i16)) {
            Some(&(min, max)) if (min..=max).contains(&version) => {}
            Some(&(min, max)) => {
                bail!("{} serves {key:?} v{min}-v{max}, not v{version}, which this command needs", self.addr)
            }
            None => bail!("{} does not serve {key:?} (a broker without KIP-932 share groups?)", self.addr),
        }
        self.exchange_within(key, version, req).await
    }

    async fn exchange_within<Q: Encodable, R: Decodable>(&mut self, key: ApiKey, version: i16, req: &Q) -> Result<R> {
        let what = format!("{key:?} v{version} to {}", self.addr);
        tokio::time::timeout(self.timeout, self.exchange(key, version, req))
            .await
            .map_err(|_| anyhow!("{what}: no answer within {:?}", self.timeout))?
            .with_context(|| what)
    }

    async fn exchange<Q: Encodable, R: Decodable>(&mut self, key: ApiKey, version: i16, req: &Q) -> Result<R> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("weir")));
        let mut body = BytesMut::new();
        header.encode(&mut body, key.request_header_version(version))?;
        req.encode(&mut body, version)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.io.write_all(&frame).await?;
        self.io.flush().await?;
        let size = self.io.read_i32().await?;
        let size =
            usize::try_from(size).ok().filter(|s| *s <= MAX_FRAME).ok_or_else(|| anyhow!("bad frame size {size}"))?;
        let mut buf = vec![0u8; size];
        self.io.read_exact(&mut buf).await?;
        let mut b = Bytes::from(buf);
        let answer = ResponseHeader::decode(&mut b, key.response_header_version(version))?;
        if answer.correlation_id != self.correlation {
            bail!("answer to request {} where {} was sent", answer.correlation_id, self.correlation);
        }
        let resp = R::decode(&mut b, version)?;
        if b.has_remaining() {
            bail!("{} bytes after the answer", b.remaining());
        }
        Ok(resp)
    }

    async fn authenticate(&mut self, sasl: &Sasl) -> Result<()> {
        let name = match sasl {
            Sasl::Plain { .. } => "PLAIN",
            Sasl::Scram { name, .. } => name,
        };
        let hs: SaslHandshakeResponse = self
            .call(
                ApiKey::SaslHandshake,
                1,
                &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(name)),
            )
            .await?;
        if hs.error_code != 0 {
            let offered: Vec<&str> = hs.mechanisms.iter().map(|m| m.as_str()).collect();
            bail!("{}: the broker does not offer SASL mechanism {name} (it offers {})", self.addr, offered.join(", "));
        }
        match sasl {
            Sasl::Plain { user, password } => {
                self.sasl_step(format!("\0{user}\0{password}").into_bytes()).await?;
            }
            Sasl::Scram { mechanism, user, password, .. } => {
                let nonce = B64.encode(weir_broker::net::sasl::random::<18>());
                let bare = format!("n={},r={nonce}", user.replace('=', "=3D").replace(',', "=2C"));
                let first = self.sasl_step(format!("n,,{bare}").into_bytes()).await?;
                let server_first = String::from_utf8(first).context("SCRAM: the server's first message")?;
                let field = |k: &str| server_first.split(',').find_map(|f| f.strip_prefix(k)).map(str::to_string);
                let (Some(full_nonce), Some(salt), Some(iterations)) = (field("r="), field("s="), field("i=")) else {
                    bail!("SCRAM: unreadable server message '{server_first}'");
                };
                if !full_nonce.starts_with(&nonce) {
                    bail!("SCRAM: the server's nonce does not extend ours");
                }
                let salt = B64.decode(salt).context("SCRAM: salt")?;
                let iterations: i32 = iterations.parse().context("SCRAM: iterations")?;
                // As Kafka's client: fewer would make the proof cheap to guess from
                // (a broker cannot hold credentials outside these bounds anyway).
                let (min, max) = (weir_broker::scram::MIN_ITERATIONS, weir_broker::scram::MAX_ITERATIONS);
                if !(min..=max).contains(&iterations) {
                    bail!("SCRAM: the server asks for {iterations} iterations, outside {min}-{max}");
                }
                let salted = weir_broker::scram::salted_password(*mechanism, password, &salt, iterations)
                    .ok_or_else(|| anyhow!("SCRAM: unknown mechanism"))?;
                let without_proof = format!("c=biws,r={full_nonce}");
                let auth_message = format!("{bare},{server_first},{without_proof}");
                let (proof, server_signature) =
                    weir_broker::scram::client_proof(*mechanism, &salted, auth_message.as_bytes())
                        .ok_or_else(|| anyhow!("SCRAM: unknown mechanism"))?;
                let last = self.sasl_step(format!("{without_proof},p={}", B64.encode(proof)).into_bytes()).await?;
                let last = String::from_utf8_lossy(&last);
                if let Some(e) = last.strip_prefix("e=") {
                    bail!("{}: authentication failed: {e}", self.addr);
                }
                let signed = last.strip_prefix("v=").and_then(|v| B64.decode(v).ok()).unwrap_or_default();
                let same = signed.len() == server_signature.len()
                    && signed.iter().zip(&server_signature).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
                if !same {
                    bail!("SCRAM: the server's signature does not match (not the broker we meant?)");
                }
            }
        }
        Ok(())
    }

    async fn sasl_step(&mut self, token: Vec<u8>) -> Result<Vec<u8>> {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let r: SaslAuthenticateResponse = self.call(ApiKey::SaslAuthenticate, 2, &req).await?;
        if r.error_code != 0 {
            let message = r.error_message.as_ref().map_or("", |m| m.as_str());
            bail!("{}: authentication failed: {message}", self.addr);
        }
        Ok(r.auth_bytes.to_vec())
    }
}

/// The cluster as the command sees it: the bootstrap connection, and one to a
/// group's coordinator when asked.
pub struct Cluster {
    security: Security,
    timeout: Duration,
    bootstrap: Wire,
    /// The group whose coordinator was last found, and the connection to it.
    coordinator: Option<(String, Wire)>,
}

/// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR:
/// asked again (after finding the coordinator again), as Kafka's clients do.
fn coordinator_moving(code: i16) -> bool {
    (14..=16).contains(&code)
}

/// How long to wait before asking again.
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

impl Cluster {
    /// Connects to the first bootstrap broker that answers.
    pub async fn connect(conn: &Conn) -> Result<Cluster> {
        let security = Security::of(conn)?;
        let timeout = conn.timeout();
        let mut last = None;
        // As librdkafka: `-X bootstrap.servers` over `--brokers`.
        let brokers = conn.property("bootstrap.servers").unwrap_or_else(|| conn.brokers().to_string());
        for addr in brokers.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match Wire::connect(&security, addr, timeout).await {
                Ok(bootstrap) => return Ok(Cluster { security, timeout, bootstrap, coordinator: None }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("no bootstrap brokers given")))
    }

    /// Every broker, by (node id, host:port).
    pub async fn brokers(&mut self) -> Result<Vec<(i32, String)>> {
        let md: MetadataResponse =
            self.bootstrap.call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(Some(vec![]))).await?;
        Ok(md.brokers.iter().map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port))).collect())
    }

    /// A connection to `addr` with the cluster's security.
    pub async fn open(&self, addr: &str) -> Result<Wire> {
        Wire::connect(&self.security, addr, self.timeout).await
    }

    /// `req` to `group`'s coordinator; asked again, the coordinator found again,
    /// while the answer's group error (`code` of it) says the coordinator is
    /// loading or moving, within the timeout. Safe for the calls that change
    /// something too: those errors mean the coordinator did nothing.
    pub async fn group_call<Q: Encodable, R: Decodable>(
        &mut self,
        group: &str,
        key: ApiKey,
        version: i16,
        req: &Q,
        code: impl Fn(&R) -> i16,
    ) -> Result<R> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if self.coordinator.as_ref().is_none_or(|(g, _)| g != group) {
                self.coordinator = None;
                let w = self.find_coordinator(group, deadline).await?;
                self.coordinator = Some((group.to_string(), w));
            }
            let (_, w) = self.coordinator.as_mut().expect("found above");
            let r: R = w.call(key, version, req).await?;
            if !coordinator_moving(code(&r)) || tokio::time::Instant::now() >= deadline {
                return Ok(r);
            }
            self.coordinator = None;
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
    }

    /// A connection to `group`'s coordinator (FindCoordinator v4), asked again
    /// while one is loading or moving, until `deadline`.
    async fn find_coordinator(&mut self, group: &str, deadline: tokio::time::Instant) -> Result<Wire> {
        let req = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]);
        loop {
            let r: FindCoordinatorResponse = self.bootstrap.call(ApiKey::FindCoordinator, 4, &req).await?;
            let c = r.coordinators.first().ok_or_else(|| anyhow!("FindCoordinator: no answer for '{group}'"))?;
            match c.error_code {
                0 => return self.open(&format!("{}:{}", c.host.as_str(), c.port)).await,
                code if coordinator_moving(code) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RETRY_BACKOFF).await;
                }
                code => {
                    let message = c.error_message.as_ref().map_or("", |m| m.as_str());
                    bail!("FindCoordinator for '{group}': {} {message}", super::kafka_error_name(code));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
