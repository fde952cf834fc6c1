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

const ORDER: &str = r#"syntax = "proto3";
package shop;

import "google/protobuf/timestamp.proto";

message Order {
  int64 id = 1;
  repeated Item items = 2;
  google.protobuf.Timestamp at = 3;

  message Item {
    string sku = 1;
  }
}

message Refund {
  int64 order = 1;
}
"#;

fn proto(schema: &str) -> Value {
    json!({"schema": schema, "schemaType": "PROTOBUF"})
}

#[test]
fn protobuf_text_formatting_and_base64_descriptors_are_one_schema() {
    let weir = Weir::start();
    let r = &weir.registry;
    let messy = format!("// An order.\n{}", ORDER.replace("\n\n", "\n").replace("  ", "\t\t"));
    let (s, b) = register(&weir, "orders", proto(&messy));
    assert_eq!(s, 200, "{b}");
    let id = b["id"].clone();
    // Stored in canonical form: comments and formatting gone, declaration order kept.
    assert_eq!(get(r, "/subjects/orders/versions/1").json()["schema"], ORDER);
    assert_eq!(register(&weir, "orders", proto(ORDER)).1, json!({"id": id}));
    // As a base64 FileDescriptorProto, as Confluent serves it with format=serialized.
    let serialized = get(r, &format!("/schemas/ids/{id}?format=serialized")).json();
    let b64 = serialized["schema"].as_str().unwrap().to_string();
    assert!(!b64.contains("message"), "base64, not text: {b64}");
    assert_eq!(
        get(r, "/subjects/orders/versions/1?format=serialized").json()["schema"],
        serialized["schema"],
        "the same descriptor by subject and version"
    );
    assert_eq!(register(&weir, "orders", proto(&b64)).1, json!({"id": id}), "descriptor and text are one schema");
    let found = post(r, "/subjects/orders", &proto(&b64));
    assert_eq!(found.json()["version"], 1, "{}", found.body);
    assert_eq!(get(r, "/subjects/orders/versions").json(), json!([1]));

    // normalize=true: option and field order do not matter, message order does.
    let a = "syntax = \"proto3\"; package n; option java_package = \"j\"; option go_package = \"g\"; message M { string b = 2; int32 a = 1; }";
    let b = "syntax = \"proto3\"; package n; option go_package = \"g\"; option java_package = \"j\"; message M { int32 a = 1; string b = 2; }";
    let first = post(r, "/subjects/norm/versions?normalize=true", &proto(a)).json();
    assert_eq!(post(r, "/subjects/norm/versions?normalize=true", &proto(b)).json(), first);
    let found = post(r, "/subjects/norm?normalize=true", &proto(b));
    assert_eq!(found.json()["version"], 1, "{}", found.body);
    assert_eq!(get(r, "/subjects/norm/versions").json(), json!([1]));
}

