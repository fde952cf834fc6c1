//! End-to-end: the registry agrees with Confluent Schema Registry case by case
//! (issue 21): one id for one schema whatever its form, the schema rules per type,
//! content negotiation, and errors with Confluent's codes and texts.

mod common;

use common::http::{get, post};
use common::Weir;
use serde_json::{json, Value};

fn register(weir: &Weir, subject: &str, body: Value) -> (u16, Value) {
    let r = post(&weir.registry, &format!("/subjects/{subject}/versions"), &body);
    (r.status, r.json())
}

#[test]
fn avro_and_json_schemas_differing_only_in_form_are_one_schema() {
    let weir = Weir::start();
    let r = &weir.registry;
    let first = r#"{"type": "record", "name": "User", "namespace": "com.example",
        "fields": [{"name": "id", "type": "long"}, {"name": "tags", "type": {"type": "array", "items": "string"}}]}"#;
    assert_eq!(register(&weir, "avro", json!({"schema": first})), (200, json!({"id": 1})));
    // Stored and returned as Avro's own writer prints it.
    let canonical = r#"{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"tags","type":{"type":"array","items":"string"}}]}"#;
    assert_eq!(get(r, "/subjects/avro/versions/1").json()["schema"], canonical);
    for same in [
        // Other key order and whitespace.
        r#"{"fields":[{"type":"long","name":"id"},{"type":{"items":"string","type":"array"},"name":"tags"}],
            "namespace":"com.example","name":"User","type":"record"}"#,
        // The namespace in the name, redundant attributes on primitives, an explicit ascending order.
        r#"{"type": "record", "name": "com.example.User", "fields": [
            {"name": "id", "type": {"type": "long", "name": "ignored"}, "order": "ascending"},
            {"name": "tags", "type": {"type": "array", "items": {"type": "string"}}}]}"#,
    ] {
        assert_eq!(register(&weir, "avro", json!({"schema": same})), (200, json!({"id": 1})), "{same}");
        let found = post(r, "/subjects/avro", &json!({"schema": same}));
        assert_eq!((found.status, found.json()["version"].clone()), (200, json!(1)), "lookup of {same}");
    }
    assert_eq!(get(r, "/subjects/avro/versions").json(), json!([1]));
    // A primitive written as an object is the bare primitive.
    assert_eq!(register(&weir, "prim", json!({"schema": "\"string\""})), (200, json!({"id": 2})));
    assert_eq!(register(&weir, "prim", json!({"schema": "{\"type\": \"string\"}"})), (200, json!({"id": 2})));

    // JSON Schema: key order and whitespace do not make a new schema; the text is kept as first given.
    let js = r#"{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}"#;
    let (s, b) = register(&weir, "json", json!({"schema": js, "schemaType": "JSON"}));
    assert_eq!(s, 200, "{b}");
    let id = b["id"].clone();
    let reordered = r#"{ "properties": { "b": {"type": "integer"}, "a": {"type": "string"} },
        "type": "object" }"#;
    assert_eq!(register(&weir, "json", json!({"schema": reordered, "schemaType": "JSON"})), (200, json!({"id": id})));
    let found = post(r, "/subjects/json", &json!({"schema": reordered, "schemaType": "JSON"}));
    assert_eq!(found.json()["version"], 1, "{}", found.body);
    assert_eq!(
        get(r, "/subjects/json/versions/1").json()["schema"],
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}"#
    );
    // The same JSON Schema in another subject keeps its id.
    assert_eq!(register(&weir, "json2", json!({"schema": reordered, "schemaType": "JSON"})), (200, json!({"id": id})));
}
