"""Share groups (KIP-932, queues for Kafka) with librdkafka's share consumer
(confluent-kafka's ``ShareConsumer``): members read the same partitions together,
each record handed to one member at a time under a lock and acknowledged one by
one; released records come back with a higher delivery count, rejected ones do
not, a lock that runs out hands the record to another member, a member whose
connection drops gives its records back at once, and what was acknowledged stays
acknowledged through a broker crash.

The module runs its own broker: a 2 s record lock and a 500 ms share heartbeat, so
that nothing here waits Kafka's 30 s lock.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from confluent_kafka import AcknowledgeType, Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from compat_broker import launch_listeners, serving
from compat_util import DEADLINE, broker_api_versions, unique_topic, wait_until
from confluent_util import T, create_topic, produce, set_group_configs

LOCK_MS = 2000


@pytest.fixture(scope="module")
def weir():
    root = tempfile.mkdtemp(prefix="weir-share-")
    handle = launch_listeners(root, "weir-share", "PLAINTEXT://127.0.0.1:{plain}", [
        "--set", f"group.share.record.lock.duration.ms={LOCK_MS}",
        "--set", "group.share.heartbeat.interval.ms=500",
    ])
    yield from serving(handle, root)


@pytest.fixture(scope="module")
def admin(weir):
    return AdminClient({"bootstrap.servers": weir.bootstrap})


def earliest(admin, group: str, **more: str):
    """share.auto.offset.reset=earliest for the group (a GROUP config, as in Kafka),
    and `more` group configs (dots as underscores)."""
    set_group_configs(admin, group, {"share.auto.offset.reset": "earliest",
                                     **{k.replace("_", "."): v for k, v in more.items()}})


def share_consumer(weir, group: str, topic: str, **conf) -> ShareConsumer:
    c = ShareConsumer({"bootstrap.servers": weir.bootstrap, "group.id": group, **conf})
    c.subscribe([topic])
    return c


def poll_until(c: ShareConsumer, got: list, n: int, seconds: float = DEADLINE):
    end = time.monotonic() + seconds
    while len(got) < n and time.monotonic() < end:
        for m in c.poll(0.5) or []:
            assert m.error() is None, m.error()
            got.append(m)
    return got


def records(n: int, partitions: int) -> list[dict]:
    return [{"value": f"v{i}".encode(), "partition": i % partitions} for i in range(n)]


def test_share_consumers_split_the_records_and_each_is_delivered_once(weir, admin):
    topic = create_topic(admin, "share-split")
    group = unique_topic("share-split")
    earliest(admin, group)
    n = 3000
    produce(weir.bootstrap, topic, records(n, 3))
    seen: dict[tuple[int, int], list[tuple[str, int]]] = {}
    lock = threading.Lock()
    done = threading.Event()

    def run(name: str):
        c = share_consumer(weir, group, topic)
        end = time.monotonic() + DEADLINE
        while not done.is_set() and time.monotonic() < end:
            ms = c.poll(0.3) or []
            with lock:
                for m in ms:
                    assert m.error() is None, m.error()
                    seen.setdefault((m.partition(), m.offset()), []).append((name, m.delivery_count()))
                if len(seen) >= n:
                    done.set()
        # Implicit mode accepts a poll's records at the next poll or commit.
        c.commit_sync()
        c.close()

    threads = [threading.Thread(target=run, args=(f"c{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == n, f"{len(seen)} of {n} records delivered"
    twice = {k: v for k, v in seen.items() if len(v) > 1}
    assert not twice, f"delivered more than once: {list(twice.items())[:5]}"
    assert {d for v in seen.values() for _, d in v} == {1}
    # All accepted: a new member of the group finds nothing left.
    c = share_consumer(weir, group, topic)
    assert poll_until(c, [], 1, seconds=3) == []
    c.close()


def test_released_records_come_back_and_rejected_ones_do_not(weir, admin):
    topic = create_topic(admin, "share-ack")
    group = unique_topic("share-ack")
    earliest(admin, group)
    produce(weir.bootstrap, topic, records(10, 1))
    c = share_consumer(weir, group, topic, **{"share.acknowledgement.mode": "explicit"})
    first = poll_until(c, [], 10)
    assert sorted((m.offset(), m.delivery_count()) for m in first) == [(o, 1) for o in range(10)]
    for m in first:
        c.acknowledge(m, AcknowledgeType.RELEASE if m.offset() < 3 else
                      AcknowledgeType.REJECT if m.offset() == 3 else AcknowledgeType.ACCEPT)
    for tp, err in c.commit_sync().items():
        assert err is None, (tp, err)
    again = poll_until(c, [], 3)
    assert sorted((m.offset(), m.delivery_count()) for m in again) == [(0, 2), (1, 2), (2, 2)]
    for m in again:
        c.acknowledge(m, AcknowledgeType.ACCEPT)
    c.commit_sync()
    assert poll_until(c, [], 1, seconds=2) == [], "rejected and accepted records stay done"
    c.close()


HOLDER = """
import sys, time
from confluent_kafka import ShareConsumer
c = ShareConsumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
                   "share.acknowledgement.mode": "explicit"})
