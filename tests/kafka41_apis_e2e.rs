//! The APIs a Kafka 4.1 broker serves that Weir answers as such a broker does on a
//! PLAINTEXT listener without an authorizer, SASL or delegation tokens (issue 20:
//! an ApiVersions set consistent with one release), every advertised version of
//! each; feature levels in ApiVersions and UpdateFeatures; ListConfigResources;
//! WriteTxnMarkers ending a hanging transaction.

mod common;

use common::wire::*;
use common::Weir;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::*;

fn versions(resp: &ApiVersionsResponse, key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let k = resp.api_keys.iter().find(|k| k.api_key == key as i16).unwrap_or_else(|| panic!("{key:?} advertised"));
    k.min_version..=k.max_version
}

fn api_versions(weir: &Weir, v: i16) -> ApiVersionsResponse {
    let req =
        ApiVersionsRequest::default().with_client_software_name(sb("weir-test")).with_client_software_version(sb("1"));
    call(&mut connect(weir), ApiKey::ApiVersions, v, &req)
}

#[test]
fn security_apis_answer_as_kafka_without_sasl_acls_or_tokens() {
    let weir = Weir::start();
    let mut s = connect(&weir);
    let av = api_versions(&weir, 3);
    for v in versions(&av, ApiKey::SaslHandshake) {
        let r: SaslHandshakeResponse =
            call(&mut s, ApiKey::SaslHandshake, v, &SaslHandshakeRequest::default().with_mechanism(sb("PLAIN")));
        assert_eq!((r.error_code, r.mechanisms.len()), (34, 0), "SaslHandshake v{v}: ILLEGAL_SASL_STATE");
    }
    for v in versions(&av, ApiKey::SaslAuthenticate) {
        let r: SaslAuthenticateResponse =
            call(&mut s, ApiKey::SaslAuthenticate, v, &SaslAuthenticateRequest::default());
        assert_eq!(r.error_code, 34, "SaslAuthenticate v{v}");
    }
    for v in versions(&av, ApiKey::DescribeAcls) {
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1);
        let r: DescribeAclsResponse = call(&mut s, ApiKey::DescribeAcls, v, &req);
        assert_eq!(r.error_code, 54, "DescribeAcls v{v}: SECURITY_DISABLED");
        assert_eq!(r.error_message.as_deref(), Some("No Authorizer is configured on the broker"));
    }
    for v in versions(&av, ApiKey::CreateAcls) {
        let c = AclCreation::default()
            .with_resource_type(2)
            .with_resource_name(sb("t"))
            .with_resource_pattern_type(3)
            .with_principal(sb("User:alice"))
            .with_host(sb("*"))
            .with_operation(3)
            .with_permission_type(3);
        let req = CreateAclsRequest::default().with_creations(vec![c.clone(), c]);
        let r: CreateAclsResponse = call(&mut s, ApiKey::CreateAcls, v, &req);
        let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![54, 54], "CreateAcls v{v}: one result per creation");
    }
    for v in versions(&av, ApiKey::DeleteAcls) {
        let f = DeleteAclsFilter::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1);
        let r: DeleteAclsResponse =
            call(&mut s, ApiKey::DeleteAcls, v, &DeleteAclsRequest::default().with_filters(vec![f]));
        assert_eq!(r.filter_results.iter().map(|r| r.error_code).collect::<Vec<_>>(), vec![54], "DeleteAcls v{v}");
    }
    // Delegation tokens: never on a PLAINTEXT connection.
    for v in versions(&av, ApiKey::CreateDelegationToken) {
        let r: CreateDelegationTokenResponse = call(
            &mut s,
            ApiKey::CreateDelegationToken,
            v,
            &CreateDelegationTokenRequest::default().with_max_lifetime_ms(-1),
        );
        assert_eq!(r.error_code, 64, "CreateDelegationToken v{v}: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED");
        assert_eq!((r.principal_type.as_str(), r.principal_name.as_str()), ("User", "ANONYMOUS"));
        assert_eq!(r.expiry_timestamp_ms, -1);
    }
    for v in versions(&av, ApiKey::RenewDelegationToken) {
        let r: RenewDelegationTokenResponse =
            call(&mut s, ApiKey::RenewDelegationToken, v, &RenewDelegationTokenRequest::default());
        assert_eq!((r.error_code, r.expiry_timestamp_ms), (64, -1), "RenewDelegationToken v{v}");
    }
    for v in versions(&av, ApiKey::ExpireDelegationToken) {
        let r: ExpireDelegationTokenResponse =
            call(&mut s, ApiKey::ExpireDelegationToken, v, &ExpireDelegationTokenRequest::default());
        assert_eq!((r.error_code, r.expiry_timestamp_ms), (64, -1), "ExpireDelegationToken v{v}");
    }
    for v in versions(&av, ApiKey::DescribeDelegationToken) {
        let r: DescribeDelegationTokenResponse =
            call(&mut s, ApiKey::DescribeDelegationToken, v, &DescribeDelegationTokenRequest::default());
        assert_eq!((r.error_code, r.tokens.len()), (64, 0), "DescribeDelegationToken v{v}");
    }
}

