//! The Protobuf compatibility model, as far as compatibility needs a schema: the
//! package, messages (nested ones by full name) with their fields (name, number,
//! label, type, oneof), enums with their values. `crate::proto` builds it from the
//! compiled descriptor.
//!
//! Compatibility follows the rules Confluent's Protobuf checker applies, which are
//! about the wire: a change is compatible when bytes written with one schema parse
//! with the other. Adding or removing messages' fields, renaming fields, adding
//! enums or enum values, changing the package: compatible. Incompatible: removing a
//! message, changing a field's kind (scalar vs message vs enum) or its scalar to one
//! of another wire group (varint int32/int64/uint32/uint64/bool; zigzag
//! sint32/sint64; fixed32/sfixed32; fixed64/sfixed64; length-delimited string/bytes;
//! float; double), changing a field's message or enum type, adding or removing a
//! proto2 required field, removing a field that was in a oneof, moving several
//! existing fields into one oneof.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Label {
    Optional,
    Required,
    Repeated,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    pub name: String,
    pub number: i64,
    pub label: Label,
    /// As written: a scalar name, `map<k,v>`, or a (possibly relative) type name.
    pub ty: String,
    pub oneof: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageDef {
    pub fields: Vec<FieldDef>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtoFile {
    pub syntax: String,
    pub package: String,
    /// Full name (package-qualified, nested with dots) -> message.
    pub messages: BTreeMap<String, MessageDef>,
    /// Full name -> (value name -> number).
    pub enums: BTreeMap<String, BTreeMap<String, i64>>,
}

const SCALARS: &[&str] = &[
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32",
    "sfixed64", "bool", "string", "bytes",
];

fn wire_group(scalar: &str) -> &'static str {
    match scalar {
        "int32" | "int64" | "uint32" | "uint64" | "bool" => "varint",
        "sint32" | "sint64" => "zigzag",
        "fixed32" | "sfixed32" => "fixed32",
        "fixed64" | "sfixed64" => "fixed64",
        "string" | "bytes" => "length-delimited",
        "float" => "float",
        "double" => "double",
        _ => "message",
    }
}

impl ProtoFile {
    /// Resolves a field type written in message `scope` to a full message or enum
    /// name, searching outwards as protobuf does.
    fn resolve(&self, scope: &str, ty: &str) -> Option<String> {
        if let Some(abs) = ty.strip_prefix('.') {
            return Some(abs.to_string());
        }
        let mut s = scope.to_string();
        loop {
            let candidate = if s.is_empty() { ty.to_string() } else { format!("{s}.{ty}") };
            if self.messages.contains_key(&candidate) || self.enums.contains_key(&candidate) {
                return Some(candidate);
            }
            match s.rsplit_once('.') {
                Some((outer, _)) => s = outer.to_string(),
                None if !s.is_empty() => s.clear(),
                None => return None,
            }
        }
    }

    /// The kind of a field type: a scalar's wire group, or "message:Name" / "enum:Name".
    fn kind(&self, scope: &str, ty: &str) -> String {
        if SCALARS.contains(&ty) {
            return format!("scalar:{}", wire_group(ty));
        }
        if ty.starts_with("map<") {
            return format!("map:{ty}");
        }
        match self.resolve(scope, ty) {
            Some(n) if self.enums.contains_key(&n) => format!("enum:{}", strip_package(&n, &self.package)),
            Some(n) => format!("message:{}", strip_package(&n, &self.package)),
            None => format!("message:{ty}"),
        }
    }
}

fn strip_package<'a>(full: &'a str, package: &str) -> &'a str {
    if package.is_empty() {
        full
    } else {
        full.strip_prefix(package).and_then(|r| r.strip_prefix('.')).unwrap_or(full)
    }
}

/// Messages (and enums) by name without the package, so a package change alone is
/// not a removal.
fn by_local_name(f: &ProtoFile) -> BTreeMap<String, (&String, &MessageDef)> {
    f.messages.iter().map(|(k, v)| (strip_package(k, &f.package).to_string(), (k, v))).collect()
}

