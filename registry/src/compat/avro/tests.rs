//! The Avro compatibility table: (reader, writer) pairs with the expected answer.

use super::*;
use serde_json::json;

fn schema(v: Value) -> AvroSchema {
    AvroSchema::parse(&v, &[]).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn ok(reader: Value, writer: Value) -> bool {
    can_read(&schema(reader), &schema(writer)).is_empty()
}

const PRIMITIVES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

fn promotion_allowed(w: &str, r: &str) -> bool {
    w == r
        || matches!(
            (w, r),
            ("int", "long" | "float" | "double")
                | ("long", "float" | "double")
                | ("float", "double")
                | ("string", "bytes")
                | ("bytes", "string")
        )
}

#[test]
fn every_pair_of_primitives() {
    let mut cases = 0;
    for w in PRIMITIVES {
        for r in PRIMITIVES {
            assert_eq!(ok(json!(r), json!(w)), promotion_allowed(w, r), "reader {r}, writer {w}");
            // The same inside a record field, an array, a map and a union.
            let rec = |t: &str| json!({"type": "record", "name": "R", "fields": [{"name": "f", "type": t}]});
            assert_eq!(ok(rec(r), rec(w)), promotion_allowed(w, r), "record field: reader {r}, writer {w}");
            assert_eq!(
                ok(json!({"type": "array", "items": r}), json!({"type": "array", "items": w})),
                promotion_allowed(w, r)
            );
            assert_eq!(
                ok(json!({"type": "map", "values": r}), json!({"type": "map", "values": w})),
                promotion_allowed(w, r)
            );
            assert_eq!(
                ok(json!(["null", r]), json!(w)),
                w == "null" || promotion_allowed(w, r),
                "union reader [null, {r}], writer {w}"
            );
            cases += 5;
        }
    }
    assert_eq!(cases, 320);
}

fn rec(fields: Value) -> Value {
    json!({"type": "record", "name": "User", "namespace": "com.example", "fields": fields})
}

#[test]
fn records() {
    let base = rec(json!([{"name": "id", "type": "long"}, {"name": "name", "type": "string"}]));
    let cases: Vec<(Value, Value, bool, &str)> = vec![
        (base.clone(), base.clone(), true, "identical"),
        (rec(json!([{"name": "id", "type": "long"}])), base.clone(), true, "reader drops a field"),
        (base.clone(), rec(json!([{"name": "id", "type": "long"}])), false, "reader adds a field without default"),
        (
            rec(
                json!([{"name": "id", "type": "long"}, {"name": "name", "type": "string"}, {"name": "age", "type": "int", "default": 0}]),
            ),
            base.clone(),
            true,
            "reader adds a field with default",
        ),
        (
            rec(json!([{"name": "id", "type": "long"}, {"name": "n", "type": "string", "aliases": ["name"]}])),
            base.clone(),
            true,
            "renamed field with an alias",
        ),
        (
            rec(json!([{"name": "id", "type": "long"}, {"name": "n", "type": "string"}])),
            base.clone(),
            false,
            "renamed field without alias",
        ),
        (
            rec(json!([{"name": "id", "type": "int"}, {"name": "name", "type": "string"}])),
            base.clone(),
            false,
            "long narrowed to int",
        ),
        (
            rec(json!([{"name": "id", "type": "double"}, {"name": "name", "type": "string"}])),
            base.clone(),
            true,
            "long widened to double",
        ),
        (
            json!({"type": "record", "name": "Person", "namespace": "com.example", "fields": [{"name": "id", "type": "long"}]}),
            base.clone(),
            false,
            "record renamed",
        ),
        (
            json!({"type": "record", "name": "Person", "namespace": "com.example", "aliases": ["User"], "fields": [{"name": "id", "type": "long"}]}),
            base.clone(),
            true,
            "record renamed with an alias",
        ),
        (
            json!({"type": "record", "name": "User", "namespace": "org.other", "fields": [{"name": "id", "type": "long"}]}),
            base.clone(),
            true,
            "namespace changed (names match unqualified)",
        ),
        (
            rec(json!([{"name": "id", "type": "long"}, {"name": "name", "type": ["null", "string"], "default": null}])),
            base.clone(),
            true,
            "field became optional",
        ),
        (
            base.clone(),
            rec(json!([{"name": "id", "type": "long"}, {"name": "name", "type": ["null", "string"], "default": null}])),
            false,
            "optional field read as required",
        ),
    ];
    for (r, w, want, what) in cases {
        assert_eq!(ok(r, w), want, "{what}");
    }
}

#[test]
fn enums_fixed_unions_and_recursion() {
    let e = |syms: Value| json!({"type": "enum", "name": "Color", "symbols": syms});
    let ed = |syms: Value, d: &str| json!({"type": "enum", "name": "Color", "symbols": syms, "default": d});
    assert!(ok(e(json!(["R", "G", "B"])), e(json!(["R", "G"]))), "reader adds a symbol");
    assert!(!ok(e(json!(["R", "G"])), e(json!(["R", "G", "B"]))), "reader lacks a symbol");
    assert!(ok(ed(json!(["R", "G", "X"]), "X"), e(json!(["R", "G", "B"]))), "reader default covers a missing symbol");
    let f = |n: u64| json!({"type": "fixed", "name": "Hash", "size": n});
    assert!(ok(f(16), f(16)));
    assert!(!ok(f(16), f(32)));
    assert!(!ok(f(16), e(json!(["A"]))), "fixed vs enum");
    assert!(ok(json!(["null", "int", "string"]), json!(["int", "string"])), "reader union is a superset");
    assert!(!ok(json!(["int", "string"]), json!(["null", "int", "string"])), "writer branch missing");
    assert!(ok(json!(["null", "long"]), json!(["null", "int"])), "branch promotion");
    assert!(ok(json!("long"), json!(["int", "long"])), "every writer branch reads as long");
    assert!(!ok(json!("int"), json!(["int", "long"])), "long branch cannot read as int");
    let list = |extra: Value| {
        let mut fields =
            vec![json!({"name": "value", "type": "int"}), json!({"name": "next", "type": ["null", "Node"]})];
        if !extra.is_null() {
            fields.push(extra);
        }
        json!({"type": "record", "name": "Node", "fields": fields})
    };
    assert!(ok(list(Value::Null), list(Value::Null)), "recursive type against itself");
    assert!(
        ok(list(json!({"name": "tag", "type": "string", "default": ""})), list(Value::Null)),
        "recursive type gains a defaulted field"
    );
    assert!(
        !ok(list(json!({"name": "tag", "type": "string"})), list(Value::Null)),
        "recursive type gains a required field"
    );
}

#[test]
fn messages_say_where_and_why() {
    let r = rec(
        json!([{"name": "id", "type": "long"}, {"name": "inner", "type": {"type": "record", "name": "In", "fields": [{"name": "x", "type": "int"}]}}]),
    );
    let w = rec(
        json!([{"name": "id", "type": "long"}, {"name": "inner", "type": {"type": "record", "name": "In", "fields": [{"name": "x", "type": "string"}]}}]),
    );
    let out = can_read(&schema(r), &schema(w));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "TYPE_MISMATCH");
    assert_eq!(out[0].path, "/fields/1/type/fields/0/type");
    assert!(out[0].description.contains("int") && out[0].description.contains("string"));
    let r = rec(json!([{"name": "id", "type": "long"}, {"name": "email", "type": "string"}]));
    let w = rec(json!([{"name": "id", "type": "long"}]));
    let out = can_read(&schema(r), &schema(w));
    assert_eq!((out[0].kind, out[0].path.as_str()), ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1"));
    assert!(out[0].description.contains("email"));
}

#[test]
fn references_resolve_named_types() {
    let address = json!({"type": "record", "name": "Address", "namespace": "com.example", "fields": [{"name": "city", "type": "string"}]});
    let user = json!({"type": "record", "name": "User", "namespace": "com.example", "fields": [{"name": "home", "type": "com.example.Address"}]});
    assert!(AvroSchema::parse(&user, &[]).is_err(), "unknown name without the reference");
    let s = AvroSchema::parse(&user, &[address]).unwrap();
    assert!(s.named.contains_key("com.example.Address"));
    assert!(can_read(&s, &s).is_empty());
}
