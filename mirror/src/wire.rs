//! A small Kafka wire client (the `kafka-protocol` codecs over blocking
//! sockets) for the one thing librdkafka cannot do: fetch record batches as
//! the source stores them and send them on unchanged. The offset-preserving
//! copy (`mirror.mode=preserve`) uses it; everything else in the replicator
//! goes through librdkafka.
//!
//! Versions: Metadata v9, Fetch v12, ListOffsets v6, Produce v9, AlterConfigs
//! v1 (every broker since Kafka 2.8 serves them, Weir too). AlterConfigs is
//! here because `rdkafka`'s `alter_configs` drops each resource's error (only
//! request-level failures reach the caller). PLAINTEXT only: a cluster set up with
//! another `security.protocol` is refused with a message saying so.
//!
//! Invariants: a connection whose call failed is dropped (the next call opens
//! a new one), and leaders are looked up again after any error, so a retry
//! after an error never reuses a desynchronised socket or stale routing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::error::kafka as err;
use crate::error::MirrorError;

const IO_TIMEOUT: Duration = Duration::from_secs(60);
const FETCH_VERSION: i16 = 12;
/// A fetch response's bound (see the preserve copy's `PARTITION_MAX_BYTES`).
const FETCH_MAX_BYTES: i32 = 16 << 20;
const METADATA_VERSION: i16 = 9;
const LIST_OFFSETS_VERSION: i16 = 6;
const PRODUCE_VERSION: i16 = 9;
const ALTER_CONFIGS_VERSION: i16 = 1;
const RESOURCE_TOPIC: i8 = 2;

/// `ListOffsets` timestamps.
pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;

/// A partition as the wire names it.
pub type TopicPartition = (String, i32);

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

struct Conn {
    stream: TcpStream,
    addr: String,
    correlation: i32,
}

impl Conn {
    fn open(addr: &str) -> Result<Conn, MirrorError> {
        let mut last = None;
        for a in addr.to_socket_addrs().map_err(|e| err(addr, e))? {
            match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| err(addr, e))?;
                    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| err(addr, e))?;
                    stream.set_nodelay(true).map_err(|e| err(addr, e))?;
                    return Ok(Conn { stream, addr: addr.to_string(), correlation: 0 });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(err(addr, last.map_or_else(|| "no address".to_string(), |e| e.to_string())))
    }

    fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
        client_id: &str,
    ) -> Result<Resp, MirrorError> {
        let correlation = self.send(key, version, req, client_id)?;
        self.recv(key, version, correlation)
    }

    /// Writes a request; its response is read by [`Conn::recv`], in order.
    fn send<Req: Encodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
        client_id: &str,
    ) -> Result<i32, MirrorError> {
        self.correlation = self.correlation.wrapping_add(1);
        let what = format!("{key:?} to {}", self.addr);
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
        let header_version = key.request_header_version(version);
        // Sized first: a produce carries megabytes, and a growing buffer would
        // copy them again at every doubling.
        let size = header
            .compute_size(header_version)
            .and_then(|h| req.compute_size(version).map(|r| h + r))
            .map_err(|e| err(&what, e))?;
        let mut frame = BytesMut::with_capacity(4 + size);
        frame.put_i32(0);
        header.encode(&mut frame, header_version).map_err(|e| err(&what, e))?;
        req.encode(&mut frame, version).map_err(|e| err(&what, e))?;
        let size = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&frame).map_err(|e| err(&what, e))?;
        Ok(self.correlation)
    }

    fn recv<Resp: Decodable>(&mut self, key: ApiKey, version: i16, correlation: i32) -> Result<Resp, MirrorError> {
        let what = format!("{key:?} to {}", self.addr);
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(|e| err(&what, format!("no response: {e}")))?;
        let size = i32::from_be_bytes(size);
        let size = usize::try_from(size).map_err(|_| err(&what, format!("response size {size}")))?;
        // Read into spare capacity, not a zeroed buffer: fetch responses are
        // megabytes each.
        let mut body = Vec::with_capacity(size);
        (&mut self.stream).take(size as u64).read_to_end(&mut body).map_err(|e| err(&what, e))?;
        if body.len() != size {
            return Err(err(&what, format!("connection closed after {} of {size} response bytes", body.len())));
        }
        let mut body = Bytes::from(body);
        let h = ResponseHeader::decode(&mut body, key.response_header_version(version)).map_err(|e| err(&what, e))?;
        if h.correlation_id != correlation {
            return Err(err(&what, format!("correlation id {} for request {correlation}", h.correlation_id)));
        }
        Resp::decode(&mut body, version).map_err(|e| err(&what, e))
    }
}

