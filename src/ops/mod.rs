//! Operator commands (`weir topic ...`): plain Kafka clients over the wire
//! (librdkafka, as `weir mirror` uses), so they work against any
//! Kafka-compatible cluster, like rpk and kcat. Connection: `--brokers` (or
//! `WEIR_BROKERS`, default 127.0.0.1:9092) and any librdkafka property with
//! `-X key=value` (`-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-256
//! ...`). Listings print a table, or JSON with `--format json`.
//!
//! Exit codes: 0 when everything asked for was done; 1 when the cluster
//! refused something (each refusal is printed with Kafka's error name and
//! message) or could not be reached; 2 for a usage error (clap's).

/// `println!` that ends the command quietly when stdout is a closed pipe
/// (`weir topic list | head -1`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::ops::stdout_failed(e)
        }
    }};
}

/// Exit on a failed write to stdout: quietly when the reader went away.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("weir: cannot write to stdout: {e}");
    std::process::exit(1);
}

pub mod acl;
pub mod cluster;
pub mod encoding;
pub mod group;
pub mod native;
pub mod profile;
pub mod progress;
pub mod records;
pub mod registry_client;
pub mod schema;
pub mod share_group;
pub mod time;
pub mod topic;
pub mod user;
pub mod wire;

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// The connection and output flags every operator command takes.
#[derive(Args, Clone, Debug)]
pub struct Conn {
    /// Bootstrap brokers, comma-separated [default: the profile's, else 127.0.0.1:9092]
    #[arg(long, env = "WEIR_BROKERS", global = true)]
    pub brokers: Option<String>,
    /// The connection profile to use [default: the current one] (see `weir profile`)
    #[arg(long, env = "WEIR_PROFILE", global = true)]
    pub profile: Option<String>,
    /// A librdkafka client property, e.g. -X security.protocol=SASL_SSL (repeatable)
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    pub properties: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub format: Format,
    /// Seconds to wait for the cluster
    #[arg(long, value_name = "SECONDS", default_value_t = 30, global = true)]
    pub timeout: u64,
    /// Schema registry URL, http:// or https:// [default: the profile's, else http://127.0.0.1:8081]
    #[arg(long, env = "WEIR_REGISTRY", global = true)]
    pub registry: Option<String>,
    /// Schema registry credentials, USER:PASSWORD (HTTP basic)
    #[arg(long, env = "WEIR_REGISTRY_USER", value_name = "USER:PASSWORD", hide_env_values = true, global = true)]
    pub registry_user: Option<String>,
    /// CA certificate (PEM) to trust for an https registry, besides the system's
    #[arg(long, value_name = "FILE", global = true)]
    pub registry_ca: Option<String>,
}

impl Conn {
    /// The connection flags as given (no profile, no defaults): what `weir
    /// profile create` saves.
    pub fn given(&self) -> profile::Profile {
        profile::Profile {
            brokers: self.brokers.clone(),
            properties: self.properties.clone(),
            registry: self.registry.clone(),
            registry_user: self.registry_user.clone(),
            registry_ca: self.registry_ca.clone(),
        }
    }

    /// Fills what the flags and environment left open from the selected
    /// profile; its `-X` properties come first, so the command line's win (and
    /// `--brokers` given wins over the profile's `-X bootstrap.servers`).
    pub fn with_profile(mut self) -> Result<Conn> {
        if let Some(mut p) = profile::selected(self.profile.as_deref())? {
            if self.brokers.is_some() {
                p.properties
                    .retain(|kv| kv.split_once('=').is_none_or(|(k, _)| canonical(k.trim()) != "bootstrap.servers"));
            }
            self.brokers = self.brokers.or(p.brokers);
            self.registry = self.registry.or(p.registry);
            self.registry_user = self.registry_user.or(p.registry_user);
            self.registry_ca = self.registry_ca.or(p.registry_ca);
            self.properties = p.properties.into_iter().chain(self.properties).collect();
        }
        Ok(self)
    }

    pub fn brokers(&self) -> &str {
        self.brokers.as_deref().unwrap_or("127.0.0.1:9092")
    }

    pub fn registry(&self) -> &str {
        self.registry.as_deref().unwrap_or("http://127.0.0.1:8081")
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }

    /// The value of a `-X` property (by librdkafka's name, or an alias of it),
    /// the last one given.
    pub fn property(&self, key: &str) -> Option<String> {
        self.properties.iter().rev().find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (canonical(k.trim()) == key).then(|| v.trim().to_string())
        })
    }

    pub fn client_config(&self) -> Result<ClientConfig> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.brokers()).set("client.id", "weir-cli");
        // The commands report errors themselves; librdkafka's own log lines would repeat them.
        c.set("log_level", "3");
        // Describing a topic must not create it (librdkafka's producer-side default would).
        c.set("allow.auto.create.topics", "false");
        for kv in &self.properties {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("-X expects KEY=VALUE, got '{kv}'");
            };
            // One key per property, so the last one given wins as in librdkafka (the
            // config is a map; two names of one property would go in any order).
            c.set(canonical(k.trim()), v.trim());
        }
        Ok(c)
    }
}

