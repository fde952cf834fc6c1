//! Kafka RecordBatch v2 header parsing and validation (usable by the broker).
//!
//! Layout (all big-endian): baseOffset i64 @0, batchLength i32 @8 (bytes after this
//! field), partitionLeaderEpoch i32 @12, magic i8 @16, crc u32 @17 (CRC-32C of bytes
//! @21..end), attributes i16 @21, lastOffsetDelta i32 @23, baseTimestamp i64 @27,
//! maxTimestamp i64 @35, producerId i64 @43, producerEpoch i16 @51, baseSequence i32
//! @53, recordCount i32 @57, records @61.

use crate::error::{Result, StorageError};

/// Size of the fixed RecordBatch v2 header.
pub const HEADER_LEN: usize = 61;
/// Bytes before the batchLength-counted region (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;
/// Offset of the magic byte.
pub const MAGIC_OFFSET: usize = 16;
/// Offset of the CRC field.
pub const CRC_OFFSET: usize = 17;
/// Offset of the attributes field (start of the CRC-covered range).
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Offset of lastOffsetDelta.
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Offset of maxTimestamp.
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Bytes needed to know a batch's offsets and length (through lastOffsetDelta).
pub const OFFSETS_PREFIX_LEN: usize = 27;

/// Compression codec ids (attributes bits 0-2).
pub const COMPRESSION_NONE: u8 = 0;
pub const COMPRESSION_GZIP: u8 = 1;
pub const COMPRESSION_SNAPPY: u8 = 2;
pub const COMPRESSION_LZ4: u8 = 3;
pub const COMPRESSION_ZSTD: u8 = 4;
/// attributes bit 3: timestamp type is LogAppendTime.
pub const ATTR_LOG_APPEND_TIME: i16 = 1 << 3;
/// attributes bit 4: transactional batch.
pub const ATTR_TRANSACTIONAL: i16 = 1 << 4;
/// attributes bit 5: control batch.
pub const ATTR_CONTROL: i16 = 1 << 5;
/// attributes bit 6: the base timestamp is the batch's delete horizon (KIP-534),
/// set by the cleaner on a batch it keeps with tombstones or a removable marker.
pub const ATTR_DELETE_HORIZON: i16 = 1 << 6;

#[inline]
pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
#[inline]
pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
#[inline]
pub(crate) fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
#[inline]
pub(crate) fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().unwrap())
}

/// The fixed header of a RecordBatch v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Checks that the buffer holds a full
    /// header, magic is 2 and batchLength is plausible; does not check the CRC or that
    /// the whole batch is present (see [`batches`] / [`validate_batch`]).
    pub fn parse(buf: &[u8]) -> Result<BatchHeader> {
        if buf.len() < HEADER_LEN {
            if buf.len() > MAGIC_OFFSET && buf[MAGIC_OFFSET] as i8 != 2 {
                return Err(StorageError::UnsupportedMagic { magic: buf[MAGIC_OFFSET] as i8 });
            }
            return Err(StorageError::corrupt(0, format!("truncated batch header ({} bytes)", buf.len())));
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(StorageError::UnsupportedMagic { magic });
        }
        let batch_length = be_i32(buf, 8);
        if (batch_length as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(StorageError::corrupt(0, format!("batch length {batch_length} too small")));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length,
            partition_leader_epoch: be_i32(buf, 12),
            magic,
            crc: be_u32(buf, CRC_OFFSET),
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            record_count: be_i32(buf, 57),
        })
    }

    /// Whole batch size including baseOffset and batchLength.
    pub fn total_len(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }
    /// Compression codec (attributes bits 0-2).
    pub fn compression(&self) -> u8 {
        (self.attributes & 0x7) as u8
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
    /// When the cleaner may drop this batch's tombstones (or its marker): set by
    /// the pass that first kept them, so they outlive it by `delete.retention.ms`
    /// whatever their record timestamps say (KIP-534).
    pub fn delete_horizon(&self) -> Option<i64> {
        (self.attributes & ATTR_DELETE_HORIZON != 0).then_some(self.base_timestamp)
    }
    /// True when the batch's timestamps are LogAppendTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }
    /// Offset of the last record in the batch.
    /// Wraps as Kafka's long arithmetic does: a header read from a client may
    /// carry any base offset, and the append path rewrites it before use.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }
    /// Offset following the batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }
}

/// Reads (base offset, total length, last offset) from the first
/// [`OFFSETS_PREFIX_LEN`] bytes of a batch without any validation.
#[inline]
pub(crate) fn peek_offsets(buf: &[u8]) -> (i64, usize, i64) {
    let base = be_i64(buf, 0);
    let len = be_i32(buf, 8);
    let delta = be_i32(buf, LAST_OFFSET_DELTA_OFFSET);
    (base, (len.max(0) as usize) + LOG_OVERHEAD, base.wrapping_add(delta as i64))
}

/// The record count and offset range a batch may carry into a log: at least one
/// record, and a last offset delta that covers them. A client's batch must be
/// dense (Kafka's "inconsistent batch offset range") and must not carry the
/// delete horizon, which only the cleaner sets (a producer could otherwise date
/// its tombstones' removal); a copy of another log (`copy`) may have gaps, and
/// may be a batch its cleaner emptied (no records, a producer's last).
pub(crate) fn check_counts(h: &BatchHeader, copy: bool) -> Result<()> {
    let counted = if copy && h.record_count == 0 {
        h.last_offset_delta >= 0
    } else {
        // Past the first test, record_count - 1 cannot overflow.
        h.record_count > 0 && h.last_offset_delta >= h.record_count - 1
    };
    if counted && (copy || (h.last_offset_delta == h.record_count - 1 && h.delete_horizon().is_none())) {
        return Ok(());
    }
    Err(StorageError::InvalidRecord {
        reason: format!(
            "record count {} / last offset delta {} / attributes {:#06x}",
            h.record_count, h.last_offset_delta, h.attributes
        ),
    })
}

