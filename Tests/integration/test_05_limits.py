"""What the node announces and enforces on valid input: the MQTT 5 CONNACK, the AWS IoT Core default limits
(Flotilla copies them), keep-alive clamping and the idle timeout. Raw sockets, so the exact bytes are visible.
"""

from __future__ import annotations

import time

import pytest

from mqtt_raw import (
    ASSIGNED_CLIENT_IDENTIFIER, DISCONNECT, MAXIMUM_PACKET_SIZE, MAXIMUM_QOS, PUBACK, RECEIVE_MAXIMUM,
    RETAIN_AVAILABLE, SERVER_KEEP_ALIVE, SESSION_EXPIRY_INTERVAL, SHARED_SUBSCRIPTION_AVAILABLE,
    SUBACK, SUBSCRIPTION_IDENTIFIER_AVAILABLE, TOPIC_ALIAS_MAXIMUM, V311, V5, WILDCARD_SUBSCRIPTION_AVAILABLE,
    ConnectionClosed, NoReply, RawClient, connected, describe_properties, parse_frame, props, publish_of_total_size, unique,
)
from mqtt_raw import subscribe as subscribe_packet

MAX_PACKET = 131072
VERSIONS = [pytest.param(V311, id="v311"), pytest.param(V5, id="v5")]


def connack_of(broker, raw_clients, **kw):
    c = raw_clients(RawClient(broker.host, broker.mqtt_port, version=kw.pop("version", V5)))
    ca = c.connect(kw.pop("client_id", unique("lim")), **kw)
    return c, ca


# --- CONNACK ------------------------------------------------------------------------------------------------------

def test_v5_connack_announces_limits(broker, raw_clients):
    _, ca = connack_of(broker, raw_clients)
    assert ca.code == 0
    p = ca.properties
    seen = f"CONNACK properties: {describe_properties(p)}"
    # The contract asks for every one of these to be announced explicitly (absent Retain/Wildcard/Shared would
    # mean "available" to a spec-conforming client, but not every client reads it that way).
    assert p.get(MAXIMUM_PACKET_SIZE) == MAX_PACKET, f"Maximum Packet Size 131072 expected; {seen}"
    assert p.get(RECEIVE_MAXIMUM) == 100, f"Receive Maximum 100 expected; {seen}"
    assert p.get(TOPIC_ALIAS_MAXIMUM) == 8, f"Topic Alias Maximum 8 expected; {seen}"
    assert p.get(RETAIN_AVAILABLE) == 1, f"Retain Available 1 expected; {seen}"
    assert p.get(WILDCARD_SUBSCRIPTION_AVAILABLE) == 1, f"Wildcard Subscription Available 1 expected; {seen}"
    assert p.get(SHARED_SUBSCRIPTION_AVAILABLE) == 1, f"Shared Subscription Available 1 expected; {seen}"
    assert p.get(SUBSCRIPTION_IDENTIFIER_AVAILABLE) == 0, f"Subscription Identifier Available 0 expected; {seen}"
    assert MAXIMUM_QOS not in p, f"QoS 2 is supported, so Maximum QoS must be absent; {seen}"
    assert SERVER_KEEP_ALIVE not in p, f"keep-alive 60 is within 30..1200 and must not be changed; {seen}"


@pytest.mark.parametrize("asked,granted", [(5, 30), (1, 30), (0, 1200), (1201, 1200), (65535, 1200)])
def test_v5_keepalive_is_clamped(broker, raw_clients, asked, granted):
    """AWS: keep-alive 30..1200 s; 0 → 1200. The change is announced as Server Keep Alive."""
    _, ca = connack_of(broker, raw_clients, keepalive=asked)
    assert ca.code == 0
    assert ca.properties.get(SERVER_KEEP_ALIVE) == granted


@pytest.mark.parametrize("asked", [30, 1200])
def test_v5_keepalive_in_range_is_kept(broker, raw_clients, asked):
    _, ca = connack_of(broker, raw_clients, keepalive=asked)
    assert ca.properties.get(SERVER_KEEP_ALIVE, asked) == asked


def test_v5_session_expiry_is_clamped(broker, raw_clients):
    """Session Expiry Interval above 3600 s is reduced to 3600 and returned in CONNACK."""
    _, ca = connack_of(broker, raw_clients, clean=True, properties=props((SESSION_EXPIRY_INTERVAL, 7200)))
    assert ca.code == 0
    assert ca.properties.get(SESSION_EXPIRY_INTERVAL) == 3600
    _, ca = connack_of(broker, raw_clients, clean=True, properties=props((SESSION_EXPIRY_INTERVAL, 120)))
    assert ca.properties.get(SESSION_EXPIRY_INTERVAL, 120) == 120


def test_v5_empty_client_id_gets_assigned_one(broker, raw_clients):
    """[MQTT-3.2.2-16] an empty client id is replaced, and the new id is returned in CONNACK."""
    ids = []
    for _ in range(2):
        c, ca = connack_of(broker, raw_clients, client_id="")
        assert ca.code == 0
        assigned = ca.properties.get(ASSIGNED_CLIENT_IDENTIFIER)
        assert assigned, "no Assigned Client Identifier in CONNACK"
        assert len(assigned.encode()) <= 128
        ids.append(assigned)
        c.expect_open()
    assert ids[0] != ids[1], "two clients got the same assigned id"


