"""The chaos run's workload: concurrent clients, each a "process" of the history (see /tmp/w/chaos-history.md, kept
in ops/design-notes.md "Chaos suite (issue 8)"), every operation bounded in time, and every client moving to the
next node of its rotating list when its node fails it.

- shadow workers: UpdateThingShadow (reported.value = a run-unique int, a clientToken, sometimes the version last
  read as an optimistic lock) and GetThingShadow through the iot-data HTTP API, SigV4-signed;
- a registry worker: CreateThing of fresh names and DescribeThing of names created earlier;
- publishers: MQTT 5 QoS 1 publishes with unique payloads, PUBACK awaited;
- subscribers: MQTT 5 persistent sessions (clean start false, session expiry 300 s, QoS 1), every delivery recorded.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HTTP_TIMEOUT = 12.0      # the cluster's requestTimeout is 10 s: most requests are answered before this
PUBACK_TIMEOUT = 20.0    # a forwarded QoS 1 publish completes within ~15 s (queue 5 s + request 10 s)
CONNACK_TIMEOUT = 10.0
KEEPALIVE = 4
SESSION_EXPIRY = 300


class History:
    """The single writer of history.jsonl: `t` is taken under the lock, so lines are in time order."""

    def __init__(self, path):
        self.f = open(path, "w", buffering=1)
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.lines = 0
        self._names: dict[str, int] = {}

    def now(self) -> float:
        return time.monotonic() - self.t0

    def add(self, process: str, type_: str, f: str, *, key: str | None = None, node: int | None = None,
            value: dict | None = None) -> float:
        with self.lock:
            t = round(self.now(), 4)
            line = {"t": t, "process": process, "type": type_, "f": f}
            if key is not None:
                line["key"] = key
            if node is not None:
                line["node"] = node
            line["value"] = value if value is not None else {}
            self.f.write(json.dumps(line, separators=(",", ":")) + "\n")
            self.lines += 1
            return t

    def process(self, kind: str) -> str:
        """A fresh process name: a process whose operation ended `info` never issues another."""
        with self.lock:
            n = self._names.get(kind, 0)
            self._names[kind] = n + 1
        return f"{kind}-{n}"

    def close(self) -> None:
        with self.lock:
            self.f.close()


@dataclass
class Context:
    cluster: object
    history: History
    seed: int
    things: list[str]
    stop: threading.Event = field(default_factory=threading.Event)        # publishers, shadow, registry workers
    sub_stop: threading.Event = field(default_factory=threading.Event)    # subscribers (after the final drain)
    _set: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    created: list[str] = field(default_factory=list)   # thing names whose create was invoked
    errors: list[str] = field(default_factory=list)

    def next_set(self) -> int:
        with self._lock:
            self._set += 1
            return self._set


class Rotation:
    """A client's list of nodes: it stays on one until that node fails it, then takes the next."""

    def __init__(self, nodes: list[int], start: int):
        self.nodes = nodes
        self.k = start % len(nodes)

    @property
    def node(self) -> int:
        return self.nodes[self.k]

    def next(self) -> int:
        self.k = (self.k + 1) % len(self.nodes)
        return self.node


# --- HTTP: shadows and the registry --------------------------------------------------------------------------------

def _message(body: dict) -> str:
    return str(body.get("message", ""))[:200]


def write_result(kind: str, status: int | None, body: dict, ok: dict | None) -> tuple[str, dict]:
    """A write's history outcome: `ok` (its value) when the node answered success, `fail` when it provably did not
    happen (refused connection, 4xx), `info` (unknown) otherwise."""
    if kind == "refused":
        return ("fail", {"error": "connection refused"})
    if kind == "lost":
        return ("info", {"error": "no answer"})
    if ok is not None:
        return ("ok", ok)
    if 400 <= status < 500:
        return ("fail", {"status": status, "error": _message(body)})
    return ("info", {"status": status, "error": _message(body)})


