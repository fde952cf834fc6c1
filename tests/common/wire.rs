//! Raw Kafka wire helpers (kafka-protocol types over a blocking socket).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

use super::Weir;

/// A protocol string from a `&str`.
pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn connect(weir: &Weir) -> TcpStream {
    let s = TcpStream::connect(&weir.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

pub fn frame<R: Encodable>(key: ApiKey, version: i16, corr: i32, body: &R) -> BytesMut {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(corr)
        .with_client_id(Some(StrBytes::from_static_str("bad-input-test")));
    let mut payload = BytesMut::new();
    header.encode(&mut payload, key.request_header_version(version)).unwrap();
    body.encode(&mut payload, version).unwrap();
    let mut out = BytesMut::new();
    out.put_i32(payload.len() as i32);
    out.extend_from_slice(&payload);
    out
}

pub fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut buf = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(Bytes::from(buf))
}

pub fn call<Req: Encodable, Resp: Decodable>(s: &mut TcpStream, key: ApiKey, version: i16, req: &Req) -> Resp {
    s.write_all(&frame(key, version, 7, req)).unwrap();
    let mut resp = read_frame(s).expect("a response");
    let header = ResponseHeader::decode(&mut resp, key.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 7);
    Resp::decode(&mut resp, version).unwrap()
}

/// Produce v9 (acks=all) of `records` to partition 0 of `topic`: (error code, base offset).
pub fn produce(s: &mut TcpStream, topic: &str, records: Bytes) -> (i16, i64) {
    produce_to(s, topic, 0, records)
}

/// As [`produce`], to `partition`.
pub fn produce_to(s: &mut TcpStream, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    use produce_request::{PartitionProduceData, TopicProduceData};
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(vec![
        TopicProduceData::default().with_name(TopicName(StrBytes::from_string(topic.into()))).with_partition_data(
            vec![PartitionProduceData::default().with_index(partition).with_records(Some(records))],
        ),
    ]);
    let r: ProduceResponse = call(s, ApiKey::Produce, 9, &req);
    let p = &r.responses[0].partition_responses[0];
    if p.error_code != 0 {
        eprintln!("produce error {}: {:?}", p.error_code, p.error_message);
    }
    (p.error_code, p.base_offset)
}

/// Keyless records, one batch per record (the encoder splits on the sequence).
pub fn batch(values: &[&[u8]]) -> BytesMut {
    encode(values, |_| -1, 1)
}

/// As [`batch`], the records timestamped `timestamp` (ms) instead of 1.
pub fn batch_at(values: &[&[u8]], timestamp: i64) -> BytesMut {
    encode(values, |_| -1, timestamp)
}

/// Keyless records in one batch, as a producer sends them: the encoder keeps records
/// together while offset - sequence stays constant; the base sequence is -1.
pub fn one_batch(values: &[&[u8]]) -> Bytes {
    encode(values, |i| i as i32 - 1, 1).freeze()
}

fn encode(values: &[&[u8]], sequence: impl Fn(usize) -> i32, timestamp: i64) -> BytesMut {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: sequence(i),
            timestamp,
            key: None,
            value: Some(Bytes::copy_from_slice(v)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .unwrap();
    buf
}

/// CreateTopics v5 of `name` with `configs`; panics unless it was created.
pub fn create_topic(s: &mut TcpStream, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    use create_topics_request::{CreatableTopic, CreatableTopicConfig};
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(configs);
    let req = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![topic]);
    let r: CreateTopicsResponse = call(s, ApiKey::CreateTopics, 5, &req);
    assert_eq!(r.topics[0].error_code, 0, "{name}: {:?}", r.topics[0].error_message);
}
