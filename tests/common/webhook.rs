//! A webhook receiver for the alert tests: an HTTP/1.1 server on a loopback
//! port the OS picks, recording each request's path, headers and JSON body,
//! and answering with the statuses it is told (then 200).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

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
    shared: Arc<Mutex<Shared>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        // Ends with the test process; each connection carries one request.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
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
                    continue;
                }
                let status = {
                    let mut sh = s.lock().unwrap();
                    let status = sh.script.pop_front().unwrap_or(200);
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    sh.calls.push(Call { path, headers, body });
                    status
                };
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        Webhook { url, shared }
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
