//! Canonical forms: the text a schema is stored and returned as, and the identity
//! key two registrations are compared by, so that the same schema gets the same id
//! whatever its whitespace, key order or redundant attributes.
//!
//! Avro's canonical text is what Avro's Java `Schema.toString()` writes, as
//! Confluent stores it: per kind a fixed key order (`type`, `name`, `namespace`,
//! `doc`, then `fields` / `symbols` / `size` / `items` / `values`, then other
//! properties, then `aliases`), `namespace` only where it differs from the
//! enclosing one, a named type written in full once and by name afterwards, a
//! primitive without properties as a bare string (so `{"type": "string", "name":
//! "x"}` is `"string"`: `name` is reserved there and dropped), field `order` only
//! when not ascending. JSON Schema's canonical text is the compact JSON, key order
//! kept. The identity key of both is the canonical JSON with every object's keys
//! sorted, so key order never makes a new schema.

use std::collections::HashSet;

use serde_json::{Map, Value};

const PRIMITIVES: &[&str] = &["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

/// Attributes Avro consumes itself: never written back as properties.
const SCHEMA_RESERVED: &[&str] =
    &["doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"];
const FIELD_RESERVED: &[&str] = &["default", "doc", "name", "order", "type", "aliases"];

/// Avro's canonical text of a schema that has already been validated.
pub fn avro(schema: &Value) -> String {
    let mut w = AvroWriter { defined: HashSet::new(), sort: false };
    w.schema(schema, None).to_string()
}

/// The canonical text under `normalize=true`: as `avro`, with properties and
/// aliases sorted, as Confluent's normalizer does.
pub fn avro_normalized(schema: &Value) -> String {
    let mut w = AvroWriter { defined: HashSet::new(), sort: true };
    w.schema(schema, None).to_string()
}

/// Avro's Parsing Canonical Form (the Avro specification's): full names, only
/// the attributes that matter to parsing (`name`, `type`, `fields`, `symbols`,
/// `items`, `values`, `size`, in that order), primitives as bare strings, a named
/// type in full once and by full name afterwards. What fingerprints hash.
pub fn avro_parsing_canonical(schema: &Value) -> String {
    fn pcf(v: &Value, space: Option<&str>, defined: &mut HashSet<String>) -> Value {
        let reference = |name: &str, defined: &HashSet<String>| -> Value {
            if PRIMITIVES.contains(&name) {
                return Value::String(name.to_string());
            }
            let (ns, short) = resolve_name(name, space, defined);
            Value::String(full_name(ns.as_deref(), &short))
        };
        match v {
            Value::String(s) => reference(s, defined),
            Value::Array(a) => Value::Array(a.iter().map(|b| pcf(b, space, defined)).collect()),
            Value::Object(o) => match o.get("type") {
                Some(Value::String(t)) => match t.as_str() {
                    p if PRIMITIVES.contains(&p) => Value::String(p.to_string()),
                    "record" | "error" | "enum" | "fixed" => {
                        let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
                        let (ns, short) = split_name(name, o.get("namespace").and_then(Value::as_str), space);
                        let full = full_name(ns.as_deref(), &short);
                        if !defined.insert(full.clone()) {
                            return Value::String(full);
                        }
                        let mut out = Map::new();
                        out.insert("name".into(), Value::String(full));
                        out.insert("type".into(), Value::String(t.clone()));
                        if let Some(fields) = o.get("fields").and_then(Value::as_array) {
                            let fields = fields
                                .iter()
                                .map(|f| {
                                    let mut fo = Map::new();
                                    if let Some(n) = f.get("name") {
                                        fo.insert("name".into(), n.clone());
                                    }
                                    if let Some(ft) = f.get("type") {
                                        fo.insert("type".into(), pcf(ft, ns.as_deref(), defined));
                                    }
                                    Value::Object(fo)
                                })
                                .collect();
                            out.insert("fields".into(), Value::Array(fields));
                        }
                        for k in ["symbols", "size"] {
                            if let Some(x) = o.get(k) {
                                out.insert(k.into(), x.clone());
                            }
                        }
                        Value::Object(out)
                    }
                    "array" | "map" => {
                        let inner = if t == "array" { "items" } else { "values" };
                        let mut out = Map::new();
                        out.insert("type".into(), Value::String(t.clone()));
                        if let Some(i) = o.get(inner) {
                            out.insert(inner.into(), pcf(i, space, defined));
                        }
                        Value::Object(out)
                    }
                    name => reference(name, defined),
                },
                Some(inner) => pcf(inner, space, defined),
                None => v.clone(),
            },
            other => other.clone(),
        }
    }
    pcf(schema, None, &mut HashSet::new()).to_string()
}

/// Compact JSON with every object's keys sorted: the identity of JSON-based schemas.
pub fn sorted_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&o[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

struct AvroWriter {
    /// Full names of the named types written so far: later uses are by name.
    defined: HashSet<String>,
    /// Properties and aliases sorted (normalized form).
    sort: bool,
}

/// Splits a declared name into (namespace, short name) as Avro's `Name` does: a
/// dotted name carries its namespace; otherwise the `namespace` attribute, else
/// the enclosing one. An empty namespace is none.
fn split_name(name: &str, attr: Option<&str>, enclosing: Option<&str>) -> (Option<String>, String) {
    match name.rsplit_once('.') {
        Some((ns, short)) => ((!ns.is_empty()).then(|| ns.to_string()), short.to_string()),
        None => {
            let ns = attr.or(enclosing).filter(|s| !s.is_empty()).map(str::to_string);
            (ns, name.to_string())
        }
    }
}

/// A used name resolved as Avro's `Names.get` does: a dotted name is full; a
/// simple one is in the enclosing namespace unless only the nameless one defines
/// it. Returns (namespace, short name).
fn resolve_name(name: &str, space: Option<&str>, defined: &HashSet<String>) -> (Option<String>, String) {
    match name.rsplit_once('.') {
        Some((ns, short)) => (Some(ns.to_string()), short.to_string()),
        None => match space {
            Some(sp) if !defined.contains(name) || defined.contains(&full_name(Some(sp), name)) => {
                (Some(sp.to_string()), name.to_string())
            }
            _ => (None, name.to_string()),
        },
    }
}

fn full_name(ns: Option<&str>, short: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}.{short}"),
        None => short.to_string(),
    }
}

