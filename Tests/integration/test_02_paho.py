"""MQTT 3.1.1 and 5 behaviour seen through a real client library (paho-mqtt 2.x), plus raw sockets where a
client library cannot do what the test needs (drop a connection without DISCONNECT, choose a topic alias).

Every test uses its own client ids and topics, so the tests of this module can share one node.
"""

from __future__ import annotations

import queue
import time

import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt_raw import (
    DISCONNECT, TOPIC_ALIAS, SESSION_EXPIRY_INTERVAL, WILL_DELAY_INTERVAL, V311 as RAW_V311, V5 as RAW_V5,
    ConnectionClosed, NoReply, Will, connected, props, unique,
)
from paho_client import V311, V5, publish_properties

VERSIONS = [pytest.param(V311, id="v311"), pytest.param(V5, id="v5")]
RAW_VERSION = {V311: RAW_V311, V5: RAW_V5}


def connected_client(clients, broker, **kw):
    c = clients(broker, **kw)
    c.connect()
    return c


# --- basic pub/sub --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("version", VERSIONS)
def test_pubsub_each_qos(broker, clients, version, qos):
    """A QoS 2 subscription receives each message at the QoS it was published with (QoS 2 is supported)."""
    topic = f"qos/{unique()}"
    sub = connected_client(clients, broker, version=version)
    assert sub.subscribe(topic, 2) == [2]
    pub = connected_client(clients, broker, version=version)
    pub.publish(topic, f"payload-q{qos}".encode(), qos=qos)
    m = sub.expect_message()
    assert (m.topic, m.payload, m.qos, m.retain) == (topic, f"payload-q{qos}".encode(), qos, False)
    sub.expect_no_message(0.5)


@pytest.mark.parametrize("version", VERSIONS)
def test_delivery_qos_is_downgraded_to_subscription(broker, clients, version):
    """[MQTT-3.8.4-8 (5.0) / 3.8.4-6 (3.1.1)] delivery QoS = min(published, granted)."""
    topic = f"qos/{unique()}"
    sub = connected_client(clients, broker, version=version)
    assert sub.subscribe(topic, 0) == [0]
    pub = connected_client(clients, broker, version=version)
    pub.publish(topic, b"x", qos=2)
    assert sub.expect_message().qos == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_wildcards(broker, clients, version):
    base = f"wc/{unique()}"
    sub = connected_client(clients, broker, version=version)
    assert sub.subscribe([(f"{base}/+/temp", 1), (f"{base}/dev/#", 1)]) == [1, 1]
    pub = connected_client(clients, broker, version=version)
    pub.publish(f"{base}/a/temp", b"1", qos=1)
    pub.publish(f"{base}/a/hum", b"2", qos=1)   # matches neither
    pub.publish(f"{base}/dev/x/y", b"3", qos=1)
    got = sorted((m.topic, m.payload) for m in sub.expect_messages(2))
    assert got == [(f"{base}/a/temp", b"1"), (f"{base}/dev/x/y", b"3")]
    sub.expect_no_message(0.5)


# --- retained -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_retained_set_deliver_clear(broker, clients, version):
    base = f"ret/{unique()}"
    topic = f"{base}/state"
    pub = connected_client(clients, broker, version=version)
    pub.publish(topic, b"r1", qos=1, retain=True)

    # Delivered on subscribe, with RETAIN=1, to an exact and to a wildcard filter [MQTT-3.3.1-6, 3.3.1-8].
    exact = connected_client(clients, broker, version=version)
    exact.subscribe(topic, 1)
    m = exact.expect_message()
    assert (m.topic, m.payload, m.retain) == (topic, b"r1", True)
    wild = connected_client(clients, broker, version=version)
    wild.subscribe(f"{base}/#", 1)
    m = wild.expect_message()
    assert (m.topic, m.payload, m.retain) == (topic, b"r1", True)

    # A live publish (retained or not) reaches existing subscribers with RETAIN=0 [MQTT-3.3.1-9].
    pub.publish(topic, b"r2", qos=1, retain=True)
    m = exact.expect_message()
    assert (m.payload, m.retain) == (b"r2", False)

    # The newest retained message replaces the old one.
    late = connected_client(clients, broker, version=version)
    late.subscribe(topic, 1)
    m = late.expect_message()
    assert (m.payload, m.retain) == (b"r2", True)
    late.expect_no_message(0.5)

    # An empty retained payload clears it [MQTT-3.3.1-10/11]; current subscribers still get the empty message.
    pub.publish(topic, b"", qos=1, retain=True)
    m = exact.expect_message()
    assert m.payload == b""
    after = connected_client(clients, broker, version=version)
    after.subscribe(topic, 1)
    after.subscribe(f"{base}/#", 1)
    after.expect_no_message(1.0)


