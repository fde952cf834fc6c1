"""The console in a real headless Chromium: what an operator does on its
pages, checked against what Kafka's own admin API (confluent-kafka, i.e.
librdkafka) says. Screenshots of every page go to the artefacts directory."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec
from playwright.sync_api import expect

from conftest import shot
from console_util import produce


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def api(console_url: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(console_url + "/api/v1" + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def consume_and_commit(bootstrap: str, group: str, topic: str, upto: dict[int, int]) -> None:
    """Commits offset `upto[p]` for each partition as a member of `group`, then leaves."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in upto])
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in upto.items()], asynchronous=False)
    finally:
        c.close()


def kafka_lag(admin: AdminClient, group: str, topic: str) -> dict[int, int]:
    """Lag per partition as Kafka's admin API computes it: latest offset minus committed."""
    committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    tps = [tp for tp in committed.topic_partitions if tp.topic == topic]
    latest = admin.list_offsets({TopicPartition(topic, tp.partition): OffsetSpec.latest() for tp in tps})
    return {tp.partition: latest[TopicPartition(topic, tp.partition)].result().offset - tp.offset for tp in tps}


@pytest.fixture(scope="module")
def admin(weir):
    return AdminClient({"bootstrap.servers": weir.bootstrap})


def test_overview_shows_the_cluster(page, weir, admin):
    topic = unique("overview")
    admin.create_topics([NewTopic(topic, 2)])[topic].result()
    page.goto("/#/")
    expect(page.locator("h1")).to_contain_text("Overview")
    cluster_id = admin.list_topics(timeout=10).cluster_id
    expect(page.locator("#cluster-id")).to_contain_text(cluster_id)
    topics_card = page.locator(".card", has_text="Topics")
    total = api(weir.console_url, "GET", "/cluster")["topics"]
    expect(topics_card.locator(".value")).to_have_text(f"{total:,}")


def test_create_topic_from_the_page(page, weir, admin):
    name = unique("created-from-page")
    page.goto("/#/topics")
    page.get_by_role("button", name="Create topic").click()
    page.fill("#new-topic-name", name)
    page.fill("#new-topic-partitions", "4")
    page.fill("#new-topic-configs", "retention.ms=3600000\ncleanup.policy=compact")
    shot(page, "topics-create-dialog")
    page.click("#create-topic-submit")
    expect(page.locator("h1")).to_contain_text(name)
    expect(page.locator("#flash")).to_contain_text("created with 4 partition(s)")
    shot(page, "topic-detail")
    # Kafka's admin API sees it, with its partitions and configs.
    md = admin.list_topics(topic=name, timeout=10).topics[name]
    assert md.error is None and len(md.partitions) == 4
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    cfg = admin.describe_configs([res])[res].result()
    assert cfg["retention.ms"].value == "3600000" and cfg["cleanup.policy"].value == "compact"
    # The configs tab shows each value's source.
    page.get_by_role("button", name="Configs").click()
    row = page.locator('tr[data-config-row="retention.ms"]')
    expect(row).to_contain_text("3600000")
    expect(row).to_contain_text("DYNAMIC_TOPIC_CONFIG")
    shot(page, "topic-configs")
    # Creating it again answers Kafka's error in the dialog.
    page.goto("/#/topics")
    page.get_by_role("button", name="Create topic").click()
    page.fill("#new-topic-name", name)
    page.click("#create-topic-submit")
    expect(page.locator("dialog .error-text")).to_contain_text("TOPIC_ALREADY_EXISTS")


def test_topic_search_is_served_by_the_server(page, weir, admin):
    tag = uuid.uuid4().hex[:6]
    names = [f"search-{tag}-{i}" for i in range(3)]
    for f in admin.create_topics([NewTopic(n, 1) for n in names]).values():
        f.result()
    page.goto("/#/topics")
    with page.expect_response(lambda r: "/api/v1/topics?" in r.url and f"q=search-{tag}" in r.url):
        page.fill("input[type=search]", f"search-{tag}")
    expect(page.locator("tbody tr[data-topic]")).to_have_count(3)
    expect(page.locator(".pager")).to_contain_text("1–3 of 3")
    shot(page, "topics-search")


def test_group_lag_on_the_page_is_what_kafka_computes(page, weir, admin):
    topic, group = unique("lag"), unique("lag-group")
    admin.create_topics([NewTopic(topic, 3)])[topic].result()
    produce(weir.bootstrap, topic, {0: 40, 1: 25, 2: 10})
    consume_and_commit(weir.bootstrap, group, topic, {0: 15, 1: 25, 2: 3})
    want = kafka_lag(admin, group, topic)
    assert want == {0: 25, 1: 0, 2: 7}
    page.goto("/#/groups/" + group)
    for p, lag in want.items():
        cell = page.locator(f'tr[data-topic="{topic}"][data-partition="{p}"] [data-lag]')
        expect(cell).to_have_attribute("data-lag", str(lag))
        expect(cell).to_have_text(f"{lag:,}")
    expect(page.locator(".card", has_text="Total lag").locator(".value")).to_have_text(f"{sum(want.values()):,}")
    shot(page, "group-detail")
    # The list, sorted by lag, shows the same total.
    page.goto("/#/groups?q=" + group)
    expect(page.locator(f'tr[data-group="{group}"] [data-lag]')).to_have_attribute("data-lag", str(sum(want.values())))
    shot(page, "groups")


