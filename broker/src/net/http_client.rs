//! A small HTTP/1.1 client for the few calls the process makes out: fetching an
//! identity provider's JSON Web Key Set (OAUTHBEARER) and the console's webhooks.
//! `http://` and `https://` URLs; one connection per call (these calls are rare).
//! HTTPS verifies the server against the system's trusted roots, which
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` replace as for other programs (a private CA
//! goes there), with rustls and the broker's crypto provider. Every call has a
//! deadline, and an answer's body is read only up to a limit.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{header, Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;

/// Where a call goes, checked once when it is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written, for the Host header.
    pub authority: String,
    /// Path and query, `/` when none.
    pub path: String,
}

impl Url {
    /// An `http://` or `https://` URL with a host; the error says what is wrong.
    pub fn parse(url: &str) -> Result<Url, String> {
        let https = url.starts_with("https://");
        if !https && !url.starts_with("http://") {
            return Err(format!("{url:?} must start with http:// or https://"));
        }
        let uri: Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let authority =
            uri.authority().filter(|a| !a.host().is_empty()).ok_or_else(|| format!("{url:?} has no host"))?;
        Ok(Url {
            https,
            host: authority.host().trim_matches(['[', ']']).to_string(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: authority.as_str().to_string(),
            path: uri.path_and_query().map_or("/".to_string(), |p| p.as_str().to_string()),
        })
    }
}

/// A call's answer: the status and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// How calls verify HTTPS servers.
#[derive(Clone)]
pub struct HttpClient {
    tls: Arc<rustls::ClientConfig>,
}

impl HttpClient {
    /// Trusting the system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` when set). Built
    /// once per process: reading the system's store is slow.
    pub fn system() -> HttpClient {
        static SYSTEM: OnceLock<HttpClient> = OnceLock::new();
        SYSTEM.get_or_init(|| HttpClient::with_roots(HttpClient::system_roots())).clone()
    }

    /// The system's trusted roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` when set), to
    /// add to.
    pub fn system_roots() -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "a trusted root certificate could not be loaded");
        }
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "trusted roots for outgoing HTTPS");
        roots
    }

    /// Trusting exactly `roots`.
    pub fn with_roots(roots: rustls::RootCertStore) -> HttpClient {
        let config = rustls::ClientConfig::builder_with_provider(super::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("the provider supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        HttpClient { tls: Arc::new(config) }
    }

    /// One call: connects, sends, reads the answer (a body longer than `max_body`
    /// bytes is an error; 0: the body is not read, only the status counts), all
    /// within `timeout`. The error names the step that failed.
    pub async fn call(
        &self,
        method: Method,
        url: &Url,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: Duration,
        max_body: usize,
    ) -> Result<Answer, String> {
        let call = async {
            let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", url.authority))?;
            let _ = tcp.set_nodelay(true);
            if !url.https {
                return send(TokioIo::new(tcp), method, url, headers, body, max_body).await;
            }
            let name = rustls::pki_types::ServerName::try_from(url.host.clone())
                .map_err(|e| format!("{} is not a server name: {e}", url.host))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {} failed: {e}", url.authority))?;
            send(TokioIo::new(tls), method, url, headers, body, max_body).await
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| format!("no answer from {} within {} ms", url.authority, timeout.as_millis()))?
    }
}

async fn send<S>(
    io: TokioIo<S>,
    method: Method,
    url: &Url,
    headers: &[(&str, &str)],
    body: Bytes,
    max_body: usize,
) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake with {} failed: {e}", url.authority))?;
    let conn = tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(url.path.as_str())
        .header(header::HOST, url.authority.as_str())
        .header(header::USER_AGENT, concat!("weir/", env!("CARGO_PKG_VERSION")));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body)).map_err(|e| format!("bad request to {}: {e}", url.authority))?;
    let answer = async {
        let resp = sender.send_request(req).await.map_err(|e| format!("the call to {} failed: {e}", url.authority))?;
        let status = resp.status().as_u16();
        if max_body == 0 {
            return Ok(Answer { status, body: Bytes::new() });
        }
        let body = Limited::new(resp.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {} failed: {e}", url.authority))?
            .to_bytes();
        Ok(Answer { status, body })
    }
    .await;
    conn.abort();
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_once() {
        let u = Url::parse("https://idp.example.com/realms/k/certs?x=1").unwrap();
        assert_eq!((u.https, u.host.as_str(), u.port), (true, "idp.example.com", 443));
        assert_eq!((u.authority.as_str(), u.path.as_str()), ("idp.example.com", "/realms/k/certs?x=1"));
        let u = Url::parse("http://[::1]:8080").unwrap();
        assert_eq!((u.https, u.host.as_str(), u.port, u.path.as_str()), (false, "::1", 8080, "/"));
        assert!(Url::parse("ftp://x/").unwrap_err().contains("http://"));
        assert!(Url::parse("file:///etc/jwks.json").unwrap_err().contains("http://"));
        assert!(Url::parse("not a url").is_err());
    }

    /// Serves `answers` in turn, one connection each; returns the address.
    async fn server(answers: Vec<&'static str>) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            for a in answers {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(a.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_call_gets_status_and_body_and_a_long_body_is_refused() {
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        let long = "HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789";
        let addr = server(vec![ok, long]).await;
        let url = Url::parse(&format!("http://{addr}/keys")).unwrap();
        let c = HttpClient::with_roots(rustls::RootCertStore::empty());
        let t = Duration::from_secs(5);
        let a = c.call(Method::GET, &url, &[], Bytes::new(), t, 10).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"hello"[..]));
        let e = c.call(Method::GET, &url, &[], Bytes::new(), t, 10).await.unwrap_err();
        assert!(e.contains("reading the answer"), "{e}");
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_times_out_and_a_closed_port_fails() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", l.local_addr().unwrap())).unwrap();
        let c = HttpClient::with_roots(rustls::RootCertStore::empty());
        let e = c.call(Method::GET, &url, &[], Bytes::new(), Duration::from_millis(200), 10).await.unwrap_err();
        assert!(e.contains("no answer"), "{e}");
        drop(l);
        let e = c.call(Method::GET, &url, &[], Bytes::new(), Duration::from_secs(5), 10).await.unwrap_err();
        assert!(e.contains("cannot connect"), "{e}");
    }
}
