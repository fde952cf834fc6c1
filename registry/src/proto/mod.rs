//! Protobuf schemas: compiled with protox, as protoc would, so that every type a
//! schema uses must be defined in it or in a file it imports, and every import
//! must be a declared reference or a known file (`known`). A schema arrives as
//! .proto text or as a base64 `FileDescriptorProto` (what some serializers send);
//! both compile to one descriptor and render to one canonical text (`render`), so
//! they get one id. The compatibility model (`compat::protobuf::ProtoFile`) is
//! built from the descriptor and takes in the messages and enums of referenced
//! files that the schema's fields reach, so a change inside a dependency is seen.
//!
//! The schema itself is compiled under the file name `default`, the name
//! Confluent gives it.

pub mod base64;
mod known;
mod message;
mod render;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use prost::Message as _;
use prost_reflect::{Cardinality, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor};
use protox::file::{File, FileResolver, GoogleFileResolver};

use crate::compat::protobuf::{FieldDef, Label, MessageDef, ProtoFile};
pub use message::{decode_message, encode_message};

/// The file name a schema is compiled under.
pub const MAIN: &str = "default";

/// A compiled schema.
#[derive(Debug)]
pub struct Compiled {
    /// The canonical text it is stored and compared as.
    pub canonical: String,
    /// Base64 of its `FileDescriptorProto` (`?format=serialized`).
    pub serialized: String,
    pub model: ProtoFile,
}

struct Sources {
    main: File,
    refs: HashMap<String, String>,
    google: GoogleFileResolver,
    /// Imports that are neither references nor known files. They compile as
    /// empty files, so that the error names the types the schema then lacks.
    missing: Arc<Mutex<Vec<String>>>,
}

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == MAIN {
            return Ok(self.main.clone());
        }
        if let Some(text) = self.refs.get(name) {
            return File::from_source(name, text);
        }
        if let Some(text) = known::source(name) {
            return File::from_source(name, text);
        }
        self.google.open_file(name).or_else(|_| {
            self.missing.lock().unwrap_or_else(|p| p.into_inner()).push(name.to_string());
            File::from_source(name, "syntax = \"proto3\";")
        })
    }
}

/// Compiles `text` (.proto or base64 descriptor) with its references, given as
/// (import name, schema text), dependencies included.
pub fn compile(text: &str, refs: &[(String, String)], normalize: bool) -> Result<Compiled, String> {
    let file = compile_file(text, refs)?;
    let canonical = render::file(&file, normalize);
    // A base64 descriptor is not held to .proto syntax (its package may be any
    // bytes): what cannot be written back as .proto text is refused, as a
    // stored schema is shown and compared by that text.
    if let Err(e) = File::from_source(MAIN, &canonical) {
        return Err(format!("the descriptor cannot be written as .proto text: {}", one_line(&e)));
    }
    // The serialized form is the schema, not where in the text each part was.
    let mut descriptor = file.file_descriptor_proto().clone();
    descriptor.source_code_info = None;
    Ok(Compiled {
        serialized: crate::proto::base64::encode(&descriptor.encode_to_vec()),
        model: model(&file),
        canonical,
    })
}

/// The schema's file descriptor, compiled with its references.
pub fn compile_file(text: &str, refs: &[(String, String)]) -> Result<FileDescriptor, String> {
    if text.trim().is_empty() {
        return Err("Empty schema".into());
    }
    let main = match File::from_source(MAIN, text) {
        Ok(f) => f,
        Err(text_error) => match crate::proto::base64::decode(text) {
            Some(bytes) => {
                let mut d = prost_types::FileDescriptorProto::decode(bytes.as_slice()).map_err(|e| {
                    format!("not .proto text ({}) nor a FileDescriptorProto ({e})", one_line(&text_error))
                })?;
                d.name = Some(MAIN.into());
                // An empty syntax is proto2, as an absent one (protoc writes
                // none for proto2); prost-reflect 0.14 takes only the absent
                // one, and panics (an index out of bounds while it words the
                // error) on a descriptor with any other syntax.
                if d.syntax.as_deref() == Some("") {
                    d.syntax = None;
                }
                if let Some(s) = d.syntax.as_deref().filter(|s| !["proto2", "proto3"].contains(s)) {
                    return Err(format!("the FileDescriptorProto has an unknown syntax '{s}'"));
                }
                File::from_file_descriptor_proto(d)
            }
            None => return Err(one_line(&text_error)),
        },
    };
    let refs: HashMap<String, String> = refs.iter().cloned().collect();
    let missing = Arc::new(Mutex::new(Vec::new()));
    let resolver = Sources { main, refs, google: GoogleFileResolver::new(), missing: missing.clone() };
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    let compiled = compiler.open_file(MAIN).map(|_| ()).map_err(|e| one_line(&e));
    let missing = missing.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(m) = missing.first() {
        let why = format!("import \"{m}\" is neither a declared reference nor a known file");
        return Err(match compiled {
            Err(e) => format!("{e} ({why})"),
            Ok(()) => why,
        });
    }
    compiled?;
    let pool = compiler.descriptor_pool();
    Ok(pool.get_file_by_name(MAIN).ok_or("the compiled schema is missing")?)
}

