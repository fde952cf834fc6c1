//! Confluent's wire format of serialized record keys and values, for the
//! console's message browser (decode) and its produce form (encode):
//!
//! ```text
//! 0x00 | schema id (i32, big-endian) | [Protobuf: message indexes] | data
//! ```
//!
//! Avro data is a binary datum of the writer schema; JSON Schema data is JSON
//! text; Protobuf message indexes are a zigzag-varint count then that many
//! zigzag-varint indexes naming the message in the file (nested messages by
//! path), a lone 0 meaning the first message. Schemas come from the registry's
//! state with their references resolved (dependencies first).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::schema::{Reference, SchemaType};
use crate::state::State;
use crate::store::Store;

/// A payload decoded through the registry.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub schema_id: i32,
    pub schema_type: SchemaType,
    /// A subject and version registered with this id (the one named by the
    /// hint when it is among them).
    pub subject: Option<String>,
    pub version: Option<i32>,
    pub value: Value,
}

pub use weir_broker::schema_validation::schema_id;

/// (import name, schema type, text) of every schema `refs` reach, dependencies first.
fn dependencies(st: &State, refs: &[Reference]) -> Result<Vec<(String, SchemaType, String)>, String> {
    fn walk(
        st: &State,
        refs: &[Reference],
        seen: &mut BTreeSet<(String, i32)>,
        out: &mut Vec<(String, SchemaType, String)>,
    ) -> Result<(), String> {
        for r in refs {
            if !seen.insert((r.subject.clone(), r.version)) {
                continue;
            }
            let v = st
                .versions(&r.subject)
                .and_then(|vs| vs.get(&r.version))
                .ok_or_else(|| format!("reference {} version {} is not registered", r.subject, r.version))?;
            walk(st, &v.references, seen, out)?;
            out.push((r.name.clone(), v.schema_type, v.schema.clone()));
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(st, refs, &mut BTreeSet::new(), &mut out)?;
    Ok(out)
}

/// A registered schema made ready to decode and encode with (also by `weir
/// produce`/`consume`, from schemas read over the REST API).
pub enum Codec {
    /// The named schemas it may refer to, then the writer schema, last.
    Avro(Vec<apache_avro::Schema>),
    Json,
    Protobuf(prost_reflect::FileDescriptor),
}

impl Codec {
    /// `deps`: (import name, type, text) of every schema the references
    /// reach, dependencies first.
    pub fn build(ty: SchemaType, text: &str, deps: &[(String, SchemaType, String)]) -> Result<Codec, String> {
        Ok(match ty {
            SchemaType::Avro => {
                let mut texts: Vec<&str> = deps.iter().map(|(_, _, t)| t.as_str()).collect();
                texts.push(text);
                for t in &texts {
                    if let Ok(v) = serde_json::from_str::<Value>(t) {
                        ascii_type_names(&v)?;
                    }
                }
                Codec::Avro(
                    apache_avro::Schema::parse_list(&texts)
                        .map_err(|e| format!("the registered Avro schema does not parse: {e}"))?,
                )
            }
            SchemaType::Json => Codec::Json,
            SchemaType::Protobuf => {
                let refs: Vec<(String, String)> =
                    deps.iter().map(|(name, _, text)| (name.clone(), text.clone())).collect();
                Codec::Protobuf(crate::proto::compile_file(text, &refs)?)
            }
        })
    }

    /// The data after the 5-byte header as JSON.
    pub fn decode(&self, mut data: &[u8]) -> Result<Value, String> {
        match self {
            Codec::Avro(schemata) => {
                let (main, named) = schemata.split_last().ok_or("no schema")?;
                crate::avro_bound::check(main, named, data).map_err(|e| format!("not decoded: {e}"))?;
                let v = apache_avro::from_avro_datum_schemata(main, named.iter().collect(), &mut data, None)
                    .map_err(|e| format!("not an Avro datum of schema: {e}"))?;
                Value::try_from(v).map_err(|e| format!("cannot show the Avro value as JSON: {e}"))
            }
            Codec::Json => serde_json::from_slice(data).map_err(|e| format!("not JSON: {e}")),
            Codec::Protobuf(file) => crate::proto::decode_message(file, data),
        }
    }

    /// JSON as a whole payload in the wire format: the header with `id`, then the data.
    pub fn frame(&self, id: i32, value: &Value) -> Result<Vec<u8>, String> {
        let mut out = vec![0u8];
        out.extend_from_slice(&id.to_be_bytes());
        out.extend(self.encode(value)?);
        Ok(out)
    }

    /// JSON as the data after the 5-byte header.
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, String> {
        match self {
            Codec::Avro(schemata) => {
                let (main, named) = schemata.split_last().ok_or("no schema")?;
                let v = apache_avro::types::Value::from(value.clone())
                    .resolve_schemata(main, named.iter().collect())
                    .map_err(|e| format!("the value does not fit the schema: {e}"))?;
                apache_avro::to_avro_datum_schemata(main, named.iter().collect(), v).map_err(|e| e.to_string())
            }
            Codec::Json => serde_json::to_vec(value).map_err(|e| e.to_string()),
            Codec::Protobuf(file) => crate::proto::encode_message(file, value),
        }
    }
}

/// Codecs by schema id, so that a page of records parses (or compiles) its
/// schema once, not once per record. An id names one schema for good, but a
/// registry rebuilt from a deleted `_schemas` may give it again: each entry
/// keeps the text it was built from and is rebuilt when the text differs.
#[derive(Default)]
pub struct Codecs(Mutex<HashMap<i32, (String, Arc<Codec>)>>);

impl Store {
    /// The codec of schema `id` (type, text and references as registered).
    fn codec(&self, id: i32, ty: SchemaType, text: &str, refs: &[Reference]) -> Result<Arc<Codec>, String> {
        if let Some((t, c)) = self.codecs.0.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            if t == text {
                return Ok(c.clone());
            }
        }
        let deps = self.read(|st| dependencies(st, refs).map_err(crate::ApiError::store)).map_err(|e| e.to_string())?;
        let codec = Arc::new(Codec::build(ty, text, &deps)?);
        self.codecs.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (text.to_string(), codec.clone()));
        Ok(codec)
    }

    /// Decodes `payload` if it is in Confluent's wire format with a schema id
    /// the registry knows; None when it is not (then it is plain bytes).
    /// `subject_hint` (`<topic>-value`) picks the subject shown when several
    /// use the id.
    pub fn decode(&self, payload: &[u8], subject_hint: Option<&str>) -> Option<Result<Decoded, String>> {
        let id = schema_id(payload)?;
        let found = self.read(|st| {
            let Some((ty, text, refs)) = st.by_id.get(&id) else { return Ok(None) };
            let mut users: Vec<(String, i32)> = st
                .subjects
                .iter()
                .flat_map(|(s, vs)| {
                    vs.values().filter(|v| v.id == id && !v.deleted).map(move |v| (s.clone(), v.version))
                })
                .collect();
            if let Some(pos) = subject_hint.and_then(|h| users.iter().position(|(s, _)| s == h)) {
                users.swap(0, pos);
            }
            Ok(Some((*ty, text.clone(), refs.clone(), users.into_iter().next())))
        });
        let (ty, text, refs, user) = match found {
            Ok(Some(f)) => f,
            Ok(None) => return None,
            Err(e) => return Some(Err(e.to_string())),
        };
        let value = self.codec(id, ty, &text, &refs).and_then(|c| c.decode(&payload[5..]));
        Some(value.map(|value| Decoded {
            schema_id: id,
            schema_type: ty,
            subject: user.as_ref().map(|u| u.0.clone()),
            version: user.map(|u| u.1),
            value,
        }))
    }

    /// Serializes `value` (JSON) with `subject`'s schema (`version`, default the
    /// latest) in Confluent's wire format, as the Confluent serializers do.
    pub fn encode(&self, subject: &str, version: Option<i32>, value: &Value) -> Result<(i32, Vec<u8>), String> {
        let (id, ty, text, refs) = self
            .read(|st| {
                let vs = st.versions(subject).ok_or_else(|| crate::ApiError::subject_not_found(subject))?;
                let v = match version {
                    Some(n) => vs.get(&n).filter(|v| !v.deleted),
                    None => vs.values().rev().find(|v| !v.deleted),
                }
                .ok_or_else(|| {
                    crate::ApiError::version_not_found(&version.map_or("latest".into(), |v| v.to_string()))
                })?;
                Ok((v.id, v.schema_type, v.schema.clone(), v.references.clone()))
            })
            .map_err(|e| e.to_string())?;
        Ok((id, self.codec(id, ty, &text, &refs)?.frame(id, value)?))
    }
}

