"""The 8883-style listener against hostile and real-world clients, on real nodes (issue 4, "Done when" 5 and the
SDK item):

- malformed TLS — a handshake record header followed by garbage, a record header claiming more than TLS allows,
  random bytes, and a garbage application-data record after a completed handshake — is refused, counted
  `iot_tls_refusals_total{reason="protocol_error"}`, and the node goes on serving a good mutual-TLS client;
- a ClientHello naming an unknown host on a node started with `--tls-unknown-sni reject` gets the
  `unrecognized_name` alert (openssl s_client prints it) and is counted `unrecognized_name`; the same name on a node
  with the default setting gets the default endpoint's certificate and no refusal;
- a device certificate signed by a registered ACTIVE CA but past its notAfter is refused at the handshake
  (alert certificate_expired) and counted `certificate_expired`;
- the AWS IoT Device SDK v2 for Python connects to the listener with mutual TLS, verifying the server for
  `localhost`: MQTT 3.1.1 (`mqtt_connection_builder.mtls_from_path`) and MQTT 5 (`mqtt5_client_builder`), each
  subscribing, publishing QoS 1 and receiving its own message.

(A plain-text MQTT CONNECT on the TLS port is in test_10.) Every node is checked for an unexpected exit at
teardown (conftest), and every wait is bounded.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from conftest import HOST, free_ports, port_accepts
from pki import make_ca, make_expired_leaf, make_leaf, not_after
from tls_kit import (
    admin, decrypted_alert, handshaken_socket, refusal_seen, s_client, send_and_read_to_close, served_subject,
    tls_round_trip, wait_refusals,
)

SDK_TIMEOUT = 10.0
BRAND = "mqtt.brand.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "dev-ca")
    make_leaf(d, "dev-ca", "server", server=True, sans="DNS:localhost,IP:127.0.0.1")
    make_leaf(d, "dev-ca", "device-1", server=False)
    make_expired_leaf(d, "dev-ca", "expired-device")
    make_ca(d, "brand-ca")
    make_leaf(d, "brand-ca", BRAND, server=True, sans=f"DNS:{BRAND}")
    return d


@pytest.fixture
def tls_node(start_broker, pki):
    """start(*extra_flags) → a node with an mTLS listener (`node.mqtts`), dev-ca registered for the default tenant."""

    def start(*extra: str):
        mqtts = free_ports(1)[0]
        node = start_broker(extra_args=["--mqtts-port", str(mqtts), "--policies", "off",
                                        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
                                        *extra])
        node.mqtts = mqtts
        for _ in range(100):  # 100 × ≤0.5 s connect attempts, 0.05 s apart
            if port_accepts(HOST, mqtts):
                break
            assert node.alive(), node.log_tail()
            time.sleep(0.05)
        else:
            pytest.fail(f"TLS listener not up:\n{node.log_tail()}")
        admin(node.metrics_port, "cert", "register", "--ca", str(pki / "dev-ca.pem"))
        return node

    return start


def device(pki, name: str = "device-1") -> dict:
    return dict(cert=pki / f"{name}.pem", key=pki / f"{name}.key")


def serves_good_client(node, pki, servername: str | None = None) -> None:
    assert node.alive(), f"the node exited:\n{node.log_tail()}"
    tls_round_trip(node.mqtts, **device(pki), servername=servername)


# --- malformed TLS ---------------------------------------------------------------------------------------------------

def test_malformed_tls_is_refused_and_counted(tls_node, pki):
    node = tls_node()
    serves_good_client(node, pki)
    wait_refusals(node.metrics_port, {})
    rng = random.Random(20261122)  # fixed: the same bytes every run
    count = 0

    def refused_as_protocol_error(what: str, reply: bytes, *, alert: int | None = None) -> None:
        nonlocal count
        count += 1
        # Whatever the server answered is one fatal TLS alert record, never a handshake message or MQTT:
        # content type 21, version 3.x, length 2, level 2 (fatal), description.
        if alert is not None:
            assert reply[:6] == bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02]) and reply[6] == alert, \
                f"{what}: expected fatal alert {alert}, the server answered {reply.hex()}"
        else:
            assert reply == b"" or reply[0] == 0x15, f"{what}: the server answered {reply[:16].hex()}"
        wait_refusals(node.metrics_port, {"protocol_error": count})
        serves_good_client(node, pki)

    # A handshake record header (type 22, TLS 1.0 record version, 64 bytes) followed by 64 bytes of garbage: not a
    # ClientHello, so unexpected_message (10).
    garbage = rng.randbytes(64)
    reply = send_and_read_to_close(node.mqtts, bytes([0x16, 0x03, 0x01, 0x00, 0x40]) + garbage)
    refused_as_protocol_error("handshake header + garbage", reply, alert=10)

    # A record header announcing 65535 bytes: TLS allows at most 2^14 + 2048, record_overflow (22, RFC 8446 §5.1).
    reply = send_and_read_to_close(node.mqtts, bytes([0x16, 0x03, 0x03, 0xFF, 0xFF]) + rng.randbytes(64))
    refused_as_protocol_error("oversized record", reply, alert=22)

    # Random bytes (the first one fixed to a byte that is no record type and no SSLv2 header).
    noise = bytes([0x47]) + rng.randbytes(1023)
    reply = send_and_read_to_close(node.mqtts, noise)
    refused_as_protocol_error("random bytes", reply)

    # A completed mutual-TLS handshake, then an application-data record of random bytes (it cannot decrypt).
    # Its reply, decrypted by the client's TLS state (which never saw the garbage), ends with bad_record_mac.
    sock, tls, incoming = handshaken_socket(node.mqtts, **device(pki))
    reply = send_and_read_to_close(node.mqtts, bytes([0x17, 0x03, 0x03, 0x00, 0x40]) + rng.randbytes(64), sock=sock)
    assert decrypted_alert(tls, incoming, reply) == "SSLV3_ALERT_BAD_RECORD_MAC", reply.hex()
    count += 1
    wait_refusals(node.metrics_port, {"protocol_error": count})
    serves_good_client(node, pki)

    log = node.log_text()
    assert log.count("tls: connection refused") == count, log[-3000:]
    assert log.count("tls.reason=protocol_error") == count, log[-3000:]


# --- SNI -------------------------------------------------------------------------------------------------------------

def test_unknown_sni_is_refused_with_unrecognized_name_when_configured(tls_node, pki):
    node = tls_node("--tls-unknown-sni", "reject")
    # With `reject`, only configured names are served: add one so a good client has somewhere to go.
    admin(node.metrics_port, "domain", "create", "brand", "--domain-name", BRAND,
          "--certificate-chain", str(pki / f"{BRAND}.pem"), "--private-key", str(pki / f"{BRAND}.key"))
    serves_good_client(node, pki, servername=BRAND)
    wait_refusals(node.metrics_port, {})

    done = s_client(node.mqtts, "unknown.example.test", **device(pki))
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "unrecognized name" in out, out  # OpenSSL: "tlsv1 unrecognized name … SSL alert number 112"
    assert "SSL alert number 112" in out, out
    assert "subject=" not in done.stdout, "a certificate was served to an unknown name"
    wait_refusals(node.metrics_port, {"unrecognized_name": 1})
    serves_good_client(node, pki, servername=BRAND)

    # The same through Python's ssl: the handshake fails on the alert.
    seen = refusal_seen(node.mqtts, **device(pki), servername="unknown.example.test")
    assert seen == "alert TLSV1_UNRECOGNIZED_NAME", seen
    wait_refusals(node.metrics_port, {"unrecognized_name": 2})
    serves_good_client(node, pki, servername=BRAND)


def test_unknown_sni_gets_the_default_certificate_by_default(tls_node, pki):
    node = tls_node()
    assert served_subject(node.mqtts, "unknown.example.test", **device(pki)) == "subject=CN=server"
    serves_good_client(node, pki, servername="unknown.example.test")
    wait_refusals(node.metrics_port, {})


# --- expired device certificate -------------------------------------------------------------------------------------

def test_expired_device_certificate_is_refused_and_counted(tls_node, pki):
    assert not_after(pki / "expired-device.pem").endswith("2020 GMT")
    node = tls_node()
    serves_good_client(node, pki)

    seen = refusal_seen(node.mqtts, **device(pki, "expired-device"))
    assert seen == "alert SSLV3_ALERT_CERTIFICATE_EXPIRED", seen
    wait_refusals(node.metrics_port, {"certificate_expired": 1})
    # Registering the certificate itself does not make it valid.
    admin(node.metrics_port, "cert", "register", str(pki / "expired-device.pem"))
    seen = refusal_seen(node.mqtts, **device(pki, "expired-device"))
    assert seen == "alert SSLV3_ALERT_CERTIFICATE_EXPIRED", seen
    wait_refusals(node.metrics_port, {"certificate_expired": 2})
    serves_good_client(node, pki)
    assert "certificate_expired" in node.log_text()


# --- AWS IoT Device SDK v2 ------------------------------------------------------------------------------------------

def test_aws_iot_device_sdk_mqtt311(tls_node, pki):
    mqtt_connection_builder = pytest.importorskip("awsiot.mqtt_connection_builder")
    from awscrt import mqtt

    node = tls_node()
    received: list[tuple[str, bytes]] = []
    arrived = threading.Event()

    def on_message(topic, payload, dup, qos, retain, **kwargs):
        received.append((topic, bytes(payload)))
        arrived.set()

    connection = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=node.mqtts, cert_filepath=str(pki / "device-1.pem"),
        pri_key_filepath=str(pki / "device-1.key"), ca_filepath=str(pki / "dev-ca.pem"), client_id="sdk-v2-311",
        clean_session=True, keep_alive_secs=30)
    result = connection.connect().result(timeout=SDK_TIMEOUT)
    assert result["session_present"] is False
    try:
        topic = "sdk/v311/echo"
        future, _ = connection.subscribe(topic, mqtt.QoS.AT_LEAST_ONCE, callback=on_message)
        granted = future.result(timeout=SDK_TIMEOUT)
        assert granted["qos"] == mqtt.QoS.AT_LEAST_ONCE, granted
        future, _ = connection.publish(topic, b"hello from the v2 SDK", mqtt.QoS.AT_LEAST_ONCE)
        future.result(timeout=SDK_TIMEOUT)  # PUBACK
        assert arrived.wait(SDK_TIMEOUT), "the SDK did not receive its own message"
        assert received == [(topic, b"hello from the v2 SDK")]
    finally:
        connection.disconnect().result(timeout=SDK_TIMEOUT)
    wait_refusals(node.metrics_port, {})


def test_aws_iot_device_sdk_mqtt5(tls_node, pki):
    mqtt5_client_builder = pytest.importorskip("awsiot.mqtt5_client_builder")
    from awscrt import mqtt5

    node = tls_node()
    connected, stopped, arrived = threading.Event(), threading.Event(), threading.Event()
    failures: list[str] = []
    received: list[tuple[str, bytes]] = []

    def on_publish(data):
        received.append((data.publish_packet.topic, bytes(data.publish_packet.payload)))
        arrived.set()

    def on_failure(data):
        failures.append(repr(data.exception))

    client = mqtt5_client_builder.mtls_from_path(
        endpoint="localhost", port=node.mqtts, cert_filepath=str(pki / "device-1.pem"),
        pri_key_filepath=str(pki / "device-1.key"), ca_filepath=str(pki / "dev-ca.pem"), client_id="sdk-v2-5",
        keep_alive_interval_sec=30, on_publish_received=on_publish,
        on_lifecycle_connection_success=lambda data: connected.set(),
        on_lifecycle_connection_failure=on_failure, on_lifecycle_stopped=lambda data: stopped.set())
    client.start()
    try:
        assert connected.wait(SDK_TIMEOUT), f"MQTT 5 client did not connect: {failures}"
        topic = "sdk/v5/echo"
        suback = client.subscribe(mqtt5.SubscribePacket(subscriptions=[
            mqtt5.Subscription(topic_filter=topic, qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(timeout=SDK_TIMEOUT)
        assert suback.reason_codes == [mqtt5.SubackReasonCode.GRANTED_QOS_1], suback.reason_codes
        done = client.publish(mqtt5.PublishPacket(topic=topic, payload=b"hello over MQTT 5",
                                                  qos=mqtt5.QoS.AT_LEAST_ONCE)).result(timeout=SDK_TIMEOUT)
        assert done.puback.reason_code == mqtt5.PubackReasonCode.SUCCESS, done.puback
        assert arrived.wait(SDK_TIMEOUT), "the SDK did not receive its own message"
        assert received == [(topic, b"hello over MQTT 5")]
    finally:
        client.stop()
        assert stopped.wait(SDK_TIMEOUT), "MQTT 5 client did not stop"
    assert not failures, failures
    wait_refusals(node.metrics_port, {})
