"""Pytest fixtures for the client-compatibility suite.

One broker per pytest session:

* ``COMPAT_BOOTSTRAP=host:port`` set: use that already running broker (any
  Kafka-compatible broker; handy for validating the suite itself).
* otherwise: start ``$WEIR_BIN`` (default ``<repo>/target/release/weir``) as
  ``weir serve`` on free loopback ports with a fresh temporary data directory,
  wait for its ``weir ready kafka=HOST:PORT ...`` line, and stop it with
  SIGTERM at the end of the session (asserting the clean exit code 0 that the
  command-line contract promises).
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compat_broker import BrokerHandle, start_broker  # noqa: E402

_HANDLE: BrokerHandle | None = None


@pytest.fixture(scope="session")
def broker():
    """The broker under test: an object with ``.bootstrap`` ("host:port")."""
    global _HANDLE
    external = os.environ.get("COMPAT_BOOTSTRAP", "").strip()
    if external:
        yield BrokerHandle(bootstrap=external, registry_url=os.environ.get("COMPAT_REGISTRY_URL") or None)
        return
    handle = start_broker()
    _HANDLE = handle
    try:
        yield handle
    finally:
        code = handle.stop()
        # The contract says: exit 0 after a clean shutdown on SIGTERM.
        if code != 0:
            pytest.fail(
                f"weir exited with {code} after SIGTERM (expected 0); "
                f"log: {handle.log_path}\n{handle.log_tail()}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def bootstrap(broker) -> str:
    return broker.bootstrap


@pytest.fixture(scope="session")
def registry_url(broker) -> str:
    """The schema registry's base URL (COMPAT_REGISTRY_URL with an external broker)."""
    if not broker.registry_url:
        pytest.skip("no schema registry (set COMPAT_REGISTRY_URL with COMPAT_BOOTSTRAP)")
    return broker.registry_url


@pytest.fixture
def restart_broker(broker):
    """A function that restarts the broker on the same port and data directory
    (SIGTERM, exit 0, start again; ``crash=True``: SIGKILL). Skips the test against
    an external broker."""
    if broker.proc is None:
        pytest.skip("needs a broker this suite started (not COMPAT_BOOTSTRAP)")
    return broker.restart


def pytest_report_header(config):
    external = os.environ.get("COMPAT_BOOTSTRAP", "").strip()
    if external:
        return f"compat broker: external at {external} (COMPAT_BOOTSTRAP)"
    return "compat broker: {} (WEIR_BIN)".format(
        os.environ.get("WEIR_BIN") or "<repo>/target/release/weir"
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # On failure show the end of the broker log: it usually tells why.
    if _HANDLE is None or exitstatus == 0:
        return
    terminalreporter.section("weir log (tail)")
    terminalreporter.write_line(f"full log: {_HANDLE.log_path}")
    terminalreporter.write(_HANDLE.log_tail() + "\n")
