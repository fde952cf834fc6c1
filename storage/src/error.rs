//! Typed storage errors. The broker maps them to Kafka error codes:
//! `Io`/`DiskFull`/`Offline` -> KAFKA_STORAGE_ERROR, `Closed` -> NOT_LEADER_OR_FOLLOWER, `CorruptBatch`/`InvalidRecord`/
//! `UnsupportedMagic` -> CORRUPT_MESSAGE (or INVALID_RECORD), `MessageTooLarge` ->
//! MESSAGE_TOO_LARGE, `OffsetOutOfRange` -> OFFSET_OUT_OF_RANGE.

use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Every failure the storage engine reports.
#[derive(thiserror::Error, Debug)]
pub enum StorageError {
    /// An I/O operation failed (KAFKA_STORAGE_ERROR).
    #[error("I/O error during {op} on {path:?}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The disk is full (ENOSPC / EDQUOT) (KAFKA_STORAGE_ERROR).
    #[error("disk full while writing {path:?}")]
    DiskFull { path: PathBuf },
    /// A batch failed validation: bad length, CRC mismatch, truncated (CORRUPT_MESSAGE).
    #[error("corrupt record batch at position {position}: {reason}")]
    CorruptBatch { position: usize, reason: String },
    /// Structurally valid but unacceptable records, e.g. zero records (INVALID_RECORD).
    #[error("invalid record: {reason}")]
    InvalidRecord { reason: String },
    /// A batch is larger than `max.message.bytes` (MESSAGE_TOO_LARGE).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: u64 },
    /// The requested offset is outside `[log_start, log_end]` (OFFSET_OUT_OF_RANGE).
    #[error("offset {offset} out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange { offset: i64, log_start: i64, log_end: i64 },
    /// Only RecordBatch v2 (magic 2) is stored.
    #[error("unsupported record batch magic {magic}")]
    UnsupportedMagic { magic: i8 },
    /// An earlier I/O error took the log offline (KAFKA_STORAGE_ERROR).
    #[error("log {path:?} is offline after an I/O error; the broker recovers it when it restarts")]
    Offline { path: PathBuf },
    /// The log was closed (or deleted).
    #[error("log is closed")]
    Closed,

    /// An idempotent producer's batch does not follow its previous one.
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrderSequence { producer_id: i64, expected: i32, got: i32 },

    /// A batch from an older epoch of a producer that has since been re-initialised.
    #[error("producer {producer_id}: epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch { producer_id: i64, epoch: i16, current: i16 },
}

impl StorageError {
    /// Wraps an I/O error, mapping ENOSPC/EDQUOT to [`StorageError::DiskFull`].
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> StorageError {
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => StorageError::DiskFull { path: path.to_path_buf() },
            _ => StorageError::Io { op, path: path.to_path_buf(), source },
        }
    }

    pub(crate) fn corrupt(position: usize, reason: impl Into<String>) -> StorageError {
        StorageError::CorruptBatch { position, reason: reason.into() }
    }
}

/// Extension to attach an operation and path to `std::io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| StorageError::io(op, path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_maps_to_disk_full() {
        let e = StorageError::io("write", Path::new("/x"), std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(matches!(e, StorageError::DiskFull { .. }));
        let e = StorageError::io("write", Path::new("/x"), std::io::Error::from_raw_os_error(libc::EIO));
        assert!(matches!(e, StorageError::Io { .. }));
    }
}