impl AvroWriter {
    fn schema(&mut self, v: &Value, space: Option<&str>) -> Value {
        match v {
            Value::String(s) => self.reference(s, space),
            Value::Array(branches) => Value::Array(branches.iter().map(|b| self.schema(b, space)).collect()),
            Value::Object(o) => match o.get("type") {
                Some(Value::String(t)) => match t.as_str() {
                    "record" | "error" | "enum" | "fixed" => self.named(t, o, space),
                    "array" | "map" => {
                        let inner = if t == "array" { "items" } else { "values" };
                        let mut out = Map::new();
                        out.insert("type".into(), Value::String(t.clone()));
                        if let Some(i) = o.get(inner) {
                            out.insert(inner.into(), self.schema(i, space));
                        }
                        props(o, SCHEMA_RESERVED, self.sort, &mut out);
                        Value::Object(out)
                    }
                    p if PRIMITIVES.contains(&p) => {
                        let mut out = Map::new();
                        out.insert("type".into(), Value::String(t.clone()));
                        props(o, SCHEMA_RESERVED, self.sort, &mut out);
                        if out.len() == 1 {
                            Value::String(t.clone())
                        } else {
                            Value::Object(out)
                        }
                    }
                    // `{"type": "some.Name"}`: a use of a named type.
                    name => self.reference(name, space),
                },
                // `{"type": <schema>}` wraps a schema; Avro reads the inner one.
                Some(inner) => self.schema(inner, space),
                None => v.clone(),
            },
            other => other.clone(),
        }
    }

    fn reference(&self, name: &str, space: Option<&str>) -> Value {
        if PRIMITIVES.contains(&name) {
            return Value::String(name.to_string());
        }
        let (ns, short) = resolve_name(name, space, &self.defined);
        // Written relative to the enclosing namespace, as `Name.getQualified` does.
        if ns.is_none() || ns.as_deref() == space {
            Value::String(short)
        } else {
            Value::String(full_name(ns.as_deref(), &short))
        }
    }

    fn named(&mut self, t: &str, o: &Map<String, Value>, space: Option<&str>) -> Value {
        let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
        let (ns, short) = split_name(name, o.get("namespace").and_then(Value::as_str), space);
        let full = full_name(ns.as_deref(), &short);
        if !self.defined.insert(full.clone()) {
            return self.reference(&full, space);
        }
        let mut out = Map::new();
        out.insert("type".into(), Value::String(t.to_string()));
        out.insert("name".into(), Value::String(short));
        match (&ns, space) {
            (Some(n), _) if Some(n.as_str()) != space => {
                out.insert("namespace".into(), Value::String(n.clone()));
            }
            (None, Some(_)) => {
                out.insert("namespace".into(), Value::String(String::new()));
            }
            _ => {}
        }
        if let Some(doc) = o.get("doc").filter(|d| d.is_string()) {
            out.insert("doc".into(), doc.clone());
        }
        let inner = ns.as_deref();
        let mut reserved: Vec<&str> = SCHEMA_RESERVED.to_vec();
        match t {
            "enum" => {
                out.insert("symbols".into(), o.get("symbols").cloned().unwrap_or(Value::Array(vec![])));
                if let Some(d) = o.get("default") {
                    out.insert("default".into(), d.clone());
                }
                reserved.push("default");
            }
            "fixed" => {
                if let Some(size) = o.get("size") {
                    out.insert("size".into(), size.clone());
                }
            }
            _ => {
                let fields = o.get("fields").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                let fields = fields.iter().map(|f| self.field(f, inner)).collect();
                out.insert("fields".into(), Value::Array(fields));
            }
        }
        props(o, &reserved, self.sort, &mut out);
        aliases(o, self.sort, &mut out);
        Value::Object(out)
    }