def test_reset_offsets_from_the_page_and_a_consumer_resumes_there(page, weir, admin):
    topic, group = unique("reset"), unique("reset-group")
    admin.create_topics([NewTopic(topic, 2)])[topic].result()
    produce(weir.bootstrap, topic, {0: 30, 1: 30})
    consume_and_commit(weir.bootstrap, group, topic, {0: 30, 1: 30})
    page.goto("/#/groups/" + group)
    page.click("#reset-offsets")
    page.select_option("#reset-topic", topic)
    page.select_option("#reset-to", "offset")
    page.fill("#reset-value", "12")
    page.click("#reset-preview")
    expect(page.locator("dialog table")).to_contain_text("12")
    shot(page, "group-reset-dialog")
    page.click("#reset-submit")
    expect(page.locator("#flash")).to_contain_text("Offsets of 2 partition(s) reset")
    # Kafka's admin API sees the new offsets...
    assert kafka_lag(admin, group, topic) == {0: 18, 1: 18}
    # ...and a consumer of the group resumes there.
    c = Consumer({"bootstrap.servers": weir.bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "latest"})
    first: dict[int, int] = {}
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 60
        while len(first) < 2 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                first.setdefault(m.partition(), m.offset())
    finally:
        c.close()
    assert first == {0: 12, 1: 12}


