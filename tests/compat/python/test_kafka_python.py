"""kafka-python against the broker: admin, produce, consume by assignment,
offsets by timestamp, configs, delete records, delete topic, and the default
(idempotent) producer failing clearly while InitProducerId is not served.

No consumer groups yet: consumers have group_id=None and use assign().
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, OffsetSpec
import kafka.errors as Errors

from compat_util import BASE_TS, DEADLINE, broker_api_versions, unique_topic, wait_until

PARTITIONS = 3
T_MS = 30_000
INIT_PRODUCER_ID = 22  # Kafka API key


# ---------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def admin(bootstrap):
    client = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat-kp-admin",
                              request_timeout_ms=T_MS)
    yield client
    client.close()


def create_topic(admin, prefix: str) -> str:
    name = unique_topic(f"kp-{prefix}")
    admin.create_topics({name: {"num_partitions": PARTITIONS, "replication_factor": 1}},
                        timeout_ms=T_MS)
    wait_until(lambda: _ready(admin, name), f"topic {name} with {PARTITIONS} led partitions")
    return name


def _ready(admin, name) -> bool:
    (md,) = admin.describe_topics([name])
    parts = md.get("partitions") or []
    return (md.get("error_code", 0) == 0 and len(parts) == PARTITIONS
            and all(p.get("error_code", 0) == 0 and p.get("leader_id", -1) >= 0 for p in parts))


def new_producer(bootstrap, **conf) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, client_id="compat-kp-producer",
                         enable_idempotence=False, acks="all", linger_ms=5,
                         request_timeout_ms=T_MS, **conf)


def produce(producer, topic, records) -> dict:
    """Send ``records`` (kwargs for send()); {(partition, offset): expected record}."""
    futures = [(r, producer.send(topic, **r)) for r in records]
    producer.flush(timeout=DEADLINE)
    delivered = {}
    for r, f in futures:
        md = f.get(timeout=DEADLINE)
        if "timestamp_ms" in r:
            assert md.timestamp == r["timestamp_ms"]
        delivered[(md.partition, md.offset)] = {
            "key": r.get("key"), "value": r.get("value"),
            "headers": list(r.get("headers") or []), "timestamp": md.timestamp}
    assert len(delivered) == len(records), "duplicate (partition, offset) in produce results"
    return delivered


def consume_assigned(bootstrap, tps, count, seek: dict | None = None) -> dict:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="compat-kp-consumer",
                             group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", fetch_max_wait_ms=200,
                             request_timeout_ms=T_MS)
    try:
        consumer.assign(tps)
        if seek:
            for tp, offset in seek.items():
                consumer.seek(tp, offset)
        else:
            consumer.seek_to_beginning(*tps)
        got = {}

        def poll_some():
            for tp, recs in consumer.poll(timeout_ms=500).items():
                for rec in recs:
                    assert rec.timestamp_type == 0, "expected CreateTime"
                    got[(rec.partition, rec.offset)] = {
                        "key": rec.key, "value": rec.value,
                        "headers": [(k, v) for k, v in rec.headers], "timestamp": rec.timestamp}
            return len(got) >= count

        wait_until(poll_some, f"{count} records (have {len(got)})")
        assert not any(consumer.poll(timeout_ms=500).values()), "more records than produced"
        return got
    finally:
        consumer.close()


def topic_configs(admin, topic) -> dict:
    res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)],
                                 config_filter="all")
    return res["topic"][topic]


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("compression", [None, "gzip"])
def test_produce_and_consume_by_assignment(admin, bootstrap, compression):
    topic = create_topic(admin, f"roundtrip-{compression or 'none'}")
    records = [{
        "key": f"key-{i % 5}".encode(),
        "value": None if i == 7 else f"value-{i}".encode() * 10,
        "headers": [("h-index", str(i).encode()), ("dup", b"a"), ("dup", b"b")],
        "timestamp_ms": BASE_TS + i * 10,
    } for i in range(90)]
    producer = new_producer(bootstrap, compression_type=compression)
    try:
        delivered = produce(producer, topic, records)
    finally:
        producer.close(timeout=10)
    assert len({p for p, _ in delivered}) > 1, "keys should spread over partitions"

    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    got = consume_assigned(bootstrap, tps, len(records))
    assert got == delivered


def test_list_offsets_and_offsets_for_times(admin, bootstrap):
    topic = create_topic(admin, "times")
    n = 30
    records = [{"key": f"k{i}".encode(), "value": f"v{i}".encode(), "partition": i % PARTITIONS,
                "timestamp_ms": BASE_TS + i * 1000} for i in range(n)]
    producer = new_producer(bootstrap)
    try:
        delivered = produce(producer, topic, records)
    finally:
        producer.close(timeout=10)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             request_timeout_ms=T_MS)
    try:
        assert consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
        assert consumer.end_offsets(tps) == {tp: n // PARTITIONS for tp in tps}
        target = BASE_TS + 14_500  # between record 14 and 15
        expected = {}
        for tp in tps:
            expected[tp] = min(o for (p, o), r in delivered.items()
                               if p == tp.partition and r["timestamp"] >= target)
        found = consumer.offsets_for_times({tp: target for tp in tps})
        assert {tp: ot.offset for tp, ot in found.items()} == expected
        for tp, ot in found.items():
            assert ot.timestamp >= target
        # Past the newest record there is no offset.
        assert consumer.offsets_for_times({tps[0]: BASE_TS + 3_600_000})[tps[0]] is None
    finally:
        consumer.close()

    # The admin client's ListOffsets agrees.
    specs = {tp: OffsetSpec.EARLIEST for tp in tps}
    assert {tp: r.offset for tp, r in admin.list_partition_offsets(specs).items()} == {tp: 0 for tp in tps}
    specs = {tp: OffsetSpec.LATEST for tp in tps}
    assert {tp: r.offset for tp, r in admin.list_partition_offsets(specs).items()} == {
        tp: n // PARTITIONS for tp in tps}

    want = {k: r for k, r in delivered.items() if r["timestamp"] >= target}
    got = consume_assigned(bootstrap, tps, len(want), seek=expected)
    assert got == want


def test_describe_and_alter_topic_configs(admin):
    topic = create_topic(admin, "configs")
    before = topic_configs(admin, topic)
    assert "retention.ms" in before
    assert before["retention.ms"]["config_source"] != "DYNAMIC_TOPIC_CONFIG"

    # Default: IncrementalAlterConfigs when the broker advertises it.
    res = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                              configs={"retention.ms": "3600000"})])
    assert res["topic"][topic] == "OK", res
    after = topic_configs(admin, topic)
    assert after["retention.ms"]["value"] == "3600000"
    assert after["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"

    # Forced legacy AlterConfigs.
    res = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                              configs={"retention.ms": "7200000"})],
                              incremental=False)
    assert res["topic"][topic] == "OK", res
    after = topic_configs(admin, topic)
    assert after["retention.ms"]["value"] == "7200000"
    assert after["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"


def test_delete_records(admin, bootstrap):
    topic = create_topic(admin, "delrec")
    producer = new_producer(bootstrap)
    try:
        produce(producer, topic, [{"key": b"k", "value": f"v{i}".encode(), "partition": 2}
                                  for i in range(10)])
    finally:
        producer.close(timeout=10)
    tp = TopicPartition(topic, 2)
    result = admin.delete_records({tp: 6}, timeout_ms=T_MS)
    assert result[tp]["low_watermark"] == 6
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        assert consumer.beginning_offsets([tp]) == {tp: 6}
        assert consumer.end_offsets([tp]) == {tp: 10}
    finally:
        consumer.close()
    got = consume_assigned(bootstrap, [tp], 4)
    assert sorted(o for _, o in got) == [6, 7, 8, 9]


def test_delete_topic(admin):
    topic = create_topic(admin, "deltopic")
    admin.delete_topics([topic], timeout_ms=T_MS)
    wait_until(lambda: topic not in admin.list_topics(), f"{topic} gone from metadata")


def test_non_idempotent_producer_works(admin, bootstrap):
    """enable_idempotence=False: plain produce without InitProducerId."""
    topic = create_topic(admin, "nonidem")
    producer = new_producer(bootstrap)
    try:
        md = producer.send(topic, key=b"k", value=b"v").get(timeout=DEADLINE)
        assert md.offset == 0
    finally:
        producer.close(timeout=10)


def test_default_producer_fails_clearly_without_init_producer_id(admin, bootstrap):
    """kafka-python >= 2.1 enables idempotence by default, which needs
    InitProducerId. While the broker does not serve it, send() must fail with
    an error quickly, never hang; once it does, the same code must succeed."""
    topic = create_topic(admin, "defaultprod")
    serves_init_pid = INIT_PRODUCER_ID in broker_api_versions(bootstrap)
    deadline_s = 30

    start = time.monotonic()
    producer = KafkaProducer(bootstrap_servers=bootstrap)  # all defaults
    try:
        assert producer.config["enable_idempotence"], "defaults should enable idempotence"
        future = producer.send(topic, key=b"k", value=b"v")
        if serves_init_pid:
            assert future.get(timeout=DEADLINE).offset == 0
            return
        with pytest.raises(Errors.KafkaError) as info:
            future.get(timeout=deadline_s)
    finally:
        producer.close(timeout=5)
    elapsed = time.monotonic() - start
    assert not isinstance(info.value, Errors.KafkaTimeoutError), (
        f"producer hung until the {deadline_s}s timeout instead of failing: {info.value!r}")
    assert elapsed < deadline_s, f"failure took {elapsed:.1f}s"
    assert "InitProducerId" in str(info.value) or isinstance(
        info.value, (Errors.IncompatibleBrokerVersion, Errors.UnsupportedVersionError)), info.value
