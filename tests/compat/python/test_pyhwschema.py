"""pyhwschema (a Python client of Hortonworks/Cloudera's schema registry) against
Weir's schema-metadata API: it creates schema metadata, adds versions (enabling
them through the lifecycle), creates a branch, adds a version there, reads
versions by name, number, id and branch; a merge into MASTER (which pyhwschema
has no call for) goes through plain HTTP, and the result is seen by both
pyhwschema and confluent-kafka's SchemaRegistryClient.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest
import requests
from confluent_kafka.schema_registry import SchemaRegistryClient

import pyhwschema as hw

from compat_util import unique_topic

V1 = json.dumps({"type": "record", "name": "Truck", "namespace": "com.example",
                 "fields": [{"name": "id", "type": "long"}]})
V2 = json.dumps({"type": "record", "name": "Truck", "namespace": "com.example",
                 "fields": [{"name": "id", "type": "long"},
                            {"name": "speed", "type": "int", "default": 0}]})
V3 = json.dumps({"type": "record", "name": "Truck", "namespace": "com.example",
                 "fields": [{"name": "id", "type": "long"},
                            {"name": "driver", "type": "string", "default": ""}]})
BAD = json.dumps({"type": "record", "name": "Truck", "namespace": "com.example",
                  "fields": [{"name": "id", "type": "long"}, {"name": "weight", "type": "int"}]})


@pytest.fixture(scope="module")
def conn(registry_url):
    u = urlparse(registry_url)
    return hw.Connect(u.hostname, str(u.port)).connect_url()


def test_pyhwschema_metadata_versions_and_a_branch(conn, registry_url):
    name = unique_topic("trucks")
    created = hw.SchemaNewMeta(conn, schema_name=name, schema_group="Kafka",
                               schema_meta_description="truck events",
                               schema_compatibility="BACKWARD",
                               schema_validationlevel="LATEST").create()
    assert isinstance(created, int)
    meta = hw.SchemaMetaData(conn, name).get_dict()
    assert meta["name"] == name and meta["type"] == "avro"
    assert meta["compatibility"] == "BACKWARD" and meta["validationLevel"] == "LATEST"

    assert hw.SchemaNew(conn, V1, schema_name=name, schema_description="first").create() == 1
    assert hw.SchemaNew(conn, V2, schema_name=name, schema_description="second").create() == 2
    latest = hw.SchemaLatest(conn, name).get()
    assert latest["version"] == 2 and latest["stateId"] == 5
    assert json.loads(hw.SchemaLatest(conn, name).get_string()) == json.loads(V2)
    versions = hw.SchemaGetVersions(conn, name).get_dict()
    assert [v["version"] for v in versions] == [2, 1], "newest first"
    v1 = hw.SchemaGetVersion(conn, name, 1).get_dict()
    assert v1["description"] == "first" and "schemaText" not in v1
    assert hw.SchemaId(conn, str(v1["id"])).get_dict() == json.loads(V1)

    # An incompatible version is refused with Cloudera's error shape.
    refused = requests.post(f"{conn}/schemas/{name}/versions?branch=MASTER", json={"schemaText": BAD})
    assert refused.status_code == 400
    assert refused.json()["responseCode"] == 1106 and "weight" in refused.json()["responseMessage"]

    # A branch from the latest MASTER version; a version added there is INITIATED,
    # and pyhwschema enables it through /state/enable.
    branch = hw.SchemaNewBranch(conn, schema_name=name, branch_name="experiment",
                                schema_description="try a driver").create()
    assert branch["name"] == "experiment" and branch["schemaMetadataName"] == name
    assert hw.SchemaNew(conn, V3, schema_name=name, schema_branch="experiment").create() == 3
    on_branch = hw.SchemaLatest(conn, name, schema_branch="experiment").get()
    assert on_branch["version"] == 3 and on_branch["stateId"] == 5
    assert [v["version"] for v in hw.SchemaGetVersions(conn, name, branch="experiment").get_dict()] == [3, 2, 1]
    assert hw.SchemaLatest(conn, name).get()["version"] == 2, "MASTER is untouched"

    merged = requests.post(f"{conn}/schemas/{on_branch['id']}/merge")
    assert merged.status_code == 200, merged.text
    assert merged.json()["schemaIdVersion"]["version"] == 4
    master = hw.SchemaLatest(conn, name).get()
    assert master["version"] == 4 and master["mergeInfo"]["schemaBranchName"] == "experiment"

    # The Confluent view of the same subject.
    confluent = SchemaRegistryClient({"url": registry_url})
    assert confluent.get_versions(name) == [1, 2, 4]
    assert json.loads(confluent.get_latest_version(name).schema.schema_str) == json.loads(V3)

    # Dropping a version that roots a branch is refused; the schema goes whole.
    dropped = hw.SchemaDropVersion(conn, schema_name=name, schema_id="2").drop()
    assert dropped["responseCode"] == 1112
    assert hw.SchemaDelete(conn, name).delete() == 200
    gone = requests.get(f"{conn}/schemas/{name}")
    assert gone.status_code == 404 and gone.json()["responseCode"] == 1101
    assert name not in confluent.get_subjects()
