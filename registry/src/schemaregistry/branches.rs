//! Branches (fork from a MASTER version, merge back, delete) and the version
//! lifecycle state machine.

use super::*;

pub(super) async fn list_branches(AxState(app): AxState<App>, P(name): P<String>) -> R {
    let out = read(&app, |st| {
        find_meta(st, &name)?;
        Ok(branches_of(st, &name).into_iter().map(|(b, v)| branch_json(&name, b, v)).collect())
    })?;
    entities(out)
}

#[derive(Deserialize)]
pub(super) struct BranchBody {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
}

pub(super) async fn create_branch(AxState(app): AxState<App>, P(version_id): P<i64>, raw: Bytes) -> R {
    let b: BranchBody = body(&raw)?;
    let branch = b.name.filter(|n| !n.trim().is_empty()).ok_or_else(|| HwError::missing("name"))?;
    if branch.eq_ignore_ascii_case(MASTER) || branch.chars().any(char::is_control) {
        return Err(HwError::bad_request(format!("'{branch}' cannot be the name of a new branch")));
    }
    let now = app.now_ms();
    let out = write_hw(&app, move |st| {
        // An unknown version is a bad request here, as Cloudera's clients expect.
        let v = version_by_id(st, version_id).map_err(|e| HwError { status: 400, ..e })?;
        if st.meta.branches.contains_key(&(v.name.clone(), branch.clone())) {
            return Err(HwError::conflict(409, format!("Schema {} already has a branch named {branch}", v.name)));
        }
        if v.branch != MASTER {
            return Err(HwError::bad_request("A branch can only be forked from a version on MASTER"));
        }
        let bv = BranchValue {
            id: st.meta.next_branch_id(),
            description: b.description.unwrap_or_default(),
            timestamp: now,
            root_version: Some(v.version),
        };
        let json = branch_json(&v.name, &branch, &bv);
        tracing::info!(schema = %v.name, %branch, root = v.version, "schema branch created");
        Ok((vec![(Key::SchemaBranch { name: v.name.clone(), branch, magic: 0 }, val(&bv))], json))
    })
    .await?;
    ok(out)
}

/// Merges a branch version into MASTER: a new MASTER version with its schema
/// (or the MASTER version that already has it), checked against MASTER.
pub(super) async fn merge(AxState(app): AxState<App>, P(version_id): P<i64>) -> R {
    let now = app.now_ms();
    let out = write_hw(&app, move |st| {
        let v = version_by_id(st, version_id)?;
        if v.branch == MASTER {
            return Err(HwError::bad_request(format!("Version id {version_id} is on MASTER already")));
        }
        let master = live_on_branch(st, &v.name, MASTER)?;
        let merged_from = json!({"schemaBranchName": v.branch, "schemaVersionId": v.id});
        if let Some(same) = master.iter().find(|m| m.text == v.text) {
            let res = json!({
                "schemaIdVersion": {"schemaMetadataId": same.metadata_id, "version": same.version, "schemaVersionId": same.id},
                "mergeMessage": format!("The schema of version {} is MASTER version {} already", v.version, same.version),
            });
            return Ok((vec![], res));
        }
        let (_, msgs) = parse_and_check(st, &v.name, v.schema_type, &v.text, &master)?;
        if !msgs.is_empty() {
            return Err(HwError::incompatible(format!(
                "Version {} of {} is incompatible with MASTER: [{}]",
                v.version,
                v.name,
                msgs.join(", ")
            )));
        }
        let (changes, version, new_id) = version_records(
            st,
            &v.name,
            MASTER,
            v.schema_type,
            v.text.clone(),
            v.description.clone(),
            metadata::ENABLED,
            Some(merged_from),
            now,
        );
        tracing::info!(schema = %v.name, branch = %v.branch, version, "branch version merged into MASTER");
        let res = json!({
            "schemaIdVersion": {"schemaMetadataId": v.metadata_id, "version": version, "schemaVersionId": new_id},
            "mergeMessage": format!("Version {} of branch {} merged into MASTER as version {version}", v.version, v.branch),
        });
        Ok((changes, res))
    })
    .await?;
    ok(out)
}

