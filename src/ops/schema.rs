//! `weir schema register|list|get|check|delete|config|mode` against any
//! Confluent-compatible registry (the REST API of `rpk registry` and the
//! Confluent CLI's `schema-registry` commands). The schema type follows the
//! file's extension (`.avsc` Avro, `.json` JSON Schema, `.proto` Protobuf)
//! unless `--type` says. `check` exits 1 when the schema is incompatible.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use hyper::Method;
use serde_json::{json, Value};

use super::registry_client::{escape, RegistryClient};
use super::{print_json, print_table, Conn, Format};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    Avro,
    Json,
    Protobuf,
}

impl SchemaKind {
    fn name(self) -> &'static str {
        match self {
            SchemaKind::Avro => "AVRO",
            SchemaKind::Json => "JSON",
            SchemaKind::Protobuf => "PROTOBUF",
        }
    }

    fn of_file(path: &Path) -> SchemaKind {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("json") => SchemaKind::Json,
            Some("proto") => SchemaKind::Protobuf,
            _ => SchemaKind::Avro,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct SchemaSource {
    /// The schema file (.avsc, .json, .proto)
    #[arg(long, value_name = "FILE")]
    schema: PathBuf,
    /// The schema type [default: from the file's extension, else avro]
    #[arg(long = "type", value_enum)]
    kind: Option<SchemaKind>,
    /// A reference, NAME=SUBJECT:VERSION (repeatable)
    #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION")]
    references: Vec<String>,
}

impl SchemaSource {
    /// The request body Confluent's API takes for register, lookup and check.
    fn body(&self) -> Result<Value> {
        let text = std::fs::read_to_string(&self.schema)
            .with_context(|| format!("cannot read the schema file {}", self.schema.display()))?;
        let kind = self.kind.unwrap_or_else(|| SchemaKind::of_file(&self.schema));
        let mut body = json!({"schema": text});
        if kind != SchemaKind::Avro {
            body["schemaType"] = json!(kind.name());
        }
        let mut refs = Vec::new();
        for r in &self.references {
            let parsed = r.split_once('=').and_then(|(n, sv)| sv.rsplit_once(':').map(|(s, v)| (n, s, v)));
            let Some((name, subject, version)) = parsed else {
                bail!("--reference expects NAME=SUBJECT:VERSION, got '{r}'");
            };
            let version: i64 = version.parse().with_context(|| format!("--reference {r}: bad version"))?;
            refs.push(json!({"name": name, "subject": subject, "version": version}));
        }
        if !refs.is_empty() {
            body["references"] = Value::Array(refs);
        }
        Ok(body)
    }
}

#[derive(Subcommand, Debug)]
pub enum SchemaCmd {
    /// Register a schema under a subject (an existing identical schema keeps its id).
    /// e.g. weir schema register orders-value --schema order.avsc
    Register {
        subject: String,
        #[command(flatten)]
        source: SchemaSource,
    },
    /// List subjects with their latest version, id and type.  e.g. weir schema list --format json
    List {
        /// Include soft-deleted subjects
        #[arg(long)]
        deleted: bool,
    },
    /// A subject's schema (a version, default the latest), or a schema by id.
    /// e.g. weir schema get orders-value --version 2;  weir schema get --id 7
    Get {
        #[arg(required_unless_present = "id")]
        subject: Option<String>,
        #[arg(long, default_value = "latest")]
        version: String,
        /// The schema with this id
        #[arg(long, conflicts_with = "subject")]
        id: Option<i64>,
    },
    /// Check a schema against a subject under its compatibility level; exits 1 when incompatible.
    /// e.g. weir schema check orders-value --schema order-v2.avsc
    Check {
        subject: String,
        #[command(flatten)]
        source: SchemaSource,
        /// The version to check against (latest), or `all`
        #[arg(long, default_value = "latest")]
        version: String,
    },
    /// Delete a subject, or one version (soft; --permanent after a soft delete).
    /// e.g. weir schema delete orders-value --version 1
    Delete {
        subject: String,
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        permanent: bool,
    },
    /// The compatibility level, global or a subject's; --set changes it.
    /// e.g. weir schema config orders-value --set FULL_TRANSITIVE
    Config {
        subject: Option<String>,
        /// BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE
        #[arg(long, value_name = "LEVEL")]
        set: Option<String>,
    },
    /// The mode, global or a subject's; --set changes it.  e.g. weir schema mode --set READONLY
    Mode {
        subject: Option<String>,
        /// READWRITE, READONLY or IMPORT
        #[arg(long, value_name = "MODE")]
        set: Option<String>,
    },
}

pub async fn run(cmd: SchemaCmd, conn: Conn) -> Result<()> {
    let r = RegistryClient::new(&conn)?;
    match cmd {
        SchemaCmd::Register { subject, source } => {
            let body = source.body()?;
            let s = escape(&subject);
            let id = r.call(Method::POST, &format!("/subjects/{s}/versions"), Some(&body)).await?;
            // The registration answers only the id; the lookup gives the version too.
            let found = r.call(Method::POST, &format!("/subjects/{s}"), Some(&body)).await?;
            let out = json!({"subject": subject, "version": found["version"], "id": id["id"]});
            emit(&conn, &["SUBJECT", "VERSION", "ID"], &[out], true);
        }
        SchemaCmd::List { deleted } => {
            let q = if deleted { "?deleted=true" } else { "" };
            let subjects = r.call(Method::GET, &format!("/subjects{q}"), None).await?;
            let mut rows = Vec::new();
            for s in subjects.as_array().context("GET /subjects: not a list")? {
                let s = s.as_str().unwrap_or_default();
                let v = r.call(Method::GET, &format!("/subjects/{}/versions/latest{q}", escape(s)), None).await?;
                rows.push(json!({"subject": s, "version": v["version"], "id": v["id"],
                    "type": v.get("schemaType").cloned().unwrap_or(json!("AVRO"))}));
            }
            emit(&conn, &["SUBJECT", "VERSION", "ID", "TYPE"], &rows, false);
        }
        SchemaCmd::Get { subject, version, id } => {
            let mut v = match (id, &subject) {
                (Some(id), _) => {
                    let mut v = r.call(Method::GET, &format!("/schemas/ids/{id}"), None).await?;
                    v["id"] = json!(id);
                    v
                }
                (None, Some(s)) => {
                    r.call(Method::GET, &format!("/subjects/{}/versions/{}", escape(s), escape(&version)), None).await?
                }
                (None, None) => bail!("give a subject or --id"),
            };
            if v.get("schemaType").is_none() {
                v["schemaType"] = json!("AVRO");
            }
            match conn.format {
                Format::Json | Format::Yaml => print_json(conn.format, &v),
                Format::Table => {
                    for (key, label) in
                        [("subject", "SUBJECT"), ("version", "VERSION"), ("id", "ID"), ("schemaType", "TYPE")]
                    {
                        if let Some(x) = v.get(key) {
                            out!("{label:<9}{}", x.as_str().map_or(x.to_string(), str::to_string));
                        }
                    }
                    let text = v["schema"].as_str().unwrap_or_default();
                    // Avro and JSON Schema are JSON: shown indented; Protobuf as written.
                    let shown = serde_json::from_str::<Value>(text)
                        .ok()
                        .and_then(|j| serde_json::to_string_pretty(&j).ok())
                        .unwrap_or_else(|| text.to_string());
                    out!("\n{shown}");
                }
            }
        }
        SchemaCmd::Check { subject, source, version } => {
            let path =
                format!("/compatibility/subjects/{}/versions/{}?verbose=true", escape(&subject), escape(&version));
            let path = if version == "all" {
                format!("/compatibility/subjects/{}/versions?verbose=true", escape(&subject))
            } else {
                path
            };
            let v = r.call(Method::POST, &path, Some(&source.body()?)).await?;
            let ok = v["is_compatible"].as_bool().context("the registry's answer has no is_compatible")?;
            match conn.format {
                Format::Json | Format::Yaml => print_json(
                    conn.format,
                    &json!({"subject": subject, "is_compatible": ok,
                    "messages": v.get("messages").cloned().unwrap_or(json!([]))}),
                ),
                Format::Table => {
                    out!("COMPATIBLE  {ok}");
                    for m in v["messages"].as_array().into_iter().flatten() {
                        out!("  {}", m.as_str().map_or(m.to_string(), str::to_string));
                    }
                }
            }
            if !ok {
                bail!("the schema is not compatible with {subject} version {version}");
            }
        }
        SchemaCmd::Delete { subject, version, permanent } => {
            let q = if permanent { "?permanent=true" } else { "" };
            let path = match &version {
                Some(v) => format!("/subjects/{}/versions/{}{q}", escape(&subject), escape(v)),
                None => format!("/subjects/{}{q}", escape(&subject)),
            };
            let v = r.call(Method::DELETE, &path, None).await?;
            let versions: Vec<Value> = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            let rows: Vec<Value> = versions
                .iter()
                .map(|n| json!({"subject": subject, "version": n, "deleted": if permanent { "permanent" } else { "soft" }}))
                .collect();
            emit(&conn, &["SUBJECT", "VERSION", "DELETED"], &rows, false);
        }
        SchemaCmd::Config { subject, set } => {
            let path = subject.as_ref().map_or("/config".to_string(), |s| format!("/config/{}", escape(s)));
            let level = match set {
                Some(level) => {
                    let body = json!({"compatibility": level.to_ascii_uppercase()});
                    r.call(Method::PUT, &path, Some(&body)).await?["compatibility"].clone()
                }
                None => {
                    let q = if subject.is_some() { "?defaultToGlobal=true" } else { "" };
                    r.call(Method::GET, &format!("{path}{q}"), None).await?["compatibilityLevel"].clone()
                }
            };
            let row = json!({"subject": subject.as_deref().unwrap_or("(global)"), "compatibility": level});
            emit(&conn, &["SUBJECT", "COMPATIBILITY"], &[row], true);
        }
        SchemaCmd::Mode { subject, set } => {
            let path = subject.as_ref().map_or("/mode".to_string(), |s| format!("/mode/{}", escape(s)));
            let mode = match set {
                Some(m) => r.call(Method::PUT, &path, Some(&json!({"mode": m.to_ascii_uppercase()}))).await?,
                None => {
                    let q = if subject.is_some() { "?defaultToGlobal=true" } else { "" };
                    r.call(Method::GET, &format!("{path}{q}"), None).await?
                }
            };
            let row = json!({"subject": subject.as_deref().unwrap_or("(global)"), "mode": mode["mode"]});
            emit(&conn, &["SUBJECT", "MODE"], &[row], true);
        }
    }
    Ok(())
}

/// Rows of JSON objects: a JSON array (the object itself for a `single`
/// answer), or a table whose columns are the headers' keys (`VERSION` -> `version`).
fn emit(conn: &Conn, headers: &[&str], rows: &[Value], single: bool) {
    match conn.format {
        Format::Json | Format::Yaml if single && rows.len() == 1 => print_json(conn.format, &rows[0]),
        Format::Json | Format::Yaml => print_json(conn.format, &Value::Array(rows.to_vec())),
        Format::Table => print_table(
            headers,
            &rows
                .iter()
                .map(|r| {
                    headers
                        .iter()
                        .map(|h| {
                            let v = &r[h.to_ascii_lowercase()];
                            v.as_str().map_or_else(|| v.to_string(), str::to_string)
                        })
                        .collect()
                })
                .collect::<Vec<_>>(),
        ),
    }
}