def test_retain_as_published_v5(broker, clients):
    """[MQTT-3.3.1-12/13] Retain As Published keeps RETAIN=1 on live deliveries; without it RETAIN=0."""
    topic = f"rap/{unique()}"
    rap = connected_client(clients, broker, version=V5)
    rap.subscribe(topic, options=SubscribeOptions(qos=1, retainAsPublished=True))
    plain = connected_client(clients, broker, version=V5)
    plain.subscribe(topic, options=SubscribeOptions(qos=1, retainAsPublished=False))
    pub = connected_client(clients, broker, version=V5)
    pub.publish(topic, b"live", qos=1, retain=True)
    assert rap.expect_message().retain is True
    assert plain.expect_message().retain is False
    pub.publish(topic, b"", qos=1, retain=True)  # leave no retained message behind


def test_retain_handling_v5(broker, clients):
    """[MQTT-3.3.1-10 (5.0)] Retain Handling 2: no retained messages on subscribe."""
    topic = f"rh/{unique()}"
    pub = connected_client(clients, broker, version=V5)
    pub.publish(topic, b"kept", qos=1, retain=True)
    sub = connected_client(clients, broker, version=V5)
    sub.subscribe(topic, options=SubscribeOptions(qos=1, retainHandling=2))
    sub.expect_no_message(1.0)
    pub.publish(topic, b"", qos=1, retain=True)


# --- will -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_will_published_on_abnormal_close(broker, clients, raw_clients, version):
    topic = f"will/{unique()}"
    watcher = connected_client(clients, broker, version=version)
    watcher.subscribe(topic, 1)
    owner = raw_clients(connected(broker.host, broker.mqtt_port, version=RAW_VERSION[version],
                                  will=Will(topic, b"gone", qos=1)))
    owner.close()  # the TCP connection ends without DISCONNECT
    m = watcher.expect_message()
    assert (m.topic, m.payload, m.retain) == (topic, b"gone", False)


@pytest.mark.parametrize("version", VERSIONS)
def test_no_will_on_normal_disconnect(broker, clients, raw_clients, version):
    """[MQTT-3.1.2-10 (3.1.1) / 3.1.2-10 (5.0)] a normal DISCONNECT discards the Will."""
    topic = f"will/{unique()}"
    watcher = connected_client(clients, broker, version=version)
    watcher.subscribe(topic, 1)
    owner = raw_clients(connected(broker.host, broker.mqtt_port, version=RAW_VERSION[version],
                                  will=Will(topic, b"gone", qos=1)))
    owner.disconnect()
    watcher.expect_no_message(2.0)


def test_will_published_on_disconnect_0x04_v5(broker, clients, raw_clients):
    """MQTT 5 DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the Will."""
    topic = f"will/{unique()}"
    watcher = connected_client(clients, broker, version=V5)
    watcher.subscribe(topic, 1)
    owner = raw_clients(connected(broker.host, broker.mqtt_port, version=RAW_V5,
                                  will=Will(topic, b"bye", qos=1)))
    owner.disconnect(0x04)
    m = watcher.expect_message()
    assert (m.topic, m.payload) == (topic, b"bye")