#[test]
fn quorum_and_registration_changes_are_refused_as_on_a_static_one_node_quorum() {
    let weir = Weir::start();
    let mut s = connect(&weir);
    let av = api_versions(&weir, 3);
    let cluster: DescribeClusterResponse = call(&mut s, ApiKey::DescribeCluster, 0, &DescribeClusterRequest::default());
    let node = cluster.controller_id;
    let dir = uuid::Uuid::from_u128(7);
    for v in versions(&av, ApiKey::AddRaftVoter) {
        let req = AddRaftVoterRequest::default()
            .with_cluster_id(Some(sb("someone-else")))
            .with_voter_id(2)
            .with_voter_directory_id(dir);
        let r: AddRaftVoterResponse = call(&mut s, ApiKey::AddRaftVoter, v, &req);
        assert_eq!(r.error_code, 104, "AddRaftVoter v{v}: INCONSISTENT_CLUSTER_ID");
        let req = AddRaftVoterRequest::default().with_cluster_id(None).with_voter_id(2).with_voter_directory_id(dir);
        let r: AddRaftVoterResponse = call(&mut s, ApiKey::AddRaftVoter, v, &req);
        assert_eq!(r.error_code, 35, "AddRaftVoter v{v}: kraft.version 0");
        assert_eq!(
            r.error_message.as_deref(),
            Some("Cluster doesn't support adding voter because the kraft.version feature is 0")
        );
    }
    for v in versions(&av, ApiKey::RemoveRaftVoter) {
        let req = RemoveRaftVoterRequest::default().with_cluster_id(None).with_voter_id(node.0);
        let r: RemoveRaftVoterResponse = call(&mut s, ApiKey::RemoveRaftVoter, v, &req);
        assert_eq!(r.error_code, 42, "RemoveRaftVoter v{v}: a static voter has no directory id");
        let req = RemoveRaftVoterRequest::default()
            .with_cluster_id(Some(sb(&cluster.cluster_id)))
            .with_voter_id(node.0)
            .with_voter_directory_id(dir);
        let r: RemoveRaftVoterResponse = call(&mut s, ApiKey::RemoveRaftVoter, v, &req);
        assert_eq!(r.error_code, 35, "RemoveRaftVoter v{v}");
    }
    for v in versions(&av, ApiKey::UnregisterBroker) {
        let r: UnregisterBrokerResponse = call(
            &mut s,
            ApiKey::UnregisterBroker,
            v,
            &UnregisterBrokerRequest::default().with_broker_id(BrokerId(node.0 + 5)),
        );
        assert_eq!(r.error_code, 102, "UnregisterBroker v{v}: BROKER_ID_NOT_REGISTERED");
        let r: UnregisterBrokerResponse =
            call(&mut s, ApiKey::UnregisterBroker, v, &UnregisterBrokerRequest::default().with_broker_id(node));
        assert_eq!(r.error_code, 42, "UnregisterBroker v{v}: not this running node");
    }
}

