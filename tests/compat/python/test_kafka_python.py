"""kafka-python against the broker: admin, produce, consume by assignment,
offsets by timestamp, configs, delete records, delete topic, the default
(idempotent) producer, also through a broker restart, and consumer groups:
subscribe, commit, and resuming from committed offsets after a broker restart.

The by-assignment tests use group_id=None and assign().
"""

from __future__ import annotations

import threading

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from kafka.admin import ConfigResource, ConfigResourceType, OffsetSpec
import kafka.errors as Errors

from compat_util import BASE_TS, DEADLINE, unique_topic, wait_until

PARTITIONS = 3
T_MS = 30_000


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
    """kafka-python's defaults (idempotent since 2.1) unless ``conf`` says otherwise."""
    return KafkaProducer(bootstrap_servers=bootstrap, client_id="compat-kp-producer",
                         linger_ms=5, request_timeout_ms=T_MS, **conf)


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


def test_a_zstd_topic_recompresses_batches_that_kafka_python_reads(admin, bootstrap):
    name = unique_topic("kp-zstd-topic")
    admin.create_topics({name: {"num_partitions": PARTITIONS, "replication_factor": 1,
                                "configs": {"compression.type": "zstd"}}}, timeout_ms=T_MS)
    wait_until(lambda: _ready(admin, name), f"topic {name} with {PARTITIONS} led partitions")
    records = [{"key": f"k{i}".encode(), "value": f"zstd-{i}-".encode() * 20,
                "timestamp_ms": BASE_TS + i} for i in range(45)]
    producer = new_producer(bootstrap)  # uncompressed: the broker recompresses
    try:
        delivered = produce(producer, name, records)
    finally:
        producer.close(timeout=10)
    tps = [TopicPartition(name, p) for p in range(PARTITIONS)]
    assert consume_assigned(bootstrap, tps, len(records)) == delivered


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
    producer = new_producer(bootstrap, enable_idempotence=False, acks=1)
    try:
        md = producer.send(topic, key=b"k", value=b"v").get(timeout=DEADLINE)
        assert md.offset == 0
    finally:
        producer.close(timeout=10)


def test_default_producer_is_idempotent_and_works(admin, bootstrap):
    """kafka-python >= 2.1 enables idempotence by default: InitProducerId hands
    it a producer id and its batches are accepted."""
    topic = create_topic(admin, "defaultprod")
    producer = KafkaProducer(bootstrap_servers=bootstrap)  # all defaults
    try:
        assert producer.config["enable_idempotence"], "defaults should enable idempotence"
        assert producer.send(topic, key=b"k", value=b"v").get(timeout=DEADLINE).offset == 0
        assert producer.send(topic, key=b"k", value=b"w").get(timeout=DEADLINE).offset == 1
        pid = producer._transaction_manager.producer_id_and_epoch.producer_id
        assert pid >= 0, "a producer id from InitProducerId"
    finally:
        producer.close(timeout=5)


def test_idempotent_producer_keeps_each_record_once_through_a_restart(admin, bootstrap, restart_broker):
    """The default producer keeps sending while the broker restarts; retried
    batches are recognised, so each record is in the topic exactly once, in order."""
    topic = create_topic(admin, "idem")
    total = 6000
    producer = new_producer(bootstrap, retries=1_000_000, max_in_flight_requests_per_connection=5)
    futures = []

    def run():
        for i in range(total):
            futures.append(producer.send(topic, value=str(i).encode(), partition=i % PARTITIONS))
        producer.flush(timeout=DEADLINE)

    try:
        t = threading.Thread(target=run)
        t.start()
        wait_until(lambda: sum(f.is_done for f in list(futures)) >= total // 4,
                   "a quarter of the records acknowledged before the restart")
        restart_broker()
        t.join(DEADLINE)
        assert not t.is_alive()
        for f in futures:
            f.get(timeout=DEADLINE)
    finally:
        producer.close(timeout=10)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    got = consume_assigned(bootstrap, tps, total)
    per_partition: dict[int, list[int]] = {}
    for (p, o) in sorted(got):
        per_partition.setdefault(p, []).append(int(got[(p, o)]["value"]))
    for p, values in per_partition.items():
        assert values == list(range(p, total, PARTITIONS)), f"partition {p}: each record once, in order"


# ---------------------------------------------------------------- consumer groups

def group_consumer(bootstrap, group: str, topic: str) -> KafkaConsumer:
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, client_id="compat-kp-group",
                         group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest", fetch_max_wait_ms=200,
                         session_timeout_ms=10_000, heartbeat_interval_ms=500,
                         request_timeout_ms=T_MS)


def plain_records(n: int, start: int = 0) -> list[dict]:
    """``n`` records spread round-robin over the partitions."""
    return [{"key": f"k{i}".encode(), "value": f"v{i}".encode(), "partition": i % PARTITIONS,
             "timestamp_ms": BASE_TS + i} for i in range(start, start + n)]


def produce_plain(bootstrap, topic, n: int, start: int = 0):
    producer = new_producer(bootstrap)
    try:
        produce(producer, topic, plain_records(n, start))
    finally:
        producer.close(timeout=10)


def consume_subscribed(consumer, count: int, start: dict[int, int] | None = None) -> dict:
    """Poll until ``count`` records arrived: {(partition, offset): value}. No record
    twice; each partition continues from ``start`` (or 0) without gaps."""
    got, nxt = {}, dict(start or {})

    def poll_some():
        for tp, recs in consumer.poll(timeout_ms=500).items():
            for rec in recs:
                key = (rec.partition, rec.offset)
                assert key not in got, f"record {key} delivered twice"
                assert rec.offset == nxt.get(rec.partition, 0), \
                    f"partition {rec.partition}: offset {rec.offset}, expected {nxt.get(rec.partition, 0)}"
                nxt[rec.partition] = rec.offset + 1
                got[key] = rec.value
        return len(got) >= count

    wait_until(poll_some, f"{count} records through the group (have {len(got)})")
    return got


