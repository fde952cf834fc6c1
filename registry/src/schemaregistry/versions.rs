//! Versions: add (JSON or an uploaded file), list by branch and state, latest,
//! get by number, id or fingerprint, schema text, delete.

use super::*;

#[derive(Deserialize)]
pub(super) struct VersionBody {
    #[serde(rename = "schemaText", default)]
    pub(super) schema_text: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    /// The state a MASTER version starts in (default Enabled).
    #[serde(rename = "initialState", default)]
    pub(super) initial_state: Option<u8>,
}

#[derive(Deserialize, Default)]
pub(super) struct BranchQ {
    #[serde(default)]
    pub(super) branch: Option<String>,
}

impl BranchQ {
    fn branch(&self) -> &str {
        self.branch.as_deref().filter(|b| !b.is_empty()).unwrap_or(MASTER)
    }
}

pub(super) async fn add_version(AxState(app): AxState<App>, P(name): P<String>, Q(q): Q<BranchQ>, raw: Bytes) -> R {
    let b: VersionBody = body(&raw)?;
    add_version_to(&app, name, q.branch().to_string(), b).await
}

/// The same with the schema text uploaded as the multipart part `file` (and the
/// description as the part `description`).
pub(super) async fn upload_version(
    AxState(app): AxState<App>,
    P(name): P<String>,
    Q(q): Q<BranchQ>,
    mut form: Multipart,
) -> R {
    let mut b = VersionBody { schema_text: None, description: None, initial_state: None };
    while let Some(field) = form.next_field().await.map_err(|e| HwError::bad_request(format!("Bad upload: {e}")))? {
        let part = field.name().unwrap_or("").to_string();
        let text = field.text().await.map_err(|e| HwError::bad_request(format!("Bad upload: {e}")))?;
        match part.as_str() {
            "file" => b.schema_text = Some(text),
            "description" => b.description = Some(text),
            _ => {}
        }
    }
    add_version_to(&app, name, q.branch().to_string(), b).await
}

pub(super) async fn add_version_to(app: &App, name: String, branch: String, b: VersionBody) -> R {
    let text = b.schema_text.filter(|t| !t.trim().is_empty()).ok_or_else(|| HwError::missing("schemaText"))?;
    let now = app.now_ms();
    let version = write_hw(app, move |st| {
        let m = find_meta(st, &name)?;
        let ty = schema_type_of(m)?;
        if branch == MASTER && mode_of(st, &name).starts_with("READONLY") {
            return Err(HwError::bad_request(format!("Schema {name} is in read-only mode")));
        }
        let on_branch = branch_versions(st, &name, &branch)?;
        let (canonical, msgs) = parse_and_check(st, &name, ty, &text, &on_branch)?;
        if let Some(same) = on_branch.iter().find(|v| v.text == canonical && v.state_id != metadata::DELETED) {
            return Ok((vec![], same.version));
        }
        if !m.evolve && on_branch.iter().any(|v| v.state_id != metadata::DELETED) {
            return Err(HwError::refused(format!("Schema {name} does not evolve: it has a version already")));
        }
        if !msgs.is_empty() {
            return Err(HwError::incompatible(format!(
                "Given schema is incompatible with the versions of {name} on branch {branch}: [{}]",
                msgs.join(", ")
            )));
        }
        // Versions off MASTER always start INITIATED.
        let state = match (branch == MASTER, b.initial_state) {
            (false, _) => metadata::INITIATED,
            (true, None) => metadata::ENABLED,
            (true, Some(s)) if metadata::STATES.iter().any(|x| x.0 == s) => s,
            (true, Some(s)) => return Err(HwError::bad_request(format!("{s} is not a state id"))),
        };
        let (changes, version, _) =
            version_records(st, &name, &branch, ty, canonical, b.description.unwrap_or_default(), state, None, now);
        tracing::info!(schema = %name, %branch, version, "schema version added");
        Ok((changes, version))
    })
    .await?;
    created(json!(version))
}

