//! The schema-metadata model (Cloudera/Hortonworks style) that sits beside the
//! Confluent subjects in the same `_schemas` topic. A schema metadata *is* a
//! subject: its MASTER branch's versions are the subject's versions (the SCHEMA
//! records), and the compatibility setting is the subject's CONFIG record, so the
//! two APIs always agree. What Confluent's format has no room for is kept in
//! further keytypes:
//!
//! ```text
//! {"keytype":"SCHEMA_METADATA","name":"s","magic":0}
//!     {"id":1,"type":"avro","schemaGroup":"Kafka","description":"..","evolve":true,
//!      "validationLevel":"ALL","timestamp":1700000000000}            | null
//! {"keytype":"SCHEMA_VERSION_INFO","name":"s","version":3,"magic":0}
//!     {"id":12,"branch":"MASTER","stateId":5,"description":"..","timestamp":..,
//!      "schemaId":7,"schemaText":"..","schemaType":"AVRO","mergeInfo":null}   | null
//! {"keytype":"SCHEMA_BRANCH","name":"s","branch":"b1","magic":0}
//!     {"id":4,"description":"..","timestamp":..,"rootVersion":2}        | null
//! {"keytype":"SERDES","id":3,"magic":0}        {"name":..,"fileId":..,...}   | null
//! {"keytype":"SERDES_MAPPING","name":"s","serdesId":3,"magic":0}  {}        | null
//! {"keytype":"FILE","id":"5","magic":0}        {"name":..,"data":"<base64>"}  | null
//! ```
//!
//! Invariants: version numbers are unique per schema across all branches (a
//! branch version takes the next number, so the subject's MASTER versions may
//! have gaps, as after permanent deletes); every version has a global version id;
//! MASTER versions keep their text only in the SCHEMA record, branch versions in
//! their SCHEMA_VERSION_INFO (they are invisible to the Confluent API). Versions
//! that the Confluent API (or another tool) wrote get their info records added
//! by the store ("adoption") right after the write that created them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MASTER: &str = "MASTER";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetadataValue {
    pub id: i64,
    #[serde(rename = "type")]
    pub schema_type: String,
    #[serde(rename = "schemaGroup", default)]
    pub schema_group: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub evolve: bool,
    #[serde(rename = "validationLevel", default = "all")]
    pub validation_level: String,
    #[serde(default)]
    pub timestamp: i64,
}

fn yes() -> bool {
    true
}