/// Incompatible differences from `original` to `update` (empty: compatible).
pub fn differences(original: &ProtoFile, update: &ProtoFile) -> Vec<String> {
    let mut out = Vec::new();
    let new_messages = by_local_name(update);
    for (local, (full_o, mo)) in by_local_name(original) {
        let Some((full_u, mu)) = new_messages.get(&local) else {
            out.push(format!("MESSAGE_REMOVED: message {local} was removed"));
            continue;
        };
        let mut moved_to_oneof: BTreeMap<String, usize> = BTreeMap::new();
        for fo in &mo.fields {
            let Some(fu) = mu.fields.iter().find(|f| f.number == fo.number) else {
                if fo.oneof.is_some() {
                    out.push(format!(
                        "ONEOF_FIELD_REMOVED: field {local}.{} (#{}) was in a oneof and was removed",
                        fo.name, fo.number
                    ));
                }
                if fo.label == Label::Required {
                    out.push(format!(
                        "REQUIRED_FIELD_REMOVED: required field {local}.{} (#{}) was removed",
                        fo.name, fo.number
                    ));
                }
                continue;
            };
            let (ko, ku) = (original.kind(full_o, &fo.ty), update.kind(full_u, &fu.ty));
            if ko != ku {
                let what = match (ko.split(':').next(), ku.split(':').next()) {
                    (Some("scalar"), Some("scalar")) => "FIELD_SCALAR_KIND_CHANGED",
                    (a, b) if a == b => "FIELD_NAMED_TYPE_CHANGED",
                    _ => "FIELD_KIND_CHANGED",
                };
                out.push(format!(
                    "{what}: field {local}.{} (#{}) changed from {} to {}",
                    fo.name, fo.number, fo.ty, fu.ty
                ));
            }
            if (fo.label == Label::Repeated) != (fu.label == Label::Repeated)
                && !matches!((ko.as_str(), ku.as_str()), (a, b) if a.starts_with("scalar:length") && b.starts_with("scalar:length"))
            {
                out.push(format!(
                    "FIELD_KIND_CHANGED: field {local}.{} (#{}) changed between repeated and singular",
                    fo.name, fo.number
                ));
            }
            if fo.oneof.is_none() {
                if let Some(o) = &fu.oneof {
                    *moved_to_oneof.entry(o.clone()).or_default() += 1;
                }
            }
        }
        for fu in &mu.fields {
            if fu.label == Label::Required && !mo.fields.iter().any(|f| f.number == fu.number) {
                out.push(format!(
                    "REQUIRED_FIELD_ADDED: required field {local}.{} (#{}) was added",
                    fu.name, fu.number
                ));
            }
        }
        for (oneof, n) in moved_to_oneof {
            if n > 1 {
                out.push(format!(
                    "MULTIPLE_FIELDS_MOVED_TO_ONEOF: {n} existing fields of {local} moved into oneof {oneof}"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ProtoFile {
        crate::proto::compile(s, &[], false).unwrap_or_else(|e| panic!("{e}:\n{s}")).model
    }

    const BASE: &str = r#"
        syntax = "proto3";
        package com.example;
        import "google/protobuf/timestamp.proto";
        option java_package = "com.example.proto";
        // A user.
        message User {
          int64 id = 1;
          string name = 2 [deprecated = true];
          Address home = 3;
          repeated string tags = 4;
          map<string, int32> counts = 5;
          Kind kind = 6;
          oneof contact { string email = 7; string phone = 8; }
          message Address { string city = 1; }
          enum Kind { KIND_UNSPECIFIED = 0; ADMIN = 1; }
          reserved 9, 10;
        }
        /* Services are parsed past. */
        service Users { rpc Get (User) returns (User) { option idempotency_level = NO_SIDE_EFFECTS; } }
    "#;

    #[test]
    fn parses_messages_nested_types_and_oneofs() {
        let f = p(BASE);
        assert_eq!((f.syntax.as_str(), f.package.as_str()), ("proto3", "com.example"));
        let u = &f.messages["com.example.User"];
        assert_eq!(u.fields.len(), 8);
        assert_eq!(u.fields[4].ty, "map<string,int32>");
        assert_eq!(u.fields[6].oneof.as_deref(), Some("contact"));
        assert!(f.messages.contains_key("com.example.User.Address"));
        assert_eq!(f.enums["com.example.User.Kind"]["ADMIN"], 1);
        assert_eq!(f.kind("com.example.User", "Address"), "message:User.Address");
        assert_eq!(f.kind("com.example.User", "Kind"), "enum:User.Kind");
        for bad in ["message {", "message A { int32 x = ; }", "message A { int32 1x = 1; }"] {
            assert!(crate::proto::compile(bad, &[], false).is_err(), "{bad}");
        }
    }

    fn compatible(a: &str, b: &str) -> bool {
        differences(&p(a), &p(b)).is_empty()
    }

    #[test]
    fn wire_compatibility_rules() {
        let m = |body: &str| format!("syntax = \"proto3\"; package p; message M {{ {body} }}");
        let cases: Vec<(String, String, bool, &str)> = vec![
            (m("int32 a = 1;"), m("int32 a = 1; string b = 2;"), true, "field added"),
            (m("int32 a = 1; string b = 2;"), m("int32 a = 1;"), true, "field removed"),
            (m("int32 a = 1;"), m("int32 renamed = 1;"), true, "field renamed"),
            (m("int32 a = 1;"), m("int64 a = 1;"), true, "int32 -> int64 (varint)"),
            (m("int32 a = 1;"), m("bool a = 1;"), true, "int32 -> bool (varint)"),
            (m("int32 a = 1;"), m("sint32 a = 1;"), false, "varint -> zigzag"),
            (m("fixed32 a = 1;"), m("sfixed32 a = 1;"), true, "fixed32 -> sfixed32"),
            (m("fixed32 a = 1;"), m("fixed64 a = 1;"), false, "fixed32 -> fixed64"),
            (m("string a = 1;"), m("bytes a = 1;"), true, "string -> bytes"),
            (m("float a = 1;"), m("double a = 1;"), false, "float -> double"),
            (m("string a = 1;"), m("N a = 1; } message N { int32 x = 1;"), false, "scalar -> message"),
            (
                m("N a = 1; } message N { int32 x = 1; } message O { int32 y = 1;"),
                m("O a = 1; } message N { int32 x = 1; } message O { int32 y = 1;"),
                false,
                "message type changed",
            ),
            (m("oneof o { int32 a = 1; int32 b = 2; }"), m("oneof o { int32 a = 1; }"), false, "oneof field removed"),
            (
                m("int32 a = 1; int32 b = 2;"),
                m("oneof o { int32 a = 1; int32 b = 2; }"),
                false,
                "two fields moved into a oneof",
            ),
            (
                m("int32 a = 1; int32 b = 2;"),
                m("int32 a = 1; oneof o { int32 b = 2; }"),
                true,
                "one field moved into a oneof",
            ),
            (m("int32 a = 1;"), m("int32 a = 1; } message Extra { int32 z = 1;"), true, "message added"),
            (m("int32 a = 1; } message Extra { int32 z = 1;"), m("int32 a = 1;"), false, "message removed"),
            (
                "syntax = \"proto3\"; package p; message M { int32 a = 1; }".into(),
                "syntax = \"proto3\"; package q; message M { int32 a = 1; }".into(),
                true,
                "package changed",
            ),
            (
                "syntax = \"proto2\"; message M { optional int32 a = 1; }".into(),
                "syntax = \"proto2\"; message M { optional int32 a = 1; required int32 b = 2; }".into(),
                false,
                "required field added",
            ),
            (
                "syntax = \"proto2\"; message M { required int32 a = 1; }".into(),
                "syntax = \"proto2\"; message M { }".into(),
                false,
                "required field removed",
            ),
            (m("int32 a = 1;"), m("repeated int32 a = 1;"), false, "singular -> repeated"),
        ];
        for (a, b, want, what) in cases {
            assert_eq!(compatible(&a, &b), want, "{what}: {:?}", differences(&p(&a), &p(&b)));
        }
    }
}