pub(super) async fn delete_branch(AxState(app): AxState<App>, P(branch_id): P<i64>) -> R {
    write_hw(&app, move |st| {
        let ((name, branch), _) = st.meta.branch_by_id(branch_id).ok_or_else(|| HwError::not_found(branch_id))?;
        if branch == MASTER {
            return Err(HwError::refused("The MASTER branch cannot be deleted"));
        }
        let own: Vec<MetaVersion> = all_versions(st, name).into_iter().filter(|v| &v.branch == branch).collect();
        // Only versions nobody uses may go with their branch.
        if let Some(v) = own.iter().find(|v| ![metadata::INITIATED, metadata::CHANGES_REQUIRED, metadata::ARCHIVED].contains(&v.state_id)) {
            return Err(HwError::refused(format!(
                "Version {} of branch {branch} is {}; a branch is deleted when its versions are INITIATED, ChangesRequired or Archived",
                v.version,
                metadata::state_name(v.state_id)
            )));
        }
        let mut out: Vec<Change> = own
            .iter()
            .map(|v| (Key::SchemaVersionInfo { name: name.clone(), version: v.version, magic: 0 }, None))
            .collect();
        out.push((Key::SchemaBranch { name: name.clone(), branch: branch.clone(), magic: 0 }, None));
        Ok((out, ()))
    })
    .await?;
    done()
}

pub(super) async fn state_machine() -> R {
    let states: Vec<Value> =
        metadata::STATES.iter().map(|(id, name, d)| json!({"id": id, "name": name, "description": d})).collect();
    let transitions: Vec<Value> = metadata::TRANSITIONS
        .iter()
        .map(|(from, to, action)| {
            json!({"sourceStateId": from, "targetStateId": to, "name": action,
                   "description": format!("{action}: {} to {}", metadata::state_name(*from), metadata::state_name(*to))})
        })
        .collect();
    ok(json!({"states": states, "transitions": transitions}))
}

/// Moves a version through the lifecycle: `action` is a transition name
/// (enable, disable, archive, startReview, ...) or a target state id.
pub(super) async fn change_state(AxState(app): AxState<App>, P((id, action)): P<(i64, String)>) -> R {
    write_hw(&app, move |st| state_change(st, id, &action)).await?;
    ok(json!(true))
}

/// What moving version `id` by `action` writes, refused where the lifecycle
/// does not allow it; enabling checks compatibility with the enabled versions.
pub(super) fn state_change(st: &State, id: i64, action: &str) -> Result<(Vec<Change>, ()), HwError> {
    let v = version_by_id(st, id)?;
    let target = metadata::transition(v.state_id, action).ok_or_else(|| {
        let why = format!(
            "Version id {id} is {}; '{action}' is not a transition from there",
            metadata::state_name(v.state_id)
        );
        if action == "delete" {
            HwError::refused(why)
        } else {
            HwError::bad_request(why)
        }
    })?;
    // Deleting removes the version (from MASTER: the subject's version too).
    if target == metadata::DELETED {
        tracing::info!(schema = %v.name, version = v.version, "schema version deleted");
        return Ok((removal(st, &v)?, ()));
    }
    // Enabling makes it a version serializers use: it must fit the enabled ones.
    if target == metadata::ENABLED {
        let others: Vec<MetaVersion> =
            branch_versions(st, &v.name, &v.branch)?.into_iter().filter(|o| o.id != v.id).collect();
        let (_, msgs) = parse_and_check(st, &v.name, v.schema_type, &v.text, &others)?;
        if !msgs.is_empty() {
            return Err(HwError::incompatible(format!(
                "Version {} of {} cannot be enabled: [{}]",
                v.version,
                v.name,
                msgs.join(", ")
            )));
        }
    }
    let ((name, version), info) = st.meta.version_by_id(id).expect("found above");
    let mut info = info.clone();
    info.state_id = target;
    tracing::info!(schema = %name, version, state = metadata::state_name(target), "schema version state changed");
    Ok((vec![(Key::SchemaVersionInfo { name: name.clone(), version: *version, magic: 0 }, val(&info))], ()))
}
