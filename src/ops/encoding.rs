//! Record keys and values through a schema registry, as Confluent's
//! serializers write them: `0x00 | schema id (i32 BE) | data`, the data Avro
//! binary, JSON text or Protobuf (message indexes first) of the schema. Schemas
//! are read over the registry's REST API (any Confluent-compatible registry),
//! references resolved, once per id.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use hyper::Method;
use serde_json::Value;
use weir_registry::schema::SchemaType;
use weir_registry::wire::Codec;

use super::registry_client::{escape, RegistryClient};
use super::Conn;

pub struct Codecs {
    client: RegistryClient,
    by_id: HashMap<i32, Arc<Codec>>,
}

impl Codecs {
    pub fn new(conn: &Conn) -> Result<Codecs> {
        Ok(Codecs { client: RegistryClient::new(conn)?, by_id: HashMap::new() })
    }

    /// The id and codec of a subject's latest version (one request: the
    /// answer carries the schema).
    pub async fn latest(&mut self, subject: &str) -> Result<(i32, Arc<Codec>)> {
        let v = self.client.call(Method::GET, &format!("/subjects/{}/versions/latest", escape(subject)), None).await?;
        let id = v["id"].as_i64().with_context(|| format!("subject {subject}: no id in the registry's answer"))?;
        Ok((id as i32, self.compile(id as i32, &v).await?))
    }

    /// The codec of schema `id`, fetched and compiled on first use.
    pub async fn codec(&mut self, id: i32) -> Result<Arc<Codec>> {
        if let Some(c) = self.by_id.get(&id) {
            return Ok(c.clone());
        }
        let v = self.client.call(Method::GET, &format!("/schemas/ids/{id}"), None).await?;
        self.compile(id, &v).await
    }

    /// Compiles the schema of a registry answer (with its references) and keeps it under `id`.
    async fn compile(&mut self, id: i32, v: &Value) -> Result<Arc<Codec>> {
        let (ty, text) = schema_of(v)?;
        let mut deps = Vec::new();
        self.dependencies(v, &mut deps, &mut Vec::new()).await?;
        let codec = Arc::new(Codec::build(ty, &text, &deps).map_err(|e| anyhow!("schema {id}: {e}"))?);
        self.by_id.insert(id, codec.clone());
        Ok(codec)
    }

    /// (import name, type, text) of every schema `v`'s references reach, dependencies first.
    async fn dependencies(
        &self,
        v: &Value,
        out: &mut Vec<(String, SchemaType, String)>,
        seen: &mut Vec<(String, i64)>,
    ) -> Result<()> {
        for r in v["references"].as_array().into_iter().flatten() {
            let (name, subject, version) = (r["name"].as_str(), r["subject"].as_str(), r["version"].as_i64());
            let (Some(name), Some(subject), Some(version)) = (name, subject, version) else { continue };
            if seen.iter().any(|(s, n)| s == subject && *n == version) {
                continue;
            }
            seen.push((subject.to_string(), version));
            let dep = self
                .client
                .call(Method::GET, &format!("/subjects/{}/versions/{version}", escape(subject)), None)
                .await?;
            Box::pin(self.dependencies(&dep, out, seen)).await?;
            let (ty, text) = schema_of(&dep)?;
            out.push((name.to_string(), ty, text));
        }
        Ok(())
    }

    /// A payload in Confluent's wire format as JSON; None when it is not one.
    pub async fn decode(&mut self, payload: &[u8]) -> Option<Result<Value>> {
        let id = weir_registry::wire::schema_id(payload)?;
        Some(match self.codec(id).await {
            Ok(c) => c.decode(&payload[5..]).map_err(|e| anyhow!("schema {id}: {e}")),
            Err(e) => Err(e),
        })
    }
}

fn schema_of(v: &Value) -> Result<(SchemaType, String)> {
    let ty = SchemaType::parse(v["schemaType"].as_str()).map_err(|e| anyhow!(e))?;
    let text = v["schema"].as_str().context("the registry's answer has no schema")?;
    Ok((ty, text.to_string()))
}
