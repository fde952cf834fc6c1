//! A minimal HTTP/1.1 client for the REST tests (one request per connection), so
//! the tests see exactly the status, headers and body the server sends.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    /// Confluent's error code, or 0 for a success.
    pub fn error_code(&self) -> i64 {
        if self.status < 300 {
            return 0;
        }
        self.json()["error_code"].as_i64().unwrap_or(-1)
    }
}

/// Sends one request; `body` is sent as JSON.
pub fn request(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    request_raw(addr, method, path, "application/vnd.schemaregistry.v1+json", payload.as_bytes())
}

/// Sends one request with a body of any content type.
pub fn request_raw(addr: &str, method: &str, path: &str, content_type: &str, payload: &[u8]) -> Reply {
    request_with(addr, method, path, content_type, "application/vnd.schemaregistry.v1+json, application/json", payload)
}

/// Sends one request with the `Content-Type` and `Accept` given (empty: none).
pub fn request_with(addr: &str, method: &str, path: &str, content_type: &str, accept: &str, payload: &[u8]) -> Reply {
    let mut headers = String::new();
    if !content_type.is_empty() {
        headers += &format!("Content-Type: {content_type}\r\n");
    }
    if !accept.is_empty() {
        headers += &format!("Accept: {accept}\r\n");
    }
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        payload.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(payload);
    exchange(addr, &bytes)
}

/// Sends `bytes` as they are (a request, or part of one) on a new connection
/// and reads the response until the server closes the connection.
pub fn exchange(addr: &str, bytes: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    // A server that answers before reading all it was sent (431, 413) resets
    // the connection when it closes it; what it answered was read by then.
    if let Err(e) = s.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "no response: {e}");
    }
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").expect("a complete response");
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string())
        })
    };
    let body = if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut out = String::new();
        let mut rest = rest;
        loop {
            let (len, tail) = rest.split_once("\r\n").unwrap();
            let n = usize::from_str_radix(len.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        rest.to_string()
    };
    Reply { status, content_type: header("content-type").unwrap_or_default(), body }
}

pub fn get(addr: &str, path: &str) -> Reply {
    request(addr, "GET", path, None)
}
pub fn post(addr: &str, path: &str, body: &Value) -> Reply {
    request(addr, "POST", path, Some(body))
}
pub fn put(addr: &str, path: &str, body: &Value) -> Reply {
    request(addr, "PUT", path, Some(body))
}
pub fn delete(addr: &str, path: &str) -> Reply {
    request(addr, "DELETE", path, None)
}
