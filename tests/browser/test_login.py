"""The console behind a login: a broker of its own with SCRAM users, ACLs and
`console.authentication.method=BASIC`. A person opening a page is sent to the
login form, comes back to the page they asked for, sees only the topics their
ACLs let them describe, is told plainly what they may not see, and logs out."""

from __future__ import annotations

import re
import tempfile
import uuid

import pytest
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)
from playwright.sync_api import expect

from compat_broker import launch_listeners, serving
from conftest import fresh_page, shot

USERS = {"admin": "admin-secret", "carol": "carol-secret"}
TAG = uuid.uuid4().hex[:6]
MINE, OTHER = f"carol-{TAG}", f"payroll-{TAG}"


@pytest.fixture(scope="module")
def locked():
    root = tempfile.mkdtemp(prefix="weir-login-")
    extra = ["--set", "sasl.enabled.mechanisms=SCRAM-SHA-256",
             "--set", "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
             "--set", "super.users=User:admin",
             "--set", "bootstrap.users=" + ",".join(f"{u}:{p}" for u, p in USERS.items()),
             "--set", "console.authentication.method=BASIC"]
    handle = launch_listeners(root, "weir-login", "PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{p0}",
                              extra, more_ports=1)
    admin = handle.admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{handle.ports[0]}",
                                        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
                                        "sasl.username": "admin", "sasl.password": USERS["admin"]})
    for t in (MINE, OTHER):
        admin.create_topics([NewTopic(t, 1, 1)])[t].result(10)
    grant = AclBinding(ResourceType.TOPIC, "carol-", ResourcePatternType.PREFIXED, "User:carol", "*",
                       AclOperation.DESCRIBE, AclPermissionType.ALLOW)
    for f in admin.create_acls([grant]).values():
        f.result(10)
    yield from serving(handle, root)


@pytest.fixture
def lpage(browser, locked):
    yield from fresh_page(browser, locked.console_url)


def log_in(page, user: str, password: str):
    page.fill("#username", user)
    page.fill("#password", password)
    page.get_by_role("button", name="Log in").click()


def test_a_page_asks_for_a_login_and_returns_to_it(lpage):
    page = lpage
    page.goto("/#/topics")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", name="Weir console")).to_be_visible()
    shot(page, "login-form")
    log_in(page, "carol", "wrong")
    expect(page.get_by_role("alert")).to_contain_text("Invalid username or password")
    log_in(page, "carol", USERS["carol"])
    # Back on the page asked for, showing only what carol may describe.
    expect(page).to_have_url(re.compile(r"/#/topics$"))
    expect(page.locator(f'tbody tr[data-topic="{MINE}"]')).to_be_visible()
    expect(page.locator("tbody tr[data-topic]")).to_have_count(1)
    expect(page.locator("#user")).to_contain_text("carol")
    shot(page, "login-topics-as-carol")
    # A page she may not see says so.
    page.goto("/#/")
    expect(page.get_by_role("heading", name="Not permitted")).to_be_visible()
    expect(page.locator(".flash.error")).to_contain_text("CLUSTER_AUTHORIZATION_FAILED")
    shot(page, "login-not-permitted")
    page.goto(f"/#/topics/{OTHER}")
    expect(page.locator(".flash.error")).to_contain_text("TOPIC_AUTHORIZATION_FAILED")
    # Logging out returns to the form, and the pages ask again.
    page.goto("/#/topics")
    page.locator("#user").get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/#/topics")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_an_admin_sees_everything(lpage):
    page = lpage
    page.goto("/")
    log_in(page, "admin", USERS["admin"])
    expect(page.locator("#cluster-id")).to_contain_text("cluster")
    page.goto("/#/topics")
    expect(page.locator(f'tbody tr[data-topic="{OTHER}"]')).to_be_visible()
    expect(page.locator(f'tbody tr[data-topic="{MINE}"]')).to_be_visible()
    shot(page, "login-topics-as-admin")