def committed(consumer, topic) -> dict[int, int]:
    out = {}
    for p in range(PARTITIONS):
        o = consumer.committed(TopicPartition(topic, p))
        if o is not None:
            out[p] = o
    return out


def test_subscribe_with_a_group_and_commit(admin, bootstrap):
    topic = create_topic(admin, "group")
    group = unique_topic("kp-group")
    produce_plain(bootstrap, topic, 60)
    consumer = group_consumer(bootstrap, group, topic)
    try:
        got = consume_subscribed(consumer, 60)
        assert sorted(got) == sorted((p, o) for p in range(PARTITIONS) for o in range(20))
        assert consumer.assignment() == {TopicPartition(topic, p) for p in range(PARTITIONS)}
        consumer.commit()
        assert committed(consumer, topic) == {p: 20 for p in range(PARTITIONS)}
        listed = {g["group_id"]: g for g in admin.list_groups()}
        assert listed[group]["protocol_type"] == "consumer", listed
        assert listed[group]["group_state"] == "Stable", listed
        desc = admin.describe_groups([group])[group]
        assert desc["group_state"] == "Stable" and len(desc["members"]) == 1, desc
        assigned = desc["members"][0]["member_assignment"]["assigned_partitions"]
        assert assigned == [{"topic": topic, "partitions": list(range(PARTITIONS))}], assigned
    finally:
        consumer.close()  # LeaveGroup
    offsets = admin.list_group_offsets({group: None})[group]
    assert {tp.partition: om.offset for tp, om in offsets.items() if tp.topic == topic} == \
        {p: 20 for p in range(PARTITIONS)}
    desc = admin.describe_groups([group])[group]
    assert desc["group_state"] == "Empty" and not desc["members"], desc
    assert admin.delete_groups([group]) == {group: "OK"}
    assert group not in {g["group_id"] for g in admin.list_groups()}


def test_committed_offsets_survive_a_restart_and_the_group_resumes(admin, bootstrap, restart_broker):
    topic = create_topic(admin, "resume")
    group = unique_topic("kp-resume")
    produce_plain(bootstrap, topic, 30)  # 10 per partition
    consumer = group_consumer(bootstrap, group, topic)
    commit = {0: 3, 1: 8, 2: 10}
    try:
        consume_subscribed(consumer, 30)
        from kafka.structs import OffsetAndMetadata
        consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in commit.items()})
        assert committed(consumer, topic) == commit
    finally:
        consumer.close()

    restart_broker()
    produce_plain(bootstrap, topic, 30, start=30)  # offsets 10..19
    consumer = group_consumer(bootstrap, group, topic)
    try:
        want = sum(20 - o for o in commit.values())
        got = consume_subscribed(consumer, want, start=commit)
        assert sorted(got) == sorted((p, o) for p in range(PARTITIONS) for o in range(commit[p], 20))
        assert not any(consumer.poll(timeout_ms=500).values()), "nothing beyond the end"
        consumer.commit()
        assert committed(consumer, topic) == {p: 20 for p in range(PARTITIONS)}
    finally:
        consumer.close()


# ---------------------------------------------------------------- transactions

def read_all(bootstrap, topic: str, isolation: str, want: int) -> list[bytes]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, client_id="compat-kp-txn-reader", enable_auto_commit=False,
                      isolation_level=isolation, fetch_max_wait_ms=100, consumer_timeout_ms=2000,
                      request_timeout_ms=T_MS)
    c.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    c.seek_to_beginning()
    out = []
    for m in c:
        out.append(m.value)
        if len(out) >= want:
            break
    c.close()
    return out


def test_transactions_with_send_offsets(admin, bootstrap):
    src, dst = create_topic(admin, "kp-txn-in"), create_topic(admin, "kp-txn-out")
    produce_plain(bootstrap, src, 30)
    group = unique_topic("kp-txn-group")
    p = KafkaProducer(bootstrap_servers=bootstrap, client_id="compat-kp-txn",
                      transactional_id=unique_topic("kp-txn-id"), request_timeout_ms=T_MS)
    p.init_transactions()
    # An aborted transaction first: nothing of it is read committed.
    p.begin_transaction()
    for i in range(10):
        p.send(dst, value=b"aborted", partition=i % PARTITIONS)
    p.flush()
    p.abort_transaction()
    # Then consume-transform-produce, offsets committed with the output.
    c = group_consumer(bootstrap, group, src)
    moved = 0
    while moved < 30:
        batch = c.poll(timeout_ms=1000)
        if not batch:
            continue
        p.begin_transaction()
        offsets = {}
        for tp, msgs in batch.items():
            for m in msgs:
                p.send(dst, value=b"out-" + m.value, partition=m.partition)
                moved += 1
            offsets[tp] = OffsetAndMetadata(msgs[-1].offset + 1, "", -1)
        p.send_offsets_to_transaction(offsets, group)
        p.commit_transaction()
    out = read_all(bootstrap, dst, "read_committed", 30)
    assert sorted(out) == sorted(b"out-v%d" % i for i in range(30))
    assert len(read_all(bootstrap, dst, "read_uncommitted", 40)) == 40
    assert sum(committed(c, src).values()) == 30
    c.close()
    p.close()
