//! The canonical .proto text of a compiled file, laid out as Confluent's
//! `ProtobufSchemaUtils.toString` lays it out: syntax, package, imports (plain,
//! then public), file options, then per level messages (in declaration order),
//! enums, extensions and services, with a message's reserved ranges, options,
//! fields, oneofs, extension ranges, nested messages, nested enums and nested
//! extensions in that order; two-space indentation and no comments. Type names are
//! the shortest name that resolves to the type from where it is used.
//!
//! With `normalize` (Confluent's `normalize=true`): imports, options, fields (by
//! number) and enum values (by number, then name; a proto3 enum's zero value
//! stays first, as proto3 requires) are sorted and type names are
//! fully qualified with a leading dot; the order of messages, enums and services
//! never changes, because serializers number messages by their position.
//! Options are written from the compiled descriptor, so standard options come in
//! their field-number order and custom ones after them, whatever order the
//! source gave: option order never makes a new schema.

use std::collections::HashSet;
use std::fmt::Write;

use prost_reflect::{
    Cardinality, DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, FileDescriptor, Kind,
    MessageDescriptor, Syntax, Value,
};

pub fn file(f: &FileDescriptor, normalize: bool) -> String {
    let pool = f.parent_pool();
    let mut symbols: HashSet<String> = HashSet::new();
    for m in pool.all_messages() {
        symbols.insert(m.full_name().to_string());
    }
    for e in pool.all_enums() {
        symbols.insert(e.full_name().to_string());
    }
    for file in pool.files() {
        let mut p = file.package_name();
        while !p.is_empty() {
            symbols.insert(p.to_string());
            p = p.rsplit_once('.').map(|(a, _)| a).unwrap_or("");
        }
    }
    let r = Renderer { symbols, normalize };
    let mut out = String::new();
    let syntax = match f.syntax() {
        Syntax::Proto2 => "proto2",
        Syntax::Proto3 => "proto3",
    };
    writeln!(out, "syntax = \"{syntax}\";").ok();
    if !f.package_name().is_empty() {
        writeln!(out, "package {};", f.package_name()).ok();
    }
    let proto = f.file_descriptor_proto();
    let public: HashSet<usize> = proto.public_dependency.iter().map(|i| *i as usize).collect();
    let mut plain: Vec<&String> =
        proto.dependency.iter().enumerate().filter(|(i, _)| !public.contains(i)).map(|x| x.1).collect();
    let mut publics: Vec<&String> =
        proto.dependency.iter().enumerate().filter(|(i, _)| public.contains(i)).map(|x| x.1).collect();
    if normalize {
        plain.sort();
        plain.dedup();
        publics.sort();
        publics.dedup();
    }
    if !plain.is_empty() || !publics.is_empty() {
        out.push('\n');
        for d in plain {
            writeln!(out, "import \"{}\";", escape(d.as_bytes())).ok();
        }
        for d in publics {
            writeln!(out, "import public \"{}\";", escape(d.as_bytes())).ok();
        }
    }
    let opts = r.options(&f.options());
    if !opts.is_empty() {
        out.push('\n');
        for o in opts {
            writeln!(out, "option {o};").ok();
        }
    }
    let scope = f.package_name();
    for m in f.messages() {
        out.push('\n');
        r.message(&m, 0, &mut out);
    }
    for e in f.enums() {
        out.push('\n');
        r.enumeration(&e, 0, &mut out);
    }
    r.extends(f.extensions().collect(), scope, 0, &mut out);
    for s in f.services() {
        out.push('\n');
        let opts = r.options(&s.options());
        writeln!(out, "service {} {{", s.name()).ok();
        for o in opts {
            writeln!(out, "  option {o};").ok();
        }
        for m in s.methods() {
            let stream = |yes: bool| if yes { "stream " } else { "" };
            let input = r.type_name(m.input().full_name(), s.full_name());
            let output = r.type_name(m.output().full_name(), s.full_name());
            write!(
                out,
                "  rpc {} ({}{input}) returns ({}{output})",
                m.name(),
                stream(m.is_client_streaming()),
                stream(m.is_server_streaming())
            )
            .ok();
            let opts = r.options(&m.options());
            if opts.is_empty() {
                out.push_str(";\n");
            } else {
                out.push_str(" {\n");
                for o in opts {
                    writeln!(out, "    option {o};").ok();
                }
                out.push_str("  }\n");
            }
        }
        out.push_str("}\n");
    }
    out
}