/// One cluster: its brokers, the partition leaders last looked up, and a
/// connection per broker, opened when first needed.
pub struct Cluster {
    alias: String,
    client_id: String,
    bootstrap: Vec<String>,
    brokers: HashMap<i32, String>,
    leaders: HashMap<TopicPartition, i32>,
    conns: HashMap<i32, Conn>,
}

impl Cluster {
    /// A client of the cluster `alias` with the librdkafka-style settings `client`.
    pub fn new(alias: &str, client: &crate::config::ClientConfig, client_id: &str) -> Result<Cluster, MirrorError> {
        let protocol = client.get("security.protocol").map(|p| p.to_ascii_uppercase());
        if protocol.as_deref().is_some_and(|p| p != "PLAINTEXT") {
            return Err(MirrorError::config(
                format!("{alias}.security.protocol"),
                "mirror.mode=preserve reaches the clusters over PLAINTEXT only for now; use mirror.mode=copy",
            ));
        }
        let bootstrap: Vec<String> = client
            .get("bootstrap.servers")
            .map(|b| b.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        if bootstrap.is_empty() {
            return Err(MirrorError::config(format!("{alias}.bootstrap.servers"), "is not set"));
        }
        Ok(Cluster {
            alias: alias.to_string(),
            client_id: client_id.to_string(),
            bootstrap,
            brokers: HashMap::new(),
            leaders: HashMap::new(),
            conns: HashMap::new(),
        })
    }

    fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        node: i32,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<Resp, MirrorError> {
        if !self.conns.contains_key(&node) {
            let addr = self.brokers.get(&node).ok_or_else(|| err(&self.alias, format!("no broker {node}")))?;
            self.conns.insert(node, Conn::open(addr)?);
        }
        let conn = self.conns.get_mut(&node).expect("opened above");
        let r = conn.call(key, version, req, &self.client_id);
        if r.is_err() {
            self.conns.remove(&node);
            self.leaders.clear();
        }
        r
    }

    /// Looks up the brokers and the leaders of `topics`' partitions.
    pub fn refresh(&mut self, topics: &[String]) -> Result<(), MirrorError> {
        let req = MetadataRequest::default()
            .with_topics(Some(
                topics
                    .iter()
                    .map(|t| metadata_request::MetadataRequestTopic::default().with_name(Some(name(t))))
                    .collect(),
            ))
            .with_allow_auto_topic_creation(false);
        let mut last = None;
        for addr in self.bootstrap.clone() {
            let resp: Result<MetadataResponse, _> =
                Conn::open(&addr).and_then(|mut c| c.call(ApiKey::Metadata, METADATA_VERSION, &req, &self.client_id));
            match resp {
                Ok(md) => {
                    self.brokers = md.brokers.iter().map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port))).collect();
                    self.conns.retain(|node, _| self.brokers.contains_key(node));
                    self.leaders.clear();
                    for t in &md.topics {
                        let Some(topic) = &t.name else { continue };
                        for p in t.partitions.iter().filter(|p| p.error_code == 0 && p.leader_id.0 >= 0) {
                            self.leaders.insert((topic.0.to_string(), p.partition_index), p.leader_id.0);
                        }
                    }
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| err(&self.alias, "no bootstrap server")))
    }

    /// The partitions grouped by their leader; those without a known leader
    /// are left out (the caller looks them up again).
    pub fn by_leader<T: Clone>(&self, parts: &[(TopicPartition, T)]) -> HashMap<i32, Vec<(TopicPartition, T)>> {
        let mut out: HashMap<i32, Vec<(TopicPartition, T)>> = HashMap::new();
        for (tp, v) in parts {
            if let Some(node) = self.leaders.get(tp) {
                out.entry(*node).or_default().push((tp.clone(), v.clone()));
            }
        }
        out
    }

    /// A broker's `host:port`, as the last lookup gave it.
    pub fn broker_addr(&self, node: i32) -> Option<String> {
        self.brokers.get(&node).cloned()
    }

    pub fn knows_leader(&self, tp: &TopicPartition) -> bool {
        self.leaders.contains_key(tp)
    }

    /// Fetches from each partition's offset, read committed (batches below the
    /// last stable offset, aborted ones and transaction markers included, as
    /// stored), waiting up to `max_wait` for data.
    pub fn fetch(
        &mut self,
        node: i32,
        parts: &[(TopicPartition, i64)],
        max_wait: Duration,
        partition_max_bytes: i32,
    ) -> Result<FetchResponse, MirrorError> {
        let mut topics: Vec<fetch_request::FetchTopic> = Vec::new();
        for ((t, p), offset) in parts {
            let fp = fetch_request::FetchPartition::default()
                .with_partition(*p)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(partition_max_bytes);
            match topics.iter_mut().find(|ft| ft.topic.0.as_str() == t) {
                Some(ft) => ft.partitions.push(fp),
                None => topics.push(fetch_request::FetchTopic::default().with_topic(name(t)).with_partitions(vec![fp])),
            }
        }
        let req = FetchRequest::default()
            .with_max_wait_ms(max_wait.as_millis() as i32)
            .with_min_bytes(1)
            .with_max_bytes(FETCH_MAX_BYTES)
            .with_isolation_level(1)
            .with_topics(topics);
        let resp: FetchResponse = self.call(node, ApiKey::Fetch, FETCH_VERSION, &req)?;
        if resp.error_code != 0 {
            self.leaders.clear();
            return Err(err(&self.alias, format!("fetch failed with error code {}", resp.error_code)));
        }
        Ok(resp)
    }

    /// Each partition's offset at `timestamp` ([`LATEST`], [`EARLIEST`]).
    pub fn list_offsets(
        &mut self,
        parts: &[TopicPartition],
        timestamp: i64,
    ) -> Result<HashMap<TopicPartition, i64>, MirrorError> {
        let keyed: Vec<(TopicPartition, ())> = parts.iter().map(|tp| (tp.clone(), ())).collect();
        let grouped = self.by_leader(&keyed);
        if grouped.values().map(Vec::len).sum::<usize>() < parts.len() {
            return Err(err(&self.alias, "a partition without a known leader"));
        }
        let mut out = HashMap::new();
        for (node, parts) in grouped {
            let mut topics: Vec<list_offsets_request::ListOffsetsTopic> = Vec::new();
            for ((t, p), ()) in &parts {
                let lp = list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(*p)
                    .with_timestamp(timestamp);
                match topics.iter_mut().find(|lt| lt.name.0.as_str() == t) {
                    Some(lt) => lt.partitions.push(lp),
                    None => topics.push(
                        list_offsets_request::ListOffsetsTopic::default().with_name(name(t)).with_partitions(vec![lp]),
                    ),
                }
            }
            let req = ListOffsetsRequest::default().with_replica_id((-1).into()).with_topics(topics);
            let resp: ListOffsetsResponse = self.call(node, ApiKey::ListOffsets, LIST_OFFSETS_VERSION, &req)?;
            for t in resp.topics {
                for p in t.partitions {
                    if p.error_code != 0 {
                        self.leaders.clear();
                        return Err(err(
                            &format!("{}/{}-{}", self.alias, t.name.0, p.partition_index),
                            format!("list offsets failed with error code {}", p.error_code),
                        ));
                    }
                    out.insert((t.name.0.to_string(), p.partition_index), p.offset);
                }
            }
        }
        Ok(out)
    }

    /// Replaces a topic's configs (AlterConfigs); `Some((error code, message))`
    /// when the cluster refuses.
    pub fn alter_topic_configs(
        &mut self,
        topic: &str,
        configs: &[(String, String)],
    ) -> Result<Option<(i16, String)>, MirrorError> {
        if self.brokers.is_empty() {
            self.refresh(&[])?;
        }
        let node = *self.brokers.keys().min().ok_or_else(|| err(&self.alias, "no brokers"))?;
        let resource = alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        alter_configs_request::AlterableConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(Some(StrBytes::from_string(v.clone())))
                    })
                    .collect(),
            );
        let req = AlterConfigsRequest::default().with_resources(vec![resource]);
        let resp: AlterConfigsResponse = self.call(node, ApiKey::AlterConfigs, ALTER_CONFIGS_VERSION, &req)?;
        Ok(resp
            .responses
            .into_iter()
            .find(|r| r.error_code != 0)
            .map(|r| (r.error_code, r.error_message.map(|m| m.to_string()).unwrap_or_default())))
    }
}

