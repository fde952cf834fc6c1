//! The request-time quota (`request_percentage`): the time a request's handler
//! spends running on a thread (the sum of its polls: waiting for data, a
//! long-poll fetch, or fsync is not work) is recorded against the client's
//! quota, as Kafka records request-handler thread time; a client over it is
//! throttled like one over a byte rate.
//!
//! Then, writing `throttle_time_ms` into a response that is already encoded, for
//! throttles decided after its handler ran. In most
//! responses it is the body's first field, right after the size prefix and the
//! response header; [`first_field_since`] lists from which version, per API,
//! and the unit test checks every entry against kafka-protocol's encoding.
//! Produce's is its body's last field (before the tag buffer, which Weir's
//! produce responses always leave empty); ApiVersions and OffsetDelete keep
//! their value: the client is still throttled by the muted connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use super::Outcome;
use crate::handle::BrokerHandle;
use crate::net::Session;

/// A handler's future, summing the time its polls take into `busy`.
pub struct Busy<'a, F> {
    pub fut: F,
    pub busy: &'a mut Duration,
}

impl<F: Future + Unpin> Future for Busy<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let t = Instant::now();
        let out = Pin::new(&mut self.fut).poll(cx);
        *self.busy += t.elapsed();
        out
    }
}

/// Records `busy` against the client's request-time quota; the throttle (ms),
/// with the connection muted for it.
pub fn record_request(broker: &BrokerHandle, session: &Session, client: Option<&str>, busy: Duration) -> u64 {
    charge(broker, session, crate::quotas::throttle::Kind::Request, client, busy.as_micros() as usize)
}

/// Charges `amount` (bytes, or microseconds of handler time) to the session's
/// quota of `kind`; a throttled session's channel is muted for the returned ms.
pub fn charge(
    broker: &BrokerHandle,
    session: &Session,
    kind: crate::quotas::throttle::Kind,
    client: Option<&str>,
    amount: usize,
) -> u64 {
    let ms = broker.throttle(kind, &session.principal().name, client.unwrap_or(""), amount);
    if ms > 0 {
        session.mute_for(ms);
        ::metrics::counter!("weir_quota_throttled_total", "quota" => kind.name()).increment(1);
    }
    ms
}

/// The first version of `key`'s response whose body starts with `throttle_time_ms`.
pub fn first_field_since(key: ApiKey) -> Option<i16> {
    use ApiKey::*;
    Some(match key {
        Fetch | FindCoordinator | Heartbeat | LeaveGroup | SyncGroup | DescribeGroups | ListGroups | DeleteTopics => 1,
        ListOffsets | JoinGroup | CreateTopics | OffsetForLeaderEpoch => 2,
        Metadata | OffsetCommit | OffsetFetch => 3,
        DeleteRecords
        | InitProducerId
        | AddPartitionsToTxn
        | AddOffsetsToTxn
        | EndTxn
        | TxnOffsetCommit
        | DescribeAcls
        | CreateAcls
        | DeleteAcls
        | DescribeConfigs
        | AlterConfigs
        | AlterReplicaLogDirs
        | DescribeLogDirs
        | CreatePartitions
        | DeleteGroups
        | ElectLeaders
        | IncrementalAlterConfigs
        | AlterPartitionReassignments
        | ListPartitionReassignments
        | DescribeClientQuotas
        | AlterClientQuotas
        | DescribeUserScramCredentials
        | AlterUserScramCredentials
        | DescribeCluster
        | DescribeProducers
        | DescribeTransactions
        | ListTransactions
        | ConsumerGroupHeartbeat
        | ConsumerGroupDescribe
        | GetTelemetrySubscriptions
        | PushTelemetry
        | DescribeTopicPartitions
        | ShareGroupHeartbeat
        | ShareGroupDescribe
        | ShareFetch
        | ShareAcknowledge
        | DescribeShareGroupOffsets
        | AlterShareGroupOffsets
        | DeleteShareGroupOffsets => 0,
        _ => return None,
    })
}

/// Where the body starts in an encoded frame: size prefix, correlation id, and
/// (flexible header) the empty tag buffer.
fn body_offset(key: ApiKey, version: i16) -> usize {
    4 + 4 + usize::from(key.response_header_version(version) >= 1)
}

fn patch(frame: &mut [u8], at: usize, throttle_ms: u64) {
    let Some(field) = frame.get_mut(at..at + 4) else { return };
    let old = i32::from_be_bytes([field[0], field[1], field[2], field[3]]);
    let new = old.max(throttle_ms.min(i32::MAX as u64) as i32);
    field.copy_from_slice(&new.to_be_bytes());
}

