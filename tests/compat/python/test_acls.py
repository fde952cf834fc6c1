"""ACLs with real clients (confluent-kafka): a broker with Weir's authorizer
(`authorizer.class.name`, Kafka's StandardAuthorizer name), SASL users, a super
user who manages ACLs with the Admin API, and for each API family a principal
with and without the ACL it needs, allow and deny, literal and prefixed,
getting Kafka's error codes; Metadata and ListGroups hide what the principal
may not describe; refusals and ACL changes reach the audit log."""

from __future__ import annotations

import socket
import struct
import tempfile
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, ShareConsumer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   ConfigResource, NewTopic, ResourcePatternType, ResourceType)

from compat_broker import launch_listeners, serving
from compat_util import _recv_exact
from confluent_util import set_group_configs

USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture(scope="module")
def acl_weir():
    root = tempfile.mkdtemp(prefix="weir-acl-")
    extra = ["--set", "sasl.enabled.mechanisms=SCRAM-SHA-256,PLAIN",
             "--set", "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
             "--set", "super.users=User:admin",
             "--set", "bootstrap.users=" + ",".join(f"{u}:{p}" for u, p in USERS.items())]
    handle = launch_listeners(root, "weir-acl", "PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{p0}",
                              extra, more_ports=1)
    handle.sasl = f"127.0.0.1:{handle.ports[0]}"
    yield from serving(handle, root)


def conf(w, user: str) -> dict:
    return {"bootstrap.servers": w.sasl, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": user, "sasl.password": USERS[user]}


def admin(w, user="admin") -> AdminClient:
    """One client per user for the module: a future outlives no client."""
    clients = w.__dict__.setdefault("admins", {})
    if user not in clients:
        clients[user] = AdminClient(conf(w, user))
    return clients[user]


def name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def allow(ty, res, principal, op, pattern=ResourcePatternType.LITERAL, perm=AclPermissionType.ALLOW):
    return AclBinding(ty, res, pattern, principal, "*", op, perm)


def grant(w, *bindings):
    for f in admin(w).create_acls(list(bindings)).values():
        f.result(10)


def make_topic(w, topic, partitions=1):
    admin(w).create_topics([NewTopic(topic, partitions, 1)])[topic].result(10)


def produce_error(w, user, topic, **extra):
    """The delivery error of one record (None: delivered)."""
    got = []
    p = Producer({**conf(w, user), "message.timeout.ms": 5000, **extra})
    p.produce(topic, b"x", on_delivery=lambda err, msg: got.append(err))
    p.flush(15)
    assert got, "a delivery report"
    return got[0]


def test_the_acl_apis_and_their_filters(acl_weir):
    w = acl_weir
    a = admin(w)
    t = name("acl-api-")
    bindings = [allow(ResourceType.TOPIC, t, "User:alice", AclOperation.READ),
                allow(ResourceType.TOPIC, "pre-", "User:bob", AclOperation.WRITE, ResourcePatternType.PREFIXED),
                allow(ResourceType.GROUP, "g-" + t, "User:alice", AclOperation.READ)]
    grant(w, *bindings)
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    found = a.describe_acls(everything).result(10)
    for b in bindings:
        assert b in found, b
    match = AclBindingFilter(ResourceType.TOPIC, "pre-xyz", ResourcePatternType.MATCH, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    assert a.describe_acls(match).result(10) == [bindings[1]], "MATCH: the prefix ACL that applies"
    alices = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:alice", None,
                              AclOperation.ANY, AclPermissionType.ANY)
    # (The futures map is the client's own: read it, do not pop from it.)
    deleted = list(a.delete_acls([alices]).values())[0].result(10)
    assert sorted(map(str, deleted)) == sorted(map(str, [bindings[0], bindings[2]]))
    assert bindings[0] not in a.describe_acls(everything).result(10)
    # Only a principal with ALTER on the cluster manages ACLs.
    with pytest.raises(KafkaException) as e:
        list(admin(w, "alice").create_acls([bindings[0]]).values())[0].result(10)
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # librdkafka drops DescribeAcls' top-level error (alice just sees nothing);
    # kafka-python reports it.
    assert admin(w, "alice").describe_acls(everything).result(10) == []
    from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                             ResourcePatternFilter)
    from kafka.admin import ResourceType as KpResourceType
    from kafka.errors import ClusterAuthorizationFailedError
    kp = KafkaAdminClient(bootstrap_servers=w.sasl, security_protocol="SASL_PLAINTEXT",
                          sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="alice",
                          sasl_plain_password=USERS["alice"])
    try:
        with pytest.raises(ClusterAuthorizationFailedError):
            kp.describe_acls(ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                                       permission_type=ACLPermissionType.ANY,
                                       resource_pattern=ResourcePatternFilter(KpResourceType.ANY, None,
                                                                              ACLResourcePatternType.ANY)))
    finally:
        kp.close()
    # A bad ACL is refused with the reason.
    with pytest.raises(KafkaException) as e:
        list(a.create_acls([allow(ResourceType.TOPIC, t, "alice", AclOperation.READ)]).values())[0].result(10)
    assert e.value.args[0].code() == KafkaError.INVALID_REQUEST