/// apache-avro 0.17 panics (an unwrap in `Name::parse`) on a record, enum or
/// fixed name outside `[A-Za-z_][A-Za-z0-9_]*` (dotted), which Avro Java and
/// the registry accept (any Unicode letter): such a schema gets an error here
/// instead of a panic in the console or the produce path.
fn ascii_type_names(v: &Value) -> Result<(), String> {
    match v {
        Value::Array(items) => items.iter().try_for_each(ascii_type_names),
        Value::Object(o) => {
            let named = matches!(o.get("type").and_then(Value::as_str), Some("record" | "error" | "enum" | "fixed"));
            if let (true, Some(Value::String(name))) = (named, o.get("name")) {
                let ident = |s: &str| {
                    let mut c = s.chars();
                    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
                };
                // As its pattern: `name`, `ns.name`, or `.name` (an empty namespace).
                let ok = match name.strip_prefix('.') {
                    Some(rest) => ident(rest),
                    None => name.split('.').all(ident),
                };
                if !ok {
                    return Err(format!(
                        "the Avro codec takes only ASCII letters, digits and '_' in type names: '{name}'"
                    ));
                }
            }
            o.values().try_for_each(ascii_type_names)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_header() {
        assert_eq!(schema_id(&[0, 0, 0, 1, 2, 9]), Some(258));
        assert_eq!(schema_id(&[1, 0, 0, 0, 1]), None, "magic byte must be 0");
        assert_eq!(schema_id(&[0, 0, 0]), None, "too short");
    }

    #[test]
    fn avro_round_trip_with_a_union() {
        let schema = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null}]}"#;
        let value = serde_json::json!({ "id": 7, "note": "rush" });
        let codec = Codec::build(SchemaType::Avro, schema, &[]).unwrap();
        let bytes = codec.encode(&value).unwrap();
        assert_eq!(codec.decode(&bytes).unwrap(), value);
        assert!(codec.encode(&serde_json::json!({ "id": "seven" })).is_err());
        assert!(codec.decode(&[0xff]).is_err());
    }

    #[test]
    fn an_avro_datum_announcing_a_huge_block_is_refused_not_allocated() {
        // apache-avro would reserve room for 2^32 map entries (hundreds of GiB)
        // and abort the process: found by the registry_schema fuzz campaign.
        let codec = Codec::build(
            SchemaType::Avro,
            r#"{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":"string"}}]}"#,
            &[],
        )
        .unwrap();
        let e = codec.decode(&[0x80, 0x80, 0x80, 0x80, 0x20, 2, b'k']).unwrap_err();
        assert!(e.contains("items"), "{e}");
    }

    #[test]
    fn a_json_number_survives_decode_and_encode() {
        // Found by the registry_schema fuzz target: serde_json's default float
        // parser was a unit off in the last place for this literal.
        let codec = Codec::Json;
        let payload = format!("{{\"id\": {}}}", "3".repeat(101));
        let value = codec.decode(payload.as_bytes()).unwrap();
        assert_eq!(codec.decode(&codec.encode(&value).unwrap()).unwrap(), value);
    }

    #[test]
    fn a_non_ascii_type_name_is_an_error_not_a_panic() {
        // Found by the registry_schema fuzz campaign: apache-avro unwraps its name check.
        let schema = r#"{"type":"record","name":"Usźer","fields":[{"name":"id","type":"long"}]}"#;
        let err = Codec::build(SchemaType::Avro, schema, &[]).err().expect("an error");
        assert!(err.contains("Usźer"), "{err}");
        let nested = r#"{"type":"record","name":"a.B","fields":[{"name":"e","type":{"type":"enum","name":"Ę","symbols":["X"]}}]}"#;
        assert!(Codec::build(SchemaType::Avro, nested, &[]).is_err());
        for fine in [".B2", "a_1.B2"] {
            let f = r#"[{"name":"f","type":{"type":"fixed","name":"F","size":2}}]"#;
            let schema = format!(r#"{{"type":"record","name":"{fine}","fields":{f}}}"#);
            assert!(Codec::build(SchemaType::Avro, &schema, &[]).is_ok(), "{fine}");
        }
        let dotted = r#"{"type":"record","name":".a.B","fields":[]}"#;
        assert!(Codec::build(SchemaType::Avro, dotted, &[]).is_err(), "a namespace after a leading dot");
    }
}