/// Charges what a consumer is sent (a Fetch or ShareFetch response, as Kafka
/// counts it) to the client's fetch byte-rate quota, and writes the throttle
/// this decides into the response.
pub fn charge_fetch(ctx: &super::RequestContext, out: &mut Outcome) {
    let bytes = match out {
        Outcome::Respond(buf) => buf.len(),
        Outcome::RespondParts(parts) => parts.iter().map(|p| p.len()).sum(),
        _ => return,
    };
    let throttle = ctx.throttle(crate::quotas::throttle::Kind::Fetch, bytes);
    if throttle > 0 {
        raise(out, ctx.key, ctx.version, throttle);
    }
}

/// Raises the response's `throttle_time_ms` to `throttle_ms` where the field
/// leads the body; other responses are left as they are.
pub fn raise(out: &mut Outcome, key: ApiKey, version: i16, throttle_ms: u64) {
    if key == ApiKey::Produce {
        if let Outcome::Respond(buf) = out {
            if let Some(at) = produce_field_at(buf, version) {
                patch(buf, at, throttle_ms);
            }
        }
        return;
    }
    if first_field_since(key).is_none_or(|since| version < since) {
        return;
    }
    let at = body_offset(key, version);
    match out {
        Outcome::Respond(buf) => patch(buf, at, throttle_ms),
        Outcome::RespondParts(parts) => raise_parts(parts, at, throttle_ms),
        _ => {}
    }
}

/// Where an encoded Produce response's `throttle_time_ms` is (v1+): its last
/// 4 bytes before v9, then the 4 before the body's tag buffer when that is
/// empty (one 0 byte; with tagged fields it is not patched).
fn produce_field_at(frame: &[u8], version: i16) -> Option<usize> {
    match version {
        ..=0 => None,
        1..=8 => frame.len().checked_sub(4),
        _ if frame.last() == Some(&0) => frame.len().checked_sub(5),
        _ => None,
    }
}

