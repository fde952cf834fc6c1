//! Schemas read as Confluent's loader reads them (see the parent module's doc).

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Empty,
    False,
    Str,
    Num {
        integer: bool,
    },
    Bool,
    Null,
    Obj,
    Arr,
    Enum,
    Const,
    Combined(&'static str),
    Not,
    /// A `$ref` that does not point inside the document.
    Unresolved,
}

impl Kind {
    pub(super) fn class(self) -> u8 {
        match self {
            Kind::Empty => 0,
            Kind::False => 1,
            Kind::Str => 2,
            Kind::Num { .. } => 3,
            Kind::Bool => 4,
            Kind::Null => 5,
            Kind::Obj => 6,
            Kind::Arr => 7,
            Kind::Enum => 8,
            Kind::Const => 9,
            Kind::Combined(_) => 10,
            Kind::Not => 11,
            Kind::Unresolved => 12,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Node<'a> {
    pub(super) kind: Kind,
    /// The keywords this schema reads (empty for `true`/`false`).
    pub(super) o: Option<&'a Map<String, Value>>,
    /// Where `id`, `title`, `description` and `default` are read (None for the
    /// per-type parts of a `type` array).
    pub(super) meta: Option<&'a Map<String, Value>>,
    pub(super) subs: Vec<Node<'a>>,
    /// What the node was loaded from: cycle detection and de-duplication.
    pub(super) raw: &'a Value,
}

const OBJECT_KEYS: &[&str] = &[
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "dependencies",
    "propertyNames",
];
const ARRAY_KEYS: &[&str] =
    &["items", "additionalItems", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains"];
const NUMBER_KEYS: &[&str] = &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"];
const STRING_KEYS: &[&str] = &["minLength", "maxLength", "pattern"];

/// The target of a local `$ref` (`#`, `#/a/b`), `#/$defs/X` also found under `definitions`.
fn resolve<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    let pointer = r.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
        .or_else(|| pointer.strip_prefix("/$defs/").and_then(|rest| root.pointer(&format!("/definitions/{rest}"))))
}

pub(super) fn load<'a>(v: &'a Value, root: &'a Value) -> Node<'a> {
    load_depth(v, root, 0)
}

fn load_depth<'a>(v: &'a Value, root: &'a Value, depth: usize) -> Node<'a> {
    let leaf = |kind| Node { kind, o: None, meta: None, subs: vec![], raw: v };
    let o = match v {
        Value::Bool(false) => return leaf(Kind::False),
        Value::Object(o) => o,
        _ => return leaf(Kind::Empty),
    };
    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
        // Bounded: a reference chain longer than this is a cycle of bare references.
        return match resolve(root, r) {
            Some(target) if depth < 64 => load_depth(target, root, depth + 1),
            _ => Node { kind: Kind::Unresolved, o: Some(o), meta: Some(o), subs: vec![], raw: v },
        };
    }
    let node = |kind| Node { kind, o: Some(o), meta: Some(o), subs: vec![], raw: v };
    let mut parts: Vec<Node<'a>> = Vec::new();
    if o.get("enum").is_some_and(Value::is_array) {
        parts.push(node(Kind::Enum));
    }
    if o.contains_key("const") {
        parts.push(node(Kind::Const));
    }
    match o.get("type") {
        Some(Value::String(t)) => parts.push(node(typed(t))),
        Some(Value::Array(ts)) => {
            let subs = ts
                .iter()
                .filter_map(Value::as_str)
                .map(|t| Node { kind: typed(t), o: Some(o), meta: None, subs: vec![], raw: v })
                .collect();
            parts.push(Node { kind: Kind::Combined("anyOf"), o: Some(o), meta: Some(o), subs, raw: v });
        }
        _ => {
            for (keys, kind) in [
                (OBJECT_KEYS, Kind::Obj),
                (ARRAY_KEYS, Kind::Arr),
                (NUMBER_KEYS, Kind::Num { integer: false }),
                (STRING_KEYS, Kind::Str),
            ] {
                if keys.iter().any(|k| o.contains_key(*k)) {
                    parts.push(node(kind));
                }
            }
        }
    }
    if o.contains_key("not") {
        parts.push(node(Kind::Not));
    }
    for criterion in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(items)) = o.get(criterion) {
            let subs = items.iter().map(|s| load_depth(s, root, depth)).collect();
            parts.push(Node { kind: Kind::Combined(criterion), o: Some(o), meta: Some(o), subs, raw: v });
        }
    }
    match parts.len() {
        0 => node(Kind::Empty),
        1 => parts.pop().expect("one part"),
        _ => Node { kind: Kind::Combined("allOf"), o: Some(o), meta: Some(o), subs: parts, raw: v },
    }
}

