"""Device shadows on a three-node cluster (issue 6, "Done when" 4), real processes and real clients:

- an update made over MQTT through node 1 is read at the same version over HTTP (iot-data, SigV4) through node 3,
  and a subscriber connected to node 3 receives its delta (every node publishes what it applies);
- a single client streams sequential updates (`{"state":{"reported":{"seq":N}},"clientToken":"seq-N"}`) over MQTT
  to a node that is NOT the leader, waiting for each answer before sending the next; meanwhile the leader is
  SIGKILLed. MQTT to a survivor (rather than HTTP) because it is the device path the issue is about, and because
  the client's own node publishes `/update/accepted` when *it* applies an update — so the client sees the accepted
  of every update that is ever applied, including one whose request was answered "500 Internal service failure"
  (outcome unknown: the forward to the dying leader timed out) but which the new leader committed anyway. A final
  "barrier" update, accepted after the kill, proves that every entry the new leader will ever commit before it has
  been applied (Raft applies in log order), so the set of accepted updates is final when it arrives.

  Afterwards: no clientToken is accepted twice (no duplicate application); the accepted versions, in the order
  they arrived, are exactly initial+1, initial+2, … (strictly increasing by one — a request that got no accepted
  was not applied, or the sequence would have a gap); the final document's version minus the initial version is
  the number of accepted updates and its `seq` is the last accepted one's; and both survivors read that same
  version and state. Every request's fate is accounted for and printed.

Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import time
from types import SimpleNamespace

import pytest

from aws_kit import aws, credentials, raw
from aws_kit import client as boto_client
from cluster_kit import FAILOVER_TIMEOUT, Cluster
from conftest import HOST
from paho_client import V5, PahoClient

TIMEOUT = 10.0
# ClusterService's requestTimeout is 10 s: by then a request is answered (accepted, or rejected 500 by the node);
# 15 s leaves room for the answer's delivery.
ANSWER_TIMEOUT = 15.0
ACCEPTED_BEFORE_KILL = 20
ACCEPTED_AFTER_KILL = 20
STREAM_DEADLINE = 90.0


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "c", 3)
    try:
        c.start()
        c.wait_for("every node's aws-credentials", lambda: all(
            (c.data_path(i) / "aws-credentials").exists() for i in c.node_ids()), 30)
        for i in c.node_ids():
            c.wait_port(i, c[i].mqtt_port)
        yield c
    finally:
        c.stop()
    assert not c.crashed, f"nodes died on their own: {c.crashed}"


def api(c, i: int) -> SimpleNamespace:
    """What aws_kit needs of node i: its API URL and data directory."""
    url = f"http://{HOST}:{c.api_port(i)}"
    return SimpleNamespace(api_url=url, metrics_url=url, data_dir=c.data_path(i))


def mqtt(c, i: int, *topics: str) -> PahoClient:
    """A connected paho client on node i's plain MQTT port, subscribed (QoS 1) to `topics`."""
    client = PahoClient(SimpleNamespace(host=HOST, mqtt_port=c[i].mqtt_port), version=V5)
    client.connect()
    if topics:
        assert client.subscribe([(t, 1) for t in topics]) == [1] * len(topics)
    return client


def shadow_via_http(c, i: int, thing: str) -> tuple[int, dict]:
    """(status, document) of GetThingShadow through node i (answered from node i's applied state)."""
    status, _, body = raw(api(c, i), "GET", f"/things/{thing}/shadow", service="iotdata")
    return status, body


def version_on(c, i: int, thing: str) -> int | None:
    status, body = shadow_via_http(c, i, thing)
    return body.get("version") if status == 200 else None