#[test]
fn feature_levels_are_reported_and_changed_with_kafkas_checks() {
    let mut weir = Weir::start();
    type Features = (Vec<(String, i16, i16)>, Vec<(String, i16)>, i64);
    let features = |weir: &Weir, v: i16| -> Features {
        let r = api_versions(weir, v);
        (
            r.supported_features.iter().map(|f| (f.name.to_string(), f.min_version, f.max_version)).collect(),
            r.finalized_features.iter().map(|f| (f.name.to_string(), f.max_version_level)).collect(),
            r.finalized_features_epoch,
        )
    };
    let (supported, finalized, epoch) = features(&weir, 4);
    assert_eq!(
        supported,
        vec![("group.version".into(), 0, 1), ("metadata.version".into(), 27, 27), ("share.version".into(), 0, 1)]
    );
    assert_eq!(
        finalized,
        vec![("group.version".into(), 1), ("metadata.version".into(), 27), ("share.version".into(), 1)]
    );
    assert!(epoch >= 0);
    // v3 clients are not shown features supported from level 0 (KAFKA-17492).
    assert_eq!(features(&weir, 3).0, vec![("metadata.version".into(), 27, 27)]);

    let update = |weir: &Weir, v: i16, name: &str, level: i16, kind: i8, validate_only: bool| {
        let u = FeatureUpdateKey::default().with_feature(sb(name)).with_max_version_level(level);
        let u = if v == 0 { u.with_allow_downgrade(kind != 1) } else { u.with_upgrade_type(kind) };
        let req = UpdateFeaturesRequest::default().with_feature_updates(vec![u]).with_timeout_ms(10_000);
        let req = if v >= 1 { req.with_validate_only(validate_only) } else { req };
        let r: UpdateFeaturesResponse = call(&mut connect(weir), ApiKey::UpdateFeatures, v, &req);
        (r.error_code, r.error_message.map(|m| m.to_string()), r.results.len())
    };
    let av = api_versions(&weir, 3);
    for v in versions(&av, ApiKey::UpdateFeatures) {
        let (code, msg, _) = update(&weir, v, "group.version", 0, 1, false);
        assert_eq!(code, 95, "UpdateFeatures v{v}: INVALID_UPDATE_VERSION");
        assert!(msg.unwrap().contains("without setting the upgrade type"), "v{v}");
        let (code, msg, _) = update(&weir, v, "transaction.version", 2, 1, false);
        assert_eq!((code, msg.as_deref()), (95, Some("Invalid update version 2 for feature transaction.version. Local controller 1 does not support this feature.")));
        if v >= 1 {
            let (code, _, results) = update(&weir, v, "group.version", 0, 2, true);
            assert_eq!((code, results), (0, if v == 1 { 1 } else { 0 }), "UpdateFeatures v{v}: validate only");
        }
    }
    assert_eq!(features(&weir, 4).1[0], ("group.version".into(), 1), "validate_only changed nothing");

    // group.version 0 turns the consumer protocol off, as in Kafka, and it stays off
    // across a restart; 1 turns it on again.
    assert_eq!(update(&weir, 1, "group.version", 0, 2, false).0, 0);
    assert_eq!(
        features(&weir, 4).1,
        vec![("metadata.version".into(), 27), ("share.version".into(), 1)],
        "level 0 is not listed"
    );
    let hb = |weir: &Weir| -> i16 {
        let req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(sb("fv")))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![]))
            .with_topic_partitions(Some(vec![]));
        let r: ConsumerGroupHeartbeatResponse = call(&mut connect(weir), ApiKey::ConsumerGroupHeartbeat, 0, &req);
        r.error_code
    };
    assert_eq!(hb(&weir), 35, "UNSUPPORTED_VERSION while group.version is 0");
    weir.stop();
    weir.restart();
    assert_eq!(hb(&weir), 35, "the level is kept in the metadata log");
    assert_eq!(update(&weir, 1, "group.version", 1, 1, false).0, 0);
    assert_eq!(hb(&weir), 0);
}