/// As [`raise`], for a response in parts (the field is in the first).
fn raise_parts(parts: &mut [Bytes], at: usize, throttle_ms: u64) {
    let Some(first) = parts.first_mut().filter(|p| p.len() >= at + 4) else { return };
    let mut patched = BytesMut::from(&first[..]);
    patch(&mut patched, at, throttle_ms);
    *first = patched.freeze();
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::*;

    use super::*;
    use crate::api::{encode_response, routes};

    const SENTINEL: i32 = 0x0A0B_0C0D;

    macro_rules! check {
        ($($key:ident => $ty:ty),* $(,)?) => {{
            let mut checked = Vec::new();
            $(
                let key = ApiKey::$key;
                let since = first_field_since(key).expect("listed");
                let route = routes::route(key as i16).expect("served");
                for v in since.max(route.versions.min)..=route.versions.max {
                    let body = <$ty>::default().with_throttle_time_ms(SENTINEL);
                    let mut out = Outcome::Respond(encode_response(key, v, 7, &body).unwrap());
                    let Outcome::Respond(buf) = &out else { unreachable!() };
                    let at = body_offset(key, v);
                    assert_eq!(&buf[at..at + 4], &SENTINEL.to_be_bytes(), "{key:?} v{v}");
                    raise(&mut out, key, v, u64::MAX);
                    let Outcome::Respond(buf) = &out else { unreachable!() };
                    assert_eq!(&buf[at..at + 4], &i32::MAX.to_be_bytes(), "{key:?} v{v} raised");
                }
                checked.push(key);
            )*
            checked
        }};
    }

    #[test]
    fn the_field_leads_every_listed_response() {
        let checked = check!(
            Fetch => FetchResponse, FindCoordinator => FindCoordinatorResponse, Heartbeat => HeartbeatResponse,
            LeaveGroup => LeaveGroupResponse, SyncGroup => SyncGroupResponse,
            DescribeGroups => DescribeGroupsResponse, ListGroups => ListGroupsResponse,
            DeleteTopics => DeleteTopicsResponse, ListOffsets => ListOffsetsResponse, JoinGroup => JoinGroupResponse,
            CreateTopics => CreateTopicsResponse, OffsetForLeaderEpoch => OffsetForLeaderEpochResponse,
            Metadata => MetadataResponse, OffsetCommit => OffsetCommitResponse, OffsetFetch => OffsetFetchResponse,
            DeleteRecords => DeleteRecordsResponse, InitProducerId => InitProducerIdResponse,
            AddPartitionsToTxn => AddPartitionsToTxnResponse, AddOffsetsToTxn => AddOffsetsToTxnResponse,
            EndTxn => EndTxnResponse, TxnOffsetCommit => TxnOffsetCommitResponse,
            DescribeAcls => DescribeAclsResponse, CreateAcls => CreateAclsResponse, DeleteAcls => DeleteAclsResponse,
            DescribeConfigs => DescribeConfigsResponse, AlterConfigs => AlterConfigsResponse,
            AlterReplicaLogDirs => AlterReplicaLogDirsResponse, DescribeLogDirs => DescribeLogDirsResponse,
            CreatePartitions => CreatePartitionsResponse, DeleteGroups => DeleteGroupsResponse,
            ElectLeaders => ElectLeadersResponse, IncrementalAlterConfigs => IncrementalAlterConfigsResponse,
            AlterPartitionReassignments => AlterPartitionReassignmentsResponse,
            ListPartitionReassignments => ListPartitionReassignmentsResponse,
            DescribeClientQuotas => DescribeClientQuotasResponse, AlterClientQuotas => AlterClientQuotasResponse,
            DescribeUserScramCredentials => DescribeUserScramCredentialsResponse,
            AlterUserScramCredentials => AlterUserScramCredentialsResponse,
            DescribeCluster => DescribeClusterResponse, DescribeProducers => DescribeProducersResponse,
            DescribeTransactions => DescribeTransactionsResponse, ListTransactions => ListTransactionsResponse,
            ConsumerGroupHeartbeat => ConsumerGroupHeartbeatResponse,
            ConsumerGroupDescribe => ConsumerGroupDescribeResponse,
            GetTelemetrySubscriptions => GetTelemetrySubscriptionsResponse, PushTelemetry => PushTelemetryResponse,
            DescribeTopicPartitions => DescribeTopicPartitionsResponse,
            ShareGroupHeartbeat => ShareGroupHeartbeatResponse, ShareGroupDescribe => ShareGroupDescribeResponse,
            ShareFetch => ShareFetchResponse, ShareAcknowledge => ShareAcknowledgeResponse,
            DescribeShareGroupOffsets => DescribeShareGroupOffsetsResponse,
            AlterShareGroupOffsets => AlterShareGroupOffsetsResponse,
            DeleteShareGroupOffsets => DeleteShareGroupOffsetsResponse,
        );
        for key in ApiKey::iter() {
            if first_field_since(key).is_some() {
                assert!(checked.contains(&key), "{key:?} is listed but not checked");
            }
        }
    }

    /// Produce's field is its last (before the tag buffer): raised in every
    /// version that has it, the rest of the response unchanged.
    #[test]
    fn produce_responses_are_raised_at_their_last_field() {
        use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
        use kafka_protocol::protocol::Decodable;
        let route = routes::route(ApiKey::Produce as i16).unwrap();
        for v in route.versions.min.max(1)..=route.versions.max {
            let body = ProduceResponse::default().with_throttle_time_ms(5).with_responses(vec![
                TopicProduceResponse::default()
                    .with_name(TopicName(kafka_protocol::protocol::StrBytes::from_static_str("t")))
                    .with_partition_responses(vec![PartitionProduceResponse::default().with_base_offset(42)]),
            ]);
            let encoded = encode_response(ApiKey::Produce, v, 7, &body).unwrap().freeze();
            let decode = |buf: &bytes::Bytes| {
                ProduceResponse::decode(&mut buf.slice(body_offset(ApiKey::Produce, v)..), v).unwrap()
            };
            let mut out = Outcome::Respond(BytesMut::from(&encoded[..]));
            raise(&mut out, ApiKey::Produce, v, 100);
            let Outcome::Respond(buf) = out else { unreachable!() };
            assert_eq!(decode(&buf.freeze()), decode(&encoded).with_throttle_time_ms(100), "v{v}");
        }
    }

    #[test]
    fn other_responses_are_left_alone() {
        let body = ApiVersionsResponse::default().with_throttle_time_ms(5);
        let buf = encode_response(ApiKey::ApiVersions, 3, 7, &body).unwrap();
        let mut out = Outcome::Respond(buf.clone());
        raise(&mut out, ApiKey::ApiVersions, 3, 100);
        let Outcome::Respond(after) = out else { unreachable!() };
        assert_eq!(after, buf);
    }
}
