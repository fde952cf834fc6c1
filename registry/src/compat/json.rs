//! JSON Schema compatibility, by the rules Confluent's JSON Schema checker applies:
//! a change from `original` to `update` is compatible when every document valid
//! under `original` is still valid under `update`.
//!
//! Checked: `type` (widening integer -> number and adding types is fine, anything
//! else is not); objects (a property added to an open content model, removed from a
//! closed one, or made required; `additionalProperties` removed or narrowed;
//! `maxProperties` added or decreased, `minProperties` added or increased);
//! strings (`maxLength`, `minLength`, `pattern`); numbers (`maximum`,
//! `exclusiveMaximum`, `minimum`, `exclusiveMinimum`, `multipleOf`); arrays
//! (`items`, `maxItems`, `minItems`, `uniqueItems`); `enum` (values removed);
//! `const`; combined types (`oneOf`/`anyOf`: branches removed; `allOf`: branches
//! added); `$ref` changed. Properties and items are compared recursively, and
//! every difference names the JSON-pointer path where it is.

use serde_json::{Map, Value};

fn types(s: &Map<String, Value>) -> Option<Vec<String>> {
    match s.get("type")? {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).map(str::to_string).collect()),
        _ => None,
    }
}

fn num(s: &Map<String, Value>, k: &str) -> Option<f64> {
    s.get(k).and_then(Value::as_f64)
}

struct Diff {
    out: Vec<String>,
}

impl Diff {
    fn push(&mut self, kind: &str, path: &str, what: String) {
        let path = if path.is_empty() { "#/" } else { path };
        self.out.push(format!("{kind} at path '{path}': {what}"));
    }

    /// An upper bound (max*) may be removed or raised, never added or lowered.
    fn upper(&mut self, o: &Map<String, Value>, u: &Map<String, Value>, key: &str, path: &str) {
        match (num(o, key), num(u, key)) {
            (None, Some(v)) => self.push(&format!("{}_ADDED", key.to_uppercase()), path, format!("{key} {v} added")),
            (Some(a), Some(b)) if b < a => {
                self.push(&format!("{}_DECREASED", key.to_uppercase()), path, format!("{key} lowered from {a} to {b}"))
            }
            _ => {}
        }
    }

    /// A lower bound (min*) may be removed or lowered, never added or raised.
    fn lower(&mut self, o: &Map<String, Value>, u: &Map<String, Value>, key: &str, path: &str) {
        match (num(o, key), num(u, key)) {
            (None, Some(v)) => self.push(&format!("{}_ADDED", key.to_uppercase()), path, format!("{key} {v} added")),
            (Some(a), Some(b)) if b > a => {
                self.push(&format!("{}_INCREASED", key.to_uppercase()), path, format!("{key} raised from {a} to {b}"))
            }
            _ => {}
        }
    }

