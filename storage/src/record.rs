//! Record-level codec for RecordBatch v2: varint records and the compression codecs.
//! Only the cold paths use this (timestamp lookups, compaction, tests); append and
//! read never decode records.

use std::io::{Read, Write};

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::error::{Result, StorageError};

/// One decoded record with absolute offset and timestamp.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DecodedRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

fn bad(reason: &str) -> StorageError {
    StorageError::corrupt(0, reason.to_string())
}

fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64> {
    let mut raw: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos).ok_or_else(|| bad("truncated varint"))?;
        *pos += 1;
        raw |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(bad("varint too long"));
        }
    }
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

fn write_varlong(out: &mut Vec<u8>, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

fn read_bytes(buf: &[u8], pos: &mut usize) -> Result<Option<Vec<u8>>> {
    let len = read_varlong(buf, pos)?;
    if len < 0 {
        return Ok(None);
    }
    let end = pos.checked_add(len as usize).filter(|e| *e <= buf.len()).ok_or_else(|| bad("truncated record field"))?;
    let v = buf[*pos..end].to_vec();
    *pos = end;
    Ok(Some(v))
}

fn write_bytes(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => write_varlong(out, -1),
        Some(b) => {
            write_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// The most a records section may decompress to. Compression ratios of a
/// thousand and more are easy to make (a run of zeros), so a 1 MiB batch could
/// otherwise make the broker hold gigabytes; real batches stay far below this.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// Decompresses a records section with the codec id from the batch attributes.
/// Snappy accepts both the xerial framing used by Java clients and raw snappy.
/// Output beyond [`MAX_DECOMPRESSED_BYTES`] is refused.
pub fn decompress(codec: u8, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(2).min(MAX_DECOMPRESSED_BYTES));
    let err = |e: std::io::Error| bad(&format!("decompression failed: {e}"));
    let too_large = || bad(&format!("records decompress to more than {MAX_DECOMPRESSED_BYTES} bytes"));
    // Reads at most one byte past the bound, so an oversize stream is detected
    // without being held.
    let limit = MAX_DECOMPRESSED_BYTES as u64 + 1;
    let snappy_len = |block: &[u8]| snap::raw::decompress_len(block).map_err(|e| bad(&format!("snappy: {e}")));
    match codec {
        batch::COMPRESSION_NONE => out.extend_from_slice(data),
        batch::COMPRESSION_GZIP => {
            flate2::read::MultiGzDecoder::new(data).take(limit).read_to_end(&mut out).map_err(err)?;
        }
        batch::COMPRESSION_SNAPPY => {
            const XERIAL: &[u8] = b"\x82SNAPPY\x00";
            if data.len() >= 16 && data.starts_with(XERIAL) {
                let mut pos = 16;
                while pos < data.len() {
                    if pos + 4 > data.len() {
                        return Err(bad("truncated xerial snappy block"));
                    }
                    let n = batch::be_i32(data, pos);
                    pos += 4;
                    let block = usize::try_from(n)
                        .ok()
                        .and_then(|n| data.get(pos..pos.checked_add(n)?))
                        .ok_or_else(|| bad("truncated xerial snappy block"))?;
                    if out.len() + snappy_len(block)? > MAX_DECOMPRESSED_BYTES {
                        return Err(too_large());
                    }
                    let d =
                        snap::raw::Decoder::new().decompress_vec(block).map_err(|e| bad(&format!("snappy: {e}")))?;
                    out.extend_from_slice(&d);
                    pos += block.len();
                }
            } else {
                if snappy_len(data)? > MAX_DECOMPRESSED_BYTES {
                    return Err(too_large());
                }
                out = snap::raw::Decoder::new().decompress_vec(data).map_err(|e| bad(&format!("snappy: {e}")))?;
            }
        }
        batch::COMPRESSION_LZ4 => {
            lz4_flex::frame::FrameDecoder::new(data).take(limit).read_to_end(&mut out).map_err(err)?;
        }
        batch::COMPRESSION_ZSTD => {
            zstd::stream::read::Decoder::new(data).and_then(|d| d.take(limit).read_to_end(&mut out)).map_err(err)?;
        }
        c => return Err(bad(&format!("unknown compression codec {c}"))),
    }
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(too_large());
    }
    Ok(out)
}

/// Compresses a records section. Snappy uses the xerial framing (what Java clients
/// produce and librdkafka accepts); lz4 the LZ4 frame format with independent blocks.
pub fn compress(codec: u8, data: &[u8]) -> Result<Vec<u8>> {
    compress_level(codec, data, None)
}

/// [`compress`] at a level (Kafka's `compression.gzip.level` 1-9 or -1, and
/// `compression.zstd.level`); None or -1 is the codec's default. Snappy and this
/// lz4 encoder have no levels.
pub fn compress_level(codec: u8, data: &[u8], level: Option<i32>) -> Result<Vec<u8>> {
    let io = |e: std::io::Error| bad(&format!("compression failed: {e}"));
    let level = level.filter(|l| *l != -1);
    Ok(match codec {
        batch::COMPRESSION_NONE => data.to_vec(),
        batch::COMPRESSION_GZIP => {
            let gz = level.map_or(flate2::Compression::default(), |l| flate2::Compression::new(l.clamp(1, 9) as u32));
            let mut e = flate2::write::GzEncoder::new(Vec::new(), gz);
            e.write_all(data).map_err(io)?;
            e.finish().map_err(io)?
        }
        batch::COMPRESSION_SNAPPY => {
            let mut out = b"\x82SNAPPY\x00".to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(32 * 1024) {
                let c = enc.compress_vec(chunk).map_err(|e| bad(&format!("snappy: {e}")))?;
                out.extend_from_slice(&(c.len() as i32).to_be_bytes());
                out.extend_from_slice(&c);
            }
            out
        }
        batch::COMPRESSION_LZ4 => {
            let info = lz4_flex::frame::FrameInfo::new().block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(data).map_err(io)?;
            e.finish().map_err(|e| bad(&format!("lz4: {e}")))?
        }
        batch::COMPRESSION_ZSTD => zstd::bulk::compress(data, level.unwrap_or(3)).map_err(io)?,
        c => return Err(bad(&format!("unknown compression codec {c}"))),
    })
}

/// Kafka's broker-side `compression.type`: every batch of `records` that is not
/// compressed with `codec` is decoded and encoded again with it (at `level`),
/// keeping its offsets, timestamps, producer id, epoch, sequence and flags.
/// Control batches stay as they are. `None` when every batch already has the codec
/// (the append then stores the producer's bytes untouched).
pub fn recompress(records: &[u8], codec: u8, level: i32) -> Result<Option<Vec<u8>>> {
    let mut all_match = true;
    for b in batch::batches(records) {
        let (h, _) = b?;
        all_match &= h.is_control() || h.compression() == codec;
    }
    if all_match {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(records.len());
    for b in batch::batches(records) {
        let (h, bytes) = b?;
        if h.is_control() || h.compression() == codec {
            out.extend_from_slice(bytes);
            continue;
        }
        let recs = decode_records(bytes)?;
        let mut t = BatchTemplate::from_header(&h);
        t.attributes = (h.attributes & !0x7) | codec as i16;
        out.extend_from_slice(&encode_batch_level(&t, &recs, Some(level))?);
    }
    Ok(Some(out))
}

/// Decodes every record of a (validated) batch, decompressing if needed. For
/// LogAppendTime batches every record's timestamp is the batch max timestamp.
pub fn decode_records(batch_bytes: &[u8]) -> Result<Vec<DecodedRecord>> {
    let h = BatchHeader::parse(batch_bytes)?;
    let body = &batch_bytes[HEADER_LEN..h.total_len().min(batch_bytes.len())];
    let data;
    let buf: &[u8] = if h.compression() == batch::COMPRESSION_NONE {
        body
    } else {
        data = decompress(h.compression(), body)?;
        &data
    };
    let mut pos = 0;
    // The count is the client's word: every record takes at least 7 bytes, and
    // past a few thousand the vector grows as records really decode.
    let mut out = Vec::with_capacity((h.record_count.max(0) as usize).min(buf.len() / 7).min(4096));
    for _ in 0..h.record_count.max(0) {
        let len = read_varlong(buf, &mut pos)?;
        let end =
            pos.checked_add(len.max(0) as usize).filter(|e| *e <= buf.len()).ok_or_else(|| bad("truncated record"))?;
        let rec = &buf[..end];
        pos += 1; // attributes
        let ts_delta = read_varlong(rec, &mut pos)?;
        let off_delta = read_varlong(rec, &mut pos)?;
        let key = read_bytes(rec, &mut pos)?;
        let value = read_bytes(rec, &mut pos)?;
        let nh = read_varlong(rec, &mut pos)?;
        let mut headers = Vec::with_capacity(nh.clamp(0, 64) as usize);
        for _ in 0..nh.max(0) {
            let k = read_bytes(rec, &mut pos)?.unwrap_or_default();
            let v = read_bytes(rec, &mut pos)?;
            headers.push((k, v));
        }
        pos = end;
        out.push(DecodedRecord {
            // Both deltas are the client's word; Kafka's long arithmetic wraps, and
            // encode_batch's wrapping subtraction gives back the same deltas.
            offset: h.base_offset.wrapping_add(off_delta),
            timestamp: if h.is_log_append_time() { h.max_timestamp } else { h.base_timestamp.wrapping_add(ts_delta) },
            key,
            value,
            headers,
        });
    }
    Ok(out)
}

/// Batch-level fields for [`encode_batch`].
#[derive(Clone, Debug)]
pub struct BatchTemplate {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    /// Full attributes (compression in bits 0-2).
    pub attributes: i16,
    /// None: derived from the records (last offset - base offset).
    pub last_offset_delta: Option<i32>,
    /// None: first record's timestamp.
    pub base_timestamp: Option<i64>,
    /// None: largest record timestamp (or base timestamp for LogAppendTime).
    pub max_timestamp: Option<i64>,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl BatchTemplate {
    /// A plain template: no producer id, CreateTime, given codec.
    pub fn new(base_offset: i64, compression: u8) -> BatchTemplate {
        BatchTemplate {
            base_offset,
            partition_leader_epoch: -1,
            attributes: compression as i16 & 0x7,
            last_offset_delta: None,
            base_timestamp: None,
            max_timestamp: None,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }

    /// Template copying every field of an existing header.
    pub fn from_header(h: &BatchHeader) -> BatchTemplate {
        BatchTemplate {
            base_offset: h.base_offset,
            partition_leader_epoch: h.partition_leader_epoch,
            attributes: h.attributes,
            last_offset_delta: Some(h.last_offset_delta),
            base_timestamp: Some(h.base_timestamp),
            max_timestamp: Some(h.max_timestamp),
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
        }
    }
}

/// Encodes records (absolute offsets/timestamps) into one RecordBatch v2 with a
/// valid CRC, compressing with the template's codec.
pub fn encode_batch(t: &BatchTemplate, records: &[DecodedRecord]) -> Result<Vec<u8>> {
    encode_batch_level(t, records, None)
}

/// [`encode_batch`] at a compression level (see [`compress_level`]).
pub fn encode_batch_level(t: &BatchTemplate, records: &[DecodedRecord], level: Option<i32>) -> Result<Vec<u8>> {
    let base_ts = t.base_timestamp.or_else(|| records.first().map(|r| r.timestamp)).unwrap_or(-1);
    let mut body = Vec::with_capacity(records.len() * 32);
    let mut rec = Vec::new();
    for r in records {
        rec.clear();
        rec.push(0); // attributes
        write_varlong(&mut rec, r.timestamp.wrapping_sub(base_ts));
        write_varlong(&mut rec, r.offset.wrapping_sub(t.base_offset));
        write_bytes(&mut rec, r.key.as_deref());
        write_bytes(&mut rec, r.value.as_deref());
        write_varlong(&mut rec, r.headers.len() as i64);
        for (k, v) in &r.headers {
            write_bytes(&mut rec, Some(k));
            write_bytes(&mut rec, v.as_deref());
        }
        write_varlong(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    let codec = (t.attributes & 0x7) as u8;
    let body = if codec == batch::COMPRESSION_NONE { body } else { compress_level(codec, &body, level)? };
    let last_delta = t
        .last_offset_delta
        .unwrap_or_else(|| records.last().map(|r| r.offset.wrapping_sub(t.base_offset) as i32).unwrap_or(0));
    let max_ts = t.max_timestamp.unwrap_or_else(|| records.iter().map(|r| r.timestamp).max().unwrap_or(base_ts));
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&t.base_offset.to_be_bytes());
    out.extend_from_slice(&((HEADER_LEN - batch::LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    out.extend_from_slice(&t.partition_leader_epoch.to_be_bytes());
    out.push(2);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&t.attributes.to_be_bytes());
    out.extend_from_slice(&last_delta.to_be_bytes());
    out.extend_from_slice(&base_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&t.producer_id.to_be_bytes());
    out.extend_from_slice(&t.producer_epoch.to_be_bytes());
    out.extend_from_slice(&t.base_sequence.to_be_bytes());
    out.extend_from_slice(&(records.len() as i32).to_be_bytes());
    out.extend_from_slice(&body);
    let crc = batch::compute_crc(&out);
    batch::set_crc(&mut out, crc);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs() -> Vec<DecodedRecord> {
        (0..50)
            .map(|i| DecodedRecord {
                offset: 10 + i,
                timestamp: 1000 + i * 3,
                key: if i % 7 == 0 { None } else { Some(format!("key{i}").into_bytes()) },
                value: if i % 5 == 0 { None } else { Some(vec![i as u8; i as usize * 10]) },
                headers: vec![(b"h".to_vec(), Some(b"x".to_vec())), (b"n".to_vec(), None)],
            })
            .collect()
    }

    #[test]
    fn offsets_and_timestamps_at_the_ends_of_the_range_wrap_and_round_trip() {
        // A client's header may say anything: a base near i64::MAX plus a delta
        // once panicked (found by the record_batch fuzz target).
        let mut t = BatchTemplate::new(i64::MAX - 1, batch::COMPRESSION_NONE);
        t.base_timestamp = Some(i64::MAX);
        let rs: Vec<DecodedRecord> = (0..3i64)
            .map(|i| DecodedRecord {
                offset: (i64::MAX - 1).wrapping_add(i),
                timestamp: i64::MAX.wrapping_add(i * 5),
                key: None,
                value: Some(vec![i as u8]),
                headers: vec![],
            })
            .collect();
        let raw = encode_batch(&t, &rs).unwrap();
        let h = BatchHeader::parse(&raw).unwrap();
        assert_eq!(h.last_offset(), i64::MIN);
        assert_eq!(h.next_offset(), i64::MIN + 1);
        assert_eq!(decode_records(&raw).unwrap(), rs);
        let gz = recompress(&raw, batch::COMPRESSION_GZIP, 1).unwrap().expect("recompressed");
        assert_eq!(decode_records(&gz).unwrap(), rs);
        let back = BatchHeader::parse(&gz).unwrap();
        assert_eq!((back.base_offset, back.last_offset_delta, back.base_timestamp), (i64::MAX - 1, 2, i64::MAX));
    }

    #[test]
    fn recompress_changes_only_the_codec_and_leaves_matching_batches_alone() {
        let mut t = BatchTemplate::new(10, batch::COMPRESSION_GZIP);
        t.producer_id = 7;
        t.producer_epoch = 2;
        t.base_sequence = 40;
        let gzip = encode_batch(&t, &recs()).unwrap();
        let mut two = gzip.clone();
        let mut t2 = BatchTemplate::new(60, batch::COMPRESSION_ZSTD);
        t2.base_timestamp = Some(5000);
        let later: Vec<DecodedRecord> =
            recs().into_iter().map(|r| DecodedRecord { offset: r.offset + 50, ..r }).collect();
        two.extend_from_slice(&encode_batch(&t2, &later).unwrap());
        let out = recompress(&two, batch::COMPRESSION_ZSTD, 3).unwrap().expect("the gzip batch is recompressed");
        let parsed: Vec<_> = batch::batches(&out).map(|b| b.unwrap()).collect();
        assert_eq!(parsed.len(), 2);
        let (h, bytes) = &parsed[0];
        assert_eq!(h.compression(), batch::COMPRESSION_ZSTD);
        let before = BatchHeader::parse(&gzip).unwrap();
        assert_eq!(
            (h.base_offset, h.last_offset_delta, h.producer_id, h.producer_epoch, h.base_sequence, h.max_timestamp),
            (
                before.base_offset,
                before.last_offset_delta,
                before.producer_id,
                before.producer_epoch,
                before.base_sequence,
                before.max_timestamp
            )
        );
        assert_eq!(decode_records(bytes).unwrap(), recs());
        assert_eq!(parsed[1].1, &two[gzip.len()..], "the zstd batch is kept byte for byte");
        assert!(recompress(&out, batch::COMPRESSION_ZSTD, 3).unwrap().is_none(), "nothing to do");
        let plain = recompress(&gzip, batch::COMPRESSION_NONE, 0).unwrap().unwrap();
        assert_eq!(BatchHeader::parse(&plain).unwrap().compression(), batch::COMPRESSION_NONE);
        assert_eq!(decode_records(&plain).unwrap(), recs());
    }

    #[test]
    fn a_decompression_bomb_is_refused_for_every_codec() {
        let zeros = vec![0u8; MAX_DECOMPRESSED_BYTES + 1];
        for codec in 1..=4u8 {
            let small = compress(codec, &zeros).unwrap();
            assert!(small.len() < zeros.len() / 20, "codec {codec} compresses zeros");
            let e = decompress(codec, &small).unwrap_err().to_string();
            assert!(e.contains("decompress to more than"), "codec {codec}: {e}");
            let fits = compress(codec, &zeros[..1 << 20]).unwrap();
            assert_eq!(decompress(codec, &fits).unwrap().len(), 1 << 20, "codec {codec}");
        }
    }

    #[test]
    fn a_negative_xerial_block_length_is_an_error() {
        // Found by the record_batch fuzz target: the length overflowed the position.
        let mut framed = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        framed.extend_from_slice(&(-8i32).to_be_bytes());
        framed.extend_from_slice(b"abcd");
        assert!(decompress(batch::COMPRESSION_SNAPPY, &framed).is_err());
    }

    #[test]
    fn a_record_count_beyond_the_bytes_is_an_error_not_an_allocation() {
        let mut b = encode_batch(&BatchTemplate::new(0, 0), &recs()).unwrap();
        // records count: the last header field, before the records.
        b[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_records(&b).is_err());
    }

    #[test]
    fn varint_roundtrip() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, -300, i64::MAX, i64::MIN, i32::MIN as i64] {
            let mut b = Vec::new();
            write_varlong(&mut b, v);
            let mut p = 0;
            assert_eq!(read_varlong(&b, &mut p).unwrap(), v);
            assert_eq!(p, b.len());
        }
    }

    #[test]
    fn roundtrip_all_codecs() {
        for codec in 0..=4u8 {
            let b = encode_batch(&BatchTemplate::new(10, codec), &recs()).unwrap();
            let h = batch::validate_batch(&b, 0).unwrap();
            assert_eq!(h.compression(), codec);
            assert_eq!(h.record_count, 50);
            assert_eq!(h.last_offset(), 59);
            assert_eq!(decode_records(&b).unwrap(), recs(), "codec {codec}");
        }
    }

    #[test]
    fn raw_snappy_accepted() {
        let data = b"hello hello hello hello".repeat(10);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(batch::COMPRESSION_SNAPPY, &raw).unwrap(), data);
        let framed = compress(batch::COMPRESSION_SNAPPY, &data).unwrap();
        assert_eq!(decompress(batch::COMPRESSION_SNAPPY, &framed).unwrap(), data);
    }
}
