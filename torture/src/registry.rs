//! Schema registrations through the registry's REST API (HTTP/1.1 over a plain
//! socket; one request per connection), and their check.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::workload::Shared;

/// `(status, body)` of one request; None when the registry does not answer.
pub fn request(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(payload.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.into() };
    Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An Avro record with fields `f0..=fn`, each added with a default, so every
/// version is backward compatible with the one before.
fn schema(n: usize) -> Value {
    let fields: Vec<Value> = (0..=n).map(|i| json!({"name": format!("f{i}"), "type": "long", "default": 0})).collect();
    json!({"type": "record", "name": "Torture", "fields": fields})
}

pub fn field_names(schema: &Value) -> Vec<String> {
    schema["fields"].as_array().into_iter().flatten().filter_map(|f| f["name"].as_str().map(String::from)).collect()
}

/// Registers a new version of one of four subjects every 250 ms.
pub fn register(addr: String, history: Shared, stop: Arc<AtomicBool>) {
    let mut versions = [0usize; 4];
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let k = n % 4;
        n += 1;
        let subject = format!("torture-{k}-value");
        let s = schema(versions[k]);
        let body = json!({"schema": s.to_string()});
        if let Some((200, reply)) = request(&addr, "POST", &format!("/subjects/{subject}/versions"), Some(&body)) {
            if let Some(id) = reply["id"].as_i64() {
                let mut h = history.lock().unwrap_or_else(|p| p.into_inner());
                h.schemas.push((subject, field_names(&s), id));
                versions[k] += 1;
            }
        }
    }
}

/// Every acknowledged registration: its id still names its schema, and the
/// subject still lists it.
pub fn check(addr: &str, schemas: &[(String, Vec<String>, i64)], violations: &mut Vec<String>) {
    for (subject, fields, id) in schemas {
        match request(addr, "GET", &format!("/schemas/ids/{id}"), None) {
            Some((200, v)) => {
                let text = v["schema"].as_str().unwrap_or_default();
                let got = serde_json::from_str::<Value>(text).map(|s| field_names(&s)).unwrap_or_default();
                if &got != fields {
                    violations.push(format!("schema id {id} ({subject}) names fields {got:?}, registered {fields:?}"));
                }
            }
            other => violations.push(format!("schema id {id} ({subject}) is gone: {other:?}")),
        }
        let body = json!({"schema": json!({"type": "record", "name": "Torture",
            "fields": fields.iter().map(|f| json!({"name": f, "type": "long", "default": 0})).collect::<Vec<_>>()}).to_string()});
        match request(addr, "POST", &format!("/subjects/{subject}"), Some(&body)) {
            Some((200, v)) if v["id"].as_i64() == Some(*id) => {}
            other => violations.push(format!("subject {subject} does not hold schema id {id}: {other:?}")),
        }
    }
}
