//! Uploaded files, serializer/deserializer registrations and their mappings,
//! schemas by id, the server version.

use super::*;

/// Files live in `_schemas` too, so they are bounded by what one record may hold.
pub(super) const MAX_FILE: usize = 768 << 10;

pub(super) async fn upload_file(AxState(app): AxState<App>, mut form: Multipart) -> R {
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = form.next_field().await.map_err(|e| HwError::bad_request(format!("Bad upload: {e}")))? {
        if field.name() == Some("file") || field.file_name().is_some() {
            let name = field.file_name().unwrap_or("file").to_string();
            let bytes = field.bytes().await.map_err(|e| HwError::bad_request(format!("Bad upload: {e}")))?;
            file = Some((name, bytes.to_vec()));
        }
    }
    let (name, bytes) = file.ok_or_else(|| HwError::missing("file"))?;
    if bytes.len() > MAX_FILE {
        return Err(HwError {
            status: 413,
            code: 1110,
            message: format!("The file is {} bytes; at most {MAX_FILE} are kept", bytes.len()),
        });
    }
    let id = write_hw(&app, move |st| {
        let id = st.meta.next_file_id();
        let f = FileValue { name, data: crate::proto::base64::encode(&bytes) };
        Ok((vec![(Key::File { id: id.clone(), magic: 0 }, val(&f))], id))
    })
    .await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], id).into_response())
}

pub(super) async fn download_file(AxState(app): AxState<App>, P(id): P<String>) -> R {
    let (name, data) = read(&app, |st| {
        let f = st.meta.files.get(&id).ok_or_else(|| HwError::not_found(&id))?;
        let data = crate::proto::base64::decode(&f.data).ok_or_else(|| HwError {
            status: 500,
            code: 1102,
            message: format!("stored file {id} is corrupt"),
        })?;
        Ok((f.name.clone(), data))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", name.replace('"', ""))),
        ],
        data,
    )
        .into_response())
}

pub(super) fn serdes_json(id: i64, s: &SerdesValue) -> Value {
    json!({
        "id": id, "timestamp": s.timestamp,
        "serDesPair": {"name": s.name, "description": s.description, "fileId": s.file_id,
                       "serializerClassName": s.serializer_class_name,
                       "deserializerClassName": s.deserializer_class_name},
    })
}

#[derive(Deserialize)]
pub(super) struct SerdesBody {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(rename = "fileId", default)]
    pub(super) file_id: Option<String>,
    #[serde(rename = "serializerClassName", default)]
    pub(super) serializer: Option<String>,
    #[serde(rename = "deserializerClassName", default)]
    pub(super) deserializer: Option<String>,
}

pub(super) async fn add_serdes(AxState(app): AxState<App>, raw: Bytes) -> R {
    let b: SerdesBody = body(&raw)?;
    let need = |v: Option<String>, what: &str| v.filter(|s| !s.trim().is_empty()).ok_or_else(|| HwError::missing(what));
    let value = SerdesValue {
        name: need(b.name, "name")?,
        description: b.description.unwrap_or_default(),
        file_id: need(b.file_id, "fileId")?,
        serializer_class_name: need(b.serializer, "serializerClassName")?,
        deserializer_class_name: need(b.deserializer, "deserializerClassName")?,
        timestamp: app.now_ms(),
    };
    let id = write_hw(&app, move |st| {
        if !st.meta.files.contains_key(&value.file_id) {
            return Err(HwError::not_found(format!("file {}", value.file_id)));
        }
        let id = st.meta.next_serdes_id();
        Ok((vec![(Key::Serdes { id, magic: 0 }, val(&value))], id))
    })
    .await?;
    ok(json!(id))
}

pub(super) async fn get_serdes(AxState(app): AxState<App>, P(id): P<i64>) -> R {
    ok(read(&app, |st| st.meta.serdes.get(&id).map(|s| serdes_json(id, s)).ok_or_else(|| HwError::not_found(id)))?)
}

pub(super) async fn list_serdes(AxState(app): AxState<App>) -> R {
    let out = read(&app, |st| Ok(st.meta.serdes.iter().map(|(id, s)| serdes_json(*id, s)).collect()))?;
    entities(out)
}

pub(super) async fn map_serdes(AxState(app): AxState<App>, P((name, id)): P<(String, i64)>) -> R {
    write_hw(&app, move |st| {
        find_meta(st, &name)?;
        if !st.meta.serdes.contains_key(&id) {
            return Err(HwError::not_found(format!("serdes {id}")));
        }
        Ok((vec![(Key::SerdesMapping { name, serdes_id: id, magic: 0 }, Some(json!({})))], ()))
    })
    .await?;
    ok(json!(true))
}

pub(super) async fn unmap_serdes(AxState(app): AxState<App>, P((name, id)): P<(String, i64)>) -> R {
    write_hw(&app, move |st| {
        if !st.meta.mappings.contains(&(name.clone(), id)) {
            return Err(HwError::not_found(format!("{name}, serdes {id}")));
        }
        Ok((vec![(Key::SerdesMapping { name, serdes_id: id, magic: 0 }, None)], ()))
    })
    .await?;
    ok(json!(true))
}

pub(super) async fn schema_serdes(AxState(app): AxState<App>, P(name): P<String>) -> R {
    let out = read(&app, |st| {
        find_meta(st, &name)?;
        Ok(st
            .meta
            .mappings
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, id)| st.meta.serdes.get(id).map(|s| serdes_json(*id, s)))
            .collect())
    })?;
    entities(out)
}

pub(super) async fn schema_by_id(AxState(app): AxState<App>, P(id): P<i64>) -> R {
    ok(read(&app, |st| {
        st.meta
            .schemas
            .iter()
            .find(|(_, m)| m.id == id)
            .map(|(n, m)| metadata_json(st, n, m))
            .ok_or_else(|| HwError::not_found(id))
    })?)
}

pub(super) async fn server_version() -> R {
    ok(json!({"version": env!("CARGO_PKG_VERSION"), "revision": "weir", "timestamp": null}))
}
