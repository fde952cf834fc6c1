"""confluent-kafka (librdkafka) against the broker: admin, produce, consume by
assignment, offsets by timestamp, configs, delete records, delete topic,
consumer groups (classic and KIP-848 `group.protocol=consumer`): subscribe,
commit, the admin group APIs, resuming from committed offsets after a broker
restart, and an idempotent producer that keeps producing through a restart.

The by-assignment tests use assign() and never commit (librdkafka still requires
a group.id in its configuration).
"""

from __future__ import annotations

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from compat_util import BASE_TS, DEADLINE, unique_topic, wait_until
from confluent_util import PARTITIONS, T, create_topic, group_consumer, plain_records, produce, topic_names


# ---------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "client.id": "compat-ck-admin"})


def msg_record(msg) -> dict:
    ts_type, ts = msg.timestamp()
    return {"key": msg.key(), "value": msg.value(), "headers": msg.headers() or [],
            "timestamp": ts, "timestamp_type": ts_type}


def new_consumer(bootstrap):
    return Consumer({
        "bootstrap.servers": bootstrap,
        "client.id": "compat-ck-consumer",
        "group.id": "compat-ck-unused",  # required by config; no group API is used
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 200,
    })


def consume_assigned(bootstrap, assignment: list[TopicPartition], count: int) -> dict:
    """assign() (no subscribe) and read ``count`` records: {(partition, offset): record}."""
    consumer = new_consumer(bootstrap)
    try:
        consumer.assign(assignment)
        got = {}

        def poll_some():
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                if msg.error():
                    raise KafkaException(msg.error())
                got[(msg.partition(), msg.offset())] = msg_record(msg)
            return len(got) >= count

        wait_until(poll_some, f"{count} records (have {len(got)})")
        # Nothing beyond what was expected shows up.
        extra = consumer.consume(num_messages=10, timeout=0.5)
        assert [m for m in extra if not m.error()] == [], "more records than produced"
        return got
    finally:
        consumer.close()


def records_for(codec: str, n: int) -> list[dict]:
    out = []
    for i in range(n):
        out.append({
            "key": f"key-{i % 7}".encode(),
            # Compressible values; one null value (a tombstone) in the middle.
            "value": None if i == n // 2 else (f"value-{i}-" + codec * 20).encode(),
            "headers": [("h-index", str(i).encode()), ("h-codec", codec.encode()),
                        ("dup", b"first"), ("dup", b"second")],
            "timestamp": BASE_TS + i * 10,
        })
    return out


def offsets(admin, topic, spec) -> dict[int, int]:
    fs = admin.list_offsets({TopicPartition(topic, p): spec for p in range(PARTITIONS)},
                            request_timeout=T)
    return {tp.partition: f.result(timeout=DEADLINE).offset for tp, f in fs.items()}


def source(entry: ConfigEntry) -> ConfigSource:
    # ConfigEntry.source is a plain int in some versions, a ConfigSource in others.
    return ConfigSource(entry.source)


def describe_topic_configs(admin, topic) -> dict:
    res = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([res], request_timeout=T)[res].result(timeout=DEADLINE)


# ---------------------------------------------------------------- tests

def test_create_topic_and_metadata(admin):
    name = create_topic(admin, "create")
    md = admin.list_topics(timeout=T).topics[name]
    assert sorted(md.partitions) == [0, 1, 2]
    # Creating it again is TOPIC_ALREADY_EXISTS.
    fs = admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)],
                             request_timeout=T)
    with pytest.raises(KafkaException) as info:
        fs[name].result(timeout=DEADLINE)
    assert info.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_and_consume_by_assignment(admin, bootstrap, codec):
    topic = create_topic(admin, f"roundtrip-{codec}")
    records = records_for(codec, 120)
    delivered = produce(bootstrap, topic, records, **{"compression.type": codec})
    assert {p for p, _ in delivered} <= set(range(PARTITIONS))
    assert len({p for p, _ in delivered}) > 1, "keys should spread over partitions"

    got = consume_assigned(
        bootstrap, [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)],
        len(records))
    assert got == delivered
    for (p, off), rec in got.items():
        assert rec["timestamp_type"] == TIMESTAMP_CREATE_TIME
    # Offsets per partition are dense from 0, and watermarks agree.
    consumer = new_consumer(bootstrap)
    try:
        for p in range(PARTITIONS):
            offs = sorted(o for q, o in got if q == p)
            assert offs == list(range(len(offs)))
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=T, cached=False)
            assert (low, high) == (0, len(offs))
    finally:
        consumer.close()


