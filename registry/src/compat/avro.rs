//! Avro schemas as the compatibility checker sees them, and Avro's schema-resolution
//! rules: can a reader with schema R read data written with schema W?
//!
//! The model is built from the schema JSON (after apache-avro has validated it), so
//! names, namespaces, aliases, field defaults and enum defaults are all at hand.
//! Named types live in one table by full name; references between them (and
//! recursive types) are names, and the checker remembers which (reader, writer)
//! pairs of named types it is already checking, so recursion ends.
//!
//! Rules (the Avro specification's "Schema Resolution", as Avro's Java
//! SchemaCompatibility applies them, which Confluent uses):
//! - primitives must be equal or a promotion: int -> long, float, double;
//!   long -> float, double; float -> double; string <-> bytes;
//! - named types match by unqualified name, or when a reader alias is the writer's
//!   full name; fixed sizes must be equal;
//! - records: every reader field is found in the writer (by name or reader alias)
//!   and its type resolves, or it has a default; writer-only fields are skipped;
//! - enums: every writer symbol is a reader symbol, unless the reader has a default;
//! - arrays and maps: items / values resolve;
//! - unions: every writer branch resolves against the reader (against some branch
//!   when the reader is a union); a non-union writer must resolve against some
//!   reader branch.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(Box<Ty>),
    Map(Box<Ty>),
    Union(Vec<Ty>),
    /// A named type (record, enum, fixed), by full name.
    Named(String),
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub aliases: Vec<String>,
    pub ty: Ty,
    pub has_default: bool,
}

#[derive(Clone, Debug)]
pub enum NamedKind {
    Record(Vec<Field>),
    Enum { symbols: Vec<String>, default: Option<String> },
    Fixed(u64),
}

#[derive(Clone, Debug)]
pub struct Named {
    pub full_name: String,
    pub name: String,
    /// Full names.
    pub aliases: Vec<String>,
    pub kind: NamedKind,
}

/// A parsed schema: its root type and every named type it (and its references)
/// define.
#[derive(Clone, Debug, Default)]
pub struct AvroSchema {
    pub root: Option<Ty>,
    pub named: BTreeMap<String, Named>,
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    if name.contains('.') {
        return name.to_string();
    }
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn simple_name(full: &str) -> &str {
    full.rsplit('.').next().unwrap_or(full)
}

fn namespace_of(full: &str) -> Option<&str> {
    full.rsplit_once('.').map(|(ns, _)| ns)
}

impl AvroSchema {
    /// Adds the named types of a referenced schema (no root).
    pub fn add_reference(&mut self, json: &Value) -> Result<(), String> {
        self.parse_ty(json, None)?;
        Ok(())
    }

    pub fn parse(json: &Value, references: &[Value]) -> Result<AvroSchema, String> {
        let mut s = AvroSchema::default();
        for r in references {
            s.add_reference(r)?;
        }
        let root = s.parse_ty(json, None)?;
        s.root = Some(root);
        Ok(s)
    }

    fn primitive(name: &str) -> Option<Ty> {
        Some(match name {
            "null" => Ty::Null,
            "boolean" => Ty::Boolean,
            "int" => Ty::Int,
            "long" => Ty::Long,
            "float" => Ty::Float,
            "double" => Ty::Double,
            "bytes" => Ty::Bytes,
            "string" => Ty::String,
            _ => return None,
        })
    }

    fn reference(&self, name: &str, ns: Option<&str>) -> Result<Ty, String> {
        for candidate in [full_name(name, ns), name.to_string()] {
            if self.named.contains_key(&candidate) {
                return Ok(Ty::Named(candidate));
            }
        }
        Err(format!("unknown type name '{name}'"))
    }

    fn parse_ty(&mut self, json: &Value, ns: Option<&str>) -> Result<Ty, String> {
        match json {
            Value::String(name) => match Self::primitive(name) {
                Some(t) => Ok(t),
                None => self.reference(name, ns),
            },
            Value::Array(branches) => {
                let mut out = Vec::with_capacity(branches.len());
                for b in branches {
                    out.push(self.parse_ty(b, ns)?);
                }
                Ok(Ty::Union(out))
            }
            Value::Object(o) => {
                let ty = o.get("type").ok_or("a schema object without \"type\"")?;
                let Value::String(t) = ty else {
                    // {"type": {...}} nests a schema.
                    return self.parse_ty(ty, ns);
                };
                match t.as_str() {
                    "array" => {
                        Ok(Ty::Array(Box::new(self.parse_ty(o.get("items").ok_or("array without items")?, ns)?)))
                    }
                    "map" => Ok(Ty::Map(Box::new(self.parse_ty(o.get("values").ok_or("map without values")?, ns)?))),
                    "record" | "error" | "enum" | "fixed" => self.parse_named(t, o, ns),
                    other => match Self::primitive(other) {
                        Some(p) => Ok(p), // e.g. {"type": "long", "logicalType": "timestamp-millis"}
                        None => self.reference(other, ns),
                    },
                }
            }
            other => Err(format!("not a schema: {other}")),
        }
    }

