"""Helpers the console's browser tests share."""

from __future__ import annotations

from confluent_kafka import Producer


def produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    """`per_partition[p]` records into each partition p, values `p-i`."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for part, n in per_partition.items():
        for i in range(n):
            p.produce(topic, value=f"{part}-{i}".encode(), partition=part)
    assert p.flush(30) == 0
