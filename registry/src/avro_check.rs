//! What makes an Avro schema valid, as Confluent's registry decides it: Avro
//! Java 1.11's `Schema.Parser` with name validation on, and with default
//! validation on for a schema being registered (or checked for compatibility),
//! off for a lookup, as Confluent's `AvroSchema` sets it. Errors carry Avro's own
//! messages (`Undefined name: "x.C"`, `Illegal character in: my-name`, `Invalid
//! default for field a: "x" not a "int"`, ...).
//!
//! Names: a simple name (the part after the last dot) starts with a letter or `_`
//! and continues with letters, digits or `_`, letters being Unicode letters as
//! Java's `Character.isLetter` takes them; namespaces are not checked, as in Avro
//! 1.11. A union's default must fit its first branch (1.11's rule).

use std::collections::HashMap;

use serde_json::Value;

const PRIMITIVES: &[&str] = &["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

/// A parsed schema, as far as checking defaults needs it.
#[derive(Clone, Debug)]
enum Sch {
    Primitive(&'static str),
    Named(String),
    Array(Box<Sch>),
    Map(Box<Sch>),
    Union(Vec<Sch>),
}

#[derive(Clone, Debug)]
enum Def {
    /// Fields: name, schema, default.
    Record(Vec<(String, Sch, Option<Value>)>),
    Enum,
    Fixed,
}

#[derive(Default)]
pub struct Checker {
    /// Every named type defined so far (references first): its definition and JSON.
    defs: HashMap<String, (Def, Value)>,
    validate_defaults: bool,
}

/// Checks `schema` with its references (dependencies first).
pub fn check(schema: &Value, references: &[Value], validate_defaults: bool) -> Result<(), String> {
    let mut c = Checker { defs: HashMap::new(), validate_defaults };
    for r in references {
        c.parse(r, None)?;
    }
    c.parse(schema, None).map(|_| ())
}

fn validate_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return Err("Empty name".into()) };
    if !(first.is_alphabetic() || first == '_') {
        return Err(format!("Illegal initial character: {name}"));
    }
    if chars.any(|c| !(c.is_alphanumeric() || c == '_')) {
        return Err(format!("Illegal character in: {name}"));
    }
    Ok(())
}

/// A name as Avro's `Name(name, space)` makes it: dotted names carry their
/// namespace; the simple name is validated. Returns (full name, namespace).
fn make_name(name: &str, space: Option<&str>) -> Result<(String, Option<String>), String> {
    match name.rsplit_once('.') {
        Some((ns, simple)) => {
            validate_name(simple)?;
            let ns = (!ns.is_empty()).then(|| ns.to_string());
            Ok((name.trim_start_matches('.').to_string(), ns))
        }
        None => {
            validate_name(name)?;
            let ns = space.filter(|s| !s.is_empty()).map(str::to_string);
            let full = match &ns {
                Some(ns) => format!("{ns}.{name}"),
                None => name.to_string(),
            };
            Ok((full, ns))
        }
    }
}

fn text(v: &Value) -> String {
    v.to_string()
}

impl Checker {
    /// Resolves a name as Avro's `Names.get`: in the enclosing namespace, then in none.
    fn lookup(&self, name: &str, space: Option<&str>) -> Result<Option<String>, String> {
        let (full, _) = make_name(name, space)?;
        if self.defs.contains_key(&full) {
            return Ok(Some(full));
        }
        Ok(self.defs.contains_key(name).then(|| name.to_string()))
    }