    fn schema(&mut self, original: &Value, update: &Value, path: &str) {
        let (o, u) = match (original, update) {
            (_, Value::Bool(true)) => return,
            (Value::Bool(false), _) => return,
            (Value::Bool(true), Value::Object(u)) if u.is_empty() => return,
            (Value::Bool(true), _) | (_, Value::Bool(false)) => {
                self.push("SCHEMA_NARROWED", path, "the schema now rejects documents it accepted".into());
                return;
            }
            (Value::Object(o), Value::Object(u)) => (o, u),
            _ => {
                self.push("TYPE_CHANGED", path, "not a schema".into());
                return;
            }
        };
        if o.get("$ref") != u.get("$ref") && u.contains_key("$ref") {
            self.push("REF_CHANGED", path, format!("$ref changed from {:?} to {:?}", o.get("$ref"), u.get("$ref")));
        }
        match (types(o), types(u)) {
            (Some(ot), Some(ut)) => {
                for t in &ot {
                    let kept = ut.contains(t) || (t == "integer" && ut.iter().any(|x| x == "number"));
                    if !kept {
                        self.push("TYPE_NARROWED", path, format!("type '{t}' is no longer accepted (now {ut:?})"));
                    }
                }
            }
            (None, Some(ut)) => self.push("TYPE_NARROWED", path, format!("type restricted to {ut:?}")),
            _ => {}
        }
        // Strings.
        self.upper(o, u, "maxLength", path);
        self.lower(o, u, "minLength", path);
        if u.get("pattern").is_some() && o.get("pattern") != u.get("pattern") {
            self.push("PATTERN_CHANGED", path, format!("pattern {:?} -> {:?}", o.get("pattern"), u.get("pattern")));
        }
        // Numbers.
        for k in ["maximum", "exclusiveMaximum"] {
            self.upper(o, u, k, path);
        }
        for k in ["minimum", "exclusiveMinimum"] {
            self.lower(o, u, k, path);
        }
        if let Some(m) = num(u, "multipleOf") {
            let ok = num(o, "multipleOf").is_some_and(|om| om % m == 0.0);
            if !ok {
                self.push("MULTIPLE_OF_CHANGED", path, format!("multipleOf {m} does not divide the old constraint"));
            }
        }
        // Enumerations and constants.
        if let Some(ue) = u.get("enum").and_then(Value::as_array) {
            match o.get("enum").and_then(Value::as_array) {
                Some(oe) => {
                    let lost: Vec<&Value> = oe.iter().filter(|v| !ue.contains(v)).collect();
                    if !lost.is_empty() {
                        self.push("ENUM_ARRAY_NARROWED", path, format!("values {lost:?} removed"));
                    }
                }
                None => self.push("ENUM_ARRAY_ADDED", path, "an enum now restricts the values".into()),
            }
        }
        if u.get("const").is_some() && o.get("const") != u.get("const") {
            self.push("CONST_CHANGED", path, "const changed or added".into());
        }
        self.object(o, u, path);
        self.array(o, u, path);
        self.combined(o, u, path);
    }

    fn object(&mut self, o: &Map<String, Value>, u: &Map<String, Value>, path: &str) {
        let empty = Map::new();
        let op = o.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let up = u.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let open = |s: &Map<String, Value>| !matches!(s.get("additionalProperties"), Some(Value::Bool(false)));
        let (o_open, u_open) = (open(o), open(u));
        for (name, us) in up {
            let ppath = format!("{path}/properties/{name}");
            match op.get(name) {
                Some(os) => self.schema(os, us, &ppath),
                // Open: old documents may carry this property with any value.
                None if o_open && !matches!(us, Value::Bool(true)) && us.as_object().is_none_or(|m| !m.is_empty()) => {
                    self.push(
                        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
                        &ppath,
                        format!("property '{name}' added to an open content model"),
                    );
                }
                None => {}
            }
        }
        for name in op.keys() {
            if !up.contains_key(name) && !u_open {
                self.push(
                    "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                    &format!("{path}/properties/{name}"),
                    format!("property '{name}' removed from a closed content model"),
                );
            }
        }
        let req = |s: &Map<String, Value>| -> Vec<String> {
            s.get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default()
        };
        let (or, ur) = (req(o), req(u));
        for r in ur.iter().filter(|r| !or.contains(r)) {
            self.push(
                "REQUIRED_PROPERTY_ADDED",
                &format!("{path}/required"),
                format!("property '{r}' is now required"),
            );
        }
        match (o.get("additionalProperties"), u.get("additionalProperties")) {
            (None | Some(Value::Bool(true)), Some(Value::Bool(false)))
                if !op.is_empty() || !up.is_empty() || o_open =>
            {
                self.push("ADDITIONAL_PROPERTIES_REMOVED", path, "additional properties are no longer allowed".into());
            }
            (Some(oa @ Value::Object(_)), Some(ua @ Value::Object(_))) => {
                self.schema(oa, ua, &format!("{path}/additionalProperties"))
            }
            (None | Some(Value::Bool(true)), Some(ua @ Value::Object(_))) => {
                self.schema(&Value::Bool(true), ua, &format!("{path}/additionalProperties"))
            }
            _ => {}
        }
        self.upper(o, u, "maxProperties", path);
        self.lower(o, u, "minProperties", path);
    }