/// `states=5&states=6` or `states=5,6`.
pub(super) fn parse_states(raw: Option<&str>) -> Result<Option<BTreeSet<u8>>, HwError> {
    let mut out = BTreeSet::new();
    for pair in raw.unwrap_or("").split('&') {
        let Some(("states", v)) = pair.split_once('=') else { continue };
        let v = v.replace("%2C", ",").replace("%2c", ",");
        for x in v.split([',', '+']).filter(|x| !x.is_empty()) {
            out.insert(x.trim().parse::<u8>().map_err(|_| HwError::bad_request(format!("'{x}' is not a state id")))?);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

pub(super) async fn list_versions(
    AxState(app): AxState<App>,
    P(name): P<String>,
    Q(q): Q<BranchQ>,
    RawQuery(raw): RawQuery,
) -> R {
    let states = parse_states(raw.as_deref())?;
    let out = read(&app, |st| {
        find_meta(st, &name)?;
        Ok(newest_first(branch_versions(st, &name, q.branch())?)
            .iter()
            .filter(|v| states.as_ref().is_none_or(|s| s.contains(&v.state_id)))
            .map(version_json)
            .collect())
    })?;
    entities(out)
}

pub(super) fn live_on_branch(st: &State, name: &str, branch: &str) -> Result<Vec<MetaVersion>, HwError> {
    find_meta(st, name)?;
    Ok(branch_versions(st, name, branch)?.into_iter().filter(|v| v.state_id != metadata::DELETED).collect())
}

/// The newest Enabled version on the branch.
pub(super) async fn latest_version(AxState(app): AxState<App>, P(name): P<String>, Q(q): Q<BranchQ>) -> R {
    ok(read(&app, |st| {
        let vs = live_on_branch(st, &name, q.branch())?;
        vs.iter()
            .rev()
            .find(|v| v.state_id == metadata::ENABLED)
            .map(version_json)
            .ok_or_else(|| HwError::not_found(format!("{name}, latest enabled version")))
    })?)
}

/// A version by number, on any branch; `-1`: the newest in any state.
pub(super) fn one_version(st: &State, name: &str, version: &str) -> Result<MetaVersion, HwError> {
    find_meta(st, name)?;
    let n: i32 = version.parse().map_err(|_| HwError::bad_request(format!("'{version}' is not a version number")))?;
    let all = all_versions(st, name);
    let found = if n == -1 { all.last().cloned() } else { all.into_iter().find(|v| v.version == n) };
    found.ok_or_else(|| HwError::not_found(format!("{name}, version {version}")))
}

pub(super) async fn get_version(AxState(app): AxState<App>, P((name, version)): P<(String, String)>) -> R {
    ok(read(&app, |st| one_version(st, &name, &version).map(|v| version_json(&v)))?)
}

/// The records that remove a version for good (from MASTER: the subject's version too).
pub(super) fn removal(st: &State, v: &MetaVersion) -> Result<Vec<Change>, HwError> {
    if v.branch == MASTER {
        let users = st.referenced_by(&v.name, v.version);
        if !users.is_empty() {
            return Err(HwError::bad_request(format!(
                "Version {} of {} is referenced by schema id {}",
                v.version, v.name, users[0].id
            )));
        }
    }
    if st.meta.branches.iter().any(|((n, _), b)| *n == v.name && b.root_version == Some(v.version)) {
        return Err(HwError::refused(format!(
            "Version {} of {} is the root of a branch; delete the branch first",
            v.version, v.name
        )));
    }
    let mut out = vec![(Key::SchemaVersionInfo { name: v.name.clone(), version: v.version, magic: 0 }, None)];
    if v.branch == MASTER {
        out.push((Key::Schema { subject: v.name.clone(), version: v.version, magic: 1 }, None));
    }
    Ok(out)
}

pub(super) async fn delete_version(AxState(app): AxState<App>, P((name, version)): P<(String, String)>) -> R {
    write_hw(&app, move |st| {
        let v = one_version(st, &name, &version)?;
        Ok((removal(st, &v)?, ()))
    })
    .await?;
    done()
}

pub(super) async fn version_by_id_handler(AxState(app): AxState<App>, P(id): P<i64>) -> R {
    ok(read(&app, |st| version_by_id(st, id).map(|v| version_json(&v)))?)
}

pub(super) async fn delete_version_by_id(AxState(app): AxState<App>, P(id): P<i64>) -> R {
    write_hw(&app, move |st| {
        let v = version_by_id(st, id)?;
        Ok((removal(st, &v)?, ()))
    })
    .await?;
    done()
}

pub(super) async fn version_by_fingerprint(AxState(app): AxState<App>, P(fp): P<String>) -> R {
    ok(read(&app, |st| {
        st.meta
            .schemas
            .keys()
            .flat_map(|n| all_versions(st, n))
            .find(|v| fingerprint(v) == fp.to_ascii_lowercase())
            .map(|v| version_json(&v))
            .ok_or_else(|| HwError::not_found(&fp))
    })?)
}

pub(super) async fn schema_text(AxState(app): AxState<App>, P((name, version)): P<(String, String)>) -> R {
    let text = read(&app, |st| {
        if version == "latest" {
            live_on_branch(st, &name, MASTER)?.last().map(|v| v.text.clone()).ok_or_else(|| HwError::not_found(&name))
        } else {
            one_version(st, &name, &version).map(|v| v.text)
        }
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], text).into_response())
}
