"""Start and stop a `weir serve` process for the compatibility tests.

Environment:
  WEIR_BIN               binary to run (default: <repo>/target/release/weir)
  COMPAT_WEIR_ARGS       extra arguments for `weir serve` (shell-quoted); they come
                         after the suite's defaults (DEFAULT_WEIR_ARGS), so they win
  COMPAT_START_TIMEOUT   seconds to wait for the `weir ready` line (default 60)
  COMPAT_LOG_DIR         where to keep the broker log (default: the temp dir)
  COMPAT_KEEP_DATA=1     keep the temporary data directory after the run
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# tests/compat/python/compat_broker.py -> repo root
REPO_ROOT = Path(__file__).resolve().parent.parent.parent.parent
READY_RE = re.compile(r"weir ready kafka=(\S+)")
# Consumer groups complete their first rebalance at once instead of waiting 3 s for
# more members, and KIP-848 members heartbeat every 500 ms instead of 5 s (Kafka's
# defaults are for production, not for tests).
DEFAULT_WEIR_ARGS = ["--set", "group.initial.rebalance.delay.ms=0",
                     "--set", "group.consumer.heartbeat.interval.ms=500",
                     "--set", "group.consumer.min.heartbeat.interval.ms=500"]
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def reserve_ports(n: int) -> list[int]:
    """Distinct free loopback ports (held open together so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent():
    # Backstop: if the test process dies hard, the kernel kills weir too.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class BrokerHandle:
    bootstrap: str
    registry_url: str | None = None
    console_url: str | None = None
    proc: subprocess.Popen | None = None
    data_dir: str | None = None
    log_path: str | None = None
    _threads: list = field(default_factory=list)
    _log: object = None
    cmd: list | None = None

    def restart(self, timeout: float | None = None, crash: bool = False):
        """SIGTERM (expecting exit 0), or SIGKILL with ``crash``, then start the same
        command again: same port, same data directory. Clients reconnect to the same
        address."""
        assert self.proc is not None, "an external broker (COMPAT_BOOTSTRAP) cannot be restarted"
        if crash:
            self.kill_group()
            self.proc.wait(timeout=10)
            for t in self._threads:
                t.join(timeout=5)
        else:
            code = self._terminate()
            assert code == 0, f"weir exited with {code} on SIGTERM before a restart; log {self.log_path}"
        self._log.write(f"---- restart{' after SIGKILL' if crash else ''} ----\n")
        self._log.flush()
        bootstrap = _launch(self, timeout)
        assert bootstrap == self.bootstrap, f"restarted on {bootstrap}, expected {self.bootstrap}"

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path or not os.path.exists(self.log_path):
            return "(no broker log)"
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def kill_group(self):
        """SIGKILL whatever is left in the broker's process group."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _terminate(self, timeout: float = 20.0):
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                code = f"killed: no exit within {timeout:.0f}s of SIGTERM"
        self.kill_group()
        for t in self._threads:
            t.join(timeout=5)
        return code

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed. Returns the exit code (None if external)."""
        if self.proc is None:
            return None
        code = self._terminate(timeout)
        if self._log is not None:
            self._log.close()
        if code == 0 and self.data_dir and os.environ.get("COMPAT_KEEP_DATA") != "1":
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code


def _pump(stream, log, lock, ready, found):
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        with lock:
            log.write(line)
            log.flush()
        if not ready.is_set():
            m = READY_RE.search(ANSI_RE.sub("", line))
            if m:
                found.append(m.group(1))
                ready.set()
    stream.close()


def start_broker(suite: str = "python-suite") -> BrokerHandle:
    binary = os.environ.get("WEIR_BIN") or str(REPO_ROOT / "target" / "release" / "weir")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise RuntimeError(
            f"weir binary not found or not executable: {binary} "
            "(build it with `cargo build --release`, set WEIR_BIN, or point "
            "COMPAT_BOOTSTRAP at a running broker)"
        )
    timeout = float(os.environ.get("COMPAT_START_TIMEOUT", "60"))
    data_dir = tempfile.mkdtemp(prefix="weir-compat-py-")
    log_dir = os.environ.get("COMPAT_LOG_DIR") or data_dir
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, f"weir-{suite}.log")
    kafka, registry, console = reserve_ports(3)
    cmd = [
        binary, "serve",
        "--data-dir", os.path.join(data_dir, "data"),
        "--kafka-addr", f"127.0.0.1:{kafka}",
        "--registry-addr", f"127.0.0.1:{registry}",
        "--console-addr", f"127.0.0.1:{console}",
    ]

    log = open(log_path, "w", encoding="utf-8")
    handle = BrokerHandle(bootstrap="", registry_url=f"http://127.0.0.1:{registry}",
                          console_url=f"http://127.0.0.1:{console}",
                          data_dir=data_dir, log_path=log_path, _log=log,
                          cmd=cmd + DEFAULT_WEIR_ARGS + shlex.split(os.environ.get("COMPAT_WEIR_ARGS", "")))
    handle.bootstrap = _launch(handle, timeout)
    return handle