def test_produce_needs_write_literal_or_prefixed_and_deny_wins(acl_weir):
    w = acl_weir
    t = name("acl-produce-")
    make_topic(w, t)
    assert produce_error(w, "alice", t).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    grant(w, allow(ResourceType.TOPIC, t, "User:alice", AclOperation.WRITE))
    assert produce_error(w, "alice", t) is None
    prefix = name("pay")
    grant(w, allow(ResourceType.TOPIC, prefix + "-", "User:bob", AclOperation.WRITE, ResourcePatternType.PREFIXED))
    make_topic(w, prefix + "-eu")
    make_topic(w, prefix + "-secret")
    assert produce_error(w, "bob", prefix + "-eu") is None
    grant(w, allow(ResourceType.TOPIC, prefix + "-secret", "User:bob", AclOperation.WRITE,
                   perm=AclPermissionType.DENY))
    assert produce_error(w, "bob", prefix + "-secret").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce_error(w, "bob", prefix + "-eu") is None, "the DENY is for one topic"
    # Idempotent producers need no more than WRITE on the topic (KIP-679).
    assert produce_error(w, "alice", t, **{"enable.idempotence": True}) is None


def first_record(c, batch, timeout=15):
    """The first record's value consumer `c` gets from `batch(c)` (a list of
    messages), or the error it meets (librdkafka raises a refused FindCoordinator or
    heartbeat from a share consumer's poll); `c` is closed."""
    deadline, got = time.monotonic() + timeout, None
    while time.monotonic() < deadline and got is None:
        try:
            for m in batch(c):
                got = m.error() or m.value()
                break
        except KafkaException as e:
            got = e.args[0]
    c.close()
    return got


