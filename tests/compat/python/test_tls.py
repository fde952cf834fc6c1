"""SSL listeners with real clients: confluent-kafka (librdkafka) and
kafka-python over TLS with client certificates (mTLS), beside a PLAINTEXT
listener of the same broker; clients that cannot authenticate (no
certificate, an expired one, another CA, plaintext on the TLS port, TLS on
the plaintext port) fail cleanly while the broker keeps serving the others;
a changed keystore is loaded without a restart. Certificates come from a
test CA (trustme)."""

from __future__ import annotations

import datetime
import os
import tempfile
import time
import uuid

import pytest
import trustme
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from compat_broker import launch_listeners, serving
from compat_util import kafka_python_round_trip


class Certs:
    def __init__(self, root: str):
        self.root = root
        self.ca = trustme.CA(organization_name="weir tests")
        self.ca_path = self.path("ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_path)
        server = self.ca.issue_cert("127.0.0.1", "localhost", common_name="broker")
        self.keystore = self.path("broker.pem")
        server.private_key_and_cert_chain_pem.write_to_path(self.keystore)
        self.alice = self.client("alice", self.ca)

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def client(self, name: str, ca: trustme.CA, **kw) -> tuple[str, str]:
        leaf = ca.issue_cert(f"{name}@example.com", common_name=name, organization_unit_name="eng", **kw)
        cert, key = self.path(f"{name}-{uuid.uuid4().hex[:6]}.crt"), self.path(f"{name}-{uuid.uuid4().hex[:6]}.key")
        leaf.cert_chain_pems[0].write_to_path(cert)
        leaf.private_key_pem.write_to_path(key)
        return cert, key


@pytest.fixture(scope="module")
def tls_weir():
    root = tempfile.mkdtemp(prefix="weir-tls-")
    certs = Certs(root)
    extra = ["--set", "ssl.keystore.type=PEM", "--set", f"ssl.keystore.location={certs.keystore}",
             "--set", "ssl.truststore.type=PEM", "--set", f"ssl.truststore.location={certs.ca_path}",
             "--set", "ssl.client.auth=required"]
    # Keystore changes are looked for every 200 ms instead of 30 s (read at start).
    handle = launch_listeners(root, "weir-tls", "PLAINTEXT://127.0.0.1:{plain},SSL://127.0.0.1:{p0}", extra,
                              {"WEIR_TLS_RELOAD_MS": "200"}, more_ports=1)
    handle.ssl_bootstrap = f"127.0.0.1:{handle.ports[0]}"
    handle.certs = certs
    yield from serving(handle, root)


def ssl_conf(w, cert_key=None, ca_path=None) -> dict:
    cert, key = cert_key or w.certs.alice
    return {"bootstrap.servers": w.ssl_bootstrap, "security.protocol": "SSL",
            "ssl.ca.location": ca_path or w.certs.ca_path,
            "ssl.certificate.location": cert, "ssl.key.location": key}


def can_connect(conf: dict, timeout: float = 3) -> bool:
    """Whether the client gets metadata within `timeout` (a refused one retries until then)."""
    try:
        AdminClient(conf).list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def test_confluent_kafka_produces_and_consumes_over_tls(tls_weir):
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    p = Producer({**ssl_conf(tls_weir), "linger.ms": 5})
    for i in range(20):
        p.produce(topic, key=str(i).encode(), value=f"secret-{i}".encode())
    assert p.flush(30) == 0
    c = Consumer({**ssl_conf(tls_weir), "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 20 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    c.close()
    assert got == [f"secret-{i}" for i in range(20)]
    # Metadata names the SSL listener to a client that came in on it.
    md = AdminClient(ssl_conf(tls_weir)).list_topics(timeout=10)
    assert [f"{b.host}:{b.port}" for b in md.brokers.values()] == [tls_weir.ssl_bootstrap]
    # The same topic through the PLAINTEXT listener of the same broker.
    md = AdminClient({"bootstrap.servers": tls_weir.bootstrap}).list_topics(timeout=10)
    assert topic in md.topics
    assert [f"{b.host}:{b.port}" for b in md.brokers.values()] == [tls_weir.bootstrap]


def test_kafka_python_over_tls(tls_weir):
    cert, key = tls_weir.certs.alice
    tls = dict(security_protocol="SSL", ssl_cafile=tls_weir.certs.ca_path, ssl_certfile=cert, ssl_keyfile=key)
    assert kafka_python_round_trip(tls_weir.ssl_bootstrap, **tls) == [f"kp-{i}" for i in range(5)]


def test_clients_that_cannot_authenticate_fail_and_the_others_go_on(tls_weir):
    w = tls_weir
    no_cert = {"bootstrap.servers": w.ssl_bootstrap, "security.protocol": "SSL", "ssl.ca.location": w.certs.ca_path}
    assert not can_connect(no_cert), "ssl.client.auth=required: a client without a certificate is refused"
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    expired = w.certs.client("old", w.certs.ca, not_before=past - datetime.timedelta(days=30), not_after=past)
    assert not can_connect(ssl_conf(w, expired)), "an expired client certificate is refused"
    stranger = w.certs.client("mallory", trustme.CA())
    assert not can_connect(ssl_conf(w, stranger)), "a certificate of another CA is refused"
    assert not can_connect({"bootstrap.servers": w.ssl_bootstrap}), "plaintext on the TLS port"
    assert not can_connect({**ssl_conf(w), "bootstrap.servers": w.bootstrap}), "TLS on the plaintext port"
    # Everyone who should still can.
    assert can_connect(ssl_conf(w))
    assert can_connect({"bootstrap.servers": w.bootstrap})


def test_a_new_keystore_is_loaded_without_a_restart(tls_weir):
    w = tls_weir
    ca2 = trustme.CA(organization_name="weir tests, second CA")
    ca2_path = w.certs.path("ca2.pem")
    ca2.cert_pem.write_to_path(ca2_path)
    trusting_ca2 = ssl_conf(w, ca_path=ca2_path)
    assert not can_connect(trusting_ca2), "the broker's certificate is not from the second CA yet"
    staged = w.certs.path("broker-next.pem")
    ca2.issue_cert("127.0.0.1", common_name="broker").private_key_and_cert_chain_pem.write_to_path(staged)
    os.replace(staged, w.certs.keystore)
    deadline = time.monotonic() + 30
    while not can_connect(trusting_ca2, timeout=3):
        assert time.monotonic() < deadline, "the new keystore was never used"
        time.sleep(0.2)
    assert not can_connect(ssl_conf(w), timeout=3), "clients trusting only the old CA now refuse the broker"
