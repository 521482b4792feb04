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

import pytest

from cluster_kit import LocalCluster
from conftest import HOST, port_accepts

WAIT = 15.0


@pytest.fixture
def cluster4(tmp_path):
    """cluster/up 3, then node 4 started with --join (on fresh ports) but not yet a member."""
    c = LocalCluster(tmp_path / "cluster")
    up = c.up()
    try:
        assert up.returncode == 0, f"cluster/up failed:\n{up.stdout}\n{up.stderr}\n{c.logs()}"
        node4 = c.start_node(4, join=True, peers=[1, 2, 3], fresh_ports=True)
        yield c, node4
    finally:
        down = c.down()
        assert down.returncode == 0, down.stderr


def voters(s: dict | None) -> list[int]:
    return sorted(p["id"] for p in s["peers"] if p["role"] == "voter") if s else []


def test_join_write_remove_transfer(cluster4):
    c, node4 = cluster4
    leader = c.wait_for("an agreed leader among 1-3", lambda: c.agreed_leader([1, 2, 3]), WAIT)
    c.wait_for("node 4's API", lambda: port_accepts(HOST, node4.api_port), WAIT)
    follower = next(i for i in (1, 2, 3) if i != leader)

    # 2. Added through a follower: forwarded to the leader.
    added = c.cli(follower, "add", "4", "--raft-address", f"{HOST}:{node4.ports.raft}",
                  "--bus-address", f"{HOST}:{node4.ports.bus}")
    assert "node 4 added" in added.stdout
    c.wait_for("four voters on every node",
               lambda: all(voters(c.status(i)) == [1, 2, 3, 4] for i in (1, 2, 3, 4)), WAIT)
    c.wait_for("node 4 knows the leader", lambda: c.agreed_leader([1, 2, 3, 4]), WAIT)
    # Every node knows node 4's bus address (node directory), not only the static peers.
    for i in (1, 2, 3):
        peer4 = next(p for p in c.status(i)["peers"] if p["id"] == 4)
        assert peer4.get("busAddress") == f"{HOST}:{node4.ports.bus}", (i, peer4)

    refused = c.cli(4, "add", "2", "--raft-address", f"{HOST}:1", "--bus-address", f"{HOST}:2", ok=False)
    assert refused.returncode != 0 and "ResourceAlreadyExistsException" in refused.stderr, refused.stderr

    # 3. Written through node 4 (a follower forwarding to the leader, or the leader), read on node 1.
    code, body = c.http(4, "POST", "/things/from-node-4",
                        b'{"attributePayload":{"attributes":{"via":"4"}}}')
    assert code == 200, body
    c.wait_for("node 1 reads the thing",
               lambda: c.http(1, "GET", "/things/from-node-4")[0] == 200, WAIT)
    code, described = c.http(1, "GET", "/things/from-node-4")
    assert described["thingId"] == body["thingId"] and described["attributes"] == {"via": "4"}

    # 4. Remove an original member through another node. Node 1 is made leader first, so the harder path runs
    #    every time: the leader asked to remove itself hands over, and the new leader removes it.
    c.cli(4, "transfer", "1")
    c.wait_for("node 1 leads for 1-4", lambda: c.agreed_leader([1, 2, 3, 4]) == 1, WAIT)
    c.cli(2, "remove", "1")
    c.wait_for("voters 2, 3, 4 on nodes 2-4",
               lambda: all(voters(c.status(i)) == [2, 3, 4] for i in (2, 3, 4)), WAIT)
    leader = c.wait_for("an agreed leader among 2-4", lambda: c.agreed_leader([2, 3, 4]), WAIT)
    assert leader in (2, 3, 4)

    # 5. Leadership moved on request, asked of a follower.
    target = next(i for i in (4, 3, 2) if i != leader)
    via = next(i for i in (2, 3, 4) if i not in (leader, target))
    moved = c.cli(via, "transfer", str(target))
    assert f"leader is now node {target}" in moved.stdout, moved.stdout
    c.wait_for(f"node {target} leads for 2-4", lambda: c.agreed_leader([2, 3, 4]) == target, WAIT)
    c.cli(target, "transfer")  # to any other voter
    c.wait_for("a new agreed leader", lambda: c.agreed_leader([2, 3, 4]) not in (None, target), WAIT)

    # Writes still work on the new configuration, through every remaining node.
    for i in (2, 3, 4):
        code, body = c.http(i, "POST", f"/things/after-{i}")
        assert code == 200, (i, body)

    shown = c.cli(4, "status")
    assert "node 4:" in shown.stdout and "members (3)" in shown.stdout, shown.stdout
    assert "(leader" in shown.stdout or "leader)" in shown.stdout, shown.stdout
    refused = c.cli(3, "remove", "1", ok=False)
    assert refused.returncode != 0 and "ResourceNotFoundException" in refused.stderr, refused.stderr