#[test]
fn list_config_resources_names_groups_brokers_and_topics_in_kafkas_order() {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let weir = Weir::start();
    let mut s = connect(&weir);
    let t = CreatableTopic::default().with_name(TopicName(sb("lcr"))).with_num_partitions(1).with_replication_factor(1);
    let _: CreateTopicsResponse = call(
        &mut s,
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(10_000),
    );
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(32)
        .with_resource_name(sb("lcr-g"))
        .with_configs(vec![AlterableConfig::default()
            .with_name(sb("consumer.heartbeat.interval.ms"))
            .with_config_operation(0)
            .with_value(Some(sb("6000")))])]);
    let r: IncrementalAlterConfigsResponse = call(&mut s, ApiKey::IncrementalAlterConfigs, 1, &req);
    assert_eq!(r.responses[0].error_code, 0, "{:?}", r.responses[0].error_message);

    let list = |s: &mut std::net::TcpStream, v: i16, types: Vec<i8>| -> (i16, Vec<(String, i8)>) {
        let r: ListConfigResourcesResponse =
            call(s, ApiKey::ListConfigResources, v, &ListConfigResourcesRequest::default().with_resource_types(types));
        (r.error_code, r.config_resources.iter().map(|c| (c.resource_name.to_string(), c.resource_type)).collect())
    };
    assert_eq!(list(&mut s, 0, vec![]), (0, vec![]), "v0: client-metrics resources only, and there are none");
    let (code, all) = list(&mut s, 1, vec![]);
    assert_eq!(code, 0);
    let topics: Vec<(String, i8)> = [
        "__consumer_offsets",
        "__transaction_state",
        "__weir_console_alert_history",
        "__weir_console_alerts",
        "__weir_console_history",
        "_schemas",
        "lcr",
    ]
    .iter()
    .map(|t| (t.to_string(), 2))
    .collect();
    let mut expected = vec![("lcr-g".into(), 32), ("1".into(), 8), ("1".into(), 4)];
    expected.extend(topics.clone());
    assert_eq!(all, expected, "groups with configs, broker loggers, brokers, every topic");
    assert_eq!(list(&mut s, 1, vec![2]).1, topics);
    assert_eq!(list(&mut s, 1, vec![2, 3]), (35, vec![]), "a type Kafka does not list: UNSUPPORTED_VERSION");
}