def test_v311_empty_client_id_with_clean_session_is_accepted(broker, raw_clients):
    """[MQTT-3.1.3-6/7] 3.1.1: an empty client id with clean session 1 is accepted (an id is assigned silently)."""
    c, ca = connack_of(broker, raw_clients, version=V311, client_id="", clean=True)
    assert ca.raw == b"\x00\x00", f"3.1.1 CONNACK must be exactly 00 00, got {ca.raw.hex()}"
    topic = f"lim/{unique()}"
    assert c.subscribe([(topic, 1)]).codes == [1]
    c.publish(topic, b"self", qos=1)
    assert c.recv_publish().payload == b"self"


@pytest.mark.parametrize("version", VERSIONS)
def test_client_id_of_128_bytes_is_accepted(broker, raw_clients, version):
    cid = ("L" + unique("x")).ljust(128, "x")
    assert len(cid.encode()) == 128
    c, ca = connack_of(broker, raw_clients, version=version, client_id=cid)
    assert ca.code == 0
    c.expect_open()


# --- topics and packets at the limit ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_topic_of_256_bytes_and_7_slashes_works(broker, raw_clients, version):
    head = f"l/{unique()}/c/d/e/f/g/"            # 7 slashes
    topic = head + "z" * (256 - len(head.encode()))
    assert len(topic.encode()) == 256 and topic.count("/") == 7
    h, p = broker.host, broker.mqtt_port
    sub = raw_clients(connected(h, p, version=version))
    assert sub.subscribe([(topic, 1)]).codes == [1]
    pub = raw_clients(connected(h, p, version=version))
    a = pub.publish(topic, b"edge", qos=1)
    assert a.reason in (None, 0)
    m = sub.recv_publish()
    assert (m.topic, m.payload) == (topic, b"edge")


@pytest.mark.parametrize("version", VERSIONS)
def test_publish_of_exactly_max_packet_size_is_accepted(broker, raw_clients, version):
    """131072 bytes in total (fixed header included) is allowed; one more byte is not (see test_03)."""
    h, p = broker.host, broker.mqtt_port
    topic = f"big/{unique()}"
    sub = raw_clients(connected(h, p, version=version))
    sub.subscribe([(topic, 1)])
    pub = raw_clients(connected(h, p, version=version))
    pkt = publish_of_total_size(MAX_PACKET, topic, qos=1, pid=77, version=version)
    assert len(pkt) == MAX_PACKET
    pub.send(pkt)
    a = pub.expect(PUBACK, timeout=10).ack()
    assert a.pid == 77 and a.reason in (None, 0)
    sent = parse_frame(pkt, version).publish()
    m = sub.recv_publish(timeout=10)
    assert m.topic == topic
    assert m.payload == sent.payload, f"payload of {len(m.payload)} bytes delivered, {len(sent.payload)} sent"


@pytest.mark.parametrize("version", VERSIONS)
def test_at_most_50_subscriptions_per_connection(broker, raw_clients, version):
    """AWS: 50 subscriptions per connection. 50 are granted; the 51st is refused (failure code in SUBACK,
    or the connection is closed — the contract fixes only that it is not granted)."""
    h, p = broker.host, broker.mqtt_port
    c = raw_clients(connected(h, p, version=version))
    base = f"fifty/{unique()}"
    filters = [f"{base}/{i}" for i in range(50)]
    pid = 1
    for start in range(0, 50, 8):
        chunk = filters[start:start + 8]
        sa = c.subscribe([(f, 1) for f in chunk], pid=pid)
        assert sa.codes == [1] * len(chunk), f"filters {start}..{start + len(chunk) - 1}: {sa.codes}"
        pid += 1
    # Subscribing again to an existing filter replaces it and does not count as a new subscription.
    assert c.subscribe([(filters[0], 1)], pid=pid).codes == [1]
    pid += 1
    c.send(subscribe_packet(pid, [(f"{base}/51st", 1)], version=version))
    try:
        pkt = c.recv(5)
    except ConnectionClosed:
        return
    except NoReply:
        raise AssertionError("no reply to the 51st subscription") from None
    if pkt.type == DISCONNECT:
        assert pkt.disconnect().reason >= 0x80
        return
    assert pkt.type == SUBACK, f"unexpected {pkt!r}"
    codes = pkt.suback().codes
    assert len(codes) == 1 and codes[0] >= 0x80, f"the 51st subscription was granted: {codes}"


# --- keep-alive timeout (slow: ~45 s) ---------------------------------------------------------------------------

def test_idle_connection_is_closed_after_1_5x_keepalive(broker, raw_clients):
    """Keep-alive 1 is raised to 30 s; a silent client is disconnected after 1.5 × 30 = 45 s: MQTT 5 with
    DISCONNECT 0x8D (Keep Alive timeout), 3.1.1 by closing. Both clients run at once."""
    h, p = broker.host, broker.mqtt_port
    c5 = raw_clients(connected(h, p, version=V5, keepalive=1))
    t5 = time.monotonic()
    assert c5.connack.properties.get(SERVER_KEEP_ALIVE) == 30
    c3 = raw_clients(connected(h, p, version=V311, keepalive=1))
    t3 = time.monotonic()

    pkt = c5.recv(70)
    e5 = time.monotonic() - t5
    assert pkt.type == DISCONNECT and pkt.disconnect().reason == 0x8D, f"expected DISCONNECT 0x8D, got {pkt!r}"
    assert 44.0 <= e5 <= 60.0, f"MQTT 5 client disconnected after {e5:.1f}s, expected ~45 s"
    c5.expect_closed()

    try:
        pkt = c3.recv(max(1.0, 70 - (time.monotonic() - t3)))
        raise AssertionError(f"3.1.1 client got {pkt!r} instead of a close")
    except ConnectionClosed:
        pass
    e3 = time.monotonic() - t3
    assert 44.0 <= e3 <= 60.0, f"3.1.1 client closed after {e3:.1f}s, expected ~45 s"
