//! The message browser and the produce form:
//! `GET /api/v1/topics/{name}/messages` reads records through the partitions'
//! own read path (the one Fetch uses, whole batches up to the high watermark
//! or, read_committed, the last stable offset; aborted transactions and
//! markers left out), decodes them (`render`) and filters them by key, value
//! and header; `POST` appends one record as a producer would (same checks:
//! schema validation, compaction's keys, mirror topics), the partition chosen
//! like Kafka's default partitioner (murmur2 of the key) unless given.
//!
//! Start positions: `earliest`, `latest` (the newest `limit` records; with
//! filters, the matches among the newest `max_scan`), `offset`, `timestamp`
//! (the first record at or after it), or a `cursor` (`0:15,1:20`: continue from
//! these offsets; the answer's `cursor` is where the next page or a live tail
//! goes on). One request scans at most `max_scan` records over all partitions.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use weir_broker::api::errors;
use weir_broker::partition::{Isolation, Partition};
use weir_storage::batch::BatchHeader;
use weir_storage::record::{decode_records, encode_batch, BatchTemplate, DecodedRecord};

use super::render::{field, searchable};
use super::{blocking, body, partition_of, query, topic_partitions, Api, ApiError, ApiResult};

pub fn routes() -> Router<Api> {
    Router::new().route("/api/v1/topics/{name}/messages", get(browse).post(produce))
}

#[derive(Debug, Default, Deserialize)]
struct BrowseQuery {
    partition: Option<i32>,
    start: Option<String>,
    offset: Option<i64>,
    timestamp: Option<i64>,
    cursor: Option<String>,
    limit: Option<usize>,
    key: Option<String>,
    value: Option<String>,
    header: Option<String>,
    isolation: Option<String>,
    max_scan: Option<usize>,
}

struct Filters {
    key: Option<String>,
    value: Option<String>,
    header: Option<(String, Option<String>)>,
}

impl Filters {
    fn any(&self) -> bool {
        self.key.is_some() || self.value.is_some() || self.header.is_some()
    }
}

/// One partition's part of a browse.
struct Scan {
    partition: Arc<Partition>,
    start: i64,
    /// Offset after the last record scanned.
    scanned_to: i64,
    /// (timestamp, offset, shown message)
    found: Vec<(i64, i64, Value)>,
}

fn parse_cursor(c: &str) -> ApiResult<BTreeMap<i32, i64>> {
    c.split(',')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (p, o) =
                pair.split_once(':').ok_or_else(|| ApiError::bad_request(format!("bad cursor part {pair:?}")))?;
            let p = p.trim().parse().map_err(|_| ApiError::bad_request(format!("bad partition in cursor: {p:?}")))?;
            let o = o.trim().parse().map_err(|_| ApiError::bad_request(format!("bad offset in cursor: {o:?}")))?;
            Ok((p, o))
        })
        .collect()
}