def consume(w, user, topic, group):
    c = Consumer({**conf(w, user), "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    return first_record(c, lambda c: [m for m in [c.poll(0.5)] if m is not None])


def test_consume_needs_read_on_topic_and_group(acl_weir):
    w = acl_weir
    t, g = name("acl-fetch-"), name("acl-group-")
    make_topic(w, t)
    assert produce_error(w, "admin", t) is None
    grant(w, allow(ResourceType.TOPIC, t, "User:alice", AclOperation.READ))
    got = consume(w, "alice", t, g)
    assert isinstance(got, KafkaError) and got.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, got
    grant(w, allow(ResourceType.GROUP, g, "User:alice", AclOperation.READ))
    assert consume(w, "alice", t, g) == b"x"
    got = consume(w, "bob", t, g)
    assert isinstance(got, KafkaError) and got.code() in (KafkaError.GROUP_AUTHORIZATION_FAILED,
                                                          KafkaError.TOPIC_AUTHORIZATION_FAILED), got


def test_metadata_and_list_groups_hide_what_may_not_be_described(acl_weir):
    w = acl_weir
    mine, theirs = name("acl-mine-"), name("acl-theirs-")
    make_topic(w, mine)
    make_topic(w, theirs)
    grant(w, allow(ResourceType.TOPIC, mine, "User:bob", AclOperation.DESCRIBE))
    topics = admin(w, "bob").list_topics(timeout=10).topics
    assert mine in topics and theirs not in topics
    assert theirs in admin(w).list_topics(timeout=10).topics, "the super user sees everything"
    named = admin(w, "bob").list_topics(theirs, timeout=10).topics[theirs]
    assert named.error is not None and named.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    g = name("acl-listed-")
    grant(w, allow(ResourceType.TOPIC, mine, "User:bob", AclOperation.READ),
          allow(ResourceType.GROUP, g, "User:bob", AclOperation.READ))
    assert produce_error(w, "admin", mine) is None
    assert consume(w, "bob", mine, g) == b"x"
    listed = [x.group_id for x in admin(w, "alice").list_consumer_groups().result(10).valid]
    assert g not in listed, "alice may not describe bob's group"
    assert g in [x.group_id for x in admin(w, "bob").list_consumer_groups().result(10).valid]
    described = admin(w, "alice").describe_consumer_groups([g])[g]
    with pytest.raises(KafkaException) as e:
        described.result(10)
    assert e.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_transactions_need_write_on_the_transactional_id(acl_weir):
    w = acl_weir
    t, txn = name("acl-txn-"), name("acl-tid-")
    make_topic(w, t)
    grant(w, allow(ResourceType.TOPIC, t, "User:alice", AclOperation.WRITE))
    p = Producer({**conf(w, "alice"), "transactional.id": txn})
    with pytest.raises(KafkaException) as e:
        p.init_transactions(10)
    assert e.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    grant(w, allow(ResourceType.TRANSACTIONAL_ID, txn, "User:alice", AclOperation.WRITE))
    p = Producer({**conf(w, "alice"), "transactional.id": txn})
    p.init_transactions(10)
    p.begin_transaction()
    p.produce(t, b"in-txn")
    p.commit_transaction(10)


def test_admin_operations_need_their_acls(acl_weir):
    w = acl_weir
    t = name("acl-admin-")
    a = admin(w, "alice")
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(t, 1, 1)])[t].result(10)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    grant(w, allow(ResourceType.TOPIC, "acl-admin-", "User:alice", AclOperation.CREATE, ResourcePatternType.PREFIXED))
    a.create_topics([NewTopic(t, 1, 1)])[t].result(10)
    res = ConfigResource(ConfigResource.Type.TOPIC, t)
    with pytest.raises(KafkaException) as e:
        a.describe_configs([res])[res].result(10)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as e:
        a.delete_topics([t])[t].result(10)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    grant(w, allow(ResourceType.TOPIC, t, "User:alice", AclOperation.ALTER_CONFIGS),
          allow(ResourceType.TOPIC, t, "User:alice", AclOperation.DELETE))
    assert a.describe_configs([res])[res].result(10), "ALTER_CONFIGS implies DESCRIBE_CONFIGS"
    a.delete_topics([t])[t].result(10)


def test_refusals_and_changes_are_audited(acl_weir):
    w = acl_weir
    t = name("acl-audit-")
    make_topic(w, t)
    assert produce_error(w, "bob", t).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    log = open(w.log_path, encoding="utf-8", errors="replace").read()
    # The producer is refused at its Metadata request (DESCRIBE), before it produces.
    denied = [l for l in log.splitlines() if "weir::audit" in l and "denied" in l and t in l]
    assert denied and "principal=User:bob" in denied[0] and "host=127.0.0.1" in denied[0], denied[:3]
    assert 'operation="DESCRIBE"' in denied[0] and 'api="Metadata"' in denied[0], denied[0]
    assert any("weir::audit" in l and "ACL created" in l for l in log.splitlines())


def share_consume(w, user, topic, group, timeout=15):
    c = ShareConsumer({**conf(w, user), "group.id": group})
    c.subscribe([topic])
    return first_record(c, lambda c: c.poll(0.5) or [], timeout)


