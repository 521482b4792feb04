"""The README quick start, run exactly as a user would (mosquitto_sub / mosquitto_pub), against the real node.

README commands (default port 1883):
    mosquitto_sub -h 127.0.0.1 -t 'a/#' -q 1 -v
    mosquitto_pub -h 127.0.0.1 -t a/b -m hi -q 1
    (the same with -V mqttv5), and a retained message:
    mosquitto_pub -h 127.0.0.1 -t a/status -m online -r -q 1
    mosquitto_sub -h 127.0.0.1 -t a/status -q 1 -v -C 1

Here each command gets -p <test port>, and the subscriber also gets -C/-W so it ends by itself, and -d so the
test can see when its SUBACK arrived (no sleeping and hoping).
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time

import pytest

CMD_TIMEOUT = 15


def _line_reader(stream, q: queue.Queue) -> None:
    for raw in iter(stream.readline, b""):
        q.put(raw.decode("utf-8", "replace").rstrip("\n"))
    q.put(None)


class Sub:
    """mosquitto_sub in the background; lines of its stdout arrive in a queue."""

    def __init__(self, args: list[str]):
        cmd = ["mosquitto_sub", *args, "-d"]
        if shutil.which("stdbuf"):
            cmd = ["stdbuf", "-oL", *cmd]  # line-buffered, so debug lines arrive as they happen
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=_line_reader, args=(self.proc.stdout, self.lines), daemon=True).start()

    def wait_for(self, predicate, what: str, timeout: float = CMD_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"mosquitto_sub: no {what} within {timeout}s\ncommand: {' '.join(self.cmd)}\n"
                             f"output:\n" + "\n".join(self.seen))

    def wait_subscribed(self) -> None:
        self.wait_for(lambda l: "received SUBACK" in l, "SUBACK")

    def finish(self, timeout: float = CMD_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError(f"mosquitto_sub did not exit within {timeout}s; output:\n" + "\n".join(self.seen))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def pub(broker, *args: str) -> subprocess.CompletedProcess:
    cmd = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.mqtt_port), *args]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=CMD_TIMEOUT)
    assert r.returncode == 0, (f"{' '.join(cmd)} exited {r.returncode}\nstdout: {r.stdout.decode()}\n"
                               f"stderr: {r.stderr.decode()}")
    return r


@pytest.fixture
def subs():
    started: list[Sub] = []

    def start(*args: str) -> Sub:
        s = Sub(list(args))
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.mark.parametrize("version", [[], ["-V", "mqttv5"]], ids=["mqtt311", "mqttv5"])
def test_quickstart_sub_then_pub(fresh_broker, subs, version):
    """README: subscribe to a/# at QoS 1 with -v, publish 'hi' to a/b at QoS 1; the subscriber prints 'a/b hi'."""
    b = fresh_broker
    s = subs("-h", b.host, "-p", str(b.mqtt_port), *version, "-t", "a/#", "-q", "1", "-v", "-C", "1", "-W", "15")
    s.wait_subscribed()
    pub(b, *version, "-t", "a/b", "-m", "hi", "-q", "1")
    s.wait_for(lambda l: l == "a/b hi", "line 'a/b hi'")
    assert s.finish() == 0


@pytest.mark.parametrize("version", [[], ["-V", "mqttv5"]], ids=["mqtt311", "mqttv5"])
def test_quickstart_retained(fresh_broker, subs, version):
    """README: a retained message published before anyone subscribes reaches a later subscriber; an empty
    retained publish clears it."""
    b = fresh_broker
    hp = ["-h", b.host, "-p", str(b.mqtt_port), *version]
    pub(b, *version, "-t", "a/status", "-m", "online", "-r", "-q", "1")
    s = subs(*hp, "-t", "a/status", "-q", "1", "-v", "-C", "1", "-W", "15")
    s.wait_for(lambda l: l == "a/status online", "retained line 'a/status online'")
    assert s.finish() == 0
    # Also on the README's wildcard subscription (MQTT: retained messages match wildcard filters too).
    s = subs(*hp, "-t", "a/#", "-q", "1", "-v", "-C", "1", "-W", "15")
    s.wait_for(lambda l: l == "a/status online", "retained line on 'a/#'")
    assert s.finish() == 0
    # Clearing: -r -n sends an empty retained payload; a new subscriber then gets nothing (-W ends it; rc 27
    # is mosquitto_sub's "timed out" status).
    pub(b, *version, "-t", "a/status", "-r", "-n", "-q", "1")
    s = subs(*hp, "-t", "a/status", "-q", "1", "-v", "-C", "1", "-W", "2")
    s.wait_subscribed()
    rc = s.finish()
    lines = [l for l in s.seen if not l.startswith("Client ") and not l.startswith("Subscribed")]
    assert lines == [], f"expected no message after clearing the retained one, got {lines}"
    assert rc == 27, f"mosquitto_sub should time out (27), exited {rc}"
