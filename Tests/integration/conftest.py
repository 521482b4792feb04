"""Fixtures that run the real `flotilla` binary on loopback.

- ``broker`` (one per test module) and ``fresh_broker`` (one per test) start
  ``$FLOTILLA_BIN serve`` (default ``.build/debug/flotilla``) with a temporary data dir and free ports (MQTT,
  metrics, raft, cluster bus: each node is a one-voter cluster of its own), wait
  (bounded) until the MQTT port accepts TCP, and yield a ``Broker``. It unpacks as
  ``host, mqtt_port, metrics_port, process``.
- On teardown the process gets SIGTERM, then SIGKILL if it has not exited within the grace period.
- A node that died on its own while tests were using it is reported as an error at teardown: malformed
  input must never crash the broker. The shared ``broker`` is restarted (new ports, same log file) before the
  next test, so one crash costs one test's verdict, not the rest of the module's.
- When a test fails, the part of each broker's log written during that test is attached to the report.

Environment knobs: FLOTILLA_BIN, FLOTILLA_IT_LOG_LEVEL (default debug), FLOTILLA_IT_STARTUP_TIMEOUT (s, 30).
"""

from __future__ import annotations

import os
import signal
import random
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STARTUP_TIMEOUT = float(os.environ.get("FLOTILLA_IT_STARTUP_TIMEOUT", "30"))
STOP_TIMEOUT = 10.0
LOG_LEVEL = os.environ.get("FLOTILLA_IT_LOG_LEVEL", "debug")
LOG_TAIL_LINES = 120


def flotilla_bin() -> Path:
    return Path(os.environ.get("FLOTILLA_BIN", REPO_ROOT / ".build" / "debug" / "flotilla"))