def test_update_on_node_1_is_read_and_delta_received_on_node_3(cluster, tmp_path):
    c = cluster
    thing = "thermostat"
    p = f"$aws/things/{thing}/shadow"
    keys = {credentials(api(c, i)) for i in c.node_ids()}
    assert len(keys) == 1, keys
    on3 = mqtt(c, 3, p + "/update/delta", p + "/update/accepted")
    on1 = mqtt(c, 1, p + "/update/accepted", p + "/update/rejected")
    try:
        on1.publish(p + "/update", json.dumps({"state": {"desired": {"target": 21}}, "clientToken": "n1-a"}), qos=1)
        mine = json.loads(on1.expect_message().payload)
        assert (mine["version"], mine["clientToken"]) == (1, "n1-a"), mine
        got = {m.topic: json.loads(m.payload) for m in on3.expect_messages(2)}
        assert set(got) == {p + "/update/delta", p + "/update/accepted"}, sorted(got)
        assert (got[p + "/update/delta"]["version"], got[p + "/update/delta"]["state"]) == (1, {"target": 21})
        assert got[p + "/update/accepted"]["clientToken"] == "n1-a"
        # Node 3 published the delta when it applied the update, so its own state already has it.
        status, doc = shadow_via_http(c, 3, thing)
        assert status == 200 and doc["version"] == 1 and doc["state"]["delta"] == {"target": 21}, doc

        # The device reports through node 1: no delta anywhere, and node 3 reads version 2 (bounded wait: node 3
        # may apply a moment after node 1 answers).
        on1.publish(p + "/update", json.dumps({"state": {"reported": {"target": 21}}, "clientToken": "n1-b"}), qos=1)
        assert json.loads(on1.expect_message().payload)["version"] == 2
        assert json.loads(on3.expect_message().payload)["version"] == 2  # accepted, not a delta
        on3.expect_no_message(0.7)
        for i in (2, 3):
            c.wait_for(f"node {i} to read version 2", lambda: version_on(c, i, thing) == 2, 5, nodes=[i])
        out = tmp_path / "shadow.json"
        aws(api(c, 3), "get-thing-shadow", "--thing-name", thing, str(out), service="iot-data")
        doc = json.loads(out.read_text())
        assert doc["version"] == 2
        assert doc["state"] == {"desired": {"target": 21}, "reported": {"target": 21}}, doc

        # An HTTP update through node 2 reaches MQTT subscribers on nodes 1 and 3, once each.
        data = boto_client(api(c, 2), "iot-data")
        answer = json.loads(data.update_thing_shadow(thingName=thing,
                                                     payload=b'{"state":{"desired":{"target":19}}}')["payload"].read())
        assert answer["version"] == 3
        got = {m.topic: json.loads(m.payload) for m in on3.expect_messages(2)}
        assert set(got) == {p + "/update/delta", p + "/update/accepted"}, sorted(got)
        assert (got[p + "/update/delta"]["version"], got[p + "/update/delta"]["state"]) == (3, {"target": 19})
        assert json.loads(on1.expect_message().payload)["version"] == 3
        on3.expect_no_message(0.7)
        on1.expect_no_message(0.1)
    finally:
        on1.close()
        on3.close()