#[test]
fn protobuf_types_must_be_defined_and_dependencies_are_checked() {
    let weir = Weir::start();
    let r = &weir.registry;
    let refused = |schema: &str, refs: Value, needle: &str| {
        let reply =
            post(r, "/subjects/bad/versions", &json!({"schema": schema, "schemaType": "PROTOBUF", "references": refs}));
        assert_eq!((reply.status, reply.error_code()), (422, 42201), "{schema}: {}", reply.body);
        let msg = reply.json()["message"].as_str().unwrap().to_string();
        assert!(msg.starts_with("Invalid schema"), "{msg}");
        assert!(msg.contains(needle), "{needle} named in: {msg}");
    };
    refused("syntax = \"proto3\"; message M { Missing m = 1; }", json!([]), "Missing");
    refused(
        "syntax = \"proto3\"; message M { google.protobuf.Timestamp t = 1; }",
        json!([]),
        "google.protobuf.Timestamp",
    );
    refused("syntax = \"proto3\"; import \"dep.proto\"; message M { d.D x = 1; }", json!([]), "d.D");
    refused("syntax = \"proto3\"; import \"dep.proto\"; message M { d.D x = 1; }", json!([]), "dep.proto");

    // A dependency registered, referenced by its import name.
    let dep = |ty: &str| format!("syntax = \"proto3\"; package d; message D {{ {ty} v = 1; }}");
    assert_eq!(register(&weir, "dep", proto(&dep("string"))).0, 200);
    let main = "syntax = \"proto3\"; import \"dep.proto\"; message M { d.D x = 1; }";
    let with_ref = |v: i32| json!({"schema": main, "schemaType": "PROTOBUF", "references": [{"name": "dep.proto", "subject": "dep", "version": v}]});
    let (s, b) = register(&weir, "main", with_ref(1));
    assert_eq!(s, 200, "{b}");
    // A file that only re-exports others is valid.
    let reexport = json!({"schema": "syntax = \"proto3\";\nimport public \"dep.proto\";\n", "schemaType": "PROTOBUF",
        "references": [{"name": "dep.proto", "subject": "dep", "version": 1}]});
    assert_eq!(register(&weir, "reexport", reexport).0, 200);
    // The dependency's field changing type makes the referring schema incompatible.
    assert_eq!(post(r, "/config/dep", &json!({"compatibility": "NONE"})).status, 405, "config is PUT");
    assert_eq!(common::http::put(r, "/config/dep", &json!({"compatibility": "NONE"})).status, 200);
    assert_eq!(register(&weir, "dep", proto(&dep("int32"))).0, 200);
    let check = post(r, "/compatibility/subjects/main/versions/latest?verbose=true", &with_ref(2)).json();
    assert_eq!(check["is_compatible"], false, "{check}");
    assert!(check["messages"].to_string().contains("d.D"), "{check}");
    let reply = post(r, "/subjects/main/versions", &with_ref(2));
    assert_eq!((reply.status, reply.error_code()), (409, 409), "{}", reply.body);
}