def test_list_offsets_and_offsets_for_times(admin, bootstrap):
    topic = create_topic(admin, "times")
    n = 30
    # Record i goes to partition i % 3 with timestamp BASE_TS + i seconds.
    records = [{"key": f"k{i}".encode(), "value": f"v{i}".encode(), "partition": i % PARTITIONS,
                "timestamp": BASE_TS + i * 1000} for i in range(n)]
    delivered = produce(bootstrap, topic, records)
    per_partition = {p: sorted((o, r["timestamp"]) for (q, o), r in delivered.items() if q == p)
                     for p in range(PARTITIONS)}

    assert offsets(admin, topic, OffsetSpec.earliest()) == {p: 0 for p in range(PARTITIONS)}
    assert offsets(admin, topic, OffsetSpec.latest()) == {p: n // PARTITIONS for p in range(PARTITIONS)}
    assert offsets(admin, topic, OffsetSpec.max_timestamp()) == {
        p: max(per_partition[p], key=lambda ot: ot[1])[0] for p in range(PARTITIONS)}

    target = BASE_TS + 14_500  # between record 14 and 15
    expected = {p: next(o for o, ts in per_partition[p] if ts >= target) for p in range(PARTITIONS)}
    assert offsets(admin, topic, OffsetSpec.for_timestamp(target)) == expected

    consumer = new_consumer(bootstrap)
    try:
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, target) for p in range(PARTITIONS)], timeout=T)
        assert {tp.partition: tp.offset for tp in found} == expected
        # After the newest record: no offset (-1, "end").
        later = consumer.offsets_for_times(
            [TopicPartition(topic, 0, BASE_TS + 3_600_000)], timeout=T)
        assert later[0].offset == -1
    finally:
        consumer.close()

    # Consume from the timestamp's offsets: exactly the records with ts >= target.
    want = {k: r for k, r in delivered.items() if r["timestamp"] >= target}
    got = consume_assigned(bootstrap, found, len(want))
    assert got == want