def test_accepted_updates_survive_the_leader_sigkill(cluster):
    c = cluster
    thing = "streamer"
    p = f"$aws/things/{thing}/shadow"
    leader = c.agreed_leader()
    assert leader
    survivors = [i for i in c.node_ids() if i != leader]
    via = survivors[0]  # the streaming client's node: a follower, which survives
    client = mqtt(c, via, p + "/update/accepted", p + "/update/rejected")

    accepted: list[dict] = []                # accepted payloads, in arrival order
    answers: dict[str, list[str]] = {}       # token → what arrived for it, in order ("accepted", "rejected 500", …)
    sent: dict[str, int] = {}                # token → the seq it reported
    latency: dict[str, float] = {}           # token → seconds from its publish to its first answer

    def record(message) -> str | None:
        """Files one message; returns the token it answers (None for a rejection without a token)."""
        body = json.loads(message.payload)
        token = body.get("clientToken")
        if message.topic.endswith("/accepted"):
            accepted.append(body)
            answers.setdefault(token, []).append("accepted")
        else:
            answers.setdefault(token, []).append(f"rejected {body.get('code')} {body.get('message')}")
        return token

    def request(n: int, token: str, then=None) -> str:
        """Sends update `n`, runs `then()` (if given) while it is in flight, and waits (≤ ANSWER_TIMEOUT) for its
        answer: "accepted", "rejected …" or "none"."""
        sent[token] = n
        began = time.monotonic()
        payload = json.dumps({"state": {"reported": {"seq": n}}, "clientToken": token})
        if then:
            info = client.c.publish(p + "/update", payload, qos=1)  # on its way…
            then()                                                    # …as the leader dies
            info.wait_for_publish(timeout=TIMEOUT)
            assert info.is_published(), "no PUBACK from the client's (surviving) node"
        else:
            client.publish(p + "/update", payload, qos=1)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                m = client.messages.get(timeout=left)
            except queue.Empty:
                break
            answered = record(m)
            if answered is None and m.topic.endswith("/rejected"):
                # A rejection without a clientToken can only be this request's: the client is sequential, and an
                # earlier request's own answer (at most requestTimeout = 10 s) was waited for ANSWER_TIMEOUT.
                answers.setdefault(token, []).append(answers[None].pop())
                if not answers[None]:
                    del answers[None]
                answered = token
            if answered == token:
                latency[token] = round(time.monotonic() - began, 3)
                return answers[token][0]
        return "none"

    try:
        assert request(0, "seq-0") == "accepted"
        initial = accepted[0]["version"]

        n, killed_at = 0, None
        start = time.monotonic()

        def kill() -> None:
            os.kill(c[leader].pid, signal.SIGKILL)

        while True:
            n += 1
            # The kill is sent right after request n is (its answer not yet seen): forwarded to the leader or not,
            # appended there or not, replicated or not — whichever, the accounting below holds.
            in_flight_kill = killed_at is None and len(accepted) >= 1 + ACCEPTED_BEFORE_KILL
            outcome = request(n, f"seq-{n}", then=kill if in_flight_kill else None)
            if in_flight_kill:
                killed_at = n
            assert time.monotonic() - start < STREAM_DEADLINE, f"stream too slow: {answers}"
            if killed_at is not None and len(accepted) >= 1 + ACCEPTED_BEFORE_KILL + ACCEPTED_AFTER_KILL \
                    and outcome == "accepted":
                break
        c[leader].process.wait(timeout=10)
        c.wait_for("a new leader among the survivors", lambda: c.agreed_leader(survivors), FAILOVER_TIMEOUT + 5,
                   nodes=survivors)

        # The barrier: once its accepted arrives, every earlier entry that will ever be applied has been.
        for k in range(5):
            token = f"barrier-{k}"
            n += 1
            if request(n, token) == "accepted":
                break
        else:
            pytest.fail(f"no barrier update was accepted: {answers}")
        time.sleep(0.5)  # anything still arriving is recorded (a late accepted would break the order below)
        for m in client.drain():
            record(m)
    finally:
        client.close()

    tokens = [a.get("clientToken") for a in accepted]
    versions = [a["version"] for a in accepted]
    fates = {t: answers.get(t, ["none"]) for t in sent}
    summary = {
        "sent": len(sent), "accepted": len(accepted), "initial": initial, "killed leader": leader,
        "killed while in flight": f"seq-{killed_at}",
        "its answer after (s)": latency.get(f"seq-{killed_at}"),
        "slowest answers (s)": sorted(latency.values())[-3:],
        "not accepted at once": {t: f for t, f in fates.items() if f[0] != "accepted"},
    }
    print("\nshadow stream under leader SIGKILL:", json.dumps(summary, indent=1))

    # No update applied twice, none accepted that was not sent.
    assert len(set(tokens)) == len(tokens), f"a clientToken was accepted twice: {tokens}"
    assert set(tokens) <= set(sent)
    # Versions go up by exactly one per accepted update, in the order the accepteds arrived.
    assert versions == list(range(initial, initial + len(accepted))), versions
    for a in accepted:
        assert a["state"]["reported"] == {"seq": sent[a["clientToken"]]}, a
    # Every request is accepted once or never; one never accepted got a rejection (500, outcome unknown) or no
    # answer, and — by the version arithmetic below — was not applied.
    for t, f in fates.items():
        assert f.count("accepted") <= 1, (t, f)
        assert all(x == "accepted" or x.startswith("rejected 500") or x == "none" for x in f), (t, f)
    assert len(accepted) >= 1 + ACCEPTED_BEFORE_KILL + ACCEPTED_AFTER_KILL + 1

    # Both survivors read the final document: its version minus the initial one (seq-0's) is the number of
    # updates accepted after seq-0, and it holds the last accepted seq.
    final_version = initial + len(accepted) - 1
    for i in survivors:
        c.wait_for(f"node {i} to read version {final_version}", lambda: version_on(c, i, thing) == final_version,
                   10, nodes=[i])
        status, doc = shadow_via_http(c, i, thing)
        assert status == 200 and doc["version"] == final_version, doc
        assert doc["state"]["reported"] == {"seq": accepted[-1]["state"]["reported"]["seq"]}, doc
    c[leader].process = None  # killed on purpose, not a crash
