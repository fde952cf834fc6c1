//! JSON Schema compatibility as Confluent's JSON Schema checker decides it: a
//! structural diff from `original` to `update` that names each change with
//! Confluent's difference type and JSON path (`TYPE_CHANGED #/properties/a`,
//! `SUM_TYPE_EXTENDED #/`, ...); the change is compatible when every difference
//! is in Confluent's compatible set ([`COMPATIBLE`], its STRICT policy).
//!
//! Schemas are read as Confluent's loader reads them: `true` and `{}` accept
//! anything, `false` nothing; `$ref` (local JSON pointers, `definitions` also
//! reachable as `$defs`) is replaced by its target, so a reference and the inlined
//! schema are the same; `type: [a, b]` is `anyOf` of one schema per type; several
//! keyword groups in one object (`type` with `enum`, say) are a synthetic `allOf`;
//! object, array, number and string keywords without `type` still make a schema of
//! that kind. An object is open when `additionalProperties` is absent or `true`
//! and it has no `patternProperties`, closed when `additionalProperties` is
//! `false`, partially open otherwise (a property is then checked against the
//! first matching pattern, else the `additionalProperties` schema); arrays
//! likewise with `additionalItems`. With `$schema` 2020-12, `prefixItems` are the
//! tuple and `items` the additional items.
//!
//! BACKWARD diffs (previous, new), FORWARD (new, previous), as Confluent does;
//! messages read `{errorType:"TYPE", description:"..."}` with Confluent's texts.

/// `*_ADDED`, `*_REMOVED`, `*_INCREASED` or `*_DECREASED` for a numeric keyword.
macro_rules! bound {
    ($cx:expr, $o:expr, $u:expr, $key:literal, $prefix:literal) => {
        $cx.bound(
            $key,
            $o.num($key),
            $u.num($key),
            [
                concat!($prefix, "_ADDED"),
                concat!($prefix, "_REMOVED"),
                concat!($prefix, "_INCREASED"),
                concat!($prefix, "_DECREASED"),
            ],
        )
    };
}

mod difference;
mod load;
mod structure;

use std::collections::HashSet;

use serde_json::{Map, Value};

pub use difference::{Difference, COMPATIBLE};
use load::{load, Kind, Node};

/// Every difference from `original` to `update`, compatible ones included.
pub fn changes(original: &Value, update: &Value) -> Vec<Difference> {
    let mut cx = Cx { roots: (original, update), path: vec![], out: vec![], stack: HashSet::new() };
    let (o, u) = (load(original, original), load(update, update));
    cx.compare(&o, &u);
    cx.out
}

/// The incompatible differences from `original` (what was written) to `update`
/// (what reads it), as Confluent words them for a BACKWARD check.
pub fn differences(original: &Value, update: &Value) -> Vec<String> {
    incompatible(original, update, "new", "old")
}

/// The incompatible differences, worded with `reader`/`writer` ("new"/"old").
pub fn incompatible(original: &Value, update: &Value, reader: &str, writer: &str) -> Vec<String> {
    changes(original, update).into_iter().filter(|d| !d.compatible()).map(|d| d.message(reader, writer)).collect()
}

// ------------------------------------------------------------------ diffing

struct Cx<'a> {
    roots: (&'a Value, &'a Value),
    path: Vec<String>,
    out: Vec<Difference>,
    /// (original, update) pairs being compared further up: a recursive schema
    /// compares equal to itself where it recurses.
    /// Keyed by kind too: the per-type parts of a `type` list share their value.
    stack: HashSet<(usize, usize, Kind, Kind)>,
}

fn addr(v: &Value) -> usize {
    v as *const Value as usize
}

impl<'a> Cx<'a> {
    fn here(&self) -> String {
        format!("#/{}", self.path.join("/"))
    }

    fn add(&mut self, kind: &'static str) {
        let path = self.here();
        self.out.push(Difference { kind, path });
    }

    fn add_at(&mut self, key: &str, kind: &'static str) {
        self.path.push(key.to_string());
        self.add(kind);
        self.path.pop();
    }