#[test]
fn content_negotiation_and_error_answers_follow_confluent() {
    use common::http::request_with;
    let weir = Weir::start();
    let r = &weir.registry;
    let body = json!({"schema": "\"int\""}).to_string();
    let v1 = "application/vnd.schemaregistry.v1+json";
    for (accept, want) in [
        ("", v1),
        ("*/*", v1),
        ("application/json", "application/json"),
        ("application/vnd.schemaregistry+json", "application/vnd.schemaregistry+json"),
        ("application/vnd.schemaregistry.v1+json; q=0.9, application/json; q=0.5", v1),
    ] {
        let reply = request_with(r, "POST", "/subjects/n/versions", v1, accept, body.as_bytes());
        assert_eq!((reply.status, reply.content_type.as_str()), (200, want), "Accept: {accept}");
    }
    let reply = request_with(r, "GET", "/subjects", "", "text/html", b"");
    assert_eq!((reply.status, reply.json()), (406, json!({"error_code": 406, "message": "HTTP 406 Not Acceptable"})));
    let reply = request_with(r, "POST", "/subjects/n/versions", "text/plain", "", body.as_bytes());
    assert_eq!(
        (reply.status, reply.json()),
        (415, json!({"error_code": 415, "message": "HTTP 415 Unsupported Media Type"}))
    );
    // No Content-Type, octet-stream, and a UTF-16 body are all read as JSON.
    for ct in ["", "application/octet-stream", "application/json; charset=UTF-8"] {
        let reply = request_with(r, "POST", "/subjects/n/versions", ct, "", body.as_bytes());
        assert_eq!(reply.status, 200, "Content-Type {ct:?}: {}", reply.body);
    }
    let utf16: Vec<u8> = body.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let reply = request_with(r, "POST", "/subjects/n", "application/json; charset=UTF-16LE", "", &utf16);
    assert_eq!(reply.json()["version"], 1, "{}", reply.body);
    let reply = request_with(r, "DELETE", "/schemas/types", "", "", b"");
    assert_eq!((reply.status, reply.error_code()), (405, 405));

    // Errors as Confluent words them.
    let empty = post(r, "/subjects/fresh/versions", &json!({"schema": ""}));
    assert_eq!((empty.status, empty.json()["message"].clone()), (422, json!("Empty schema")));
    let latest_id = get(r, "/subjects/n/versions/latest").json()["id"].clone();
    assert_eq!(
        register(&weir, "n", json!({"schema": ""})),
        (200, json!({"id": latest_id})),
        "the latest schema stands in"
    );
    assert_eq!(post(r, "/subjects/n", &json!({"schema": " "})).error_code(), 40403, "lookup: not an error");
    assert_eq!(post(r, "/subjects/nobody", &json!({"schema": ""})).error_code(), 40401);
    let bad = post(r, "/subjects/unknown", &json!({"schema": "{\"type\": \"nope\"}"}));
    assert_eq!(bad.error_code(), 42201, "an invalid schema is 42201 before the subject is looked up");
    let msg = bad.json()["message"].as_str().unwrap().to_string();
    assert!(msg.starts_with("Invalid schema of type AVRO, details: "), "{msg}");
    let bad = post(r, "/subjects/n/versions", &json!({"schema": "{", "schemaType": "JSON"}));
    assert!(
        bad.json()["message"].as_str().unwrap().starts_with("Invalid schema of type JSON, details: "),
        "{}",
        bad.body
    );
    let missing_id = get(r, "/schemas/ids/99");
    assert_eq!(missing_id.json(), json!({"error_code": 40403, "message": "Schema 99 not found"}));
    assert_eq!(get(r, "/schemas/ids/99/subjects").json()["message"], "Schema not found");
    let mode = common::http::put(r, "/mode", &json!({"mode": "SOMETIMES"}));
    assert_eq!(
        (mode.error_code(), mode.json()["message"].clone()),
        (42204, json!("Invalid mode. Valid values are READWRITE, READONLY, and IMPORT."))
    );
    let compat = |path: &str| post(r, path, &json!({"schema": "\"long\""}));
    assert_eq!(compat("/compatibility/subjects/unknown/versions/latest").json(), json!({"is_compatible": true}));
    assert_eq!(compat("/compatibility/subjects/unknown/versions").json(), json!({"is_compatible": true}));
    let missing = compat("/compatibility/subjects/unknown/versions/1");
    assert_eq!(
        (missing.status, missing.json()),
        (404, json!({"error_code": 40402, "message": "Version 1 not found."}))
    );
    assert_eq!(compat("/compatibility/subjects/n/versions/7").error_code(), 40402);
    assert_eq!(compat("/compatibility/subjects/n/versions/x").error_code(), 42202);
    let verbose =
        post(r, "/compatibility/subjects/n/versions/latest?verbose=true", &json!({"schema": "{\"type\": \"nope\"}"}));
    assert_eq!(verbose.status, 200);
    assert_eq!(verbose.json()["is_compatible"], false);
    assert!(verbose.json()["messages"][0].as_str().unwrap().starts_with("Invalid schema"), "{}", verbose.body);
}

