//! Errors of the replicator, each naming what it is about.

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("line {line}: {why}")]
    Properties { line: usize, why: String },
    #[error("mirror config: {key}: {why}")]
    Config { key: String, why: String },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{what}: {why}")]
    Kafka { what: String, why: String },
    #[error("malformed {what} record: {why}")]
    Format { what: &'static str, why: String },
}

/// A Kafka-side failure: `what` it was about and `why`.
#[cfg(feature = "clients")]
pub(crate) fn kafka(what: &str, why: impl std::fmt::Display) -> MirrorError {
    MirrorError::Kafka { what: what.to_string(), why: why.to_string() }
}

impl MirrorError {
    pub fn config(key: impl Into<String>, why: impl Into<String>) -> MirrorError {
        MirrorError::Config { key: key.into(), why: why.into() }
    }
}
