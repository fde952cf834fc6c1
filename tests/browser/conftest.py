"""Fixtures of the console's browser tests: one `weir serve` per session
(started like the compatibility suite's, on reserved loopback ports with a
temporary data directory, stopped with SIGTERM and required to exit 0), and
a headless Chromium driven by Playwright.

Environment:
  CHROMIUM           the Chromium binary (default: `chromium` on PATH, Debian's package)
  BROWSER_ARTIFACTS  where screenshots go (default <repo>/target/browser-artifacts)
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "compat" / "python"))

from compat_broker import REPO_ROOT, start_broker  # noqa: E402

ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS") or REPO_ROOT / "target" / "browser-artifacts")


@pytest.fixture(scope="session")
def weir():
    # Samples for the charts every 500 ms instead of 10 s.
    os.environ.setdefault("WEIR_CONSOLE_SAMPLE_MS", "500")
    handle = start_broker("browser-suite")
    try:
        yield handle
    finally:
        code = handle.stop()
        if code != 0:
            pytest.fail(f"weir exited with {code} after SIGTERM (expected 0); log: {handle.log_path}\n"
                        f"{handle.log_tail()}", pytrace=False)


@pytest.fixture(scope="session")
def console_url(weir) -> str:
    return weir.console_url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise RuntimeError("no Chromium: install Debian's `chromium` package (scripts/test does) or set CHROMIUM")
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser, console_url, request):
    """A fresh page at 1280x800 whose script errors fail the test."""
    yield from fresh_page(browser, console_url)


def fresh_page(browser, base_url: str):
    """A page fixture's body: a new page at 1280x800 on ``base_url``, then
    its context closed and any script error on it failing the test."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=base_url)
    pg = ctx.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, f"script errors on the page: {errors}"


def shot(page, name: str) -> Path:
    """Keeps a full-page screenshot as a test artefact, after checking that no
    value was drawn as a stringified object (a page bug a person would see)."""
    text = page.inner_text("body")
    assert "[object " not in text and "undefined" not in text, f"{name}: the page shows a broken value"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
