//! Compatibility tables for JSON Schema and Protobuf: every pair from a set of
//! shapes, with the expected answer computed independently of the checker (from
//! what values or wire bytes each side accepts), each pair also nested one level
//! down. Avro's table is next to its checker (`compat/avro/tests.rs`).

use serde_json::{json, Value};
use weir_registry::compat::{json as js, protobuf as pb};

// ------------------------------------------------------------------ JSON Schema

const JSON_TYPES: [&str; 7] = ["string", "integer", "number", "boolean", "null", "object", "array"];

/// Every `type` of one or two names.
fn type_sets() -> Vec<Vec<&'static str>> {
    let mut out: Vec<Vec<&str>> = JSON_TYPES.iter().map(|t| vec![*t]).collect();
    for (i, a) in JSON_TYPES.iter().enumerate() {
        for b in &JSON_TYPES[i + 1..] {
            out.push(vec![*a, *b]);
        }
    }
    out
}

fn type_value(ts: &[&str]) -> Value {
    if ts.len() == 1 {
        json!(ts[0])
    } else {
        json!(ts)
    }
}

/// Confluent's verdict on a `type` change. One type to one type: the same, or
/// integer -> number. A type list is `anyOf` one schema per type, so one type to a
/// list needs a branch that takes it; a list to one type is a TYPE_CHANGED (even
/// integer+number -> number); list to list needs as many branches and a
/// one-to-one matching of old types onto new ones that take them.
fn json_types_covered(original: &[&str], update: &[&str]) -> bool {
    let takes = |o: &str, u: &str| o == u || (o == "integer" && u == "number");
    match (original.len(), update.len()) {
        (1, _) => update.iter().any(|u| takes(original[0], u)),
        (_, 1) => false,
        (a, b) if a > b => false,
        _ => {
            // Two old types: some assignment of them to distinct new types.
            let (x, y) = (original[0], original[1]);
            update
                .iter()
                .enumerate()
                .any(|(i, u)| takes(x, u) && update.iter().enumerate().any(|(j, v)| j != i && takes(y, v)))
        }
    }
}

fn closed_object(prop: Value) -> Value {
    json!({"type": "object", "properties": {"p": prop}, "additionalProperties": false})
}

#[test]
fn json_every_pair_of_types_flat_and_nested() {
    let sets = type_sets();
    let mut cases = 0;
    for o in &sets {
        for u in &sets {
            let (a, b) = (json!({"type": type_value(o)}), json!({"type": type_value(u)}));
            let want = json_types_covered(o, u);
            let got = js::differences(&a, &b);
            assert_eq!(got.is_empty(), want, "type {o:?} -> {u:?}: {got:?}");
            let got = js::differences(&closed_object(a.clone()), &closed_object(b.clone()));
            assert_eq!(got.is_empty(), want, "property type {o:?} -> {u:?}: {got:?}");
            if !want {
                assert!(got.iter().any(|m| m.contains("/properties/p")), "the message names the path: {got:?}");
            }
            let items = |t: &Value| json!({"type": "array", "items": t});
            assert_eq!(js::differences(&items(&a), &items(&b)).is_empty(), want, "items {o:?} -> {u:?}");
            cases += 3;
        }
    }
    assert_eq!(cases, 3 * 28 * 28);
}

