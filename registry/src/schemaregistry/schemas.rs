//! Schema metadata: create, list (filtered, aggregated), get, update, delete.

use super::*;

#[derive(Deserialize)]
pub(super) struct MetadataBody {
    #[serde(rename = "type", default)]
    pub(super) schema_type: Option<String>,
    #[serde(rename = "schemaGroup", default)]
    pub(super) schema_group: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) compatibility: Option<String>,
    #[serde(rename = "validationLevel", default)]
    pub(super) validation_level: Option<String>,
    #[serde(default)]
    pub(super) evolve: Option<bool>,
}

#[derive(Deserialize, Default)]
pub(super) struct CreateQ {
    #[serde(rename = "_throwErrorIfExists", default, deserialize_with = "crate::confluent::lenient_bool")]
    pub(super) throw_if_exists: bool,
}

/// The records that set schema `name`'s metadata (and its compatibility level).
pub(super) fn metadata_records(
    st: &State,
    name: &str,
    b: &MetadataBody,
    existing: Option<&MetadataValue>,
    now: i64,
) -> Result<Vec<Change>, HwError> {
    let schema_type = b
        .schema_type
        .clone()
        .or_else(|| existing.map(|e| e.schema_type.clone()))
        .ok_or_else(|| HwError::missing("type"))?
        .to_ascii_lowercase();
    SchemaType::parse(Some(&schema_type)).map_err(|_| HwError::unsupported_type(&schema_type))?;
    if let Some(e) = existing {
        if e.schema_type != schema_type && st.subjects.contains_key(name) {
            return Err(HwError::bad_request("The type of a schema with versions cannot change"));
        }
    }
    let (cur_compat, cur_validation) =
        hw_compat(level_of(st, Some(name)), existing.map_or("ALL", |e| e.validation_level.as_str()));
    let validation =
        b.validation_level.clone().unwrap_or_else(|| if existing.is_some() { cur_validation } else { "ALL".into() });
    let compat = b.compatibility.clone().unwrap_or_else(|| {
        if existing.is_some() {
            cur_compat.to_string()
        } else {
            hw_compat(DEFAULT_LEVEL, "ALL").0.to_string()
        }
    });
    let level = our_level(&compat, &validation)?;
    let m = MetadataValue {
        id: existing.map_or_else(|| st.meta.next_schema_id(), |e| e.id),
        schema_type,
        schema_group: b
            .schema_group
            .clone()
            .or_else(|| existing.map(|e| e.schema_group.clone()))
            .unwrap_or_else(|| "Kafka".into()),
        description: b.description.clone().or_else(|| existing.map(|e| e.description.clone())).unwrap_or_default(),
        evolve: b.evolve.or(existing.map(|e| e.evolve)).unwrap_or(true),
        validation_level: validation.to_ascii_uppercase(),
        timestamp: existing.map_or(now, |e| e.timestamp),
    };
    let mut out = vec![(Key::SchemaMetadata { name: name.to_string(), magic: 0 }, val(&m))];
    let mut config = st.subject_config.get(name).cloned().unwrap_or_default();
    if config.compatibility_level.as_deref() != Some(level.name()) {
        config.compatibility_level = Some(level.name().to_string());
        out.push((Key::Config { subject: Some(name.to_string()), magic: 0 }, val::<ConfigValue>(&config)));
    }
    if !st.meta.branches.contains_key(&(name.to_string(), MASTER.to_string())) {
        let b = BranchValue {
            id: st.meta.next_branch_id(),
            description: "MASTER branch".into(),
            timestamp: now,
            root_version: None,
        };
        out.push((Key::SchemaBranch { name: name.to_string(), branch: MASTER.into(), magic: 0 }, val(&b)));
    }
    Ok(out)
}

/// Names that would be shadowed by the API's own paths are reserved.
pub(super) const RESERVED: &[&str] = &["aggregate", "aggregated", "versions", "compatibility"];

pub(super) fn check_name(name: &str) -> Result<(), HwError> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(HwError::missing("name"));
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name.trim())) {
        return Err(HwError { status: 400, code: 1103, message: format!("The schema name [{name}] is reserved") });
    }
    Ok(())
}

pub(super) async fn create_schema(AxState(app): AxState<App>, headers: HeaderMap, Q(q): Q<CreateQ>, raw: Bytes) -> R {
    let b: MetadataBody = body(&raw)?;
    // Cloudera's clients send the flag as a header; a query parameter works too.
    let throw_if_exists = q.throw_if_exists
        || headers
            .get("_throwErrorIfExists")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let name = b.name.clone().unwrap_or_default();
    check_name(&name)?;
    let now = app.now_ms();
    let id = write_hw(&app, move |st| {
        if let Some(m) = st.meta.schemas.get(&name) {
            if throw_if_exists {
                return Err(HwError::conflict(400, format!("Schema with name [{name}] already exists")));
            }
            return Ok((vec![], m.id));
        }
        let changes = metadata_records(st, &name, &b, None, now)?;
        tracing::info!(schema = %name, "schema metadata created");
        let id = st.meta.next_schema_id();
        Ok((changes, id))
    })
    .await?;
    created(json!(id))
}

#[derive(Deserialize, Default)]
pub(super) struct FilterQ {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(rename = "schemaGroup", default)]
    pub(super) schema_group: Option<String>,
    #[serde(rename = "type", default)]
    pub(super) schema_type: Option<String>,
    #[serde(rename = "_orderByFields", default)]
    pub(super) order_by: Option<String>,
}

impl FilterQ {
    /// Listing: every given field matches exactly.
    fn matches(&self, name: &str, m: &MetadataValue) -> bool {
        let is = |have: &str, want: &Option<String>| want.as_ref().is_none_or(|w| w == have);
        is(name, &self.name)
            && is(&m.description, &self.description)
            && is(&m.schema_group, &self.schema_group)
            && self.schema_type.as_ref().is_none_or(|t| t.eq_ignore_ascii_case(&m.schema_type))
    }