/// The system's trusted roots plus the CA certificates in the PEM file `file`
/// (librdkafka's `probe`, its search of the usual places, is the system's
/// roots) and the PEM text `pem`.
pub fn trusted_roots(file: Option<&str>, pem: Option<&str>) -> Result<tokio_rustls::rustls::RootCertStore> {
    use anyhow::Context;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    let mut roots = weir_broker::net::http_client::HttpClient::system_roots();
    if let Some(path) = file.filter(|p| *p != "probe") {
        if std::path::Path::new(path).is_dir() {
            bail!("{path}: a directory of CA certificates is not supported (name a PEM file)");
        }
        for cert in CertificateDer::pem_file_iter(path).with_context(|| format!("cannot read {path}"))? {
            roots.add(cert.with_context(|| format!("bad certificate in {path}"))?).context("bad CA certificate")?;
        }
    }
    if let Some(pem) = pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.context("bad certificate in ssl.ca.pem")?).context("bad CA certificate in ssl.ca.pem")?;
        }
    }
    Ok(roots)
}

/// librdkafka's name of a property given by an alias.
fn canonical(key: &str) -> &str {
    match key {
        "sasl.mechanism" => "sasl.mechanisms",
        "metadata.broker.list" => "bootstrap.servers",
        other => other,
    }
}

/// Kafka's name of an error code (`TOPIC_ALREADY_EXISTS`), from librdkafka's.
pub fn error_name(code: RDKafkaErrorCode) -> String {
    weir_broker::api::error_codes::snake_upper(&format!("{code:?}"))
}

/// Which partitions a `reset-offsets` moves (one of --topic and --all-topics is
/// required; the subcommand's `which` group says so).
#[derive(clap::Args, Debug)]
pub struct ResetScope {
    /// The topic whose offsets move (every partition, or --partition)
    #[arg(long)]
    pub topic: Option<String>,
    /// Every topic the group has offsets for
    #[arg(long)]
    pub all_topics: bool,
    /// Only this partition
    #[arg(long)]
    pub partition: Option<i32>,
}

/// Where a `reset-offsets` moves to, the flags both group commands take (one of
/// them, or `group`'s --shift-by, is required: the subcommand's `to` group).
#[derive(clap::Args, Debug)]
pub struct ResetTo {
    #[arg(long)]
    pub to_earliest: bool,
    #[arg(long)]
    pub to_latest: bool,
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    /// The first offset whose record timestamp is at or after this time
    /// (YYYY-MM-DDTHH:mm:SS.sss[Z|+HH:MM], UTC by default, or epoch ms)
    #[arg(long, value_name = "DATETIME")]
    pub to_datetime: Option<String>,
}

/// Kafka's name of an error code as the wire carries it (`GROUP_ID_NOT_FOUND`).
pub fn kafka_error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        Some(e) => weir_broker::api::error_codes::snake_upper(&format!("{e:?}")),
        None => format!("error {code}"),
    }
}

/// librdkafka's description of an error code (`Broker: Topic already exists`).
pub fn error_message(code: RDKafkaErrorCode) -> String {
    let text = code.to_string();
    match text.split_once(" (") {
        Some((_, rest)) => rest.trim_end_matches(')').to_string(),
        None => text,
    }
}

/// Prints each named resource's outcome (`what`: topic, group); an error when any failed.
pub fn report(
    conn: &Conn,
    what: &str,
    results: Vec<Result<String, (String, RDKafkaErrorCode)>>,
    done: &str,
) -> Result<()> {
    let rows: Vec<(String, Option<(String, String)>)> = results
        .into_iter()
        .map(|r| match r {
            Ok(t) => (t, None),
            Err((t, code)) => (t, Some((error_name(code), error_message(code)))),
        })
        .collect();
    report_rows(conn, what, rows, done)
}

/// As [`report`], each outcome given as the error's Kafka name and message, if any.
pub fn report_rows(conn: &Conn, what: &str, rows: Vec<(String, Option<(String, String)>)>, done: &str) -> Result<()> {
    let failed = rows.iter().filter(|(_, e)| e.is_some()).count();
    match conn.format {
        Format::Json | Format::Yaml => print_json(
            conn.format,
            &Value::Array(
                rows.iter()
                    .map(|(t, e)| match e {
                        None => json!({what: t, "error": null}),
                        Some((name, msg)) => json!({what: t, "error": {"code": name, "message": msg}}),
                    })
                    .collect(),
            ),
        ),
        Format::Table => print_table(
            &[what.to_uppercase().as_str(), "STATUS"],
            &rows
                .iter()
                .map(|(t, e)| vec![t.clone(), e.as_ref().map_or(done.to_string(), |(n, m)| format!("{n}: {m}"))])
                .collect::<Vec<_>>(),
        ),
    }
    if failed > 0 {
        bail!("{failed} of {} {what}s failed", rows.len());
    }
    Ok(())
}