#[test]
fn scram_credentials_and_client_quotas_are_kept_in_the_metadata_log() {
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    use kafka_protocol::messages::alter_user_scram_credentials_request::{
        ScramCredentialDeletion, ScramCredentialUpsertion,
    };
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    let mut weir = Weir::start();
    let upsert = |user: &str, mechanism: i8, iterations: i32| {
        ScramCredentialUpsertion::default()
            .with_name(sb(user))
            .with_mechanism(mechanism)
            .with_iterations(iterations)
            .with_salt(bytes::Bytes::from_static(b"0123456789abcdef"))
            .with_salted_password(bytes::Bytes::from(vec![7u8; 32]))
    };
    let req = AlterUserScramCredentialsRequest::default()
        .with_upsertions(vec![upsert("alice", 1, 8192), upsert("bob", 2, 4096), upsert("carol", 1, 100)])
        .with_deletions(vec![ScramCredentialDeletion::default().with_name(sb("dave")).with_mechanism(1)]);
    let r: AlterUserScramCredentialsResponse = call(&mut connect(&weir), ApiKey::AlterUserScramCredentials, 0, &req);
    let outcome: Vec<(String, i16)> = r.results.iter().map(|r| (r.user.to_string(), r.error_code)).collect();
    assert_eq!(
        outcome,
        vec![("alice".into(), 0), ("bob".into(), 0), ("dave".into(), 91), ("carol".into(), 93)],
        "accepted first; RESOURCE_NOT_FOUND, UNACCEPTABLE_CREDENTIAL"
    );

    let quota_entry = |user: Option<&str>, key: &str, value: f64| {
        EntryData::default()
            .with_entity(vec![EntityData::default().with_entity_type(sb("user")).with_entity_name(user.map(sb))])
            .with_ops(vec![OpData::default().with_key(sb(key)).with_value(value)])
    };
    let req = AlterClientQuotasRequest::default().with_entries(vec![
        quota_entry(Some("alice"), "producer_byte_rate", 1048576.0),
        quota_entry(None, "consumer_byte_rate", 2097152.0),
        quota_entry(Some("bob"), "fetch_rate", 1.0),
    ]);
    let r: AlterClientQuotasResponse = call(&mut connect(&weir), ApiKey::AlterClientQuotas, 1, &req);
    let codes: Vec<i16> = r.entries.iter().map(|e| e.error_code).collect();
    assert_eq!(codes, vec![0, 0, 42]);
    assert_eq!(r.entries[2].error_message.as_deref(), Some("Invalid configuration key fetch_rate"));

    weir.stop();
    weir.restart();
    let av = api_versions(&weir, 3);
    for v in versions(&av, ApiKey::DescribeUserScramCredentials) {
        let all: DescribeUserScramCredentialsResponse = call(
            &mut connect(&weir),
            ApiKey::DescribeUserScramCredentials,
            v,
            &DescribeUserScramCredentialsRequest::default().with_users(None),
        );
        let described: Vec<(String, i8, i32)> = all
            .results
            .iter()
            .flat_map(|r| r.credential_infos.iter().map(|c| (r.user.to_string(), c.mechanism, c.iterations)))
            .collect();
        assert_eq!(described, vec![("alice".into(), 1, 8192), ("bob".into(), 2, 4096)], "v{v}: kept across a restart");
        let named = |names: &[&str]| -> Vec<(String, i16)> {
            let users = names.iter().map(|n| UserName::default().with_name(sb(n))).collect();
            let r: DescribeUserScramCredentialsResponse = call(
                &mut connect(&weir),
                ApiKey::DescribeUserScramCredentials,
                v,
                &DescribeUserScramCredentialsRequest::default().with_users(Some(users)),
            );
            r.results.iter().map(|r| (r.user.to_string(), r.error_code)).collect()
        };
        assert_eq!(
            named(&["alice", "zed", "bob", "bob"]),
            vec![("alice".into(), 0), ("zed".into(), 91), ("bob".into(), 92)]
        );
    }
    for v in versions(&av, ApiKey::DescribeClientQuotas) {
        let describe = |components: Vec<ComponentData>, strict: bool| {
            let req = DescribeClientQuotasRequest::default().with_components(components).with_strict(strict);
            let r: DescribeClientQuotasResponse = call(&mut connect(&weir), ApiKey::DescribeClientQuotas, v, &req);
            (
                r.error_code,
                r.entries.map(|es| {
                    es.iter()
                        .map(|e| {
                            (
                                e.entity[0].entity_name.as_ref().map(|n| n.to_string()),
                                e.values[0].key.to_string(),
                                e.values[0].value,
                            )
                        })
                        .collect::<Vec<_>>()
                }),
            )
        };
        let (code, all) = describe(vec![], false);
        assert_eq!(code, 0, "v{v}");
        assert_eq!(
            all.unwrap(),
            vec![
                (None, "consumer_byte_rate".into(), 2097152.0),
                (Some("alice".into()), "producer_byte_rate".into(), 1048576.0)
            ]
        );
        let exact =
            ComponentData::default().with_entity_type(sb("user")).with_match_type(0).with_match(Some(sb("alice")));
        assert_eq!(describe(vec![exact], true).1.unwrap().len(), 1, "v{v}");
        let default = ComponentData::default().with_entity_type(sb("user")).with_match_type(1).with_match(None);
        assert_eq!(describe(vec![default], true).1.unwrap()[0].0, None, "v{v}");
        let bad = ComponentData::default().with_entity_type(sb("group")).with_match_type(2).with_match(None);
        assert_eq!(describe(vec![bad], false), (35, None), "v{v}: unknown entity type");
    }
}