def read_failure(kind: str, status: int | None, body: dict) -> tuple[str, dict]:
    """A read that got no usable answer: it changes nothing, so it is recorded as not having happened."""
    return ("fail", {"status": status, "error": kind if kind != "answered" else _message(body)})

def shadow_update(ctx: Context, proc: str, node: int, thing: str, expected: int | None) -> tuple[str, dict]:
    """Runs one update; returns (result type, value)."""
    h = ctx.history
    s = ctx.next_set()
    token = f"{proc}.{s}"
    doc = {"state": {"reported": {"value": s}}, "clientToken": token}
    if expected is not None:
        doc["version"] = expected
    h.add(proc, "invoke", "shadow_update", key=thing, node=node,
          value={"set": s, "token": token, "expected_version": expected})
    kind, status, body = ctx.cluster.aws(node, "POST", f"/things/{thing}/shadow", json.dumps(doc).encode(),
                                         "iotdata", HTTP_TIMEOUT)
    answered = kind == "answered" and status == 200 and isinstance(body.get("version"), int)
    result = write_result(kind, status, body, {"version": body["version"]} if answered else None)
    h.add(proc, result[0], "shadow_update", key=thing, node=node, value=result[1])
    return result


def shadow_get(ctx: Context, proc: str, node: int, thing: str) -> tuple[str, dict]:
    h = ctx.history
    h.add(proc, "invoke", "shadow_get", key=thing, node=node, value={})
    kind, status, body = ctx.cluster.aws(node, "GET", f"/things/{thing}/shadow", None, "iotdata", HTTP_TIMEOUT)
    if kind == "answered" and status == 200 and isinstance(body.get("version"), int):
        reported = body.get("state", {}).get("reported") or {}
        result = ("ok", {"version": body["version"], "set": reported.get("value")})
    elif kind == "answered" and status == 404:
        result = ("ok", {"version": None})
    else:
        result = read_failure(kind, status, body)
    h.add(proc, result[0], "shadow_get", key=thing, node=node, value=result[1])
    return result


def shadow_worker(ctx: Context, w: int, nodes: list[int]) -> None:
    rng = random.Random(ctx.seed * 1000 + w)
    rot = Rotation(nodes, w)
    proc = ctx.history.process("shadow")
    known: dict[str, int] = {}
    while not ctx.stop.is_set():
        thing = rng.choice(ctx.things)
        node = rot.node
        if rng.random() < 0.6:
            expected = known.get(thing) if rng.random() < 0.3 else None
            kind, value = shadow_update(ctx, proc, node, thing, expected)
            if kind == "ok":
                known[thing] = value["version"]
            elif kind == "fail" and value.get("status") == 409:
                known.pop(thing, None)
        else:
            kind, value = shadow_get(ctx, proc, node, thing)
            if kind == "ok" and value["version"] is not None:
                known[thing] = value["version"]
        if kind == "info":
            proc = ctx.history.process("shadow")
        if kind == "info" or (kind == "fail" and value.get("status") in (None, 0, 500, 503)):
            rot.next()
            ctx.stop.wait(0.1)
        ctx.stop.wait(rng.uniform(0.01, 0.08))


def thing_describe(ctx: Context, proc: str, node: int, name: str) -> tuple[str, dict]:
    h = ctx.history
    h.add(proc, "invoke", "thing_describe", key=name, node=node, value={})
    kind, status, body = ctx.cluster.aws(node, "GET", f"/things/{name}", None, "iot", HTTP_TIMEOUT)
    if kind == "answered" and status == 200:
        result = ("ok", {"exists": True})
    elif kind == "answered" and status == 404:
        result = ("ok", {"exists": False})
    else:
        result = read_failure(kind, status, body)
    h.add(proc, result[0], "thing_describe", key=name, node=node, value=result[1])
    return result