async fn browse(
    State(api): State<Api>,
    Path(name): Path<String>,
    q: Result<Query<BrowseQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let parts = topic_partitions(&api, &name)?;
    let parts: Vec<Arc<Partition>> = match q.partition {
        Some(p) => vec![partition_of(&parts, &name, p)?],
        None => parts.to_vec(),
    };
    let isolation = match q.isolation.as_deref() {
        None | Some("read_committed") => Isolation::ReadCommitted,
        Some("read_uncommitted") => Isolation::ReadUncommitted,
        Some(o) => {
            return Err(ApiError::bad_request(format!(
                "isolation must be read_committed or read_uncommitted, not {o:?}"
            )))
        }
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let max_scan = q.max_scan.unwrap_or(10_000).clamp(1, 100_000);
    let nonempty = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let filters = Filters {
        key: nonempty(&q.key),
        value: nonempty(&q.value),
        header: nonempty(&q.header).map(|h| match h.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (h, None),
        }),
    };
    let cursor = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let start = q.start.clone().unwrap_or_else(|| "earliest".into());
    let latest = cursor.is_none() && start == "latest";
    let per_part_scan = (max_scan / parts.len().max(1)).max(1);
    let mut scans = Vec::with_capacity(parts.len());
    for p in parts {
        let bound = match isolation {
            Isolation::ReadCommitted => p.last_stable_offset(),
            Isolation::ReadUncommitted => p.high_watermark(),
        };
        let low = p.log_start_offset();
        let from = match (&cursor, start.as_str()) {
            (Some(c), _) => c.get(&p.index()).copied().unwrap_or(bound),
            (None, "earliest") => low,
            (None, "latest") => bound - if filters.any() { per_part_scan } else { limit } as i64,
            (None, "offset") => q.offset.ok_or_else(|| ApiError::bad_request("`offset` is required"))?,
            (None, "timestamp") => {
                let ts = q.timestamp.ok_or_else(|| ApiError::bad_request("`timestamp` is required"))?;
                let found = p
                    .log()
                    .offset_for_timestamp(ts)
                    .map_err(|e| ApiError::kafka(errors::storage(&e), e.to_string()))?;
                found.map_or(bound, |f| f.offset)
            }
            (None, other) => {
                return Err(ApiError::bad_request(format!(
                    "start must be earliest, latest, offset or timestamp, not {other:?}"
                )))
            }
        }
        .clamp(low, bound);
        scans.push(Scan { partition: p, start: from, scanned_to: from, found: Vec::new() });
    }
    let registry = api.registry.clone();
    let topic = name.clone();
    let (scans, scanned) = blocking(move || {
        let mut scanned = 0usize;
        for s in &mut scans {
            let keep = if latest { usize::MAX } else { limit };
            scanned += scan(s, isolation, keep, per_part_scan, &filters, registry.as_deref(), &topic)?;
            if latest && s.found.len() > limit {
                s.found.drain(..s.found.len() - limit);
            }
        }
        Ok::<_, ApiError>((scans, scanned))
    })
    .await??;
    // Merge by time; keep the first `limit` (the last, for `latest`).
    let mut all: Vec<(i64, i32, i64, Value)> = scans
        .iter()
        .flat_map(|s| s.found.iter().map(move |(ts, off, m)| (*ts, s.partition.index(), *off, m.clone())))
        .collect();
    all.sort_by_key(|m| (m.0, m.1, m.2));
    if latest && all.len() > limit {
        all.drain(..all.len() - limit);
    } else {
        all.truncate(limit);
    }
    let mut next = BTreeMap::new();
    for s in &scans {
        let p = s.partition.index();
        let last_returned = all.iter().filter(|m| m.1 == p).map(|m| m.2).max();
        // Latest: the tail goes on after what was scanned. Otherwise after the
        // last record returned; a partition whose matches were all cut by the
        // merge starts over where it started.
        let to = match last_returned {
            _ if latest => s.scanned_to,
            Some(o) => o + 1,
            None if s.found.is_empty() => s.scanned_to,
            None => s.start,
        };
        next.insert(p, to);
    }
    let cursor: Vec<String> = next.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    let ends: BTreeMap<String, i64> =
        scans.iter().map(|s| (s.partition.index().to_string(), s.partition.high_watermark())).collect();
    Ok(Json(json!({
        "topic": name,
        "messages": all.into_iter().map(|m| m.3).collect::<Vec<_>>(),
        "cursor": cursor.join(","),
        "scanned": scanned,
        "end_offsets": ends,
    })))
}

