"""The control plane on a three-node cluster (issue 5, "Done when" 5): every write made through one node's API is
visible through the others, with the real AWS CLI and boto3 signing with the same key on every node; a tenant and
its key made through one node work on all; after the leader is killed (SIGKILL), the survivors keep answering
reads and writes (a follower forwards its writes to the new leader).
"""

from __future__ import annotations

import json
import os
import signal
from types import SimpleNamespace

import pytest

from aws_kit import Creds, aws, aws_json, client, credentials, raw
from cluster_kit import FAILOVER_TIMEOUT, Cluster
from conftest import HOST

DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect",
                                                           "Resource": "*"}]})


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "c", 3)
    try:
        c.start()
        # Every node writes the default tenant's credentials once the one key is replicated to it.
        c.wait_for("every node's aws-credentials", lambda: all(
            (c.data_path(i) / "aws-credentials").exists() for i in c.node_ids()), 30)
        yield c
    finally:
        c.stop()
    assert not c.crashed, f"nodes died on their own: {c.crashed}"


def node(c, i: int) -> SimpleNamespace:
    """What aws_kit needs of a node: its API URL and data directory."""
    return SimpleNamespace(api_url=f"http://{HOST}:{c.api_port(i)}", metrics_url=f"http://{HOST}:{c.api_port(i)}",
                           data_dir=c.data_path(i))


def test_writes_on_any_node_are_seen_on_all_and_survive_the_leader(cluster):
    c = cluster
    keys = {credentials(node(c, i)) for i in c.node_ids()}
    assert len(keys) == 1, f"the nodes bootstrapped different keys: {keys}"

    # One write through each node, of a different kind.
    aws(node(c, 1), "create-thing", "--thing-name", "via-1", "--attribute-payload",
        '{"attributes":{"node":"1"}}')
    aws(node(c, 2), "create-policy", "--policy-name", "via-2", "--policy-document", DOC)
    arn = f"arn:aws:iot:us-east-1:000000000000:cert/{'ab' * 32}"
    aws(node(c, 3), "attach-policy", "--policy-name", "via-2", "--target", arn)
    aws(node(c, 3), "attach-thing-principal", "--thing-name", "via-1", "--principal", arn)
    for i in c.node_ids():
        n = node(c, i)
        c.wait_for(f"node {i} to see every write", lambda: raw(n, "GET", "/things/via-1")[0] == 200
                   and raw(n, "GET", "/policies/via-2")[0] == 200, 10, nodes=[i])
        assert aws_json(n, "describe-thing", "--thing-name", "via-1")["attributes"] == {"node": "1"}
        assert aws_json(n, "list-targets-for-policy", "--policy-name", "via-2")["targets"] == [arn]
        assert aws_json(n, "list-thing-principals", "--thing-name", "via-1")["principals"] == [arn]

    # A tenant and a key made through node 2's operator routes sign on node 3.
    assert raw(node(c, 2), "POST", "/cluster/tenants", b'{"accountId":"444444444444","name":"quad"}',
               sign=False)[0] == 200
    status, _, key = raw(node(c, 2), "POST", "/cluster/tenants/444444444444/access-keys", sign=False)
    assert status == 200
    quad = Creds(key["accessKeyId"], key["secretAccessKey"])
    c.wait_for("node 3 to know the new key", lambda: raw(node(c, 3), "GET", "/things", creds=quad)[0] == 200, 10)
    assert aws_json(node(c, 3), "list-things", creds=quad)["things"] == []  # another tenant: none of ours

    # Kill the leader; the survivors keep answering, writes included, through whichever node is asked.
    leader = c.agreed_leader()
    assert leader
    os.kill(c[leader].pid, signal.SIGKILL)
    c[leader].process.wait(timeout=10)
    survivors = [i for i in c.node_ids() if i != leader]
    c.wait_for("a new leader among the survivors", lambda: c.agreed_leader(survivors), FAILOVER_TIMEOUT,
               nodes=survivors)
    for i in survivors:
        n = node(c, i)
        aws(n, "create-thing", "--thing-name", f"after-kill-{i}")
        aws(n, "create-policy-version", "--policy-name", "via-2", "--policy-document", DOC, "--set-as-default")
    iot = client(node(c, survivors[0]))
    names = {t["thingName"] for t in iot.list_things()["things"]}
    assert {"via-1", *(f"after-kill-{i}" for i in survivors)} <= names
    for i in survivors:
        n = node(c, i)
        c.wait_for(f"node {i} to see both survivors' writes", lambda: all(
            raw(n, "GET", f"/things/after-kill-{j}")[0] == 200 for j in survivors), 10, nodes=[i])
        versions = aws_json(n, "list-policy-versions", "--policy-name", "via-2")["policyVersions"]
        assert len(versions) == 3
    # The killed node is marked as crashed on purpose, not by accident.
    c[leader].process = None