    fn field(&mut self, f: &Value, space: Option<&str>) -> Value {
        let Some(o) = f.as_object() else { return f.clone() };
        let mut out = Map::new();
        if let Some(n) = o.get("name") {
            out.insert("name".into(), n.clone());
        }
        if let Some(t) = o.get("type") {
            out.insert("type".into(), self.schema(t, space));
        }
        if let Some(doc) = o.get("doc").filter(|d| d.is_string()) {
            out.insert("doc".into(), doc.clone());
        }
        if let Some(d) = o.get("default") {
            out.insert("default".into(), d.clone());
        }
        if let Some(order) = o.get("order").and_then(Value::as_str) {
            let order = order.to_ascii_lowercase();
            if order != "ascending" {
                out.insert("order".into(), Value::String(order));
            }
        }
        aliases(o, self.sort, &mut out);
        props(o, FIELD_RESERVED, self.sort, &mut out);
        Value::Object(out)
    }
}

/// Copies the attributes Avro keeps as properties, in their given order or sorted.
fn props(o: &Map<String, Value>, reserved: &[&str], sort: bool, out: &mut Map<String, Value>) {
    let mut keys: Vec<&String> = o.keys().filter(|k| !reserved.contains(&k.as_str())).collect();
    if sort {
        keys.sort();
    }
    for k in keys {
        out.insert(k.clone(), o[k].clone());
    }
}

fn aliases(o: &Map<String, Value>, sort: bool, out: &mut Map<String, Value>) {
    if let Some(a) = o.get("aliases").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        let mut a = a.clone();
        if sort {
            a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
        }
        out.insert("aliases".into(), Value::Array(a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(s: &str) -> String {
        avro(&serde_json::from_str(s).unwrap())
    }

    #[test]
    fn primitives_lose_reserved_attributes_and_keep_properties() {
        assert_eq!(canon(r#"{"type": "string"}"#), r#""string""#);
        assert_eq!(canon(r#"{"type": "string", "name": "x"}"#), r#""string""#);
        assert_eq!(canon(r#"{"logicalType": "date", "type": "int"}"#), r#"{"type":"int","logicalType":"date"}"#);
    }

    #[test]
    fn records_are_written_in_avro_key_order_whatever_the_input_order() {
        let a = r#"{"fields": [{"type": "long", "name": "a", "order": "ascending"}], "namespace": "n", "name": "R", "type": "record"}"#;
        let b = r#"{"type":"record","name":"n.R","fields":[{"name":"a","type":{"type":"long"}}]}"#;
        let want = r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"long"}]}"#;
        assert_eq!(canon(a), want);
        assert_eq!(canon(b), want);
    }

    #[test]
    fn named_types_are_written_once_then_by_name_relative_to_the_namespace() {
        let s = json!({"type": "record", "name": "R", "namespace": "n", "fields": [
            {"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X"], "default": "X"}},
            {"name": "b", "type": "n.E"},
            {"name": "c", "type": {"type": "fixed", "name": "o.F", "size": 2}},
            {"name": "d", "type": ["null", "o.F"], "default": null},
        ]});
        assert_eq!(
            avro(&s),
            r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["X"],"default":"X"}},{"name":"b","type":"E"},{"name":"c","type":{"type":"fixed","name":"F","namespace":"o","size":2}},{"name":"d","type":["null","o.F"],"default":null}]}"#
        );
    }

    #[test]
    fn a_nameless_namespace_inside_a_namespace_is_written_empty() {
        let s = json!({"type": "record", "name": "R", "namespace": "n", "fields": [
            {"name": "a", "type": {"type": "record", "name": "S", "namespace": "", "fields": []}},
        ]});
        assert_eq!(
            avro(&s),
            r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"record","name":"S","namespace":"","fields":[]}}]}"#
        );
    }

    #[test]
    fn parsing_canonical_form_agrees_with_apache_avro() {
        for s in [
            r#""int""#,
            r#"{"type": "record", "name": "R", "namespace": "n", "doc": "d", "fields": [
                {"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X"], "default": "X"}, "default": "X"},
                {"name": "b", "type": ["null", "E", {"type": "fixed", "name": "o.F", "size": 2}], "default": null},
                {"name": "c", "type": {"type": "map", "values": {"type": "array", "items": "o.F"}}, "order": "descending"}]}"#,
        ] {
            let v: Value = serde_json::from_str(s).unwrap();
            let oracle = apache_avro::Schema::parse_str(s).unwrap().canonical_form();
            assert_eq!(avro_parsing_canonical(&v), oracle, "{s}");
        }
        // The specification (and Avro Java) strips a logical type's primitive to its
        // simple form; apache-avro keeps `{"type":"int"}` there.
        assert_eq!(avro_parsing_canonical(&serde_json::json!({"type": "int", "logicalType": "date"})), r#""int""#);
    }

    #[test]
    fn sorted_json_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"d": [2, 1], "c": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": {"c": null, "d": [2, 1]}, "b": 1}"#).unwrap();
        assert_eq!(sorted_json(&a), sorted_json(&b));
        assert_eq!(sorted_json(&a), r#"{"a":{"c":null,"d":[2,1]},"b":1}"#);
    }
}
