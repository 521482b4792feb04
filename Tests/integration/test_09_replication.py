"""Replicated writes on real processes (issue 3, "Done when" 2, 3 and 5): `cluster/up 3` at test raft timings, then

1. a retained message published on node 1 reaches a new subscriber on node 3;
2. 1,000 things (HTTP API) and 1,000 retained messages (MQTT 5, QoS 1) written round-robin through every node —
   leader and followers; half before the leader is SIGKILLed, half after, through the survivors, retried until
   acknowledged (HTTP 200 / PUBACK 0x00);
3. a new leader within 2 s of the kill;
4. every acknowledged write present on both survivors (ListThings on each; a `#` subscription on each receives
   every retained message with its last acknowledged payload), and node 1's retained message still delivered;
5. the killed node restarted on its data directory catches up: its applied state's digest (`GET /cluster/state`)
   equals its peers';
6. a fourth node joins (`flotilla cluster add`), then an old node is removed, its data directory wiped, and it is
   added again: it ends with the same state as its peers.

Every wait is a poll under a deadline. The cluster's logs are printed on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from aws_kit import raw
from cluster_kit import FAILOVER_TIMEOUT, LocalCluster
from conftest import HOST, port_accepts
from paho_client import V5, PahoClient

THINGS = 1000
RETAINED = 1000
WAIT = 30.0


@pytest.fixture
def cluster(tmp_path):
    c = LocalCluster(tmp_path / "cluster")
    up = c.up()
    try:
        assert up.returncode == 0, f"cluster/up failed:\n{up.stdout}\n{up.stderr}\n{c.logs()}"
        yield c
    finally:
        down = c.down()
        assert down.returncode == 0, down.stderr


# --- writers -------------------------------------------------------------------------------------------------------

def create_thing(c: LocalCluster, nodes: list[int], n: int, deadline: float) -> bool:
    """Creates thing n through nodes[n % len], moving on to the next node on failure, until acknowledged."""
    name = f"thing-{n:04d}"
    body = json.dumps({"attributePayload": {"attributes": {"n": str(n)}}}).encode()
    attempt = 0
    while time.monotonic() < deadline:
        code, _ = c.http(nodes[(n + attempt) % len(nodes)], "POST", f"/things/{name}", body)
        if code == 200:  # CreateThing is idempotent for the same configuration, so a retry is safe
            return True
        attempt += 1
        time.sleep(0.05)
    return False


class RetainedWriter:
    """One MQTT 5 client on one node, publishing retained QoS 1 messages pipelined; records which were acked.

    PUBACK results are keyed by message id in paho's callback (which runs under paho's own locks, so it takes only
    `results_lock`, never held while calling into paho) and matched to what was sent afterwards.
    """

    def __init__(self, c: LocalCluster, node: int):
        self.node = node
        self.client = PahoClient(SimpleNamespace(host=HOST, mqtt_port=c.ports(node).mqtt), version=V5)
        self.client.c.max_inflight_messages_set(200)
        self.client.c.max_queued_messages_set(0)
        self.sent: dict[int, tuple[str, bytes]] = {}
        self.results_lock = threading.Lock()
        self.results: dict[int, int] = {}
        self.client.c.on_publish = self._on_publish
        self.client.connect()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self.results_lock:
            self.results[mid] = int(reason_code.value)

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.c.publish(topic, payload, qos=1, retain=True)
        self.sent[info.mid] = (topic, payload)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.client.disconnected.is_set():
            with self.results_lock:
                if all(mid in self.results for mid in self.sent):
                    return
            time.sleep(0.05)

    @property
    def acked(self) -> dict[str, bytes]:
        with self.results_lock:
            return {t: p for mid, (t, p) in self.sent.items() if self.results.get(mid) == 0}

    def close(self) -> None:
        self.client.c.disconnect()
        self.client.c.loop_stop()


def write_retained(c: LocalCluster, nodes: list[int], numbers, deadline: float) -> dict[str, bytes]:
    """Publishes r/<n> round-robin over `nodes`; republishes what was not acknowledged, through the next node."""
    acked: dict[str, bytes] = {}
    todo = list(numbers)
    round_ = 0
    while todo and time.monotonic() < deadline:
        writers = {}
        for i in nodes:
            try:
                writers[i] = RetainedWriter(c, i)
            except (AssertionError, OSError):
                pass
        assert writers, "no node accepts MQTT connections"
        live = sorted(writers)
        for n in todo:
            writers[live[(n + round_) % len(live)]].publish(f"r/{n:04d}", f"v{n}-{round_}".encode())
        for w in writers.values():
            w.wait(max(0.1, deadline - time.monotonic()))
            acked.update(w.acked)
            w.close()
        todo = [n for n in todo if f"r/{n:04d}" not in acked]
        round_ += 1
    return acked


# --- readers -------------------------------------------------------------------------------------------------------

def list_things(c: LocalCluster, i: int) -> dict[str, dict]:
    out: dict[str, dict] = {}
    token = ""
    for _ in range(100):  # 250 a page: 1,000 things are 4 pages; bounded
        path = "/things?maxResults=250" + (f"&nextToken={urllib.parse.quote(token)}" if token else "")
        code, body = c.http(i, "GET", path)
        assert code == 200, (i, code, body)
        for t in body["things"]:
            out[t["thingName"]] = t
        token = body.get("nextToken") or ""
        if not token:
            return out
    pytest.fail("ListThings did not end")


def retained_on(c: LocalCluster, i: int, flt: str, expected: int, timeout: float = 20) -> dict[str, bytes]:
    """Subscribes a new client on node i and collects the retained messages it is sent."""
    sub = PahoClient(SimpleNamespace(host=HOST, mqtt_port=c.ports(i).mqtt), version=V5)
    sub.connect()
    try:
        assert sub.subscribe(flt, 1) == [1]
        got: dict[str, bytes] = {}
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            try:
                m = sub.messages.get(timeout=0.5)
            except Exception:
                continue
            assert m.retain, f"{m.topic} delivered without RETAIN on node {i}"
            got[m.topic] = m.payload
        return got
    finally:
        sub.c.disconnect()
        sub.c.loop_stop()


# --- the test ------------------------------------------------------------------------------------------------------

def test_acknowledged_writes_survive_leader_kill_and_nodes_catch_up(cluster):
    c = cluster
    ids = [1, 2, 3]
    leader = c.wait_for("an agreed leader", lambda: c.agreed_leader(ids), WAIT)

    # 1. Retained on node 1, delivered to a new subscriber on node 3 (acknowledged = committed).
    pub = PahoClient(SimpleNamespace(host=HOST, mqtt_port=c.ports(1).mqtt), version=V5)
    pub.connect()
    pub.publish("from/node-1", b"hello from 1", qos=1, retain=True)
    pub.c.disconnect()
    pub.c.loop_stop()
    assert retained_on(c, 3, "from/node-1", 1) == {"from/node-1": b"hello from 1"}

    # 2a. The first half through all three nodes (leader and followers).
    deadline = time.monotonic() + 120
    with ThreadPoolExecutor(max_workers=8) as pool:
        things_a = list(pool.map(lambda n: create_thing(c, ids, n, deadline), range(THINGS // 2)))
    assert all(things_a), f"{things_a.count(False)} things not acknowledged before the kill\n{c.logs(ids)}"
    retained_a = write_retained(c, ids, range(RETAINED // 2), deadline)
    assert len(retained_a) == RETAINED // 2, f"only {len(retained_a)} retained acknowledged\n{c.logs(ids)}"

    # 3. SIGKILL the leader; the survivors elect a new one within 2 s while the second half is being written.
    survivors = [i for i in ids if i != leader]
    os.kill(c.pid(leader), signal.SIGKILL)
    killed_at = time.monotonic()
    deadline = killed_at + 120
    acked_things: list[bool] = []
    acked_retained: dict[str, bytes] = {}

    def second_half():
        with ThreadPoolExecutor(max_workers=8) as pool:
            acked_things.extend(pool.map(lambda n: create_thing(c, survivors, n, deadline),
                                         range(THINGS // 2, THINGS)))
        acked_retained.update(write_retained(c, survivors, range(RETAINED // 2, RETAINED), deadline))

    writer = threading.Thread(target=second_half)
    writer.start()
    new_leader = None
    while time.monotonic() - killed_at < FAILOVER_TIMEOUT:
        new_leader = c.agreed_leader(survivors)
        if new_leader is not None:
            break
        time.sleep(0.02)
    failover = time.monotonic() - killed_at
    writer.join(timeout=150)
    assert not writer.is_alive(), "writers did not finish"
    assert new_leader in survivors, f"no new leader within {FAILOVER_TIMEOUT}s\n{c.logs(ids)}"
    print(f"\nleader {leader} killed; node {new_leader} leads after {failover:.2f}s")
    assert all(acked_things) and len(acked_things) == THINGS // 2, "things not acknowledged after the kill"
    assert len(acked_retained) == RETAINED // 2, f"only {len(acked_retained)} retained acknowledged after the kill"
    acked_retained.update(retained_a)

    # 4. Every acknowledged write on both survivors.
    for i in survivors:
        things = list_things(c, i)
        missing = [n for n in range(THINGS) if f"thing-{n:04d}" not in things]
        assert not missing, f"node {i} lacks {len(missing)} acknowledged things, e.g. {missing[:5]}"
        assert things["thing-0999"]["attributes"] == {"n": "999"}
        got = retained_on(c, i, "r/#", RETAINED)
        assert got == acked_retained, (
            f"node {i}: {len(got)} retained, {sum(1 for t in acked_retained if got.get(t) != acked_retained[t])} "
            "differ from the acknowledged ones")
        assert retained_on(c, i, "from/node-1", 1) == {"from/node-1": b"hello from 1"}, \
            f"node 1's retained message lost on node {i}"

    # 5. The killed node restarts on its data directory and catches up.
    c.start_node(leader, join=False, peers=ids)
    c.wait_for(f"node {leader} restarted to catch up", lambda: c.same_state(ids), 60, nodes=ids)

    # 6. A fourth node joins; an old node is removed, wiped, and added back on an empty data directory.
    p4 = c.start_node(4, join=True, peers=[1, 2, 3, 4], fresh_ports=True).ports
    c.wait_for("node 4's API", lambda: port_accepts(HOST, p4.api), WAIT, nodes=[4])
    c.cli(survivors[0], "add", "4", "--raft-address", f"{HOST}:{p4.raft}", "--bus-address", f"{HOST}:{p4.bus}")
    all4 = [1, 2, 3, 4]
    c.wait_for("four nodes with the same state", lambda: c.same_state(all4), 60, nodes=all4)

    old = leader  # the node killed earlier
    others = [i for i in all4 if i != old]
    c.cli(others[0], "remove", str(old))
    c.wait_for(f"node {old} gone from the configuration",
               lambda: all(old not in [p["id"] for p in (c.status(i) or {"peers": [{"id": old}]})["peers"]]
                         for i in others), WAIT, nodes=others)
    c.started[old].stop(timeout=15)
    shutil.rmtree(c.data / f"node-{old}")
    c.start_node(old, join=True, peers=all4)
    c.wait_for(f"node {old}'s API", lambda: port_accepts(HOST, c.ports(old).api), WAIT, nodes=[old])
    r = c.ports(old)
    c.cli(others[0], "add", str(old), "--raft-address", f"{HOST}:{r.raft}", "--bus-address", f"{HOST}:{r.bus}")
    final = c.wait_for(f"node {old} (re-added on an empty data dir) with the same state as its peers",
                       lambda: c.same_state(all4), 60, nodes=all4)
    print(f"all four nodes at state {final}")
    assert len(list_things(c, old)) == THINGS
    assert retained_on(c, old, "r/#", RETAINED) == acked_retained


def test_single_node_retained_and_things_survive_a_restart(fresh_broker):
    """A one-voter cluster on the same code path: a retained message (acknowledged = committed) and a thing are
    still there after the node is stopped and started again on its data directory."""
    b = fresh_broker
    pub = PahoClient(b, version=V5)
    pub.connect()
    pub.publish("persist/me", b"still here", qos=1, retain=True)
    pub.c.disconnect()
    pub.c.loop_stop()
    assert raw(b, "POST", "/things/persistent", b"{}")[0] == 200
    code, _ = b.terminate()
    assert code == 0
    b.start()
    sub = PahoClient(b, version=V5)
    sub.connect()
    try:
        assert sub.subscribe("persist/#", 1) == [1]
        m = sub.expect_message()
        assert (m.topic, m.payload, m.retain) == ("persist/me", b"still here", True)
    finally:
        sub.c.disconnect()
        sub.c.loop_stop()
    status, _, thing = raw(b, "GET", "/things/persistent")
    assert status == 200 and thing["thingName"] == "persistent"