def test_describe_and_alter_topic_configs(admin):
    topic = create_topic(admin, "configs", config={"max.message.bytes": "200000"})
    before = describe_topic_configs(admin, topic)
    assert before["max.message.bytes"].value == "200000"
    assert source(before["max.message.bytes"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert "retention.ms" in before
    assert source(before["retention.ms"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG

    # IncrementalAlterConfigs SET.
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res], request_timeout=T)[res].result(timeout=DEADLINE)
    after = describe_topic_configs(admin, topic)
    assert after["retention.ms"].value == "3600000"
    assert source(after["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert after["max.message.bytes"].value == "200000"  # untouched

    # IncrementalAlterConfigs DELETE: back to the default.
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    admin.incremental_alter_configs([res], request_timeout=T)[res].result(timeout=DEADLINE)
    reset = describe_topic_configs(admin, topic)
    assert reset["retention.ms"].value == before["retention.ms"].value
    assert source(reset["retention.ms"]) == source(before["retention.ms"])

    # Legacy AlterConfigs replaces the whole set of dynamic topic configs.
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "7200000"})
    admin.alter_configs([res], request_timeout=T)[res].result(timeout=DEADLINE)
    legacy = describe_topic_configs(admin, topic)
    assert legacy["retention.ms"].value == "7200000"
    assert source(legacy["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert source(legacy["max.message.bytes"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG


def test_delete_records(admin, bootstrap):
    topic = create_topic(admin, "delrec")
    records = [{"key": b"k", "value": f"v{i}".encode(), "partition": 1} for i in range(10)]
    produce(bootstrap, topic, records)
    tp = TopicPartition(topic, 1, 4)
    result = admin.delete_records([tp], request_timeout=T, operation_timeout=T)
    deleted = next(iter(result.values())).result(timeout=DEADLINE)
    assert deleted.low_watermark == 4
    assert offsets(admin, topic, OffsetSpec.earliest())[1] == 4
    assert offsets(admin, topic, OffsetSpec.latest())[1] == 10

    # Consuming from the beginning now starts at offset 4.
    got = consume_assigned(bootstrap, [TopicPartition(topic, 1, OFFSET_BEGINNING)], 6)
    assert sorted(o for _, o in got) == list(range(4, 10))
    assert got[(1, 4)]["value"] == b"v4"


def test_delete_topic(admin, bootstrap):
    topic = create_topic(admin, "deltopic")
    produce(bootstrap, topic, [{"key": b"k", "value": b"v"}])
    admin.delete_topics([topic], operation_timeout=T, request_timeout=T)[topic].result(timeout=DEADLINE)
    wait_until(lambda: topic not in topic_names(admin), f"{topic} gone from metadata")
    # Deleting it again: UNKNOWN_TOPIC_OR_PART.
    with pytest.raises(KafkaException) as info:
        admin.delete_topics([topic], request_timeout=T)[topic].result(timeout=DEADLINE)
    assert info.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


# ---------------------------------------------------------------- consumer groups

def consume_subscribed(consumers, count: int, start: dict[int, int] | None = None) -> dict:
    """Poll ``consumers`` (subscribed) until ``count`` records arrived in total:
    {(partition, offset): value}. No record may arrive twice, and each partition
    continues from ``start`` (or 0) without gaps."""
    got, nxt = {}, dict(start or {})

    def poll_some():
        for c in consumers:
            for msg in c.consume(num_messages=500, timeout=0.2):
                if msg.error():
                    raise KafkaException(msg.error())
                key = (msg.partition(), msg.offset())
                assert key not in got, f"record {key} delivered twice"
                assert msg.offset() == nxt.get(msg.partition(), 0), \
                    f"partition {msg.partition()}: offset {msg.offset()}, expected {nxt.get(msg.partition(), 0)}"
                nxt[msg.partition()] = msg.offset() + 1
                got[key] = msg.value()
        return len(got) >= count

    wait_until(poll_some, f"{count} records through the group (have {len(got)})")
    return got


def committed(consumer, topic) -> dict[int, int]:
    tps = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=T)
    return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}


def test_subscribe_with_a_group_commit_and_admin_group_apis(admin, bootstrap):
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions

    topic = create_topic(admin, "group")
    group = unique_topic("ck-group")
    assigned = {0: set(), 1: set()}

    def tracker(i):
        def on_assign(_c, parts):
            assigned[i] = {p.partition for p in parts}

        def on_revoke(_c, parts):
            assigned[i] = set()
        return {"on_assign": on_assign, "on_revoke": on_revoke}

    consumers = [group_consumer(bootstrap, group), group_consumer(bootstrap, group)]
    try:
        for i, c in enumerate(consumers):
            c.subscribe([topic], **tracker(i))

        def shared():
            for c in consumers:
                c.poll(0.1)
            a, b = assigned[0], assigned[1]
            return a and b and not (a & b) and (a | b) == set(range(PARTITIONS))

        wait_until(shared, "two members sharing the 3 partitions")
        produce(bootstrap, topic, plain_records(60))
        got = consume_subscribed(consumers, 60)
        assert sorted(got) == sorted((p, o) for p in range(PARTITIONS) for o in range(20))
        for c in consumers:
            c.commit(asynchronous=False)
        assert committed(consumers[0], topic) == {p: 20 for p in range(PARTITIONS)}

        # ListGroups / DescribeGroups through the admin client while both are in.
        listed = admin.list_consumer_groups(request_timeout=T).result(timeout=DEADLINE)
        mine = [g for g in listed.valid if g.group_id == group]
        assert len(mine) == 1 and mine[0].state == ConsumerGroupState.STABLE, listed.valid
        desc = admin.describe_consumer_groups([group], request_timeout=T)[group].result(timeout=DEADLINE)
        assert desc.state == ConsumerGroupState.STABLE
        assert len(desc.members) == 2
        parts = sorted(tp.partition for m in desc.members for tp in m.assignment.topic_partitions)
        assert parts == list(range(PARTITIONS))
    finally:
        for c in consumers:
            c.close()  # LeaveGroup

    offsets = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=T)[group].result(timeout=DEADLINE)
    assert {tp.partition: tp.offset for tp in offsets.topic_partitions if tp.topic == topic} == \
        {p: 20 for p in range(PARTITIONS)}
    desc = admin.describe_consumer_groups([group], request_timeout=T)[group].result(timeout=DEADLINE)
    assert desc.state == ConsumerGroupState.EMPTY and not desc.members
    admin.delete_consumer_groups([group], request_timeout=T)[group].result(timeout=DEADLINE)
    listed = admin.list_consumer_groups(request_timeout=T).result(timeout=DEADLINE)
    assert group not in {g.group_id for g in listed.valid}


def test_committed_offsets_survive_a_restart_and_the_group_resumes(admin, bootstrap, restart_broker):
    topic = create_topic(admin, "resume")
    group = unique_topic("ck-resume")
    produce(bootstrap, topic, plain_records(30))  # 10 per partition
    c = group_consumer(bootstrap, group)
    try:
        c.subscribe([topic])
        consume_subscribed([c], 30)
        commit = {0: 4, 1: 7, 2: 10}
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in commit.items()], asynchronous=False)
        assert committed(c, topic) == commit
    finally:
        c.close()

    restart_broker()
    produce(bootstrap, topic, plain_records(30, start=30))  # offsets 10..19
    c = group_consumer(bootstrap, group)
    try:
        assert committed(c, topic) == commit, "committed offsets after the restart"
        c.subscribe([topic])
        want = sum(20 - o for o in commit.values())
        got = consume_subscribed([c], want, start=commit)
        assert sorted(got) == sorted((p, o) for p in range(PARTITIONS) for o in range(commit[p], 20))
        assert [m for m in c.consume(num_messages=10, timeout=0.5) if not m.error()] == []
        c.commit(asynchronous=False)
        assert committed(c, topic) == {p: 20 for p in range(PARTITIONS)}
    finally:
        c.close()