    /// Search: the name contains `name`, or the description contains
    /// `description` (case-insensitive); neither given finds nothing.
    fn found(&self, name: &str, m: &MetadataValue) -> bool {
        let has = |hay: &str, needle: &Option<String>| {
            needle
                .as_ref()
                .filter(|n| !n.trim().is_empty())
                .is_some_and(|n| hay.to_lowercase().contains(&n.to_lowercase()))
        };
        has(name, &self.name) || has(&m.description, &self.description)
    }

    /// `_orderByFields=timestamp,d,name,a`: field/direction pairs.
    fn sort(&self, items: &mut [(String, &MetadataValue)]) {
        let spec: Vec<&str> = self
            .order_by
            .as_deref()
            .filter(|o| !o.is_empty())
            .unwrap_or("timestamp,d")
            .split(',')
            .map(str::trim)
            .collect();
        for pair in spec.chunks(2).rev() {
            let desc = pair.get(1).is_some_and(|d| d.eq_ignore_ascii_case("d"));
            items.sort_by(|(an, a), (bn, b)| {
                let o = match pair[0] {
                    "timestamp" => a.timestamp.cmp(&b.timestamp),
                    "id" => a.id.cmp(&b.id),
                    "description" => a.description.cmp(&b.description),
                    _ => an.cmp(bn),
                };
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
    }
}

pub(super) fn filtered<'a>(st: &'a State, q: &FilterQ, search: bool) -> Vec<(String, &'a MetadataValue)> {
    let mut items: Vec<(String, &MetadataValue)> = st
        .meta
        .schemas
        .iter()
        .filter(|(n, m)| if search { q.found(n, m) } else { q.matches(n, m) })
        .map(|(n, m)| (n.clone(), m))
        .collect();
    q.sort(&mut items);
    items
}

pub(super) async fn list_schemas(AxState(app): AxState<App>, Q(q): Q<FilterQ>) -> R {
    listing(&app, &q, false, false)
}

pub(super) fn listing(app: &App, q: &FilterQ, search: bool, aggregated: bool) -> R {
    let out = read(app, |st| {
        Ok(filtered(st, q, search)
            .iter()
            .map(|(n, m)| if aggregated { aggregated_json(st, n, m) } else { metadata_json(st, n, m) })
            .collect())
    })?;
    entities(out)
}

pub(super) async fn list_aggregated(AxState(app): AxState<App>, Q(q): Q<FilterQ>) -> R {
    listing(&app, &q, false, true)
}

pub(super) async fn get_schema(AxState(app): AxState<App>, P(name): P<String>) -> R {
    ok(read(&app, |st| find_meta(st, &name).map(|m| metadata_json(st, &name, m)))?)
}

pub(super) async fn get_aggregated(AxState(app): AxState<App>, P(name): P<String>) -> R {
    ok(read(&app, |st| find_meta(st, &name).map(|m| aggregated_json(st, &name, m)))?)
}

pub(super) async fn update_schema(AxState(app): AxState<App>, P(name): P<String>, raw: Bytes) -> R {
    let b: MetadataBody = body(&raw)?;
    if b.name.as_ref().is_some_and(|n| n != &name) {
        return Err(HwError::bad_request("The name in the body differs from the one in the path"));
    }
    let n = name.clone();
    let now = app.now_ms();
    write_hw(&app, move |st| {
        let existing = find_meta(st, &n)?.clone();
        Ok((metadata_records(st, &n, &b, Some(&existing), now)?, ()))
    })
    .await?;
    ok(read(&app, |st| find_meta(st, &name).map(|m| metadata_json(st, &name, m)))?)
}

/// Deletes a schema and everything of it: versions on all branches, branches,
/// config, mappings.
pub(super) async fn delete_schema(AxState(app): AxState<App>, P(name): P<String>) -> R {
    write_hw(&app, move |st| {
        find_meta(st, &name)?;
        if let Some(vs) = st.versions(&name) {
            for v in vs.values() {
                let users = st.referenced_by(&name, v.version);
                if !users.is_empty() {
                    return Err(HwError::bad_request(format!(
                        "Version {} of {name} is referenced by schema id {}",
                        v.version, users[0].id
                    )));
                }
            }
        }
        let mut out: Vec<Change> = Vec::new();
        for v in st.versions(&name).into_iter().flat_map(|vs| vs.keys()) {
            out.push((Key::Schema { subject: name.clone(), version: *v, magic: 1 }, None));
        }
        for (n, v) in st.meta.versions.keys().filter(|(n, _)| *n == name) {
            out.push((Key::SchemaVersionInfo { name: n.clone(), version: *v, magic: 0 }, None));
        }
        for (b, _) in branches_of(st, &name) {
            out.push((Key::SchemaBranch { name: name.clone(), branch: b.to_string(), magic: 0 }, None));
        }
        for (_, id) in st.meta.mappings.iter().filter(|(n, _)| *n == name) {
            out.push((Key::SerdesMapping { name: name.clone(), serdes_id: *id, magic: 0 }, None));
        }
        if st.subject_config.contains_key(&name) {
            out.push((Key::Config { subject: Some(name.clone()), magic: 0 }, None));
        }
        if st.subject_mode.contains_key(&name) {
            out.push((Key::Mode { subject: Some(name.clone()), magic: 0 }, None));
        }
        out.push((Key::SchemaMetadata { name: name.clone(), magic: 0 }, None));
        tracing::info!(schema = %name, "schema metadata deleted");
        Ok((out, ()))
    })
    .await?;
    done()
}