def registry_worker(ctx: Context, w: int, nodes: list[int]) -> None:
    rng = random.Random(ctx.seed * 1000 + 500 + w)
    rot = Rotation(nodes, w + 1)
    proc = ctx.history.process("registry")
    h = ctx.history
    n = 0
    while not ctx.stop.is_set():
        node = rot.node
        if not ctx.created or rng.random() < 0.5:
            name = f"chaos-thing-{w}-{n}"
            n += 1
            ctx.created.append(name)
            h.add(proc, "invoke", "thing_create", key=name, node=node, value={})
            kind, status, body = ctx.cluster.aws(node, "POST", f"/things/{name}", b"{}", "iot", HTTP_TIMEOUT)
            result = write_result(kind, status, body, {} if kind == "answered" and status == 200 else None)
            h.add(proc, result[0], "thing_create", key=name, node=node, value=result[1])
        else:
            result = thing_describe(ctx, proc, node, rng.choice(ctx.created))
        if result[0] == "info":
            proc = h.process("registry")
        if result[0] != "ok":
            rot.next()
            ctx.stop.wait(0.1)
        ctx.stop.wait(rng.uniform(0.05, 0.2))


# --- MQTT ----------------------------------------------------------------------------------------------------------

class Connection:
    """One paho MQTT 5 connection and what it saw: CONNACK, SUBACK, PUBACKs by packet id, the disconnect."""

    def __init__(self, client_id: str, on_message=None):
        self.c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        self.connack = threading.Event()
        self.connack_rc = None
        self.session_present = False
        self.suback = threading.Event()
        self.suback_rc: list = []
        self.gone = threading.Event()
        self.cond = threading.Condition()
        self.pubacks: dict[int, int] = {}
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_publish = self._on_publish
        self.c.on_subscribe = self._on_subscribe
        if on_message:
            self.c.on_message = on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack_rc = reason_code
        self.session_present = bool(flags.session_present)
        self.connack.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.gone.set()
            self.cond.notify_all()
        self.connack.set()
        self.suback.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self.cond:
            self.pubacks[mid] = reason_code.value if hasattr(reason_code, "value") else int(reason_code)
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.suback_rc = [rc.value for rc in reason_codes]
        self.suback.set()

    def open(self, host: str, port: int, *, clean_start: bool, expiry: int) -> str:
        """"ok" | "refused" (not sent / CONNACK refused) | "timeout" (no CONNACK)."""
        props = Properties(PacketTypes.CONNECT)
        if expiry:
            props.SessionExpiryInterval = expiry
        try:
            self.c.connect(host, port, keepalive=KEEPALIVE, clean_start=clean_start, properties=props)
        except OSError:
            return "refused"
        self.c.loop_start()
        if not self.connack.wait(CONNACK_TIMEOUT) or self.connack_rc is None:
            return "timeout"
        if self.connack_rc.is_failure:
            return "refused"
        return "ok"

    def close(self) -> None:
        try:
            self.c.disconnect()
        except Exception:
            pass
        self.c.loop_stop()


def publisher(ctx: Context, w: int, nodes: list[int], topic: str) -> None:
    h = ctx.history
    rng = random.Random(ctx.seed * 1000 + 700 + w)
    rot = Rotation(nodes, 0)
    proc = h.process("pub")
    conn: Connection | None = None
    n = 0
    while not ctx.stop.is_set():
        node = rot.node
        if conn is None or conn.gone.is_set():
            if conn:
                conn.close()
            conn = Connection(f"chaos-pub-{w}")
            nd = ctx.cluster.nodes[node]
            if conn.open(nd.host, nd.mqtt, clean_start=True, expiry=0) != "ok":
                conn.close()
                conn = None
                rot.next()
                ctx.stop.wait(0.3)
                continue
        msg = f"p{w}-{n}"
        n += 1
        h.add(proc, "invoke", "publish", key=topic, node=node, value={"topic": topic, "msg": msg, "qos": 1})
        info = conn.c.publish(topic, msg.encode(), qos=1)
        result: tuple[str, dict]
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            result = ("fail", {"error": f"not sent (rc {info.rc})"})
        else:
            deadline = time.monotonic() + PUBACK_TIMEOUT
            with conn.cond:
                while info.mid not in conn.pubacks and not conn.gone.is_set() and time.monotonic() < deadline:
                    conn.cond.wait(0.2)
                rc = conn.pubacks.pop(info.mid, None)
            if rc is None:
                result = ("info", {"error": "connection lost" if conn.gone.is_set() else "no PUBACK"})
            elif rc >= 0x80:
                result = ("fail", {"reason": rc})
            else:
                result = ("ok", {"reason": rc})
        h.add(proc, result[0], "publish", key=topic, node=node, value={"msg": msg, **result[1]})
        if result[0] == "info":
            proc = h.process("pub")
            conn.close()
            conn = None
            rot.next()
        elif result[0] == "fail":
            rot.next()
            conn.close()
            conn = None
        ctx.stop.wait(rng.uniform(0.05, 0.15))
    if conn:
        conn.close()