    fn array(&mut self, o: &Map<String, Value>, u: &Map<String, Value>, path: &str) {
        match (o.get("items"), u.get("items")) {
            (Some(oi), Some(ui)) if oi.is_object() || oi.is_boolean() => self.schema(oi, ui, &format!("{path}/items")),
            (None, Some(ui)) => self.schema(&Value::Bool(true), ui, &format!("{path}/items")),
            _ => {}
        }
        self.upper(o, u, "maxItems", path);
        self.lower(o, u, "minItems", path);
        if u.get("uniqueItems") == Some(&Value::Bool(true)) && o.get("uniqueItems") != Some(&Value::Bool(true)) {
            self.push("UNIQUE_ITEMS_ADDED", path, "items must now be unique".into());
        }
    }

    fn combined(&mut self, o: &Map<String, Value>, u: &Map<String, Value>, path: &str) {
        for k in ["oneOf", "anyOf"] {
            if let (Some(ob), Some(ub)) = (o.get(k).and_then(Value::as_array), u.get(k).and_then(Value::as_array)) {
                for (i, b) in ob.iter().enumerate() {
                    if !ub.iter().any(|x| {
                        let mut d = Diff { out: vec![] };
                        d.schema(b, x, "");
                        d.out.is_empty()
                    }) {
                        self.push(
                            "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
                            &format!("{path}/{k}/{i}"),
                            format!("{k} branch {i} has no compatible branch in the new schema"),
                        );
                    }
                }
            } else if u.get(k).is_some() && o.get(k).is_none() {
                self.push("COMBINED_TYPE_ADDED", &format!("{path}/{k}"), format!("{k} added"));
            }
        }
        if let Some(ub) = u.get("allOf").and_then(Value::as_array) {
            let ob = o.get("allOf").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            if ub.iter().any(|b| !ob.contains(b)) {
                self.push("COMBINED_TYPE_EXTENDED", &format!("{path}/allOf"), "allOf gained a constraint".into());
            }
        }
    }
}

