"""A share group (KIP-932) on the console's group pages, driven by librdkafka's
share consumer (confluent-kafka's ``ShareConsumer``): its members and each
share-partition's start offset and lag, a reset of the starts from the page that
a new member then reads from, and its deletion."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

from confluent_kafka import ShareConsumer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic,
                                   ResourceType)
from playwright.sync_api import expect

from conftest import shot
from console_util import produce

DEADLINE = 60


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def group_api(console_url: str, group: str):
    """The console API's view of the group; None once it does not exist."""
    try:
        with urllib.request.urlopen(f"{console_url}/api/v1/groups/{group}", timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def read_all(bootstrap: str, group: str, topic: str, n: int) -> tuple[ShareConsumer, list]:
    """A member of `group` that has read (and accepted: implicit mode, committed)
    `n` records; still a member."""
    c = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group})
    c.subscribe([topic])
    got: list = []
    end = time.monotonic() + DEADLINE
    while len(got) < n and time.monotonic() < end:
        for m in c.poll(0.5) or []:
            assert m.error() is None, m.error()
            got.append((m.partition(), m.offset(), m.delivery_count()))
    c.commit_sync()
    assert len(got) == n, f"{len(got)} of {n} records delivered"
    return c, got


def open_group(page, group: str) -> None:
    """The group's page, loaded afresh (going to the address the page is already
    at changes nothing)."""
    page.goto("/#/groups/" + group)
    page.reload()


def wait_for(what: str, check) -> None:
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, f"never: {what}"
        time.sleep(0.2)


def test_a_share_group_on_the_page_reset_and_deleted(page, weir):
    admin = AdminClient({"bootstrap.servers": weir.bootstrap})
    topic, group = unique("share"), unique("share-group")
    admin.create_topics([NewTopic(topic, 2)])[topic].result()
    produce(weir.bootstrap, topic, {0: 20, 1: 20})
    res = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([res]).values():
        f.result(timeout=30)

    c, _ = read_all(weir.bootstrap, group, topic, 40)
    try:
        # Every record accepted: each share-partition starts after its last one.
        wait_for("both starts at 20", lambda: [o["committed_offset"] for o in group_api(weir.console_url, group)["offsets"]] == [20, 20])
        open_group(page, group)
        expect(page.locator("h1")).to_contain_text("share group")
        expect(page.locator("h1 .badge")).to_have_text("Stable")
        expect(page.locator("table").last.locator("th").nth(2)).to_have_text("Start offset")
        expect(page.locator("#reset-offsets")).to_be_disabled()
        shot(page, "share-group-with-member")
    finally:
        c.close()

    # Records produced after the member left are the group's lag.
    produce(weir.bootstrap, topic, {0: 5})
    wait_for("the group empty", lambda: group_api(weir.console_url, group)["state"] == "Empty")
    open_group(page, group)
    for p, (start, lag) in {0: (20, 5), 1: (20, 0)}.items():
        row = page.locator(f'tr[data-topic="{topic}"][data-partition="{p}"]')
        expect(row.locator("[data-lag]")).to_have_attribute("data-lag", str(lag))
        expect(row.locator("td").nth(2)).to_have_text(f"{start:,}")
    expect(page.locator(".card", has_text="Total lag").locator(".value")).to_have_text("5")
    shot(page, "share-group-detail")

    # Reset to the earliest offsets from the page: a new member reads everything again.
    page.click("#reset-offsets")
    page.select_option("#reset-to", "earliest")
    page.click("#reset-preview")
    expect(page.locator("dialog table")).to_contain_text("20")
    page.click("#reset-submit")
    expect(page.locator("#flash")).to_contain_text("Offsets of 2 partition(s) reset")
    c, got = read_all(weir.bootstrap, group, topic, 45)
    c.close()
    assert sorted((p, o) for p, o, _ in got) == [(0, o) for o in range(25)] + [(1, o) for o in range(20)]
    assert {d for _, _, d in got} == {1}, "a reset starts the share-partitions afresh"

    # The list shows its type; then it is deleted from its page.
    page.goto("/#/groups?q=" + group)
    expect(page.locator(f'tr[data-group="{group}"]')).to_contain_text("share")
    shot(page, "groups-with-share-group")
    wait_for("the group empty", lambda: group_api(weir.console_url, group)["state"] == "Empty")
    open_group(page, group)
    page.get_by_role("button", name="Delete group").click()
    page.click("#delete-group-submit")
    expect(page.locator("#flash")).to_contain_text(f"Group {group} deleted")
    assert group_api(weir.console_url, group) is None
