//! Broker errors, and their mapping to the Kafka error codes clients understand.

use std::path::PathBuf;

use kafka_protocol::ResponseError;
use weir_storage::StorageError;

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

#[derive(thiserror::Error, Debug)]
pub enum BrokerError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("configuration: {0}")]
    Config(String),
    /// A config in a request that cannot be applied (INVALID_CONFIG).
    #[error("{0}")]
    InvalidConfig(String),
    /// A request-level failure with the Kafka error the client should see.
    #[error("{message}")]
    Api { code: ResponseError, message: String },
    #[error("metadata log: {0}")]
    Metadata(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "data directory {path} is locked by another weir process{holder}; \
         stop it or choose another --data-dir"
    )]
    DataDirLocked { path: PathBuf, holder: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl BrokerError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BrokerError::Io { op, path: path.into(), source }
    }

    pub fn api(code: ResponseError, message: impl Into<String>) -> Self {
        BrokerError::Api { code, message: message.into() }
    }

    /// The Kafka error a client sees for this failure.
    pub fn kafka_error(&self) -> ResponseError {
        match self {
            BrokerError::Storage(e) => storage_error(e),
            BrokerError::Api { code, .. } => *code,
            BrokerError::InvalidConfig(_) | BrokerError::Config(_) => ResponseError::InvalidConfig,
            BrokerError::Io { .. } | BrokerError::Metadata(_) => ResponseError::KafkaStorageError,
            BrokerError::DataDirLocked { .. } | BrokerError::Bind { .. } => ResponseError::UnknownServerError,
        }
    }
}

/// Storage failures as Kafka reports them per partition.
pub fn storage_error(e: &StorageError) -> ResponseError {
    match e {
        StorageError::Io { .. } | StorageError::DiskFull { .. } => ResponseError::KafkaStorageError,
        // The log is closing (shutdown, topic deletion): clients refresh metadata and
        // retry, which is what a restart needs.
        StorageError::Closed => ResponseError::NotLeaderOrFollower,
        StorageError::CorruptBatch { .. } | StorageError::InvalidRecord { .. } => ResponseError::CorruptMessage,
        StorageError::UnsupportedMagic { .. } => ResponseError::UnsupportedForMessageFormat,
        StorageError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        StorageError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        #[allow(unreachable_patterns)]
        _ => ResponseError::UnknownServerError,
    }
}