    fn parse_named(&mut self, kind: &str, o: &serde_json::Map<String, Value>, ns: Option<&str>) -> Result<Ty, String> {
        let name = o.get("name").and_then(Value::as_str).ok_or_else(|| format!("{kind} without a name"))?;
        let own_ns = o.get("namespace").and_then(Value::as_str).or(ns);
        let full = full_name(name, own_ns);
        let inner_ns = namespace_of(&full).map(str::to_string);
        let aliases: Vec<String> = o
            .get("aliases")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(|x| full_name(x, inner_ns.as_deref())).collect())
            .unwrap_or_default();
        let placeholder = Named {
            full_name: full.clone(),
            name: simple_name(&full).to_string(),
            aliases: aliases.clone(),
            kind: NamedKind::Record(vec![]),
        };
        // Registered before the fields are parsed, so recursive references resolve.
        self.named.insert(full.clone(), placeholder);
        let kind = match kind {
            "enum" => NamedKind::Enum {
                symbols: o
                    .get("symbols")
                    .and_then(Value::as_array)
                    .ok_or("enum without symbols")?
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                default: o.get("default").and_then(Value::as_str).map(str::to_string),
            },
            "fixed" => NamedKind::Fixed(o.get("size").and_then(Value::as_u64).ok_or("fixed without size")?),
            _ => {
                let mut fields = Vec::new();
                for f in o.get("fields").and_then(Value::as_array).ok_or("record without fields")? {
                    let fname = f.get("name").and_then(Value::as_str).ok_or("field without a name")?;
                    let ty = self.parse_ty(
                        f.get("type").ok_or_else(|| format!("field {fname} without a type"))?,
                        inner_ns.as_deref(),
                    )?;
                    fields.push(Field {
                        name: fname.to_string(),
                        aliases: f
                            .get("aliases")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                            .unwrap_or_default(),
                        ty,
                        has_default: f.get("default").is_some(),
                    });
                }
                NamedKind::Record(fields)
            }
        };
        self.named.get_mut(&full).expect("registered").kind = kind;
        Ok(Ty::Named(full))
    }
}

/// One reason a reader cannot read a writer's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incompatibility {
    pub kind: &'static str,
    /// JSON-pointer-like location in the reader schema, e.g. `/fields/2/type`.
    pub path: String,
    pub description: String,
}

struct Checker<'a> {
    reader: &'a AvroSchema,
    writer: &'a AvroSchema,
    in_progress: HashSet<(String, String)>,
    out: Vec<Incompatibility>,
}

fn promotes(w: &Ty, r: &Ty) -> bool {
    matches!(
        (w, r),
        (Ty::Int, Ty::Long | Ty::Float | Ty::Double)
            | (Ty::Long, Ty::Float | Ty::Double)
            | (Ty::Float, Ty::Double)
            | (Ty::String, Ty::Bytes)
            | (Ty::Bytes, Ty::String)
    )
}

fn describe(t: &Ty) -> String {
    match t {
        Ty::Null => "null".into(),
        Ty::Boolean => "boolean".into(),
        Ty::Int => "int".into(),
        Ty::Long => "long".into(),
        Ty::Float => "float".into(),
        Ty::Double => "double".into(),
        Ty::Bytes => "bytes".into(),
        Ty::String => "string".into(),
        Ty::Array(_) => "array".into(),
        Ty::Map(_) => "map".into(),
        Ty::Union(_) => "union".into(),
        Ty::Named(n) => n.clone(),
    }
}