/// A connection that carries only produces, pipelined: requests are written
/// without waiting and their answers read later, in order.
pub struct ProduceConn {
    conn: Conn,
    client_id: String,
}

impl ProduceConn {
    pub fn open(addr: &str, client_id: &str) -> Result<ProduceConn, MirrorError> {
        Ok(ProduceConn { conn: Conn::open(addr)?, client_id: client_id.to_string() })
    }

    /// Writes `parts`' batches as one Produce request marked with
    /// `transactional_id` (the target's reserved copy marker), acks=all, each
    /// partition with its expected log end under the tagged field `end_tag`;
    /// returns its correlation id for [`ProduceConn::answer`].
    pub fn send(
        &mut self,
        transactional_id: &str,
        end_tag: i32,
        parts: &[(TopicPartition, Bytes, i64)],
    ) -> Result<i32, MirrorError> {
        let mut topics: Vec<produce_request::TopicProduceData> = Vec::new();
        for ((t, p), records, expected_end) in parts {
            let mut pd =
                produce_request::PartitionProduceData::default().with_index(*p).with_records(Some(records.clone()));
            pd.unknown_tagged_fields.insert(end_tag, Bytes::copy_from_slice(&expected_end.to_be_bytes()));
            match topics.iter_mut().find(|td| td.name.0.as_str() == t) {
                Some(td) => td.partition_data.push(pd),
                None => topics.push(
                    produce_request::TopicProduceData::default().with_name(name(t)).with_partition_data(vec![pd]),
                ),
            }
        }
        let req = ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_string(transactional_id.to_string()))))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(topics);
        self.conn.send(ApiKey::Produce, PRODUCE_VERSION, &req, &self.client_id)
    }

    /// The answer to the request sent with `correlation`.
    pub fn answer(&mut self, correlation: i32) -> Result<ProduceResponse, MirrorError> {
        self.conn.recv(ApiKey::Produce, PRODUCE_VERSION, correlation)
    }
}

