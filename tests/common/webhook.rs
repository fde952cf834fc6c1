//! A webhook receiver for the alert tests: an HTTP/1.1 server on a loopback
//! port the OS picks, recording each request's path, headers and JSON body,
//! and answering with the statuses it is told (then 200). [`Webhook::start_tls`]
//! serves https with a certificate of its own test CA, whose PEM file the
//! broker is given as `SSL_CERT_FILE`.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_rustls::rustls;

#[derive(Clone, Debug)]
pub struct Call {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    calls: Vec<Call>,
    /// Statuses for the next requests, in order; 200 when empty.
    script: VecDeque<u16>,
}

pub struct Webhook {
    pub url: String,
    /// With TLS: the PEM file of the CA that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
    shared: Arc<Mutex<Shared>>,
    _dir: Option<tempfile::TempDir>,
}

/// Reads one request from `conn`, records it and answers it.
fn serve(mut conn: impl Read + Write, shared: &Mutex<Shared>) {
    let (path, headers, body) = {
        let mut r = BufReader::new(&mut conn);
        let mut line = String::new();
        if r.read_line(&mut line).is_err() {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.trim_end().split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        (path, headers, body)
    };
    let status = {
        let mut sh = shared.lock().unwrap();
        let status = sh.script.pop_front().unwrap_or(200);
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        sh.calls.push(Call { path, headers, body });
        status
    };
    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = conn.write_all(reply.as_bytes());
    let _ = conn.flush();
}

impl Webhook {
    pub fn start() -> Webhook {
        Webhook::listen(None, None)
    }

    /// An https receiver; give the broker `SSL_CERT_FILE` = [`Webhook::ca_file`].
    pub fn start_tls() -> Webhook {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, "weir webhook test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = p.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert =
            CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(weir_broker::net::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("webhook-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let mut hook = Webhook::listen(Some(Arc::new(config)), Some(ca_file));
        hook._dir = Some(dir);
        hook
    }

    fn listen(tls: Option<Arc<rustls::ServerConfig>>, ca_file: Option<PathBuf>) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/hook", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        // Ends with the test process; each connection carries one request.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                match &tls {
                    None => serve(conn, &s),
                    Some(config) => {
                        let Ok(server) = rustls::ServerConnection::new(config.clone()) else { continue };
                        let mut stream = rustls::StreamOwned::new(server, conn);
                        serve(&mut stream, &s);
                        stream.conn.send_close_notify();
                        let _ = stream.flush();
                    }
                }
            }
        });
        Webhook { url, ca_file, shared, _dir: None }
    }

    /// The next requests get these statuses.
    pub fn answer(&self, statuses: &[u16]) {
        self.shared.lock().unwrap().script.extend(statuses);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().unwrap().calls.clone()
    }

    /// Waits (up to `within`) until `pred` holds for the calls so far; returns them.
    pub fn wait_for(&self, within: Duration, what: &str, pred: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        let start = Instant::now();
        loop {
            let calls = self.calls();
            if pred(&calls) {
                return calls;
            }
            assert!(start.elapsed() < within, "webhook never saw {what}; calls: {calls:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
