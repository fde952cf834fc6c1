//! Schemas by id, the schema listing, and compatibility checks against a
//! subject's versions.

use super::*;

pub(super) fn id_content(st: &State, id: i32) -> Result<&crate::state::Content, ApiError> {
    if !st.id_in_use(id) {
        return Err(ApiError::schema_not_found());
    }
    st.by_id.get(&id).ok_or_else(ApiError::schema_not_found)
}

/// What Confluent answers for an unknown id on `/schemas/ids/{id}` (other id
/// endpoints say `Schema not found`).
fn schema_id_not_found(id: i32) -> ApiError {
    ApiError::new(404, 40403, format!("Schema {id} not found"))
}

pub(super) async fn schema_by_id(AxState(app): AxState<App>, P(id): P<i32>, Q(q): Q<ListQ>) -> Response {
    result(app.read(|st| {
        let (ty, text, refs) = id_content(st, id).map_err(|_| schema_id_not_found(id))?;
        if let Some(s) = &q.subject {
            if !st.live(s, true).iter().any(|v| v.id == id) {
                return Err(ApiError::schema_not_found());
            }
        }
        let mut o = json!({"schema": formatted(st, *ty, text, refs, q.format.as_deref())?});
        if *ty != SchemaType::Avro {
            o["schemaType"] = json!(ty.name());
        }
        if !refs.is_empty() {
            o["references"] = json!(refs);
        }
        Ok(o)
    }))
}

pub(super) async fn schema_text_by_id(AxState(app): AxState<App>, P(id): P<i32>, Q(q): Q<ListQ>) -> Response {
    match app.read(|st| {
        id_content(st, id)
            .map_err(|_| schema_id_not_found(id))
            .and_then(|(ty, text, refs)| formatted(st, *ty, text, refs, q.format.as_deref()))
    }) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn subjects_by_id(
    AxState(app): AxState<App>,
    access: Option<axum::Extension<crate::access::Access>>,
    P(id): P<i32>,
    Q(q): Q<ListQ>,
) -> Response {
    result(app.read(|st| {
        id_content(st, id)?;
        let subjects: BTreeSet<&String> = st
            .subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| v.id == id && (q.deleted || !v.deleted))
            .filter(|v| crate::access::readable(&access, &v.subject))
            .map(|v| &v.subject)
            .collect();
        Ok(json!(subjects))
    }))
}

pub(super) async fn versions_by_id(
    AxState(app): AxState<App>,
    access: Option<axum::Extension<crate::access::Access>>,
    P(id): P<i32>,
    Q(q): Q<ListQ>,
) -> Response {
    result(app.read(|st| {
        id_content(st, id)?;
        let out: Vec<Value> = st
            .subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| v.id == id && (q.deleted || !v.deleted))
            .filter(|v| crate::access::readable(&access, &v.subject))
            .map(|v| json!({"subject": v.subject, "version": v.version}))
            .collect();
        Ok(json!(out))
    }))
}

pub(super) async fn list_schemas(
    AxState(app): AxState<App>,
    access: Option<axum::Extension<crate::access::Access>>,
    Q(q): Q<ListQ>,
) -> Response {
    result(app.read(|st| {
        let mut out = Vec::new();
        for (s, vs) in &st.subjects {
            if q.subject_prefix.as_deref().is_some_and(|p| !s.starts_with(p)) || !crate::access::readable(&access, s) {
                continue;
            }
            let live: Vec<&Version> = vs.values().filter(|v| q.deleted || !v.deleted).collect();
            if q.latest_only {
                out.extend(live.last().map(|v| version_json(v)));
            } else {
                out.extend(live.into_iter().map(version_json));
            }
        }
        let page: Vec<Value> =
            out.into_iter().skip(q.offset).take(q.limit.filter(|l| *l > 0).unwrap_or(usize::MAX)).collect();
        Ok(json!(page))
    }))
}

pub(super) async fn compatibility(
    app: App,
    subject: String,
    version: Option<String>,
    verbose: bool,
    raw: Bytes,
) -> Response {
    let b: SchemaBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    result(app.read(|st| {
        // As Confluent: the version first (42202, then 40402 for a numbered
        // version that does not exist, whether or not the subject does; `latest`
        // of an unknown subject is compatible), then the schema.
        let target = match version.as_deref().map(parse_version).transpose()? {
            Some(Some(n)) => match st.live(&subject, false).into_iter().find(|v| v.version == n) {
                Some(v) => Some(v.version),
                None => return Err(ApiError::version_not_found(&n.to_string())),
            },
            _ => None,
        };
        let ty = SchemaType::parse(b.schema_type.as_deref()).map_err(ApiError::invalid_schema)?;
        let checked = latest_references(st, &b.references).and_then(|refs| {
            let parsed = parse_schema(st, ty, &b.schema, &refs)?;
            check_new(st, ty, &b.schema, &refs).map(|()| parsed)
        });
        let parsed = match checked {
            Ok((_, p)) => p,
            // With verbose, an invalid schema is an answer, not an error.
            Err(e) if verbose && e.code == 42201 => {
                return Ok(json!({"is_compatible": false, "messages": [e.message]}))
            }
            Err(e) => return Err(e),
        };
        let level = level_of(st, Some(&subject));
        let prev = previous(st, &subject)?;
        let latest_only = version.is_some() && target.is_none();
        let msgs = match target.or_else(|| prev.last().filter(|_| latest_only).map(|p| p.0)) {
            Some(target) => {
                let one: Vec<(i32, Parsed, String)> = prev.into_iter().filter(|p| p.0 == target).collect();
                // Against one version: the level's directions, not its transitivity.
                let single = match level {
                    Level::BackwardTransitive => Level::Backward,
                    Level::ForwardTransitive => Level::Forward,
                    Level::FullTransitive => Level::Full,
                    l => l,
                };
                check_compat(single, &parsed, &one)
            }
            None => check_compat(level, &parsed, &prev),
        };
        let mut o = json!({"is_compatible": msgs.is_empty()});
        if verbose {
            o["messages"] = json!(msgs);
        }
        Ok(o)
    }))
}

pub(super) async fn compat_version(
    AxState(app): AxState<App>,
    P((subject, version)): P<(String, String)>,
    Q(q): Q<VerboseQ>,
    raw: Bytes,
) -> Response {
    compatibility(app, subject, Some(version), q.verbose, raw).await
}

pub(super) async fn compat_all(
    AxState(app): AxState<App>,
    P(subject): P<String>,
    Q(q): Q<VerboseQ>,
    raw: Bytes,
) -> Response {
    compatibility(app, subject, None, q.verbose, raw).await
}
