//! Subjects and their versions: list, get, register, look up, delete (soft and
//! permanent, with Confluent's rules), and what references a version.

use super::*;

pub(super) async fn root() -> Response {
    ok(json!({}))
}

pub(super) async fn contexts() -> Response {
    ok(json!(["."]))
}

pub(super) async fn schema_types() -> Response {
    ok(json!(["JSON", "PROTOBUF", "AVRO"]))
}

pub(super) async fn list_subjects(
    AxState(app): AxState<App>,
    access: Option<axum::Extension<crate::access::Access>>,
    Q(q): Q<ListQ>,
) -> Response {
    result(app.read(|st| {
        let out: Vec<&String> = st
            .subjects
            .iter()
            .filter(|(s, _)| q.subject_prefix.as_deref().is_none_or(|p| s.starts_with(p)))
            .filter(|(s, _)| crate::access::readable(&access, s))
            .filter(|(_, vs)| {
                let any_live = vs.values().any(|v| !v.deleted);
                if q.deleted_only {
                    vs.values().any(|v| v.deleted)
                } else {
                    any_live || q.deleted
                }
            })
            .map(|(s, _)| s)
            .collect();
        Ok(json!(q.page(out)))
    }))
}

pub(super) async fn list_versions(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<ListQ>) -> Response {
    result(app.read(|st| {
        let vs = st.versions(&subject).ok_or_else(|| ApiError::subject_not_found(&subject))?;
        let out: Vec<i32> = vs
            .values()
            .filter(|v| if q.deleted_only { v.deleted } else { q.deleted || !v.deleted })
            .map(|v| v.version)
            .collect();
        if out.is_empty() && !q.deleted_only {
            return Err(ApiError::subject_not_found(&subject));
        }
        Ok(json!(q.page(out)))
    }))
}

pub(super) async fn get_version(
    AxState(app): AxState<App>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<ListQ>,
) -> Response {
    result(app.read(|st| {
        let v = find_version(st, &subject, &version, q.deleted)?;
        let mut o = version_json(v);
        if q.format.is_some() {
            o["schema"] = json!(formatted(st, v.schema_type, &v.schema, &v.references, q.format.as_deref())?);
        }
        Ok(o)
    }))
}

