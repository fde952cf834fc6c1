//! The route table: one entry per served API, with its name (as Kafka's request
//! metrics name it), the versions served and its handler. It alone routes
//! requests, builds ApiVersions, names request metrics and tracing spans, so an API
//! is advertised exactly when it is served. Every API accepts every version the
//! `kafka-protocol` crate can decode a request for.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Message, VersionRange};

use super::*;

pub type BoxFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

#[derive(Clone, Copy)]
pub enum Handler {
    /// Answers without waiting (in-memory lookups).
    Sync(fn(&RequestContext, Bytes) -> Outcome),
    /// May wait (fsync, long polls, other members of a group).
    Async(fn(RequestContext, Bytes) -> BoxFuture),
}

pub struct Route {
    pub key: ApiKey,
    pub name: &'static str,
    pub versions: VersionRange,
    pub handler: Handler,
    /// Position in [`ROUTES`].
    pub index: usize,
}

/// The versions of `key` this broker serves: those Kafka defines that the crate
/// can decode a request of.
fn versions<Req: Message>(key: ApiKey) -> VersionRange {
    let k = key.valid_versions();
    VersionRange { min: k.min.max(Req::VERSIONS.min), max: k.max.min(Req::VERSIONS.max) }
}

pub(super) fn decode<T: Decodable>(body: &mut Bytes, ctx: &RequestContext) -> Result<T, String> {
    T::decode(body, ctx.version).map_err(|e| format!("malformed {:?} v{} request: {e}", ctx.key, ctx.version))
}

macro_rules! route {
    ($key:ident, $module:ident, $req:ty, sync) => {
        (
            ApiKey::$key,
            stringify!($key),
            versions::<$req>(ApiKey::$key),
            Handler::Sync(|ctx, mut body| match decode::<$req>(&mut body, ctx) {
                Ok(req) => respond(ctx, &$module::handle(ctx, req)),
                Err(e) => Outcome::Close(e),
            }),
        )
    };
    ($key:ident, $module:ident, $req:ty, async) => {
        (
            ApiKey::$key,
            stringify!($key),
            versions::<$req>(ApiKey::$key),
            Handler::Async(|ctx, mut body| {
                Box::pin(async move {
                    match decode::<$req>(&mut body, &ctx) {
                        Ok(req) => respond(&ctx, &$module::handle(&ctx, req).await),
                        Err(e) => Outcome::Close(e),
                    }
                })
            }),
        )
    };
    ($key:ident, $req:ty, custom $f:path) => {
        (ApiKey::$key, stringify!($key), versions::<$req>(ApiKey::$key), Handler::Async($f))
    };
}

