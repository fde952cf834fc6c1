//! Log levels changed at run time: Kafka's BROKER_LOGGER config resource.
//!
//! A logger is a `tracing` target: `root` (every target without a level of its
//! own) or a crate or module path (`weir_broker`, `weir_broker::group`). Levels take
//! Kafka's names (TRACE, DEBUG, INFO, WARN, ERROR, FATAL; FATAL logs as ERROR).
//! The process installs the function that turns the levels into its log filter (an
//! `EnvFilter` directive string such as `info,weir_broker::group=debug`); until it
//! does, levels are only described. As in Kafka, levels are not persisted: a
//! restart starts from `RUST_LOG` again.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::error::TopicError;

pub const ROOT_LOGGER: &str = "root";

/// Kafka's log levels (log4j names).
pub const LEVELS: &[&str] = &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The crates of this process: the loggers listed, and the prefixes a logger name
/// must have to exist.
pub const CRATES: &[&str] =
    &["weir", "weir_broker", "weir_storage", "weir_registry", "weir_manager_ui", "weir_mirror", "weir_bench"];

/// Turns a filter directive string into the process's log filter.
pub type ApplyFilter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

#[derive(Default)]
struct Levels {
    root: String,
    by_logger: BTreeMap<String, String>,
    /// Directives that are not a plain `target=level` (span or field filters):
    /// kept as they were given.
    other: Vec<String>,
}

#[derive(Default)]
pub struct Loggers {
    levels: Mutex<Levels>,
    apply: OnceLock<ApplyFilter>,
}

fn tracing_level(kafka: &str) -> &'static str {
    match kafka {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    }
}

fn kafka_level(tracing: &str) -> Option<&'static str> {
    Some(match tracing.to_ascii_lowercase().as_str() {
        "trace" => "TRACE",
        "debug" => "DEBUG",
        "info" => "INFO",
        "warn" => "WARN",
        "error" => "ERROR",
        _ => return None,
    })
}

fn exists(logger: &str) -> bool {
    logger == ROOT_LOGGER
        || CRATES.iter().any(|c| {
            logger.strip_prefix(c).is_some_and(|rest| {
                rest.is_empty()
                    || rest.strip_prefix("::").is_some_and(|m| {
                        !m.is_empty()
                            && m.split("::")
                                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                    })
            })
        })
}

