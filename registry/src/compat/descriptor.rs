//! Protobuf schemas sent as a base64-encoded `FileDescriptorProto` (what
//! confluent-kafka's Python ProtobufSerializer registers) instead of .proto text:
//! decoded from the protobuf wire format into the same model, and rendered back as
//! .proto text, which is what the registry stores and serves.
//!
//! Only the descriptor fields compatibility needs are read (file: name 1, package 2,
//! message_type 4, enum_type 5, syntax 12; message: name 1, field 2, nested_type 3,
//! enum_type 4, oneof_decl 8; field: name 1, number 3, label 4, type 5,
//! type_name 6, oneof_index 9, proto3_optional 17; enum: name 1, value 2; enum
//! value: name 1, number 2); everything else is skipped by wire type.

use std::collections::BTreeMap;

use super::protobuf::{FieldDef, Label, MessageDef, ProtoFile};

/// Standard base64 (RFC 4648, with or without padding).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64 with padding (the inverse of [`base64_decode`]).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Fields of one message: (field number, wire type, value). Varints as u64,
/// length-delimited as bytes.
enum Val<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

fn varint(b: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

fn fields(b: &[u8]) -> Result<Vec<(u64, Val<'_>)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let tag = varint(b, &mut pos)?;
        let (num, wire) = (tag >> 3, tag & 7);
        let v = match wire {
            0 => Val::Varint(varint(b, &mut pos)?),
            1 => {
                pos += 8;
                Val::Other
            }
            2 => {
                let len = varint(b, &mut pos)? as usize;
                let end = pos.checked_add(len).filter(|e| *e <= b.len()).ok_or("truncated field")?;
                let s = &b[pos..end];
                pos = end;
                Val::Bytes(s)
            }
            5 => {
                pos += 4;
                Val::Other
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        if pos > b.len() {
            return Err("truncated field".into());
        }
        out.push((num, v));
    }
    Ok(out)
}

fn string(v: &Val<'_>) -> Result<String, String> {
    match v {
        Val::Bytes(b) => String::from_utf8(b.to_vec()).map_err(|_| "a string field is not UTF-8".into()),
        _ => Err("expected a string".into()),
    }
}

const SCALAR_BY_TYPE: [&str; 19] = [
    "", "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool", "string", "group", "message",
    "bytes", "uint32", "enum", "sfixed32", "sfixed64", "sint32", "sint64",
];

fn message(f: &mut ProtoFile, b: &[u8], scope: &str) -> Result<(), String> {
    let parts = fields(b)?;
    let name =
        parts.iter().find(|(n, _)| *n == 1).map(|(_, v)| string(v)).transpose()?.ok_or("message without a name")?;
    let full = if scope.is_empty() { name } else { format!("{scope}.{name}") };
    let oneofs: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n == 8)
        .map(|(_, v)| match v {
            Val::Bytes(b) => fields(b)
                .and_then(|o| o.iter().find(|(n, _)| *n == 1).map(|(_, v)| string(v)).unwrap_or(Ok(String::new()))),
            _ => Err("bad oneof".into()),
        })
        .collect::<Result<_, _>>()?;
    let mut msg = MessageDef::default();
    for (n, v) in &parts {
        match (n, v) {
            (2, Val::Bytes(fb)) => {
                let ff = fields(fb)?;
                let get = |k: u64| ff.iter().find(|(n, _)| *n == k).map(|(_, v)| v);
                let fname = get(1).map(string).transpose()?.ok_or("field without a name")?;
                let number = match get(3) {
                    Some(Val::Varint(x)) => *x as i64,
                    _ => return Err(format!("field {fname} without a number")),
                };
                let label = match get(4) {
                    Some(Val::Varint(2)) => Label::Required,
                    Some(Val::Varint(3)) => Label::Repeated,
                    _ => Label::Optional,
                };
                let ty = match (get(6), get(5)) {
                    (Some(t), _) => string(t)?,
                    (None, Some(Val::Varint(t))) => SCALAR_BY_TYPE.get(*t as usize).copied().unwrap_or("").to_string(),
                    _ => return Err(format!("field {fname} without a type")),
                };
                let proto3_optional = matches!(get(17), Some(Val::Varint(1)));
                let oneof = match get(9) {
                    Some(Val::Varint(i)) if !proto3_optional => oneofs.get(*i as usize).cloned(),
                    _ => None,
                };
                msg.fields.push(FieldDef { name: fname, number, label, ty, oneof });
            }
            (3, Val::Bytes(nb)) => message(f, nb, &full)?,
            (4, Val::Bytes(eb)) => enumeration(f, eb, &full)?,
            _ => {}
        }
    }
    f.messages.insert(full, msg);
    Ok(())
}

fn enumeration(f: &mut ProtoFile, b: &[u8], scope: &str) -> Result<(), String> {
    let parts = fields(b)?;
    let name = parts.iter().find(|(n, _)| *n == 1).map(|(_, v)| string(v)).transpose()?.ok_or("enum without a name")?;
    let full = if scope.is_empty() { name } else { format!("{scope}.{name}") };
    let mut values = BTreeMap::new();
    for (n, v) in &parts {
        if let (2, Val::Bytes(vb)) = (n, v) {
            let vf = fields(vb)?;
            let vname = vf.iter().find(|(n, _)| *n == 1).map(|(_, v)| string(v)).transpose()?.unwrap_or_default();
            let num = vf.iter().find_map(|(n, v)| match (n, v) {
                (2, Val::Varint(x)) => Some(*x as i32 as i64),
                _ => None,
            });
            values.insert(vname, num.unwrap_or(0));
        }
    }
    f.enums.insert(full, values);
    Ok(())
}

/// Decodes a serialized `FileDescriptorProto`.
pub fn decode_file(b: &[u8]) -> Result<ProtoFile, String> {
    let parts = fields(b)?;
    let mut f = ProtoFile { syntax: "proto2".into(), ..Default::default() };
    for (n, v) in &parts {
        match n {
            2 => f.package = string(v)?,
            12 => f.syntax = string(v)?,
            _ => {}
        }
    }
    if f.syntax.is_empty() {
        f.syntax = "proto2".into();
    }
    let scope = f.package.clone();
    for (n, v) in &parts {
        match (n, v) {
            (4, Val::Bytes(mb)) => message(&mut f, mb, &scope)?,
            (5, Val::Bytes(eb)) => enumeration(&mut f, eb, &scope)?,
            _ => {}
        }
    }
    if f.messages.is_empty() && f.enums.is_empty() {
        return Err("the descriptor defines no message or enum".into());
    }
    Ok(f)
}

impl ProtoFile {
    /// .proto text for this model: nested types inside their parents, type names
    /// as written (descriptor names are fully qualified with a leading dot).
    pub fn render(&self) -> String {
        let mut out = format!("syntax = \"{}\";\n", self.syntax);
        if !self.package.is_empty() {
            out += &format!("package {};\n", self.package);
        }
        let prefix = if self.package.is_empty() { String::new() } else { format!("{}.", self.package) };
        let top = |name: &str| name.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('.'));
        for name in self.enums.keys().filter(|n| top(n)) {
            self.render_enum(name, 0, &mut out);
        }
        for name in self.messages.keys().filter(|n| top(n)) {
            self.render_message(name, 0, &mut out);
        }
        out
    }

    fn render_enum(&self, full: &str, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let simple = full.rsplit('.').next().unwrap_or(full);
        *out += &format!("\n{pad}enum {simple} {{\n");
        let mut values: Vec<(&String, &i64)> = self.enums[full].iter().collect();
        values.sort_by_key(|(_, n)| **n);
        for (name, n) in values {
            *out += &format!("{pad}  {name} = {n};\n");
        }
        *out += &format!("{pad}}}\n");
    }

    fn render_message(&self, full: &str, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let simple = full.rsplit('.').next().unwrap_or(full);
        *out += &format!("\n{pad}message {simple} {{\n");
        let child = |n: &str| n.strip_prefix(full).and_then(|r| r.strip_prefix('.')).is_some_and(|r| !r.contains('.'));
        for e in self.enums.keys().filter(|n| child(n)) {
            self.render_enum(e, depth + 1, out);
        }
        for m in self.messages.keys().filter(|n| child(n)) {
            self.render_message(m, depth + 1, out);
        }
        let msg = &self.messages[full];
        let mut oneofs: Vec<&String> = Vec::new();
        for f in &msg.fields {
            match &f.oneof {
                None => {
                    let label = match f.label {
                        Label::Required => "required ",
                        Label::Repeated => "repeated ",
                        Label::Optional if self.syntax == "proto2" => "optional ",
                        Label::Optional => "",
                    };
                    *out += &format!("{pad}  {label}{} {} = {};\n", f.ty, f.name, f.number);
                }
                Some(o) if !oneofs.contains(&o) => oneofs.push(o),
                Some(_) => {}
            }
        }
        for o in oneofs {
            *out += &format!("{pad}  oneof {o} {{\n");
            for f in msg.fields.iter().filter(|f| f.oneof.as_ref() == Some(o)) {
                *out += &format!("{pad}    {} {} = {};\n", f.ty, f.name, f.number);
            }
            *out += &format!("{pad}  }}\n");
        }
        *out += &format!("{pad}}}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn put_bytes(out: &mut Vec<u8>, num: u64, b: &[u8]) {
        put_varint(out, num << 3 | 2);
        put_varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    fn put_int(out: &mut Vec<u8>, num: u64, v: u64) {
        put_varint(out, num << 3);
        put_varint(out, v);
    }

    fn field(name: &str, number: u64, ty: u64, type_name: Option<&str>, oneof: Option<u64>) -> Vec<u8> {
        let mut f = Vec::new();
        put_bytes(&mut f, 1, name.as_bytes());
        put_int(&mut f, 3, number);
        put_int(&mut f, 4, 1);
        put_int(&mut f, 5, ty);
        if let Some(t) = type_name {
            put_bytes(&mut f, 6, t.as_bytes());
        }
        if let Some(o) = oneof {
            put_int(&mut f, 9, o);
        }
        f
    }

    #[test]
    fn decodes_a_file_descriptor_and_renders_proto_text() {
        let mut item = Vec::new();
        put_bytes(&mut item, 1, b"Item");
        put_bytes(&mut item, 2, &field("sku", 1, 9, None, None));
        let mut oneof = Vec::new();
        put_bytes(&mut oneof, 1, b"contact");
        let mut order = Vec::new();
        put_bytes(&mut order, 1, b"Order");
        put_bytes(&mut order, 2, &field("id", 1, 3, None, None));
        put_bytes(&mut order, 2, &field("item", 2, 11, Some(".shop.Order.Item"), None));
        put_bytes(&mut order, 2, &field("email", 3, 9, None, Some(0)));
        put_bytes(&mut order, 3, &item);
        put_bytes(&mut order, 8, &oneof);
        let mut file = Vec::new();
        put_bytes(&mut file, 1, b"shop.proto");
        put_bytes(&mut file, 2, b"shop");
        put_bytes(&mut file, 4, &order);
        put_bytes(&mut file, 12, b"proto3");
        let f = decode_file(&file).unwrap();
        assert_eq!(f.messages["shop.Order"].fields.len(), 3);
        assert_eq!(f.messages["shop.Order"].fields[2].oneof.as_deref(), Some("contact"));
        assert!(f.messages.contains_key("shop.Order.Item"));
        let text = f.render();
        let back = ProtoFile::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert_eq!(back.messages, f.messages, "{text}");
        // base64 of the same bytes.
        let b64 = {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut s = String::new();
            for chunk in file.chunks(3) {
                let n = chunk.iter().fold(0u32, |a, b| a << 8 | *b as u32) << (8 * (3 - chunk.len()));
                for i in 0..=chunk.len() {
                    s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                }
                for _ in chunk.len()..3 {
                    s.push('=');
                }
            }
            s
        };
        assert_eq!(base64_decode(&b64).unwrap(), file);
        assert!(base64_decode("not base64!").is_none());
        assert!(decode_file(b"\xff\xff").is_err());
    }
}

#[cfg(test)]
mod python_descriptor {
    #[test]
    fn decodes_what_confluent_kafka_python_sends() {
        let s = "ChFjb21wYXRfc2hvcC5wcm90bxIKY29tcGF0c2hvcCJdCgVPcmRlchIKCgJpZBgBIAEoAxIMCgRub3RlGAIgASgJEiUKBWl0ZW1zGAMgAygLMhYuY29tcGF0c2hvcC5PcmRlci5JdGVtGhMKBEl0ZW0SCwoDc2t1GAEgASgJYgZwcm90bzM=";
        let b = super::base64_decode(s).expect("base64");
        let f = super::decode_file(&b).expect("descriptor");
        assert_eq!(f.package, "compatshop");
        let (canonical, _) = crate::schema::parse(crate::schema::SchemaType::Protobuf, s, &[], false).unwrap();
        assert!(canonical.contains("message Order"), "{canonical}");
    }
}