/// Computes the CRC-32C a batch should carry (over attributes..end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// Validates the batch at the start of `buf` (header, full length present, CRC) and
/// returns its header. `position` is used for error reporting.
pub fn validate_batch(buf: &[u8], position: usize) -> Result<BatchHeader> {
    let h = BatchHeader::parse(buf).map_err(|e| match e {
        StorageError::CorruptBatch { reason, .. } => StorageError::corrupt(position, reason),
        other => other,
    })?;
    let total = h.total_len();
    if total > buf.len() {
        return Err(StorageError::corrupt(
            position,
            format!("batch of {total} bytes but only {} available", buf.len()),
        ));
    }
    let crc = compute_crc(&buf[..total]);
    if crc != h.crc {
        return Err(StorageError::corrupt(
            position,
            format!("CRC mismatch: stored {:#010x}, computed {crc:#010x}", h.crc),
        ));
    }
    Ok(h)
}

/// Iterates whole batches in `buf`, validating header, length and CRC. Yields
/// `(header, batch bytes)`; on the first error yields it and stops.
pub fn batches(buf: &[u8]) -> impl Iterator<Item = Result<(BatchHeader, &[u8])>> {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= buf.len() {
            return None;
        }
        match validate_batch(&buf[pos..], pos) {
            Ok(h) => {
                let b = &buf[pos..pos + h.total_len()];
                pos += h.total_len();
                Some(Ok((h, b)))
            }
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
        }
    })
}

/// Rewrites the base offset (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Sets the timestamp type to LogAppendTime with `ts` as max timestamp in a header
/// copy (`header.len() >= HEADER_LEN`); the caller fixes the CRC.
pub(crate) fn set_log_append_time(header: &mut [u8], ts: i64) {
    let attrs = be_i16(header, ATTRIBUTES_OFFSET) | ATTR_LOG_APPEND_TIME;
    header[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
    header[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&ts.to_be_bytes());
}

/// Writes `crc` into the CRC field.
pub(crate) fn set_crc(header: &mut [u8], crc: u32) {
    header[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{BatchBuilder, Record};

    fn sample() -> Vec<u8> {
        BatchBuilder::new(5).record(Record::kv("k", "v").ts(1000)).record(Record::kv("k2", "v2").ts(2000)).build()
    }

    #[test]
    fn counts_from_a_client_are_checked_without_overflow() {
        let mut h = BatchHeader::parse(&sample()).unwrap();
        assert!(check_counts(&h, false).is_ok());
        for (count, delta) in [(i32::MIN, i32::MAX), (0, -1), (3, 1), (i32::MAX, i32::MAX - 1)] {
            h.record_count = count;
            h.last_offset_delta = delta;
            let dense = count > 0 && delta == count - 1;
            assert_eq!(check_counts(&h, false).is_ok(), dense, "{count} / {delta}");
        }
        h.record_count = 2;
        h.last_offset_delta = 9;
        assert!(check_counts(&h, true).is_ok(), "a copy may be gapped");
        h.record_count = 0;
        assert!(check_counts(&h, true).is_ok(), "or emptied by its cleaner");
        assert!(check_counts(&h, false).is_err());
        h.last_offset_delta = -1;
        assert!(check_counts(&h, true).is_err());
    }

    #[test]
    fn parse_and_validate() {
        let b = sample();
        let h = validate_batch(&b, 0).unwrap();
        assert_eq!(h.base_offset, 5);
        assert_eq!(h.magic, 2);
        assert_eq!(h.record_count, 2);
        assert_eq!(h.last_offset(), 6);
        assert_eq!(h.max_timestamp, 2000);
        assert_eq!(h.total_len(), b.len());
        assert_eq!(peek_offsets(&b), (5, b.len(), 6));
    }

    #[test]
    fn detects_corruption() {
        let mut b = sample();
        let n = b.len();
        b[n - 1] ^= 0xff;
        assert!(matches!(validate_batch(&b, 7), Err(StorageError::CorruptBatch { position: 7, .. })));
        let b = sample();
        assert!(validate_batch(&b[..b.len() - 1], 0).is_err());
        assert!(validate_batch(&b[..30], 0).is_err());
        let mut m = sample();
        m[MAGIC_OFFSET] = 1;
        assert!(matches!(validate_batch(&m, 0), Err(StorageError::UnsupportedMagic { magic: 1 })));
    }

    #[test]
    fn iterates_batches_and_stops_on_error() {
        let mut buf = sample();
        buf.extend(sample());
        let all: Vec<_> = batches(&buf).collect();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|r| r.is_ok()));
        buf.extend_from_slice(&[1, 2, 3]);
        let all: Vec<_> = batches(&buf).collect();
        assert_eq!(all.len(), 3);
        assert!(all[2].is_err());
    }

    #[test]
    fn log_append_time_rewrite() {
        let mut b = sample();
        set_base_offset(&mut b, 100);
        set_log_append_time(&mut b, 777);
        let crc = compute_crc(&b);
        set_crc(&mut b, crc);
        let h = validate_batch(&b, 0).unwrap();
        assert_eq!(h.base_offset, 100);
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 777);
    }
}