# Test ports come from below the kernel's ephemeral range (32768-60999 on Linux): a port found by binding to 0
# is itself ephemeral, and an outgoing connection (a test client, or raft/bus between cluster nodes) could take it
# before the node binds it. A per-process counter from a random start hands each port out once.
PORT_LOW, PORT_HIGH = 20000, 32767
_next_port = [random.randrange(PORT_LOW, (PORT_LOW + PORT_HIGH) // 2)]


def _bindable(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports(n: int) -> list[int]:
    """n distinct TCP ports on 127.0.0.1 that are free now and not handed out before in this test run."""
    ports: list[int] = []
    for _ in range(PORT_HIGH - PORT_LOW):
        if len(ports) == n:
            break
        port = _next_port[0]
        _next_port[0] = PORT_LOW if port >= PORT_HIGH else port + 1
        if _bindable(port):
            ports.append(port)
    assert len(ports) == n, f"only {len(ports)} free loopback ports in {PORT_LOW}-{PORT_HIGH}"
    return ports


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict, str]:
    """(status, headers, body). HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


_ALL_BROKERS: list["Broker"] = []


class Broker:
    """One running `flotilla serve` process."""

    def __init__(self, workdir: Path, extra_args: list[str] | None = None, node_id: int = 1):
        self.host = HOST
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_path = workdir / "flotilla.log"
        self.mqtt_port, self.metrics_port, self.raft_port, self.bus_port, self.gossip_port = free_ports(5)
        self.binary = flotilla_bin()
        self.args = [
            str(self.binary), "serve",
            "--data-dir", str(self.data_dir),
            "--bind", self.host,
            "--mqtt-port", str(self.mqtt_port),
            "--api-port", str(self.metrics_port),
            "--raft-port", str(self.raft_port),
            "--bus-port", str(self.bus_port),
            "--gossip-port", str(self.gossip_port),
            "--log-level", LOG_LEVEL,
            "--node-id", str(node_id),
        ] + list(extra_args or [])
        self.process: subprocess.Popen | None = None
        self.died_unexpectedly: int | None = None
        self.crashes: list[str] = []  # one line per unexpected death, for the teardown report
        self.stopping = False  # set once a test or the fixture stops the process on purpose
        self._log_file = None

    # `host, mqtt_port, metrics_port, process = broker`
    def __iter__(self):
        return iter((self.host, self.mqtt_port, self.metrics_port, self.process))

    def __repr__(self) -> str:
        return f"<flotilla mqtt={self.host}:{self.mqtt_port} metrics={self.metrics_port} pid={self.pid}>"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}"

    # The control plane, /metrics and /health share one port (`--api-port`); `metrics_*` are the older names.
    @property
    def api_port(self) -> int:
        return self.metrics_port

    @property
    def api_url(self) -> str:
        return self.metrics_url

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> "Broker":
        if not self.binary.exists():
            pytest.fail(f"flotilla binary not found at {self.binary} (build it with `swift build`, or set "
                        f"FLOTILLA_BIN)", pytrace=False)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.args, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=self._log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        _ALL_BROKERS.append(self)
        self.wait_ready()
        return self

    def restart_after_crash(self, during: str) -> None:
        """The process died by itself: record it, then start a new one on new ports (same log file)."""
        rc = self.process.returncode
        self.crashes.append(f"exit status {rc} during or after {during}")
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        with open(self.log_path, "ab") as f:
            f.write(f"\n===== flotilla died (status {rc}); restarted by the test fixture =====\n".encode())
        self.mqtt_port, self.metrics_port, self.raft_port, self.bus_port, self.gossip_port = free_ports(5)
        for flag, value in (("--mqtt-port", self.mqtt_port), ("--api-port", self.metrics_port),
                            ("--raft-port", self.raft_port), ("--bus-port", self.bus_port),
                            ("--gossip-port", self.gossip_port)):
            self.args[self.args.index(flag) + 1] = str(value)
        self.start()

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until the MQTT port accepts TCP; fails with the log if the process exits or the deadline passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail_start(f"flotilla exited with status {self.process.returncode} during start-up")
            if port_accepts(self.host, self.mqtt_port, timeout=0.5):
                return
            time.sleep(0.05)
        self._fail_start(f"flotilla did not accept TCP on {self.host}:{self.mqtt_port} within {timeout:.0f}s")

    def wait_metrics_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_accepts(self.host, self.metrics_port, timeout=0.5):
                return
            time.sleep(0.05)
        raise AssertionError(f"metrics port {self.metrics_port} did not accept TCP within {timeout:.0f}s")

    def _fail_start(self, why: str) -> None:
        self.kill()
        pytest.fail(f"{why}\ncommand: {' '.join(self.args)}\n--- log ---\n{self.log_tail()}", pytrace=False)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float = STOP_TIMEOUT) -> tuple[int | None, bool]:
        """SIGTERM, wait up to ``timeout``; SIGKILL if still running. Returns (exit status, needed_kill)."""
        if self.process is None:
            return None, False
        self.stopping = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
                return self.process.returncode, False
            except subprocess.TimeoutExpired:
                self.kill()
                return self.process.returncode, True
        return self.process.returncode, False

    def send_sigterm(self) -> None:
        """SIGTERM without waiting (for tests of the shutdown itself)."""
        self.stopping = True
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.stopping = True
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # --- logs ---------------------------------------------------------------------------------------------------
    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_text(self, since: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, since: int = 0, lines: int = LOG_TAIL_LINES) -> str:
        text = self.log_text(since)
        all_lines = text.splitlines()
        if len(all_lines) > lines:
            return (f"[... {len(all_lines) - lines} earlier lines; full log: {self.log_path}]\n"
                    + "\n".join(all_lines[-lines:]))
        return text


def _start(tmp_path_factory, name: str, **kw) -> Broker:
    workdir = tmp_path_factory.mktemp(name)
    return Broker(workdir, **kw).start()


def _stop(b: Broker) -> None:
    if b.process is not None and b.process.poll() is not None and not b.stopping:
        b.died_unexpectedly = b.process.returncode
    b.terminate()
    b.kill()  # closes the log file
    if b.died_unexpectedly is not None:
        b.crashes.append(f"exit status {b.died_unexpectedly} before teardown")
    if b.crashes:
        pytest.fail("flotilla died while tests were using it:\n  " + "\n  ".join(b.crashes)
                    + f"\nfull log: {b.log_path}\n--- log tail ---\n{b.log_tail(lines=80)}", pytrace=False)


@pytest.fixture(scope="module")
def _module_broker(tmp_path_factory, request):
    b = _start(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1])
    b.last_test = "start-up"
    yield b
    _stop(b)


@pytest.fixture
def broker(_module_broker, request):
    """One node shared by the tests of a module (tests use unique client ids and topics). If an earlier test
    crashed it, it is restarted first and the crash is reported at the module's teardown."""
    b = _module_broker
    if not b.alive():
        b.restart_after_crash(b.last_test)
    b.last_test = request.node.name
    return b


@pytest.fixture
def fresh_broker(tmp_path_factory, request):
    """A node of the test's own (for shutdown, restarts, and anything that must see a clean state)."""
    b = _start(tmp_path_factory, request.node.name[:40].replace("[", "_").replace("]", "_"))
    yield b
    _stop(b)


@pytest.fixture
def start_broker(tmp_path_factory, request):
    """Factory: start_broker(extra_args=[...]) for tests that need special flags; all stopped at teardown."""
    started: list[Broker] = []

    def factory(**kw) -> Broker:
        b = _start(tmp_path_factory, "custom", **kw)
        started.append(b)
        return b

    yield factory
    for b in started:
        _stop(b)


# --- attach the broker log of the failing test to its report ----------------------------------------------------

_OFFSETS = pytest.StashKey[dict]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_OFFSETS] = {id(b): b.log_size() for b in _ALL_BROKERS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    offsets = item.stash.get(_OFFSETS, {})
    for b in _ALL_BROKERS:
        start = offsets.get(id(b), 0)
        if b.log_size() <= start and id(b) in offsets:
            continue  # this broker wrote nothing during the test
        tail = b.log_tail(since=start)
        report.sections.append((f"flotilla log during this test ({b!r})", tail or "(empty)"))


@pytest.fixture
def clients():
    """Factory for PahoClient objects that are all disconnected (best effort) at teardown:
    clients(broker, version=..., client_id=..., ...)."""
    from paho_client import PahoClient

    made: list = []

    def make(b: Broker, **kw) -> PahoClient:
        c = PahoClient(b, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def raw_clients():
    """Tracks RawClient objects so that sockets are closed at teardown even when a test fails midway."""
    made: list = []

    def track(c):
        made.append(c)
        return c

    yield track
    for c in made:
        c.close()
