//! # weir-storage: segmented, memory-mapped partition logs
//!
//! Every topic partition (and the internal `__consumer_offsets` / `_schemas` topics)
//! is a [`Log`] in `<data-dir>/<topic>-<partition>/`. [`LogManager`] owns all logs
//! of a data directory and runs the background work.
//!
//! ## On-disk format
//!
//! A partition directory holds segments, each named by its base offset as 20
//! zero-padded decimal digits (`00000000000000001234.log`):
//!
//! * `<base>.log` — RecordBatch v2 (magic 2) batches, byte for byte as the Kafka wire
//!   protocol carries them, back to back. The only bytes the broker changes are the
//!   base offset (outside the CRC) and, for `LogAppendTime` topics, the attributes
//!   timestamp-type bit and the max timestamp (the CRC-32C is then recomputed).
//!   Compressed batches stay compressed.
//! * `<base>.index` — sparse offset index: 8-byte big-endian entries
//!   `(u32 offset - base, u32 file position)` pointing at batch starts, added whenever
//!   more than `index.interval.bytes` were appended since the previous entry. Both
//!   fields strictly increase and positions are > 0 (the first batch is never
//!   indexed). Memory-mapped; the active segment's file is extended (sparse) to
//!   `segment.index.bytes`, its blocks allocated just ahead of its entries, and trimmed to its entries when the segment is rolled or
//!   the log closed.
//! * `<base>.timeindex` — 12-byte entries `(i64 max timestamp so far, u32 relative
//!   offset of the last record of the batch carrying it)`, timestamps strictly
//!   increasing; added with offset-index entries and once more when sealing.
//! * `log-start-offset` — checkpoint of the log start offset (moved by DeleteRecords
//!   and retention), decimal text, replaced atomically (temp file, fsync, rename,
//!   fsync dir).
//! * `cleaner-offset-checkpoint` — first dirty offset for compaction (same format).
//! * Transient names: `cleaner.tmp/` (compaction output being written; removed at
//!   startup), `<base>.log.swap` (complete, fsynced compaction output; at startup it
//!   replaces every segment whose base offset lies in its offset range and the
//!   indexes are rebuilt), `*.truncating` (copy-on-truncate temp), `*.tmp`
//!   (checkpoint temp), `*.cleaned` / `*.deleted` (removed at startup).
//!
//! `<data-dir>/.weir_clean_shutdown` is written by [`LogManager::shutdown`] after all
//! logs were flushed and closed; [`LogManager::open`] removes it. Deleted partitions
//! are renamed to `<topic>-<partition>.<unique>.delete` and removed after
//! `file.delete.delay.ms` (or at the next startup). `<data-dir>/.recycle/` holds
//! `.log` files of deleted segments (retention, deleted partitions) kept for new
//! segments to write into, up to the pool's budget; it is emptied at startup. See
//! `recycle.rs` for why and for the steps that make a file safe to reuse.
//!
//! ## Invariants
//!
//! * Segment base offsets strictly increase; every batch of a segment has offsets in
//!   `[base, next segment's base)`, batches within the log strictly increase in
//!   offset (gaps only after compaction). The last segment is the *active* one and is
//!   the only one appended to; it is never deleted by retention or compaction.
//! * `log_start_offset <= log_end_offset`; the log end offset is the offset after the
//!   last batch of the active segment (or its base offset when it is empty).
//! * A batch is visible to readers only after it is completely written and indexed
//!   (size and end offset are published with release stores afterwards), so a read
//!   never sees a partial batch. Reads return whole batches.
//! * Bytes below a segment's committed size are never modified in place. Shrinking a
//!   file (truncation) happens only when no reader holds a mapping of it; otherwise
//!   the kept prefix is copied to a new file that replaces the old one. Deleted
//!   segment files are unlinked after their handles leave the segment list; readers
//!   holding `Bytes` keep the mapping (and so the inode) alive.
//! * Durability: with [`FlushPolicy::Durable`] nothing is reported durable
//!   ([`Log::flushed_offset`], [`Log::flush_to`]) before `fdatasync` of every segment
//!   holding it (and an fsync of the directory after a roll). An fdatasync failure
//!   poisons the log (no later success is reported).
//! * Recovery (no clean-shutdown marker): the active segment is scanned batch by
//!   batch with CRC checks, older segments from their last index entry on; the file is
//!   truncated at the first torn/corrupt batch and later segments are deleted;
//!   indexes are rebuilt when missing or inconsistent (also after a clean shutdown).
//! * Retention deletes segment files immediately once they are out of the segment
//!   list (open handles keep the data readable), which is how `file.delete.delay.ms`
//!   is honoured for readers; only directory deletes are delayed. A `.log` file that
//!   goes to the segment pool instead leaves its directory at once, and is changed
//!   (every batch's magic byte set to 0, then fdatasync) only once no reader holds
//!   the segment or a mapping of it.
//! * A segment writing into a recycled file holds old bytes past its size. Only an
//!   unclean active segment is scanned to the end of its file, and old batches fail
//!   that scan (magic 0); sealing trims the file to the size, and the trim is
//!   fdatasynced before any later offset is reported durable, so a closed segment's
//!   file length is its size.

pub mod batch;
mod cleaner;
mod clock;
mod config;
mod error;
mod index;
mod log;
mod log_flush;
mod log_producers;
mod manager;
mod producer;
pub mod record;
mod recovery;
mod recycle;
mod retention;
mod segment;
mod segment_read;
pub mod testutil;
pub mod txn;

pub use cleaner::CleanStats;
pub use clock::{Clock, MockClock, SystemClock};
pub use config::{CleanupPolicy, FlushPolicy, LogConfig, TimestampType};
pub use error::{Result, StorageError};
pub use log::{AppendInfo, Log, ReadInfo, TimestampOffset};
pub use manager::{LogManager, TopicPartition, CLEAN_SHUTDOWN_MARKER};
pub use producer::ProducerSummary;
pub use recycle::{SegmentPool, RECYCLE_DIR};
pub use txn::{AbortedTxn, ControlType};
