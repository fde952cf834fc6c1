"""Small helpers shared by the Python compatibility tests."""

from __future__ import annotations

import socket
import struct
import time
import uuid

# Generous: CI machines have 2 cores and may be busy. Polls return as soon as
# the condition holds, so large deadlines cost nothing when things work.
DEADLINE = 60.0

# Record timestamps are set explicitly, 10 minutes in the past (well inside
# any default retention), so that timestamp look-ups are deterministic.
BASE_TS = (int(time.time() * 1000) - 10 * 60 * 1000) // 1000 * 1000


def unique_topic(prefix: str) -> str:
    return f"compat-{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate, what: str, timeout: float = DEADLINE, interval: float = 0.1):
    """Poll ``predicate`` until it returns a truthy value; return that value.

    Exceptions from the predicate count as "not yet" until the deadline, then
    the last one is re-raised with ``what`` in the message.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - re-raised below
            last_exc = exc
        if time.monotonic() > deadline:
            if last_exc is not None:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {last_exc!r}") from last_exc
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def broker_api_versions(bootstrap: str, timeout: float = 10.0) -> dict[int, tuple[int, int]]:
    """ApiVersions v0 over a raw socket: {api_key: (min_version, max_version)}.

    Independent of any client library, so tests can ask what the broker
    advertises (e.g. whether InitProducerId exists yet).
    """
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"weir-compat-probe"
    # Request header v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id.
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        payload = _recv_exact(s, size)
    correlation_id, error_code, n = struct.unpack(">ihi", payload[:10])
    assert correlation_id == 7, f"ApiVersions: correlation id {correlation_id} != 7"
    assert error_code == 0, f"ApiVersions v0 returned error code {error_code}"
    out = {}
    for i in range(n):
        key, lo, hi = struct.unpack(">hhh", payload[10 + 6 * i: 16 + 6 * i])
        out[key] = (lo, hi)
    return out


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def kafka_python_round_trip(bootstrap: str, n: int = 5, **client) -> list[str]:
    """Produces ``n`` records to a new topic with kafka-python and reads them
    back from the start; ``client`` holds the security settings of both."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = unique_topic("kp")
    p = KafkaProducer(bootstrap_servers=bootstrap, **client)
    for i in range(n):
        p.send(topic, f"kp-{i}".encode(), partition=0)
    p.flush(30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=10000, **client)
    c.assign([TopicPartition(topic, 0)])
    c.seek_to_beginning()
    got = [m.value.decode() for _, m in zip(range(n), c)]
    c.close()
    return got


def _kstr(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def alter_client_quota(bootstrap: str, entity: list[tuple[str, str | None]], key: str, value: float,
                       timeout: float = 10.0) -> None:
    """AlterClientQuotas v0 over a raw socket (the Python clients have no API
    for it): sets one quota of one entity; raises on an error code."""
    host, port = bootstrap.rsplit(":", 1)
    header = struct.pack(">hhi", 49, 0, 9) + _kstr("weir-compat-quotas")
    ents = struct.pack(">i", len(entity)) + b"".join(_kstr(t) + _kstr(n) for t, n in entity)
    ops = struct.pack(">i", 1) + _kstr(key) + struct.pack(">d?", value, False)
    body = header + struct.pack(">i", 1) + ents + ops + struct.pack(">?", False)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        payload = _recv_exact(s, size)
    correlation_id, _throttle, n, error_code = struct.unpack(">iiih", payload[:14])
    assert correlation_id == 9 and n == 1, (correlation_id, n)
    assert error_code == 0, f"AlterClientQuotas: error {error_code}"
