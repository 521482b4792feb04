"""A local three-node cluster started by `cluster/up 3` (the script `make cluster` runs), on free ports.

Checks that the three nodes agree on one leader and term through `GET /cluster/status`, then SIGKILLs the leader
and sees the two survivors agree on a new leader within 2 s (election timeout 300 ms). `cluster/down` tears everything down.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from cluster_kit import FAILOVER_TIMEOUT, LocalCluster
from conftest import HOST, http_get

NODES = 3


@pytest.fixture
def local_cluster(tmp_path):
    c = LocalCluster(tmp_path / "cluster", NODES)
    up = c.up()
    try:
        assert up.returncode == 0, f"cluster/up failed:\n{up.stdout}\n{up.stderr}\n{c.logs()}"
        yield c
    finally:
        down = c.down()
        assert down.returncode == 0, down.stderr


def _agreed_leader(statuses: list[dict | None]) -> tuple[int, int] | None:
    """(leaderID, term) if every status names the same leader in the same term, and exactly one is leader."""
    if any(s is None or s["leaderID"] is None for s in statuses):
        return None
    leaders = {(s["leaderID"], s["term"]) for s in statuses}
    if len(leaders) != 1:
        return None
    if sum(1 for s in statuses if s["role"] == "leader") != 1:
        return None
    return leaders.pop()


def test_three_nodes_agree_and_survive_leader_kill(local_cluster):
    c = local_cluster
    ids = list(range(1, NODES + 1))

    deadline = time.monotonic() + 10
    agreed = None
    while time.monotonic() < deadline:
        statuses = [c.status(i) for i in ids]
        agreed = _agreed_leader(statuses)
        if agreed:
            break
        time.sleep(0.1)
    assert agreed, f"no agreed leader: {statuses}\n{c.logs()}"
    leader, term = agreed
    for i, s in zip(ids, statuses):
        assert s["nodeID"] == i
        assert sorted(p["id"] for p in s["peers"]) == ids
        assert s["appliedIndex"] <= s["commitIndex"]

    # Raft metrics on /metrics.
    code, _, text = http_get(f"http://{HOST}:{c.metrics_port(leader)}/metrics")
    assert code == 200
    for name in ("iot_raft_role", "iot_raft_term", "iot_raft_commit_index", "iot_raft_applied_index"):
        assert name in text, f"{name} missing from /metrics"
    assert any(line.startswith("iot_raft_role") and line.split()[-1] in ("3", "3.0") for line in text.splitlines())
    # Peer state: three voters, and the leader's own id as the known leader. (Gauges refresh every 200 ms.)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _, _, text = http_get(f"http://{HOST}:{c.metrics_port(leader)}/metrics")
        lines = text.splitlines()
        voters = [l for l in lines if l.startswith('iot_raft_members{role="voter"}')]
        leader_id = [l for l in lines if l.startswith("iot_raft_leader_id")]
        if voters and leader_id and float(voters[0].split()[-1]) == 3 and float(leader_id[0].split()[-1]) == leader:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"iot_raft_members/iot_raft_leader_id not as expected:\n{text}")

    os.kill(c.pid(leader), signal.SIGKILL)
    killed_at = time.monotonic()
    survivors = [i for i in ids if i != leader]
    new = None
    while time.monotonic() - killed_at < FAILOVER_TIMEOUT:
        statuses = [c.status(i) for i in survivors]
        new = _agreed_leader(statuses)
        if new and new[0] != leader:
            break
        new = None
        time.sleep(0.05)
    elapsed = time.monotonic() - killed_at
    assert new, f"no new leader among {survivors} within {FAILOVER_TIMEOUT}s: {statuses}\n{c.logs()}"
    assert new[0] in survivors and new[1] > term
    print(f"leader {leader} (term {term}) killed; node {new[0]} leads term {new[1]} after {elapsed:.2f}s")


def test_cluster_status_script(local_cluster):
    out = local_cluster.script("status")
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert len(lines) == NODES, out.stdout
    for i, line in enumerate(lines, start=1):
        assert line.startswith(f"node {i}: {{"), line
        assert json.loads(line.split(": ", 1)[1])["nodeID"] == i
