"""The registry and the console behind the broker's identities: both HTTP
listeners over TLS, HTTP basic authentication against the SCRAM users,
client certificates (mTLS), and the broker's ACLs deciding what each
principal may read and write, with Confluent's 401/403 bodies on the registry
and Kafka's error names on the console. confluent-kafka's schema-registry
client and Avro serializer work with `basic.auth.user.info`; without
credentials they get 401."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

from compat_broker import REPO_ROOT, launch_listeners, serving
from test_tls import Certs

USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}
RUN = uuid.uuid4().hex[:6]
# alice owns topic `orders-<run>` (read and write); bob may only read it.
ORDERS = f"orders-{RUN}"
SECRET = f"secret-{RUN}"
SCHEMA = json.dumps({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"}]})


@pytest.fixture(scope="module")
def sec_weir():
    root = tempfile.mkdtemp(prefix="weir-httpsec-")
    certs = Certs(root)
    extra = ["--set", "sasl.enabled.mechanisms=SCRAM-SHA-256",
             "--set", "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
             "--set", "super.users=User:admin",
             "--set", "bootstrap.users=" + ",".join(f"{u}:{p}" for u, p in USERS.items()),
             "--set", f"ssl.keystore.location={certs.keystore}",
             "--set", f"ssl.truststore.location={certs.ca_path}",
             # A client certificate's CN is its user.
             "--set", "ssl.principal.mapping.rules=RULE:^CN=([^,]+),.*$/$1/,DEFAULT",
             "--set", "registry.authentication.method=BASIC",
             "--set", "registry.ssl.client.auth=requested",
             "--set", "console.authentication.method=BASIC"]
    handle = launch_listeners(root, "weir-httpsec", "PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{p0}",
                              extra, more_ports=1, registry_scheme="https")
    handle.sasl = f"127.0.0.1:{handle.ports[0]}"
    handle.certs = certs
    # Kept for the module: a future outlives no client.
    admin = handle.admin = AdminClient(kafka_conf(handle, "admin"))
    for t in (ORDERS, SECRET):
        admin.create_topics([NewTopic(t, 1, 1)])[t].result(10)

    def acl(principal, op, name=ORDERS, pattern=ResourcePatternType.LITERAL):
        return AclBinding(ResourceType.TOPIC, name, pattern, principal, "*", op, AclPermissionType.ALLOW)
    grants = [acl("User:alice", AclOperation.READ), acl("User:alice", AclOperation.WRITE),
              acl("User:bob", AclOperation.READ, "orders-", ResourcePatternType.PREFIXED)]
    for f in admin.create_acls(grants).values():
        f.result(10)
    yield from serving(handle, root)


def kafka_conf(w, user: str) -> dict:
    return {"bootstrap.servers": w.sasl, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": user, "sasl.password": USERS[user]}


def sr(w, user: str | None = None, password: str | None = None, cert=None) -> SchemaRegistryClient:
    conf = {"url": w.registry_url, "ssl.ca.location": w.certs.ca_path}
    if user:
        conf["basic.auth.user.info"] = f"{user}:{password or USERS[user]}"
    if cert:
        conf["ssl.certificate.location"], conf["ssl.key.location"] = cert
    return SchemaRegistryClient(conf)


def http(w, url: str, user: str | None = None, password: str | None = None, method: str = "GET",
         body: bytes | None = None, headers: dict | None = None, cookie: str | None = None):
    """(status, headers, body) of one request, following no redirect."""
    ctx = ssl.create_default_context(cafile=w.certs.ca_path)
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if user:
        token = base64.b64encode(f"{user}:{password or USERS[user]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    if cookie:
        req.add_header("Cookie", cookie)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=ctx))
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_the_registry_serves_tls_and_wants_credentials(sec_weir):
    w = sec_weir
    assert w.registry_url.startswith("https://")
    status, headers, body = http(w, w.registry_url + "/subjects")
    assert status == 401
    assert json.loads(body) == {"error_code": 401, "message": "Unauthorized"}
    assert headers["WWW-Authenticate"] == 'Basic realm="Weir"'
    status, _, body = http(w, w.registry_url + "/subjects", "alice", "wrong-password")
    assert status == 401 and json.loads(body)["error_code"] == 401
    status, _, _ = http(w, w.registry_url + "/subjects", "nobody", "x")
    assert status == 401
    with pytest.raises(SchemaRegistryError) as e:
        sr(w).get_subjects()
    assert e.value.http_status_code == 401 and e.value.error_code == 401
    # The failures are in the audit log with the client's address.
    log = open(w.log_path, encoding="utf-8").read()
    assert "HTTP authentication failed" in log and "user=alice" in log


def test_the_cli_calls_the_tls_registry_with_its_ca_and_credentials(sec_weir):
    """`weir schema` over https: the broker's CA given with --registry-ca and
    alice's credentials lists the subjects; without the CA the certificate is
    refused, without credentials the registry's 401 is reported."""
    w = sec_weir
    weir = os.environ.get("WEIR_BIN") or str(REPO_ROOT / "target" / "release" / "weir")

    def schema(*args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_REGISTRY")}
        return subprocess.run([weir, "schema", "list", "--registry", w.registry_url, *args],
                              capture_output=True, text=True, env=env, timeout=60)
    ok = schema("--registry-ca", w.certs.ca_path, "--registry-user", "alice:" + USERS["alice"])
    assert ok.returncode == 0, ok.stderr
    untrusted = schema("--registry-user", "alice:" + USERS["alice"])
    assert untrusted.returncode != 0 and "TLS with" in untrusted.stderr, untrusted.stderr
    anonymous = schema("--registry-ca", w.certs.ca_path)
    assert anonymous.returncode != 0 and "401" in anonymous.stderr, anonymous.stderr


def test_the_confluent_serializer_with_credentials_round_trips_records(sec_weir):
    w = sec_weir
    client = sr(w, "alice")
    ser = AvroSerializer(client, SCHEMA)
    de = AvroDeserializer(client)
    p = Producer(kafka_conf(w, "alice"))
    value = ser({"id": 42}, SerializationContext(ORDERS, MessageField.VALUE))
    p.produce(ORDERS, value)
    assert p.flush(15) == 0
    c = Consumer({**kafka_conf(w, "alice"), "group.id": f"g-{RUN}", "auto.offset.reset": "earliest"})
    # alice may read the topic but the group needs its own ACL: admin grants it.
    grant = AclBinding(ResourceType.GROUP, f"g-{RUN}", ResourcePatternType.LITERAL, "User:alice", "*",
                       AclOperation.READ, AclPermissionType.ALLOW)
    for f in w.admin.create_acls([grant]).values():
        f.result(10)
    c.subscribe([ORDERS])
    msg = None
    for _ in range(30):
        msg = c.poll(1)
        if msg is not None and not msg.error():
            break
    c.close()
    assert msg is not None and not msg.error(), msg and msg.error()
    assert de(msg.value(), SerializationContext(ORDERS, MessageField.VALUE)) == {"id": 42}


def test_subjects_follow_their_topics_acls(sec_weir):
    w = sec_weir
    alice, bob = sr(w, "alice"), sr(w, "bob")
    from confluent_kafka.schema_registry import Schema
    schema = Schema(SCHEMA, "AVRO")
    # alice may not write a subject of a topic she has no ACL on: Confluent's 40301.
    with pytest.raises(SchemaRegistryError) as e:
        alice.register_schema(f"{SECRET}-value", schema)
    assert e.value.http_status_code == 403 and e.value.error_code == 40301
    assert f"Write on Subject: {SECRET}-value" in e.value.error_message
    # The serializer reports the same refusal.
    with pytest.raises((SerializationError, SchemaRegistryError)):
        AvroSerializer(alice, SCHEMA)({"id": 1}, SerializationContext(SECRET, MessageField.VALUE))
    # A schema of its own (the same text would share its id with orders-value).
    sid = sr(w, "admin").register_schema(f"{SECRET}-value", Schema(SCHEMA.replace("Order", "Secret"), "AVRO"))
    kid = alice.register_schema(f"{ORDERS}-key", Schema('"long"', "AVRO"))
    # bob reads (a prefixed READ ACL) but may not write.
    assert bob.get_latest_version(f"{ORDERS}-value").schema.schema_str
    assert bob.get_schema(kid).schema_str
    with pytest.raises(SchemaRegistryError) as e:
        bob.register_schema(f"{ORDERS}-value", Schema(SCHEMA.replace("Order", "Order2"), "AVRO"))
    assert e.value.http_status_code == 403
    # Lists show what the principal may read; a schema id of unreadable subjects is refused.
    assert set(alice.get_subjects()) == {f"{ORDERS}-value", f"{ORDERS}-key"}
    assert f"{SECRET}-value" in sr(w, "admin").get_subjects()
    with pytest.raises(SchemaRegistryError) as e:
        bob.get_schema(sid)
    assert e.value.http_status_code == 403
    # Global settings need cluster ACLs (admin is a super user).
    status, _, body = http(w, w.registry_url + "/config", "alice", method="PUT",
                           body=b'{"compatibility":"NONE"}',
                           headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    assert status == 403 and json.loads(body)["error_code"] == 40301
    status, _, _ = http(w, w.registry_url + "/config", "admin")
    assert status == 200
    log = open(w.log_path, encoding="utf-8").read()
    assert "weir::audit" in log and "REGISTRY" in log and "User:bob" in log


def test_a_client_certificate_is_an_identity(sec_weir):
    w = sec_weir
    # CN=alice maps to User:alice: the same subjects as her password gives.
    by_cert = sr(w, cert=w.certs.alice)
    assert set(by_cert.get_subjects()) == set(sr(w, "alice").get_subjects())
    # A certificate from another CA fails the handshake.
    import trustme
    stranger = w.certs.client("mallory", trustme.CA())
    with pytest.raises(Exception):
        sr(w, cert=stranger).get_subjects()
    # And the registry still serves everyone else.
    assert sr(w, "admin").get_subjects()


def test_the_console_wants_a_login_and_shows_what_acls_allow(sec_weir):
    w = sec_weir
    c = w.console_url
    assert http(w, c + "/health")[0] == 200, "probes stay open"
    status, headers, body = http(w, c + "/api/v1/topics")
    assert status == 401 and json.loads(body)["error_code"] == "SASL_AUTHENTICATION_FAILED"
    assert headers["WWW-Authenticate"].startswith("Basic")
    status, headers, _ = http(w, c + "/api/v1/topics", headers={"x-weir-console": "1"})
    assert status == 401 and "WWW-Authenticate" not in headers, "no browser password dialog over the page"
    status, _, body = http(w, c + "/login")
    assert status == 200 and b'name="password"' in body
    assert http(w, c + "/metrics")[0] == 401
    # Basic credentials: alice sees her topic only; bob his prefix; admin all.
    topics = lambda user: {t["name"] for t in json.loads(http(w, c + "/api/v1/topics?limit=1000", user)[2])["topics"]}
    assert topics("alice") == {ORDERS}
    assert topics("bob") == {ORDERS}
    assert {ORDERS, SECRET} <= topics("admin")
    status, _, body = http(w, c + f"/api/v1/topics/{SECRET}", "alice")
    assert status == 403 and json.loads(body)["error_code"] == "TOPIC_AUTHORIZATION_FAILED"
    status, _, body = http(w, c + "/api/v1/cluster", "alice")
    assert status == 403 and json.loads(body)["error_code"] == "CLUSTER_AUTHORIZATION_FAILED"
    assert http(w, c + "/api/v1/cluster", "admin")[0] == 200
    assert http(w, c + "/metrics", "admin")[0] == 200
    status, _, body = http(w, c + "/api/v1/topics", "bob", method="POST", body=b'{"name":"bobs"}',
                           headers={"Content-Type": "application/json"})
    assert status == 403 and json.loads(body)["error_code"] == "TOPIC_AUTHORIZATION_FAILED"
    # bob may read orders' messages but not produce to them.
    assert http(w, c + f"/api/v1/topics/{ORDERS}/messages", "bob")[0] == 200
    status, _, body = http(w, c + f"/api/v1/topics/{ORDERS}/messages", "bob", method="POST",
                           body=b'{"value":"x"}', headers={"Content-Type": "application/json"})
    assert status == 403, body


def test_the_console_login_form_sets_a_session(sec_weir):
    w = sec_weir
    c = w.console_url
    form = lambda user, pw: urllib.parse.urlencode({"username": user, "password": pw, "next": "/#/topics"}).encode()
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = http(w, c + "/login", method="POST", body=form("alice", "nope"), headers=ctype)
    assert status == 401 and b"Invalid username or password" in body
    status, headers, _ = http(w, c + "/login", method="POST", body=form("alice", USERS["alice"]), headers=ctype)
    assert status == 303 and headers["Location"] == "/#/topics"
    cookie = headers["Set-Cookie"].split(";")[0]
    assert cookie.startswith("weir_session=") and "HttpOnly" in headers["Set-Cookie"]
    status, _, body = http(w, c + "/api/v1/whoami", cookie=cookie)
    me = json.loads(body)
    assert status == 200 and me["principal"] == "User:alice" and me["via"] == "login"
    assert me["cluster"]["describe"] is False
    # A login never leads off the console.
    status, headers, _ = http(w, c + "/login", method="POST", headers=ctype, body=urllib.parse.urlencode(
        {"username": "alice", "password": USERS["alice"], "next": "//evil.example/"}).encode())
    assert status == 303 and headers["Location"] == "/"
    # Logging out ends the session.
    status, headers, _ = http(w, c + "/logout", method="POST", cookie=cookie)
    assert status == 303 and "Max-Age=0" in headers["Set-Cookie"]
    assert http(w, c + "/api/v1/whoami", cookie=cookie)[0] == 401
    # So does a password change: the session remembers the credential it logged in with.
    status, headers, _ = http(w, c + "/login", method="POST", body=form("bob", USERS["bob"]), headers=ctype)
    cookie = headers["Set-Cookie"].split(";")[0]
    assert http(w, c + "/api/v1/whoami", cookie=cookie)[0] == 200
    from confluent_kafka.admin import UserScramCredentialUpsertion, ScramCredentialInfo, ScramMechanism
    up = UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                      b"bob-new-secret", b"salt-of-bob")
    for f in w.admin.alter_user_scram_credentials([up]).values():
        f.result(10)
    assert http(w, c + "/api/v1/whoami", cookie=cookie)[0] == 401
    assert http(w, c + "/api/v1/whoami", "bob", "bob-new-secret")[0] == 200
    USERS["bob"] = "bob-new-secret"
