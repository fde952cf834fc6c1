//! The model as this API shows it: metadata, versions with their ids and
//! states, branches, fingerprints; and the records a new version adds.

use super::*;

/// Cloudera's (compatibility, validationLevel) for one of our levels.
pub(super) fn hw_compat(level: Level, stored_validation: &str) -> (&'static str, String) {
    match level {
        Level::None => ("NONE", stored_validation.to_string()),
        Level::Backward => ("BACKWARD", "LATEST".into()),
        Level::BackwardTransitive => ("BACKWARD", "ALL".into()),
        Level::Forward => ("FORWARD", "LATEST".into()),
        Level::ForwardTransitive => ("FORWARD", "ALL".into()),
        Level::Full => ("BOTH", "LATEST".into()),
        Level::FullTransitive => ("BOTH", "ALL".into()),
    }
}

pub(super) fn our_level(compat: &str, validation: &str) -> Result<Level, HwError> {
    let all = match validation.to_ascii_uppercase().as_str() {
        "ALL" => true,
        "LATEST" => false,
        other => return Err(HwError::bad_request(format!("Unknown validationLevel '{other}': LATEST or ALL"))),
    };
    Ok(match (compat.to_ascii_uppercase().as_str(), all) {
        ("NONE", _) => Level::None,
        ("BACKWARD", false) => Level::Backward,
        ("BACKWARD", true) => Level::BackwardTransitive,
        ("FORWARD", false) => Level::Forward,
        ("FORWARD", true) => Level::ForwardTransitive,
        ("BOTH", false) => Level::Full,
        ("BOTH", true) => Level::FullTransitive,
        (other, _) => {
            return Err(HwError::bad_request(format!(
                "Unknown compatibility '{other}': NONE, BACKWARD, FORWARD or BOTH"
            )))
        }
    })
}

pub(super) fn schema_type_of(m: &MetadataValue) -> Result<SchemaType, HwError> {
    SchemaType::parse(Some(&m.schema_type)).map_err(|_| HwError::unsupported_type(&m.schema_type))
}

pub(super) fn metadata_json(st: &State, name: &str, m: &MetadataValue) -> Value {
    let (compat, validation) = hw_compat(level_of(st, Some(name)), &m.validation_level);
    json!({
        "schemaMetadata": {
            "type": m.schema_type, "schemaGroup": m.schema_group, "name": name,
            "description": m.description, "compatibility": compat,
            "validationLevel": validation, "evolve": m.evolve,
        },
        "id": m.id,
        "timestamp": m.timestamp,
    })
}

pub(super) fn find_meta<'a>(st: &'a State, name: &str) -> Result<&'a MetadataValue, HwError> {
    st.meta.schemas.get(name).ok_or_else(|| HwError::not_found(name))
}

/// One version as this API shows it.
#[derive(Clone, Debug)]
pub(super) struct MetaVersion {
    pub(super) id: i64,
    pub(super) metadata_id: i64,
    pub(super) name: String,
    pub(super) version: i32,
    pub(super) branch: String,
    pub(super) schema_type: SchemaType,
    pub(super) text: String,
    pub(super) state_id: u8,
    pub(super) description: String,
    pub(super) timestamp: i64,
    pub(super) merge_info: Option<Value>,
}

pub(super) fn version_json(v: &MetaVersion) -> Value {
    json!({
        "id": v.id, "schemaMetadataId": v.metadata_id, "name": v.name,
        "description": v.description, "version": v.version, "schemaText": v.text,
        "timestamp": v.timestamp, "stateId": v.state_id, "mergeInfo": v.merge_info,
    })
}

pub(super) fn meta_version(st: &State, name: &str, version: i32, info: &VersionInfoValue) -> Option<MetaVersion> {
    let metadata_id = st.meta.schemas.get(name).map_or(0, |m| m.id);
    let (schema_type, text, state_id) = if info.branch == MASTER {
        let v = st.subjects.get(name)?.get(&version)?;
        // A version soft-deleted through the Confluent API shows as DELETED here.
        let state = if v.deleted { metadata::DELETED } else { info.state_id };
        (v.schema_type, v.schema.clone(), state)
    } else {
        let ty = SchemaType::parse(info.schema_type.as_deref()).ok()?;
        info.schema_id?;
        (ty, info.schema_text.clone()?, info.state_id)
    };
    Some(MetaVersion {
        id: info.id,
        metadata_id,
        name: name.to_string(),
        version,
        branch: info.branch.clone(),
        schema_type,
        text,
        state_id,
        description: info.description.clone(),
        timestamp: info.timestamp,
        merge_info: info.merge_info.clone(),
    })
}

/// Every version of a schema, on every branch, in version order.
pub(super) fn all_versions(st: &State, name: &str) -> Vec<MetaVersion> {
    st.meta
        .versions
        .range((name.to_string(), i32::MIN)..)
        .take_while(|((n, _), _)| n == name)
        .filter_map(|((n, v), info)| meta_version(st, n, *v, info))
        .collect()
}

/// The versions a branch holds: MASTER's own, or for another branch the MASTER
/// versions up to the one it was forked from, then its own.
pub(super) fn branch_versions(st: &State, name: &str, branch: &str) -> Result<Vec<MetaVersion>, HwError> {
    let b = st
        .meta
        .branches
        .get(&(name.to_string(), branch.to_string()))
        .ok_or_else(|| HwError::not_found(format!("{name}, branch {branch}")))?;
    let all = all_versions(st, name);
    Ok(all
        .into_iter()
        .filter(|v| v.branch == branch || (v.branch == MASTER && b.root_version.is_some_and(|r| v.version <= r)))
        .collect())
}