def test_reset_is_refused_while_the_group_has_members(page, weir, admin):
    topic, group = unique("busy"), unique("busy-group")
    admin.create_topics([NewTopic(topic, 1)])[topic].result()
    produce(weir.bootstrap, topic, {0: 5})
    c = Consumer({"bootstrap.servers": weir.bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not c.assignment():
            c.poll(0.2)
        assert c.assignment(), "the consumer never got its assignment"
        page.goto("/#/groups/" + group)
        expect(page.locator("#reset-offsets")).to_be_disabled()
        # The API refuses it too, with Kafka's error.
        try:
            api(weir.console_url, "POST", f"/groups/{group}/reset-offsets", {"to": "earliest", "topic": topic})
            raise AssertionError("reset of a group with members was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 409 and json.loads(e.read())["error_code"] == "NON_EMPTY_GROUP"
        shot(page, "group-with-members")
    finally:
        c.close()


def test_alter_add_partitions_and_delete_a_topic_from_the_page(page, weir, admin):
    topic = unique("lifecycle")
    admin.create_topics([NewTopic(topic, 1)])[topic].result()
    page.goto(f"/#/topics/{topic}?tab=configs")
    page.click('button[data-config="retention.ms"]')
    page.fill("#config-value", "120000")
    page.click("#config-save")
    expect(page.locator("#flash")).to_contain_text("retention.ms set to 120000")
    page.get_by_role("button", name="Add partitions").click()
    page.fill("#partition-count", "3")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("now has 3 partitions")
    assert len(admin.list_topics(topic=topic, timeout=10).topics[topic].partitions) == 3
    page.get_by_role("button", name="Delete topic").click()
    expect(page.locator("#delete-submit")).to_be_disabled()
    page.fill("#delete-confirm", topic)
    page.click("#delete-submit")
    expect(page.locator("#flash")).to_contain_text(f"Topic {topic} deleted")
    assert topic not in admin.list_topics(timeout=10).topics


def test_replication_page_says_when_it_is_not_configured(page):
    page.goto("/#/replication")
    expect(page.locator("#page")).to_contain_text("Replication is not configured")
    shot(page, "replication")


def test_charts_draw_the_traffic_from_the_history(page, weir, admin):
    topic, group = unique("charted"), unique("charted-group")
    admin.create_topics([NewTopic(topic, 2)])[topic].result()
    produce(weir.bootstrap, topic, {0: 200, 1: 200})
    consume_and_commit(weir.bootstrap, group, topic, {0: 50, 1: 50})
    page.goto("/#/?range=15m")
    # The charts refresh every 10 s; the samples come every 500 ms here.
    bytes_chart = page.locator('[data-chart="Bytes per second"]')
    expect(bytes_chart.locator("polyline").first).to_be_visible(timeout=30_000)
    for title in ["Messages per second", "Request latency (p99)", "Requests per second", "Consumer lag, all groups"]:
        expect(page.locator(f'[data-chart="{title}"]')).to_be_visible()
    shot(page, "overview")
    page.goto(f"/#/topics/{topic}?range=15m")
    expect(page.locator('[data-chart="Bytes per second"] polyline').first).to_be_visible(timeout=30_000)
    page.goto(f"/#/groups/{group}?range=15m")
    lag_chart = page.locator('[data-chart="Lag (records)"]')
    expect(lag_chart.locator("polyline, circle").first).to_be_visible(timeout=30_000)
    # The lag the chart reads out is the group's.
    svg = lag_chart.locator("svg")
    box = svg.bounding_box()
    # At the right edge: past the newest sample, so the read-out is the newest point.
    svg.hover(position={"x": box["width"] - 1, "y": box["height"] / 2})
    expect(lag_chart.locator(".chart-readout")).to_contain_text("300")
    shot(page, "group-detail-lag-chart")


def test_avro_records_are_decoded_in_the_message_browser(page, weir, admin):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    topic = unique("avro-orders")
    admin.create_topics([NewTopic(topic, 1)])[topic].result()
    schema = json.dumps({"type": "record", "name": "Order", "namespace": "shop",
                         "fields": [{"name": "id", "type": "long"}, {"name": "item", "type": "string"},
                                    {"name": "qty", "type": "int"}]})
    registry = SchemaRegistryClient({"url": weir.registry_url})
    serialize = AvroSerializer(registry, schema)
    p = Producer({"bootstrap.servers": weir.bootstrap})
    for i in range(5):
        value = serialize({"id": 1000 + i, "item": f"lamp-{i}", "qty": i + 1},
                          SerializationContext(topic, MessageField.VALUE))
        p.produce(topic, key=f"order-{i}".encode(), value=value, headers=[("origin", b"test")])
    assert p.flush(30) == 0
    registered = registry.get_latest_version(f"{topic}-value")

    page.goto(f"/#/topics/{topic}?tab=messages")
    rows = page.locator("tr.msg-row")
    expect(rows).to_have_count(5)
    first = rows.nth(0)
    expect(first).to_contain_text(f"avro #{registered.schema_id} {topic}-value v{registered.version}")
    expect(first).to_contain_text('"item":"lamp-0"')
    first.click()
    detail = page.locator("tr.msg-detail")
    expect(detail).to_contain_text(f"schema id {registered.schema_id}")
    expect(detail).to_contain_text('"id": 1000')
    expect(detail).to_contain_text("origin: test")
    shot(page, "message-browser-avro")
    # Filter by value on the server.
    page.fill("#msg-value", "lamp-3")
    page.click("#msg-search")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text('"qty":4')

    # Produce from the page with the registered schema; a consumer reads it
    # back through confluent-kafka's AvroDeserializer.
    page.click("#produce-open")
    page.fill("#produce-key", "order-from-page")
    page.select_option("#produce-format", "schema")
    page.fill("#produce-value", '{"id": 77, "item": "desk", "qty": 2}')
    page.click("#produce-submit")
    expect(page.locator("#flash")).to_contain_text("at offset 5")
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    deserialize = AvroDeserializer(registry)
    c = Consumer({"bootstrap.servers": weir.bootstrap, "group.id": unique("reader"), "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(topic, 0, 5)])
        deadline = time.monotonic() + 30
        m = None
        while m is None and time.monotonic() < deadline:
            m = c.poll(0.5)
        assert m is not None and m.error() is None
        assert m.key() == b"order-from-page"
        assert deserialize(m.value(), SerializationContext(topic, MessageField.VALUE)) == {"id": 77, "item": "desk", "qty": 2}
    finally:
        c.close()


def test_live_tail_shows_new_records(page, weir, admin):
    topic = unique("tailed")
    admin.create_topics([NewTopic(topic, 1)])[topic].result()
    produce(weir.bootstrap, topic, {0: 3})
    page.goto(f"/#/topics/{topic}?tab=messages")
    expect(page.locator("tr.msg-row")).to_have_count(3)
    page.click("#msg-tail")
    expect(page.locator("#msg-status")).to_contain_text("live")
    produce(weir.bootstrap, topic, {0: 2})
    expect(page.locator("tr.msg-row")).to_have_count(5, timeout=15_000)
    # Newest first while tailing.
    expect(page.locator("tr.msg-row").first).to_have_attribute("data-offset", "4")
    shot(page, "message-browser-tail")
    page.click("#msg-tail")


def test_schema_versions_and_their_diff(page, weir):
    subject = unique("person") + "-value"
    v1 = {"type": "record", "name": "Person", "fields": [{"name": "name", "type": "string"}]}
    v2 = {"type": "record", "name": "Person", "fields": [{"name": "name", "type": "string"},
                                                          {"name": "age", "type": "int", "default": 0}]}
    for schema in (v1, v2):
        req = urllib.request.Request(f"{weir.registry_url}/subjects/{subject}/versions", method="POST",
                                     data=json.dumps({"schema": json.dumps(schema)}).encode(),
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
    page.goto("/#/schemas?q=" + subject)
    expect(page.locator(f'tr[data-subject="{subject}"]')).to_contain_text("v2")
    page.click(f'tr[data-subject="{subject}"] a')
    expect(page.locator("#compatibility")).to_have_text("BACKWARD")
    expect(page.locator("#schema-text")).to_contain_text('"age"')
    # The diff from v1 to v2 adds the field.
    expect(page.locator("#schema-diff .add").first).to_be_visible()
    added = page.locator("#schema-diff .add").all_inner_texts()
    assert any('"age"' in line for line in added), added
    removed = page.locator("#schema-diff .del").all_inner_texts()
    assert not any('"age"' in line for line in removed), removed
    shot(page, "schema-diff")
