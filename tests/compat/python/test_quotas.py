"""Client quotas enforced with real clients: a producer whose client id has
a 5 MB/s producer_byte_rate quota (set with AlterClientQuotas) is throttled to
within 10 % of it, measured over 30 s once its first burst is spent, while a
producer beside it without a quota is not throttled at all. librdkafka reports
the broker's throttle times in its statistics."""

from __future__ import annotations

import json
import threading
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_util import alter_client_quota

QUOTA = 5_000_000
RECORD = 10_000
WARM_UP_S = 5
MEASURE_S = 30


class Run:
    """A producer sending as fast as it is let (or at `pace` bytes/s), with
    the time of each delivery and the broker's throttle times."""

    def __init__(self, bootstrap: str, client_id: str, topic: str, pace: float | None):
        self.delivered: list[float] = []
        self.throttle_max = 0
        self.stop = threading.Event()
        self.pace = pace
        self.topic = topic

        def stats(raw):
            for b in json.loads(raw).get("brokers", {}).values():
                self.throttle_max = max(self.throttle_max, b.get("throttle", {}).get("max", 0))

        self.p = Producer({"bootstrap.servers": bootstrap, "client.id": client_id, "linger.ms": 5,
                           "statistics.interval.ms": 1000, "stats_cb": stats,
                           "queue.buffering.max.kbytes": 20000, "batch.size": 100_000})
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        value = b"q" * RECORD
        start = time.monotonic()
        sent = 0
        while not self.stop.is_set():
            if self.pace and sent * RECORD > self.pace * (time.monotonic() - start):
                self.p.poll(0.005)
                continue
            try:
                self.p.produce(self.topic, value, on_delivery=lambda err, _m: err or self.delivered.append(
                    time.monotonic()))
                sent += 1
            except BufferError:
                self.p.poll(0.05)
            self.p.poll(0)
        self.p.purge()
        self.p.poll(1)

    def rate(self, t0: float, t1: float) -> float:
        return sum(1 for t in self.delivered if t0 <= t < t1) * RECORD / (t1 - t0)


def test_a_producer_over_its_quota_is_throttled_to_it_and_others_are_not(bootstrap):
    tag = uuid.uuid4().hex[:8]
    limited_id, free_id = f"quota-limited-{tag}", f"quota-free-{tag}"
    topics = [f"quota-{tag}-a", f"quota-{tag}-b"]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
        f.result(10)
    alter_client_quota(bootstrap, [("client-id", limited_id)], "producer_byte_rate", QUOTA)
    limited = Run(bootstrap, limited_id, topics[0], None)
    free = Run(bootstrap, free_id, topics[1], 2 * QUOTA)
    start = time.monotonic()
    for r in (limited, free):
        r.thread.start()
    time.sleep(WARM_UP_S + MEASURE_S)
    for r in (limited, free):
        r.stop.set()
        r.thread.join(30)
    t0, t1 = start + WARM_UP_S, start + WARM_UP_S + MEASURE_S
    got = limited.rate(t0, t1)
    assert abs(got - QUOTA) <= 0.1 * QUOTA, f"throttled producer: {got / 1e6:.2f} MB/s, quota {QUOTA / 1e6} MB/s"
    assert limited.throttle_max > 0, "the broker told the limited producer to back off"
    assert free.throttle_max == 0, "the producer without a quota was never throttled"
    assert free.rate(t0, t1) >= 0.9 * 2 * QUOTA, f"unthrottled producer: {free.rate(t0, t1) / 1e6:.2f} MB/s"


def test_a_client_over_its_request_percentage_is_throttled_and_others_are_not(bootstrap):
    """request_percentage: the share of one thread's time a client's requests
    may take. 0.01 % is 100 µs of handling a second: a client asking for
    metadata in a loop spends it at once and is throttled (throttle_time_ms in
    the responses, which librdkafka reports to throttle_cb); one beside it with
    no quota is never throttled."""
    tag = uuid.uuid4().hex[:8]
    limited_id, free_id = f"req-limited-{tag}", f"req-free-{tag}"
    alter_client_quota(bootstrap, [("client-id", limited_id)], "request_percentage", 0.01)
    throttles: dict[str, list[int]] = {limited_id: [], free_id: []}

    def client(cid):
        return AdminClient({"bootstrap.servers": bootstrap, "client.id": cid,
                            "throttle_cb": lambda ev: throttles[cid].append(ev.throttle_time)})
    limited, free = client(limited_id), client(free_id)
    # Until the first throttle: every later request would wait out a longer one.
    for _ in range(50):
        for c in (limited, free):
            c.list_topics(timeout=30)
            c.poll(0.05)
        if any(throttles[limited_id]):
            break
    for _ in range(20):
        free.list_topics(timeout=30)
        free.poll(0)
    assert throttles[limited_id] and max(throttles[limited_id]) > 0, "the limited client was told to back off"
    assert not any(throttles[free_id]), f"the client without a quota was throttled: {throttles[free_id]}"
