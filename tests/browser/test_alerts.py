"""Alerts in a real headless Chromium: an operator adds a webhook notifier
and a consumer-lag policy on the alerts page; a group falls behind and the
alert fires to the webhook this test runs (with the lag Kafka's admin API
computes), shows on the alerts page and the overview, then resolves when the
group catches up."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from playwright.sync_api import expect

from conftest import shot
from test_console import consume_and_commit, kafka_lag, produce, unique


class Hook:
    """A webhook endpoint on a loopback port the OS picks, recording JSON bodies."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                calls.append(json.loads(body or b"null"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/weir-alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, status: str, subject: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for c in self.calls:
                if c and c.get("status") == status and c.get("subject") == subject:
                    return c
            time.sleep(0.1)
        raise AssertionError(f"the webhook never got a {status} alert for {subject}: {self.calls}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_a_lag_alert_fires_to_a_webhook_and_resolves(page, weir, hook):
    admin = AdminClient({"bootstrap.servers": weir.bootstrap})
    topic, group = unique("alerted"), unique("slow-readers")
    admin.create_topics([NewTopic(topic, 1)])[topic].result()
    notifier, policy = unique("hook"), unique("lag-policy")

    page.goto("/#/alerts")
    expect(page.locator("h1")).to_have_text("Alerts")
    page.click("#new-notifier")
    page.fill("#notifier-name", notifier)
    page.fill("#notifier-url", hook.url)
    page.fill("#notifier-backoff", "100")
    page.click("#notifier-submit")
    expect(page.locator(f'tr[data-notifier="{notifier}"]')).to_contain_text(hook.url)

    page.click("#new-policy")
    page.fill("#policy-name", policy)
    page.select_option("#policy-metric", "group_lag_records")
    page.fill("#policy-target", group)
    page.select_option("#policy-operator", "above")
    page.fill("#policy-threshold", "5")
    page.select_option("#policy-severity", "critical")
    page.check(f'input[data-notifier-choice="{notifier}"]')
    page.click("#policy-submit")
    row = page.locator(f'tr[data-policy="{policy}"]')
    expect(row).to_contain_text("above 5")
    expect(row).to_contain_text(notifier)

    # The group falls 12 records behind.
    produce(weir.bootstrap, topic, {0: 20})
    consume_and_commit(weir.bootstrap, group, topic, {0: 8})
    lag = sum(kafka_lag(admin, group, topic).values())
    assert lag == 12
    fired = hook.wait_for("firing", group)
    assert fired["policy_id"] == policy and fired["severity"] == "critical"
    assert fired["value"] == lag and fired["threshold"] == 5
    expect(page.locator(f'tr[data-alert="{policy}/{group}"]')).to_contain_text(f"is {lag}, above 5")
    expect(page.locator("#nav-alerts")).to_be_visible()
    shot(page, "alerts-firing")
    page.goto("/#/")
    expect(page.locator(f'#overview-alerts tr[data-alert="{policy}/{group}"]')).to_be_visible()
    shot(page, "overview-with-alert")

    # Caught up: resolved, on the webhook and in the history.
    consume_and_commit(weir.bootstrap, group, topic, {0: 20})
    resolved = hook.wait_for("resolved", group)
    assert resolved["value"] == 0
    page.goto("/#/alerts")
    expect(page.locator(f'tr[data-event="resolved:{policy}/{group}"]')).to_contain_text("no longer above 5")
    expect(page.locator(f'tr[data-alert="{policy}/{group}"]')).to_have_count(0)
    shot(page, "alerts-resolved")