fn all() -> String {
    "ALL".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionInfoValue {
    pub id: i64,
    pub branch: String,
    #[serde(rename = "stateId")]
    pub state_id: u8,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub timestamp: i64,
    /// Only for branch versions (MASTER ones read theirs from the SCHEMA record).
    #[serde(rename = "schemaId", default, skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<i32>,
    #[serde(rename = "schemaText", default, skip_serializing_if = "Option::is_none")]
    pub schema_text: Option<String>,
    #[serde(rename = "schemaType", default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    #[serde(rename = "mergeInfo", default, skip_serializing_if = "Option::is_none")]
    pub merge_info: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchValue {
    pub id: i64,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub timestamp: i64,
    /// The version the branch was forked from (None for MASTER).
    #[serde(rename = "rootVersion", default, skip_serializing_if = "Option::is_none")]
    pub root_version: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SerdesValue {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "fileId")]
    pub file_id: String,
    #[serde(rename = "serializerClassName")]
    pub serializer_class_name: String,
    #[serde(rename = "deserializerClassName")]
    pub deserializer_class_name: String,
    #[serde(default)]
    pub timestamp: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileValue {
    pub name: String,
    /// The file's bytes, base64 (standard alphabet, padded).
    pub data: String,
}

/// The metadata side of the state (see `state::State::meta`).
#[derive(Default, Debug)]
pub struct MetaState {
    pub schemas: BTreeMap<String, MetadataValue>,
    /// (schema name, version number) → info.
    pub versions: BTreeMap<(String, i32), VersionInfoValue>,
    /// (schema name, branch name) → branch.
    pub branches: BTreeMap<(String, String), BranchValue>,
    pub serdes: BTreeMap<i64, SerdesValue>,
    /// (schema name, serdes id).
    pub mappings: std::collections::BTreeSet<(String, i64)>,
    pub files: BTreeMap<String, FileValue>,
}

fn next<'a>(ids: impl Iterator<Item = &'a i64>) -> i64 {
    ids.max().map_or(1, |m| m + 1)
}

impl MetaState {
    pub fn next_schema_id(&self) -> i64 {
        next(self.schemas.values().map(|m| &m.id))
    }
    pub fn next_version_id(&self) -> i64 {
        next(self.versions.values().map(|v| &v.id))
    }
    pub fn next_branch_id(&self) -> i64 {
        next(self.branches.values().map(|b| &b.id))
    }
    pub fn next_serdes_id(&self) -> i64 {
        next(self.serdes.keys())
    }
    pub fn next_file_id(&self) -> String {
        self.files.keys().filter_map(|k| k.parse::<i64>().ok()).max().map_or(1, |m| m + 1).to_string()
    }
    pub fn version_by_id(&self, id: i64) -> Option<(&(String, i32), &VersionInfoValue)> {
        self.versions.iter().find(|(_, v)| v.id == id)
    }
    pub fn branch_by_id(&self, id: i64) -> Option<(&(String, String), &BranchValue)> {
        self.branches.iter().find(|(_, b)| b.id == id)
    }
}

/// Version lifecycle states: (id, name, description). Ids and names are the
/// ones Cloudera's clients know.
pub const STATES: &[(u8, &str, &str)] = &[
    (1, "INITIATED", "New; can be reviewed or enabled"),
    (2, "StartReview", "Review requested"),
    (3, "ChangesRequired", "Review asked for changes"),
    (4, "Reviewed", "Review passed"),
    (5, "Enabled", "In use: serializers may write with it"),
    (6, "Disabled", "Not to be used for now"),
    (7, "Archived", "Retired for good (terminal)"),
    (8, "Deleted", "Removed (terminal)"),
    (32, "InReview", "Being reviewed"),
];

pub const INITIATED: u8 = 1;
pub const CHANGES_REQUIRED: u8 = 3;
pub const REVIEWED: u8 = 4;
pub const ENABLED: u8 = 5;
pub const DISABLED: u8 = 6;
pub const ARCHIVED: u8 = 7;
pub const DELETED: u8 = 8;
pub const IN_REVIEW: u8 = 32;

/// The transitions the state machine publishes (and `/state/{targetStateId}`
/// follows): (from, to, name).
pub const TRANSITIONS: &[(u8, u8, &str)] = &[
    (1, 2, "StartReview"),
    (1, 7, "Archive"),
    (1, 8, "Delete"),
    (3, 2, "StartReview"),
    (3, 8, "Delete"),
    (4, 5, "Enable"),
    (4, 7, "Archive"),
    (5, 6, "Disable"),
    (5, 7, "Archive"),
    (6, 5, "Enable"),
    (6, 7, "Archive"),
    (32, 4, "FinishReview"),
    (32, 3, "ChangesRequired"),
];

/// The named actions (`/state/enable`, ...): (name, allowed from, target). They
/// differ from the table above as Cloudera's do: enable works from INITIATED, and
/// a review goes straight to InReview.
pub const ACTIONS: &[(&str, &[u8], u8)] = &[
    ("enable", &[INITIATED, REVIEWED, DISABLED], ENABLED),
    ("disable", &[ENABLED], DISABLED),
    ("archive", &[REVIEWED, ENABLED, DISABLED], ARCHIVED),
    ("delete", &[INITIATED, CHANGES_REQUIRED, ARCHIVED], DELETED),
    ("startReview", &[INITIATED, 2, CHANGES_REQUIRED], IN_REVIEW),
];

/// The target of `action` (a name, or a target state id) from state `from`, if
/// allowed. Reaching StartReview means being in review.
pub fn transition(from: u8, action: &str) -> Option<u8> {
    if let Ok(to) = action.parse::<u8>() {
        let to = TRANSITIONS.iter().find(|t| t.0 == from && t.1 == to).map(|t| t.1)?;
        return Some(if to == 2 { IN_REVIEW } else { to });
    }
    ACTIONS.iter().find(|(name, allowed, _)| name.eq_ignore_ascii_case(action) && allowed.contains(&from)).map(|a| a.2)
}

pub fn state_name(id: u8) -> &'static str {
    STATES.iter().find(|s| s.0 == id).map_or("UNKNOWN", |s| s.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::store::adoption;
    use serde_json::json;

    fn k(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn transitions_follow_the_lifecycle() {
        assert_eq!(transition(INITIATED, "enable"), Some(ENABLED));
        assert_eq!(transition(INITIATED, "startReview"), Some(IN_REVIEW));
        assert_eq!(transition(INITIATED, "2"), Some(IN_REVIEW), "StartReview by id lands in review too");
        assert_eq!(transition(IN_REVIEW, "4"), Some(REVIEWED));
        assert_eq!(transition(REVIEWED, "enable"), Some(ENABLED));
        assert_eq!(transition(ENABLED, "disable"), Some(DISABLED));
        assert_eq!(transition(DISABLED, "enable"), Some(ENABLED));
        assert_eq!(transition(ENABLED, "delete"), None, "an enabled version is archived before it is deleted");
        assert_eq!(transition(ARCHIVED, "delete"), Some(DELETED));
        assert_eq!(transition(ARCHIVED, "enable"), None, "archived is terminal for use");
        assert_eq!(transition(INITIATED, "5"), None, "the published table has no INITIATED -> Enabled");
        assert_eq!(transition(ENABLED, "bogus"), None);
        assert!(TRANSITIONS
            .iter()
            .all(|(f, t, _)| STATES.iter().any(|s| s.0 == *f) && STATES.iter().any(|s| s.0 == *t)));
    }

    #[test]
    fn confluent_versions_are_adopted_once_and_orphans_dropped() {
        let mut s = State::default();
        let schema = json!({"subject": "a", "version": 1, "id": 3, "schema": "\"string\""});
        s.apply(&k(json!({"keytype": "SCHEMA", "subject": "a", "version": 1, "magic": 1})), Some(&k(schema))).unwrap();
        let changes = adoption(&s, 42);
        assert_eq!(changes.len(), 3, "metadata, MASTER branch, version info: {changes:?}");
        for (key, value) in &changes {
            let v = value.as_ref().map(|v| serde_json::to_vec(v).unwrap());
            s.apply(&serde_json::to_vec(key).unwrap(), v.as_deref()).unwrap();
        }
        assert!(adoption(&s, 43).is_empty(), "nothing left to adopt");
        assert_eq!(s.meta.schemas["a"].schema_type, "avro");
        assert_eq!(s.meta.versions[&("a".to_string(), 1)].state_id, ENABLED);
        assert_eq!(s.next_version("a"), 2);
        // A branch version reserves its number and its schema id.
        let info =
            json!({"id": 9, "branch": "b", "stateId": 1, "schemaId": 4, "schemaText": "\"int\"", "schemaType": "AVRO"});
        s.apply(&k(json!({"keytype": "SCHEMA_VERSION_INFO", "name": "a", "version": 2})), Some(&k(info))).unwrap();
        assert_eq!((s.next_version("a"), s.next_id(), s.meta.next_version_id()), (3, 5, 10));
        assert_eq!(s.content_id(&(crate::schema::SchemaType::Avro, "\"int\"".into(), vec![])), Some(4));
        // The Confluent version deleted for good: its info goes too.
        s.apply(&k(json!({"keytype": "SCHEMA", "subject": "a", "version": 1, "magic": 1})), None).unwrap();
        let drop = adoption(&s, 44);
        assert_eq!(drop.len(), 1);
        assert!(drop[0].1.is_none(), "a tombstone for the orphaned MASTER info");
    }

    #[test]
    fn base64_round_trips() {
        use crate::proto::base64::{decode as base64_decode, encode as base64_encode};
        for n in 0..40usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let text = base64_encode(&bytes);
            assert_eq!(text.len() % 4, 0);
            assert_eq!(base64_decode(&text).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
    }
}
