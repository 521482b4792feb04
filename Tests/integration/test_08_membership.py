"""Cluster membership at runtime, on real processes: `cluster/up 3` (as in test_06, test raft timings), then

1. a fourth node started with `flotilla serve --node-id 4 --join --peers <the three>`;
2. `flotilla cluster add 4 …` asked of a *follower* (forwarded to the leader over the cluster bus): the leader
   records node 4's bus address in the replicated node directory, then makes it a voter;
3. a thing written through node 4's API is read on node 1;
4. `flotilla cluster remove 1` (an original member, made leader first: it hands over, then is removed): 2, 3, 4
   remain;
5. `flotilla cluster transfer <id>` asked of a follower moves leadership; writes still work; refusals are clear.

Every wait is a poll under a deadline.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import HOST, flotilla_bin, free_ports, port_accepts
from test_06_cluster import ELECTION_MS, HEARTBEAT_MS, LocalCluster

WAIT = 15.0


class Node4:
    """The node that joins at runtime (not started by cluster/up)."""

    def __init__(self, cluster: LocalCluster, workdir):
        self.mqtt_port, self.metrics_port, self.raft_port, self.bus_port = free_ports(4)
        self.log_path = workdir / "node-4.log"
        peers = ",".join(f"{i}@{HOST}:{cluster.base + 10 * (i - 1) + 2}:{cluster.base + 10 * (i - 1) + 3}"
                         for i in (1, 2, 3))
        self.args = [str(flotilla_bin()), "serve", "--node-id", "4", "--join", "--peers", peers,
                     "--data-dir", str(workdir / "node-4"), "--bind", HOST,
                     "--mqtt-port", str(self.mqtt_port), "--metrics-port", str(self.metrics_port),
                     "--raft-port", str(self.raft_port), "--bus-port", str(self.bus_port),
                     "--election-timeout-ms", str(ELECTION_MS), "--heartbeat-timeout-ms", str(HEARTBEAT_MS),
                     "--log-level", "debug"]
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return "--- node-4.log ---\n" + "\n".join(text[-lines:])


@pytest.fixture
def cluster4(tmp_path):
    c = LocalCluster(tmp_path / "cluster")
    up = c.script("up", "3")
    node4 = None
    try:
        assert up.returncode == 0, f"cluster/up failed:\n{up.stdout}\n{up.stderr}\n{c.logs()}"
        node4 = Node4(c, tmp_path)
        yield c, node4
    finally:
        if node4 is not None:
            node4.stop()
        down = c.script("down")
        assert down.returncode == 0, down.stderr


def api_port(c: LocalCluster, node4: Node4, i: int) -> int:
    return node4.metrics_port if i == 4 else c.metrics_port(i)


def status(c: LocalCluster, node4: Node4, i: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{api_port(c, node4, i)}/cluster/status", timeout=1) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def voters(s: dict | None) -> list[int]:
    return sorted(p["id"] for p in s["peers"] if p["role"] == "voter") if s else []


def wait_for(what: str, condition, c: LocalCluster, node4: Node4, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.05)
    views = {i: status(c, node4, i) for i in (1, 2, 3, 4)}
    pytest.fail(f"timed out after {timeout}s waiting for {what}\nstatuses: {views}\n{c.logs()}\n{node4.tail()}",
                pytrace=False)


def agreed_leader(c: LocalCluster, node4: Node4, nodes: list[int]) -> int | None:
    views = [status(c, node4, i) for i in nodes]
    if any(v is None or v["leaderID"] is None for v in views):
        return None
    leaders = {(v["leaderID"], v["term"]) for v in views}
    return leaders.pop()[0] if len(leaders) == 1 else None


def cli(c: LocalCluster, node4: Node4, via: int, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(flotilla_bin()), "cluster", *args, "--api", f"http://{HOST}:{api_port(c, node4, via)}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if ok:
        assert done.returncode == 0, f"{' '.join(cmd)} → {done.returncode}\n{done.stdout}\n{done.stderr}\n{c.logs()}"
    return done


def http(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_join_write_remove_transfer(cluster4):
    c, node4 = cluster4
    leader = wait_for("an agreed leader among 1-3", lambda: agreed_leader(c, node4, [1, 2, 3]), c, node4)
    wait_for("node 4's API", lambda: port_accepts(HOST, node4.metrics_port), c, node4)
    follower = next(i for i in (1, 2, 3) if i != leader)

    # 2. Added through a follower: forwarded to the leader.
    added = cli(c, node4, follower, "add", "4", "--raft-address", f"{HOST}:{node4.raft_port}",
                "--bus-address", f"{HOST}:{node4.bus_port}")
    assert "node 4 added" in added.stdout
    wait_for("four voters on every node",
             lambda: all(voters(status(c, node4, i)) == [1, 2, 3, 4] for i in (1, 2, 3, 4)), c, node4)
    wait_for("node 4 knows the leader", lambda: agreed_leader(c, node4, [1, 2, 3, 4]), c, node4)
    # Every node knows node 4's bus address (node directory), not only the static peers.
    for i in (1, 2, 3):
        peer4 = next(p for p in status(c, node4, i)["peers"] if p["id"] == 4)
        assert peer4.get("busAddress") == f"{HOST}:{node4.bus_port}", (i, peer4)

    refused = cli(c, node4, 4, "add", "2", "--raft-address", f"{HOST}:1", "--bus-address", f"{HOST}:2", ok=False)
    assert refused.returncode != 0 and "ResourceAlreadyExistsException" in refused.stderr, refused.stderr

    # 3. Written through node 4 (a follower forwarding to the leader, or the leader), read on node 1.
    code, body = http(node4.metrics_port, "POST", "/things/from-node-4",
                      b'{"attributePayload":{"attributes":{"via":"4"}}}')
    assert code == 200, body
    wait_for("node 1 reads the thing",
             lambda: http(c.metrics_port(1), "GET", "/things/from-node-4")[0] == 200, c, node4)
    code, described = http(c.metrics_port(1), "GET", "/things/from-node-4")
    assert described["thingId"] == body["thingId"] and described["attributes"] == {"via": "4"}

    # 4. Remove an original member through another node. Node 1 is made leader first, so the harder path runs
    #    every time: the leader asked to remove itself hands over, and the new leader removes it.
    cli(c, node4, 4, "transfer", "1")
    wait_for("node 1 leads for 1-4", lambda: agreed_leader(c, node4, [1, 2, 3, 4]) == 1, c, node4)
    cli(c, node4, 2, "remove", "1")
    wait_for("voters 2, 3, 4 on nodes 2-4",
             lambda: all(voters(status(c, node4, i)) == [2, 3, 4] for i in (2, 3, 4)), c, node4)
    leader = wait_for("an agreed leader among 2-4", lambda: agreed_leader(c, node4, [2, 3, 4]), c, node4)
    assert leader in (2, 3, 4)

    # 5. Leadership moved on request, asked of a follower.
    target = next(i for i in (4, 3, 2) if i != leader)
    via = next(i for i in (2, 3, 4) if i not in (leader, target))
    moved = cli(c, node4, via, "transfer", str(target))
    assert f"leader is now node {target}" in moved.stdout, moved.stdout
    wait_for(f"node {target} leads for 2-4", lambda: agreed_leader(c, node4, [2, 3, 4]) == target, c, node4)
    cli(c, node4, target, "transfer")  # to any other voter
    wait_for("a new agreed leader", lambda: agreed_leader(c, node4, [2, 3, 4]) not in (None, target), c, node4)

    # Writes still work on the new configuration, through every remaining node.
    for i in (2, 3, 4):
        code, body = http(api_port(c, node4, i), "POST", f"/things/after-{i}")
        assert code == 200, (i, body)

    shown = cli(c, node4, 4, "status")
    assert "node 4:" in shown.stdout and "members (3)" in shown.stdout, shown.stdout
    assert "(leader" in shown.stdout or "leader)" in shown.stdout, shown.stdout
    refused = cli(c, node4, 3, "remove", "1", ok=False)
    assert refused.returncode != 0 and "ResourceNotFoundException" in refused.stderr, refused.stderr
