//! Helpers for tests (this crate's and the broker's): a simple RecordBatch v2
//! encoder. Not used by the storage engine itself.

use crate::record::{encode_batch, BatchTemplate, DecodedRecord};

pub use crate::record::decode_records;

/// A record to encode; the offset is assigned by [`BatchBuilder`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// None: the builder's default timestamp.
    pub timestamp: Option<i64>,
}

impl Record {
    /// A record with key and value.
    pub fn kv(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Record {
        Record { key: Some(key.as_ref().to_vec()), value: Some(value.as_ref().to_vec()), ..Default::default() }
    }
    /// A record with only a value.
    pub fn value(value: impl AsRef<[u8]>) -> Record {
        Record { value: Some(value.as_ref().to_vec()), ..Default::default() }
    }
    /// A tombstone (null value) for `key`.
    pub fn tombstone(key: impl AsRef<[u8]>) -> Record {
        Record { key: Some(key.as_ref().to_vec()), ..Default::default() }
    }
    pub fn ts(mut self, ts: i64) -> Record {
        self.timestamp = Some(ts);
        self
    }
    pub fn header(mut self, k: impl AsRef<[u8]>, v: Option<&[u8]>) -> Record {
        self.headers.push((k.as_ref().to_vec(), v.map(<[u8]>::to_vec)));
        self
    }
}

/// Builds one RecordBatch v2.
#[derive(Clone, Debug)]
pub struct BatchBuilder {
    template: BatchTemplate,
    default_ts: i64,
    records: Vec<Record>,
}

impl BatchBuilder {
    pub fn new(base_offset: i64) -> BatchBuilder {
        BatchBuilder { template: BatchTemplate::new(base_offset, 0), default_ts: 0, records: Vec::new() }
    }
    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(mut self, codec: u8) -> BatchBuilder {
        self.template.attributes = (self.template.attributes & !0x7) | (codec as i16 & 0x7);
        self
    }
    /// Timestamp for records that do not set one.
    pub fn timestamp(mut self, ts: i64) -> BatchBuilder {
        self.default_ts = ts;
        self
    }
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> BatchBuilder {
        self.template.producer_id = id;
        self.template.producer_epoch = epoch;
        self.template.base_sequence = base_sequence;
        self
    }
    pub fn transactional(mut self, on: bool) -> BatchBuilder {
        if on {
            self.template.attributes |= crate::batch::ATTR_TRANSACTIONAL;
        } else {
            self.template.attributes &= !crate::batch::ATTR_TRANSACTIONAL;
        }
        self
    }
    pub fn record(mut self, r: Record) -> BatchBuilder {
        self.records.push(r);
        self
    }
    pub fn records(mut self, rs: impl IntoIterator<Item = Record>) -> BatchBuilder {
        self.records.extend(rs);
        self
    }
    /// Encodes the batch (offsets base, base+1, ...).
    pub fn build(&self) -> Vec<u8> {
        let recs: Vec<DecodedRecord> = self
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| DecodedRecord {
                offset: self.template.base_offset.wrapping_add(i as i64),
                timestamp: r.timestamp.unwrap_or(self.default_ts),
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
            })
            .collect();
        encode_batch(&self.template, &recs).expect("encode batch")
    }
}

/// A batch of `n` records with values of `value_len` bytes and timestamp `ts`.
pub fn simple_batch(n: usize, value_len: usize, ts: i64) -> Vec<u8> {
    BatchBuilder::new(0)
        .timestamp(ts)
        .records((0..n).map(|i| Record::kv(format!("k{i}"), vec![b'v'; value_len])))
        .build()
}
