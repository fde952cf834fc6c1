"""Classic consumer groups through a broker restart, as with Kafka: the group's
members come back from `__consumer_offsets` (the metadata record of the last
generation), so the consumers' heartbeats are answered as before and nobody
rebalances: no partition is revoked or assigned again, member ids stay, commits in
the old generation are accepted, and consumption goes on. Both after SIGTERM and after SIGKILL, with librdkafka
(confluent-kafka) and kafka-python.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from compat_util import DEADLINE, unique_topic, wait_until
from confluent_util import PARTITIONS, T, create_topic, group_consumer, plain_records, produce


@pytest.fixture(scope="module")
def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "client.id": "compat-ck-admin"})


def _poll(consumers, got, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for c in consumers:
            m = c.poll(0.05)
            if m is not None and not m.error():
                got.add((m.partition(), m.offset()))


@pytest.mark.parametrize("crash,strategy", [(False, "range"), (True, "cooperative-sticky")],
                         ids=["sigterm-range", "sigkill-cooperative-sticky"])
def test_confluent_classic_group_heartbeats_on_through_a_restart(admin, bootstrap, restart_broker, crash, strategy):
    topic = create_topic(admin, "grp-restart")
    group = unique_topic("ck-grp-restart")
    events: list[tuple[int, str, list[int]]] = []
    consumers = []
    for i in range(2):
        c = group_consumer(bootstrap, group, **{"partition.assignment.strategy": strategy})

        def on_assign(_c, parts, i=i):
            events.append((i, "assign", sorted(p.partition for p in parts)))

        def on_revoke(_c, parts, i=i):
            events.append((i, "revoke", sorted(p.partition for p in parts)))

        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        consumers.append(c)
    try:
        got: set[tuple[int, int]] = set()

        def settled():
            _poll(consumers, got, 0.2)
            d = admin.describe_consumer_groups([group], request_timeout=T)[group].result(timeout=DEADLINE)
            assigned = [tp.partition for m in d.members for tp in m.assignment.topic_partitions]
            return d.state == ConsumerGroupState.STABLE and len(d.members) == 2 \
                and sorted(assigned) == list(range(PARTITIONS))

        wait_until(settled, "two members sharing every partition, Stable")
        produce(bootstrap, topic, plain_records(3 * PARTITIONS))
        wait_until(lambda: _poll(consumers, got, 0.2) or len(got) == 3 * PARTITIONS, "the first records")
        member_ids = [c.memberid() for c in consumers]
        seen = list(events)

        restart_broker(crash=crash)
        produce(bootstrap, topic, plain_records(3 * PARTITIONS, start=3 * PARTITIONS))
        wait_until(lambda: _poll(consumers, got, 0.2) or len(got) == 6 * PARTITIONS,
                   "the records produced after the restart, by the same members")
        # Several heartbeat intervals (500 ms) and a session's worth of polling:
        # a member the broker forgot would be told UNKNOWN_MEMBER_ID and rejoin.
        _poll(consumers, got, 4)
        assert events == seen, f"no rebalance after the restart: {events[len(seen):]}"
        assert [c.memberid() for c in consumers] == member_ids
        # Commits carry the member's generation from before the restart: accepted.
        for c in consumers:
            c.commit(asynchronous=False)
        # A new admin client: librdkafka 2.12's admin client, re-bootstrapped after the
        # broker went away, sends its next request to the broker handle it retired, and
        # the request times out (the broker never sees it).
        fresh = AdminClient({"bootstrap.servers": bootstrap, "client.id": "compat-ck-admin-2"})
        d = fresh.describe_consumer_groups([group], request_timeout=T)[group].result(timeout=DEADLINE)
        assert d.state == ConsumerGroupState.STABLE
        assert sorted(m.member_id for m in d.members) == sorted(member_ids)
    finally:
        for c in consumers:
            c.close()


def test_kafka_python_classic_group_heartbeats_on_through_a_restart(admin, bootstrap, restart_broker):
    from kafka import ConsumerRebalanceListener, KafkaConsumer

    topic = create_topic(admin, "grp-restart-kp")
    group = unique_topic("kp-grp-restart")
    events = []

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            events.append(("revoke", sorted(p.partition for p in revoked)))

        def on_partitions_assigned(self, assigned):
            events.append(("assign", sorted(p.partition for p in assigned)))

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=500,
                      fetch_max_wait_ms=200)
    try:
        # kafka-python 3.0.12 loses a join that a poll's timeout interrupts (the join
        # completes, but the assignment is never taken and heartbeats stay disabled
        # until the session expires): a member that joins before it knows the topic's
        # partitions joins twice, and a short poll can cut the second join. So the
        # topic's partitions are known first, and polls are long enough for a join.
        wait_until(lambda: c.partitions_for_topic(topic) == set(range(PARTITIONS)), "the topic's partitions")
        c.subscribe([topic], listener=Listener())
        got = set()

        def poll(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for records in c.poll(timeout_ms=500).values():
                    got.update((r.partition, r.offset) for r in records)

        wait_until(lambda: poll(0.2) or len(c.assignment()) == PARTITIONS, "all partitions assigned")
        produce(bootstrap, topic, plain_records(3 * PARTITIONS))
        wait_until(lambda: poll(0.2) or len(got) == 3 * PARTITIONS, "the first records")
        seen = list(events)
        restart_broker()
        produce(bootstrap, topic, plain_records(3 * PARTITIONS, start=3 * PARTITIONS))
        wait_until(lambda: poll(0.2) or len(got) == 6 * PARTITIONS, "the records produced after the restart")
        poll(4)
        assert events == seen, f"no rebalance after the restart: {events[len(seen):]}"
    finally:
        c.close()
