"""Sessions across nodes (issue 7, "Done when" 2: "a client id reconnecting on another node takes over its persistent
session and gets the QoS 1 messages queued while it was away"), on three real processes:

(a) takeover: a client connected on node 1 with id X; the same id connects on node 2 → node 1's connection gets
    DISCONNECT 0x8E "Session taken over" (paho, MQTT 5) and closes; with MQTT 3.1.1 it is closed;
(b) a persistent session (MQTT 5 clean start 0 + session expiry; 3.1.1 clean session 0 with mosquitto_sub)
    subscribed QoS 1 on node 1 disconnects; QoS 1 messages published on node 1 queue for it; the client
    reconnects on node 2 → session present, the queued messages delivered, the subscription kept;
(c) as (b), but the node holding the session is SIGKILLed before the client reconnects elsewhere → the queued
    messages still arrive (from the replicated queue), and the subscription is kept.

Messages are published on the node that holds the session (cross-node routing of fresh publishes is tested
elsewhere). Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from types import SimpleNamespace

import pytest

from cluster_kit import Cluster
from conftest import HOST
from mqtt_raw import unique
from paho_client import V5, V311, PahoClient

SESSION_TAKEN_OVER = 0x8E


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "c", 3)
    try:
        c.start()
        for i in c.node_ids():
            c.wait_port(i, c[i].mqtt_port)
        yield c
    finally:
        c.stop()


def at(c, i: int) -> SimpleNamespace:
    return SimpleNamespace(host=HOST, mqtt_port=c[i].mqtt_port)


def client(c, i: int, client_id: str, *, version=V5, clean: bool = True, expiry: int | None = None) -> PahoClient:
    p = PahoClient(at(c, i), version=version, client_id=client_id, clean=clean, session_expiry=expiry)
    p.connect()
    return p


def publish_qos1(c, i: int, topic: str, payloads: list[bytes]) -> None:
    """Publishes each payload at QoS 1 on node i and waits for every PUBACK."""
    pub = client(c, i, unique("pub"))
    try:
        for p in payloads:
            info = pub.c.publish(topic, p, qos=1)
            info.wait_for_publish(timeout=10)
            assert info.is_published(), f"no PUBACK for {p!r} from node {i}"
    finally:
        pub.close()


def wait_replicated(c, nodes) -> None:
    """Until the nodes report the same applied index and digest twice, half a second apart: the queue writes made
    so far have reached them all (a PUBACK does not wait for the replicated queue, so the first agreement may come
    before the holder proposed its last append)."""
    last = {"state": None}

    def settled():
        state = c.same_state(nodes)
        stable = state is not None and state == last["state"]
        last["state"] = state
        if not stable:
            time.sleep(0.5)
        return stable

    c.wait_for("the nodes to apply the same state", settled, 20)


def test_takeover_across_nodes_mqtt5_and_311(cluster):
    c = cluster
    cid = unique("dup")
    first = client(c, 1, cid)
    second = client(c, 2, cid)
    assert first.disconnected.wait(10), "node 1's connection was not closed when node 2 took the client id over"
    assert int(first.disconnect_reason.value) == SESSION_TAKEN_OVER, first.disconnect_reason
    # The new connection is the one that lives.
    assert second.subscribe("dup/t", 1) == [1]
    second.close()
    first.close()

    cid311 = unique("dup311")
    old = client(c, 3, cid311, version=V311)
    new = client(c, 1, cid311, version=V311)
    assert old.disconnected.wait(10), "the 3.1.1 connection on node 3 was not closed"
    assert new.subscribe("dup/u", 1) == [1]
    new.close()
    old.close()


def test_persistent_session_moves_with_its_queue_mqtt5(cluster):
    c = cluster
    cid, topic = unique("move"), unique("move/t")
    p = client(c, 1, cid, clean=False, expiry=300)
    assert p.subscribe(topic, 1) == [1]
    p.disconnect()
    p.close()
    payloads = [f"queued-{n}".encode() for n in range(5)]
    publish_qos1(c, 1, topic, payloads)

    q = client(c, 2, cid, clean=False, expiry=300)
    assert q.connack_flags.session_present, "node 2 did not resume the session held by node 1"
    messages = q.expect_messages(len(payloads))
    assert [m.payload for m in messages] == payloads
    assert all(m.qos == 1 for m in messages)
    # The subscription came along: a message published where the session now is reaches it.
    publish_qos1(c, 2, topic, [b"fresh"])
    assert q.expect_message().payload == b"fresh"
    q.close()

    # Node 1 forgot the session: a clean-start-0 connect there finds it on node 2 (session present again), and node
    # 2's connection is taken over.
    r = client(c, 1, cid, clean=False, expiry=300)
    assert r.connack_flags.session_present
    r.close()


def test_persistent_session_moves_mqtt311_mosquitto(cluster):
    c = cluster
    cid, topic = unique("mosq"), unique("mosq/t")
    sub = ["mosquitto_sub", "-h", HOST, "-V", "mqttv311", "-i", cid, "-c", "-q", "1", "-t", topic]
    subprocess.run(sub + ["-p", str(c[1].mqtt_port), "-E"], check=True, timeout=20, capture_output=True)
    for n in range(3):
        subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(c[1].mqtt_port), "-V", "mqttv311", "-q", "1",
                        "-t", topic, "-m", f"m{n}"], check=True, timeout=20, capture_output=True)
    out = subprocess.run(sub + ["-p", str(c[3].mqtt_port), "-C", "3", "-W", "15"], timeout=30, capture_output=True,
                         text=True)
    assert out.stdout.split() == ["m0", "m1", "m2"], (out.returncode, out.stdout, out.stderr, c.logs())


def test_queued_messages_survive_the_loss_of_the_node(cluster):
    c = cluster
    leader = c.agreed_leader()
    holder = next(i for i in c.node_ids() if i != leader)  # a follower: the survivors keep the leader
    other = next(i for i in c.node_ids() if i not in (leader, holder))
    cid, topic = unique("survive"), unique("survive/t")
    p = client(c, holder, cid, clean=False, expiry=300)
    assert p.subscribe(topic, 1) == [1]
    p.disconnect()
    p.close()
    payloads = [f"kept-{n}".encode() for n in range(5)]
    publish_qos1(c, holder, topic, payloads)
    wait_replicated(c, c.node_ids())

    os.kill(c[holder].pid, signal.SIGKILL)
    c[holder].process.wait(10)
    started = time.monotonic()
    q = client(c, other, cid, clean=False, expiry=300)
    took = time.monotonic() - started
    assert q.connack_flags.session_present, "the session was not resumed from the replicated record"
    got = [m.payload for m in q.expect_messages(len(payloads))]
    assert got == payloads
    publish_qos1(c, other, topic, [b"after"])
    assert q.expect_message().payload == b"after"
    q.close()
    print(f"\nresumed on node {other} {took:.2f}s after node {holder} was killed (CONNACK included)")
    # The killed node is expected to be down: don't report it as a crash.
    c[holder].process = None


def test_connected_session_survives_the_loss_of_its_node(cluster):
    """Issue 8's chaos run found it: a persistent session whose node died while the client was connected came back
    with session present = 0 — its record was written only when it parked. Now the record is written at CONNECT and
    after every SUBSCRIBE/UNSUBSCRIBE, so the client resumes on another node with its subscriptions, and messages
    published anywhere reach it there."""
    c = cluster
    leader = c.agreed_leader()
    holder = next(i for i in c.node_ids() if i != leader)
    other = next(i for i in c.node_ids() if i not in (leader, holder))
    cid, topic = unique("connected"), unique("connected/t")
    p = client(c, holder, cid, clean=False, expiry=300)
    assert p.subscribe(topic, 1) == [1]
    wait_replicated(c, c.node_ids())

    os.kill(c[holder].pid, signal.SIGKILL)
    c[holder].process.wait(10)
    q = client(c, other, cid, clean=False, expiry=300)
    assert q.connack_flags.session_present, "the connected session's record was not replicated"
    # Through another node: routed to the resumed session once its rows have spread by gossip (a moment).
    deadline = time.monotonic() + 10
    while not q.drain():
        assert time.monotonic() < deadline, "the resumed session never became routable from the leader"
        publish_qos1(c, leader, topic, [b"probe"])
        time.sleep(0.1)
    time.sleep(0.3)
    q.drain()
    publish_qos1(c, leader, topic, [b"after-loss"])
    assert q.expect_message().payload == b"after-loss"
    q.close()
    p.close()
    c[holder].process = None
