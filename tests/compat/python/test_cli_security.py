"""The operator commands over SASL_SSL, through a saved profile: `weir user`
creates and deletes SCRAM users and `weir acl` grants and takes back
permissions, and confluent-kafka, as the user, is let in or refused
accordingly. Then records cross between `weir produce`/`weir consume` and
confluent-kafka's Avro serializers through the registry, both ways."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, ShareConsumer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from compat_broker import REPO_ROOT, broker_ca, launch_listeners, serving
from compat_util import unique_topic

WEIR = os.environ.get("WEIR_BIN") or str(REPO_ROOT / "target" / "release" / "weir")
ORDER = json.dumps({"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "long"}, {"name": "item", "type": "string"}]})


@pytest.fixture(scope="module")
def cli_weir():
    root = tempfile.mkdtemp(prefix="weir-cli-")
    ca_path, keystore = broker_ca(root, "weir cli tests")
    extra = ["--set", "ssl.keystore.type=PEM", "--set", f"ssl.keystore.location={keystore}",
             "--set", "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
             "--set", "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
             "--set", "super.users=User:admin", "--set", "bootstrap.users=admin:admin-secret"]
    handle = launch_listeners(root, "weir-cli", "PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{p0}",
                              extra, more_ports=1)
    handle.sasl_ssl = f"127.0.0.1:{handle.ports[0]}"
    handle.ca_path = ca_path
    handle.profiles = os.path.join(root, "profiles.toml")
    # Every command of the module runs as admin through this profile.
    try:
        weir(handle, "profile", "create", "secure", "--brokers", handle.sasl_ssl,
             "-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={ca_path}",
             "-X", "sasl.mechanism=SCRAM-SHA-256", "-X", "sasl.username=admin", "-X", "sasl.password=admin-secret")
    except BaseException:
        handle.stop()
        raise
    yield from serving(handle, root)


def weir(w, *args: str, code: int = 0):
    """Runs a command with the module's profile file; its JSON output."""
    env = {**os.environ, "WEIR_PROFILES": w.profiles, "WEIR_REGISTRY": w.registry_url}
    env.pop("WEIR_BROKERS", None)
    done = subprocess.run([WEIR, *args, "--format", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == code, f"weir {args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else None


def as_user(w, user: str, password: str) -> dict:
    return {"bootstrap.servers": w.sasl_ssl, "security.protocol": "SASL_SSL", "ssl.ca.location": w.ca_path,
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": password}


def produce_error(c: dict, topic: str):
    """The delivery error of one record (None when delivered)."""
    errors = []
    p = Producer({**c, "message.timeout.ms": 10000, "retries": 0})
    p.produce(topic, value=b"x", on_delivery=lambda err, _m: errors.append(err))
    p.flush(20)
    assert errors, "no delivery report"
    return errors[0]


def test_users_and_acls_through_a_profile_over_sasl_ssl(cli_weir):
    w = cli_weir
    assert os.stat(w.profiles).st_mode & 0o077 == 0, "the profile file holds a password: owner only"
    listed = weir(w, "profile", "list")
    assert listed[0]["name"] == "secure" and listed[0]["current"] is True
    assert "sasl.password=***" in listed[0]["properties"]

    topic = unique_topic("cli-acl")
    assert weir(w, "topic", "create", topic, "-p", "1") == [{"topic": topic, "error": None}]
    assert weir(w, "user", "create", "carol", "--password", "carol-secret", "--mechanism", "SCRAM-SHA-512") \
        == [{"user": "carol", "error": None}]
    users = {u["user"]: u["credentials"] for u in weir(w, "user", "list")}
    assert users["carol"] == [{"mechanism": "SCRAM-SHA-512", "iterations": 4096}]

    carol = as_user(w, "carol", "carol-secret")
    assert produce_error(carol, topic).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # Command-line -X wins over the profile's; carol may not list users: a refusal, not a crash.
    env = {**os.environ, "WEIR_PROFILES": w.profiles}
    refused = subprocess.run([WEIR, "user", "list", "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=carol",
                              "-X", "sasl.password=carol-secret"], capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 1, refused
    assert "CLUSTER_AUTHORIZATION_FAILED" in refused.stderr, refused.stderr

    made = weir(w, "acl", "create", "--allow-principal", "carol", "--operation", "write,describe", "--topic", topic)
    assert [(a["operation"], a["error"]) for a in made] == [("WRITE", None), ("DESCRIBE", None)]
    assert produce_error(carol, topic) is None
    found = weir(w, "acl", "list", "--allow-principal", "User:carol")
    assert {(a["resource_name"], a["operation"], a["permission"]) for a in found} == \
        {(topic, "WRITE", "ALLOW"), (topic, "DESCRIBE", "ALLOW")}

    deleted = weir(w, "acl", "delete", "--allow-principal", "carol", "--topic", topic)
    assert len(deleted) == 2
    assert weir(w, "acl", "list", "--allow-principal", "carol") == []
    assert produce_error(carol, topic).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    assert weir(w, "user", "delete", "carol") == [{"user": "carol", "error": None}]
    with pytest.raises(KafkaException):
        AdminClient(carol).list_topics(timeout=5)
    # A refusal keeps Kafka's name: carol is gone.
    weir(w, "user", "delete", "carol", code=1)


def test_share_groups_through_a_profile_over_sasl_ssl(cli_weir):
    """`weir share-group` speaks the share-group APIs itself (librdkafka's admin API has
    none): over TLS with SCRAM, from the profile or -X, as librdkafka would."""
    w = cli_weir
    topic, group = unique_topic("cli-share"), unique_topic("cli-sg")
    weir(w, "topic", "create", topic, "-p", "1")
    p = Producer(as_admin(w))
    for i in range(3):
        p.produce(topic, value=b"x%d" % i)
    assert p.flush(20) == 0
    plan = weir(w, "share-group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute")
    assert plan == [{"group": group, "topic": topic, "partition": 0, "new_start_offset": 0}]
    assert {"group": group, "state": "Empty"} in weir(w, "share-group", "list")
    c = ShareConsumer({**as_admin(w), "group.id": group})
    c.subscribe([topic])
    got, deadline = 0, time.monotonic() + 60
    while got < 3 and time.monotonic() < deadline:
        got += sum(1 for m in c.poll(0.5) or [] if m.error() is None)
    assert got == 3
    d = weir(w, "share-group", "describe", group)
    assert d["state"] == "Stable" and len(d["members"]) == 1, d
    assert d["members"][0]["assignment"] == [{"topic": topic, "partitions": [0]}]
    assert d["offsets"][0]["log_end_offset"] == 3, d
    c.close()
    # -X over the profile: SCRAM-SHA-512; a wrong password is the broker's refusal.
    env = {**os.environ, "WEIR_PROFILES": w.profiles}
    done = subprocess.run([WEIR, "share-group", "list", "-X", "sasl.mechanism=SCRAM-SHA-512", "--format", "json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and group in done.stdout, done
    wrong = subprocess.run([WEIR, "share-group", "list", "-X", "sasl.password=wrong"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert wrong.returncode == 1 and "authentication failed" in wrong.stderr, wrong
    # librdkafka's name over the profile's alias: the last given wins, whichever name it uses.
    gssapi = subprocess.run([WEIR, "share-group", "list", "-X", "sasl.mechanisms=GSSAPI"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert gssapi.returncode == 1 and "GSSAPI is not supported" in gssapi.stderr, gssapi
    # --brokers on the command line over a profile's -X bootstrap.servers (a closed port).
    weir(w, "profile", "create", "stale", "--brokers", w.sasl_ssl, "-X", "bootstrap.servers=127.0.0.1:1",
         "-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={w.ca_path}",
         "-X", "sasl.mechanism=SCRAM-SHA-256", "-X", "sasl.username=admin", "-X", "sasl.password=admin-secret")
    weir(w, "profile", "use", "secure")
    fresh = subprocess.run([WEIR, "share-group", "list", "--profile", "stale", "--brokers", w.sasl_ssl,
                            "--format", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert fresh.returncode == 0 and group in fresh.stdout, fresh


def test_records_cross_between_weir_and_confluent_serializers(cli_weir):
    w = cli_weir
    topic = unique_topic("cli-avro")
    weir(w, "topic", "create", topic, "-p", "1")
    reg = weir(w, "schema", "register", f"{topic}-value", "--schema", write_schema(w, ORDER))
    assert reg["version"] == 1

    # weir produce -> confluent-kafka's AvroDeserializer.
    lines = '{"id": 1, "item": "tea"}\n{"id": 2, "item": "cake"}\n'
    env = {**os.environ, "WEIR_PROFILES": w.profiles, "WEIR_REGISTRY": w.registry_url}
    done = subprocess.run([WEIR, "produce", topic, "--value-subject", f"{topic}-value"], input=lines,
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    sr = SchemaRegistryClient({"url": w.registry_url})
    deserialize = AvroDeserializer(sr)
    c = Consumer({**as_admin(w), "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + 60
    while len(got) < 2 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(deserialize(m.value(), SerializationContext(topic, MessageField.VALUE)))
    c.close()
    assert got == [{"id": 1, "item": "tea"}, {"id": 2, "item": "cake"}]

    # confluent-kafka's AvroSerializer -> weir consume --decode.
    serialize = AvroSerializer(sr, ORDER)
    p = Producer(as_admin(w))
    p.produce(topic, value=serialize({"id": 3, "item": "jam"}, SerializationContext(topic, MessageField.VALUE)))
    assert p.flush(30) == 0
    records = weir_lines(w, "consume", topic, "-e", "--decode")
    assert [r["value"] for r in records] == [{"id": 1, "item": "tea"}, {"id": 2, "item": "cake"},
                                             {"id": 3, "item": "jam"}]


def as_admin(w) -> dict:
    return {**as_user(w, "admin", "admin-secret"), "sasl.mechanism": "SCRAM-SHA-256"}


def write_schema(w, text: str) -> str:
    path = os.path.join(os.path.dirname(w.profiles), "order.avsc")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def weir_lines(w, *args: str) -> list:
    env = {**os.environ, "WEIR_PROFILES": w.profiles, "WEIR_REGISTRY": w.registry_url}
    done = subprocess.run([WEIR, *args, "--format", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]