pub(super) async fn get_version_schema(
    AxState(app): AxState<App>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<ListQ>,
) -> Response {
    match app.read(|st| find_version(st, &subject, &version, q.deleted).map(|v| v.schema.clone())) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn referenced_by(AxState(app): AxState<App>, P((subject, version)): P<(String, String)>) -> Response {
    result(app.read(|st| {
        let v = find_version(st, &subject, &version, true)?;
        let ids: BTreeSet<i32> = st.referenced_by(&subject, v.version).into_iter().map(|r| r.id).collect();
        Ok(json!(ids))
    }))
}

pub(super) async fn register(
    AxState(app): AxState<App>,
    P(subject): P<String>,
    Q(q): Q<ListQ>,
    raw: Bytes,
) -> Response {
    let b: SchemaBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = check_subject(&subject) {
        return e.into_response();
    }
    result(write(&app, move |st| register_change(st, &subject, b, q.normalize)).await.map(|r| json!({"id": r.id})))
}

/// What registering `b` under `subject` writes (nothing when the subject
/// already has that schema), and the answer `{"id": ...}`: the mode, the
/// references, the schema's validity and the compatibility level in effect
/// are checked first, as Confluent's registry does.
pub(super) fn register_change(
    st: &State,
    subject: &str,
    b: SchemaBody,
    normalize: bool,
) -> Result<(Vec<Change>, Registered), ApiError> {
    let subject = subject.to_string();
    let mut b = b;
    // An empty schema stands for the subject's latest one, as in Confluent
    // (with none, it is "Empty schema").
    if b.schema.trim().is_empty() {
        if let Some(latest) = st.live(&subject, false).last() {
            b.schema = latest.schema.clone();
            b.schema_type = Some(latest.schema_type.name().to_string());
            b.references = latest.references.clone();
        }
    }
    let ty = SchemaType::parse(b.schema_type.as_deref()).map_err(ApiError::invalid_schema)?;
    let mode = mode_of(st, &subject);
    if mode == "READONLY" || mode == "READONLY_OVERRIDE" {
        return Err(ApiError::not_permitted(format!("Subject {subject} is in read-only mode")));
    }
    let importing = mode == "IMPORT";
    if b.id.is_some() && !importing {
        return Err(ApiError::not_permitted(format!(
            "Subject {subject} is not in import mode; a schema id cannot be chosen"
        )));
    }
    let refs = latest_references(st, &b.references)?;
    let normalize = normalize_of(st, &subject, normalize);
    let (canonical, parsed) = parse_schema_as(st, ty, &b.schema, &refs, normalize)?;
    let content = (ty, canonical.clone(), refs.clone());
    let identity = schema::identity(ty, &canonical);
    let live = st.live(&subject, false);
    if let Some(existing) = live.iter().find(|v| v.schema_type == ty && v.identity == identity && v.references == refs)
    {
        return Ok((vec![], Registered { id: existing.id, version: existing.version, created: false }));
    }
    // Only a new registration has its defaults checked, as in Confluent.
    check_new(st, ty, &b.schema, &refs)?;
    if !importing {
        let prev = previous(st, &subject)?;
        let msgs = check_compat(level_of(st, Some(&subject)), &parsed, &prev);
        if !msgs.is_empty() {
            return Err(ApiError::new(
                409,
                409,
                format!("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]", msgs.join(", ")),
            ));
        }
    }
    let id = match (b.id, st.content_id(&content)) {
        (Some(id), _) => {
            if let Some(c) = st.by_id.get(&id) {
                if *c != content {
                    return Err(ApiError::not_permitted(format!(
                        "Overwrite new schema with id {id} is not permitted."
                    )));
                }
            }
            id
        }
        (None, Some(id)) => id,
        (None, None) => st.next_id(),
    };
    let next = st.next_version(&subject);
    let version = match b.version {
        Some(v) if importing && v >= 1 => v,
        Some(v) if importing => return Err(ApiError::invalid_version(&v.to_string())),
        _ => next,
    };
    let value = SchemaValue {
        subject: subject.clone(),
        version,
        id,
        schema_type: (ty != SchemaType::Avro).then(|| ty.name().to_string()),
        references: refs.clone(),
        schema: canonical,
        deleted: false,
        metadata: b.metadata,
        rule_set: b.rule_set,
    };
    tracing::info!(%subject, version, id, schema_type = ty.name(), "schema registered");
    let key = Key::Schema { subject: subject.clone(), version, magic: 1 };
    let change = (key, Some(serde_json::to_value(value).expect("serializes")));
    Ok((vec![change], Registered { id, version, created: true }))
}

pub(super) async fn lookup(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<ListQ>, raw: Bytes) -> Response {
    let b: SchemaBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    result(app.read(|st| {
        // An empty schema finds nothing (it is not an error on lookup, as in Confluent).
        if b.schema.trim().is_empty() {
            return Err(if st.live(&subject, q.deleted).is_empty() {
                ApiError::subject_not_found(&subject)
            } else {
                ApiError::schema_not_found()
            });
        }
        // An invalid schema is 42201 before the subject is looked at, as in Confluent.
        let ty = SchemaType::parse(b.schema_type.as_deref()).map_err(ApiError::invalid_schema)?;
        let refs = latest_references(st, &b.references)?;
        let normalize = normalize_of(st, &subject, q.normalize);
        let (canonical, _) = parse_schema_as(st, ty, &b.schema, &refs, normalize)?;
        if st.live(&subject, q.deleted).is_empty() {
            return Err(ApiError::subject_not_found(&subject));
        }
        let identity = schema::identity(ty, &canonical);
        st.live(&subject, q.deleted)
            .into_iter()
            .find(|v| v.schema_type == ty && v.identity == identity && v.references == refs)
            .map(version_json)
            .ok_or_else(ApiError::schema_not_found)
    }))
}

pub(super) async fn delete_subject(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<DeleteQ>) -> Response {
    result(
        write(&app, move |st| {
            let vs = st.versions(&subject).ok_or_else(|| ApiError::subject_not_found(&subject))?;
            if mode_of(st, &subject).starts_with("READONLY") {
                return Err(ApiError::not_permitted(format!("Subject {subject} is in read-only mode")));
            }
            let live: Vec<&Version> = vs.values().filter(|v| !v.deleted).collect();
            for v in vs.values() {
                if st.is_referenced(&subject, v.version) {
                    return Err(ApiError::new(
                        422,
                        42206,
                        format!(
                            "One or more references exist to the schema {{magic=1,keytype=SCHEMA,subject={subject},version={}}}.",
                            v.version
                        ),
                    ));
                }
            }
            if q.permanent {
                if !live.is_empty() {
                    return Err(ApiError::new(
                        404,
                        40405,
                        format!("Subject '{subject}' was not deleted first before being permanently deleted"),
                    ));
                }
                let versions: Vec<i32> = vs.keys().copied().collect();
                let mut changes: Vec<Change> = versions
                    .iter()
                    .map(|v| (Key::Schema { subject: subject.clone(), version: *v, magic: 1 }, None))
                    .collect();
                if st.subject_config.contains_key(&subject) {
                    changes.push((Key::Config { subject: Some(subject.clone()), magic: 0 }, None));
                }
                if st.subject_mode.contains_key(&subject) {
                    changes.push((Key::Mode { subject: Some(subject.clone()), magic: 0 }, None));
                }
                tracing::info!(%subject, "subject deleted permanently");
                return Ok((changes, json!(versions)));
            }
            if live.is_empty() {
                return Err(ApiError::new(
                    404,
                    40404,
                    format!("Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"),
                ));
            }
            let versions: Vec<i32> = live.iter().map(|v| v.version).collect();
            let mut changes: Vec<Change> = live
                .iter()
                .map(|v| {
                    let mut value = stored_value(v);
                    value.deleted = true;
                    (
                        Key::Schema { subject: subject.clone(), version: v.version, magic: 1 },
                        Some(serde_json::to_value(value).expect("serializes")),
                    )
                })
                .collect();
            changes.push((
                Key::DeleteSubject { subject: subject.clone(), magic: 0 },
                Some(json!({"subject": subject, "version": versions.last()})),
            ));
            tracing::info!(%subject, "subject soft-deleted");
            Ok((changes, json!(versions)))
        })
        .await,
    )
}

pub(super) fn stored_value(v: &Version) -> SchemaValue {
    SchemaValue {
        subject: v.subject.clone(),
        version: v.version,
        id: v.id,
        schema_type: (v.schema_type != SchemaType::Avro).then(|| v.schema_type.name().to_string()),
        references: v.references.clone(),
        schema: v.schema.clone(),
        deleted: v.deleted,
        metadata: v.metadata.clone(),
        rule_set: v.rule_set.clone(),
    }
}

pub(super) async fn delete_version(
    AxState(app): AxState<App>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<DeleteQ>,
) -> Response {
    result(
        write(&app, move |st| {
            let want = parse_version(&version)?;
            let vs = st.versions(&subject).ok_or_else(|| ApiError::subject_not_found(&subject))?;
            if mode_of(st, &subject).starts_with("READONLY") {
                return Err(ApiError::not_permitted(format!("Subject {subject} is in read-only mode")));
            }
            let v = match want {
                None => vs.values().rev().find(|v| !v.deleted || q.permanent),
                Some(n) => vs.get(&n),
            }
            .ok_or_else(|| ApiError::version_not_found(&version))?;
            if st.is_referenced(&subject, v.version) {
                return Err(ApiError::new(
                    422,
                    42206,
                    format!("One or more references exist to the schema {{magic=1,keytype=SCHEMA,subject={subject},version={}}}.", v.version),
                ));
            }
            let key = Key::Schema { subject: subject.clone(), version: v.version, magic: 1 };
            if q.permanent {
                if !v.deleted {
                    return Err(ApiError::new(
                        404,
                        40407,
                        format!(
                            "Subject '{subject}' Version {} was not deleted first before being permanently deleted",
                            v.version
                        ),
                    ));
                }
                return Ok((vec![(key, None)], json!(v.version)));
            }
            if v.deleted {
                return Err(ApiError::new(
                    404,
                    40406,
                    format!(
                        "Subject '{subject}' Version {} was soft deleted.Set permanent=true to delete permanently",
                        v.version
                    ),
                ));
            }
            let mut value = stored_value(v);
            value.deleted = true;
            Ok((vec![(key, Some(serde_json::to_value(value).expect("serializes")))], json!(v.version)))
        })
        .await,
    )
}