def test_will_delay_interval_v5(broker, clients, raw_clients):
    """[MQTT-3.1.3-9] the Will is published after Will Delay Interval (here 3 s; the session lives 30 s),
    not at once."""
    topic = f"will/{unique()}"
    watcher = connected_client(clients, broker, version=V5)
    watcher.subscribe(topic, 1)
    owner = raw_clients(connected(
        broker.host, broker.mqtt_port, version=RAW_V5, clean=True,
        properties=props((SESSION_EXPIRY_INTERVAL, 30)),
        will=Will(topic, b"late", qos=1, properties=props((WILL_DELAY_INTERVAL, 3)))))
    t0 = time.monotonic()
    owner.close()
    watcher.expect_no_message(1.5)
    m = watcher.expect_message(timeout=10)
    elapsed = time.monotonic() - t0
    assert m.payload == b"late"
    assert elapsed >= 2.5, f"Will published after {elapsed:.2f}s, before its 3 s delay"


# --- persistent sessions ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_session_queues_qos1_while_offline(broker, clients, version):
    """3.1.1 clean session 0 / 5 clean start 0 + session expiry > 0: subscriptions survive a disconnect,
    QoS 1 messages published meanwhile are delivered on reconnect, CONNACK Session Present = 1."""
    cid = unique("persist")
    topic = f"persist/{unique()}"
    first = clients(broker, version=version, client_id=cid, clean=False, session_expiry=300)
    flags, _, _ = first.connect()
    assert flags.session_present is False, "a brand-new client id has no session"
    assert first.subscribe(topic, 1) == [1]
    first.disconnect()

    pub = connected_client(clients, broker, version=version)
    payloads = [f"offline-{i}".encode() for i in range(3)]
    for p in payloads:
        pub.publish(topic, p, qos=1)

    again = clients(broker, version=version, client_id=cid, clean=False, session_expiry=300)
    flags, _, _ = again.connect()
    assert flags.session_present is True, "CONNACK Session Present must be 1 [MQTT-3.2.2-2]"
    got = [m.payload for m in again.expect_messages(3)]
    assert sorted(got) == sorted(payloads)

    # The stored subscription is live again without a new SUBSCRIBE.
    pub.publish(topic, b"online", qos=1)
    assert again.expect_message().payload == b"online"
    again.disconnect()

    # Clean reconnect discards the session.
    clean = clients(broker, version=version, client_id=cid, clean=True, session_expiry=0)
    flags, _, _ = clean.connect()
    assert flags.session_present is False


# --- shared subscriptions ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_shared_subscription_one_member_per_message(broker, clients, version):
    topic = f"shared/{unique()}"
    group = f"$share/{unique('g')}/{topic}"
    members = [connected_client(clients, broker, version=version) for _ in range(2)]
    for m in members:
        assert m.subscribe(group, 1) == [1]
    plain = connected_client(clients, broker, version=version)
    plain.subscribe(topic, 1)
    pub = connected_client(clients, broker, version=version)
    n = 20
    for i in range(n):
        pub.publish(topic, f"m{i}".encode(), qos=1)

    assert sorted(m.payload for m in plain.expect_messages(n)) == sorted(f"m{i}".encode() for i in range(n))

    got = []
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        for m in members:
            try:
                got.append(m.messages.get(timeout=0.05).payload)
            except queue.Empty:
                pass
    for m in members:
        got += [x.payload for x in m.drain()]
    time.sleep(0.5)  # bounded: give a wrongly duplicated delivery the chance to show up
    for m in members:
        got += [x.payload for x in m.drain()]
    assert sorted(got) == sorted(f"m{i}".encode() for i in range(n)), \
        f"each message must reach exactly one group member; got {len(got)} deliveries for {n} messages"


# --- duplicate client id ----------------------------------------------------------------------------------------

def test_duplicate_client_id_takeover_v5(broker, clients, raw_clients):
    """The new connection wins; the old MQTT 5 connection gets DISCONNECT 0x8E (Session taken over)."""
    cid = unique("dup")
    old = raw_clients(connected(broker.host, broker.mqtt_port, version=RAW_V5, client_id=cid))
    new = connected_client(clients, broker, version=V5, client_id=cid)
    p = old.expect(DISCONNECT, timeout=5)
    assert p.disconnect().reason == 0x8E
    old.expect_closed()
    topic = f"dup/{unique()}"
    new.subscribe(topic, 1)
    new.publish(topic, b"still here", qos=1)
    assert new.expect_message().payload == b"still here"