impl Checker<'_> {
    fn fail(&mut self, kind: &'static str, path: &str, description: String) {
        self.out.push(Incompatibility {
            kind,
            path: if path.is_empty() { "/".into() } else { path.into() },
            description,
        });
    }

    /// Whether `w` resolves to `r`, recording nothing (for union branch search).
    fn fits(&mut self, r: &Ty, w: &Ty) -> bool {
        let saved = std::mem::take(&mut self.out);
        self.check(r, w, "");
        let ok = self.out.is_empty();
        self.out = saved;
        ok
    }

    fn check(&mut self, r: &Ty, w: &Ty, path: &str) {
        match (r, w) {
            (_, Ty::Union(ws)) => {
                for (i, wb) in ws.iter().enumerate() {
                    match r {
                        Ty::Union(rs) => {
                            if !rs.iter().any(|rb| self.fits(rb, wb)) {
                                self.fail(
                                    "MISSING_UNION_BRANCH",
                                    path,
                                    format!(
                                        "the new union lacks a branch for the old schema's type {} (branch {i})",
                                        describe(wb)
                                    ),
                                );
                            }
                        }
                        _ => {
                            if !self.fits(r, wb) {
                                self.fail(
                                    "MISSING_UNION_BRANCH",
                                    path,
                                    format!(
                                        "type {} cannot read the old union's branch {i} ({})",
                                        describe(r),
                                        describe(wb)
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            (Ty::Union(rs), _) => {
                if !rs.iter().any(|rb| self.fits(rb, w)) {
                    self.fail("TYPE_MISMATCH", path, format!("no branch of the union can read type {}", describe(w)));
                }
            }
            (Ty::Array(ri), Ty::Array(wi)) => self.check(ri, wi, &format!("{path}/items")),
            (Ty::Map(rv), Ty::Map(wv)) => self.check(rv, wv, &format!("{path}/values")),
            (Ty::Named(rn), Ty::Named(wn)) => self.check_named(rn, wn, path),
            (r, w) if r == w || promotes(w, r) => {}
            (r, w) => self.fail(
                "TYPE_MISMATCH",
                path,
                format!(
                    "the type is {} in the new schema and {} in the old one, which cannot be read as {}",
                    describe(r),
                    describe(w),
                    describe(r)
                ),
            ),
        }
    }

    fn check_named(&mut self, rn: &str, wn: &str, path: &str) {
        if !self.in_progress.insert((rn.to_string(), wn.to_string())) {
            return; // recursion: assumed compatible while it is being checked
        }
        let (Some(r), Some(w)) = (self.reader.named.get(rn).cloned(), self.writer.named.get(wn).cloned()) else {
            self.fail("TYPE_MISMATCH", path, format!("unknown named type {rn} or {wn}"));
            return;
        };
        if r.name != w.name && !r.aliases.contains(&w.full_name) {
            self.fail(
                "NAME_MISMATCH",
                &format!("{path}/name"),
                format!("expected name {}, found {}", w.full_name, r.full_name),
            );
            self.in_progress.remove(&(rn.to_string(), wn.to_string()));
            return;
        }
        match (&r.kind, &w.kind) {
            (NamedKind::Record(rf), NamedKind::Record(wf)) => {
                for (i, f) in rf.iter().enumerate() {
                    let found = wf.iter().find(|x| x.name == f.name || f.aliases.contains(&x.name));
                    let fpath = format!("{path}/fields/{i}");
                    match found {
                        Some(x) => self.check(&f.ty, &x.ty, &format!("{fpath}/type")),
                        None if f.has_default => {}
                        None => self.fail(
                            "READER_FIELD_MISSING_DEFAULT_VALUE",
                            &fpath,
                            format!("the field '{}' in the new schema has no default value and is missing in the old schema", f.name),
                        ),
                    }
                }
            }
            (NamedKind::Enum { symbols: rs, default }, NamedKind::Enum { symbols: ws, .. }) => {
                let missing: Vec<&String> = ws.iter().filter(|s| !rs.contains(s)).collect();
                if !missing.is_empty() && default.as_ref().is_none_or(|d| !rs.contains(d)) {
                    self.fail(
                        "MISSING_ENUM_SYMBOLS",
                        &format!("{path}/symbols"),
                        format!("the new enum lacks the symbols {missing:?} of the old one, and has no default"),
                    );
                }
            }
            (NamedKind::Fixed(rs), NamedKind::Fixed(ws)) => {
                if rs != ws {
                    self.fail(
                        "FIXED_SIZE_MISMATCH",
                        &format!("{path}/size"),
                        format!("expected size {ws}, found {rs}"),
                    );
                }
            }
            _ => self.fail(
                "TYPE_MISMATCH",
                path,
                format!("{} and {} are different kinds of named type", r.full_name, w.full_name),
            ),
        }
        self.in_progress.remove(&(rn.to_string(), wn.to_string()));
    }
}

/// Why `reader` cannot read data written with `writer` (empty: it can).
pub fn can_read(reader: &AvroSchema, writer: &AvroSchema) -> Vec<Incompatibility> {
    let (Some(r), Some(w)) = (&reader.root, &writer.root) else { return vec![] };
    let mut c = Checker { reader, writer, in_progress: HashSet::new(), out: Vec::new() };
    c.check(r, w, "");
    c.out
}

#[cfg(test)]
mod tests;
