"""Local clusters of real `flotilla serve` processes for the integration tests and benchmarks/failover.py.

- `LocalCluster`: nodes 1..N started by `cluster/up N` (what `make cluster` runs) on a free block of ports, node I
  on B+10(I-1)+0..3 (MQTT, metrics/API, raft, bus); `start_node` starts more nodes — a restart on a node's data
  directory and ports, or a new member with `--join` on fresh ports — and `down` stops them all.
- `Cluster`: N nodes started from Python, each with flags of its own (e.g. `--mqtts-port` and its certificate),
  which cluster/up cannot pass; all bootstrap together.

Both answer the same questions through each node's HTTP API (`status`, `agreed_leader`, `same_state`, `http`,
`cli`) and wait the same way: `wait_for` polls under a deadline and fails with every node's status and log tail.
Test raft timings: election timeout 300 ms, heartbeat 50 ms.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from conftest import HOST, REPO_ROOT, flotilla_bin, free_ports, port_accepts

# Issue 3: "a new leader within 2 s at test settings". Test settings: election timeout 300 ms, heartbeat 50 ms.
ELECTION_MS = 300
HEARTBEAT_MS = 50
FAILOVER_TIMEOUT = 2.0
STOP_TIMEOUT = 10.0


# --- ports -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ports:
    mqtt: int
    api: int
    raft: int
    bus: int
    gossip: int


def _block_free(base: int, count: int) -> bool:
    socks = []
    try:
        for p in range(base, base + count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((HOST, p))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_port_block(span: int) -> int:
    """A base port with `span` consecutive free ports (cluster/up uses base + 10(i-1) + 0..4)."""
    rng = random.Random()
    for _ in range(200):
        # Below the ephemeral range (32768+): raft and bus connections between the nodes use ephemeral local
        # ports and could otherwise take a port before the node meant to listen on it starts.
        base = rng.randrange(20000, 32760 - span, 10)
        if _block_free(base, span):
            return base
    raise AssertionError("no block of free ports found below 32768")


# --- one process -----------------------------------------------------------------------------------------------------

class Node:
    """One `flotilla serve` process: node id, ports (fresh free ones unless given), data directory, log file."""

    def __init__(self, node_id: int, data_dir: Path, log_path: Path, *, ports: Ports | None = None,
                 extra_args: Iterable[str] = ()):
        self.id = node_id
        self.ports = ports or Ports(*free_ports(5))
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.args: list[str] = []
        self.process: subprocess.Popen | None = None

    @property
    def mqtt_port(self) -> int:
        return self.ports.mqtt

    @property
    def api_port(self) -> int:
        return self.ports.api

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, peers: dict[int, Ports], *, join: bool = False, log_level: str = "debug",
              election_ms: int | None = ELECTION_MS, heartbeat_ms: int | None = HEARTBEAT_MS) -> "Node":
        """Starts the process; `peers` maps the other members' ids to their ports (this node's own id is skipped).
        All members bootstrap together, or (`join`) the node waits to be added with `flotilla cluster add`. Raft
        timings default to the test settings; None leaves the node's own default."""
        peer_list = ",".join(f"{j}@{HOST}:{p.raft}:{p.bus}:{p.gossip}" for j, p in sorted(peers.items()) if j != self.id)
        p = self.ports
        self.args = [str(flotilla_bin()), "serve", "--node-id", str(self.id), "--data-dir", str(self.data_dir),
                     "--bind", HOST, "--mqtt-port", str(p.mqtt), "--api-port", str(p.api),
                     "--raft-port", str(p.raft), "--bus-port", str(p.bus), "--gossip-port", str(p.gossip),
                     "--log-level", log_level,
                     "--join" if join else "--bootstrap"]
        if election_ms:
            self.args += ["--election-timeout-ms", str(election_ms)]
        if heartbeat_ms:
            self.args += ["--heartbeat-timeout-ms", str(heartbeat_ms)]
        if peer_list:
            self.args += ["--peers", peer_list]
        self.args += self.extra_args
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit status (None if never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        return self.process.returncode


# --- what every cluster answers --------------------------------------------------------------------------------------

class ClusterBase:
    """Questions asked of the nodes' HTTP APIs. Subclasses say where node i's API and log are."""

    def node_ids(self) -> list[int]:
        raise NotImplementedError

    def api_port(self, i: int) -> int:
        raise NotImplementedError

    def log_path(self, i: int) -> Path:
        raise NotImplementedError

    def data_path(self, i: int) -> Path:
        raise NotImplementedError

    def http(self, i: int, method: str, path: str, body: bytes | None = None,
             timeout: float = 15) -> tuple[int, dict]:
        """(status, JSON body); HTTP errors are returned, and a node that does not answer is (0, {}). AWS operations
        are SigV4-signed with the default tenant's key (any node's `aws-credentials`); `/cluster/…` goes unsigned."""
        url = f"http://{HOST}:{self.api_port(i)}{path}"
        headers = {}
        if not path.startswith("/cluster"):
            headers = self.sign(method, url, body)
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"{}")
            except ValueError:
                return e.code, {}
        except (OSError, ValueError):
            return 0, {}

    def credentials(self) -> tuple[str, str]:
        """The default tenant's key, from the first node that has written its `aws-credentials`."""
        import configparser
        for i in self.node_ids():
            path = self.data_path(i) / "aws-credentials"
            if path.exists():
                ini = configparser.ConfigParser()
                ini.read(path)
                return ini["flotilla"]["aws_access_key_id"], ini["flotilla"]["aws_secret_access_key"]
        return "x", "y"

    def sign(self, method: str, url: str, body: bytes | None) -> dict:
        from aws_kit import Creds, signed
        return signed(method, url, body, Creds(*self.credentials()))

    def status(self, i: int) -> dict | None:
        """Node i's GET /cluster/status, None if it does not answer."""
        code, body = self.http(i, "GET", "/cluster/status", timeout=2)
        return body if code == 200 else None

    def digest(self, i: int) -> str | None:
        """`<applied index>:<state digest>` from GET /cluster/state."""
        code, body = self.http(i, "GET", "/cluster/state", timeout=5)
        return f"{body['appliedIndex']}:{body['digest']}" if code == 200 else None

    def agreed_leader(self, nodes: Iterable[int] | None = None) -> int | None:
        """The leader every one of `nodes` names in the same term, if it is one of them."""
        nodes = list(nodes or self.node_ids())
        views = [self.status(i) for i in nodes]
        if any(v is None or v.get("leaderID") is None for v in views):
            return None
        leaders = {(v["leaderID"], v["term"]) for v in views}
        if len(leaders) != 1:
            return None
        leader = leaders.pop()[0]
        return leader if leader in nodes else None

    def same_state(self, nodes: Iterable[int] | None = None) -> str | None:
        """The applied index and digest, if all `nodes` report the same."""
        digests = {self.digest(i) for i in (nodes or self.node_ids())}
        return digests.pop() if len(digests) == 1 and None not in digests else None

    def cli(self, via: int, *args: str, ok: bool = True, timeout: float = 90) -> subprocess.CompletedProcess:
        """`flotilla cluster <args> --api <node via>`; asserts success unless `ok` is False."""
        cmd = [str(flotilla_bin()), "cluster", *args, "--api", f"http://{HOST}:{self.api_port(via)}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if ok:
            assert done.returncode == 0, f"{' '.join(cmd)} → {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def wait_for(self, what: str, condition: Callable[[], object], timeout: float = 30.0, *,
                 nodes: Iterable[int] | None = None, interval: float = 0.05):
        """Polls `condition` until it returns something true (returned) or `timeout` passes (AssertionError with the
        statuses and log tails of `nodes`, default all)."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() >= deadline:
                nodes = list(nodes or self.node_ids())
                views = {i: self.status(i) for i in nodes}
                raise AssertionError(f"timed out after {timeout}s waiting for {what}\nstatuses: {views}\n"
                                     f"{self.logs(nodes)}")
            time.sleep(interval)

    def logs(self, nodes: Iterable[int] | None = None, lines: int = 40) -> str:
        out = []
        for i in nodes or self.node_ids():
            path = self.log_path(i)
            text = path.read_text(errors="replace").splitlines() if path.exists() else []
            out.append(f"--- node-{i}.log (last {lines} lines) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


# --- cluster/up ------------------------------------------------------------------------------------------------------

class LocalCluster(ClusterBase):
    """Nodes 1..size started by `cluster/up` (data, logs and pid files in `data`), plus nodes started here."""

    def __init__(self, data: Path, size: int = 3, *, election_ms: int | None = ELECTION_MS,
                 heartbeat_ms: int | None = HEARTBEAT_MS, log_level: str = "debug", wait_s: int = 30):
        self.data = data
        self.size = size
        self.timings = dict(log_level=log_level, election_ms=election_ms, heartbeat_ms=heartbeat_ms)
        self.base = free_port_block(10 * size)
        self.env = dict(os.environ, FLOTILLA_BIN=str(flotilla_bin()), CLUSTER_DATA=str(data),
                        CLUSTER_BASE_PORT=str(self.base), CLUSTER_LOG_LEVEL=log_level, CLUSTER_WAIT=str(wait_s))
        if election_ms:
            self.env["CLUSTER_ELECTION_MS"] = str(election_ms)
        if heartbeat_ms:
            self.env["CLUSTER_HEARTBEAT_MS"] = str(heartbeat_ms)
        self.started: dict[int, Node] = {}  # by start_node, latest per id

    def script(self, name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(REPO_ROOT / "cluster" / name), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def up(self) -> subprocess.CompletedProcess:
        return self.script("up", str(self.size))

    def node_ids(self) -> list[int]:
        return sorted(set(range(1, self.size + 1)) | set(self.started))

    def ports(self, i: int) -> Ports:
        if i in self.started:
            return self.started[i].ports
        k = self.base + 10 * (i - 1)
        return Ports(mqtt=k, api=k + 1, raft=k + 2, bus=k + 3, gossip=k + 4)

    def api_port(self, i: int) -> int:
        return self.ports(i).api

    metrics_port = api_port

    def log_path(self, i: int) -> Path:
        return self.data / f"node-{i}.log"

    def data_path(self, i: int) -> Path:
        return self.data / f"node-{i}"

    def pid(self, i: int) -> int:
        return int((self.data / f"node-{i}.pid").read_text().strip())

    def start_node(self, i: int, *, join: bool, peers: Iterable[int], fresh_ports: bool = False) -> Node:
        """Starts node i on its data directory and log, with the cluster's log level and raft timings: on the ports
        it had (cluster/up's layout for 1..size) or, with `fresh_ports`, on new ones (a new member). Its pid file
        lets cluster/down stop it too."""
        node = Node(i, self.data / f"node-{i}", self.log_path(i), ports=None if fresh_ports else self.ports(i))
        members = {j: (node.ports if j == i else self.ports(j)) for j in peers}
        node.start(members, join=join, **self.timings)
        (self.data / f"node-{i}.pid").write_text(f"{node.pid}\n")
        self.started[i] = node
        return node

    def down(self) -> subprocess.CompletedProcess:
        """Stops the nodes started here, then everything cluster/up started."""
        for node in self.started.values():
            node.stop()
        return self.script("down")


# --- started from Python ---------------------------------------------------------------------------------------------

class Cluster(ClusterBase):
    """`size` nodes that bootstrap one raft cluster; `extra_args(i)` adds flags to node i (1-based)."""

    def __init__(self, workdir: Path, size: int = 3, extra_args: Callable[[int], list[str]] | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.nodes = {i: Node(i, workdir / f"node-{i}", workdir / f"node-{i}.log",
                              extra_args=extra_args(i) if extra_args else ())
                      for i in range(1, size + 1)}
        self.crashed: dict[int, int] = {}

    def __getitem__(self, i: int) -> Node:
        return self.nodes[i]

    def node_ids(self) -> list[int]:
        return sorted(self.nodes)

    def api_port(self, i: int) -> int:
        return self.nodes[i].api_port

    def log_path(self, i: int) -> Path:
        return self.nodes[i].log_path

    def data_path(self, i: int) -> Path:
        return self.nodes[i].data_dir

    def start(self, timeout: float = 30.0) -> None:
        """Starts every node, then waits until all of them name the same leader in the same term."""
        members = {i: n.ports for i, n in self.nodes.items()}
        for n in self.nodes.values():
            n.start(members)
        self.wait_for("an agreed leader", lambda: self.all_alive() and self.agreed_leader(), timeout)

    def all_alive(self) -> bool:
        for n in self.nodes.values():
            assert n.alive(), f"node {n.id} exited with status {n.process.returncode}\n{self.logs([n.id])}"
        return True

    def wait_port(self, i: int, port: int, timeout: float = 30.0) -> None:
        self.wait_for(f"node {i} to accept TCP on port {port}", lambda: self.all_alive() and port_accepts(HOST, port),
                      timeout, nodes=[i])

    def stop(self) -> None:
        """Stops every node; records the ones that had died on their own (the caller asserts none did)."""
        for n in self.nodes.values():
            if n.process is not None and n.process.poll() is not None:
                self.crashed[n.id] = n.process.returncode
            n.stop()
