//! How the message browser shows a key or a value: decoded through the schema
//! registry when it is in Confluent's wire format with a known schema id
//! (Avro, JSON Schema, Protobuf: the JSON, schema id, subject and version),
//! else as JSON when it parses as a JSON object or array, else as text when
//! it is UTF-8, else as hex. Every form carries the raw size; bytes that
//! fail to decode through their schema are shown as hex with the reason.

use serde_json::{json, Value};
use weir_registry::store::Store;

/// Most bytes shown as text or hex per field (the rest is cut, and said so).
pub const MAX_SHOWN: usize = 64 * 1024;

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len().min(MAX_SHOWN) * 2);
    for x in &b[..b.len().min(MAX_SHOWN)] {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// The shown form of one key or value.
pub fn field(bytes: Option<&[u8]>, registry: Option<&Store>, subject_hint: &str) -> Value {
    let Some(b) = bytes else { return json!({ "encoding": "null", "size": 0 }) };
    if let Some(decoded) = registry.and_then(|r| r.decode(b, Some(subject_hint))) {
        return match decoded {
            Ok(d) => json!({
                "encoding": d.schema_type.name().to_ascii_lowercase(),
                "schema_id": d.schema_id,
                "subject": d.subject,
                "version": d.version,
                "json": d.value,
                "size": b.len(),
            }),
            Err(e) => json!({
                "encoding": "hex",
                "schema_id": weir_registry::wire::schema_id(b),
                "error": e,
                "hex": hex(b),
                "truncated": b.len() > MAX_SHOWN,
                "size": b.len(),
            }),
        };
    }
    if let Ok(text) = std::str::from_utf8(b) {
        let t = text.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                return json!({ "encoding": "json", "json": v, "size": b.len() });
            }
        }
        let cut = text.len() > MAX_SHOWN;
        let shown = if cut {
            let mut end = MAX_SHOWN;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            &text[..end]
        } else {
            text
        };
        return json!({ "encoding": "text", "text": shown, "truncated": cut, "size": b.len() });
    }
    json!({ "encoding": "hex", "hex": hex(b), "truncated": b.len() > MAX_SHOWN, "size": b.len() })
}

/// The text a filter matches a shown field against: its JSON, text or hex.
pub fn searchable(f: &Value) -> String {
    match f["encoding"].as_str() {
        Some("text") => f["text"].as_str().unwrap_or_default().to_string(),
        Some("hex") => f["hex"].as_str().unwrap_or_default().to_string(),
        Some("null") => String::new(),
        _ => f["json"].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes_show_as_json_text_or_hex() {
        assert_eq!(field(None, None, "t-value")["encoding"], "null");
        let j = field(Some(br#"{"a":1}"#), None, "t-value");
        assert_eq!((j["encoding"].as_str(), j["json"]["a"].as_i64()), (Some("json"), Some(1)));
        let t = field(Some(b"plain words"), None, "t-value");
        assert_eq!((t["encoding"].as_str(), t["text"].as_str()), (Some("text"), Some("plain words")));
        let broken_json = field(Some(b"{not json"), None, "t-value");
        assert_eq!(broken_json["encoding"], "text");
        let h = field(Some(&[0xff, 0x00, 0x10]), None, "t-value");
        assert_eq!(
            (h["encoding"].as_str(), h["hex"].as_str(), h["size"].as_u64()),
            (Some("hex"), Some("ff0010"), Some(3))
        );
        assert_eq!(searchable(&j), r#"{"a":1}"#);
    }
}