/// Reads `s.partition` from `s.scanned_to` up to its bound, keeping matches in
/// `s.found` until `keep` of them or `budget` records scanned. Returns the
/// records scanned.
fn scan(
    s: &mut Scan,
    isolation: Isolation,
    keep: usize,
    budget: usize,
    filters: &Filters,
    registry: Option<&weir_registry::store::Store>,
    topic: &str,
) -> ApiResult<usize> {
    let p = &s.partition;
    let storage = |e: weir_storage::StorageError| {
        ApiError::kafka(errors::storage(&e), format!("reading {topic}-{}: {e}", p.index()))
    };
    let mut scanned = 0usize;
    // read_committed: producers inside an aborted transaction, by where it began.
    let mut aborting: HashSet<i64> = HashSet::new();
    while s.found.len() < keep && scanned < budget {
        let read = p.read_uncounted(s.scanned_to, 1 << 20, isolation, true).map_err(storage)?;
        if read.records.is_empty() {
            break;
        }
        let mut aborted: Vec<(i64, i64)> = read.aborted.iter().map(|a| (a.producer_id, a.first_offset)).collect();
        aborted.sort_by_key(|a| a.1);
        let mut buf = &read.records[..];
        let before = s.scanned_to;
        while let Ok(h) = BatchHeader::parse(buf) {
            let len = h.total_len();
            if len > buf.len() {
                break;
            }
            let batch = &buf[..len];
            buf = &buf[len..];
            while let Some(a) = aborted.first().filter(|a| a.1 <= h.last_offset()) {
                aborting.insert(a.0);
                aborted.remove(0);
            }
            if h.is_control() {
                aborting.remove(&h.producer_id);
                s.scanned_to = s.scanned_to.max(h.next_offset());
                continue;
            }
            if h.is_transactional() && aborting.contains(&h.producer_id) {
                s.scanned_to = s.scanned_to.max(h.next_offset());
                continue;
            }
            for r in decode_records(batch).map_err(storage)? {
                if r.offset < s.scanned_to {
                    continue;
                }
                s.scanned_to = r.offset + 1;
                scanned += 1;
                if let Some(m) = matches(&r, &h, p.index(), filters, registry, topic) {
                    s.found.push((r.timestamp, r.offset, m));
                    if s.found.len() >= keep {
                        break;
                    }
                }
                if scanned >= budget {
                    break;
                }
            }
            if s.found.len() >= keep || scanned >= budget {
                break;
            }
            s.scanned_to = s.scanned_to.max(h.next_offset());
        }
        if s.scanned_to == before {
            break; // nothing readable moved us on
        }
    }
    Ok(scanned)
}

/// The shown message, if it passes the filters.
fn matches(
    r: &DecodedRecord,
    h: &BatchHeader,
    partition: i32,
    f: &Filters,
    registry: Option<&weir_registry::store::Store>,
    topic: &str,
) -> Option<Value> {
    if let Some((name, want)) = &f.header {
        let hit = r.headers.iter().any(|(k, v)| {
            k == name.as_bytes()
                && want
                    .as_ref()
                    .is_none_or(|w| v.as_deref().is_some_and(|v| String::from_utf8_lossy(v).contains(w.as_str())))
        });
        if !hit {
            return None;
        }
    }
    let key = field(r.key.as_deref(), registry, &format!("{topic}-key"));
    if f.key.as_ref().is_some_and(|k| !searchable(&key).contains(k.as_str())) {
        return None;
    }
    let value = field(r.value.as_deref(), registry, &format!("{topic}-value"));
    if f.value.as_ref().is_some_and(|v| !searchable(&value).contains(v.as_str())) {
        return None;
    }
    let headers: Vec<Value> = r
        .headers
        .iter()
        .map(|(k, v)| json!({ "key": String::from_utf8_lossy(k), "value": v.as_deref().map(String::from_utf8_lossy) }))
        .collect();
    Some(json!({
        "partition": partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "timestamp_type": if h.is_log_append_time() { "LogAppendTime" } else { "CreateTime" },
        "key": key,
        "value": value,
        "headers": headers,
        "producer_id": h.producer_id,
        "transactional": h.is_transactional(),
    }))
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), for its default partitioner.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]).wrapping_mul(M);
        k ^= k >> 24;
        h = h.wrapping_mul(M) ^ k.wrapping_mul(M);
    }
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[derive(Debug, Deserialize)]
struct SchemaRef {
    subject: String,
    version: Option<i32>,
}

/// A key or value to produce: exactly one of `text`, `json` (with `schema`:
/// serialized through the registry, as the Confluent serializers do) or `hex`.
#[derive(Debug, Default, Deserialize)]
struct Payload {
    text: Option<String>,
    json: Option<Value>,
    hex: Option<String>,
    schema: Option<SchemaRef>,
}