fn typed(t: &str) -> Kind {
    match t {
        "string" => Kind::Str,
        "integer" => Kind::Num { integer: true },
        "number" => Kind::Num { integer: false },
        "boolean" => Kind::Bool,
        "null" => Kind::Null,
        "object" => Kind::Obj,
        "array" => Kind::Arr,
        _ => Kind::Empty,
    }
}

impl<'a> Node<'a> {
    pub(super) fn get(&self, k: &str) -> Option<&'a Value> {
        self.o.and_then(|o| o.get(k))
    }
    pub(super) fn num(&self, k: &str) -> Option<f64> {
        self.get(k).and_then(Value::as_f64)
    }
    pub(super) fn has_default(&self) -> bool {
        self.meta.is_some_and(|m| m.contains_key("default"))
    }
    /// What makes two subschemas of a combined schema duplicates.
    pub(super) fn ident(&self) -> String {
        format!("{:?}|{}", self.kind, crate::canonical::sorted_json(self.raw))
    }
}

/// A keyword's object (`properties`, `dependencies`), absent being empty.
#[derive(Clone, Copy)]
pub(super) struct Keyed<'a>(pub(super) Option<&'a Map<String, Value>>);

impl<'a> Keyed<'a> {
    pub(super) fn keys(self) -> impl Iterator<Item = &'a String> {
        self.0.into_iter().flat_map(|m| m.keys())
    }
    pub(super) fn get(self, k: &str) -> Option<&'a Value> {
        self.0.and_then(|m| m.get(k))
    }
}

/// `additionalProperties`-style keyword: absent or `true` permits anything, `false`
/// nothing, a schema permits what it accepts.
pub(super) fn additional<'a>(n: &Node<'a>, key: &str) -> (bool, Option<&'a Value>) {
    match n.o.and_then(|o| o.get(key)) {
        None | Some(Value::Bool(true)) => (true, None),
        Some(Value::Bool(false)) => (false, None),
        Some(s) => (true, Some(s)),
    }
}

pub(super) fn open_object(n: &Node<'_>) -> bool {
    let patterns = n.get("patternProperties").and_then(Value::as_object).is_some_and(|p| !p.is_empty());
    !patterns && additional(n, "additionalProperties") == (true, None)
}

/// The schema a partially open object gives an undeclared property `key`: the
/// first pattern that matches somewhere in it, else `additionalProperties`.
pub(super) fn partial_object<'a>(n: &Node<'a>, key: &str) -> Option<&'a Value> {
    if let Some(patterns) = n.o.and_then(|o| o.get("patternProperties")).and_then(Value::as_object) {
        for (p, s) in patterns {
            if regex::Regex::new(p).is_ok_and(|r| r.is_match(key)) {
                return Some(s);
            }
        }
    }
    additional(n, "additionalProperties").1
}

pub(super) struct Items<'a> {
    pub(super) all: Option<&'a Value>,
    pub(super) tuple: &'a [Value],
    pub(super) additional: (bool, Option<&'a Value>),
}

impl Items<'_> {
    pub(super) fn open(&self) -> bool {
        self.additional == (true, None)
    }
}

pub(super) fn items<'a>(n: &Node<'a>, root: &Value) -> Items<'a> {
    let n: &Node<'a> = n;
    let modern = root.get("$schema").and_then(Value::as_str).is_some_and(|s| s.contains("2020-12"));
    if modern {
        // As Confluent translates 2020-12: `prefixItems` is the tuple, `items` what follows it.
        let tuple = n.get("prefixItems").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        return Items { all: None, tuple, additional: additional(n, "items") };
    }
    match n.get("items") {
        Some(Value::Array(t)) => Items { all: None, tuple: t, additional: additional(n, "additionalItems") },
        all => Items { all, tuple: &[], additional: additional(n, "additionalItems") },
    }
}
