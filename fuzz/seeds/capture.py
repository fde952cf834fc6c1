"""Captures the fuzz seed corpora from real clients (run by hand; the output is
committed under fuzz/corpus/).

A weir broker is started on a temporary data directory, advertising a
forwarding proxy in front of it, so every connection of every client passes
through the proxy; what each client connection writes (whole frames, cut at
64 KiB) becomes one `request_frame` seed. librdkafka (confluent-kafka) and
kafka-python run a producer (plain, compressed with each codec, idempotent,
transactional), consumers in a group committing offsets, and admin calls. The
batches the broker then holds in its segments (as the clients wrote them,
offsets assigned) become the `record_batch` seeds.

    .venv/bin/python fuzz/seeds/capture.py [--weir target/release/weir]
"""

import argparse
import hashlib
import os
import pathlib
import socket
import struct
import subprocess
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fuzz" / "corpus"
MAX_SEED = 65536
KAFKA, PROXY = 19392, 19393


def free_port_wait(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def save(target, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def pipe(src, dst, record):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if record is not None:
                record.extend(b)
            dst.sendall(b)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def whole_frames(stream):
    """The longest prefix of whole frames, at most MAX_SEED bytes."""
    pos = 0
    while pos + 4 <= len(stream):
        size = struct.unpack(">i", stream[pos:pos + 4])[0]
        if pos + 4 + size > min(len(stream), MAX_SEED):
            break
        pos += 4 + size
    return bytes(stream[:pos])


def proxy(stop, streams):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", PROXY))
    srv.listen(64)
    srv.settimeout(0.2)
    while not stop.is_set():
        try:
            client, _ = srv.accept()
        except socket.timeout:
            continue
        upstream = socket.create_connection(("127.0.0.1", KAFKA))
        rec = bytearray()
        streams.append(rec)
        threading.Thread(target=pipe, args=(client, upstream, rec), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client, None), daemon=True).start()
    srv.close()


def librdkafka_workload(bootstrap):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic("seed-a", 3, 1), NewTopic("seed-c", 1, 1, config={"cleanup.policy": "compact"})]).values():
        f.result()
    admin.create_partitions([NewPartitions("seed-a", 4)])["seed-a"].result()
    admin.describe_configs([ConfigResource("topic", "seed-a")])
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
    entry = ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)
    for f in admin.incremental_alter_configs([ConfigResource("topic", "seed-a", incremental_configs=[entry])]).values():
        f.result()
    admin.list_topics(timeout=10)
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "enable.idempotence": codec == "zstd", "linger.ms": 5})
        for i in range(20):
            p.produce("seed-a", key=f"k{i}".encode(), value=(f"value {i} " * (i + 1)).encode(), headers=[("h", b"v")])
        p.produce("seed-c", key=b"same", value=b"x")
        p.flush(10)
    tp = Producer({"bootstrap.servers": bootstrap, "transactional.id": "seed-txn"})
    tp.init_transactions(10)
    tp.begin_transaction()
    tp.produce("seed-a", value=b"in a transaction", partition=0)
    tp.commit_transaction(10)
    tp.begin_transaction()
    tp.produce("seed-a", value=b"aborted", partition=1)
    tp.abort_transaction(10)
    for group, proto in [("seed-classic", "classic"), ("seed-848", "consumer")]:
        conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                "group.protocol": proto, "isolation.level": "read_committed"}
        c = Consumer(conf)
        c.subscribe(["seed-a"])
        got, end = 0, time.time() + 20
        while got < 30 and time.time() < end:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        c.commit(asynchronous=False)
        c.committed([TopicPartition("seed-a", 0)], 10)
        c.close()
    admin.list_consumer_groups().result()
    admin.describe_consumer_groups(["seed-classic"])["seed-classic"].result()
    admin.delete_topics(["seed-c"])["seed-c"].result()


def kafka_python_workload(bootstrap):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic("seed-kp", 2, 1)])
    admin.describe_cluster()
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip", acks="all")
    for i in range(20):
        p.send("seed-kp", key=b"k", value=f"kafka-python {i}".encode())
    p.flush()
    p.close()
    c = KafkaConsumer("seed-kp", bootstrap_servers=bootstrap, group_id="seed-kp-group",
                      auto_offset_reset="earliest", consumer_timeout_ms=5000)
    for _ in c:
        pass
    c.commit()
    c.close()
    admin.list_groups()
    admin.describe_groups(["seed-kp-group"])
    admin.list_group_offsets("seed-kp-group")
    admin.describe_topics(["seed-kp"])
    admin.describe_log_dirs()
    admin.list_transactions()
    admin.close()


