"""confluent-kafka (librdkafka) admin calls that tools make against a single node,
answered as Kafka answers them (issue 20): leader elections that are never
needed, authorized operations without an authorizer, and commits from consumers
outside group management."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, ElectionType, KafkaError, TopicCollection, TopicPartition
from confluent_kafka.admin import AclOperation, AdminClient, NewTopic

from compat_util import DEADLINE, unique_topic

T = 30


@pytest.fixture(scope="module")
def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "client.id": "compat-ck-conformance"})


def new_topic(admin, prefix: str, config: dict | None = None) -> str:
    name = unique_topic(f"ckc-{prefix}")
    fs = admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1, config=config or {})],
                             operation_timeout=T, request_timeout=T)
    fs[name].result(timeout=DEADLINE)
    return name


def test_elect_leaders_is_never_needed_on_one_node(admin):
    topic = new_topic(admin, "elect")
    for kind in (ElectionType.PREFERRED, ElectionType.UNCLEAN):
        # (confluent-kafka 2.16 cannot take request_timeout here: its C binding
        # rejects any keyword argument.)
        f = admin.elect_leaders(kind, [TopicPartition(topic, 0), TopicPartition(topic, 1)])
        result = f.result(timeout=DEADLINE)
        assert len(result) == 2
        for tp, err in result.items():
            assert err is not None and err.code() == KafkaError.ELECTION_NOT_NEEDED, (tp, err)


def test_authorized_operations_without_an_authorizer_are_all_supported_ones(admin):
    topic = new_topic(admin, "ops")
    desc = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True,
                                 request_timeout=T)[topic].result(timeout=DEADLINE)
    assert set(desc.authorized_operations) == {
        AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE, AclOperation.ALTER,
        AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS,
    }
    cluster = admin.describe_cluster(include_authorized_operations=True, request_timeout=T).result(timeout=DEADLINE)
    assert set(cluster.authorized_operations) == {
        AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS,
        AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER, AclOperation.DESCRIBE,
    }


def test_a_manually_assigned_consumer_commits_and_another_reads_it(admin, bootstrap):
    topic = new_topic(admin, "manual")
    group = unique_topic("ckc-manual-g")
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    c1 = Consumer(conf)
    try:
        c1.assign([TopicPartition(topic, 1, 7)])
        c1.commit(offsets=[TopicPartition(topic, 1, 7)], asynchronous=False)
    finally:
        c1.close()
    c2 = Consumer(conf)
    try:
        got = c2.committed([TopicPartition(topic, 1)], timeout=DEADLINE)
        assert got[0].offset == 7
    finally:
        c2.close()


def test_a_compacted_topic_refuses_a_record_without_a_key(admin, bootstrap):
    from confluent_kafka import Producer
    topic = new_topic(admin, "compacted", {"cleanup.policy": "compact"})
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "message.send.max.retries": 0})
    # Separate batches: a refused record fails its whole batch, as in Kafka.
    p.produce(topic, value=b"no key", partition=0, on_delivery=lambda e, m: errors.append(e))
    assert p.flush(DEADLINE) == 0
    p.produce(topic, key=b"k", value=b"keyed", partition=0, on_delivery=lambda e, m: errors.append(e))
    assert p.flush(DEADLINE) == 0
    assert errors[0] is not None and errors[0].code() == KafkaError.INVALID_RECORD, errors
    assert errors[1] is None, errors


def test_broker_configs_list_every_kafka_key_with_its_source(admin):
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

    resource = ConfigResource(ResourceType.BROKER, "1")
    configs = admin.describe_configs([resource], request_timeout=T)[resource].result(timeout=DEADLINE)
    # Keys a Kafka operator looks for, whether or not Weir acts on them.
    for key in ("num.io.threads", "num.network.threads", "log.retention.hours", "offsets.commit.timeout.ms",
                "process.roles", "ssl.keystore.password", "group.min.session.timeout.ms"):
        assert key in configs, f"{key} missing from the broker's DescribeConfigs"
    io = configs["num.io.threads"]
    assert (io.value, io.source) == ("8", ConfigSource.DEFAULT_CONFIG.value)
    assert configs["log.retention.hours"].value == "168"
    pw = configs["ssl.keystore.password"]
    assert pw.is_sensitive and pw.value is None