struct Renderer {
    /// Every full name a type name could resolve to: messages, enums, packages.
    symbols: HashSet<String>,
    normalize: bool,
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

impl Renderer {
    /// Resolves `name` used in `scope` as protoc does: its first component is
    /// looked up from the innermost scope outwards, the rest inside what it found.
    fn resolve(&self, name: &str, scope: &str) -> Option<String> {
        let (first, rest) = match name.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (name, None),
        };
        let mut s = scope;
        loop {
            let candidate = if s.is_empty() { first.to_string() } else { format!("{s}.{first}") };
            if self.symbols.contains(&candidate) {
                return Some(match rest {
                    Some(r) => format!("{candidate}.{r}"),
                    None => candidate,
                });
            }
            if s.is_empty() {
                return None;
            }
            s = s.rsplit_once('.').map(|(a, _)| a).unwrap_or("");
        }
    }

    /// The shortest name for `full` that resolves back to it from `scope`.
    fn type_name(&self, full: &str, scope: &str) -> String {
        if !self.normalize {
            let parts: Vec<&str> = full.split('.').collect();
            for k in 1..=parts.len() {
                let candidate = parts[parts.len() - k..].join(".");
                if self.resolve(&candidate, scope).as_deref() == Some(full) {
                    return candidate;
                }
            }
        }
        format!(".{full}")
    }

    fn field_type(&self, f: &FieldDescriptor, scope: &str) -> String {
        match f.kind() {
            Kind::Message(m) if m.is_map_entry() => {
                let (k, v) = (m.map_entry_key_field(), m.map_entry_value_field());
                format!("map<{}, {}>", self.field_type(&k, scope), self.field_type(&v, scope))
            }
            Kind::Message(m) => self.type_name(m.full_name(), scope),
            Kind::Enum(e) => self.type_name(e.full_name(), scope),
            k => scalar(&k).to_string(),
        }
    }

    fn message(&self, m: &MessageDescriptor, depth: usize, out: &mut String) {
        let pad = indent(depth + 1);
        writeln!(out, "{}message {} {{", indent(depth), m.name()).ok();
        let proto = m.descriptor_proto();
        let mut body = String::new();
        if !proto.reserved_range.is_empty() {
            let ranges: Vec<String> =
                proto.reserved_range.iter().map(|r| range(r.start(), r.end() - 1, 536_870_911)).collect();
            writeln!(body, "{pad}reserved {};", ranges.join(", ")).ok();
        }
        if !proto.reserved_name.is_empty() {
            let names: Vec<String> = proto.reserved_name.iter().map(|n| format!("\"{n}\"")).collect();
            writeln!(body, "{pad}reserved {};", names.join(", ")).ok();
        }
        for o in self.options(&m.options()) {
            writeln!(body, "{pad}option {o};").ok();
        }
        let syntax = m.parent_file().syntax();
        let mut fields: Vec<FieldDescriptor> =
            declared(m).into_iter().filter(|f| f.containing_oneof().is_none_or(|o| super::synthetic(&o))).collect();
        if self.normalize {
            fields.sort_by_key(FieldDescriptor::number);
        }
        for f in &fields {
            self.field(f, syntax, m.full_name(), &pad, &mut body);
        }
        let mut oneofs: Vec<_> = m.oneofs().filter(|o| !super::synthetic(o)).collect();
        if self.normalize {
            oneofs.sort_by_key(|o| o.fields().map(|f| f.number()).min().unwrap_or(0));
        }
        for o in oneofs {
            writeln!(body, "{pad}oneof {} {{", o.name()).ok();
            for opt in self.options(&o.options()) {
                writeln!(body, "{pad}  option {opt};").ok();
            }
            let mut members: Vec<FieldDescriptor> =
                declared(m).into_iter().filter(|f| f.containing_oneof().as_ref() == Some(&o)).collect();
            if self.normalize {
                members.sort_by_key(FieldDescriptor::number);
            }
            for f in &members {
                self.field(f, Syntax::Proto3, m.full_name(), &format!("{pad}  "), &mut body);
            }
            writeln!(body, "{pad}}}").ok();
        }
        if !proto.extension_range.is_empty() {
            let ranges: Vec<String> =
                proto.extension_range.iter().map(|r| range(r.start(), r.end() - 1, 536_870_911)).collect();
            writeln!(body, "{pad}extensions {};", ranges.join(", ")).ok();
        }
        for child in m.child_messages().filter(|c| !c.is_map_entry()) {
            body.push('\n');
            self.message(&child, depth + 1, &mut body);
        }
        for e in m.child_enums() {
            body.push('\n');
            self.enumeration(&e, depth + 1, &mut body);
        }
        self.extends(m.child_extensions().collect(), m.full_name(), depth + 1, &mut body);
        out.push_str(&body);
        writeln!(out, "{}}}", indent(depth)).ok();
    }