#[test]
fn json_schema_compatibility_follows_confluents_diff_rules() {
    let weir = Weir::start();
    let r = &weir.registry;
    let js = |v: Value| json!({"schema": v.to_string(), "schemaType": "JSON"});
    let v1 = json!({"type": "object", "properties": {"id": {"type": "integer"}, "note": {"type": "string"}}});
    assert_eq!(register(&weir, "orders", js(v1)).0, 200);
    // The same schema with a property's type moved into $defs behind a $ref, and
    // a type widened through oneOf: compatible (BACKWARD).
    let v2 = json!({"type": "object", "$defs": {"id": {"type": "integer"}},
        "properties": {"id": {"$ref": "#/$defs/id"}, "note": {"oneOf": [{"type": "null"}, {"type": "string"}]}}});
    let (s, b) = register(&weir, "orders", js(v2));
    assert_eq!(s, 200, "{b}");
    // A property added to an open content model is not (a value of any type was allowed there).
    let v3 = json!({"type": "object", "$defs": {"id": {"type": "integer"}},
        "properties": {"id": {"$ref": "#/$defs/id"}, "note": {"oneOf": [{"type": "null"}, {"type": "string"}]}, "qty": {"type": "integer"}}});
    let refused = post(r, "/subjects/orders/versions", &js(v3.clone()));
    assert_eq!(refused.status, 409, "{}", refused.body);
    let msg = refused.json()["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("{errorType:\"PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL\", description:\"The new schema has an open content model and has a property or item at path '#/properties/qty' which is missing in the old schema\"}"),
        "{msg}"
    );
    assert!(msg.contains("{oldSchemaVersion: 2}") && msg.contains("{compatibility: 'BACKWARD'}"), "{msg}");
    // FORWARD words the same difference from the other side.
    assert_eq!(common::http::put(r, "/config/orders", &json!({"compatibility": "FORWARD"})).status, 200);
    let check = post(
        r,
        "/compatibility/subjects/orders/versions/latest?verbose=true",
        &js(json!({"type": "object",
        "properties": {"id": {"type": "integer"}, "note": {"type": "integer"}}})),
    )
    .json();
    assert_eq!(check["is_compatible"], false, "{check}");
    assert_eq!(
        check["messages"][0],
        "{errorType:\"TYPE_CHANGED\", description:\"A type at path '#/properties/note' is different between the old schema and the new schema\"}",
        "{check}"
    );
}

#[test]
fn avro_schemas_are_judged_by_avros_own_rules_and_messages() {
    let weir = Weir::start();
    let r = &weir.registry;
    let details = |reply: &common::http::Reply| {
        assert_eq!((reply.status, reply.error_code()), (422, 42201), "{}", reply.body);
        let msg = reply.json()["message"].as_str().unwrap().to_string();
        msg.strip_prefix("Invalid schema of type AVRO, details: ").unwrap_or_else(|| panic!("{msg}")).to_string()
    };
    // Names as Avro Java validates them: Unicode letters pass, a hyphen does not
    // (and the registry answers rather than failing the request).
    let unicode = json!({"type": "record", "name": "Größe", "namespace": "com.my-co", "fields": [{"name": "wert", "type": "int"}]});
    assert_eq!(register(&weir, "names", json!({"schema": unicode.to_string()})).0, 200);
    let hyphen = json!({"type": "record", "name": "my-name", "fields": []});
    for path in ["/subjects/names/versions", "/subjects/names"] {
        let reply = post(r, path, &json!({"schema": hyphen.to_string()}));
        assert_eq!(details(&reply), "Illegal character in: my-name", "{path}");
    }
    let undefined = json!({"type": "record", "name": "R", "fields": [{"name": "f", "type": "x.C"}]});
    assert_eq!(
        details(&post(r, "/subjects/names/versions", &json!({"schema": undefined.to_string()}))),
        r#""x.C" is not a defined name. The type of the "f" field must be a defined name or a {"type": ...} expression."#
    );

    // A union's default must fit its first branch, checked for new registrations
    // and compatibility checks, not for lookups (as Confluent does).
    let good =
        json!({"type": "record", "name": "U", "fields": [{"name": "a", "type": ["null", "string"], "default": null}]});
    assert_eq!(register(&weir, "defaults", json!({"schema": good.to_string()})).0, 200);
    let bad =
        json!({"type": "record", "name": "U", "fields": [{"name": "a", "type": ["null", "string"], "default": "x"}]});
    let want = r#"Invalid default for field a: "x" not a ["null","string"]"#;
    assert_eq!(details(&post(r, "/subjects/defaults/versions", &json!({"schema": bad.to_string()}))), want);
    assert_eq!(
        details(&post(r, "/compatibility/subjects/defaults/versions/latest", &json!({"schema": bad.to_string()}))),
        want
    );
    let lookup = post(r, "/subjects/defaults", &json!({"schema": bad.to_string()}));
    assert_eq!((lookup.status, lookup.error_code()), (404, 40403), "{}", lookup.body);
    assert_eq!(get(r, "/subjects/defaults/versions").json(), json!([1]));
}
