"""confluent-kafka's serializers and registry client against the rules Weir's
registry shares with Confluent Schema Registry (issue 21): one id for one schema
whatever its form (also under ``normalize.schemas``), Protobuf schemas that use
well-known types, the serialized descriptor format, and Confluent's errors.
"""

from __future__ import annotations

import base64
import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from compat_util import unique_topic


@pytest.fixture(scope="module")
def client(registry_url):
    return SchemaRegistryClient({"url": registry_url})


def ctx(topic):
    return SerializationContext(topic, MessageField.VALUE)


def test_avro_serializer_finds_the_id_of_a_schema_registered_in_another_form(client, registry_url):
    topic = unique_topic("sr-form")
    subject = f"{topic}-value"
    registered = {"type": "record", "name": "Reading", "namespace": "com.example",
                  "fields": [{"name": "sensor", "type": "string"}, {"name": "value", "type": "double"}]}
    first = client.register_schema(subject, Schema(json.dumps(registered), "AVRO"))
    # The same schema with keys reordered, a dotted name and an explicit primitive object.
    same = json.dumps({"fields": [{"type": {"type": "string"}, "name": "sensor"}, {"name": "value", "type": "double"}],
                       "name": "com.example.Reading", "type": "record"}, indent=2)
    for conf in ({"auto.register.schemas": True}, {"auto.register.schemas": True, "normalize.schemas": True},
                 {"auto.register.schemas": False, "use.latest.version": False}):
        ser = AvroSerializer(client, same, conf=conf)
        payload = ser({"sensor": "t1", "value": 21.5}, ctx(topic))
        assert int.from_bytes(payload[1:5], "big") == first, conf
        assert AvroDeserializer(client)(payload, ctx(topic)) == {"sensor": "t1", "value": 21.5}
    assert client.get_versions(subject) == [1]
    # Stored as Avro's writer prints it (a fresh client: the first one caches what it sent).
    stored = SchemaRegistryClient({"url": registry_url}).get_version(subject, 1).schema.schema_str
    assert stored == ('{"type":"record","name":"Reading","namespace":"com.example","fields":'
                      '[{"name":"sensor","type":"string"},{"name":"value","type":"double"}]}')


def _reading_class():
    """A message using google.protobuf.Timestamp, built at run time (no protoc)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    fdp = descriptor_pb2.FileDescriptorProto(name="compat_reading.proto", package="compat", syntax="proto3")
    fdp.dependency.append("google/protobuf/timestamp.proto")
    m = fdp.message_type.add(name="Reading")
    F = descriptor_pb2.FieldDescriptorProto
    m.field.add(name="sensor", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    m.field.add(name="at", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=".google.protobuf.Timestamp")
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("compat.Reading"))


@pytest.mark.parametrize("skip_known", [True, False])
def test_protobuf_serializer_with_a_well_known_type(client, bootstrap, skip_known):
    Reading = _reading_class()
    topic = unique_topic("sr-wkt")
    ser = ProtobufSerializer(Reading, client, {"use.deprecated.format": False, "skip.known.types": skip_known})
    de = ProtobufDeserializer(Reading, {"use.deprecated.format": False})
    r = Reading(sensor="s1")
    r.at.seconds = 1_700_000_000
    payload = ser(r, ctx(topic))
    back = de(payload, ctx(topic))
    assert (back.sensor, back.at.seconds) == ("s1", 1_700_000_000)
    latest = client.get_latest_version(f"{topic}-value")
    text = latest.schema.schema_str
    assert 'import "google/protobuf/timestamp.proto";' in text and "google.protobuf.Timestamp at = 2;" in text, text
    # format=serialized gives back a FileDescriptorProto, as Confluent's does.
    from google.protobuf import descriptor_pb2
    served = client.get_schema(latest.schema_id, fmt="serialized")
    fdp = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(served.schema_str))
    assert [m.name for m in fdp.message_type] == ["Reading"]
    assert list(fdp.dependency) == ["google/protobuf/timestamp.proto"]


def test_errors_as_confluent_gives_them(client):
    topic = unique_topic("sr-errors")
    subject = f"{topic}-value"
    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema(subject, Schema('syntax = "proto3"; message M { Missing m = 1; }', "PROTOBUF"))
    assert (e.value.http_status_code, e.value.error_code) == (422, 42201)
    assert e.value.error_message.startswith("Invalid schema of type PROTOBUF, details: ")
    assert "Missing" in e.value.error_message
    with pytest.raises(SchemaRegistryError) as e:
        client.get_schema(987654)
    assert (e.value.http_status_code, e.value.error_code, e.value.error_message) == (404, 40403, "Schema 987654 not found")
    # Compatibility against a subject that does not exist: latest is compatible.
    assert client.test_compatibility(subject, Schema('"string"', "AVRO")) is True
