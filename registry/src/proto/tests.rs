use super::*;

fn ok(text: &str) -> Compiled {
    compile(text, &[], false).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

const USER: &str = r#"
syntax = "proto3";
package com.example;
import "google/protobuf/timestamp.proto";
option java_package = "com.example.proto";
option java_multiple_files = true;
// A user.
message User {
  int64 id = 1;
  string name = 2 [deprecated = true];
  Address home = 3;
  repeated string tags = 4;
  map<string, int32> counts = 5;
  Kind kind = 6;
  oneof contact { string email = 7; string phone = 8; }
  optional google.protobuf.Timestamp seen = 11;
  message Address { string city = 1; }
  enum Kind { KIND_UNSPECIFIED = 0; ADMIN = 1; }
  reserved 9, 10, 20 to 30;
  reserved "old";
}
enum Top { TOP_UNSPECIFIED = 0; }
message Later { User u = 1; }
service Users { rpc Get (User) returns (stream User) { option idempotency_level = NO_SIDE_EFFECTS; } }
"#;

#[test]
fn the_canonical_text_keeps_declarations_and_drops_formatting() {
    let c = ok(USER);
    let want = r#"syntax = "proto3";
package com.example;

import "google/protobuf/timestamp.proto";

option java_package = "com.example.proto";
option java_multiple_files = true;

message User {
  reserved 9, 10, 20 to 30;
  reserved "old";
  int64 id = 1;
  string name = 2 [deprecated = true];
  Address home = 3;
  repeated string tags = 4;
  map<string, int32> counts = 5;
  Kind kind = 6;
  optional google.protobuf.Timestamp seen = 11;
  oneof contact {
    string email = 7;
    string phone = 8;
  }

  message Address {
    string city = 1;
  }

  enum Kind {
    KIND_UNSPECIFIED = 0;
    ADMIN = 1;
  }
}

message Later {
  User u = 1;
}

enum Top {
  TOP_UNSPECIFIED = 0;
}

service Users {
  rpc Get (User) returns (stream User) {
    option idempotency_level = NO_SIDE_EFFECTS;
  }
}
"#;
    assert_eq!(c.canonical, want);
    // The canonical text is a fixed point, and the base64 descriptor is the same schema.
    assert_eq!(ok(&c.canonical).canonical, want);
    assert_eq!(ok(&c.serialized).canonical, want);
    let squeezed: String = USER.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join(" ");
    assert_eq!(ok(&squeezed).canonical, want);
}

#[test]
fn normalize_sorts_options_fields_and_qualifies_names_but_keeps_message_order() {
    let a = "syntax = \"proto3\"; package p; option java_package = \"x\"; option go_package = \"y\";
             message B { int32 z = 2; A a = 1; } message A { int32 x = 1; }";
    assert!(ok(a).canonical.contains("int32 z = 2;\n  A a = 1;"), "declaration order: {}", ok(a).canonical);
    let b = "syntax = \"proto3\"; package p; option go_package = \"y\"; option java_package = \"x\";
             message B { A a = 1; int32 z = 2; } message A { int32 x = 1; }";
    let (na, nb) = (compile(a, &[], true).unwrap(), compile(b, &[], true).unwrap());
    assert_eq!(na.canonical, nb.canonical);
    assert_ne!(ok(a).canonical, ok(b).canonical, "without normalize the order is the schema's");
    assert!(na.canonical.contains(".p.A a = 1;"), "{}", na.canonical);
    assert!(na.canonical.find("message B").unwrap() < na.canonical.find("message A").unwrap());
}

#[test]
fn undefined_types_and_unresolved_imports_are_refused_naming_them() {
    let e = compile("syntax = \"proto3\"; message M { Missing m = 1; }", &[], false).unwrap_err();
    assert!(e.contains("Missing"), "{e}");
    // A well-known type used without its import.
    let e = compile("syntax = \"proto3\"; message M { google.protobuf.Timestamp t = 1; }", &[], false).unwrap_err();
    assert!(e.contains("google.protobuf.Timestamp"), "{e}");
    // An import that is neither a reference nor a known file.
    let e = compile("syntax = \"proto3\"; import \"other.proto\"; message M { int32 a = 1; }", &[], false).unwrap_err();
    assert_eq!(e, "import \"other.proto\" is neither a declared reference nor a known file");
    // An import without its reference: the types it would have defined are named.
    let e = compile("syntax = \"proto3\"; import \"dep.proto\"; message M { d.D x = 1; }", &[], false).unwrap_err();
    assert!(e.contains("d.D") && e.contains("import \"dep.proto\" is neither"), "{e}");
    // Known files need no reference; google.type and Confluent's too.
    ok("syntax = \"proto3\"; import \"google/type/date.proto\"; import \"confluent/type/decimal.proto\";
        message M { google.type.Date d = 1; confluent.type.Decimal x = 2; }");
    let e = compile("syntax = \"proto3\"; message M { google.type.Date d = 1; }", &[], false).unwrap_err();
    assert!(e.contains("google.type.Date"), "{e}");
}

#[test]
fn references_resolve_by_import_name_and_files_of_public_imports_only_are_valid() {
    let other =
        ("other.proto".to_string(), "syntax = \"proto3\"; package o; message Addr { string city = 1; }".to_string());
    let c = compile(
        "syntax = \"proto3\"; import \"other.proto\"; message M { o.Addr a = 1; }",
        std::slice::from_ref(&other),
        false,
    )
    .unwrap();
    assert!(c.model.messages.contains_key("o.Addr"), "the dependency's message is in the model");
    let c = compile("syntax = \"proto3\"; import public \"other.proto\";", &[other], false).unwrap();
    assert_eq!(c.canonical, "syntax = \"proto3\";\n\nimport public \"other.proto\";\n");
}

#[test]
fn a_dependency_changing_a_field_type_is_an_incompatible_change() {
    let main = "syntax = \"proto3\"; import \"dep.proto\"; message M { d.D x = 1; }";
    let dep = |ty: &str| {
        vec![("dep.proto".to_string(), format!("syntax = \"proto3\"; package d; message D {{ {ty} v = 1; }}"))]
    };
    let v1 = compile(main, &dep("string"), false).unwrap();
    let v2 = compile(main, &dep("int32"), false).unwrap();
    let diffs = crate::compat::protobuf::differences(&v1.model, &v2.model);
    assert!(diffs.iter().any(|d| d.contains("d.D")), "{diffs:?}");
    let same = compile(main, &dep("bytes"), false).unwrap();
    assert!(
        crate::compat::protobuf::differences(&v1.model, &same.model).is_empty(),
        "string -> bytes is wire-compatible"
    );
}

#[test]
fn proto2_labels_defaults_extensions_and_custom_options_render() {
    let text = r#"syntax = "proto2";
package p;
import "google/protobuf/descriptor.proto";
extend google.protobuf.FieldOptions { optional string note = 50001; }
message M {
  required int32 a = 1 [default = 7];
  optional string s = 2 [default = "x\"y", (note) = "n"];
  extensions 100 to max;
}
extend M { optional int32 more = 100; }
"#;
    let c = ok(text);
    for want in [
        "required int32 a = 1 [default = 7];",
        "optional string s = 2 [(p.note) = \"n\", default = \"x\\\"y\"];",
        "extensions 100 to max;",
        "extend M {\n  optional int32 more = 100;\n}",
        "extend google.protobuf.FieldOptions {\n  optional string note = 50001;\n}",
    ] {
        assert!(c.canonical.contains(want), "{want}\n---\n{}", c.canonical);
    }
    assert_eq!(ok(&c.canonical).canonical, c.canonical);
}

#[test]
fn decodes_what_confluent_kafka_python_sends() {
    let s = "ChFjb21wYXRfc2hvcC5wcm90bxIKY29tcGF0c2hvcCJdCgVPcmRlchIKCgJpZBgBIAEoAxIMCgRub3RlGAIgASgJEiUKBWl0ZW1zGAMgAygLMhYuY29tcGF0c2hvcC5PcmRlci5JdGVtGhMKBEl0ZW0SCwoDc2t1GAEgASgJYgZwcm90bzM=";
    let c = ok(s);
    assert_eq!(c.model.package, "compatshop");
    assert!(c.canonical.contains("message Order {"), "{}", c.canonical);
    assert!(c.canonical.contains("repeated Item items = 3;"), "{}", c.canonical);
    assert_eq!(ok(&c.canonical).serialized, c.serialized, "text and descriptor compile to the same descriptor");
}

#[test]
fn a_descriptor_with_an_unknown_syntax_is_refused() {
    // Found by the registry_schema fuzz target: prost-reflect panicked on it.
    let s = "ChFjb21wYXRfc2hvcC5wcm90bxIKY29tcGF0c2hvcCJdCgVPcmRlchIKCgJpZBgBIAEoAxIMCgRub3RlGAIgASgJEiUKBWl0ZW1zGAMgAygLMhYuY29tcGF0c2hvcC5PcmRlci5JdGVtGhMKBEl0ZW0SCwoDc2t1GAEgASgJYgZWcm90bzM=";
    let Err(e) = compile(s, &[], false) else { panic!("refused") };
    assert!(e.contains("unknown syntax 'Vroto3'"), "{e}");
}

#[test]
fn a_descriptor_with_an_empty_syntax_is_proto2() {
    // Found by the registry_schema fuzz campaign: prost-reflect 0.14 takes only
    // an absent syntax as proto2 and panicked on an empty one.
    let c = ok("ChFjb21wYXRfc2hvcC5wcm90bxIKY29tcGF0c2hvcCJdCgVPcmRlchIKCgJpZBgBIAEoAxIMCgRub3RlGAIgASgJEiUKBWl0ZW1zGAMgAygLMhYuY29tcGF0c2hvcC5PcmRlci5JdGVtGhMKBEl0ZW0SCwoDc2t1GAEgASgJYgA=");
    assert!(c.canonical.starts_with("syntax = \"proto2\";"), "{}", c.canonical);
    assert!(c.canonical.contains("optional int64 id = 1;"), "{}", c.canonical);
}

#[test]
fn a_descriptor_that_cannot_be_written_as_proto_text_is_refused() {
    // Found by the registry_schema fuzz target: a FileDescriptorProto whose
    // package is not an identifier compiled, and its canonical text did not.
    let s = "2EEEEgYY3o1YEE+";
    let Err(e) = compile(s, &[], false) else { panic!("refused") };
    assert!(e.contains("cannot be written as .proto text"), "{e}");
}

#[test]
fn a_proto3_enum_keeps_its_zero_value_first_when_a_negative_value_follows() {
    // Found by the registry_schema fuzz target: values were written by number,
    // so -1 came first and the canonical text no longer compiled.
    let text = "syntax = \"proto3\";\nenum K { K0 = 0; K1 = -1; K2 = 2; }\nmessage M { K k = 1; }\n";
    for normalize in [false, true] {
        let c = compile(text, &[], normalize).unwrap();
        let zero = c.canonical.find("K0 = 0;").unwrap();
        assert!(zero < c.canonical.find("K1 = -1;").unwrap(), "{}", c.canonical);
        let again = compile(&c.canonical, &[], normalize).unwrap_or_else(|e| panic!("{e}\n{}", c.canonical));
        assert_eq!(again.canonical, c.canonical, "a fixed point");
    }
}
