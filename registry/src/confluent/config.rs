//! Compatibility levels and modes, global and per subject.

use super::*;

#[derive(Deserialize)]
pub(super) struct ConfigBody {
    pub(super) compatibility: Option<String>,
    #[serde(default, rename = "compatibilityLevel")]
    pub(super) compatibility_level: Option<String>,
    #[serde(default)]
    pub(super) normalize: Option<bool>,
}

pub(super) fn config_json(c: &ConfigValue, fallback: Level) -> Value {
    let mut o = json!({"compatibilityLevel": c.compatibility_level.clone().unwrap_or_else(|| fallback.name().into())});
    if let Some(n) = c.normalize {
        o["normalize"] = json!(n);
    }
    o
}

pub(super) async fn get_config(AxState(app): AxState<App>) -> Response {
    result(app.read(|st| Ok(config_json(&st.global_config.clone().unwrap_or_default(), DEFAULT_LEVEL))))
}

pub(super) async fn get_subject_config(
    AxState(app): AxState<App>,
    P(subject): P<String>,
    Q(q): Q<ConfigQ>,
) -> Response {
    result(app.read(|st| match st.subject_config.get(&subject) {
        Some(c) => Ok(config_json(c, level_of(st, None))),
        None if q.default_to_global => Ok(config_json(&st.global_config.clone().unwrap_or_default(), DEFAULT_LEVEL)),
        None => Err(ApiError::new(
            404,
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )),
    }))
}

pub(super) async fn put_config_for(app: App, subject: Option<String>, raw: Bytes) -> Response {
    let b: ConfigBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    result(write(&app, move |_st| config_change(subject, b)).await)
}

/// The record that sets the compatibility level of `subject` (None: the
/// global level), and the answer.
pub(super) fn config_change(subject: Option<String>, b: ConfigBody) -> Result<(Vec<Change>, Value), ApiError> {
    let name = b.compatibility.or(b.compatibility_level).unwrap_or_default();
    let level = Level::parse(&name).ok_or_else(|| ApiError::new(422, 42203, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"))?;
    let value = ConfigValue {
        compatibility_level: Some(level.name().into()),
        normalize: b.normalize,
        other: Default::default(),
    };
    let mut out = json!({"compatibility": level.name()});
    if let Some(n) = b.normalize {
        out["normalize"] = json!(n);
    }
    Ok((vec![(Key::Config { subject, magic: 0 }, Some(serde_json::to_value(value).expect("serializes")))], out))
}

pub(super) async fn put_config(AxState(app): AxState<App>, raw: Bytes) -> Response {
    put_config_for(app, None, raw).await
}

pub(super) async fn put_subject_config(AxState(app): AxState<App>, P(subject): P<String>, raw: Bytes) -> Response {
    if let Err(e) = check_subject(&subject) {
        return e.into_response();
    }
    put_config_for(app, Some(subject), raw).await
}

pub(super) async fn delete_config(AxState(app): AxState<App>) -> Response {
    result(
        write(&app, |st| {
            let prev = config_json(&st.global_config.clone().unwrap_or_default(), DEFAULT_LEVEL);
            Ok((vec![(Key::Config { subject: None, magic: 0 }, None)], prev))
        })
        .await,
    )
}

pub(super) async fn delete_subject_config(AxState(app): AxState<App>, P(subject): P<String>) -> Response {
    result(write(&app, move |st| config_removal(st, &subject)).await)
}

/// The tombstone that gives `subject` the global level again, and the level it had.
pub(super) fn config_removal(st: &State, subject: &str) -> Result<(Vec<Change>, Value), ApiError> {
    let c = st.subject_config.get(subject).ok_or_else(|| {
        ApiError::new(404, 40408, format!("Subject '{subject}' does not have subject-level compatibility configured"))
    })?;
    let prev = config_json(c, level_of(st, None));
    Ok((vec![(Key::Config { subject: Some(subject.to_string()), magic: 0 }, None)], prev))
}

#[derive(Deserialize)]
pub(super) struct ModeBody {
    pub(super) mode: String,
}

pub(super) async fn get_mode(AxState(app): AxState<App>) -> Response {
    result(app.read(|st| Ok(json!({"mode": st.global_mode.clone().unwrap_or_else(|| "READWRITE".into())}))))
}

pub(super) async fn get_subject_mode(AxState(app): AxState<App>, P(subject): P<String>, Q(q): Q<ConfigQ>) -> Response {
    result(app.read(|st| match st.subject_mode.get(&subject) {
        Some(m) => Ok(json!({"mode": m})),
        None if q.default_to_global => {
            Ok(json!({"mode": st.global_mode.clone().unwrap_or_else(|| "READWRITE".into())}))
        }
        None => {
            Err(ApiError::new(404, 40409, format!("Subject '{subject}' does not have subject-level mode configured")))
        }
    }))
}

pub(super) async fn put_mode_for(app: App, subject: Option<String>, force: bool, raw: Bytes) -> Response {
    let b: ModeBody = match body(&raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    result(
        write(&app, move |st| {
            let mode = b.mode.to_ascii_uppercase();
            if !MODES.contains(&mode.as_str()) {
                return Err(ApiError::new(
                    422,
                    42204,
                    "Invalid mode. Valid values are READWRITE, READONLY, and IMPORT.",
                ));
            }
            if mode == "IMPORT" && !force {
                let has = match &subject {
                    Some(s) => !st.live(s, true).is_empty(),
                    None => !st.subjects.is_empty(),
                };
                if has {
                    return Err(ApiError::not_permitted("Cannot import since found existing subjects"));
                }
            }
            let value = serde_json::to_value(ModeValue { mode: mode.clone() }).expect("serializes");
            Ok((vec![(Key::Mode { subject, magic: 0 }, Some(value))], json!({"mode": mode})))
        })
        .await,
    )
}

pub(super) async fn put_mode(AxState(app): AxState<App>, Q(q): Q<ConfigQ>, raw: Bytes) -> Response {
    put_mode_for(app, None, q.force, raw).await
}

pub(super) async fn put_subject_mode(
    AxState(app): AxState<App>,
    P(subject): P<String>,
    Q(q): Q<ConfigQ>,
    raw: Bytes,
) -> Response {
    put_mode_for(app, Some(subject), q.force, raw).await
}

pub(super) async fn delete_subject_mode(AxState(app): AxState<App>, P(subject): P<String>) -> Response {
    result(
        write(&app, move |st| {
            let m = st.subject_mode.get(&subject).cloned().ok_or_else(|| {
                ApiError::new(404, 40409, format!("Subject '{subject}' does not have subject-level mode configured"))
            })?;
            Ok((vec![(Key::Mode { subject: Some(subject.clone()), magic: 0 }, None)], json!({"mode": m})))
        })
        .await,
    )
}
