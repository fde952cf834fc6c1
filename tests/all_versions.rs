//! Every version of every API we advertise answers a well-formed request with a
//! well-formed response (kafka-protocol refuses to encode fields a version does not
//! have, so this catches handlers that set them).

mod common;

use common::wire::*;
use common::Weir;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn versions(resp: &ApiVersionsResponse, key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let k = resp.api_keys.iter().find(|k| k.api_key == key as i16).unwrap_or_else(|| panic!("{key:?} advertised"));
    k.min_version..=k.max_version
}

#[test]
fn every_advertised_version_round_trips() {
    let weir = Weir::start();
    let mut s = connect(&weir);
    let av: ApiVersionsResponse = call(&mut s, ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    assert_eq!(av.error_code, 0);
    for v in versions(&av, ApiKey::ApiVersions) {
        let req = ApiVersionsRequest::default();
        let req = if v >= 3 {
            req.with_client_software_name(StrBytes::from_static_str("t"))
                .with_client_software_version(StrBytes::from_static_str("1"))
        } else {
            req
        };
        let r: ApiVersionsResponse = call(&mut s, ApiKey::ApiVersions, v, &req);
        assert_eq!(r.error_code, 0, "ApiVersions v{v}");
    }

    // Metadata auto-creates the topic the rest of the test uses.
    let mut topic_id = uuid::Uuid::nil();
    for v in versions(&av, ApiKey::Metadata) {
        let t = MetadataRequestTopic::default().with_name(Some(name("allv")));
        let req = MetadataRequest::default().with_topics(Some(vec![t])).with_allow_auto_topic_creation(true);
        let r: MetadataResponse = call(&mut s, ApiKey::Metadata, v, &req);
        assert_eq!(r.topics.len(), 1, "Metadata v{v}");
        assert_eq!(r.topics[0].error_code, 0, "Metadata v{v}");
        assert_eq!(r.topics[0].partitions.len(), 1, "Metadata v{v}");
        assert_eq!(r.brokers.len(), 1);
        if v >= 10 {
            topic_id = r.topics[0].topic_id;
        }
    }
    assert!(!topic_id.is_nil());

    let mut produced = 0;
    for v in versions(&av, ApiKey::Produce) {
        let mut td = TopicProduceData::default().with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(batch(&[b"a", b"b"]).freeze()))]);
        td = if v >= 13 { td.with_topic_id(topic_id) } else { td.with_name(name("allv")) };
        let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(vec![td]);
        let r: ProduceResponse = call(&mut s, ApiKey::Produce, v, &req);
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, produced), "Produce v{v}");
        produced += 2;
    }

    for v in versions(&av, ApiKey::Fetch) {
        let fp = FetchPartition::default().with_partition(0).with_fetch_offset(1).with_partition_max_bytes(1 << 20);
        let ft = FetchTopic::default().with_partitions(vec![fp]);
        let ft = if v >= 13 { ft.with_topic_id(topic_id) } else { ft.with_topic(name("allv")) };
        let req = FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_topics(vec![ft]);
        let req = if v >= 7 { req.with_session_epoch(-1) } else { req };
        let r: FetchResponse = call(&mut s, ApiKey::Fetch, v, &req);
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "Fetch v{v}");
        assert_eq!(p.high_watermark, produced, "Fetch v{v}");
        assert!(!p.records.as_ref().unwrap().is_empty(), "Fetch v{v}");
    }

    for v in versions(&av, ApiKey::ListOffsets) {
        let lp = ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1);
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default().with_name(name("allv")).with_partitions(vec![lp])]);
        let r: ListOffsetsResponse = call(&mut s, ApiKey::ListOffsets, v, &req);
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.offset), (0, produced), "ListOffsets v{v}");
    }

    for v in versions(&av, ApiKey::OffsetForLeaderEpoch) {
        let p = OffsetForLeaderPartition::default().with_partition(0).with_leader_epoch(0).with_current_leader_epoch(0);
        let req = OffsetForLeaderEpochRequest::default()
            .with_topics(vec![OffsetForLeaderTopic::default().with_topic(name("allv")).with_partitions(vec![p])]);
        let req = if v >= 3 { req.with_replica_id(BrokerId(-1)) } else { req };
        let r: OffsetForLeaderEpochResponse = call(&mut s, ApiKey::OffsetForLeaderEpoch, v, &req);
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.end_offset), (0, produced), "OffsetForLeaderEpoch v{v}");
    }

    for v in versions(&av, ApiKey::CreateTopics) {
        let t = CreatableTopic::default()
            .with_name(name(&format!("allv-c{v}")))
            .with_num_partitions(1)
            .with_replication_factor(1);
        let req = CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(10_000);
        let r: CreateTopicsResponse = call(&mut s, ApiKey::CreateTopics, v, &req);
        assert_eq!(r.topics[0].error_code, 0, "CreateTopics v{v}: {:?}", r.topics[0].error_message);
    }

    for v in versions(&av, ApiKey::CreatePartitions) {
        let t = CreatePartitionsTopic::default().with_name(name(&format!("allv-c{}", 2 + v))).with_count(2);
        let req = CreatePartitionsRequest::default().with_topics(vec![t]).with_timeout_ms(10_000);
        let r: CreatePartitionsResponse = call(&mut s, ApiKey::CreatePartitions, v, &req);
        assert_eq!(r.results[0].error_code, 0, "CreatePartitions v{v}: {:?}", r.results[0].error_message);
    }

    for v in versions(&av, ApiKey::DescribeConfigs) {
        let topic = DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("allv"));
        let broker =
            DescribeConfigsResource::default().with_resource_type(4).with_resource_name(StrBytes::from_static_str(""));
        let req = DescribeConfigsRequest::default().with_resources(vec![topic, broker]).with_include_synonyms(true);
        let req = if v >= 3 { req.with_include_documentation(true) } else { req };
        let r: DescribeConfigsResponse = call(&mut s, ApiKey::DescribeConfigs, v, &req);
        for res in &r.results {
            assert_eq!(res.error_code, 0, "DescribeConfigs v{v}: {:?}", res.error_message);
            assert!(res.configs.len() > 10, "DescribeConfigs v{v}");
        }
    }

    for v in versions(&av, ApiKey::AlterConfigs) {
        use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let c = AlterableConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("1000")));
        let res = AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("allv-c2"))
            .with_configs(vec![c]);
        let r: AlterConfigsResponse =
            call(&mut s, ApiKey::AlterConfigs, v, &AlterConfigsRequest::default().with_resources(vec![res]));
        assert_eq!(r.responses[0].error_code, 0, "AlterConfigs v{v}: {:?}", r.responses[0].error_message);
    }

    for v in versions(&av, ApiKey::IncrementalAlterConfigs) {
        use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let c = AlterableConfig::default()
            .with_name(StrBytes::from_static_str("cleanup.policy"))
            .with_config_operation(2)
            .with_value(Some(StrBytes::from_static_str("compact")));
        let res = AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("allv-c3"))
            .with_configs(vec![c]);
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![res]);
        let r: IncrementalAlterConfigsResponse = call(&mut s, ApiKey::IncrementalAlterConfigs, v, &req);
        assert_eq!(r.responses[0].error_code, 0, "IncrementalAlterConfigs v{v}: {:?}", r.responses[0].error_message);
    }

    for v in versions(&av, ApiKey::DescribeLogDirs) {
        let r: DescribeLogDirsResponse =
            call(&mut s, ApiKey::DescribeLogDirs, v, &DescribeLogDirsRequest::default().with_topics(None));
        assert_eq!(r.results.len(), 1, "DescribeLogDirs v{v}");
        assert!(r.results[0].topics.iter().any(|t| t.name.0.as_str() == "allv"), "DescribeLogDirs v{v}");
    }

    for v in versions(&av, ApiKey::DescribeCluster) {
        let r: DescribeClusterResponse = call(&mut s, ApiKey::DescribeCluster, v, &DescribeClusterRequest::default());
        assert_eq!((r.error_code, r.brokers.len()), (0, 1), "DescribeCluster v{v}");
    }

    for v in versions(&av, ApiKey::DescribeTopicPartitions) {
        let req = DescribeTopicPartitionsRequest::default()
            .with_topics(vec![TopicRequest::default().with_name(name("allv"))])
            .with_response_partition_limit(100);
        let r: DescribeTopicPartitionsResponse = call(&mut s, ApiKey::DescribeTopicPartitions, v, &req);
        assert_eq!((r.topics[0].error_code, r.topics[0].partitions.len()), (0, 1), "DescribeTopicPartitions v{v}");
    }

    // Admin APIs with their one-node answers.
    let node = {
        let r: DescribeClusterResponse = call(&mut s, ApiKey::DescribeCluster, 0, &DescribeClusterRequest::default());
        r.controller_id
    };
    for v in versions(&av, ApiKey::ElectLeaders) {
        use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
        let tp = TopicPartitions::default().with_topic(name("allv")).with_partitions(vec![0, 9]);
        let req = ElectLeadersRequest::default().with_topic_partitions(Some(vec![tp])).with_timeout_ms(10_000);
        let r: ElectLeadersResponse = call(&mut s, ApiKey::ElectLeaders, v, &req);
        let codes: Vec<i16> = r.replica_election_results[0].partition_result.iter().map(|p| p.error_code).collect();
        assert_eq!(codes, vec![84, 3], "ElectLeaders v{v}: ELECTION_NOT_NEEDED, UNKNOWN_TOPIC_OR_PARTITION");
        let req = ElectLeadersRequest::default().with_topic_partitions(None).with_timeout_ms(10_000);
        let r: ElectLeadersResponse = call(&mut s, ApiKey::ElectLeaders, v, &req);
        assert!(r.replica_election_results.is_empty(), "ElectLeaders v{v}: all partitions, none needs one");
    }
    for v in versions(&av, ApiKey::AlterReplicaLogDirs) {
        use kafka_protocol::messages::alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
        let dir = |path: &str, parts: Vec<i32>| {
            AlterReplicaLogDir::default()
                .with_path(StrBytes::from_string(path.to_string()))
                .with_topics(vec![AlterReplicaLogDirTopic::default().with_name(name("allv")).with_partitions(parts)])
        };
        let ours = weir.data_dir.display().to_string();
        let req = AlterReplicaLogDirsRequest::default()
            .with_dirs(vec![dir(&ours, vec![0, 9]), dir("/nonexistent/weir-dir", vec![0])]);
        let r: AlterReplicaLogDirsResponse = call(&mut s, ApiKey::AlterReplicaLogDirs, v, &req);
        let codes: Vec<Vec<i16>> =
            r.results.iter().map(|t| t.partitions.iter().map(|p| p.error_code).collect()).collect();
        assert_eq!(codes, vec![vec![0, 3], vec![57]], "AlterReplicaLogDirs v{v}");
    }
    for v in versions(&av, ApiKey::DescribeQuorum) {
        use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
        let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(name("__cluster_metadata"))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
        let r: DescribeQuorumResponse = call(&mut s, ApiKey::DescribeQuorum, v, &req);
        let p = &r.topics[0].partitions[0];
        assert_eq!((r.error_code, p.error_code, p.leader_id), (0, 0, node), "DescribeQuorum v{v}");
        assert!(p.high_watermark > 0, "DescribeQuorum v{v}: topics were created");
        assert_eq!(p.current_voters.len(), 1);
        assert_eq!(p.current_voters[0].log_end_offset, p.high_watermark);
        if v >= 2 {
            assert_eq!(r.nodes.len(), 1, "DescribeQuorum v{v}");
        }
    }
    for v in versions(&av, ApiKey::ListPartitionReassignments) {
        let req = ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000);
        let r: ListPartitionReassignmentsResponse = call(&mut s, ApiKey::ListPartitionReassignments, v, &req);
        assert_eq!((r.error_code, r.topics.len()), (0, 0), "ListPartitionReassignments v{v}");
    }
    for v in versions(&av, ApiKey::AlterPartitionReassignments) {
        use kafka_protocol::messages::alter_partition_reassignments_request::{
            ReassignablePartition, ReassignableTopic,
        };
        let p = |i: i32, replicas: Option<Vec<BrokerId>>| {
            ReassignablePartition::default().with_partition_index(i).with_replicas(replicas)
        };
        let t = ReassignableTopic::default().with_name(name("allv")).with_partitions(vec![
            p(0, Some(vec![node])),
            p(0, Some(vec![node, BrokerId(node.0 + 1)])),
            p(0, None),
        ]);
        let req = AlterPartitionReassignmentsRequest::default().with_topics(vec![t]).with_timeout_ms(10_000);
        let r: AlterPartitionReassignmentsResponse = call(&mut s, ApiKey::AlterPartitionReassignments, v, &req);
        let codes: Vec<i16> = r.responses[0].partitions.iter().map(|p| p.error_code).collect();
        assert_eq!(codes, vec![0, 39, 85], "AlterPartitionReassignments v{v}");
    }

    for v in versions(&av, ApiKey::DeleteRecords) {
        let p = DeleteRecordsPartition::default().with_partition_index(0).with_offset(v as i64 + 1);
        let req = DeleteRecordsRequest::default()
            .with_topics(vec![DeleteRecordsTopic::default().with_name(name("allv")).with_partitions(vec![p])])
            .with_timeout_ms(10_000);
        let r: DeleteRecordsResponse = call(&mut s, ApiKey::DeleteRecords, v, &req);
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.low_watermark), (0, v as i64 + 1), "DeleteRecords v{v}");
    }

    for v in versions(&av, ApiKey::DeleteTopics) {
        let topic = format!("allv-c{}", 1 + v);
        let req = if v >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![DeleteTopicState::default().with_name(Some(name(&topic)))])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![name(&topic)])
        };
        let r: DeleteTopicsResponse = call(&mut s, ApiKey::DeleteTopics, v, &req.with_timeout_ms(10_000));
        assert_eq!(r.responses[0].error_code, 0, "DeleteTopics v{v}: {:?}", r.responses[0].error_message);
    }
}
