//! Compatibility levels and the check a new schema must pass against the versions
//! before it. Each schema type has its own rules (`avro`, `json`, `protobuf`); this
//! module decides which pairs to compare and in which direction.
//!
//! BACKWARD: the new schema reads data written with the old one. FORWARD: the old
//! schema reads data written with the new one. FULL: both. The `_TRANSITIVE` forms
//! compare with every earlier version, the others with the latest only.

pub mod avro;
pub mod json;
pub mod protobuf;

use crate::schema::Parsed;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_uppercase().as_str() {
            "NONE" => Level::None,
            "BACKWARD" => Level::Backward,
            "BACKWARD_TRANSITIVE" => Level::BackwardTransitive,
            "FORWARD" => Level::Forward,
            "FORWARD_TRANSITIVE" => Level::ForwardTransitive,
            "FULL" => Level::Full,
            "FULL_TRANSITIVE" => Level::FullTransitive,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    fn transitive(self) -> bool {
        matches!(self, Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive)
    }

    fn backward(self) -> bool {
        matches!(self, Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive)
    }

    fn forward(self) -> bool {
        matches!(self, Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive)
    }
}

/// Why `reader` cannot read what `writer` wrote (empty: it can). `names` are
/// the reader's and writer's names in messages: ("new", "old") for a backward
/// check, ("old", "new") for a forward one, as Confluent words them.
fn reads(reader: &Parsed, writer: &Parsed, names: (&str, &str)) -> Vec<String> {
    match (reader, writer) {
        (Parsed::Avro(r), Parsed::Avro(w)) => avro::can_read(r, w)
            .into_iter()
            .map(|i| {
                format!(
                    "{{errorType:'{}', description:'{}', additionalInfo:'at path {}'}}",
                    i.kind, i.description, i.path
                )
            })
            .collect(),
        // JSON Schema: what the writer accepted, the reader must accept.
        (Parsed::Json(r), Parsed::Json(w)) => json::incompatible(w, r, names.0, names.1),
        (Parsed::Protobuf(r), Parsed::Protobuf(w)) => protobuf::differences(w, r),
        _ => vec!["{errorType:'TYPE_MISMATCH', description:'the schema type changed'}".to_string()],
    }
}

/// An earlier version: its number, its parsed schema and its text.
pub struct Previous<'a> {
    pub version: i32,
    pub parsed: &'a Parsed,
    pub text: &'a str,
}

/// The messages explaining why `new` is not compatible (empty: compatible).
/// `previous` is in version order, oldest first.
pub fn check(level: Level, new: &Parsed, previous: &[Previous<'_>]) -> Vec<String> {
    if level == Level::None || previous.is_empty() {
        return vec![];
    }
    let against: &[Previous<'_>] = if level.transitive() { previous } else { &previous[previous.len() - 1..] };
    let mut out = Vec::new();
    for old in against.iter().rev() {
        let mut found = Vec::new();
        if level.backward() {
            found.extend(reads(new, old.parsed, ("new", "old")));
        }
        if level.forward() {
            found.extend(reads(old.parsed, new, ("old", "new")));
        }
        if !found.is_empty() {
            out.extend(found);
            out.push(format!("{{oldSchemaVersion: {}}}", old.version));
            out.push(format!("{{oldSchema: '{}'}}", old.text));
        }
    }
    if !out.is_empty() {
        out.push(format!("{{compatibility: '{}'}}", level.name()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{parse, SchemaType};

    fn avro(s: &str) -> Parsed {
        parse(SchemaType::Avro, s, &[], false).unwrap().1
    }

    #[test]
    fn levels_choose_directions_and_versions() {
        let v1 = avro(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
        // v2 adds a field with a default: backward and forward compatible.
        let v2 = avro(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}"#,
        );
        // v3 drops a (defaultless in v1) and adds c without default.
        let v3 = avro(
            r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int","default":0},{"name":"c","type":"int"}]}"#,
        );
        let prev =
            |ps: &[(&Parsed, i32)]| -> Vec<(i32, Parsed)> { ps.iter().map(|(p, v)| (*v, (*p).clone())).collect() };
        let history = prev(&[(&v1, 1), (&v2, 2)]);
        let refs: Vec<Previous<'_>> =
            history.iter().map(|(v, p)| Previous { version: *v, parsed: p, text: "" }).collect();
        assert!(check(Level::None, &v3, &refs).is_empty());
        assert!(!check(Level::Backward, &v3, &refs).is_empty(), "c has no default");
        assert!(!check(Level::Forward, &v3, &refs).is_empty(), "v2 cannot read v3 without a");
        let v3b = avro(r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int","default":0}]}"#);
        assert!(check(Level::Backward, &v3b, &refs).is_empty(), "new reader ignores a; b has a default");
        assert!(check(Level::BackwardTransitive, &v3b, &refs).is_empty());
        assert!(
            !check(Level::Forward, &v3b, &refs).is_empty(),
            "v2 needs a, which v3b does not write and has no default"
        );
        let msgs = check(Level::Full, &v3b, &refs);
        assert!(msgs.iter().any(|m| m.contains("oldSchemaVersion: 2")) && msgs.last().unwrap().contains("FULL"));
        // Transitive compares with v1 too.
        let v2_only_b = avro(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#);
        let history = prev(&[(&v2_only_b, 1), (&v1, 2)]);
        let refs: Vec<Previous<'_>> =
            history.iter().map(|(v, p)| Previous { version: *v, parsed: p, text: "" }).collect();
        let new = avro(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
        assert!(check(Level::Backward, &new, &refs).is_empty(), "latest is v1-like");
        assert!(!check(Level::BackwardTransitive, &new, &refs).is_empty(), "int cannot read the first version's long");
    }
}