def _launch(handle: BrokerHandle, timeout: float | None) -> str:
    """Start ``handle.cmd``; wait for its ready line; return the Kafka address."""
    if timeout is None:
        timeout = float(os.environ.get("COMPAT_START_TIMEOUT", "60"))
    cmd, log, log_path = handle.cmd, handle._log, handle.log_path
    log.write("$ " + shlex.join(cmd) + "\n")
    log.flush()
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, preexec_fn=_die_with_parent,
        start_new_session=True,  # own process group: stop() can clean up all of it
    )
    lock, ready, found = threading.Lock(), threading.Event(), []
    threads = [
        threading.Thread(target=_pump, args=(s, log, lock, ready, found), daemon=True)
        for s in (proc.stdout, proc.stderr)
    ]
    for t in threads:
        t.start()
    handle.proc, handle._threads = proc, threads
    atexit.register(handle.kill_group)

    deadline = time.monotonic() + timeout
    while not ready.wait(0.1):
        if proc.poll() is not None:
            for t in threads:
                t.join(timeout=5)
            raise RuntimeError(
                f"weir exited with {proc.returncode} before it was ready; log {log_path}:\n"
                + handle.log_tail())
        if time.monotonic() > deadline:
            handle.stop(timeout=5)
            raise RuntimeError(
                f"no `weir ready` line within {timeout:.0f}s; log {log_path}:\n"
                + handle.log_tail())
    return found[0]


def launch_listeners(root: str, name: str, listeners: str, extra: list[str], env: dict | None = None,
                     more_ports: int = 0, registry_scheme: str = "http", console_scheme: str = "http") -> BrokerHandle:
    """A `weir serve` of its own in ``root`` (data and log ``<name>.log``):
    ``listeners`` is Kafka's `listeners` value with ``{plain}`` and ``{p0}``,
    ``{p1}``... standing for free ports (``more_ports`` of them, returned as
    ``handle.ports``); ``extra`` are more arguments, ``env`` more environment
    for the start only; ``*_scheme="https"`` serves the registry or the console
    over TLS. For suites that need their own listeners or users."""
    binary = os.environ.get("WEIR_BIN") or str(REPO_ROOT / "target" / "release" / "weir")
    plain, registry, console, *ports = reserve_ports(3 + more_ports)
    names = {"plain": plain, **{f"p{i}": p for i, p in enumerate(ports)}}
    log_path = os.path.join(root, f"{name}.log")
    cmd = [binary, "serve", "--data-dir", os.path.join(root, "data"),
           "--kafka-addr", f"127.0.0.1:{plain}",
           "--registry-addr", f"{registry_scheme}://127.0.0.1:{registry}",
           "--console-addr", f"{console_scheme}://127.0.0.1:{console}",
           "--set", "listeners=" + listeners.format(**names)] + extra + DEFAULT_WEIR_ARGS
    handle = BrokerHandle(bootstrap="", data_dir=root, log_path=log_path,
                          _log=open(log_path, "w", encoding="utf-8"), cmd=cmd,
                          registry_url=f"{registry_scheme}://127.0.0.1:{registry}",
                          console_url=f"{console_scheme}://127.0.0.1:{console}")
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        handle.bootstrap = _launch(handle, None)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    handle.ports = ports
    return handle


def serving(handle: BrokerHandle, root: str):
    """A module fixture's body: the broker until the module is done, then a
    clean stop (exit 0 expected) and its directory removed."""
    try:
        yield handle
    finally:
        code = handle.stop()
        shutil.rmtree(root, ignore_errors=True)
        assert code == 0, f"weir exited with {code}"


def broker_ca(root: str, organization: str) -> tuple[str, str]:
    """A test CA (trustme) and a broker keystore it issued for 127.0.0.1 and
    localhost, written under ``root``: (CA certificate path, keystore path: the
    key and chain in one PEM, as ``ssl.keystore.location`` takes it)."""
    import trustme
    ca = trustme.CA(organization_name=organization)
    ca_path = os.path.join(root, "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    keystore = os.path.join(root, "broker.pem")
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(keystore)
    return ca_path, keystore
