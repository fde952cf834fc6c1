"""Schema writes from the console's pages, checked against what the
registry's Confluent API then serves: a schema registered from the page, an
incompatible version refused with the registry's reason, a compatible one
accepted, the subject's compatibility level changed, a version disabled."""

from __future__ import annotations

import json
import urllib.request

from playwright.sync_api import expect

from conftest import shot
from test_console import unique


def registry_get(weir, path: str):
    with urllib.request.urlopen(weir.registry_url + path, timeout=10) as r:
        return json.loads(r.read())


def test_register_versions_and_change_compatibility_from_the_page(page, weir):
    subject = unique("invoice") + "-value"
    v1 = {"type": "record", "name": "Invoice", "fields": [{"name": "id", "type": "long"}]}
    breaking = {"type": "record", "name": "Invoice", "fields": [{"name": "id", "type": "long"},
                                                                 {"name": "total", "type": "double"}]}
    v2 = {"type": "record", "name": "Invoice", "fields": [{"name": "id", "type": "long"},
                                                           {"name": "total", "type": "double", "default": 0}]}

    page.goto("/#/schemas")
    page.click("#register-schema-open")
    page.fill("#register-subject", subject)
    page.select_option("#register-type", "AVRO")
    page.fill("#register-schema", json.dumps(v1))
    page.click("#register-submit")
    expect(page.locator("h1")).to_contain_text(subject)
    expect(page.locator("#flash")).to_contain_text("version 1")
    assert registry_get(weir, f"/subjects/{subject}/versions") == [1]

    # A field without a default is not backward compatible: the dialog says why.
    page.click("#register-version-open")
    page.fill("#register-schema", json.dumps(breaking))
    page.click("#register-submit")
    expect(page.locator("#register-error")).to_contain_text("INCOMPATIBLE_SCHEMA")
    shot(page, "schema-register-refused")
    page.fill("#register-schema", json.dumps(v2))
    page.click("#register-submit")
    expect(page.locator("#flash")).to_contain_text("version 2")
    expect(page.locator('tr[data-version="2"]')).to_contain_text("Enabled")
    assert registry_get(weir, f"/subjects/{subject}/versions") == [1, 2]

    # The subject's own compatibility level.
    page.click("#change-compatibility")
    page.select_option("#compatibility-level", "FULL_TRANSITIVE")
    page.click("#compatibility-submit")
    expect(page.locator("#compatibility")).to_have_text("FULL_TRANSITIVE")
    assert registry_get(weir, f"/config/{subject}")["compatibilityLevel"] == "FULL_TRANSITIVE"

    # Disable version 1 (the Cloudera lifecycle).
    page.click('tr[data-version="1"] button[data-action="disable"]')
    expect(page.locator('tr[data-version="1"]')).to_contain_text("Disabled")
    expect(page.locator('tr[data-version="1"] button[data-action="enable"]')).to_be_visible()
    shot(page, "schema-subject")