impl Loggers {
    /// Installs the process's filter, starting from `initial` (RUST_LOG syntax).
    /// Once only; later calls change nothing.
    pub fn install(&self, initial: &str, apply: ApplyFilter) {
        let mut levels = Levels { root: "INFO".into(), ..Levels::default() };
        for d in initial.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match d.split_once('=') {
                None if kafka_level(d).is_some() => levels.root = kafka_level(d).unwrap_or("INFO").into(),
                Some((target, level)) if exists(target) && kafka_level(level).is_some() => {
                    levels.by_logger.insert(target.to_string(), kafka_level(level).unwrap_or("INFO").into());
                }
                _ => levels.other.push(d.to_string()),
            }
        }
        if self.apply.set(apply).is_ok() {
            *self.levels.lock() = levels;
        }
    }

    /// Every logger with its level: root, the crates, then loggers given a level.
    pub fn describe(&self) -> Vec<(String, String)> {
        let levels = self.levels.lock();
        let root = if levels.root.is_empty() { "INFO".to_string() } else { levels.root.clone() };
        let mut out = vec![(ROOT_LOGGER.to_string(), root.clone())];
        let mut names: Vec<&str> = CRATES.to_vec();
        names.extend(levels.by_logger.keys().map(String::as_str));
        names.sort_unstable();
        names.dedup();
        for name in names {
            // A logger without a level of its own has its nearest parent's.
            let level = std::iter::successors(Some(name), |n| n.rsplit_once("::").map(|p| p.0))
                .find_map(|n| levels.by_logger.get(n))
                .unwrap_or(&root);
            out.push((name.to_string(), level.clone()));
        }
        out
    }

    /// Checks a change as Kafka does (ConfigAdminManager's log-level checks).
    pub fn check_set(logger: &str, level: &str) -> Result<(), TopicError> {
        if !exists(logger) {
            return Err(TopicError::InvalidConfig(format!("Logger {logger} does not exist!")));
        }
        if !LEVELS.contains(&level) {
            return Err(TopicError::InvalidConfig(format!(
                "Cannot set the log level of {logger} to {level} as it is not a supported log level. Valid log levels are {}",
                LEVELS.join(", ")
            )));
        }
        Ok(())
    }

    pub fn check_unset(logger: &str) -> Result<(), TopicError> {
        if !exists(logger) {
            return Err(TopicError::InvalidConfig(format!("Logger {logger} does not exist!")));
        }
        if logger == ROOT_LOGGER {
            return Err(TopicError::InvalidRequest(format!(
                "Removing the log level of the {ROOT_LOGGER} logger is not allowed"
            )));
        }
        Ok(())
    }

    /// Applies checked changes (`None`: back to the parent's level) at once.
    pub fn apply(&self, changes: &[(String, Option<String>)]) -> Result<(), TopicError> {
        let Some(apply) = self.apply.get() else {
            return Err(TopicError::InvalidRequest("this process has no log filter that can be changed".into()));
        };
        let mut levels = self.levels.lock();
        for (logger, level) in changes {
            match (logger.as_str(), level) {
                (ROOT_LOGGER, Some(l)) => levels.root = l.clone(),
                (_, Some(l)) => {
                    levels.by_logger.insert(logger.clone(), l.clone());
                }
                (_, None) => {
                    levels.by_logger.remove(logger);
                }
            }
        }
        let mut directives = vec![tracing_level(&levels.root).to_string()];
        directives.extend(levels.by_logger.iter().map(|(t, l)| format!("{t}={}", tracing_level(l))));
        directives.extend(levels.other.iter().cloned());
        apply(&directives.join(",")).map_err(TopicError::InvalidConfig)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn levels_change_the_filter_and_are_described_per_logger() {
        let seen = Arc::new(Mutex::new(String::new()));
        let l = Loggers::default();
        let s = seen.clone();
        l.install(
            "warn,weir_storage=debug,weir_broker[req]=trace",
            Box::new(move |f| {
                *s.lock() = f.to_string();
                Ok(())
            }),
        );
        let d = l.describe();
        assert_eq!(d[0], ("root".to_string(), "WARN".to_string()));
        assert!(d.contains(&("weir_storage".to_string(), "DEBUG".to_string())));
        assert!(d.contains(&("weir_broker".to_string(), "WARN".to_string())));
        Loggers::check_set("weir_broker::group", "DEBUG").unwrap();
        l.apply(&[("weir_broker::group".into(), Some("DEBUG".into())), ("root".into(), Some("FATAL".into()))]).unwrap();
        assert_eq!(*seen.lock(), "error,weir_broker::group=debug,weir_storage=debug,weir_broker[req]=trace");
        assert!(l.describe().contains(&("weir_broker::group".to_string(), "DEBUG".to_string())));
        l.apply(&[("weir_storage".into(), None)]).unwrap();
        assert!(l.describe().contains(&("weir_storage".to_string(), "FATAL".to_string())), "the root's, again");

        assert!(Loggers::check_set("kafka.server.KafkaApis", "DEBUG")
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
        assert!(Loggers::check_set("weir_broker", "LOUD")
            .unwrap_err()
            .to_string()
            .contains("not a supported log level"));
        assert!(matches!(Loggers::check_unset("root"), Err(TopicError::InvalidRequest(_))));
        assert!(Loggers::check_set("weir_brokerx", "INFO").is_err());
        assert!(Loggers::check_set("weir_broker::", "INFO").is_err());
    }

    #[test]
    fn without_an_installed_filter_levels_are_described_but_not_changed() {
        let l = Loggers::default();
        assert_eq!(l.describe()[0].1, "INFO");
        assert!(l.apply(&[("root".into(), Some("DEBUG".into()))]).is_err());
    }
}
