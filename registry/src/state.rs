//! The registry's state: a fold over the `_schemas` topic. Every change is a
//! record there first (see `store`), and `apply` is the only way the state
//! changes, so a restart (replay) and a live registry agree, and records that other
//! tools write in Confluent's format are served like our own.
//!
//! Keys and values are Confluent's JSON:
//!
//! ```text
//! {"keytype":"SCHEMA","subject":"s","version":1,"magic":1}
//!     {"subject":"s","version":1,"id":7,"schemaType":"JSON","schema":"...","references":[...],"deleted":false}
//!     null value: the version is deleted permanently
//! {"keytype":"CONFIG","subject":"s"|null,"magic":0}     {"compatibilityLevel":"FULL"} | null
//! {"keytype":"MODE","subject":"s"|null,"magic":0}       {"mode":"READONLY"} | null
//! {"keytype":"DELETE_SUBJECT","subject":"s","magic":0}  {"subject":"s","version":3}
//! {"keytype":"CLEAR_SUBJECT","subject":"s","magic":0}   {"subject":"s"}
//! {"keytype":"NOOP","magic":0}                           null
//! ```
//!
//! Invariant: every schema id maps to exactly one (type, canonical text,
//! references); `by_content` is its inverse, so the same schema gets the same id in
//! every subject.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::metadata::MetaState;
use crate::schema::{Reference, SchemaType};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "keytype")]
pub enum Key {
    #[serde(rename = "SCHEMA")]
    Schema {
        subject: String,
        version: i32,
        #[serde(default = "one")]
        magic: i32,
    },
    #[serde(rename = "CONFIG")]
    Config {
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "MODE")]
    Mode {
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "DELETE_SUBJECT")]
    DeleteSubject {
        subject: String,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "CLEAR_SUBJECT")]
    ClearSubject {
        subject: String,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "NOOP")]
    Noop {
        #[serde(default)]
        magic: i32,
    },
    // Schema-metadata keytypes (see `metadata`).
    #[serde(rename = "SCHEMA_METADATA")]
    SchemaMetadata {
        name: String,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "SCHEMA_VERSION_INFO")]
    SchemaVersionInfo {
        name: String,
        version: i32,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "SCHEMA_BRANCH")]
    SchemaBranch {
        name: String,
        branch: String,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "SERDES")]
    Serdes {
        id: i64,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "SERDES_MAPPING")]
    SerdesMapping {
        name: String,
        #[serde(rename = "serdesId")]
        serdes_id: i64,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "FILE")]
    File {
        id: String,
        #[serde(default)]
        magic: i32,
    },
}

fn one() -> i32 {
    1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    #[serde(rename = "schemaType", default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(rename = "ruleSet", default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigValue {
    #[serde(rename = "compatibilityLevel", default, skip_serializing_if = "Option::is_none")]
    pub compatibility_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    /// Fields we do not interpret (kept so they round-trip).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModeValue {
    pub mode: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    pub subject: String,
    #[serde(default)]
    pub version: Option<i32>,
}

/// One version of a subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema_type: SchemaType,
    pub schema: String,
    /// `schema::identity` of `schema`: what "the same schema" compares.
    pub identity: String,
    pub references: Vec<Reference>,
    pub deleted: bool,
    pub metadata: Option<Value>,
    pub rule_set: Option<Value>,
}

/// A schema's content, as ids identify it: its type, canonical text and references.
pub type Content = (SchemaType, String, Vec<Reference>);

/// `Content` with the text replaced by its identity key.
fn identity_of(c: &Content) -> Content {
    (c.0, crate::schema::identity(c.0, &c.1), c.2.clone())
}

#[derive(Default, Debug)]
pub struct State {
    pub subjects: BTreeMap<String, BTreeMap<i32, Version>>,
    pub by_id: BTreeMap<i32, Content>,
    /// Keyed by `identity_of` the content.
    pub by_content: HashMap<Content, i32>,
    pub global_config: Option<ConfigValue>,
    pub subject_config: BTreeMap<String, ConfigValue>,
    pub global_mode: Option<String>,
    pub subject_mode: BTreeMap<String, String>,
    /// How many versions (soft-deleted ones included) use each id.
    live_ids: HashMap<i32, u32>,
    /// Schema metadata, branches, version states, serdes and files.
    pub meta: MetaState,
}

/// Decodes a value into `T` (None: tombstone) and stores or removes it under `k`.
fn put<K: Ord, T: serde::de::DeserializeOwned>(
    map: &mut BTreeMap<K, T>,
    k: K,
    value: Option<&[u8]>,
    what: &str,
) -> Result<(), String> {
    match value {
        None => {
            map.remove(&k);
        }
        Some(v) => {
            let t = serde_json::from_slice(v).map_err(|e| format!("{what}: {e}"))?;
            map.insert(k, t);
        }
    }
    Ok(())
}