def test_share_groups_need_read_on_group_and_topic(acl_weir):
    w = acl_weir
    t, g = name("acl-share-"), name("acl-sg-")
    make_topic(w, t)
    assert produce_error(w, "admin", t) is None
    set_group_configs(admin(w), g, {"share.auto.offset.reset": "earliest"})
    # Without READ on the group: the heartbeat is refused.
    grant(w, allow(ResourceType.TOPIC, t, "User:alice", AclOperation.READ))
    got = share_consume(w, "alice", t, g)
    assert isinstance(got, KafkaError) and got.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, got
    grant(w, allow(ResourceType.GROUP, g, "User:alice", AclOperation.READ))
    assert share_consume(w, "alice", t, g) == b"x"
    # READ on the group but nothing on the topic: the subscription is refused.
    grant(w, allow(ResourceType.GROUP, g, "User:bob", AclOperation.READ))
    got = share_consume(w, "bob", t, g)
    assert isinstance(got, KafkaError) and got.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, got
    # DESCRIBE lets the subscription in; the fetch still needs READ on the topic.
    grant(w, allow(ResourceType.TOPIC, t, "User:bob", AclOperation.DESCRIBE))
    got = share_consume(w, "bob", t, g, timeout=8)
    assert isinstance(got, KafkaError) and got.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, got


def _frame(key: int, version: int, body: bytes, flexible: bool) -> bytes:
    client = b"weir-acl-probe"
    header = struct.pack(">hhih", key, version, 1, len(client)) + client + (b"\0" if flexible else b"")
    return struct.pack(">i", len(header) + len(body)) + header + body


def _call(s: socket.socket, key: int, version: int, body: bytes, flexible: bool = False) -> bytes:
    """The response body (after the correlation id and, when flexible, its empty tagged fields)."""
    s.sendall(_frame(key, version, body, flexible))
    size = struct.unpack(">i", _recv_exact(s, 4))[0]
    payload = _recv_exact(s, size)
    assert struct.unpack(">i", payload[:4])[0] == 1
    return payload[5:] if flexible else payload[4:]


def plain_login(w, user: str) -> socket.socket:
    """A connection signed in as `user` with SASL/PLAIN (SaslHandshake v1, SaslAuthenticate v0)."""
    host, port = w.sasl.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    assert _call(s, 17, 1, struct.pack(">h", 5) + b"PLAIN")[:2] == b"\0\0"
    token = b"\0" + user.encode() + b"\0" + USERS[user].encode()
    assert _call(s, 36, 0, struct.pack(">i", len(token)) + token)[:2] == b"\0\0"
    return s


def share_group_describe(w, user: str, group: str) -> tuple[int, str | None]:
    """ShareGroupDescribe v1 (librdkafka has no admin call for it): the group's error code and message."""
    with plain_login(w, user) as s:
        g = group.encode()
        body = _call(s, 77, 1, bytes([2, len(g) + 1]) + g + b"\0\0", flexible=True)
    assert body[4] == 2, "one group"
    code, n = struct.unpack(">h", body[5:7])[0], body[7]
    return code, (body[8:7 + n].decode() if n else None)