    /// One field line. Oneof members are written without a label (`syntax` proto3).
    fn field(&self, f: &FieldDescriptor, syntax: Syntax, scope: &str, pad: &str, out: &mut String) {
        let proto = f.field_descriptor_proto();
        let label = match (f.cardinality(), syntax) {
            _ if f.is_map() => "",
            (Cardinality::Repeated, _) => "repeated ",
            (Cardinality::Required, _) => "required ",
            (Cardinality::Optional, Syntax::Proto2) => "optional ",
            (Cardinality::Optional, Syntax::Proto3) if proto.proto3_optional() => "optional ",
            _ => "",
        };
        let mut opts = self.options(&f.options());
        if let Some(d) = &proto.default_value {
            let v = match f.kind() {
                Kind::String | Kind::Bytes => format!("\"{}\"", escape(d.as_bytes())),
                _ => d.clone(),
            };
            opts.push(format!("default = {v}"));
        }
        if proto.json_name.as_deref().is_some_and(|j| j != default_json_name(f.name())) {
            opts.push(format!("json_name = \"{}\"", escape(f.json_name().as_bytes())));
        }
        let ty = self.field_type(f, scope);
        write!(out, "{pad}{label}{ty} {} = {}", f.name(), f.number()).ok();
        if !opts.is_empty() {
            write!(out, " [{}]", opts.join(", ")).ok();
        }
        out.push_str(";\n");
    }

    fn enumeration(&self, e: &EnumDescriptor, depth: usize, out: &mut String) {
        let pad = indent(depth + 1);
        writeln!(out, "{}enum {} {{", indent(depth), e.name()).ok();
        let proto = e.enum_descriptor_proto();
        if !proto.reserved_range.is_empty() {
            let ranges: Vec<String> =
                proto.reserved_range.iter().map(|r| range(r.start(), r.end(), i32::MAX)).collect();
            writeln!(out, "{pad}reserved {};", ranges.join(", ")).ok();
        }
        if !proto.reserved_name.is_empty() {
            let names: Vec<String> = proto.reserved_name.iter().map(|n| format!("\"{n}\"")).collect();
            writeln!(out, "{pad}reserved {};", names.join(", ")).ok();
        }
        for o in self.options(&e.options()) {
            writeln!(out, "{pad}option {o};").ok();
        }
        // Declaration order (prost-reflect lists values by number): a proto3
        // enum's first value must be its zero, which may follow negative ones.
        let mut values: Vec<_> = proto.value.iter().filter_map(|v| e.get_value_by_name(v.name())).collect();
        if self.normalize {
            // By number, then name; in proto3 the zero value stays first.
            let proto3 = e.parent_file().syntax() == Syntax::Proto3;
            values.sort_by_key(|v| (!(proto3 && v.number() == 0), v.number(), v.name().to_string()));
        }
        for v in values {
            let opts = self.options(&v.options());
            if opts.is_empty() {
                writeln!(out, "{pad}{} = {};", v.name(), v.number()).ok();
            } else {
                writeln!(out, "{pad}{} = {} [{}];", v.name(), v.number(), opts.join(", ")).ok();
            }
        }
        writeln!(out, "{}}}", indent(depth)).ok();
    }

