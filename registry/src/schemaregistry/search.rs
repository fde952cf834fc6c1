//! Compatibility checks, search by metadata and by Avro field, schema providers.

use super::*;

#[derive(Deserialize, Default)]
pub(super) struct CompatQ {
    #[serde(default)]
    pub(super) branch: Option<String>,
}

/// The schema text comes as the raw body (Cloudera's client), or as a JSON
/// string or `{"schemaText": ...}`.
pub(super) fn schema_text_from(raw: &Bytes) -> Result<String, HwError> {
    let text = std::str::from_utf8(raw).map_err(|_| HwError::bad_request("The schema text is not UTF-8"))?;
    Ok(match serde_json::from_str::<Value>(text) {
        Ok(Value::String(s)) => s,
        Ok(Value::Object(o)) if o.get("schemaText").is_some_and(Value::is_string) => {
            o["schemaText"].as_str().expect("checked").to_string()
        }
        _ => text.to_string(),
    })
}

pub(super) async fn check_compatibility(
    AxState(app): AxState<App>,
    P(name): P<String>,
    Q(q): Q<CompatQ>,
    raw: Bytes,
) -> R {
    let text = schema_text_from(&raw)?;
    let branch = q.branch.unwrap_or_else(|| MASTER.into());
    ok(read(&app, |st| {
        let m = find_meta(st, &name)?;
        let ty = schema_type_of(m)?;
        let on_branch = live_on_branch(st, &name, &branch)?;
        let (_, msgs) = parse_and_check(st, &name, ty, &text, &on_branch)?;
        let mut o = json!({"compatible": msgs.is_empty(), "schema": text});
        if !msgs.is_empty() {
            o["errorMessage"] = json!(msgs.join(", "));
            o["errorLocation"] =
                json!(msgs.iter().find_map(|m| m.split("at path ").nth(1)).map(|p| p.trim_end_matches("'}")));
        }
        Ok(o)
    })?)
}

pub(super) async fn search(AxState(app): AxState<App>, Q(q): Q<FilterQ>) -> R {
    listing(&app, &q, true, false)
}

pub(super) async fn search_aggregated(AxState(app): AxState<App>, Q(q): Q<FilterQ>) -> R {
    listing(&app, &q, true, true)
}

#[derive(Deserialize, Default)]
pub(super) struct FieldQ {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(rename = "fieldNamespace", default)]
    pub(super) field_namespace: Option<String>,
    #[serde(rename = "type", default)]
    pub(super) field_type: Option<String>,
}

/// The fields of every record in an Avro schema: (name, enclosing namespace, type).
pub(super) fn avro_fields(v: &Value, namespace: &str, out: &mut Vec<(String, String, String)>) {
    match v {
        Value::Array(branches) => branches.iter().for_each(|b| avro_fields(b, namespace, out)),
        Value::Object(o) => {
            let ns = match (o.get("namespace").and_then(Value::as_str), o.get("name").and_then(Value::as_str)) {
                (Some(ns), _) => ns.to_string(),
                (None, Some(n)) if n.contains('.') => {
                    n.rsplit_once('.').map(|(ns, _)| ns.to_string()).unwrap_or_default()
                }
                _ => namespace.to_string(),
            };
            for key in ["items", "values"] {
                if let Some(inner) = o.get(key) {
                    avro_fields(inner, &ns, out);
                }
            }
            for f in o.get("fields").and_then(Value::as_array).into_iter().flatten() {
                let Some(name) = f.get("name").and_then(Value::as_str) else { continue };
                let ty = match f.get("type") {
                    Some(Value::String(t)) => t.clone(),
                    Some(Value::Object(t)) => t.get("type").and_then(Value::as_str).unwrap_or("").to_string(),
                    Some(Value::Array(_)) => "union".to_string(),
                    _ => String::new(),
                };
                out.push((name.to_string(), ns.clone(), ty));
                if let Some(t) = f.get("type") {
                    avro_fields(t, &ns, out);
                }
            }
        }
        _ => {}
    }
}

/// Versions with a record field matching every given criterion, one entry per field.
pub(super) async fn search_fields(AxState(app): AxState<App>, Q(q): Q<FieldQ>) -> R {
    let out = read(&app, |st| {
        let mut out = Vec::new();
        for name in st.meta.schemas.keys() {
            for v in all_versions(st, name).iter().filter(|v| v.schema_type == SchemaType::Avro) {
                let Ok(json) = serde_json::from_str::<Value>(&v.text) else { continue };
                let mut fields = Vec::new();
                avro_fields(&json, "", &mut fields);
                for (field, ns, ty) in fields {
                    let is = |have: &str, want: &Option<String>| want.as_ref().is_none_or(|w| w == have);
                    if is(&field, &q.name) && is(&ns, &q.field_namespace) && is(&ty, &q.field_type) {
                        out.push(json!({"schemaName": name, "version": v.version}));
                    }
                }
            }
        }
        Ok(out)
    })?;
    entities(out)
}

pub(super) async fn schema_providers() -> R {
    entities(vec![
        json!({"name": "Avro schema provider", "description": "Avro schemas", "type": "avro",
               "defaultSerializerClassName": null, "defaultDeserializerClassName": null}),
        json!({"name": "JSON schema provider", "description": "JSON Schema", "type": "json",
               "defaultSerializerClassName": null, "defaultDeserializerClassName": null}),
        json!({"name": "Protobuf schema provider", "description": "Protocol Buffers", "type": "protobuf",
               "defaultSerializerClassName": null, "defaultDeserializerClassName": null}),
    ])
}
