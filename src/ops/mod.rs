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

pub mod group;
pub mod records;
pub mod topic;

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
}

/// The connection and output flags every operator command takes.
#[derive(Args, Clone, Debug)]
pub struct Conn {
    /// Bootstrap brokers, comma-separated
    #[arg(long, env = "WEIR_BROKERS", default_value = "127.0.0.1:9092", global = true)]
    pub brokers: String,
    /// A librdkafka client property, e.g. -X security.protocol=SASL_SSL (repeatable)
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    pub properties: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub format: Format,
    /// Seconds to wait for the cluster
    #[arg(long, value_name = "SECONDS", default_value_t = 30, global = true)]
    pub timeout: u64,
}

impl Conn {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }

    pub fn client_config(&self) -> Result<ClientConfig> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("client.id", "weir-cli");
        // The commands report errors themselves; librdkafka's own log lines would repeat them.
        c.set("log_level", "3");
        // Describing a topic must not create it (librdkafka's producer-side default would).
        c.set("allow.auto.create.topics", "false");
        for kv in &self.properties {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("-X expects KEY=VALUE, got '{kv}'");
            };
            c.set(k.trim(), v.trim());
        }
        Ok(c)
    }
}

/// Kafka's name of an error code (`TOPIC_ALREADY_EXISTS`), from librdkafka's.
pub fn error_name(code: RDKafkaErrorCode) -> String {
    weir_broker::api::error_codes::snake_upper(&format!("{code:?}"))
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
    let failed = results.iter().filter(|r| r.is_err()).count();
    let rows: Vec<(String, Option<(String, String)>)> = results
        .into_iter()
        .map(|r| match r {
            Ok(t) => (t, None),
            Err((t, code)) => (t, Some((error_name(code), error_message(code)))),
        })
        .collect();
    match conn.format {
        Format::Json => print_json(&Value::Array(
            rows.iter()
                .map(|(t, e)| match e {
                    None => json!({what: t, "error": null}),
                    Some((name, msg)) => json!({what: t, "error": {"code": name, "message": msg}}),
                })
                .collect(),
        )),
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
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints a JSON value on one line.
pub fn print_json(v: &serde_json::Value) {
    println!("{v}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_names_are_kafkas() {
        use rdkafka::error::RDKafkaErrorCode as C;
        assert_eq!(super::error_name(C::TopicAlreadyExists), "TOPIC_ALREADY_EXISTS");
        assert_eq!(super::error_name(C::UnknownTopicOrPartition), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(super::error_name(C::InvalidPartitions), "INVALID_PARTITIONS");
        assert_eq!(super::error_message(C::TopicAlreadyExists), "Broker: Topic already exists");
    }
}