/// Bounds: an upper bound may be removed or raised, a lower bound removed or
/// lowered; anything that rejects a value the original accepted is incompatible.
#[test]
fn json_every_bound_change() {
    let uppers = [("string", "maxLength"), ("number", "maximum"), ("array", "maxItems"), ("object", "maxProperties")];
    let lowers = [("string", "minLength"), ("number", "minimum"), ("array", "minItems"), ("object", "minProperties")];
    let values: [Option<i64>; 4] = [None, Some(2), Some(5), Some(9)];
    let mut cases = 0;
    for (upper, bounds) in [(true, &uppers), (false, &lowers)] {
        for (ty, key) in bounds.iter() {
            for o in values {
                for u in values {
                    let schema = |v: Option<i64>| {
                        let mut s = json!({"type": ty});
                        if let Some(v) = v {
                            s[key] = json!(v);
                        }
                        s
                    };
                    // Accepting more: the bound is dropped, or moved outward.
                    let want = match (o, u) {
                        (_, None) => true,
                        (None, Some(_)) => false,
                        (Some(a), Some(b)) => {
                            if upper {
                                b >= a
                            } else {
                                b <= a
                            }
                        }
                    };
                    let got = js::differences(&schema(o), &schema(u));
                    assert_eq!(got.is_empty(), want, "{key} {o:?} -> {u:?}: {got:?}");
                    let nested = js::differences(&closed_object(schema(o)), &closed_object(schema(u)));
                    assert_eq!(nested.is_empty(), want, "nested {key} {o:?} -> {u:?}");
                    cases += 2;
                }
            }
        }
    }
    assert_eq!(cases, 2 * 8 * 16);
}

/// Enums: compatible exactly when no value of the original is dropped.
#[test]
fn json_every_enum_change() {
    let letters = ["a", "b", "c", "d"];
    let subsets: Vec<Vec<&str>> = (1u32..16)
        .map(|mask| letters.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, l)| *l).collect())
        .collect();
    let mut cases = 0;
    for o in &subsets {
        for u in &subsets {
            let want = o.iter().all(|v| u.contains(v));
            let got = js::differences(&json!({"enum": o}), &json!({"enum": u}));
            assert_eq!(got.is_empty(), want, "enum {o:?} -> {u:?}: {got:?}");
            cases += 1;
        }
    }
    assert_eq!(cases, 225);
}

/// Properties of a closed content model: adding one is fine, removing one is
/// not (its values were allowed before and are refused now); with an open model
/// the reverse holds. Required properties may be removed, not added.
#[test]
fn json_properties_and_required_in_both_content_models() {
    let names = ["a", "b", "c"];
    let subsets: Vec<Vec<&str>> = (0u32..8)
        .map(|mask| names.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, l)| *l).collect())
        .collect();
    let schema = |props: &[&str], required: &[&str], closed: bool| {
        let mut p = serde_json::Map::new();
        for n in props {
            p.insert(n.to_string(), json!({"type": "string"}));
        }
        let mut s = json!({"type": "object", "properties": p, "required": required});
        if closed {
            s["additionalProperties"] = json!(false);
        }
        s
    };
    let mut cases = 0;
    for closed in [true, false] {
        for o in &subsets {
            for u in &subsets {
                let added = u.iter().any(|n| !o.contains(n));
                let removed = o.iter().any(|n| !u.contains(n));
                let want = if closed { !removed } else { !added };
                let got = js::differences(&schema(o, &[], closed), &schema(u, &[], closed));
                assert_eq!(got.is_empty(), want, "closed={closed} properties {o:?} -> {u:?}: {got:?}");
                cases += 1;
            }
        }
    }
    for o in &subsets {
        for u in &subsets {
            let want = u.iter().all(|n| o.contains(n));
            let got = js::differences(&schema(&names, o, true), &schema(&names, u, true));
            assert_eq!(got.is_empty(), want, "required {o:?} -> {u:?}: {got:?}");
            cases += 1;
        }
    }
    assert_eq!(cases, 3 * 64);
}

// ------------------------------------------------------------------ Protobuf

const SCALARS: [&str; 15] = [
    "int32", "int64", "uint32", "uint64", "bool", "sint32", "sint64", "fixed32", "sfixed32", "fixed64", "sfixed64",
    "float", "double", "string", "bytes",
];

/// Which scalars share an encoding on the wire (bytes of one parse as the other).
fn wire(t: &str) -> u8 {
    match t {
        "int32" | "int64" | "uint32" | "uint64" | "bool" => 0,
        "sint32" | "sint64" => 1,
        "fixed32" | "sfixed32" => 2,
        "fixed64" | "sfixed64" => 3,
        "float" => 4,
        "double" => 5,
        "string" | "bytes" => 6,
        other => panic!("{other}"),
    }
}