impl State {
    /// Applies one record; undecodable ones are skipped (and reported).
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let key: Key = serde_json::from_slice(key).map_err(|e| format!("key: {e}"))?;
        let parse = |v: &[u8]| serde_json::from_slice::<Value>(v).map_err(|e| format!("value: {e}"));
        match key {
            Key::Schema { subject, version, .. } => match value {
                None => {
                    if let Some(vs) = self.subjects.get_mut(&subject) {
                        if let Some(old) = vs.remove(&version) {
                            Self::release(&mut self.live_ids, old.id);
                        }
                        if vs.is_empty() {
                            self.subjects.remove(&subject);
                        }
                    }
                }
                Some(v) => {
                    let v: SchemaValue = serde_json::from_value(parse(v)?).map_err(|e| format!("schema value: {e}"))?;
                    let ty = SchemaType::parse(v.schema_type.as_deref())?;
                    let content: Content = (ty, v.schema.clone(), v.references.clone());
                    let identity = identity_of(&content);
                    self.by_id.entry(v.id).or_insert(content);
                    self.by_content.entry(identity.clone()).or_insert(v.id);
                    *self.live_ids.entry(v.id).or_default() += 1;
                    let replaced = self.subjects.entry(subject.clone()).or_default().insert(
                        version,
                        Version {
                            subject,
                            version,
                            id: v.id,
                            schema_type: ty,
                            schema: v.schema,
                            identity: identity.1,
                            references: v.references,
                            deleted: v.deleted,
                            metadata: v.metadata,
                            rule_set: v.rule_set,
                        },
                    );
                    if let Some(old) = replaced {
                        Self::release(&mut self.live_ids, old.id);
                    }
                }
            },
            Key::Config { subject, .. } => {
                let c = value
                    .map(|v| serde_json::from_value::<ConfigValue>(parse(v)?).map_err(|e| format!("config: {e}")))
                    .transpose()?;
                match (subject, c) {
                    (None, c) => self.global_config = c,
                    (Some(s), Some(c)) => {
                        self.subject_config.insert(s, c);
                    }
                    (Some(s), None) => {
                        self.subject_config.remove(&s);
                    }
                }
            }
            Key::Mode { subject, .. } => {
                let m = value
                    .map(|v| serde_json::from_value::<ModeValue>(parse(v)?).map_err(|e| format!("mode: {e}")))
                    .transpose()?;
                match (subject, m) {
                    (None, m) => self.global_mode = m.map(|m| m.mode),
                    (Some(s), Some(m)) => {
                        self.subject_mode.insert(s, m.mode);
                    }
                    (Some(s), None) => {
                        self.subject_mode.remove(&s);
                    }
                }
            }
            Key::DeleteSubject { subject, .. } => {
                let upto = value
                    .map(|v| {
                        serde_json::from_value::<DeleteSubjectValue>(parse(v)?).map_err(|e| format!("delete: {e}"))
                    })
                    .transpose()?
                    .and_then(|d| d.version);
                if let Some(vs) = self.subjects.get_mut(&subject) {
                    for (n, v) in vs.iter_mut() {
                        if upto.is_none_or(|u| *n <= u) {
                            v.deleted = true;
                        }
                    }
                }
            }
            Key::ClearSubject { subject, .. } => {
                for v in self.subjects.remove(&subject).into_iter().flat_map(|vs| vs.into_values()) {
                    Self::release(&mut self.live_ids, v.id);
                }
            }
            Key::Noop { .. } => {}
            Key::SchemaMetadata { name, .. } => put(&mut self.meta.schemas, name, value, "schema metadata")?,
            Key::SchemaVersionInfo { name, version, .. } => {
                put(&mut self.meta.versions, (name, version), value, "version info")?
            }
            Key::SchemaBranch { name, branch, .. } => put(&mut self.meta.branches, (name, branch), value, "branch")?,
            Key::Serdes { id, .. } => put(&mut self.meta.serdes, id, value, "serdes")?,
            Key::SerdesMapping { name, serdes_id, .. } => {
                if value.is_some() {
                    self.meta.mappings.insert((name, serdes_id));
                } else {
                    self.meta.mappings.remove(&(name, serdes_id));
                }
            }
            Key::File { id, .. } => put(&mut self.meta.files, id, value, "file")?,
        }
        Ok(())
    }

    /// Next id for a new schema content: one above every id ever seen.
    pub fn next_id(&self) -> i32 {
        let confluent = self.by_id.keys().next_back().copied().unwrap_or(0);
        let branches = self.meta.versions.values().filter_map(|v| v.schema_id).max().unwrap_or(0);
        confluent.max(branches) + 1
    }

    /// The id a schema content already has: registered, or on a branch version.
    pub fn content_id(&self, content: &Content) -> Option<i32> {
        let key = identity_of(content);
        self.by_content.get(&key).copied().or_else(|| {
            // Branch versions: the cheap checks first, the identity (a parse) last.
            if !content.2.is_empty() {
                return None;
            }
            self.meta.versions.values().find_map(|v| {
                let text = v.schema_text.as_deref()?;
                if SchemaType::parse(v.schema_type.as_deref()).ok() != Some(content.0) {
                    return None;
                }
                (crate::schema::identity(content.0, text) == key.1).then_some(v.schema_id).flatten()
            })
        })
    }

    /// The number the next version of `subject` gets: above every version on any
    /// branch.
    pub fn next_version(&self, subject: &str) -> i32 {
        let confluent = self.subjects.get(subject).and_then(|vs| vs.keys().next_back().copied()).unwrap_or(0);
        let branches = self
            .meta
            .versions
            .range((subject.to_string(), i32::MIN)..)
            .take_while(|((n, _), _)| n == subject)
            .map(|((_, v), _)| *v)
            .max()
            .unwrap_or(0);
        confluent.max(branches) + 1
    }

    fn release(live: &mut HashMap<i32, u32>, id: i32) {
        if let Some(n) = live.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                live.remove(&id);
            }
        }
    }

    /// Whether any version not permanently deleted uses `id`.
    pub fn id_in_use(&self, id: i32) -> bool {
        self.live_ids.contains_key(&id)
    }

    pub fn versions(&self, subject: &str) -> Option<&BTreeMap<i32, Version>> {
        self.subjects.get(subject)
    }

    /// Live versions of a subject (soft-deleted ones only with `deleted`).
    pub fn live(&self, subject: &str, deleted: bool) -> Vec<&Version> {
        self.subjects.get(subject).map(|vs| vs.values().filter(|v| deleted || !v.deleted).collect()).unwrap_or_default()
    }

    /// Live versions of other subjects whose references point at (subject, version).
    pub fn referenced_by(&self, subject: &str, version: i32) -> Vec<&Version> {
        self.subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| !v.deleted && v.references.iter().any(|r| r.subject == subject && r.version == version))
            .collect()
    }

    /// Whether any version, soft-deleted ones included, refers to (subject,
    /// version): as in Confluent, only a permanent delete of the referrer frees the
    /// referenced version for deletion.
    pub fn is_referenced(&self, subject: &str, version: i32) -> bool {
        self.subjects
            .values()
            .flat_map(|vs| vs.values())
            .any(|v| v.references.iter().any(|r| r.subject == subject && r.version == version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn applies_confluent_records() {
        use serde_json::json;
        let mut s = State::default();
        let schema = json!({"subject": "a", "version": 1, "id": 3, "schema": "\"string\"", "deleted": false});
        s.apply(&k(json!({"keytype": "SCHEMA", "subject": "a", "version": 1, "magic": 1})), Some(&k(schema))).unwrap();
        let json_schema = json!({"subject": "b", "version": 1, "id": 4, "schemaType": "JSON", "schema": "{}"});
        s.apply(&k(json!({"keytype": "SCHEMA", "subject": "b", "version": 1, "magic": 1})), Some(&k(json_schema)))
            .unwrap();
        assert_eq!(s.next_id(), 5);
        assert_eq!(s.by_id[&4].0, SchemaType::Json);
        s.apply(
            &k(json!({"keytype": "CONFIG", "subject": null, "magic": 0})),
            Some(&k(json!({"compatibilityLevel": "FULL"}))),
        )
        .unwrap();
        assert_eq!(s.global_config.as_ref().unwrap().compatibility_level.as_deref(), Some("FULL"));
        s.apply(&k(json!({"keytype": "MODE", "subject": "a", "magic": 0})), Some(&k(json!({"mode": "READONLY"}))))
            .unwrap();
        assert_eq!(s.subject_mode["a"], "READONLY");
        s.apply(
            &k(json!({"keytype": "DELETE_SUBJECT", "subject": "a", "magic": 0})),
            Some(&k(json!({"subject": "a", "version": 1}))),
        )
        .unwrap();
        assert!(s.live("a", false).is_empty() && s.live("a", true).len() == 1);
        s.apply(&k(json!({"keytype": "SCHEMA", "subject": "a", "version": 1, "magic": 1})), None).unwrap();
        assert!(s.versions("a").is_none());
        assert!(!s.id_in_use(3) && s.id_in_use(4));
        s.apply(&k(json!({"keytype": "NOOP", "magic": 0})), None).unwrap();
        assert!(s.apply(b"not json", None).is_err());
        assert!(s.apply(&k(json!({"keytype": "SOMETHING_NEW"})), None).is_err());
    }
}
