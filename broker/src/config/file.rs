//! `weir.toml`, the config file `weir serve --config` reads (a Kafka
//! `.properties` file is the other form; the binary reads that with the MM2
//! properties parser). Top-level keys name this process's parts; `[broker]`
//! holds Kafka broker keys, and nested tables are flattened back into dotted names
//! so `log.retention.hours = 24` may be written bare. Arrays become
//! comma-separated lists (Kafka's list form); other values their TOML text.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a `weir.toml` says.
#[derive(Debug, Default)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub kafka_addr: Option<String>,
    pub registry_addr: Option<String>,
    pub console_addr: Option<String>,
    pub mirror_config: Option<PathBuf>,
    /// Kafka broker keys and their values, as text (`BrokerConfig::set` checks them).
    pub broker: BTreeMap<String, String>,
}

/// Parses a `weir.toml` text; the error says what is wrong, not where the file is.
pub fn parse_toml(text: &str) -> Result<FileConfig, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| format!("not valid TOML: {e}"))?;
    let mut fc = FileConfig::default();
    for (key, value) in &table {
        match (key.as_str(), value) {
            ("data_dir", toml::Value::String(s)) => fc.data_dir = Some(PathBuf::from(s)),
            ("kafka_addr", toml::Value::String(s)) => fc.kafka_addr = Some(s.clone()),
            ("registry_addr", toml::Value::String(s)) => fc.registry_addr = Some(s.clone()),
            ("console_addr", toml::Value::String(s)) => fc.console_addr = Some(s.clone()),
            ("mirror_config", toml::Value::String(s)) => fc.mirror_config = Some(PathBuf::from(s)),
            ("broker", toml::Value::Table(_)) => flatten("", value, &mut fc.broker),
            _ => return Err(format!("unknown or mistyped key '{key}'")),
        }
    }
    Ok(fc)
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        toml::Value::Array(items) => {
            let joined: Vec<String> = items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.insert(prefix.to_string(), joined.join(","));
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_tables_and_arrays_become_kafka_keys() {
        let fc = parse_toml(
            "data_dir = \"/d\"\n[broker]\nlog.retention.hours = 24\n\"max.connections\" = 5\nlisteners = [\"PLAINTEXT://a:1\", \"SSL://b:2\"]\n",
        )
        .unwrap();
        assert_eq!(fc.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(fc.broker["log.retention.hours"], "24");
        assert_eq!(fc.broker["max.connections"], "5");
        assert_eq!(fc.broker["listeners"], "PLAINTEXT://a:1,SSL://b:2");
    }

    #[test]
    fn unknown_and_mistyped_top_level_keys_are_refused() {
        assert!(parse_toml("dataa_dir = \"/d\"").unwrap_err().contains("dataa_dir"));
        assert!(parse_toml("data_dir = 5").unwrap_err().contains("data_dir"));
        assert!(parse_toml("[broker\n").unwrap_err().starts_with("not valid TOML"));
    }
}