/// Why documents valid under `original` may be invalid under `update` (empty: none).
pub fn differences(original: &Value, update: &Value) -> Vec<String> {
    let mut d = Diff { out: vec![] };
    d.schema(original, update, "");
    d.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compatible(o: Value, u: Value) -> bool {
        differences(&o, &u).is_empty()
    }

    fn obj(props: Value, extra: Value) -> Value {
        let mut m = json!({"type": "object", "properties": props});
        if let (Value::Object(m), Value::Object(e)) = (&mut m, extra) {
            m.extend(e);
        }
        m
    }

    #[test]
    fn the_rules_table() {
        let closed = json!({"additionalProperties": false});
        let open = json!({});
        let cases: Vec<(Value, Value, bool, &str)> = vec![
            (json!({"type": "string"}), json!({"type": "string"}), true, "identical"),
            (json!({"type": "integer"}), json!({"type": "number"}), true, "integer widened to number"),
            (json!({"type": "number"}), json!({"type": "integer"}), false, "number narrowed to integer"),
            (json!({"type": "string"}), json!({"type": ["string", "null"]}), true, "null added"),
            (json!({"type": ["string", "null"]}), json!({"type": "string"}), false, "null removed"),
            (json!({"type": "string"}), json!({"type": "boolean"}), false, "type changed"),
            (json!({}), json!({"type": "string"}), false, "type restricted"),
            (json!({"type": "string"}), json!({"type": "string", "maxLength": 5}), false, "maxLength added"),
            (
                json!({"type": "string", "maxLength": 5}),
                json!({"type": "string", "maxLength": 9}),
                true,
                "maxLength raised",
            ),
            (
                json!({"type": "string", "maxLength": 9}),
                json!({"type": "string", "maxLength": 5}),
                false,
                "maxLength lowered",
            ),
            (json!({"type": "string", "minLength": 2}), json!({"type": "string"}), true, "minLength removed"),
            (json!({"type": "string"}), json!({"type": "string", "minLength": 2}), false, "minLength added"),
            (json!({"type": "string"}), json!({"type": "string", "pattern": "^a"}), false, "pattern added"),
            (
                json!({"type": "number", "maximum": 10}),
                json!({"type": "number", "maximum": 20}),
                true,
                "maximum raised",
            ),
            (
                json!({"type": "number", "minimum": 10}),
                json!({"type": "number", "minimum": 20}),
                false,
                "minimum raised",
            ),
            (
                json!({"type": "number", "multipleOf": 4}),
                json!({"type": "number", "multipleOf": 2}),
                true,
                "multipleOf divides",
            ),
            (
                json!({"type": "number", "multipleOf": 2}),
                json!({"type": "number", "multipleOf": 4}),
                false,
                "multipleOf stricter",
            ),
            (json!({"enum": ["a", "b"]}), json!({"enum": ["a", "b", "c"]}), true, "enum extended"),
            (json!({"enum": ["a", "b"]}), json!({"enum": ["a"]}), false, "enum narrowed"),
            (
                obj(json!({"a": {"type": "string"}}), closed.clone()),
                obj(json!({"a": {"type": "string"}, "b": {"type": "int"}}), closed.clone()),
                true,
                "property added to a closed model",
            ),
            (
                obj(json!({"a": {"type": "string"}}), open.clone()),
                obj(json!({"a": {"type": "string"}, "b": {"type": "integer"}}), open.clone()),
                false,
                "property added to an open model",
            ),
            (
                obj(json!({"a": {"type": "string"}, "b": {}}), closed.clone()),
                obj(json!({"a": {"type": "string"}}), closed.clone()),
                false,
                "property removed from a closed model",
            ),
            (
                obj(json!({"a": {"type": "string"}, "b": {}}), open.clone()),
                obj(json!({"a": {"type": "string"}}), open.clone()),
                true,
                "property removed from an open model",
            ),
            (
                obj(json!({"a": {"type": "string"}}), json!({})),
                obj(json!({"a": {"type": "string"}}), json!({"required": ["a"]})),
                false,
                "property made required",
            ),
            (
                obj(json!({"a": {"type": "string"}}), json!({"required": ["a"]})),
                obj(json!({"a": {"type": "string"}}), json!({})),
                true,
                "requirement dropped",
            ),
            (
                obj(json!({"a": {"type": "integer"}}), closed.clone()),
                obj(json!({"a": {"type": "number"}}), closed.clone()),
                true,
                "nested widening",
            ),
            (
                obj(json!({"a": {"type": "number"}}), closed.clone()),
                obj(json!({"a": {"type": "integer"}}), closed.clone()),
                false,
                "nested narrowing",
            ),
            (
                json!({"type": "object"}),
                json!({"type": "object", "additionalProperties": false}),
                false,
                "additionalProperties removed",
            ),
            (
                json!({"type": "array", "items": {"type": "integer"}}),
                json!({"type": "array", "items": {"type": "number"}}),
                true,
                "items widened",
            ),
            (
                json!({"type": "array", "items": {"type": "number"}}),
                json!({"type": "array", "items": {"type": "integer"}}),
                false,
                "items narrowed",
            ),
            (json!({"type": "array"}), json!({"type": "array", "maxItems": 3}), false, "maxItems added"),
            (json!({"type": "array"}), json!({"type": "array", "uniqueItems": true}), false, "uniqueItems added"),
            (
                json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
                json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
                true,
                "oneOf branch widened",
            ),
            (
                json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
                json!({"oneOf": [{"type": "string"}]}),
                false,
                "oneOf branch removed",
            ),
            (json!(true), json!({"type": "string"}), false, "true narrowed"),
            (json!({"type": "string"}), json!(true), true, "anything goes"),
        ];
        for (o, u, want, what) in cases {
            assert_eq!(compatible(o.clone(), u.clone()), want, "{what}: {:?}", differences(&o, &u));
        }
    }

    #[test]
    fn messages_name_the_path() {
        let o = obj(
            json!({"a": obj(json!({"b": {"type": "number"}}), json!({"additionalProperties": false}))}),
            json!({"additionalProperties": false}),
        );
        let u = obj(
            json!({"a": obj(json!({"b": {"type": "integer"}}), json!({"additionalProperties": false}))}),
            json!({"additionalProperties": false}),
        );
        let d = differences(&o, &u);
        assert_eq!(d.len(), 1);
        assert!(
            d[0].contains("TYPE_NARROWED") && d[0].contains("#/properties/a/properties/b")
                || d[0].contains("/properties/a/properties/b"),
            "{d:?}"
        );
    }
}
