"""kafka-python's incremental fetch sessions (KIP-227) against Weir.

kafka-python (like the Java consumer) opens a fetch session with its first full
fetch and then sends only partitions whose fetch position changed; Weir answers
only partitions with something new. A consumer of 40 partitions, once caught up,
sends and receives a few dozen bytes per fetch instead of every partition both
ways. With one cache slot, a bigger session evicts a consumer's session: that
consumer is told FETCH_SESSION_ID_NOT_FOUND, goes on without a session, loses
and repeats nothing, and gets a session again once the slot's holder has gone
unused for min.incremental.fetch.session.eviction.ms."""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
import urllib.request

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from compat_broker import launch_listeners, serving
from compat_util import unique_topic, wait_until


@contextlib.contextmanager
def weir(*settings: str):
    """A broker of the test's own (`--set` each of ``settings``), stopped cleanly after."""
    root = tempfile.mkdtemp(prefix="weir-fetch-sessions-")
    extra = [a for s in settings for a in ("--set", s)]
    handle = launch_listeners(root, "weir-fetch-sessions", "PLAINTEXT://127.0.0.1:{plain}", extra)
    yield from serving(handle, root)


def metric(handle, series: str) -> float:
    text = urllib.request.urlopen(handle.console_url + "/metrics", timeout=10).read().decode()
    m = re.search(r"^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def create(bootstrap: str, topic: str, partitions: int):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, values: list[tuple[int, bytes]]):
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for partition, value in values:
            p.send(topic, value, partition=partition)
        p.flush(30)
    finally:
        p.close()


def consumer(bootstrap: str, topic: str, partitions: list[int]) -> KafkaConsumer:
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100,
                      client_id=f"fetch-sessions-{partitions[0]}-{len(partitions)}")
    tps = [TopicPartition(topic, p) for p in partitions]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    return c


def read(c: KafkaConsumer, got: list, want: int, what: str):
    def enough():
        for records in c.poll(timeout_ms=200).values():
            got.extend((r.partition, r.value) for r in records)
        return len(got) >= want
    wait_until(enough, what, timeout=60, interval=0)


def test_a_caught_up_consumer_of_40_partitions_sends_and_receives_only_what_changed():
    with weir() as w:
        topic = unique_topic("sessions")
        create(w.bootstrap, topic, 40)
        produce(w.bootstrap, topic, [(i % 40, b"v%d" % i) for i in range(400)])
        c = consumer(w.bootstrap, topic, list(range(40)))
        try:
            got = []
            read(c, got, 400, "the first 400 records")
            assert sorted(got) == sorted((i % 40, b"v%d" % i) for i in range(400))
            assert metric(w, "weir_fetch_sessions") == 1
            assert metric(w, "weir_fetch_session_partitions") == 40

            # Caught up: a second of idle polls (a fetch every 100 ms).
            def counters():
                return [metric(w, f'weir_kafka_{m}_total{{api="Fetch"}}')
                        for m in ("requests", "request_bytes", "response_bytes")]
            before = counters()
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                assert c.poll(timeout_ms=100) == {}
            requests, request_bytes, response_bytes = (a - b for a, b in zip(counters(), before))
            assert requests >= 5, requests
            # Naming 40 partitions takes at least 40 x 28 = 1,120 bytes each way
            # (and did, before sessions); the session's requests and answers name
            # none and stay under a quarter of that.
            assert request_bytes / requests < 280, (request_bytes, response_bytes, requests)
            assert response_bytes / requests < 280, (request_bytes, response_bytes, requests)

            # New records on one partition reach the consumer, once each.
            produce(w.bootstrap, topic, [(7, b"late%d" % i) for i in range(5)])
            more = []
            read(c, more, 5, "the 5 late records")
            assert more == [(7, b"late%d" % i) for i in range(5)]
            assert c.poll(timeout_ms=300) == {}
        finally:
            c.close()


def test_an_evicted_session_is_recreated_by_kafka_python_and_nothing_is_lost_or_repeated():
    with weir("max.incremental.fetch.session.cache.slots=1",
              "min.incremental.fetch.session.eviction.ms=1000") as w:
        topic = unique_topic("evicted")
        create(w.bootstrap, topic, 4)
        a = consumer(w.bootstrap, topic, [0, 1])
        got = []
        try:
            a.poll(timeout_ms=300)
            wait_until(lambda: metric(w, "weir_fetch_session_partitions") == 2, "a's session")
            # Older than the eviction time, then a consumer with more partitions.
            end = time.monotonic() + 1.3
            while time.monotonic() < end:
                assert a.poll(timeout_ms=100) == {}
            b = consumer(w.bootstrap, topic, [0, 1, 2, 3])
            try:
                wait_until(lambda: b.poll(timeout_ms=100) == {} and metric(w, "weir_fetch_session_partitions") == 4,
                           "b's session in the only slot")
                assert metric(w, "weir_fetch_session_evictions_total") == 1
                produce(w.bootstrap, topic, [(i % 2, b"x%d" % i) for i in range(10)])
                read(a, got, 10, "a's records after its session was evicted")
            finally:
                b.close()
            # b's session goes stale; a's next full fetch takes the slot again.
            wait_until(lambda: a.poll(timeout_ms=100) == {} and metric(w, "weir_fetch_session_partitions") == 2,
                       "a's session again")
            assert metric(w, "weir_fetch_session_evictions_total") == 2
            produce(w.bootstrap, topic, [(i % 2, b"y%d" % i) for i in range(10)])
            read(a, got, 20, "a's records in its new session")
            assert a.poll(timeout_ms=300) == {}
        finally:
            a.close()
        for partition in (0, 1):
            values = [v for p, v in got if p == partition]
            assert values == [b"x%d" % i for i in range(partition, 10, 2)] + \
                [b"y%d" % i for i in range(partition, 10, 2)], values
