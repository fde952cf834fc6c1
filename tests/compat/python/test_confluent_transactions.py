"""confluent-kafka (librdkafka) transactions against the broker: commit and
abort read back with each isolation level, consume-transform-produce with
offsets sent to the transaction, and a second producer with the same
transactional.id fencing the first."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from compat_util import DEADLINE, unique_topic
from confluent_util import PARTITIONS, T, create_topic, group_consumer, plain_records, produce


@pytest.fixture(scope="module")
def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "client.id": "compat-ck-txn-admin"})


# ---------------------------------------------------------------- transactions

def read_values(bootstrap, topic: str, isolation: str, want: int) -> list[bytes]:
    """Every value of ``topic`` (all partitions) from the start, read with
    ``isolation``, until ``want`` arrived or two seconds pass without one."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("ck-txn-reader"),
                  "enable.auto.commit": False, "isolation.level": isolation, "fetch.wait.max.ms": 100})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    out, idle, end = [], time.time(), time.time() + DEADLINE
    try:
        while len(out) < want and time.time() - idle < 2 and time.time() < end:
            m = c.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, m.error()
            out.append(m.value())
            idle = time.time()
    finally:
        c.close()
    return out


def test_transactions_commit_abort_and_read_committed(admin, bootstrap):
    topic = create_topic(admin, "ck-txn")
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique_topic("ck-txn-id"), "linger.ms": 5})
    p.init_transactions(T)
    p.begin_transaction()
    for i in range(30):
        p.produce(topic, value=f"c{i}".encode(), partition=i % PARTITIONS)
    p.commit_transaction(T)
    p.begin_transaction()
    for i in range(20):
        p.produce(topic, value=f"a{i}".encode(), partition=i % PARTITIONS)
    p.flush(T)
    p.abort_transaction(T)
    committed = read_values(bootstrap, topic, "read_committed", 30)
    assert sorted(committed) == sorted(f"c{i}".encode() for i in range(30))
    everything = read_values(bootstrap, topic, "read_uncommitted", 50)
    assert len(everything) == 50


def test_consume_transform_produce_with_send_offsets(admin, bootstrap):
    src, dst = create_topic(admin, "ck-ctp-in"), create_topic(admin, "ck-ctp-out")
    produce(bootstrap, src, plain_records(60))
    group = unique_topic("ck-ctp-group")
    c = group_consumer(bootstrap, group, **{"isolation.level": "read_committed"})
    c.subscribe([src])
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique_topic("ck-ctp-id")})
    p.init_transactions(T)
    moved, end = 0, time.time() + DEADLINE
    while moved < 60 and time.time() < end:
        msgs = c.consume(20, 1.0)
        if not msgs:
            continue
        p.begin_transaction()
        for m in msgs:
            assert m.error() is None, m.error()
            p.produce(dst, value=b"out-" + m.value(), partition=m.partition())
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), T)
        p.commit_transaction(T)
        moved += len(msgs)
    assert moved == 60
    out = read_values(bootstrap, dst, "read_committed", 60)
    assert sorted(out) == sorted(b"out-v%d" % i for i in range(60))
    done = {tp.partition: tp.offset for tp in c.committed([TopicPartition(src, p) for p in range(PARTITIONS)], T)}
    assert sum(done.values()) == 60, done
    c.close()


def test_a_second_transactional_producer_fences_the_first(admin, bootstrap):
    topic = create_topic(admin, "ck-fence")
    tid = unique_topic("ck-fence-id")
    zombie = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid})
    zombie.init_transactions(T)
    zombie.begin_transaction()
    fresh = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid})
    fresh.init_transactions(T)
    zombie.produce(topic, value=b"zombie", partition=0)
    with pytest.raises(KafkaException) as err:
        zombie.commit_transaction(T)
    assert err.value.args[0].fatal(), err.value.args[0]
    fresh.begin_transaction()
    fresh.produce(topic, value=b"fresh", partition=0)
    fresh.commit_transaction(T)
    assert read_values(bootstrap, topic, "read_committed", 1) == [b"fresh"]