#[derive(Debug, Deserialize)]
struct Header {
    key: String,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ProduceBody {
    partition: Option<i32>,
    key: Option<Payload>,
    value: Option<Payload>,
    #[serde(default)]
    headers: Vec<Header>,
}

fn payload_bytes(p: Option<Payload>, api: &Api, what: &str) -> ApiResult<Option<Vec<u8>>> {
    let Some(p) = p else { return Ok(None) };
    let given = [p.text.is_some(), p.json.is_some(), p.hex.is_some()].iter().filter(|x| **x).count();
    if given != 1 {
        return Err(ApiError::bad_request(format!("the {what} needs exactly one of text, json or hex")));
    }
    if let Some(s) = p.schema {
        let v = p.json.ok_or_else(|| ApiError::bad_request(format!("a {what} with a schema is given as json")))?;
        let registry =
            api.registry.as_ref().ok_or_else(|| ApiError::bad_request("no schema registry in this process"))?;
        let (_, bytes) = registry.encode(&s.subject, s.version, &v).map_err(|e| {
            ApiError::new(axum::http::StatusCode::BAD_REQUEST, "INVALID_RECORD", format!("{what}: {e}"))
        })?;
        return Ok(Some(bytes));
    }
    if let Some(t) = p.text {
        return Ok(Some(t.into_bytes()));
    }
    if let Some(v) = p.json {
        return Ok(Some(serde_json::to_vec(&v).map_err(|e| ApiError::bad_request(e.to_string()))?));
    }
    let hex = p.hex.unwrap_or_default();
    let clean: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    if !clean.len().is_multiple_of(2) {
        return Err(ApiError::bad_request(format!("the {what}'s hex has an odd number of digits")));
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("the {what} is not hex")))
}

/// `POST /api/v1/topics/{name}/messages`: appends one record (acks=all) and
/// answers its partition, offset and timestamp.
async fn produce(
    State(api): State<Api>,
    Path(name): Path<String>,
    b: Result<Json<ProduceBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let b = body(b)?;
    let parts = topic_partitions(&api, &name)?;
    let key = payload_bytes(b.key, &api, "key")?;
    let value = payload_bytes(b.value, &api, "value")?;
    let n = parts.len() as i32;
    let partition = match (b.partition, &key) {
        (Some(p), _) => p,
        (None, Some(k)) => (murmur2(k) & 0x7fff_ffff) % n,
        (None, None) => (api.broker.clock().now_ms() % i64::from(n)) as i32,
    };
    let p = partition_of(&parts, &name, partition)?;
    let now = api.broker.clock().now_ms();
    let record = DecodedRecord {
        offset: 0,
        timestamp: now,
        key,
        value,
        headers: b.headers.into_iter().map(|h| (h.key.into_bytes(), h.value.map(String::into_bytes))).collect(),
    };
    let batch = encode_batch(&BatchTemplate::new(0, 0), &[record]).map_err(|e| ApiError::internal(e.to_string()))?;
    let broker = api.broker.clone();
    let appended = blocking(move || {
        let a = p.append_from_client(&batch, -1, broker.schema_lookup(), None)?;
        if a.needs_flush {
            p.flush_to(a.info.last_offset + 1)?;
        }
        Ok::<_, weir_broker::partition::AppendError>(a)
    })
    .await?
    .map_err(|e| ApiError::kafka(errors::append(&e), e.to_string()))?;
    tracing::info!(topic = %name, partition, offset = appended.info.first_offset, "console: record produced");
    Ok(Json(json!({ "topic": name, "partition": partition, "offset": appended.info.first_offset, "timestamp": now })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_is_kafkas() {
        // Kafka's UtilsTest#testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn cursors_parse() {
        assert_eq!(parse_cursor("0:15,2:7").unwrap(), BTreeMap::from([(0, 15), (2, 7)]));
        assert!(parse_cursor("0-15").is_err());
        assert!(parse_cursor("x:1").is_err());
    }
}