class Subscriber:
    """A persistent session that follows its client from node to node."""

    def __init__(self, ctx: Context, client_id: str, filt: str, nodes: list[int], start: int):
        self.ctx = ctx
        self.client_id = client_id
        self.filter = filt
        self.rot = Rotation(nodes, start)
        self.connected = threading.Event()
        self.last_delivery = time.monotonic()
        self.deliveries = 0
        self.clean_next = False
        self.thread = threading.Thread(target=self.run, name=client_id, daemon=True)

    def _on_message(self, node: int):
        def handler(client, userdata, message):
            self.last_delivery = time.monotonic()
            self.deliveries += 1
            self.ctx.history.add(self.proc, "ok", "deliver", key=message.topic, node=node,
                                 value={"client_id": self.client_id, "topic": message.topic,
                                        "msg": message.payload.decode("utf-8", "replace"), "dup": bool(message.dup)})
        return handler

    def run(self) -> None:
        h = self.ctx.history
        self.proc = h.process("sub")
        while not self.ctx.sub_stop.is_set():
            node = self.rot.node
            nd = self.ctx.cluster.nodes[node]
            conn = Connection(self.client_id, self._on_message(node))
            h.add(self.proc, "invoke", "sub_connect", node=node,
                  value={"client_id": self.client_id, "filter": self.filter})
            outcome = conn.open(nd.host, nd.mqtt, clean_start=self.clean_next, expiry=SESSION_EXPIRY)
            if outcome != "ok":
                h.add(self.proc, "fail" if outcome == "refused" else "info", "sub_connect", node=node,
                      value={"client_id": self.client_id, "error": outcome})
                if outcome == "timeout":
                    self.proc = h.process("sub")
                conn.close()
                self.rot.next()
                self.ctx.sub_stop.wait(0.3)
                continue
            h.add(self.proc, "ok", "sub_connect", node=node,
                  value={"client_id": self.client_id, "session_present": conn.session_present})
            self.clean_next = False
            if not conn.session_present:
                conn.suback.clear()
                conn.c.subscribe(self.filter, qos=1)
                if not conn.suback.wait(CONNACK_TIMEOUT) or conn.gone.is_set() or \
                        not conn.suback_rc or conn.suback_rc[0] >= 0x80:
                    # Not subscribed: start over with a clean session (recorded as a lost session), never resume
                    # a session that lacks the subscription.
                    self.clean_next = True
                    conn.close()
                    h.add(self.proc, "info", "sub_disconnect", node=node,
                          value={"client_id": self.client_id, "error": f"SUBACK {conn.suback_rc}"})
                    self.rot.next()
                    continue
            self.connected.set()
            while not conn.gone.is_set() and not self.ctx.sub_stop.is_set():
                conn.gone.wait(0.2)
            if self.ctx.sub_stop.is_set():
                conn.close()  # a normal DISCONNECT: the session stays (expiry 300 s)
                break
            self.connected.clear()
            h.add(self.proc, "info", "sub_disconnect", node=node, value={"client_id": self.client_id})
            conn.close()
            self.rot.next()
            self.ctx.sub_stop.wait(0.2)
