"""confluent-kafka's SchemaRegistryClient and its Avro, JSON Schema and Protobuf
serializers against Weir's built-in registry: records are produced and consumed
through the broker with the Confluent wire format (magic byte + schema id), the
registry assigns and serves the ids, evolves schemas under BACKWARD compatibility
and refuses an incompatible one with the error Confluent sends.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from compat_util import DEADLINE, unique_topic, wait_until

T = 30

USER_V1 = """{"type": "record", "name": "User", "namespace": "com.example",
 "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}]}"""
USER_V2 = """{"type": "record", "name": "User", "namespace": "com.example",
 "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"},
            {"name": "email", "type": ["null", "string"], "default": null}]}"""
USER_BAD = """{"type": "record", "name": "User", "namespace": "com.example",
 "fields": [{"name": "id", "type": "long"}, {"name": "age", "type": "int"}]}"""


@pytest.fixture(scope="module")
def client(registry_url):
    return SchemaRegistryClient({"url": registry_url})


def new_topic(bootstrap, prefix):
    name = unique_topic(f"sr-{prefix}")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1)], operation_timeout=T)[name].result(timeout=DEADLINE)
    return name


def round_trip(bootstrap, topic, serializer, deserializer, values):
    """Produce ``values`` serialized, consume them, return them deserialized."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for v in values:
        p.produce(topic, value=serializer(v, SerializationContext(topic, MessageField.VALUE)), partition=0)
    assert p.flush(DEADLINE) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "sr-unused", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        raw = []

        def poll():
            for m in c.consume(100, 0.5):
                assert not m.error(), m.error()
                raw.append(m.value())
            return len(raw) >= len(values)

        wait_until(poll, f"{len(values)} records")
    finally:
        c.close()
    # Confluent wire format: magic 0, then a 4-byte schema id.
    assert all(r[0] == 0 for r in raw)
    return [deserializer(r, SerializationContext(topic, MessageField.VALUE)) for r in raw]


def test_avro_serializer_round_trip_and_evolution(client, bootstrap):
    topic = new_topic(bootstrap, "avro")
    subject = f"{topic}-value"
    ser = AvroSerializer(client, USER_V1)
    de = AvroDeserializer(client)
    users = [{"id": i, "name": f"user-{i}"} for i in range(20)]
    assert round_trip(bootstrap, topic, ser, de, users) == users
    latest = client.get_latest_version(subject)
    assert latest.version == 1
    v1_id = latest.schema_id
    assert client.get_schema(v1_id).schema_str.replace(" ", "") == USER_V1.replace(" ", "").replace("\n", "")

    # A compatible evolution (BACKWARD by default): v2 reads v1 data.
    assert client.test_compatibility(subject, Schema(USER_V2, "AVRO")) is True
    ser2 = AvroSerializer(client, USER_V2)
    more = [{"id": 100 + i, "name": "n", "email": f"e{i}@x"} for i in range(5)]
    got = round_trip(bootstrap, topic, ser2, de, more)
    assert [g["email"] for g in got[-5:]] == [m["email"] for m in more]
    # (get_latest_version is cached by the client: ask for the list.)
    assert client.get_versions(subject) == [1, 2]
    assert client.get_version(subject, 2).schema_id != v1_id

    # An incompatible one is refused with Confluent's 409.
    assert client.test_compatibility(subject, Schema(USER_BAD, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as info:
        client.register_schema(subject, Schema(USER_BAD, "AVRO"))
    assert info.value.http_status_code == 409 and info.value.error_code == 409

    # Lookups, config and deletes through the client.
    reg = client.lookup_schema(subject, Schema(USER_V1, "AVRO"))
    assert (reg.schema_id, reg.version) == (v1_id, 1)
    client.set_compatibility(subject, "FULL")
    assert client.get_compatibility(subject) == "FULL"
    assert client.delete_version(subject, 1) == 1
    assert client.get_versions(subject) == [2]
    assert sorted(client.delete_subject(subject)) == [2]
    assert subject not in client.get_subjects()


def test_json_schema_serializer_round_trip(client, bootstrap):
    topic = new_topic(bootstrap, "json")
    schema = """{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order",
      "type": "object", "properties": {"id": {"type": "integer"}, "item": {"type": "string"}},
      "required": ["id"]}"""
    ser = JSONSerializer(schema, client)
    de = JSONDeserializer(schema)
    orders = [{"id": i, "item": f"thing-{i}"} for i in range(10)]
    assert round_trip(bootstrap, topic, ser, de, orders) == orders
    latest = client.get_latest_version(f"{topic}-value")
    assert latest.schema.schema_type == "JSON"


def _order_class():
    """A protobuf message class built at run time (no protoc needed)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="compat_shop.proto", package="compatshop", syntax="proto3")
    m = fdp.message_type.add(name="Order")
    F = descriptor_pb2.FieldDescriptorProto
    m.field.add(name="id", number=1, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    m.field.add(name="note", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    item = m.nested_type.add(name="Item")
    item.field.add(name="sku", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    m.field.add(name="items", number=3, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                type_name=".compatshop.Order.Item")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("compatshop.Order"))


def test_protobuf_serializer_round_trip(client, bootstrap):
    Order = _order_class()
    topic = new_topic(bootstrap, "proto")
    ser = ProtobufSerializer(Order, client, {"use.deprecated.format": False})
    de = ProtobufDeserializer(Order, {"use.deprecated.format": False})
    orders = []
    for i in range(10):
        o = Order(id=i, note=f"n{i}")
        o.items.add(sku=f"sku-{i}")
        orders.append(o)
    got = round_trip(bootstrap, topic, ser, de, orders)
    assert [g.id for g in got] == list(range(10))
    assert got[3].items[0].sku == "sku-3"
    latest = client.get_latest_version(f"{topic}-value")
    assert latest.schema.schema_type == "PROTOBUF"
    # The registry stores .proto text, whatever form the serializer sent.
    assert "message Order" in latest.schema.schema_str and "int64 id = 1;" in latest.schema.schema_str


def test_broker_side_schema_validation(client, bootstrap):
    """A topic with confluent.value.schema.validation=true takes records that the
    AvroSerializer framed with a registered id and refuses plain bytes with
    INVALID_RECORD, writing nothing of them."""
    from confluent_kafka import KafkaError

    name = unique_topic("sr-validated")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, 1, config={"confluent.value.schema.validation": "true"})
    admin.create_topics([topic], operation_timeout=T)[name].result(timeout=DEADLINE)
    ser = AvroSerializer(client, USER_V1)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": 0})
    outcomes = []

    def report(err, msg):
        outcomes.append(err.code() if err else None)

    p.produce(name, value=ser({"id": 1, "name": "a"}, SerializationContext(name, MessageField.VALUE)),
              partition=0, on_delivery=report)
    assert p.flush(DEADLINE) == 0
    p.produce(name, value=b"not framed", partition=0, on_delivery=report)
    assert p.flush(DEADLINE) == 0
    p.produce(name, value=b"\x00\x7f\xff\xff\xf0 unknown id", partition=0, on_delivery=report)
    assert p.flush(DEADLINE) == 0
    assert outcomes == [None, KafkaError.INVALID_RECORD, KafkaError.INVALID_RECORD]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "sr-unused"})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(name, 0), timeout=T)
    finally:
        c.close()
    assert (low, high) == (0, 1)