    fn parse(&mut self, v: &Value, space: Option<&str>) -> Result<Sch, String> {
        match v {
            Value::String(s) => {
                if let Some(p) = PRIMITIVES.iter().find(|p| **p == s) {
                    return Ok(Sch::Primitive(p));
                }
                match self.lookup(s, space)? {
                    Some(full) => Ok(Sch::Named(full)),
                    None => Err(format!("Undefined name: {}", text(v))),
                }
            }
            Value::Array(branches) => {
                let mut out = Vec::new();
                let mut names: Vec<String> = Vec::new();
                for b in branches {
                    let s = self.parse(b, space)?;
                    let name = match &s {
                        Sch::Union(_) => return Err(format!("Nested union: {}", crate::canonical::avro(v))),
                        Sch::Primitive(p) => p.to_string(),
                        Sch::Named(n) => n.clone(),
                        Sch::Array(_) => "array".into(),
                        Sch::Map(_) => "map".into(),
                    };
                    if names.contains(&name) {
                        return Err(format!("Duplicate in union:{name}"));
                    }
                    names.push(name);
                    out.push(s);
                }
                Ok(Sch::Union(out))
            }
            Value::Object(o) => {
                let ty = match o.get("type") {
                    Some(Value::String(t)) => t.as_str(),
                    // `{"type": {...}}` / `{"type": [...]}`: the inner schema.
                    Some(inner @ (Value::Object(_) | Value::Array(_))) => return self.parse(inner, space),
                    _ => return Err(format!("No type: {}", text(v))),
                };
                if let Some(p) = PRIMITIVES.iter().find(|p| **p == ty) {
                    return Ok(Sch::Primitive(p));
                }
                match ty {
                    "record" | "error" | "enum" | "fixed" => self.named(ty, v, space),
                    "array" => {
                        let items = o.get("items").ok_or_else(|| format!("Array has no items type: {}", text(v)))?;
                        Ok(Sch::Array(Box::new(self.parse(items, space)?)))
                    }
                    "map" => {
                        let values = o.get("values").ok_or_else(|| format!("Map has no values type: {}", text(v)))?;
                        Ok(Sch::Map(Box::new(self.parse(values, space)?)))
                    }
                    other => match self.lookup(other, space)? {
                        Some(full) => Ok(Sch::Named(full)),
                        None => Err(format!("Type not supported: {other}")),
                    },
                }
            }
            other => Err(format!("Schema not yet supported: {}", text(other))),
        }
    }

