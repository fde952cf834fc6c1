//! Request frames through header decode, routing and the handlers of an
//! in-process broker (temporary data directory, kept for the process's life).
//!
//! Input: what a client writes on one connection, a sequence of
//! `[i32 size][frame]` as on the wire, so a seed captured from a real client's
//! session carries its state (InitProducerId before Produce, JoinGroup before
//! SyncGroup). A size that runs past the input takes the rest as one frame. The
//! harness answers every frame as the connection loop would and stops at the
//! first one the broker closes the connection for.
//!
//! Time is tokio's paused clock: a parked Fetch or JoinGroup ends as soon as
//! nothing else can run, so a long `max_wait_ms` costs nothing.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreateTopicsRequest, RequestHeader};
use kafka_protocol::protocol::Decodable;
use libfuzzer_sys::fuzz_target;
use weir_broker::api::metrics::ApiMetrics;
use weir_broker::api::{dispatch, Outcome};
use weir_broker::net::{Principal, SecurityProtocol, Session};
use weir_broker::{BrokerConfig, BrokerHandle, Endpoint};

/// As in the `weir` binary.
#[global_allocator]
static ALLOCATOR: weir_broker::alloc::Allocator = weir_broker::alloc::Allocator;

struct Env {
    rt: tokio::runtime::Runtime,
    broker: BrokerHandle,
    metrics: ApiMetrics,
    session: Arc<Session>,
    _dir: tempfile::TempDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let mut config = BrokerConfig::default();
        // Appends stay in the page cache: an fsync per acks=all produce would
        // make every execution wait on the disk.
        config.set("log.flush.interval.ms", "60000").expect("flush interval");
        let bound = "127.0.0.1:9092".parse().expect("address");
        let endpoints = vec![Endpoint { listener: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092, bound }];
        let clock: Arc<dyn weir_storage::Clock> = Arc::new(weir_storage::SystemClock);
        let broker = BrokerHandle::open(dir.path(), config, clock, endpoints).expect("broker opens");
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime");
        let session = Arc::new(Session {
            listener: "PLAINTEXT".into(),
            protocol: SecurityProtocol::Plaintext,
            peer: "127.0.0.1:40000".parse().expect("address"),
            transport_principal: Principal::anonymous(),
            sasl: None,
            muted_until_ms: Default::default(),
            software: Default::default(),
            id: weir_broker::net::next_connection_id(),
            share_sessions: Default::default(),
        });
        Env { rt, broker, metrics: ApiMetrics::new(), session, _dir: dir }
    })
}

/// Partitions a frame would create. The broker has no bound on a topic's
/// partition count (nor has Kafka): a fuzzed request for a million of them is
/// honoured and takes minutes, which is not a finding. Such frames are skipped,
/// and so are changes of the broker-wide `num.partitions` (auto-created topics).
fn creates_too_many_partitions(frame: &Bytes) -> bool {
    const MAX: i64 = 16;
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let decode_body = |api: ApiKey| {
        let mut buf = frame.clone();
        RequestHeader::decode(&mut buf, api.request_header_version(version)).ok().map(|_| buf)
    };
    if key == ApiKey::CreateTopics as i16 {
        let Some(mut body) = decode_body(ApiKey::CreateTopics) else { return false };
        let Ok(req) = CreateTopicsRequest::decode(&mut body, version) else { return false };
        let total: i64 = req.topics.iter().map(|t| (t.num_partitions as i64).max(t.assignments.len() as i64)).sum();
        return total > MAX;
    }
    if key == ApiKey::CreatePartitions as i16 {
        let Some(mut body) = decode_body(ApiKey::CreatePartitions) else { return false };
        let Ok(req) = CreatePartitionsRequest::decode(&mut body, version) else { return false };
        return req.topics.iter().map(|t| t.count as i64).sum::<i64>() > MAX;
    }
    if key == ApiKey::AlterConfigs as i16 || key == ApiKey::IncrementalAlterConfigs as i16 {
        return frame.windows(b"partitions".len()).any(|w| w == b"partitions");
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let env = env();
    env.rt.block_on(async {
        let mut rest = data;
        while rest.len() >= 4 {
            let size = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]).max(0) as usize;
            let size = size.min(rest.len() - 4);
            let frame = Bytes::copy_from_slice(&rest[4..4 + size]);
            rest = &rest[4 + size..];
            if frame.len() >= 4 && creates_too_many_partitions(&frame) {
                continue;
            }
            let outcome = tokio::time::timeout(
                Duration::from_secs(600),
                dispatch(&env.broker, &env.metrics, &env.session, frame),
            )
            .await;
            match outcome {
                Ok(Outcome::Deferred(rest)) => {
                    let _ = tokio::time::timeout(Duration::from_secs(600), rest).await;
                }
                Ok(Outcome::Close(_)) | Ok(Outcome::Final(..)) => break,
                _ => {}
            }
        }
    });
});