c.subscribe([sys.argv[3]])
got = []
while len(got) < 5:
    got += c.poll(0.5) or []
print("held", sorted(m.offset() for m in got), flush=True)
time.sleep(600)
"""


def _held_by_another_process(weir, admin, name: str):
    """A one-partition topic (two members both read it) whose five records a
    member in another process has taken; (that process, the topic, the group)."""
    topic = unique_topic(f"ck-{name}")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=DEADLINE)
    group = unique_topic(name)
    earliest(admin, group)
    produce(weir.bootstrap, topic, records(5, 1))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, weir.bootstrap, group, topic],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert holder.stdout.readline().strip() == "held [0, 1, 2, 3, 4]"
    return holder, topic, group


def test_a_lock_that_runs_out_hands_the_records_to_another_member(weir, admin):
    holder, topic, group = _held_by_another_process(weir, admin, "share-lock")
    try:
        # Frozen (SIGSTOP): still connected, but it acknowledges nothing and sends no
        # heartbeat; only the lock gives the records back, their delivery counted.
        holder.send_signal(signal.SIGSTOP)
        other = share_consumer(weir, group, topic)
        start = time.monotonic()
        later = poll_until(other, [], 5)
    finally:
        holder.kill()
        holder.wait()
    assert sorted((m.offset(), m.delivery_count()) for m in later) == [(o, 2) for o in range(5)]
    assert time.monotonic() - start >= LOCK_MS / 1000 - 1.0, "handed out again before the lock ran out"
    other.commit_sync()
    other.close()


def test_a_member_whose_connection_drops_gives_its_records_back(weir, admin):
    holder, topic, group = _held_by_another_process(weir, admin, "share-drop")
    # SIGKILL: its connections close, so its share session ends and the records go
    # back at once (as Kafka on a disconnect), that delivery counted: the member may
    # have died of one of them. (tests/share_groups_e2e.rs checks "at once" against
    # a 30 s lock.)
    holder.kill()
    holder.wait()
    other = share_consumer(weir, group, topic)
    later = poll_until(other, [], 5)
    assert sorted((m.offset(), m.delivery_count()) for m in later) == [(o, 2) for o in range(5)]
    other.commit_sync()
    other.close()


def test_what_was_acknowledged_stays_done_through_a_broker_crash(weir, admin):
    topic = create_topic(admin, "share-crash")
    group = unique_topic("share-crash")
    earliest(admin, group)
    produce(weir.bootstrap, topic, records(20, 1))
    c = share_consumer(weir, group, topic, **{"share.acknowledgement.mode": "explicit"})
    got = poll_until(c, [], 20)
    for m in got:
        c.acknowledge(m, AcknowledgeType.ACCEPT if m.offset() < 12 else AcknowledgeType.RELEASE)
    for tp, err in c.commit_sync().items():
        assert err is None, (tp, err)
    c.close()
    weir.restart(crash=True)
    c = share_consumer(weir, group, topic)
    after = poll_until(c, [], 8)
    assert sorted((m.offset(), m.delivery_count()) for m in after) == [(o, 2) for o in range(12, 20)]
    c.commit_sync()
    c.close()


def test_share_groups_are_listed_described_and_deleted(weir, admin):
    versions = broker_api_versions(weir.bootstrap)
    for key in (76, 77, 78, 79):  # ShareGroupHeartbeat, ShareGroupDescribe, ShareFetch, ShareAcknowledge
        assert versions.get(key) == (1, 1), (key, versions.get(key))
    topic = create_topic(admin, "share-admin")
    group = unique_topic("share-admin")
    c = share_consumer(weir, group, topic)
    c.poll(1.0)

    def listed():
        # ListGroups (librdkafka's list_consumer_groups leaves share groups out, as
        # Kafka's listConsumerGroups does).
        return any(g.id == group for g in admin.list_groups(timeout=T))

    wait_until(listed, f"{group} listed")
    cfg = admin.describe_configs([ConfigResource(ResourceType.GROUP, group)])
    entries = next(iter(cfg.values())).result(timeout=T)
    assert entries["share.auto.offset.reset"].value == "latest"
    # Not deleted while it has a member.
    fs = admin.delete_consumer_groups([group], request_timeout=T)
    with pytest.raises(Exception, match="NON_EMPTY_GROUP|not empty"):
        fs[group].result(timeout=DEADLINE)
    c.close()
    # Empty once the member has left.
    wait_until(lambda: _delete(admin, group), f"{group} deleted")
    assert not listed()


def _delete(admin, group: str) -> bool:
    try:
        admin.delete_consumer_groups([group], request_timeout=T)[group].result(timeout=DEADLINE)
        return True
    except Exception as e:  # NON_EMPTY_GROUP until the leave is in
        if "NON_EMPTY_GROUP" not in str(e):
            raise
        return False


def test_read_committed_share_groups_see_only_committed_records(weir, admin):
    """share.isolation.level=read_committed: records of aborted transactions are
    never handed out, those of an open one wait for its commit; a read_uncommitted
    group beside it gets every record."""
    topic = create_topic(admin, "share-txn")
    committed, uncommitted = unique_topic("share-rc"), unique_topic("share-ru")
    earliest(admin, committed, share_isolation_level="read_committed")
    earliest(admin, uncommitted)
    p = Producer({"bootstrap.servers": weir.bootstrap, "transactional.id": unique_topic("share-txn-p")})
    p.init_transactions(T)

    def txn(values, commit=True):
        p.begin_transaction()
        for v in values:
            p.produce(topic, v.encode(), partition=0)
        p.flush(T)
        if commit is True:
            p.commit_transaction(T)
        elif commit is False:
            p.abort_transaction(T)

    txn(["c1", "c2"])
    txn(["a1", "a2"], commit=False)
    txn(["c3"])
    txn(["o1"], commit=None)  # left open
    values = lambda ms: sorted(m.value().decode() for m in ms)  # noqa: E731
    rc = share_consumer(weir, committed, topic)
    got = poll_until(rc, [], 3)
    assert values(got) == ["c1", "c2", "c3"]
    assert poll_until(rc, [], 1, seconds=2) == [], "nothing of the open transaction yet"
    ru = share_consumer(weir, uncommitted, topic)
    assert values(poll_until(ru, [], 6)) == ["a1", "a2", "c1", "c2", "c3", "o1"]
    p.commit_transaction(T)
    assert values(poll_until(rc, [], 1)) == ["o1"], "handed out once committed"
    for c in (rc, ru):
        c.commit_sync()
        c.close()


def test_by_duration_starts_at_the_first_record_that_recent(weir, admin):
    """share.auto.offset.reset=by_duration:PT1H: a group new to a partition starts at its
    first record of the last hour (Kafka's ISO-8601 duration), not at the log's start."""
    topic = create_topic(admin, "share-duration")
    group = unique_topic("share-duration")
    set_group_configs(admin, group, {"share.auto.offset.reset": "by_duration:PT1H"})
    now_ms = int(time.time() * 1000)
    old = [{"value": f"old{i}".encode(), "partition": 0, "timestamp": now_ms - 7_200_000} for i in range(3)]
    new = [{"value": f"new{i}".encode(), "partition": 0, "timestamp": now_ms} for i in range(2)]
    produce(weir.bootstrap, topic, old + new)
    c = share_consumer(weir, group, topic)
    got = poll_until(c, [], 2)
    got = poll_until(c, got, 3, seconds=2)  # nothing more comes
    c.close()
    assert [(m.offset(), m.value()) for m in got] == [(3, b"new0"), (4, b"new1")]