def record_batch_seeds(data_dir):
    for log in pathlib.Path(data_dir).glob("seed-*/*.log"):
        buf = log.read_bytes()
        pos = 0
        while pos + 12 <= len(buf):
            size = struct.unpack(">i", buf[pos + 8:pos + 12])[0]
            if size <= 0 or pos + 12 + size > len(buf):
                break
            save("record_batch", b"\x00" + buf[pos:pos + 12 + size])
            pos += 12 + size


MM2 = """clusters = A, B
A.bootstrap.servers = a1:9092,a2:9092
B.bootstrap.servers = b1:9092
B.security.protocol = SASL_SSL
B.sasl.mechanism = SCRAM-SHA-512
A->B.enabled = true
A->B.topics = orders, pay.*
topics.exclude = .*-tmp
A->B.consumer.fetch.min.bytes = 1024
A->B.producer.linger.ms = 5
replication.factor = 1
sync.group.offsets.enabled = true
A->B.mirror.mode = preserve
replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy
"""

SERVER_PROPERTIES = """# Kafka's server.properties form
log.dirs=/var/lib/weir
listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093
num.partitions=3
log.retention.hours=168
max.connections.per.ip.overrides=127.0.0.1:10
compression.type=zstd
group.consumer.assignors=uniform,range
message.max.bytes=1048588
"""

AVRO = [
    '{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},'
    '{"name":"name","type":["null","string"],"default":null},{"name":"tags","type":{"type":"array","items":"string"}},'
    '{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},'
    '{"name":"m","type":{"type":"map","values":"double"}},{"name":"f","type":{"type":"fixed","name":"F","size":4}}]}',
    '{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},'
    '{"name":"email","type":"string","default":""}]}',
    '"string"',
]
JSON_SCHEMAS = [
    '{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"tags":{"type":"array",'
    '"items":{"type":"string"}}},"required":["id"],"additionalProperties":false}',
    '{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"id":{"type":"number"},'
    '"o":{"oneOf":[{"type":"string"},{"type":"null"}]}},"additionalProperties":true}',
]
PROTOS = [
    'syntax = "proto3";\npackage com.example;\nmessage User { int64 id = 1; string name = 2; repeated string tags = 3;\n'
    '  map<string, int32> counts = 4; oneof c { string email = 5; string phone = 6; } enum K { K0 = 0; K1 = 1; } K k = 7; }\n',
    'syntax = "proto3";\npackage com.example;\nmessage User { int64 id = 1; reserved 2; }\n',
    "ChFjb21wYXRfc2hvcC5wcm90bxIKY29tcGF0c2hvcCJdCgVPcmRlchIKCgJpZBgBIAEoAxIMCgRub3RlGAIgASgJEiUKBWl0ZW1zGAMgAygLMhYu"
    "Y29tcGF0c2hvcC5PcmRlci5JdGVtGhMKBEl0ZW0SCwoDc2t1GAEgASgJYgZwcm90bzM=",
]
PAYLOADS = [b"\x02\x06abc\x00", b'{"id": 1, "name": "a"}', b"\x08\x01\x12\x01a"]


def file_seeds():
    save("config_files", b"\x00" + (ROOT / "weir.toml").read_bytes())
    save("config_files", b"\x01" + SERVER_PROPERTIES.encode())
    save("config_files", b"\x02" + MM2.encode())
    for ty, schemas in enumerate([AVRO, JSON_SCHEMAS, PROTOS]):
        for level in range(7):
            old, new = schemas[level % len(schemas)], schemas[(level + 1) % len(schemas)]
            payload = PAYLOADS[ty]
            save("registry_schema", bytes([ty, level]) + old.encode() + b"\x00" + new.encode() + b"\x00" + payload)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", default=str(ROOT / "target" / "release" / "weir"))
    args = ap.parse_args()
    data = tempfile.mkdtemp(prefix="weir-capture-")
    weir = subprocess.Popen([args.weir, "serve", "--data-dir", data, "--kafka-addr", f"127.0.0.1:{KAFKA}",
                             "--registry-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0",
                             "--set", f"advertised.listeners=PLAINTEXT://127.0.0.1:{PROXY}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop, streams = threading.Event(), []
    t = threading.Thread(target=proxy, args=(stop, streams), daemon=True)
    try:
        free_port_wait(KAFKA)
        t.start()
        bootstrap = f"127.0.0.1:{PROXY}"
        librdkafka_workload(bootstrap)
        kafka_python_workload(bootstrap)
        time.sleep(1)
    finally:
        stop.set()
        weir.terminate()
        weir.wait(30)
    kept = 0
    for s in streams:
        seed = whole_frames(s)
        if seed:
            save("request_frame", seed)
            kept += 1
    record_batch_seeds(data)
    file_seeds()
    print(f"request_frame: {kept} connection streams; record_batch: {len(list((CORPUS / 'record_batch').iterdir()))} batches")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