def test_duplicate_client_id_takeover_v311(broker, clients, raw_clients):
    """3.1.1 has no server DISCONNECT: the old connection is closed, the new one works."""
    cid = unique("dup")
    old = raw_clients(connected(broker.host, broker.mqtt_port, version=RAW_V311, client_id=cid))
    new = connected_client(clients, broker, version=V311, client_id=cid)
    old.expect_closed()
    topic = f"dup/{unique()}"
    new.subscribe(topic, 1)
    new.publish(topic, b"still here", qos=1)
    assert new.expect_message().payload == b"still here"


# --- cross-version ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pub_version,sub_version", [(V311, V5), (V5, V311)], ids=["v311-to-v5", "v5-to-v311"])
def test_cross_version_delivery(broker, clients, pub_version, sub_version):
    topic = f"xv/{unique()}"
    sub = connected_client(clients, broker, version=sub_version)
    sub.subscribe(topic, 1)
    pub = connected_client(clients, broker, version=pub_version)
    pub.publish(topic, b"across versions", qos=1)
    m = sub.expect_message()
    assert (m.topic, m.payload, m.qos) == (topic, b"across versions", 1)


# --- MQTT 5 features --------------------------------------------------------------------------------------------

def test_topic_alias_from_client_v5(broker, clients, raw_clients):
    """A publisher sets alias 1 → topic, then publishes with an empty topic and the alias; then remaps it.
    Subscribers (v5 and 3.1.1) always see the real topic name [MQTT-3.3.2-12 (5.0)]."""
    t1, t2 = f"alias/{unique()}", f"alias/{unique()}"
    sub5 = connected_client(clients, broker, version=V5)
    sub3 = connected_client(clients, broker, version=V311)
    for s in (sub5, sub3):
        s.subscribe([(t1, 1), (t2, 1)])
    pub = raw_clients(connected(broker.host, broker.mqtt_port, version=RAW_V5))
    pub.publish(t1, b"one", qos=1, properties=props((TOPIC_ALIAS, 1)))
    pub.publish("", b"two", qos=1, properties=props((TOPIC_ALIAS, 1)))
    pub.publish(t2, b"three", qos=1, properties=props((TOPIC_ALIAS, 1)))   # remap alias 1
    pub.publish("", b"four", qos=1, properties=props((TOPIC_ALIAS, 1)))
    expected = [(t1, b"one"), (t1, b"two"), (t2, b"three"), (t2, b"four")]
    for s in (sub5, sub3):
        got = [(m.topic, m.payload) for m in s.expect_messages(4)]
        assert sorted(got) == sorted(expected)


def test_v5_publish_properties_pass_through(broker, clients):
    """User properties (order kept, duplicates kept), content type, response topic, correlation data,
    payload format indicator and message expiry reach a v5 subscriber unchanged (expiry as the remaining time)."""
    topic = f"props/{unique()}"
    sub = connected_client(clients, broker, version=V5)
    sub.subscribe(topic, 1)
    pub = connected_client(clients, broker, version=V5)
    user = [("k1", "v1"), ("k2", "v2"), ("k1", "v3")]
    pub.publish(topic, b'{"a":1}', qos=1, properties=publish_properties(
        UserProperty=user, ContentType="application/json", ResponseTopic=f"{topic}/reply",
        CorrelationData=b"\x00\x01corr", PayloadFormatIndicator=1, MessageExpiryInterval=3600))
    m = sub.expect_message()
    p = m.properties
    assert m.payload == b'{"a":1}'
    assert list(p.UserProperty) == user
    assert p.ContentType == "application/json"
    assert p.ResponseTopic == f"{topic}/reply"
    assert p.CorrelationData == b"\x00\x01corr"
    assert p.PayloadFormatIndicator == 1
    assert 3590 <= p.MessageExpiryInterval <= 3600


def test_v5_no_local(broker, clients):
    """[MQTT-3.8.3-3] No Local: a client does not receive its own publications on that subscription."""
    topic = f"nolocal/{unique()}"
    c = connected_client(clients, broker, version=V5)
    c.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=True))
    other = connected_client(clients, broker, version=V5)
    c.publish(topic, b"mine", qos=1)
    other.publish(topic, b"theirs", qos=1)
    assert c.expect_message().payload == b"theirs"
    c.expect_no_message(0.5)