def test_a_group_description_naming_topics_the_caller_may_not_describe_is_refused(acl_weir):
    w = acl_weir
    t, sg, cg = name("acl-desc-"), name("acl-desc-sg-"), name("acl-desc-cg-")
    make_topic(w, t)
    assert produce_error(w, "admin", t) is None
    set_group_configs(admin(w), sg, {"share.auto.offset.reset": "earliest"})
    grant(w, allow(ResourceType.TOPIC, t, "User:alice", AclOperation.READ),
          *[allow(ResourceType.GROUP, g, u, AclOperation.READ) for g in (sg, cg) for u in ("User:alice", "User:bob")])
    # Alice holds an assignment of the topic in a share group and in a KIP-848 consumer group.
    share = ShareConsumer({**conf(w, "alice"), "group.id": sg})
    share.subscribe([t])
    modern = Consumer({**conf(w, "alice"), "group.id": cg, "group.protocol": "consumer",
                       "auto.offset.reset": "earliest"})
    modern.subscribe([t])
    try:
        deadline, got = time.monotonic() + 20, set()
        while time.monotonic() < deadline and len(got) < 2:
            if "share" not in got and any(m.error() is None for m in share.poll(0.2) or []):
                got.add("share")
            if "modern" not in got and (m := modern.poll(0.2)) is not None and m.error() is None:
                got.add("modern")
        assert got == {"modern", "share"}, got
        assert share_group_describe(w, "alice", sg) == (0, None)
        assert share_group_describe(w, "bob", sg) == (
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            "The group has described topic(s) that the client is not authorized to describe.")
        mine = admin(w, "alice").describe_consumer_groups([cg])[cg].result(10)
        assert [a.topic for m in mine.members for a in m.assignment.topic_partitions] == [t]
        with pytest.raises(KafkaException) as e:
            admin(w, "bob").describe_consumer_groups([cg])[cg].result(10)
        assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        # DESCRIBE on the topic is enough to see the group.
        grant(w, allow(ResourceType.TOPIC, t, "User:bob", AclOperation.DESCRIBE))
        assert share_group_describe(w, "bob", sg) == (0, None)
        assert len(admin(w, "bob").describe_consumer_groups([cg])[cg].result(10).members) == 1
    finally:
        share.close()
        modern.close()


def _cstr(s: str) -> bytes:
    """A compact string of under 127 bytes (its uvarint length is one byte), as every name here is."""
    b = s.encode()
    assert len(b) < 127
    return bytes([len(b) + 1]) + b


def share_offsets_call(w, user: str, key: int, group: str, topic: str) -> tuple[int, str | None, int | None]:
    """AlterShareGroupOffsets (91, partition 0 to offset 0) or DeleteShareGroupOffsets (92) v0 of one
    topic: the top-level error code and message, and the first partition's (91) or the topic's (92) code."""
    if key == 91:
        parts = b"\x02" + struct.pack(">iq", 0, 0) + b"\0"
        body = _cstr(group) + b"\x02" + _cstr(topic) + parts + b"\0" + b"\0"
    else:
        body = _cstr(group) + b"\x02" + _cstr(topic) + b"\0" + b"\0"
    with plain_login(w, user) as s:
        r = _call(s, key, 0, body, flexible=True)
    code, n = struct.unpack(">h", r[4:6])[0], r[6]
    message = r[7:6 + n].decode() if n else None
    rest = r[7 + max(n - 1, 0):]
    if rest[0] != 2:
        return code, message, None
    name_len = rest[1] - 1
    rest = rest[2 + name_len + 16:]  # past the topic's name and id
    if key == 92:
        return code, message, struct.unpack(">h", rest[:2])[0]
    return code, message, struct.unpack(">h", rest[5:7])[0]  # past the count and the partition index


def test_share_group_offsets_need_the_group_and_topic_acls(acl_weir):
    w = acl_weir
    t, g = name("acl-sgo-"), name("acl-sgo-g-")
    make_topic(w, t)
    refused = (KafkaError.GROUP_AUTHORIZATION_FAILED, "Group authorization failed.", None)
    assert share_offsets_call(w, "alice", 91, g, t) == refused
    grant(w, allow(ResourceType.GROUP, g, "User:alice", AclOperation.READ))
    # READ on the group, nothing on the topic: the topic's partitions are refused.
    assert share_offsets_call(w, "alice", 91, g, t) == (0, None, KafkaError.TOPIC_AUTHORIZATION_FAILED)
    grant(w, allow(ResourceType.TOPIC, t, "User:alice", AclOperation.READ))
    assert share_offsets_call(w, "alice", 91, g, t) == (0, None, 0)
    # Deleting takes DELETE on the group.
    assert share_offsets_call(w, "alice", 92, g, t) == refused
    grant(w, allow(ResourceType.GROUP, g, "User:alice", AclOperation.DELETE))
    assert share_offsets_call(w, "alice", 92, g, t) == (0, None, 0)