/// A record batch's header fields the copy needs (magic 2 layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub len: usize,
    pub max_timestamp: i64,
    pub records: i32,
}

/// The complete batches at the front of `records` (a fetch may end with a
/// partial one, which is left for the next fetch). A batch older than magic 2
/// is an error: a copy keeps batches as they are, and Weir stores v2 only.
pub fn complete_batches(records: &[u8]) -> Result<Vec<BatchInfo>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while records.len() - pos >= 61 {
        let b = &records[pos..];
        let base_offset = i64::from_be_bytes(b[0..8].try_into().expect("8 bytes"));
        let batch_len = i32::from_be_bytes(b[8..12].try_into().expect("4 bytes"));
        let len = usize::try_from(batch_len).ok().and_then(|l| l.checked_add(12)).filter(|l| *l >= 61);
        let Some(len) = len else { return Err(format!("batch at offset {base_offset}: length {batch_len}")) };
        if b[16] != 2 {
            return Err(format!(
                "batch at offset {base_offset} has magic {}; only v2 batches can be kept as they are",
                b[16]
            ));
        }
        if len > b.len() {
            break;
        }
        let last_offset_delta = i32::from_be_bytes(b[23..27].try_into().expect("4 bytes"));
        out.push(BatchInfo {
            base_offset,
            last_offset: base_offset.wrapping_add(last_offset_delta as i64),
            len,
            max_timestamp: i64::from_be_bytes(b[35..43].try_into().expect("8 bytes")),
            records: i32::from_be_bytes(b[57..61].try_into().expect("4 bytes")),
        });
        pos += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base: i64, delta: i32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b[8..12].copy_from_slice(&((len - 12) as i32).to_be_bytes());
        b[16] = 2;
        b[23..27].copy_from_slice(&delta.to_be_bytes());
        b[35..43].copy_from_slice(&1234i64.to_be_bytes());
        b[57..61].copy_from_slice(&(delta + 1).to_be_bytes());
        b
    }

    #[test]
    fn complete_batches_stop_before_a_partial_one() {
        let mut all = batch(10, 4, 80);
        all.extend(batch(15, 0, 70));
        let partial = batch(16, 2, 90);
        all.extend(&partial[..50]);
        let got = complete_batches(&all).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].base_offset, got[0].last_offset, got[0].len, got[0].records), (10, 14, 80, 5));
        assert_eq!((got[1].base_offset, got[1].last_offset, got[1].max_timestamp), (15, 15, 1234));
        assert!(complete_batches(&all[..20]).unwrap().is_empty());
    }

    #[test]
    fn old_magic_and_bad_lengths_are_errors() {
        let mut b = batch(0, 0, 70);
        b[16] = 1;
        assert!(complete_batches(&b).unwrap_err().contains("magic 1"));
        let mut b = batch(0, 0, 70);
        b[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(complete_batches(&b).is_err());
    }
}
