"""A local cluster of real `flotilla serve` processes for the integration tests, started from Python (not through
`cluster/up`) so that each node can get flags of its own (e.g. `--mqtts-port` and its certificate).

Each node gets four free loopback ports (MQTT, metrics/API, raft, bus) from `conftest.free_ports`, a data
directory, and a log file `node-<i>.log` in the cluster's work directory. All nodes start with `--bootstrap` and
`--peers` naming the others, at the test raft timings. Every wait is a poll under a deadline.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Callable

from conftest import HOST, flotilla_bin, free_ports, http_get, port_accepts

ELECTION_MS = 300
HEARTBEAT_MS = 50
STOP_TIMEOUT = 10.0


class Node:
    def __init__(self, node_id: int, workdir: Path, extra_args: list[str]):
        self.id = node_id
        self.mqtt_port, self.api_port, self.raft_port, self.bus_port = free_ports(4)
        self.data_dir = workdir / f"node-{node_id}"
        self.log_path = workdir / f"node-{node_id}.log"
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen | None = None

    @property
    def api(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    def start(self, peers: list["Node"], *, log_level: str = "debug") -> None:
        peer_list = ",".join(f"{p.id}@{HOST}:{p.raft_port}:{p.bus_port}" for p in peers if p.id != self.id)
        args = [str(flotilla_bin()), "serve", "--node-id", str(self.id), "--data-dir", str(self.data_dir),
                "--bind", HOST, "--mqtt-port", str(self.mqtt_port), "--metrics-port", str(self.api_port),
                "--raft-port", str(self.raft_port), "--bus-port", str(self.bus_port), "--log-level", log_level,
                "--election-timeout-ms", str(ELECTION_MS), "--heartbeat-timeout-ms", str(HEARTBEAT_MS),
                "--bootstrap"]
        if peer_list:
            args += ["--peers", peer_list]
        args += self.extra_args
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after the grace period. Returns the exit status (None if never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        return self.process.returncode

    def status(self) -> dict | None:
        try:
            code, _, body = http_get(f"{self.api}/cluster/status", timeout=1.0)
        except OSError:
            return None
        return json.loads(body) if code == 200 else None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return f"--- node-{self.id}.log (last {lines} lines) ---\n" + "\n".join(text[-lines:])


class Cluster:
    """`size` nodes that bootstrap one raft cluster. `extra_args(i)` adds flags to node i (1-based)."""

    def __init__(self, workdir: Path, size: int = 3, extra_args: Callable[[int], list[str]] | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.nodes = {i: Node(i, workdir, extra_args(i) if extra_args else []) for i in range(1, size + 1)}
        self.crashed: dict[int, int] = {}

    def __getitem__(self, i: int) -> Node:
        return self.nodes[i]

    def start(self, timeout: float = 30.0) -> None:
        """Starts every node, then waits until all of them name the same leader in the same term."""
        peers = list(self.nodes.values())
        for n in peers:
            n.start(peers)
        self.wait_for("an agreed leader", self.agreed_leader, timeout)

    def agreed_leader(self) -> int | None:
        views = []
        for n in self.nodes.values():
            assert n.alive(), f"node {n.id} exited with status {n.process.returncode}\n{n.log_tail()}"
            views.append(n.status())
        if any(v is None or v.get("leaderID") is None for v in views):
            return None
        leaders = {(v["leaderID"], v["term"]) for v in views}
        return leaders.pop()[0] if len(leaders) == 1 else None

    def wait_for(self, what: str, condition: Callable[[], object], timeout: float, interval: float = 0.05):
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")
            time.sleep(interval)

    def wait_port(self, i: int, port: int, timeout: float = 30.0) -> None:
        node = self.nodes[i]

        def accepts() -> bool:
            assert node.alive(), f"node {i} exited with status {node.process.returncode}\n{node.log_tail()}"
            return port_accepts(HOST, port)

        self.wait_for(f"node {i} to accept TCP on port {port}", accepts, timeout)

    def stop(self) -> None:
        """Stops every node; records the ones that had died on their own (the caller asserts none did)."""
        for n in self.nodes.values():
            if n.process is not None and n.process.poll() is not None:
                self.crashed[n.id] = n.process.returncode
            n.stop()

    def logs(self, lines: int = 40) -> str:
        return "\n".join(n.log_tail(lines) for n in self.nodes.values())
