"""The metrics/health endpoint and graceful shutdown of the real binary.

- GET /metrics returns Prometheus text with the iot_mqtt_ metrics, and the counters move with traffic.
- GET /health returns 200.
- SIGTERM: connected MQTT 5 clients get DISCONNECT 0x8B (Server shutting down), 3.1.1 clients are closed, and
  the process exits with status 0 within 10 s.
"""

from __future__ import annotations

import re
import time

import pytest

from conftest import http_get, port_accepts
from mqtt_raw import DISCONNECT, V311, V5, ConnectionClosed, NoReply, connected, unique

REQUIRED = [
    "iot_mqtt_connections",
    "iot_mqtt_packets_received_total",
    "iot_mqtt_messages_routed_total",
    "iot_mqtt_messages_dropped_total",
    "iot_mqtt_messages_queued",
]

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_prometheus(text: str) -> list[tuple[str, dict, float]]:
    """Samples of the text exposition format (comments skipped). Raises on a line it cannot read."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line.strip())
        assert m, f"not a Prometheus sample line: {line!r}"
        name, _, labels_text, value = m.group(1), m.group(2), m.group(3), m.group(4)
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = _LABEL.match(labels_text, pos)
                assert lm, f"bad labels in {line!r}"
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        out.append((name, labels, float(value)))
    return out


def scrape(broker) -> list[tuple[str, dict, float]]:
    status, headers, body = http_get(f"{broker.metrics_url}/metrics")
    assert status == 200, f"GET /metrics → {status}: {body[:500]}"
    return parse_prometheus(body)


def scrape_until(broker, predicate, timeout: float = 3.0):
    """Scrapes until predicate(samples) holds or the deadline passes (metrics may be updated asynchronously);
    returns the last samples either way."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(broker)
        if predicate(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def total(samples, name: str, **labels) -> float | None:
    """Sum of every series of ``name`` whose labels include ``labels`` (None if there is none)."""
    values = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    return sum(values) if values else None


@pytest.fixture
def metrics_broker(broker):
    broker.wait_metrics_ready()
    return broker


def test_health(metrics_broker):
    status, _, body = http_get(f"{metrics_broker.metrics_url}/health")
    assert status == 200, f"GET /health → {status}: {body[:200]}"


def test_metrics_exposition(metrics_broker):
    status, headers, body = http_get(f"{metrics_broker.metrics_url}/metrics")
    assert status == 200
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert ctype.startswith("text/plain"), f"Content-Type {ctype!r}"
    samples = parse_prometheus(body)
    names = {n for n, _, _ in samples}
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, f"missing metrics {missing}; present: {sorted(names)}"


def test_counters_move_with_traffic(metrics_broker, clients):
    b = metrics_broker
    before = scrape(b)
    topic = f"metrics/{unique()}"
    sub = clients(b, client_id=unique("msub"))
    sub.connect()
    sub.subscribe(topic, 1)
    pub = clients(b, client_id=unique("mpub"))
    pub.connect()
    n = 5
    for i in range(n):
        pub.publish(topic, f"m{i}".encode(), qos=1)
    sub.expect_messages(n)

    rx0 = total(before, "iot_mqtt_packets_received_total", type="publish") or 0
    routed0 = total(before, "iot_mqtt_messages_routed_total") or 0
    after = scrape_until(b, lambda s: (total(s, "iot_mqtt_packets_received_total", type="publish") or 0) - rx0 >= n
                         and (total(s, "iot_mqtt_messages_routed_total") or 0) - routed0 >= n)
    conns = total(after, "iot_mqtt_connections")
    assert conns is not None and conns >= 2, f"iot_mqtt_connections = {conns} with 2 clients connected"
    rx1 = total(after, "iot_mqtt_packets_received_total", type="publish")
    assert rx1 is not None, 'no iot_mqtt_packets_received_total{type="publish"} series'
    assert rx1 - rx0 >= n, f'packets_received_total{{type="publish"}} moved {rx1 - rx0}, expected ≥ {n}'
    # Bytes per packet type: each PUBLISH carries at least its 2-byte fixed header, topic and payload.
    brx0 = total(before, "iot_mqtt_packet_bytes_received_total", type="publish") or 0
    btx0 = total(before, "iot_mqtt_packet_bytes_sent_total", type="publish") or 0
    brx1 = total(after, "iot_mqtt_packet_bytes_received_total", type="publish")
    btx1 = total(after, "iot_mqtt_packet_bytes_sent_total", type="publish")
    assert brx1 is not None and btx1 is not None, "no iot_mqtt_packet_bytes_*_total{type=\"publish\"} series"
    min_bytes = n * (2 + 2 + len(topic) + 2)
    assert brx1 - brx0 >= min_bytes, f"packet_bytes_received_total{{publish}} moved {brx1 - brx0} < {min_bytes}"
    assert btx1 - btx0 >= min_bytes, f"packet_bytes_sent_total{{publish}} moved {btx1 - btx0} < {min_bytes}"
    routed1 = total(after, "iot_mqtt_messages_routed_total")
    assert routed1 is not None, "no iot_mqtt_messages_routed_total series"
    assert routed1 - routed0 >= n, f"messages_routed_total moved {routed1 - routed0}, expected ≥ {n}"

    sub.disconnect()
    pub.disconnect()
    conns_after = total(scrape_until(b, lambda s: (total(s, "iot_mqtt_connections") or 0) <= conns - 2, 5.0),
                        "iot_mqtt_connections")
    assert conns_after <= conns - 2, f"iot_mqtt_connections stayed at {conns_after} after 2 disconnects"


def test_queued_gauge_counts_offline_session_messages(metrics_broker, clients):
    """Messages held for an offline persistent session show in iot_mqtt_messages_queued."""
    b = metrics_broker
    cid = unique("mq")
    topic = f"metrics/q/{unique()}"
    s = clients(b, client_id=cid, clean=False, session_expiry=300)
    s.connect()
    s.subscribe(topic, 1)
    s.disconnect()
    q0 = total(scrape(b), "iot_mqtt_messages_queued") or 0
    pub = clients(b)
    pub.connect()
    for i in range(3):
        pub.publish(topic, f"q{i}".encode(), qos=1)
    q1 = total(scrape_until(b, lambda s: (total(s, "iot_mqtt_messages_queued") or 0) - q0 >= 3),
               "iot_mqtt_messages_queued")
    assert q1 is not None, "no iot_mqtt_messages_queued series"
    assert q1 - q0 >= 3, f"iot_mqtt_messages_queued went {q0} → {q1} with 3 messages held for an offline session"
    again = clients(b, client_id=cid, clean=False, session_expiry=300)
    again.connect()
    again.expect_messages(3)


def test_sigterm_drains_and_exits_0(fresh_broker, raw_clients):
    b = fresh_broker
    v5 = raw_clients(connected(b.host, b.mqtt_port, version=V5))
    v3 = raw_clients(connected(b.host, b.mqtt_port, version=V311))
    t0 = time.monotonic()
    b.send_sigterm()

    p = v5.expect(DISCONNECT, timeout=10)
    assert p.disconnect().reason == 0x8B, f"expected DISCONNECT 0x8B (Server shutting down), got {p!r}"
    v5.expect_closed(timeout=10)
    v3.expect_closed(timeout=10)

    remaining = max(0.1, 10 - (time.monotonic() - t0))
    try:
        rc = b.process.wait(timeout=remaining)
    except Exception:
        raise AssertionError("flotilla did not exit within 10 s of SIGTERM") from None
    assert rc == 0, f"exit status {rc} after SIGTERM"
    assert not port_accepts(b.host, b.mqtt_port), "MQTT port still accepts connections after exit"