def test_consumer_group_protocol_kip848(admin, bootstrap):
    """group.protocol=consumer: the broker assigns (uniform), members reconcile
    incrementally; the admin client describes the group with ConsumerGroupDescribe."""
    from confluent_kafka import ConsumerGroupState, ConsumerGroupType

    topic = create_topic(admin, "kip848")
    group = unique_topic("ck-kip848")
    assigned = {0: set(), 1: set()}

    def tracker(i):
        # Incremental: on_assign adds partitions, on_revoke takes them away.
        def on_assign(_c, parts):
            assigned[i] |= {p.partition for p in parts}

        def on_revoke(_c, parts):
            assigned[i] -= {p.partition for p in parts}
        return {"on_assign": on_assign, "on_revoke": on_revoke}

    def member():
        return Consumer({"bootstrap.servers": bootstrap, "client.id": "compat-ck-kip848",
                         "group.id": group, "group.protocol": "consumer",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "fetch.wait.max.ms": 200})

    consumers = [member(), member()]
    try:
        for i, c in enumerate(consumers):
            c.subscribe([topic], **tracker(i))

        def shared():
            for c in consumers:
                c.poll(0.1)
            a, b = assigned[0], assigned[1]
            return a and b and not (a & b) and (a | b) == set(range(PARTITIONS))

        wait_until(shared, "two members sharing the 3 partitions")
        produce(bootstrap, topic, plain_records(60))
        got = consume_subscribed(consumers, 60)
        assert sorted(got) == sorted((p, o) for p in range(PARTITIONS) for o in range(20))
        for c in consumers:
            c.commit(asynchronous=False)
        assert committed(consumers[0], topic) == {p: 20 for p in range(PARTITIONS)}

        desc = admin.describe_consumer_groups([group], request_timeout=T)[group].result(timeout=DEADLINE)
        assert desc.type == ConsumerGroupType.CONSUMER
        assert desc.state == ConsumerGroupState.STABLE
        assert desc.partition_assignor == "uniform"
        assert len(desc.members) == 2
        parts = sorted(tp.partition for m in desc.members for tp in m.assignment.topic_partitions)
        assert parts == list(range(PARTITIONS))
        listed = admin.list_consumer_groups(types={ConsumerGroupType.CONSUMER},
                                            request_timeout=T).result(timeout=DEADLINE)
        assert group in {g.group_id for g in listed.valid}
        listed = admin.list_consumer_groups(types={ConsumerGroupType.CLASSIC},
                                            request_timeout=T).result(timeout=DEADLINE)
        assert group not in {g.group_id for g in listed.valid}
    finally:
        for c in consumers:
            c.close()  # ConsumerGroupHeartbeat with epoch -1

    desc = admin.describe_consumer_groups([group], request_timeout=T)[group].result(timeout=DEADLINE)
    assert desc.state == ConsumerGroupState.EMPTY and not desc.members
    # A new member resumes from the committed offsets.
    produce(bootstrap, topic, plain_records(30, start=60))
    c = member()
    try:
        c.subscribe([topic])
        got = consume_subscribed([c], 30, start={p: 20 for p in range(PARTITIONS)})
        assert sorted(got) == sorted((p, o) for p in range(PARTITIONS) for o in range(20, 30))
    finally:
        c.close()
    admin.delete_consumer_groups([group], request_timeout=T)[group].result(timeout=DEADLINE)


def test_idempotent_producer_keeps_each_record_once_through_a_restart(admin, bootstrap, restart_broker):
    """enable.idempotence=true: the producer keeps producing while the broker
    restarts; retried batches are recognised, so the topic holds each record once,
    in order."""
    import threading

    topic = create_topic(admin, "idem")
    total = 20_000
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "compat-ck-idem",
                         "enable.idempotence": True, "linger.ms": 5, "batch.num.messages": 200})
    delivered, errors = [0], []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[0] += 1

    def run():
        for i in range(total):
            while True:
                try:
                    producer.produce(topic, key=b"k", value=str(i).encode(), partition=i % PARTITIONS,
                                     on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        assert producer.flush(DEADLINE) == 0

    t = threading.Thread(target=run)
    t.start()
    wait_until(lambda: delivered[0] >= total // 4, "a quarter of the records delivered before the restart")
    restart_broker()
    t.join(DEADLINE)
    assert not t.is_alive()
    assert not errors, errors[:3]
    assert delivered[0] == total
    got = consume_assigned(bootstrap, [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)], total)
    per_partition: dict[int, list[int]] = {}
    for (p, o) in sorted(got):
        per_partition.setdefault(p, []).append(int(got[(p, o)]["value"]))
    for p, values in per_partition.items():
        assert values == list(range(p, total, PARTITIONS)), f"partition {p}: each record once, in order"
