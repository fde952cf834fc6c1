//! Reading a [`Segment`]: whole batches from an offset, and the timestamp lookups
//! of ListOffsets. Lock-free on the data path (a shared guard against truncation,
//! the committed size, a shared mapping).

use bytes::Bytes;

use crate::batch::{self, BatchHeader, HEADER_LEN, OFFSETS_PREFIX_LEN};
use crate::error::Result;
use crate::segment::Segment;
use crate::TimestampOffset;

impl Segment {
    pub(crate) fn locate(&self, map: &[u8], offset: i64, limit: u64) -> Option<u64> {
        let hint = self.ix.read().offset.lookup(offset - self.base_offset);
        let mut pos = hint.map_or(0, |(_, p)| p as u64);
        while pos + OFFSETS_PREFIX_LEN as u64 <= limit {
            let (_, len, last) = batch::peek_offsets(&map[pos as usize..]);
            if last >= offset {
                return Some(pos);
            }
            pos += len as u64;
        }
        None
    }

    /// Whole batches from the one containing `offset` (or the next one after a gap),
    /// within `max_bytes` (first batch whole when `min_one`). None when the segment has
    /// no batch with last offset >= `offset`.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Option<Bytes>> {
        let _g = self.guard.read();
        let limit = self.size();
        if limit == 0 || offset >= self.next_offset() {
            return Ok(None);
        }
        let map = self.map(limit)?;
        let Some(start) = self.locate(&map, offset, limit) else {
            return Ok(None);
        };
        let mut end = start;
        while end + OFFSETS_PREFIX_LEN as u64 <= limit {
            let (_, len, _) = batch::peek_offsets(&map[end as usize..]);
            let new_end = end + len as u64;
            if new_end > limit {
                break;
            }
            if new_end - start > max_bytes as u64 && !(min_one && end == start) {
                break;
            }
            end = new_end;
        }
        Ok(Some(Self::bytes(&map, start, end)))
    }

    /// First record with timestamp >= `ts` in this segment.
    pub fn find_offset_by_timestamp(&self, ts: i64, min_offset: i64) -> Result<Option<TimestampOffset>> {
        let _g = self.guard.read();
        let limit = self.size();
        if limit == 0 || self.max_timestamp() < ts {
            return Ok(None);
        }
        let map = self.map(limit)?;
        let from_offset = match self.ix.read().time.last_below(ts) {
            Some((_, rel)) => self.base_offset + rel as i64 + 1,
            None => self.base_offset,
        }
        .max(min_offset);
        let Some(mut pos) = self.locate(&map, from_offset, limit) else {
            return Ok(None);
        };
        while pos + HEADER_LEN as u64 <= limit {
            let b = &map[pos as usize..limit as usize];
            let h = BatchHeader::parse(b)?;
            if h.max_timestamp >= ts && h.last_offset() >= min_offset {
                for r in crate::record::decode_records(&b[..h.total_len()])? {
                    if r.timestamp >= ts && r.offset >= min_offset {
                        return Ok(Some(TimestampOffset { timestamp: r.timestamp, offset: r.offset }));
                    }
                }
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// The record carrying the segment's largest timestamp.
    pub fn max_timestamp_record(&self) -> Result<Option<TimestampOffset>> {
        let meta = self.meta();
        if meta.max_ts_offset < 0 {
            return Ok(None);
        }
        let _g = self.guard.read();
        let limit = self.size();
        let map = self.map(limit)?;
        let fallback = TimestampOffset { timestamp: meta.max_ts, offset: meta.max_ts_offset };
        let Some(pos) = self.locate(&map, meta.max_ts_offset, limit) else {
            return Ok(Some(fallback));
        };
        let b = &map[pos as usize..limit as usize];
        let h = BatchHeader::parse(b)?;
        let recs = crate::record::decode_records(&b[..h.total_len().min(b.len())]).unwrap_or_default();
        Ok(Some(
            recs.iter()
                .find(|r| r.timestamp == meta.max_ts)
                .map(|r| TimestampOffset { timestamp: r.timestamp, offset: r.offset })
                .unwrap_or(fallback),
        ))
    }
}