    fn named(&mut self, ty: &str, v: &Value, space: Option<&str>) -> Result<Sch, String> {
        let o = v.as_object().expect("an object");
        let name = o.get("name").and_then(Value::as_str).ok_or_else(|| format!("No name in schema: {}", text(v)))?;
        let ns_attr = o.get("namespace").and_then(Value::as_str);
        let (full, ns) = make_name(name, ns_attr.or(space))?;
        if PRIMITIVES.contains(&full.as_str()) {
            return Err(format!("Schemas may not be named after primitives: {full}"));
        }
        if self.defs.contains_key(&full) {
            return Err(format!("Can't redefine: {full}"));
        }
        let def = match ty {
            "enum" => {
                let symbols = o
                    .get("symbols")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("Enum has no symbols: {}", text(v)))?;
                let mut seen: Vec<&str> = Vec::new();
                for s in symbols {
                    let s = s.as_str().unwrap_or_default();
                    validate_name(s)?;
                    if seen.contains(&s) {
                        return Err(format!("Duplicate enum symbol: {s}"));
                    }
                    seen.push(s);
                }
                if let Some(d) = o.get("default").and_then(Value::as_str) {
                    if !seen.contains(&d) {
                        return Err(format!(
                            "The Enum Default: {d} is not in the enum symbol set: [{}]",
                            seen.join(", ")
                        ));
                    }
                }
                Def::Enum
            }
            "fixed" => {
                let size = o.get("size").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok());
                if size.is_none() {
                    return Err(format!("Invalid or no size: {}", text(v)));
                }
                Def::Fixed
            }
            _ => {
                // Defined before its fields, so that it may refer to itself.
                self.defs.insert(full.clone(), (Def::Record(vec![]), v.clone()));
                let fields = o
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("Record has no fields: {}", text(v)))?;
                let mut parsed: Vec<(String, Sch, Option<Value>)> = Vec::new();
                for f in fields {
                    let fname =
                        f.get("name").and_then(Value::as_str).ok_or_else(|| format!("No field name: {}", text(f)))?;
                    let ftype = f.get("type").ok_or_else(|| format!("No field type: {}", text(f)))?;
                    if let Value::String(t) = ftype {
                        if !PRIMITIVES.contains(&t.as_str()) && self.lookup(t, ns.as_deref())?.is_none() {
                            return Err(format!(
                                "{} is not a defined name. The type of the \"{fname}\" field must be a defined name or a {{\"type\": ...}} expression.",
                                text(ftype)
                            ));
                        }
                    }
                    let sch = self.parse(ftype, ns.as_deref())?;
                    validate_name(fname)?;
                    let default = f.get("default").cloned();
                    if let Some(d) = &default {
                        if self.validate_defaults && !self.valid_default(&sch, d) {
                            return Err(format!(
                                "Invalid default for field {fname}: {} not a {}",
                                text(d),
                                self.describe(&sch, ftype)
                            ));
                        }
                    }
                    if let Some(pos) = parsed.iter().position(|(n, _, _)| n == fname) {
                        let kind = |s: &Sch| self.type_name(s);
                        return Err(format!(
                            "Duplicate field {fname} in record {full}: {fname} type:{} pos:{} and {fname} type:{} pos:{pos}.",
                            kind(&sch),
                            parsed.len(),
                            kind(&parsed[pos].1)
                        ));
                    }
                    parsed.push((fname.to_string(), sch, default));
                }
                self.defs.insert(full.clone(), (Def::Record(parsed), v.clone()));
                return Ok(Sch::Named(full));
            }
        };
        self.defs.insert(full.clone(), (def, v.clone()));
        Ok(Sch::Named(full))
    }

    /// Avro's `Schema.Type` name, as its field descriptions print it.
    fn type_name(&self, s: &Sch) -> String {
        match s {
            Sch::Primitive(p) => p.to_ascii_uppercase(),
            Sch::Array(_) => "ARRAY".into(),
            Sch::Map(_) => "MAP".into(),
            Sch::Union(_) => "UNION".into(),
            Sch::Named(n) => match self.defs.get(n).map(|d| &d.0) {
                Some(Def::Enum) => "ENUM".into(),
                Some(Def::Fixed) => "FIXED".into(),
                _ => "RECORD".into(),
            },
        }
    }

    /// The schema as Avro prints it in messages: a named type in full.
    fn describe(&self, s: &Sch, written: &Value) -> String {
        match (s, written) {
            (Sch::Named(n), Value::String(_)) => {
                self.defs.get(n).map(|d| crate::canonical::avro(&d.1)).unwrap_or_else(|| text(written))
            }
            _ => crate::canonical::avro(written),
        }
    }

    /// Avro 1.11's `isValidDefault`.
    fn valid_default(&self, s: &Sch, d: &Value) -> bool {
        match s {
            Sch::Primitive(p) => match *p {
                "string" | "bytes" => d.is_string(),
                "int" => d.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                "long" => d.as_i64().is_some(),
                "float" | "double" => d.is_number(),
                "boolean" => d.is_boolean(),
                "null" => d.is_null(),
                _ => false,
            },
            Sch::Array(items) => d.as_array().is_some_and(|a| a.iter().all(|e| self.valid_default(items, e))),
            Sch::Map(values) => d.as_object().is_some_and(|m| m.values().all(|e| self.valid_default(values, e))),
            Sch::Union(branches) => branches.first().is_some_and(|b| self.valid_default(b, d)),
            Sch::Named(n) => match self.defs.get(n).map(|x| &x.0) {
                Some(Def::Enum) | Some(Def::Fixed) => d.is_string(),
                Some(Def::Record(fields)) => d.as_object().is_some_and(|o| {
                    fields.iter().all(|(name, sch, fd)| match o.get(name).or(fd.as_ref()) {
                        Some(v) => self.valid_default(sch, v),
                        None => false,
                    })
                }),
                None => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value, defaults: bool) -> String {
        check(&v, &[], defaults).expect_err(&v.to_string())
    }

    fn record(fields: Value) -> Value {
        json!({"type": "record", "name": "R", "fields": fields})
    }

    #[test]
    fn names_follow_avro_java_including_unicode_letters() {
        check(&json!({"type": "record", "name": "Ñame", "namespace": "com.my-co", "fields": []}), &[], true).unwrap();
        assert_eq!(
            err(json!({"type": "record", "name": "my-name", "fields": []}), false),
            "Illegal character in: my-name"
        );
        assert_eq!(err(json!({"type": "record", "name": "1R", "fields": []}), false), "Illegal initial character: 1R");
        assert_eq!(err(json!({"type": "enum", "name": "E", "symbols": ["a-b"]}), false), "Illegal character in: a-b");
        assert_eq!(err(record(json!([{"name": "", "type": "int"}])), false), "Empty name");
        assert_eq!(
            err(json!({"type": "record", "name": "int", "fields": []}), false),
            "Schemas may not be named after primitives: int"
        );
    }

    #[test]
    fn structure_errors_carry_avros_messages() {
        assert_eq!(
            err(json!({"type": "record", "name": "R"}), false),
            r#"Record has no fields: {"type":"record","name":"R"}"#
        );
        assert_eq!(err(json!({"name": "R"}), false), r#"No type: {"name":"R"}"#);
        assert_eq!(
            err(json!({"type": "enum", "symbols": []}), false),
            r#"No name in schema: {"type":"enum","symbols":[]}"#
        );
        assert_eq!(err(json!({"type": "enum", "name": "E", "symbols": ["A", "A"]}), false), "Duplicate enum symbol: A");
        assert_eq!(
            err(json!({"type": "enum", "name": "E", "symbols": ["A", "B"], "default": "C"}), false),
            "The Enum Default: C is not in the enum symbol set: [A, B]"
        );
        assert_eq!(
            err(json!({"type": "fixed", "name": "F"}), false),
            r#"Invalid or no size: {"type":"fixed","name":"F"}"#
        );
        assert_eq!(err(json!({"type": "array"}), false), r#"Array has no items type: {"type":"array"}"#);
        assert_eq!(err(json!(["int", "int"]), false), "Duplicate in union:int");
        assert_eq!(err(json!(["null", ["int"]]), false), r#"Nested union: ["null",["int"]]"#);
        assert_eq!(err(json!("x.C"), false), r#"Undefined name: "x.C""#);
        assert_eq!(
            err(record(json!([{"name": "f", "type": "x.C"}])), false),
            r#""x.C" is not a defined name. The type of the "f" field must be a defined name or a {"type": ...} expression."#
        );
        assert_eq!(
            err(record(json!([{"name": "a", "type": "int"}, {"name": "a", "type": "string"}])), false),
            "Duplicate field a in record R: a type:STRING pos:1 and a type:INT pos:0."
        );
        assert_eq!(
            err(
                json!({"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "fixed", "name": "R", "size": 1}}]}),
                false
            ),
            "Can't redefine: R"
        );
    }

    #[test]
    fn defaults_are_checked_only_when_asked_and_a_union_default_fits_its_first_branch() {
        let bad = record(json!([{"name": "a", "type": ["null", "string"], "default": "x"}]));
        check(&bad, &[], false).unwrap();
        assert_eq!(err(bad, true), r#"Invalid default for field a: "x" not a ["null","string"]"#);
        check(&record(json!([{"name": "a", "type": ["null", "string"], "default": null}])), &[], true).unwrap();
        assert_eq!(
            err(record(json!([{"name": "a", "type": "int", "default": "x"}])), true),
            r#"Invalid default for field a: "x" not a "int""#
        );
        assert_eq!(
            err(record(json!([{"name": "a", "type": "long", "default": 1.5}])), true),
            r#"Invalid default for field a: 1.5 not a "long""#
        );
        check(&record(json!([{"name": "a", "type": "float", "default": 1}])), &[], true).unwrap();
        let nested = record(
            json!([{"name": "s", "type": {"type": "record", "name": "S", "fields": [{"name": "x", "type": "int"}]}, "default": {}}]),
        );
        assert!(
            err(nested, true).starts_with("Invalid default for field s: {} not a {\"type\":\"record\",\"name\":\"S\"")
        );
        let with_inner_default = record(json!([{"name": "s", "type": {"type": "record", "name": "S",
            "fields": [{"name": "x", "type": "int", "default": 1}]}, "default": {}}]));
        check(&with_inner_default, &[], true).unwrap();
    }

    #[test]
    fn references_define_names_and_records_may_recurse() {
        let addr = json!({"type": "record", "name": "Address", "namespace": "x", "fields": []});
        check(&json!(["x.Address", "null"]), std::slice::from_ref(&addr), true).unwrap();
        check(&json!({"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"], "default": null}]}), &[], true).unwrap();
    }
}
