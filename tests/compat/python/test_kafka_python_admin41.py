"""kafka-python's admin client against the broker as against Kafka 4.1 (issue 20):
the broker version it infers from ApiVersions, feature levels, config resources,
SCRAM credentials, ACLs without an authorizer, and aborting a hanging
transaction with WriteTxnMarkers (``kafka-transactions.sh abort``)."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ResourcePatternFilter, ResourceType
from kafka.admin._transactions import AbortTransactionSpec
from kafka.admin._users import ScramMechanism, UserScramCredentialUpsertion
from kafka.admin import ACLResourcePatternType
import kafka.errors as Errors

from compat_util import DEADLINE, unique_topic, wait_until

T_MS = 30_000


@pytest.fixture(scope="module")
def admin(bootstrap):
    client = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat-kp-admin41", request_timeout_ms=T_MS)
    yield client
    client.close()


def test_the_inferred_broker_version_is_kafka_41_and_every_41_api_it_expects_is_there(admin, bootstrap):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="compat-kp-admin41-version")
    try:
        assert consumer.config["api_version"] == (4, 1)
    finally:
        consumer.close()
    from kafka.protocol.broker_version_data import BROKER_API_VERSIONS
    kafka41 = BROKER_API_VERSIONS[(4, 1)]
    served = {int(k): v for k, v in admin.api_versions().items()}
    # KIP-932: the share-group APIs (76-79) and the share-offset admin APIs (90-92)
    # are served; the share coordinator's inter-broker state APIs (83-87) are not.
    not_served = {83, 84, 85, 86, 87}
    missing = sorted(k for k in kafka41 if k not in served and k not in not_served)
    assert missing == [], f"Kafka 4.1 APIs not served: {missing}"
    for key, (lo, hi) in kafka41.items():
        if key in served:
            assert served[key][1] == hi, f"api {key}: max {served[key][1]}, Kafka 4.1 {hi}"


def test_feature_levels(admin):
    f = admin.describe_features()
    assert f["metadata.version"]["finalized"] == (27, 27), f
    assert f["group.version"]["finalized"] == (1, 1), f
    assert f["group.version"]["supported"] == (0, 1), f
    with pytest.raises(Errors.InvalidUpdateVersionError, match="does not support this feature"):
        admin.update_features({"transaction.version": 2}, validate_only=True)


def test_config_resources_are_listed(admin):
    topic = unique_topic("kp41-lcr")
    admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, timeout_ms=T_MS)
    listed = admin.list_config_resources()
    assert topic in listed["topic"], listed
    assert listed["broker"] == listed["broker_logger"] and len(listed["broker"]) == 1, listed


def test_scram_credentials_are_stored_and_described(admin):
    user = unique_topic("kp41-user")
    result = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_256, "pencil", iterations=8192),
        UserScramCredentialUpsertion(user + "-few", ScramMechanism.SCRAM_SHA_512, "pencil", iterations=100),
    ])
    assert result[user] is None, result
    assert "Too few iterations" in str(result[user + "-few"]), result
    described = admin.describe_user_scram_credentials([user])
    infos = described[user]["credential_infos"]
    assert [(int(i["mechanism"]), i["iterations"]) for i in infos] == [(1, 8192)], described


def test_clients_push_the_telemetry_a_subscription_asks_for_and_the_console_exports_it(admin, bootstrap, broker):
    import urllib.request
    from kafka.admin import ConfigResource, ConfigResourceType
    if not broker.console_url:
        pytest.skip("no console address (external broker)")
    name = unique_topic("kp41-telemetry")
    admin.alter_configs([ConfigResource(ConfigResourceType.CLIENT_METRICS, name, configs={
        "metrics": "org.apache.kafka.producer.", "interval.ms": "1000", "match": "client_id=tele-app-.*"})],
        raise_on_unknown=False)
    assert name in admin.list_config_resources(["CLIENT_METRICS"])["client_metrics"]
    topic = unique_topic("kp41-telemetry-t")
    admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, timeout_ms=T_MS)
    # librdkafka asks for its subscription at start-up and pushes every second.
    p = Producer({"bootstrap.servers": bootstrap, "client.id": "tele-app-1"})
    other = Producer({"bootstrap.servers": bootstrap, "client.id": "not-subscribed"})
    for prod in (p, other):
        prod.produce(topic, value=b"x")
        prod.flush(DEADLINE)

    def exported():
        for prod in (p, other):
            prod.poll(0.1)
        text = urllib.request.urlopen(broker.console_url + "/metrics", timeout=10).read().decode()
        return [l for l in text.splitlines() if l.startswith("weir_client_telemetry{")]

    wait_until(lambda: any('client_id="tele-app-1"' in l for l in exported()), "pushed producer metrics on /metrics")
    lines = exported()
    assert all('metric="org.apache.kafka.producer.' in l for l in lines), lines[:5]
    assert not any('client_id="not-subscribed"' in l for l in lines), "a client no subscription matches pushes nothing"


def test_acls_without_an_authorizer_are_security_disabled(admin):
    f = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                  resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, None, ACLResourcePatternType.ANY))
    with pytest.raises(Errors.SecurityDisabledError):
        admin.describe_acls(f)


def test_a_hanging_transaction_is_aborted_with_write_txn_markers(admin, bootstrap):
    topic = unique_topic("kp41-hang")
    admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, timeout_ms=T_MS)
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique_topic("kp41-hang-tx"),
                  "transaction.timeout.ms": 600_000})
    p.init_transactions(DEADLINE)
    p.begin_transaction()
    p.produce(topic, value=b"left open", partition=0)
    p.flush(DEADLINE)
    tp = TopicPartition(topic, 0)
    open_txns = [s for s in admin.describe_producers([tp])[tp].active_producers
                 if s.current_transaction_start_offset >= 0]
    assert len(open_txns) == 1, open_txns
    hanging = open_txns[0]
    admin.abort_transaction(AbortTransactionSpec(tp, hanging.producer_id, hanging.producer_epoch))
    def closed():
        states = admin.describe_producers([tp])[tp].active_producers
        return all(s.current_transaction_start_offset < 0 for s in states)
    wait_until(closed, "the transaction is no longer open in the partition")
