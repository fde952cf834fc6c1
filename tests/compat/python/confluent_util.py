"""Helpers shared by the confluent-kafka (librdkafka) compatibility tests."""

from __future__ import annotations

import functools

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from compat_util import BASE_TS, DEADLINE, unique_topic, wait_until

PARTITIONS = 3
T = 30  # seconds, per admin request


def topic_names(admin) -> set[str]:
    # All-topics metadata: asking for one topic by name could auto-create it.
    return set(admin.list_topics(timeout=T).topics)


def create_topic(admin, prefix: str, config: dict | None = None) -> str:
    name = unique_topic(f"ck-{prefix}")
    fs = admin.create_topics(
        [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1, config=config or {})],
        operation_timeout=T, request_timeout=T,
    )
    fs[name].result(timeout=DEADLINE)

    def ready():
        md = admin.list_topics(timeout=T).topics.get(name)
        return (md is not None and md.error is None and len(md.partitions) == PARTITIONS
                and all(p.leader >= 0 for p in md.partitions.values()))

    wait_until(ready, f"topic {name} with {PARTITIONS} led partitions in metadata")
    return name


def set_group_configs(admin, group: str, configs: dict[str, str]) -> None:
    """Sets GROUP configs of `group` (share.auto.offset.reset and the like, as in
    Kafka) with IncrementalAlterConfigs."""
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()]
    res = ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)
    for f in admin.incremental_alter_configs([res]).values():
        f.result(timeout=T)


def produce(bootstrap, topic, records, **conf) -> dict:
    """Produce ``records`` (dicts for Producer.produce); return
    {(partition, offset): record} from the delivery reports."""
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "client.id": "compat-ck-producer",
        "acks": "all",
        # librdkafka's default; the idempotent producer has its own test.
        "enable.idempotence": False,
        "linger.ms": 5,
        **conf,
    })
    delivered, errors = {}, []

    def on_delivery(record, err, msg):
        if err is not None:
            errors.append(err)
            return
        # Delivery reports carry no headers: expect what was sent.
        ts_type, ts = msg.timestamp()
        if "timestamp" in record:
            assert ts == record["timestamp"]
        delivered[(msg.partition(), msg.offset())] = {
            "key": record.get("key"), "value": record.get("value"),
            "headers": record.get("headers", []), "timestamp": ts, "timestamp_type": ts_type}

    for r in records:
        producer.produce(topic, on_delivery=functools.partial(on_delivery, r), **r)
        producer.poll(0)
    remaining = producer.flush(DEADLINE)
    assert remaining == 0, f"{remaining} records not delivered within {DEADLINE}s"
    assert not errors, f"delivery errors: {errors}"
    assert len(delivered) == len(records), "duplicate or missing (partition, offset) in delivery reports"
    return delivered


def group_consumer(bootstrap, group: str, **conf) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "client.id": "compat-ck-group",
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 200,
        **conf,
    })


def plain_records(n: int, start: int = 0) -> list[dict]:
    """``n`` records spread round-robin over the partitions."""
    return [{"key": f"k{i}".encode(), "value": f"v{i}".encode(), "partition": i % PARTITIONS,
             "timestamp": BASE_TS + i} for i in range(start, start + n)]