pub static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    let table = [
        route!(Produce, ProduceRequest, custom produce::route),
        route!(Fetch, FetchRequest, custom fetch::route),
        route!(ListOffsets, list_offsets, ListOffsetsRequest, sync),
        route!(Metadata, metadata, MetadataRequest, async),
        route!(OffsetCommit, offset_commit, OffsetCommitRequest, async),
        route!(OffsetFetch, offset_fetch, OffsetFetchRequest, sync),
        route!(FindCoordinator, find_coordinator, FindCoordinatorRequest, sync),
        route!(JoinGroup, join_group, JoinGroupRequest, async),
        route!(Heartbeat, heartbeat, HeartbeatRequest, sync),
        route!(LeaveGroup, leave_group, LeaveGroupRequest, async),
        route!(SyncGroup, sync_group, SyncGroupRequest, async),
        route!(DescribeGroups, describe_groups, DescribeGroupsRequest, sync),
        route!(ListGroups, list_groups, ListGroupsRequest, sync),
        route!(ApiVersions, api_versions, ApiVersionsRequest, sync),
        route!(CreateTopics, create_topics, CreateTopicsRequest, async),
        route!(DeleteTopics, delete_topics, DeleteTopicsRequest, async),
        route!(DeleteRecords, delete_records, DeleteRecordsRequest, async),
        route!(InitProducerId, init_producer_id, InitProducerIdRequest, async),
        route!(OffsetForLeaderEpoch, offset_for_leader_epoch, OffsetForLeaderEpochRequest, sync),
        route!(DescribeConfigs, describe_configs, DescribeConfigsRequest, sync),
        route!(AlterConfigs, alter_configs, AlterConfigsRequest, async),
        route!(DescribeLogDirs, describe_log_dirs, DescribeLogDirsRequest, sync),
        route!(CreatePartitions, create_partitions, CreatePartitionsRequest, async),
        route!(DeleteGroups, delete_groups, DeleteGroupsRequest, async),
        route!(IncrementalAlterConfigs, incremental_alter_configs, IncrementalAlterConfigsRequest, async),
        route!(OffsetDelete, offset_delete, OffsetDeleteRequest, async),
        route!(DescribeCluster, describe_cluster, DescribeClusterRequest, sync),
        route!(ConsumerGroupHeartbeat, consumer_group_heartbeat, ConsumerGroupHeartbeatRequest, async),
        route!(ConsumerGroupDescribe, consumer_group_describe, ConsumerGroupDescribeRequest, sync),
        route!(ShareGroupHeartbeat, share_group_heartbeat, ShareGroupHeartbeatRequest, async),
        route!(ShareGroupDescribe, share_group_describe, ShareGroupDescribeRequest, sync),
        route!(ShareFetch, ShareFetchRequest, custom share_fetch::route),
        route!(ShareAcknowledge, share_acknowledge, ShareAcknowledgeRequest, async),
        route!(DescribeShareGroupOffsets, describe_share_group_offsets, DescribeShareGroupOffsetsRequest, sync),
        route!(AlterShareGroupOffsets, alter_share_group_offsets, AlterShareGroupOffsetsRequest, async),
        route!(DeleteShareGroupOffsets, delete_share_group_offsets, DeleteShareGroupOffsetsRequest, async),
        route!(DescribeTopicPartitions, describe_topic_partitions, DescribeTopicPartitionsRequest, sync),
        route!(AddPartitionsToTxn, add_partitions_to_txn, AddPartitionsToTxnRequest, async),
        route!(AddOffsetsToTxn, add_offsets_to_txn, AddOffsetsToTxnRequest, async),
        route!(EndTxn, end_txn, EndTxnRequest, async),
        route!(TxnOffsetCommit, txn_offset_commit, TxnOffsetCommitRequest, async),
        route!(DescribeProducers, describe_producers, DescribeProducersRequest, sync),
        route!(DescribeTransactions, describe_transactions, DescribeTransactionsRequest, sync),
        route!(ListTransactions, list_transactions, ListTransactionsRequest, sync),
        route!(ElectLeaders, elect_leaders, ElectLeadersRequest, sync),
        route!(AlterReplicaLogDirs, alter_replica_log_dirs, AlterReplicaLogDirsRequest, sync),
        route!(DescribeQuorum, describe_quorum, DescribeQuorumRequest, sync),
        route!(ListPartitionReassignments, list_partition_reassignments, ListPartitionReassignmentsRequest, sync),
        route!(AlterPartitionReassignments, alter_partition_reassignments, AlterPartitionReassignmentsRequest, sync),
        route!(SaslHandshake, sasl_handshake, SaslHandshakeRequest, sync),
        route!(SaslAuthenticate, SaslAuthenticateRequest, custom sasl_authenticate::route),
        route!(DescribeAcls, describe_acls, DescribeAclsRequest, sync),
        route!(CreateAcls, create_acls, CreateAclsRequest, async),
        route!(DeleteAcls, delete_acls, DeleteAclsRequest, async),
        route!(CreateDelegationToken, create_delegation_token, CreateDelegationTokenRequest, sync),
        route!(RenewDelegationToken, renew_delegation_token, RenewDelegationTokenRequest, sync),
        route!(ExpireDelegationToken, expire_delegation_token, ExpireDelegationTokenRequest, sync),
        route!(DescribeDelegationToken, describe_delegation_token, DescribeDelegationTokenRequest, sync),
        route!(AddRaftVoter, add_raft_voter, AddRaftVoterRequest, sync),
        route!(RemoveRaftVoter, remove_raft_voter, RemoveRaftVoterRequest, sync),
        route!(UnregisterBroker, unregister_broker, UnregisterBrokerRequest, sync),
        route!(ListConfigResources, list_config_resources, ListConfigResourcesRequest, sync),
        route!(UpdateFeatures, update_features, UpdateFeaturesRequest, async),
        route!(WriteTxnMarkers, write_txn_markers, WriteTxnMarkersRequest, async),
        route!(
            DescribeUserScramCredentials,
            describe_user_scram_credentials,
            DescribeUserScramCredentialsRequest,
            sync
        ),
        route!(AlterUserScramCredentials, alter_user_scram_credentials, AlterUserScramCredentialsRequest, async),
        route!(DescribeClientQuotas, describe_client_quotas, DescribeClientQuotasRequest, sync),
        route!(AlterClientQuotas, alter_client_quotas, AlterClientQuotasRequest, async),
        route!(GetTelemetrySubscriptions, get_telemetry_subscriptions, GetTelemetrySubscriptionsRequest, sync),
        route!(PushTelemetry, push_telemetry, PushTelemetryRequest, sync),
    ];
    table
        .into_iter()
        .enumerate()
        .map(|(index, (key, name, versions, handler))| Route { key, name, versions, handler, index })
        .collect()
});

static BY_KEY: LazyLock<Vec<Option<usize>>> = LazyLock::new(|| {
    let max = ROUTES.iter().map(|r| r.key as i16 as usize).max().unwrap_or(0);
    let mut by_key = vec![None; max + 1];
    for r in ROUTES.iter() {
        by_key[r.key as i16 as usize] = Some(r.index);
    }
    by_key
});

/// The route of an API key, if this broker serves it.
pub fn route(key: i16) -> Option<&'static Route> {
    let i = usize::try_from(key).ok()?;
    BY_KEY.get(i).copied().flatten().map(|i| &ROUTES[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_found_by_its_key_and_named_as_kafka_names_it() {
        for r in ROUTES.iter() {
            assert_eq!(route(r.key as i16).map(|x| x.index), Some(r.index));
            assert_eq!(r.name, format!("{:?}", r.key), "metric and span names are Kafka's API names");
            assert!(r.versions.min <= r.versions.max, "{} serves no version", r.name);
        }
        assert!(route(-1).is_none());
        assert!(route(ApiKey::BrokerHeartbeat as i16).is_none(), "controller-only APIs are not served");
    }
}