    fn sub(&self) -> Cx<'a> {
        Cx { roots: self.roots, path: self.path.clone(), out: vec![], stack: self.stack.clone() }
    }

    fn compatible(&self) -> bool {
        self.out.iter().all(Difference::compatible)
    }

    /// Compares under `key` (a path segment).
    fn at(&mut self, key: &str, o: &Node<'a>, u: &Node<'a>) {
        self.path.push(key.to_string());
        self.compare(o, u);
        self.path.pop();
    }

    /// Compares optional subschemas: one appearing or disappearing is
    /// SCHEMA_ADDED / SCHEMA_REMOVED.
    fn optional(&mut self, key: &str, o: Option<&'a Value>, u: Option<&'a Value>) {
        match (o, u) {
            (None, None) => {}
            (None, Some(_)) => self.add_at(key, "SCHEMA_ADDED"),
            (Some(_), None) => self.add_at(key, "SCHEMA_REMOVED"),
            (Some(o), Some(u)) => {
                let (o, u) = (load(o, self.roots.0), load(u, self.roots.1));
                self.at(key, &o, &u);
            }
        }
    }

    fn compare(&mut self, o: &Node<'a>, u: &Node<'a>) {
        let (oc, uc) = (matches!(o.kind, Kind::Combined(_)), matches!(u.kind, Kind::Combined(_)));
        if uc && !oc {
            if u.subs.len() == 1 {
                let mut sub = self.sub();
                sub.compare(o, &u.subs[0]);
                if sub.compatible() {
                    self.out.extend(sub.out);
                    return;
                }
            } else if matches!(u.kind, Kind::Combined("anyOf" | "oneOf")) {
                for s in &u.subs {
                    let mut sub = self.sub();
                    sub.compare(o, s);
                    if sub.compatible() {
                        self.out.extend(sub.out);
                        self.add("SUM_TYPE_EXTENDED");
                        return;
                    }
                }
            }
        } else if oc && !uc {
            if o.subs.len() == 1 {
                let mut sub = self.sub();
                sub.compare(&o.subs[0], u);
                if sub.compatible() {
                    self.out.extend(sub.out);
                    return;
                }
            } else if o.kind == Kind::Combined("allOf") {
                for s in &o.subs {
                    let mut sub = self.sub();
                    sub.compare(s, u);
                    if sub.compatible() {
                        self.out.extend(sub.out);
                        self.add("PRODUCT_TYPE_NARROWED");
                        return;
                    }
                }
            }
        }
        if o.kind.class() != u.kind.class() {
            // Nothing was accepted before, or everything is now.
            if o.kind == Kind::False || u.kind == Kind::Empty {
                return;
            }
            self.add("TYPE_CHANGED");
            return;
        }
        let key = (addr(o.raw), addr(u.raw), o.kind, u.kind);
        if !self.stack.insert(key) {
            return;
        }
        self.metadata(o, u);
        match (o.kind, u.kind) {
            (Kind::Str, _) => self.string(o, u),
            (Kind::Num { integer: oi }, Kind::Num { integer: ui }) => self.number(o, u, oi, ui),
            (Kind::Enum, _) => self.enumeration(o, u),
            (Kind::Const, _) if o.get("const") != u.get("const") => self.add_at("const", "ENUM_ARRAY_CHANGED"),
            (Kind::Combined(_), _) => self.combined(o, u),
            (Kind::Not, _) => {
                let (on, un) = (o.get("not").expect("not"), u.get("not").expect("not"));
                let (on, un) = (load(on, self.roots.0), load(un, self.roots.1));
                let mut sub = self.sub();
                sub.path.push("not".into());
                // Reversed: what the new `not` excludes, the old one must have excluded.
                sub.compare(&un, &on);
                let kind = if sub.compatible() { "NOT_TYPE_NARROWED" } else { "NOT_TYPE_EXTENDED" };
                self.add_at("not", kind);
            }
            (Kind::Obj, _) => self.object(o, u),
            (Kind::Arr, _) => self.array(o, u),
            (Kind::Unresolved, _) if o.get("$ref") != u.get("$ref") => self.add("TYPE_CHANGED"),
            _ => {}
        }
        self.stack.remove(&key);
    }

    fn metadata(&mut self, o: &Node<'a>, u: &Node<'a>) {
        let (Some(om), Some(um)) = (o.meta, u.meta) else { return };
        let id = |m: &Map<String, Value>| m.get("$id").or_else(|| m.get("id")).cloned();
        if id(om) != id(um) {
            self.add("ID_CHANGED");
        }
        for (k, kind) in
            [("title", "TITLE_CHANGED"), ("description", "DESCRIPTION_CHANGED"), ("default", "DEFAULT_CHANGED")]
        {
            if om.get(k) != um.get(k) {
                self.add(kind);
            }
        }
    }

    /// `*_ADDED`, `*_REMOVED`, `*_INCREASED`, `*_DECREASED` of a numeric keyword.
    fn bound(&mut self, key: &str, o: Option<f64>, u: Option<f64>, kinds: [&'static str; 4]) {
        let kind = match (o, u) {
            (None, Some(_)) => kinds[0],
            (Some(_), None) => kinds[1],
            (Some(a), Some(b)) if b > a => kinds[2],
            (Some(a), Some(b)) if b < a => kinds[3],
            _ => return,
        };
        self.add_at(key, kind);
    }

    fn string(&mut self, o: &Node<'a>, u: &Node<'a>) {
        bound!(self, o, u, "maxLength", "MAX_LENGTH");
        bound!(self, o, u, "minLength", "MIN_LENGTH");
        match (o.get("pattern"), u.get("pattern")) {
            (None, Some(_)) => self.add_at("pattern", "PATTERN_ADDED"),
            (Some(_), None) => self.add_at("pattern", "PATTERN_REMOVED"),
            (Some(a), Some(b)) if a != b => self.add_at("pattern", "PATTERN_CHANGED"),
            _ => {}
        }
    }

    fn number(&mut self, o: &Node<'a>, u: &Node<'a>, oi: bool, ui: bool) {
        bound!(self, o, u, "maximum", "MAXIMUM");
        bound!(self, o, u, "minimum", "MINIMUM");
        bound!(self, o, u, "exclusiveMaximum", "EXCLUSIVE_MAXIMUM");
        bound!(self, o, u, "exclusiveMinimum", "EXCLUSIVE_MINIMUM");
        let multiple = |a: f64, b: f64| b != 0.0 && (a / b).fract() == 0.0;
        match (o.num("multipleOf"), u.num("multipleOf")) {
            (None, Some(_)) => self.add_at("multipleOf", "MULTIPLE_OF_ADDED"),
            (Some(_), None) => self.add_at("multipleOf", "MULTIPLE_OF_REMOVED"),
            (Some(a), Some(b)) if a != b => {
                let kind = if multiple(b, a) {
                    "MULTIPLE_OF_EXPANDED"
                } else if multiple(a, b) {
                    "MULTIPLE_OF_REDUCED"
                } else {
                    "MULTIPLE_OF_CHANGED"
                };
                self.add_at("multipleOf", kind);
            }
            _ => {}
        }
        match (oi, ui) {
            (true, false) => self.add("TYPE_EXTENDED"),
            (false, true) => self.add("TYPE_NARROWED"),
            _ => {}
        }
    }

    fn enumeration(&mut self, o: &Node<'a>, u: &Node<'a>) {
        let values = |n: &Node<'a>| n.get("enum").and_then(Value::as_array).cloned().unwrap_or_default();
        let (ov, uv) = (values(o), values(u));
        let covers = |a: &[Value], b: &[Value]| b.iter().all(|x| a.contains(x));
        let (up, down) = (covers(&uv, &ov), covers(&ov, &uv));
        match (up, down) {
            (true, true) => {}
            (true, false) => self.add_at("enum", "ENUM_ARRAY_EXTENDED"),
            (false, true) => self.add_at("enum", "ENUM_ARRAY_NARROWED"),
            (false, false) => self.add_at("enum", "ENUM_ARRAY_CHANGED"),
        }
    }

    fn combined(&mut self, o: &Node<'a>, u: &Node<'a>) {
        let (Kind::Combined(oc), Kind::Combined(uc)) = (o.kind, u.kind) else { return };
        if oc != uc {
            let extended = match uc {
                "anyOf" => true,
                "oneOf" => o.subs.len() == 1,
                _ => o.subs.len() == 1 && u.subs.len() == 1,
            };
            if !extended {
                self.add("COMBINED_TYPE_CHANGED");
                return;
            }
            self.add("COMBINED_TYPE_EXTENDED");
        }
        let dedup = |subs: &[Node<'a>]| -> Vec<Node<'a>> {
            let mut seen = HashSet::new();
            subs.iter().filter(|s| seen.insert(s.ident())).cloned().collect()
        };
        let (os, us) = (dedup(&o.subs), dedup(&u.subs));
        if os.len() < us.len() {
            self.add(if uc == "allOf" { "PRODUCT_TYPE_EXTENDED" } else { "SUM_TYPE_EXTENDED" });
        } else if os.len() > us.len() {
            self.add(if uc == "allOf" { "PRODUCT_TYPE_NARROWED" } else { "SUM_TYPE_NARROWED" });
        }
        // Compatible pairs, then a maximum matching of original to update subschemas.
        let mut edges: Vec<Vec<Option<Vec<Difference>>>> = vec![vec![None; us.len()]; os.len()];
        for (i, a) in os.iter().enumerate() {
            for (j, b) in us.iter().enumerate() {
                let mut sub = self.sub();
                sub.path.push(oc.to_string());
                sub.path.push(i.to_string());
                sub.compare(a, b);
                if sub.compatible() {
                    edges[i][j] = Some(sub.out);
                }
            }
        }
        let matched = max_matching(&edges);
        for (i, j) in matched.iter().enumerate().filter_map(|(j, i)| i.map(|i| (i, j))) {
            self.out.extend(edges[i][j].clone().unwrap_or_default());
        }
        if matched.iter().flatten().count() < os.len().min(us.len()) {
            self.add("COMBINED_TYPE_SUBSCHEMAS_CHANGED");
        }
    }
}

/// A maximum bipartite matching (Kuhn's augmenting paths) over compatible
/// pairs: `result[j]` is the original subschema matched to update subschema `j`.
fn max_matching<T>(edges: &[Vec<Option<T>>]) -> Vec<Option<usize>> {
    let cols = edges.first().map_or(0, Vec::len);
    let mut owner: Vec<Option<usize>> = vec![None; cols];
    fn augment<T>(i: usize, edges: &[Vec<Option<T>>], seen: &mut [bool], owner: &mut [Option<usize>]) -> bool {
        for j in 0..owner.len() {
            if edges[i][j].is_some() && !seen[j] {
                seen[j] = true;
                if owner[j].is_none_or(|k| augment(k, edges, seen, owner)) {
                    owner[j] = Some(i);
                    return true;
                }
            }
        }
        false
    }
    for i in 0..edges.len() {
        let mut seen = vec![false; cols];
        augment(i, edges, &mut seen, &mut owner);
    }
    owner
}

#[cfg(test)]
mod tests;
