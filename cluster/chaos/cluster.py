"""The chaos run's cluster: `flotilla serve` processes, each in its own network namespace (or, as a fallback, all on
127.0.0.1 with their own ports), and what the runner asks of them: the operator routes (`/cluster/status`,
`/cluster/members`) — loopback-only, so in namespace mode they are asked from inside the node's namespace with the
source address 127.0.0.1 — and the SigV4-signed AWS APIs, asked from the clients' namespace.
"""

from __future__ import annotations

import configparser
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import netns

ELECTION_MS = 300
HEARTBEAT_MS = 50
REGION = "us-east-1"


@dataclass
class Node:
    id: int
    host: str
    mqtt: int
    api: int
    raft: int
    bus: int
    gossip: int
    data_dir: Path
    log_path: Path
    ns: str | None
    process: subprocess.Popen | None = None
    join: bool = False
    paused: bool = False
    starts: int = 0

    def peer_spec(self) -> str:
        return f"{self.id}@{self.host}:{self.raft}:{self.bus}:{self.gossip}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Cluster:
    bin: str
    run_dir: Path
    size: int
    topo: netns.Topology | None
    log_level: str = "info"
    nodes: dict[int, Node] = field(default_factory=dict)
    creds: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        base = None if self.topo else free_port_block(10 * self.size)
        for i in range(1, self.size + 1):
            if self.topo:
                host, ports = self.topo.addr(i), (1883, 8080, 7000, 7001, 7002)
            else:
                k = base + 10 * (i - 1)
                host, ports = "127.0.0.1", (k, k + 1, k + 2, k + 3, k + 4)
            self.nodes[i] = Node(i, host, *ports, data_dir=self.run_dir / f"node-{i}",
                                 log_path=self.run_dir / f"node-{i}.log",
                                 ns=self.topo.node_ns[i] if self.topo else None)

    def ids(self) -> list[int]:
        return sorted(self.nodes)

    # --- processes ---------------------------------------------------------------------------------------------------

    def start(self, i: int, *, join: bool | None = None, peers: list[int] | None = None) -> None:
        n = self.nodes[i]
        if join is not None:
            n.join = join
        peers = [j for j in (peers or self.ids()) if j != i]
        args = [self.bin, "serve", "--node-id", str(i), "--data-dir", str(n.data_dir), "--bind", n.host,
                "--mqtt-port", str(n.mqtt), "--api-port", str(n.api), "--raft-port", str(n.raft),
                "--bus-port", str(n.bus), "--gossip-port", str(n.gossip), "--log-level", self.log_level,
                "--join" if n.join else "--bootstrap",
                "--election-timeout-ms", str(ELECTION_MS), "--heartbeat-timeout-ms", str(HEARTBEAT_MS),
                "--peers", ",".join(self.nodes[j].peer_spec() for j in peers)]
        if n.ns:
            args = ["ip", "netns", "exec", n.ns] + args  # `ip netns exec` execs: the pid is flotilla's
        with open(n.log_path, "ab") as log:
            log.write(f"\n=== chaos: start {'--join' if n.join else ''} at {time.strftime('%H:%M:%S')} ===\n".encode())
            log.flush()
            n.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        n.paused = False
        n.starts += 1

    def signal(self, i: int, sig: int) -> None:
        n = self.nodes[i]
        if n.alive():
            os.kill(n.process.pid, sig)
        if sig == signal.SIGSTOP:
            n.paused = True
        elif sig == signal.SIGCONT:
            n.paused = False

    def kill(self, i: int) -> None:
        n = self.nodes[i]
        if n.alive():
            os.kill(n.process.pid, signal.SIGKILL)
            n.process.wait(10)
        n.paused = False

    def stop(self, i: int, timeout: float = 10) -> None:
        """SIGTERM (SIGCONT first, in case it is paused), SIGKILL after `timeout`."""
        n = self.nodes[i]
        if not n.alive():
            return
        os.kill(n.process.pid, signal.SIGCONT)
        n.process.terminate()
        try:
            n.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(i)
        n.paused = False

    def wipe(self, i: int) -> None:
        shutil.rmtree(self.nodes[i].data_dir, ignore_errors=True)

    def stop_all(self) -> dict[int, int | None]:
        """Stops every node; returns the exit status of those that had died on their own."""
        died = {i: n.process.returncode for i, n in self.nodes.items() if n.process and n.process.poll() is not None}
        for i in self.ids():
            self.stop(i)
        return died

    # --- operator routes ---------------------------------------------------------------------------------------------

    def _connection(self, n: Node, timeout: float, loopback: bool) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(n.host, n.api, timeout=timeout)
        if loopback and n.ns:
            sock = netns.socket_in(n.ns)
            sock.settimeout(timeout)
            try:
                sock.bind(("127.0.0.1", 0))
                sock.connect((n.host, n.api))
            except OSError:
                sock.close()
                raise
            conn.sock = sock
        return conn

    def admin(self, i: int, method: str, path: str, body: dict | None = None,
              timeout: float = 5) -> tuple[int, dict]:
        """(status, JSON) of an operator route on node i; (0, {}) when it does not answer."""
        n = self.nodes[i]
        if not n.alive() or n.paused:
            return 0, {}
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn = self._connection(n, timeout, loopback=True)
            try:
                conn.request(method, path, body=data, headers={"content-type": "application/json"} if data else {})
                r = conn.getresponse()
                raw = r.read()
                try:
                    return r.status, json.loads(raw or b"{}")
                except ValueError:
                    return r.status, {"_text": raw[:300].decode("utf-8", "replace")}
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            return 0, {}

    def status(self, i: int) -> dict | None:
        code, body = self.admin(i, "GET", "/cluster/status", timeout=1.5)
        return body if code == 200 else None

    def members(self, i: int) -> dict[int, str]:
        code, body = self.admin(i, "GET", "/cluster/members", timeout=1.5)
        return {m["id"]: m["state"] for m in body.get("members", [])} if code == 200 else {}

    def healthy(self, nodes: list[int] | None = None) -> int | None:
        """The leader when every node in `nodes` (default all) is up, names the same leader in the same term, has
        that leader among them, and every raft voter list has them all; else None."""
        nodes = nodes or self.ids()
        views = [self.status(i) for i in nodes]
        if any(v is None or v.get("leaderID") is None for v in views):
            return None
        if len({(v["leaderID"], v["term"]) for v in views}) != 1:
            return None
        leader = views[0]["leaderID"]
        if leader not in nodes:
            return None
        lv = views[nodes.index(leader)]
        voters = {p["id"] for p in lv.get("peers", [])} | {leader}
        if not set(nodes) <= voters:
            return None
        return leader

    def wait_healthy(self, timeout: float, nodes: list[int] | None = None) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.healthy(nodes)
            if leader:
                return leader
            time.sleep(0.2)
        return None

    def load_credentials(self) -> None:
        for n in self.nodes.values():
            path = n.data_dir / "aws-credentials"
            if path.exists():
                ini = configparser.ConfigParser()
                ini.read(path)
                self.creds = (ini["flotilla"]["aws_access_key_id"], ini["flotilla"]["aws_secret_access_key"])
                return

    # --- signed AWS requests (from the clients' namespace) -----------------------------------------------------------

    def aws(self, i: int, method: str, path: str, body: bytes | None, service: str,
            timeout: float) -> tuple[str, int, dict]:
        """One signed request to node i: ("answered", status, json) | ("refused", 0, {}) when it never reached the
        node (connect failed: the request was not sent) | ("lost", 0, {}) when it was sent and no answer came."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        n = self.nodes[i]
        url = f"http://{n.host}:{n.api}{path}"
        headers = {"content-type": "application/json"} if body is not None else {}
        req = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        SigV4Auth(Credentials(*self.creds), service, REGION).add_auth(req)
        conn = http.client.HTTPConnection(n.host, n.api, timeout=timeout)
        try:
            try:
                conn.connect()
            except OSError:
                return "refused", 0, {}
            try:
                conn.request(method, path, body=body, headers=dict(req.headers.items()))
                r = conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException):
                return "lost", 0, {}
            try:
                return "answered", r.status, json.loads(raw or b"{}")
            except ValueError:
                return "answered", r.status, {}
        finally:
            conn.close()


def free_port_block(span: int) -> int:
    import random
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32760 - span, 10)
        socks = []
        try:
            for p in range(base, base + span):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of free ports below 32768")
