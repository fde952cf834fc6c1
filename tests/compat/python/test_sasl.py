"""SASL with real clients: confluent-kafka (librdkafka) and kafka-python over
SASL_SSL and SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 against
users created at start-up (WEIR_BOOTSTRAP_USERS) and with the Admin API
(AlterUserScramCredentials); OAUTHBEARER with RS256 tokens checked against a
JWKS file, and against an identity provider's HTTPS endpoint that rotates its
key; KIP-368 re-authentication on a short session lifetime. A wrong
password, an unknown user, a forged or expired token, plaintext on the SASL
port and SASL on the plaintext port fail cleanly while the broker keeps
serving the others."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
import time
import uuid

import http.server
import ssl
import subprocess
import threading

import pytest
import trustme
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from compat_broker import BrokerHandle, broker_ca, launch_listeners, serving
from compat_util import kafka_python_round_trip

MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """An OAuth issuer: an RSA key, its JWKS file, and tokens it signs."""

    def __init__(self, path: str, kid: str = "k1"):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid
        nums = self.key.public_key().public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
        self.jwks = {"keys": [{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                               "n": b64url(n), "e": b64url(e)}]}
        self.path = path

    def write(self):
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(self.jwks, f)

    def token(self, sub: str, lifetime_s: float = 600, aud: str = "kafka") -> tuple[str, float]:
        exp = time.time() + lifetime_s
        head = b64url(json.dumps({"alg": "RS256", "kid": self.kid, "typ": "JWT"}).encode())
        claims = b64url(json.dumps({"sub": sub, "exp": int(exp), "iat": int(time.time()),
                                    "iss": "https://idp.test", "aud": aud}).encode())
        signing_input = f"{head}.{claims}".encode()
        sig = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{claims}.{b64url(sig)}", exp


def start_weir(root: str, extra: list[str], env: dict) -> BrokerHandle:
    handle = launch_listeners(root, "weir-sasl", "PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{p0},"
                              "SASL_SSL://127.0.0.1:{p1}", extra, env, more_ports=2)
    handle.sasl_plaintext = f"127.0.0.1:{handle.ports[0]}"
    handle.sasl_ssl = f"127.0.0.1:{handle.ports[1]}"
    return handle


@pytest.fixture(scope="module")
def sasl_weir():
    root = tempfile.mkdtemp(prefix="weir-sasl-")
    ca_path, keystore = broker_ca(root, "weir sasl tests")
    issuer = Issuer(os.path.join(root, "jwks.json"))
    issuer.write()
    extra = ["--set", "ssl.keystore.type=PEM", "--set", f"ssl.keystore.location={keystore}",
             "--set", "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
             "--set", f"sasl.oauthbearer.jwks.endpoint.url=file://{issuer.path}",
             "--set", "sasl.oauthbearer.expected.audience=kafka",
             "--set", "sasl.oauthbearer.expected.issuer=https://idp.test"]
    handle = start_weir(root, extra, {"WEIR_BOOTSTRAP_USERS": "admin:admin-secret,alice:alice-secret"})
    handle.ca_path = ca_path
    handle.issuer = issuer
    yield from serving(handle, root)


def conf(w, mechanism: str, user: str = "alice", password: str = "alice-secret", tls: bool = True) -> dict:
    c = {"bootstrap.servers": w.sasl_ssl if tls else w.sasl_plaintext,
         "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
         "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}
    if tls:
        c["ssl.ca.location"] = w.ca_path
    return c


def can_connect(c: dict, timeout: float = 4) -> bool:
    try:
        AdminClient(c).list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def round_trip(c: dict, n: int = 10) -> list[str]:
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    p = Producer({**c, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, value=f"v{i}".encode())
    assert p.flush(30) == 0
    cons = Consumer({**c, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    cons.subscribe([topic])
    got, deadline = [], time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        m = cons.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    cons.close()
    return got


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_confluent_kafka_over_sasl_ssl(sasl_weir, mechanism):
    assert round_trip(conf(sasl_weir, mechanism)) == [f"v{i}" for i in range(10)]
    md = AdminClient(conf(sasl_weir, mechanism)).list_topics(timeout=10)
    assert [f"{b.host}:{b.port}" for b in md.brokers.values()] == [sasl_weir.sasl_ssl], \
        "Metadata names the listener the client came in on"


def test_confluent_kafka_over_sasl_plaintext(sasl_weir):
    assert round_trip(conf(sasl_weir, "SCRAM-SHA-512", tls=False), 3) == ["v0", "v1", "v2"]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python_over_sasl_ssl(sasl_weir, mechanism):
    import ssl

    ctx = ssl.create_default_context(cafile=sasl_weir.ca_path)
    auth = dict(security_protocol="SASL_SSL", ssl_context=ctx, sasl_mechanism=mechanism,
                sasl_plain_username="alice", sasl_plain_password="alice-secret")
    assert kafka_python_round_trip(sasl_weir.sasl_ssl, **auth) == [f"kp-{i}" for i in range(5)]


def test_kafka_python_wrong_password_is_an_authentication_error(sasl_weir, caplog):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=sasl_weir.sasl_plaintext, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="alice",
                      sasl_plain_password="nope", bootstrap_timeout_ms=3000)
    failures = [r.getMessage() for r in caplog.records if "SaslAuthenticationFailedError" in r.getMessage()]
    assert failures and all("invalid credentials" in f for f in failures), failures


def test_bad_credentials_fail_cleanly_and_the_others_go_on(sasl_weir):
    w = sasl_weir
    for mechanism in MECHANISMS:
        assert not can_connect(conf(w, mechanism, password="wrong")), f"{mechanism}: a wrong password"
        assert not can_connect(conf(w, mechanism, user="mallory")), f"{mechanism}: an unknown user"
    assert not can_connect({"bootstrap.servers": w.sasl_plaintext}), "plaintext on the SASL port"
    assert not can_connect({**conf(w, "PLAIN", tls=False), "bootstrap.servers": w.bootstrap}), \
        "SASL on the plaintext port"
    # The reason reaches the client: librdkafka reports the broker's message.
    errors = []
    p = Producer({**conf(w, "SCRAM-SHA-256", password="wrong"), "error_cb": errors.append})
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    assert any("invalid credentials" in e.str() for e in errors), [e.str() for e in errors]
    # The failures are logged with the client's address.
    log = open(w.log_path, encoding="utf-8", errors="replace").read()
    assert re.search(r"SASL authentication failed.*peer=127\.0\.0\.1", log) or \
        re.search(r"peer=127\.0\.0\.1.*SASL authentication failed", log), "failures are logged with the peer"
    for mechanism in MECHANISMS:
        assert can_connect(conf(w, mechanism)), mechanism
    assert can_connect({"bootstrap.servers": w.bootstrap})


def test_users_are_managed_with_the_admin_api(sasl_weir):
    w = sasl_weir
    admin = AdminClient(conf(w, "SCRAM-SHA-256", "admin", "admin-secret"))
    user = f"u{uuid.uuid4().hex[:6]}"
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    futs = admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, b"pw-1")])
    futs[user].result(10)
    assert can_connect(conf(w, "SCRAM-SHA-512", user, "pw-1"))
    assert can_connect(conf(w, "PLAIN", user, "pw-1")), "PLAIN checks the SCRAM credential"
    assert not can_connect(conf(w, "SCRAM-SHA-256", user, "pw-1")), "no SCRAM-SHA-256 credential"
    described = admin.describe_user_scram_credentials([user])[user].result(10)
    assert [(i.mechanism, i.iterations) for i in described.scram_credential_infos] == \
        [(ScramMechanism.SCRAM_SHA_512, 8192)]
    futs = admin.alter_user_scram_credentials([UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)])
    futs[user].result(10)
    assert not can_connect(conf(w, "SCRAM-SHA-512", user, "pw-1")), "deleted"
    # The bootstrap users have both mechanisms.
    boot = admin.describe_user_scram_credentials(["admin", "alice"])
    for name in ["admin", "alice"]:
        mechs = sorted(i.mechanism.value for i in boot[name].result(10).scram_credential_infos)
        assert mechs == [ScramMechanism.SCRAM_SHA_256.value, ScramMechanism.SCRAM_SHA_512.value], name


def test_kcat_over_sasl_ssl(sasl_weir):
    w = sasl_weir
    kcat = shutil.which("kcat")
    if kcat is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kcat is missing: scripts/test installs it (apt-get install kcat)")
        pytest.skip("kcat is not installed")
    topic = f"sasl-kcat-{uuid.uuid4().hex[:8]}"
    auth = ["-b", w.sasl_ssl, "-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={w.ca_path}",
            "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"]
    subprocess.run([kcat, *auth, "-P", "-t", topic], input=b"first\nsecond\n", check=True, timeout=60)
    out = subprocess.run([kcat, *auth, "-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                         capture_output=True, check=True, timeout=60)
    assert out.stdout.decode().split() == ["first", "second"]
    bad = [a.replace("alice-secret", "wrong") for a in auth]
    refused = subprocess.run([kcat, *bad, "-L", "-m", "5"], capture_output=True, timeout=60)
    assert refused.returncode != 0
    assert b"invalid credentials" in refused.stderr, refused.stderr


def oauth_conf(w, make_token) -> dict:
    def cb(_config):
        return make_token()
    return {"bootstrap.servers": w.sasl_ssl, "security.protocol": "SASL_SSL", "ssl.ca.location": w.ca_path,
            "sasl.mechanism": "OAUTHBEARER", "oauth_cb": cb}


def test_oauthbearer_tokens_signed_by_the_issuer(sasl_weir):
    w = sasl_weir
    assert round_trip(oauth_conf(w, lambda: w.issuer.token("svc-orders")), 3) == ["v0", "v1", "v2"]
    stranger = Issuer(os.path.join(w.data_dir, "other.json"))
    assert not can_connect(oauth_conf(w, lambda: stranger.token("svc-orders"))), "another issuer's key"
    assert not can_connect(oauth_conf(w, lambda: w.issuer.token("svc", aud="elsewhere"))), "another audience"
    expired = w.issuer.token("svc", lifetime_s=-120)[0]
    assert not can_connect(oauth_conf(w, lambda: (expired, time.time() + 60))), "an expired token"
    unsecured = {"bootstrap.servers": w.sasl_ssl, "security.protocol": "SASL_SSL", "ssl.ca.location": w.ca_path,
                 "sasl.mechanism": "OAUTHBEARER", "enable.sasl.oauthbearer.unsecure.jwt": True,
                 "sasl.oauthbearer.config": "principal=admin"}
    assert not can_connect(unsecured), "an unsigned token (alg none)"
    assert can_connect(oauth_conf(w, lambda: w.issuer.token("svc-orders")))


class JwksEndpoint:
    """An identity provider's JWKS endpoint over HTTPS (a trustme CA), serving
    whatever ``jwks`` holds now and counting the requests."""

    def __init__(self, root: str, jwks: dict):
        self.jwks, self.requests = jwks, 0
        ca = trustme.CA()
        self.ca_path = os.path.join(root, "idp-ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                endpoint.requests += 1
                body = json.dumps(endpoint.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(ctx)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/realms/test/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def idp_weir():
    """A broker whose OAUTHBEARER keys come from an HTTPS endpoint, trusted
    through SSL_CERT_FILE as any program trusts a private CA."""
    root = tempfile.mkdtemp(prefix="weir-idp-")
    ca_path, keystore = broker_ca(root, "weir idp tests")
    issuer = Issuer(os.path.join(root, "unused.json"))
    idp = JwksEndpoint(root, issuer.jwks)
    extra = ["--set", "ssl.keystore.type=PEM", "--set", f"ssl.keystore.location={keystore}",
             "--set", "sasl.enabled.mechanisms=OAUTHBEARER",
             "--set", f"sasl.oauthbearer.jwks.endpoint.url={idp.url}",
             "--set", "sasl.oauthbearer.expected.audience=kafka",
             "--set", "sasl.oauthbearer.expected.issuer=https://idp.test"]
    handle = start_weir(root, extra, {"SSL_CERT_FILE": idp.ca_path})
    handle.ca_path, handle.issuer, handle.idp = ca_path, issuer, idp
    try:
        yield from serving(handle, root)
    finally:
        idp.close()


def test_oauthbearer_keys_from_an_https_endpoint_follow_its_rotation(idp_weir):
    """The key set is fetched at start-up; when the provider rotates to a key
    under a new id, the first token naming it makes the broker fetch the set
    again, the client's retry gets in, and the retired key's tokens are refused."""
    w = idp_weir
    assert w.idp.requests >= 1
    assert round_trip(oauth_conf(w, lambda: w.issuer.token("svc-orders")), 3) == ["v0", "v1", "v2"]
    fetched = w.idp.requests
    rotated = Issuer(os.path.join(w.data_dir, "unused2.json"), kid="k2")
    w.idp.jwks = rotated.jwks
    deadline, joined = time.monotonic() + 60, False
    while not joined and time.monotonic() < deadline:
        joined = can_connect(oauth_conf(w, lambda: rotated.token("svc-orders")), timeout=10)
    assert joined, "a token signed with the rotated key is accepted once the set is fetched again"
    assert w.idp.requests > fetched
    assert not can_connect(oauth_conf(w, lambda: w.issuer.token("svc-orders"))), "the retired key"
    assert round_trip(oauth_conf(w, lambda: rotated.token("svc-orders")), 2) == ["v0", "v1"]
    log = open(w.log_path, encoding="utf-8", errors="replace").read()
    assert "JWKS fetched" in log


@pytest.fixture(scope="module")
def reauth_weir():
    root = tempfile.mkdtemp(prefix="weir-reauth-")
    ca = trustme.CA()
    keystore = os.path.join(root, "broker.pem")
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(keystore)
    extra = ["--set", "ssl.keystore.type=PEM", "--set", f"ssl.keystore.location={keystore}",
             "--set", "connections.max.reauth.ms=2000", "--set", "bootstrap.users=alice:alice-secret"]
    yield from serving(start_weir(root, extra, {}), root)


def test_clients_re_authenticate_before_their_session_expires(reauth_weir):
    """KIP-368: sessions last 2 s; a producer and a consumer working for 8 s
    re-authenticate on their connections and lose nothing."""
    w = reauth_weir
    c = conf(w, "SCRAM-SHA-256", tls=False)
    topic = f"reauth-{uuid.uuid4().hex[:8]}"
    p = Producer({**c, "linger.ms": 5})
    cons = Consumer({**c, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    cons.subscribe([topic])
    sent, got = 0, []
    end = time.monotonic() + 8
    while time.monotonic() < end:
        p.produce(topic, value=f"m{sent}".encode())
        sent += 1
        p.poll(0)
        m = cons.poll(0.1)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    assert p.flush(30) == 0
    deadline = time.monotonic() + 30
    while len(got) < sent and time.monotonic() < deadline:
        m = cons.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    cons.close()
    assert got == [f"m{i}" for i in range(sent)]
    log = open(w.log_path, encoding="utf-8", errors="replace").read()
    reauths = len(re.findall(r"SASL authentication succeeded.*reauth=true", log))
    assert reauths >= 2, f"connections re-authenticated ({reauths} seen)"
    assert "session of User:alice expired" not in log, "no connection outlived its session"
