//! Schema types and their parsing: what a schema string must be to be registered,
//! and the canonical text two registrations are compared by (so that the same
//! schema gets the same id whatever its whitespace).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compat::avro::AvroSchema;
use crate::compat::protobuf::ProtoFile;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SchemaType {
    #[serde(rename = "AVRO")]
    Avro,
    #[serde(rename = "JSON")]
    Json,
    #[serde(rename = "PROTOBUF")]
    Protobuf,
}

impl SchemaType {
    pub fn parse(s: Option<&str>) -> Result<SchemaType, String> {
        match s.map(str::to_ascii_uppercase).as_deref() {
            None | Some("AVRO") | Some("") => Ok(SchemaType::Avro),
            Some("JSON") => Ok(SchemaType::Json),
            Some("PROTOBUF") => Ok(SchemaType::Protobuf),
            Some(other) => Err(format!("Invalid schema type {other}")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A schema parsed for compatibility checks.
#[derive(Clone, Debug)]
pub enum Parsed {
    Avro(AvroSchema),
    Json(Value),
    Protobuf(ProtoFile),
}

/// A referenced schema: the name the referrer imports it by, its type and text.
#[derive(Clone, Debug)]
pub struct Dep {
    pub name: String,
    pub ty: SchemaType,
    pub text: String,
}

/// Compact JSON text, key order kept.
fn compact(v: &Value) -> String {
    serde_json::to_string(v).expect("JSON values serialize")
}

/// The key two schemas of one type are the same schema by: the canonical text,
/// with JSON objects' keys sorted for the JSON-based types. Avro texts are put in
/// canonical form first, so texts stored before it existed compare too.
pub fn identity(ty: SchemaType, text: &str) -> String {
    let json = || serde_json::from_str::<Value>(text).ok();
    let key = match ty {
        SchemaType::Protobuf => None,
        SchemaType::Json => json().map(|v| crate::canonical::sorted_json(&v)),
        SchemaType::Avro => json()
            .and_then(|v| serde_json::from_str::<Value>(&crate::canonical::avro(&v)).ok())
            .map(|c| crate::canonical::sorted_json(&c)),
    };
    key.unwrap_or_else(|| text.to_string())
}

/// The checks Confluent applies to a schema being registered or checked for
/// compatibility, beyond `parse`: Avro field defaults must fit their types.
pub fn check_new(ty: SchemaType, text: &str, references: &[Dep]) -> Result<(), String> {
    if ty != SchemaType::Avro {
        return Ok(());
    }
    let parse = |t: &str| serde_json::from_str::<Value>(t).map_err(|e| e.to_string());
    let refs = references.iter().map(|d| parse(&d.text)).collect::<Result<Vec<_>, _>>()?;
    crate::avro_check::check(&parse(text)?, &refs, true)
        .map_err(|e| format!("Invalid schema of type AVRO, details: {e}"))
}

/// Validates `text` as a schema of type `ty` (its references given, dependencies
/// first) and returns its canonical text and parsed form. `normalize` is
/// Confluent's `normalize=true`: the canonical text is also put in a normal form
/// (properties, keys, options and fields sorted as each type allows).
pub fn parse(ty: SchemaType, text: &str, references: &[Dep], normalize: bool) -> Result<(String, Parsed), String> {
    if text.trim().is_empty() {
        return Err("Empty schema".into());
    }
    // Confluent's wording: "Invalid schema of type AVRO, details: <parser message>".
    parse_as(ty, text, references, normalize).map_err(|e| {
        let details = e.strip_prefix("Invalid schema: ").unwrap_or(&e);
        format!("Invalid schema of type {}, details: {details}", ty.name())
    })
}

fn parse_as(ty: SchemaType, text: &str, references: &[Dep], normalize: bool) -> Result<(String, Parsed), String> {
    match ty {
        SchemaType::Avro => {
            let json: Value = serde_json::from_str(text).map_err(|e| format!("Invalid schema: {e}"))?;
            let mut ref_json = Vec::new();
            for d in references {
                if d.ty != SchemaType::Avro {
                    return Err("Invalid schema: an Avro schema can only reference Avro schemas".into());
                }
                ref_json.push(
                    serde_json::from_str::<Value>(&d.text).map_err(|e| format!("Invalid referenced schema: {e}"))?,
                );
            }
            // Avro's own rules and messages; defaults are checked by `check_new`.
            crate::avro_check::check(&json, &ref_json, false)?;
            let model = AvroSchema::parse(&json, &ref_json).map_err(|e| format!("Invalid schema: {e}"))?;
            let canonical =
                if normalize { crate::canonical::avro_normalized(&json) } else { crate::canonical::avro(&json) };
            Ok((canonical, Parsed::Avro(model)))
        }
        SchemaType::Json => {
            let json: Value = serde_json::from_str(text).map_err(|e| format!("Invalid schema: {e}"))?;
            if !json.is_object() && !json.is_boolean() {
                return Err("Invalid schema: a JSON Schema is an object or a boolean".into());
            }
            let canonical = if normalize { crate::canonical::sorted_json(&json) } else { compact(&json) };
            Ok((canonical, Parsed::Json(json)))
        }
        SchemaType::Protobuf => {
            let refs: Vec<(String, String)> = references
                .iter()
                .filter(|d| d.ty == SchemaType::Protobuf)
                .map(|d| (d.name.clone(), d.text.clone()))
                .collect();
            let c = crate::proto::compile(text, &refs, normalize).map_err(|e| format!("Invalid schema: {e}"))?;
            Ok((c.canonical, Parsed::Protobuf(c.model)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_schemas_of_every_shape_parse() {
        for text in [
            r#""string""#,
            r#"{"type": "string"}"#,
            r#"["null", "string"]"#,
            r#"{"type": "array", "items": "int"}"#,
            r#"{"type": "map", "values": {"type": "enum", "name": "E", "symbols": ["A"]}}"#,
            r#"{"type": "fixed", "name": "F", "size": 4}"#,
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}"#,
        ] {
            assert!(
                parse(SchemaType::Avro, text, &[], false).is_ok(),
                "{text}: {:?}",
                parse(SchemaType::Avro, text, &[], false).err()
            );
        }
        for bad in [r#""strin""#, r#"{"type": "array"}"#, r#"{"type": "record", "fields": []}"#, "[1]"] {
            assert!(parse(SchemaType::Avro, bad, &[], false).is_err(), "{bad}");
        }
        // A union of referenced records (Confluent's pattern for several event types).
        let a = r#"{"type": "record", "name": "A", "namespace": "x", "fields": []}"#.to_string();
        let b = r#"{"type": "record", "name": "B", "namespace": "x", "fields": []}"#.to_string();
        let dep = |name: &str, text: String| Dep { name: name.into(), ty: SchemaType::Avro, text };
        let refs = [dep("x.A", a), dep("x.B", b)];
        assert!(parse(SchemaType::Avro, r#"["x.A", "x.B"]"#, &refs, false).is_ok());
        assert!(parse(SchemaType::Avro, r#"["x.A", "x.C"]"#, &refs, false).is_err(), "x.C is not defined");
    }
}