/// Prints rows under headers, columns padded to their widest cell.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints a document: JSON on one line, or YAML (`--format yaml`).
pub fn print_json(format: Format, v: &serde_json::Value) {
    match format {
        Format::Yaml => out!("{}", yaml(v).trim_end()),
        _ => out!("{v}"),
    }
}

/// A JSON value as a YAML block document. Strings are double-quoted (JSON's
/// escapes are YAML's), so no value can be read back as another type.
pub fn yaml(v: &Value) -> String {
    fn key(k: &str) -> String {
        let plain = !k.is_empty()
            && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            && !k.starts_with(['-', '.'])
            && !matches!(k, "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~")
            && k.parse::<f64>().is_err();
        if plain {
            k.to_string()
        } else {
            Value::String(k.to_string()).to_string()
        }
    }
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::Array(a) if a.is_empty() => Some("[]".into()),
            Value::Object(o) if o.is_empty() => Some("{}".into()),
            Value::Array(_) | Value::Object(_) => None,
            other => Some(other.to_string()),
        }
    }
    fn block(v: &Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            Value::Object(o) if !o.is_empty() => {
                for (k, x) in o {
                    match scalar(x) {
                        Some(s) => out.push_str(&format!("{pad}{}: {s}\n", key(k))),
                        None => {
                            out.push_str(&format!("{pad}{}:\n", key(k)));
                            block(x, indent + 2, out);
                        }
                    }
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for x in a {
                    match scalar(x) {
                        Some(s) => out.push_str(&format!("{pad}- {s}\n")),
                        None => {
                            // The item's first line follows the dash; the rest keep its indent.
                            let mut inner = String::new();
                            block(x, indent + 2, &mut inner);
                            out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                        }
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", scalar(other).unwrap_or_default())),
        }
    }
    let mut out = String::new();
    block(v, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn yaml_documents() {
        let v = serde_json::json!({
            "name": "orders", "partitions": [{"id": 0, "isr": [1, 2]}, {"id": 1, "isr": []}],
            "configs": {}, "null": null, "note": "a: b\n", "1x": true,
        });
        // Keys keep their order (serde_json's preserve_order, on in this workspace).
        let want = "name: \"orders\"\npartitions:\n  - id: 0\n    isr:\n      - 1\n      - 2\n  - id: 1\n    isr: []\n\
                    configs: {}\n\"null\": null\nnote: \"a: b\\n\"\n1x: true\n";
        assert_eq!(super::yaml(&v), want);
        assert_eq!(super::yaml(&serde_json::json!([])), "[]\n");
    }

    #[test]
    fn error_names_are_kafkas() {
        use rdkafka::error::RDKafkaErrorCode as C;
        assert_eq!(super::error_name(C::TopicAlreadyExists), "TOPIC_ALREADY_EXISTS");
        assert_eq!(super::error_name(C::UnknownTopicOrPartition), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(super::error_name(C::InvalidPartitions), "INVALID_PARTITIONS");
        assert_eq!(super::error_message(C::TopicAlreadyExists), "Broker: Topic already exists");
    }

    #[test]
    fn the_last_of_a_propertys_names_wins() {
        let conn = |props: &[&str]| super::Conn {
            brokers: None,
            profile: None,
            properties: props.iter().map(|p| p.to_string()).collect(),
            format: super::Format::Table,
            timeout: 30,
            registry: None,
            registry_user: None,
            registry_ca: None,
        };
        for (props, want) in [
            (["sasl.mechanisms=PLAIN", "sasl.mechanism=SCRAM-SHA-256"], "SCRAM-SHA-256"),
            (["sasl.mechanism=SCRAM-SHA-256", "sasl.mechanisms=PLAIN"], "PLAIN"),
        ] {
            let c = conn(&props);
            assert_eq!(c.property("sasl.mechanisms").as_deref(), Some(want), "{props:?}");
            // librdkafka is given one value, the same.
            assert_eq!(c.client_config().unwrap().get("sasl.mechanisms"), Some(want), "{props:?}");
            assert_eq!(c.client_config().unwrap().get("sasl.mechanism"), None);
        }
        let c = conn(&["metadata.broker.list=a:1"]);
        assert_eq!(c.client_config().unwrap().get("bootstrap.servers"), Some("a:1"));
    }
}