    /// `extend` blocks, one per extended message, in declaration order.
    fn extends(&self, exts: Vec<ExtensionDescriptor>, scope: &str, depth: usize, out: &mut String) {
        let mut groups: Vec<(String, Vec<ExtensionDescriptor>)> = Vec::new();
        for x in exts {
            let target = x.containing_message().full_name().to_string();
            match groups.iter_mut().find(|(t, _)| *t == target) {
                Some((_, v)) => v.push(x),
                None => groups.push((target, vec![x])),
            }
        }
        let pad = indent(depth);
        for (target, exts) in groups {
            out.push('\n');
            writeln!(out, "{pad}extend {} {{", self.type_name(&target, scope)).ok();
            for x in exts {
                let label = match x.cardinality() {
                    Cardinality::Repeated => "repeated ",
                    Cardinality::Required => "required ",
                    Cardinality::Optional if x.parent_file().syntax() == Syntax::Proto2 => "optional ",
                    Cardinality::Optional => "",
                };
                let ty = match x.kind() {
                    Kind::Message(m) => self.type_name(m.full_name(), scope),
                    Kind::Enum(e) => self.type_name(e.full_name(), scope),
                    k => scalar(&k).to_string(),
                };
                let opts = self.options(&x.options());
                write!(out, "{pad}  {label}{ty} {} = {}", x.name(), x.number()).ok();
                if !opts.is_empty() {
                    write!(out, " [{}]", opts.join(", ")).ok();
                }
                out.push_str(";\n");
            }
            writeln!(out, "{pad}}}").ok();
        }
    }

    /// `name = value` for every option set, extensions as `(full.name)`.
    fn options(&self, m: &DynamicMessage) -> Vec<String> {
        let mut out = Vec::new();
        for (f, v) in m.fields() {
            // Set by the compiler for map fields: implied by `map<...>`.
            if f.name() == "map_entry" || f.name() == "uninterpreted_option" {
                continue;
            }
            option_values(f.name(), &f.kind(), v, &mut out);
        }
        for (x, v) in m.extensions() {
            option_values(&format!("({})", x.full_name()), &x.kind(), v, &mut out);
        }
        if self.normalize {
            out.sort();
        }
        out
    }
}

/// A message's fields in declaration order (the reflection API lists them by number).
fn declared(m: &MessageDescriptor) -> Vec<FieldDescriptor> {
    m.descriptor_proto().field.iter().filter_map(|f| m.get_field_by_name(f.name())).collect()
}

fn option_values(name: &str, kind: &Kind, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::List(items) => {
            for i in items {
                out.push(format!("{name} = {}", value(kind, i)));
            }
        }
        v => out.push(format!("{name} = {}", value(kind, v))),
    }
}

/// An option value in .proto syntax; messages as text-format aggregates.
fn value(kind: &Kind, v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::F32(x) => float(f64::from(*x)),
        Value::F64(x) => float(*x),
        Value::String(s) => format!("\"{}\"", escape(s.as_bytes())),
        Value::Bytes(b) => format!("\"{}\"", escape(b)),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => e.get_value(*n).map(|v| v.name().to_string()).unwrap_or_else(|| n.to_string()),
            _ => n.to_string(),
        },
        Value::Message(m) => {
            let mut parts = Vec::new();
            for (f, v) in m.fields() {
                let items: Vec<&Value> = match v {
                    Value::List(l) => l.iter().collect(),
                    v => vec![v],
                };
                for i in items {
                    parts.push(format!("{}: {}", f.name(), value(&f.kind(), i)));
                }
            }
            for (x, v) in m.extensions() {
                parts.push(format!("[{}]: {}", x.full_name(), value(&x.kind(), v)));
            }
            format!("{{ {} }}", parts.join(", "))
        }
        Value::List(l) => format!("[{}]", l.iter().map(|i| value(kind, i)).collect::<Vec<_>>().join(", ")),
        Value::Map(m) => {
            let mut parts: Vec<String> =
                m.iter().map(|(k, v)| format!("{{ key: {k:?} value: {} }}", value(kind, v))).collect();
            parts.sort();
            format!("[{}]", parts.join(", "))
        }
    }
}

fn float(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:?}")
    }
}

fn range(start: i32, end: i32, max: i32) -> String {
    match (start == end, end == max) {
        (true, _) => start.to_string(),
        (false, true) => format!("{start} to max"),
        (false, false) => format!("{start} to {end}"),
    }
}

fn scalar(k: &Kind) -> &'static str {
    match k {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Message(_) | Kind::Enum(_) => "",
    }
}

/// protoc's default `json_name`: underscores dropped, the next letter upper-cased.
fn default_json_name(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A string literal's body with protobuf's escapes.
fn escape(b: &[u8]) -> String {
    let mut out = String::new();
    for &c in b {
        match c {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\'' => out.push_str("\\'"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(c as char),
            _ => write!(out, "\\{c:03o}").unwrap_or(()),
        }
    }
    out
}