fn proto(body: &str) -> pb::ProtoFile {
    let text = format!("syntax = \"proto3\";\npackage t;\n{body}");
    weir_registry::proto::compile(&text, &[], false).unwrap_or_else(|e| panic!("{text}: {e}")).model
}

#[test]
fn protobuf_every_pair_of_scalars_flat_nested_and_repeated() {
    let mut cases = 0;
    for a in SCALARS {
        for b in SCALARS {
            let want = wire(a) == wire(b);
            let flat = pb::differences(
                &proto(&format!("message M {{ {a} f = 1; }}")),
                &proto(&format!("message M {{ {b} f = 1; }}")),
            );
            assert_eq!(flat.is_empty(), want, "{a} -> {b}: {flat:?}");
            let nested = |t: &str| proto(&format!("message M {{ message N {{ {t} f = 1; }} N n = 1; }}"));
            assert_eq!(pb::differences(&nested(a), &nested(b)).is_empty(), want, "nested {a} -> {b}");
            let repeated = |t: &str| proto(&format!("message M {{ repeated {t} f = 1; }}"));
            assert_eq!(pb::differences(&repeated(a), &repeated(b)).is_empty(), want, "repeated {a} -> {b}");
            // The same field renamed at the same number: the name is not on the wire.
            let renamed = pb::differences(
                &proto(&format!("message M {{ {a} f = 1; }}")),
                &proto(&format!("message M {{ {b} g = 1; }}")),
            );
            assert_eq!(renamed.is_empty(), want, "renamed {a} -> {b}");
            cases += 4;
        }
    }
    assert_eq!(cases, 4 * 15 * 15);
}

/// A scalar becoming a message or an enum (or back) changes what the bytes
/// mean, whatever the scalar.
#[test]
fn protobuf_scalars_against_messages_and_enums() {
    let mut cases = 0;
    for s in SCALARS {
        let scalar = proto(&format!("message M {{ {s} f = 1; }} message X {{ int32 x = 1; }} enum E {{ E0 = 0; }}"));
        let message = proto("message M { X f = 1; } message X { int32 x = 1; } enum E { E0 = 0; }");
        let enumeration = proto("message M { E f = 1; } message X { int32 x = 1; } enum E { E0 = 0; }");
        for (a, b, what) in [
            (&scalar, &message, "scalar -> message"),
            (&message, &scalar, "message -> scalar"),
            (&scalar, &enumeration, "scalar -> enum"),
            (&enumeration, &scalar, "enum -> scalar"),
        ] {
            assert!(!pb::differences(a, b).is_empty(), "{s}: {what}");
            cases += 1;
        }
    }
    assert_eq!(cases, 60);
}

/// Fields added and removed at any number: always compatible in proto3 (unknown
/// fields are skipped, missing ones take defaults); messages removed are not.
#[test]
fn protobuf_fields_added_and_removed() {
    let fields = ["int32 a = 1;", "string b = 2;", "bytes c = 3;", "double d = 4;", "repeated int64 e = 5;"];
    let mut cases = 0;
    for o in 0u32..32 {
        for u in 0u32..32 {
            let body = |mask: u32| -> String {
                fields
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, f)| *f)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let got = pb::differences(
                &proto(&format!("message M {{ {} }}", body(o))),
                &proto(&format!("message M {{ {} }}", body(u))),
            );
            assert!(got.is_empty(), "fields {o:05b} -> {u:05b}: {got:?}");
            cases += 1;
        }
    }
    assert_eq!(cases, 1024);
    let two = proto("message M { int32 a = 1; } message N { int32 b = 1; }");
    let one = proto("message M { int32 a = 1; }");
    assert!(pb::differences(&one, &two).is_empty(), "a message added");
    assert!(!pb::differences(&two, &one).is_empty(), "a message removed");
}