/// The same, newest first (how lists show them).
pub(super) fn newest_first(mut vs: Vec<MetaVersion>) -> Vec<MetaVersion> {
    vs.reverse();
    vs
}

pub(super) fn version_by_id(st: &State, id: i64) -> Result<MetaVersion, HwError> {
    let ((name, version), info) = st.meta.version_by_id(id).ok_or_else(|| HwError::not_found(id))?;
    meta_version(st, name, *version, info).ok_or_else(|| HwError::not_found(id))
}

/// Lowercase hex MD5 of the schema's canonical form: equal for equal schemas.
pub(super) fn fingerprint(v: &MetaVersion) -> String {
    use md5::Digest;
    // Avro: the Parsing Canonical Form, so formatting, docs and defaults do not
    // count (what Cloudera's registry fingerprints); other types: the canonical text.
    let text = match v.schema_type {
        SchemaType::Avro => serde_json::from_str(&v.text)
            .map(|j| crate::canonical::avro_parsing_canonical(&j))
            .unwrap_or_else(|_| v.text.clone()),
        _ => v.text.clone(),
    };
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn branch_json(name: &str, branch: &str, b: &BranchValue) -> Value {
    json!({"id": b.id, "name": branch, "schemaMetadataName": name, "description": b.description, "timestamp": b.timestamp})
}

pub(super) fn branches_of<'a>(st: &'a State, name: &str) -> Vec<(&'a str, &'a BranchValue)> {
    st.meta
        .branches
        .range((name.to_string(), String::new())..)
        .take_while(|((n, _), _)| n == name)
        .map(|((_, b), v)| (b.as_str(), v))
        .collect()
}

pub(super) fn aggregated_json(st: &State, name: &str, m: &MetadataValue) -> Value {
    let mut o = metadata_json(st, name, m);
    let branches: Vec<Value> = branches_of(st, name)
        .into_iter()
        .map(|(b, bv)| {
            let versions: Vec<Value> =
                newest_first(branch_versions(st, name, b).unwrap_or_default()).iter().map(version_json).collect();
            // The root is named by its version id.
            let root = bv.root_version.and_then(|r| st.meta.versions.get(&(name.to_string(), r))).map(|i| i.id);
            json!({"schemaBranch": branch_json(name, b, bv), "rootSchemaVersion": root, "schemaVersionInfos": versions})
        })
        .collect();
    o["schemaBranches"] = json!(branches);
    let serdes: Vec<Value> = st
        .meta
        .mappings
        .iter()
        .filter(|(n, _)| n == name)
        .filter_map(|(_, id)| st.meta.serdes.get(id).map(|s| serdes_json(*id, s)))
        .collect();
    o["serDesInfos"] = json!(serdes);
    o
}

/// Parses `text` as a version of schema `name`: its canonical text, and why it
/// does not fit the Enabled versions among `against` (empty: it fits).
pub(super) fn parse_and_check(
    st: &State,
    name: &str,
    ty: SchemaType,
    text: &str,
    against: &[MetaVersion],
) -> Result<(String, Vec<String>), HwError> {
    let (canonical, parsed) = parse_schema(st, ty, text, &[]).map_err(|e| HwError::invalid_schema(e.message))?;
    // Only enabled versions are what serializers use, so only they constrain.
    let live: Vec<&MetaVersion> = against.iter().filter(|v| v.state_id == metadata::ENABLED).collect();
    let mut prev = Vec::new();
    for v in live {
        let (_, p) = parse_schema(st, v.schema_type, &v.text, &[]).map_err(HwError::from)?;
        prev.push((v.version, p, v.text.clone()));
    }
    let msgs = check_compat(level_of(st, Some(name)), &parsed, &prev);
    Ok((canonical, msgs))
}

/// The records that add version `version` of `name` on `branch`.
#[allow(clippy::too_many_arguments)]
pub(super) fn version_records(
    st: &State,
    name: &str,
    branch: &str,
    ty: SchemaType,
    canonical: String,
    description: String,
    state_id: u8,
    merge_info: Option<Value>,
    now: i64,
) -> (Vec<Change>, i32, i64) {
    let content = (ty, canonical.clone(), vec![]);
    let schema_id = st.content_id(&content).unwrap_or_else(|| st.next_id());
    let version = st.next_version(name);
    let version_id = st.meta.next_version_id();
    let master = branch == MASTER;
    let mut out = Vec::new();
    if master {
        let value = SchemaValue {
            subject: name.to_string(),
            version,
            id: schema_id,
            schema_type: (ty != SchemaType::Avro).then(|| ty.name().to_string()),
            references: vec![],
            schema: canonical.clone(),
            deleted: false,
            metadata: None,
            rule_set: None,
        };
        out.push((Key::Schema { subject: name.to_string(), version, magic: 1 }, val(&value)));
    }
    let info = VersionInfoValue {
        id: version_id,
        branch: branch.to_string(),
        state_id,
        description,
        timestamp: now,
        schema_id: (!master).then_some(schema_id),
        schema_text: (!master).then_some(canonical),
        schema_type: (!master).then(|| ty.name().to_string()),
        merge_info,
    };
    out.push((Key::SchemaVersionInfo { name: name.to_string(), version, magic: 0 }, val(&info)));
    (out, version, version_id)
}