/// An error on one line.
fn one_line(e: &protox::Error) -> String {
    e.to_string().replace('\n', " ")
}

/// A oneof protoc made for a proto3 `optional` field.
pub(crate) fn synthetic(o: &prost_reflect::OneofDescriptor) -> bool {
    o.fields().all(|f| f.field_descriptor_proto().proto3_optional())
}

fn label(f: &FieldDescriptor) -> Label {
    match f.cardinality() {
        Cardinality::Repeated if !f.is_map() => Label::Repeated,
        Cardinality::Required => Label::Required,
        _ => Label::Optional,
    }
}

/// The type as the compatibility model names it: a scalar, `map<k,v>` or a full
/// name with a leading dot.
fn type_of(f: &FieldDescriptor) -> String {
    match f.kind() {
        Kind::Message(m) if m.is_map_entry() => {
            format!("map<{},{}>", type_of(&m.map_entry_key_field()), type_of(&m.map_entry_value_field()))
        }
        Kind::Message(m) => format!(".{}", m.full_name()),
        Kind::Enum(e) => format!(".{}", e.full_name()),
        k => format!("{k:?}").to_ascii_lowercase(),
    }
}

/// The compatibility model: the file's messages and enums, and those of other
/// files that its fields reach.
fn model(file: &FileDescriptor) -> ProtoFile {
    let mut out = ProtoFile {
        syntax: match file.syntax() {
            prost_reflect::Syntax::Proto2 => "proto2".into(),
            prost_reflect::Syntax::Proto3 => "proto3".into(),
        },
        package: file.package_name().to_string(),
        messages: BTreeMap::new(),
        enums: BTreeMap::new(),
    };
    let mut todo: Vec<MessageDescriptor> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    fn all(m: MessageDescriptor, into: &mut Vec<MessageDescriptor>) {
        for c in m.child_messages() {
            all(c, into);
        }
        into.push(m);
    }
    for m in file.messages() {
        all(m, &mut todo);
    }
    let values = |e: &prost_reflect::EnumDescriptor| -> BTreeMap<String, i64> {
        e.values().map(|v| (v.name().to_string(), i64::from(v.number()))).collect()
    };
    for e in file.enums().chain(todo.iter().flat_map(|m| m.child_enums())) {
        out.enums.insert(e.full_name().to_string(), values(&e));
    }
    while let Some(m) = todo.pop() {
        if m.is_map_entry() || !seen.insert(m.full_name().to_string()) {
            continue;
        }
        let mut def = MessageDef::default();
        for f in m.fields() {
            let kinds = match f.kind() {
                Kind::Message(e) if e.is_map_entry() => {
                    vec![e.map_entry_key_field().kind(), e.map_entry_value_field().kind()]
                }
                k => vec![k],
            };
            for k in kinds {
                match k {
                    Kind::Message(t) => todo.push(t),
                    Kind::Enum(e) => {
                        out.enums.entry(e.full_name().to_string()).or_insert_with(|| values(&e));
                    }
                    _ => {}
                }
            }
            def.fields.push(FieldDef {
                name: f.name().to_string(),
                number: i64::from(f.number()),
                label: label(&f),
                ty: type_of(&f),
                oneof: f.containing_oneof().filter(|o| !synthetic(o)).map(|o| o.name().to_string()),
            });
        }
        out.messages.insert(m.full_name().to_string(), def);
    }
    out
}

#[cfg(test)]
mod tests;
