"""The 8443-style TLS port (`--tls-port`) on a real node, with real clients (issue 4):

- paho-mqtt over WebSocket + TLS (`wss://…/mqtt`, client certificate) round-trips;
- `curl --cert` publishes over HTTPS (`POST /topics/{topic}?qos=1`) and subscribers on every transport get it;
  without a certificate the request is refused (401, UnauthorizedException);
- ALPN `x-amzn-mqtt-ca` is MQTT with mutual TLS (mosquitto --tls-alpn); without a certificate it is refused at the
  handshake; ALPN `mqtt` (custom authorizers, none configured) is refused at CONNECT as not authorized;
- the AWS IoT Device SDK v2 (`mtls_from_path`) connects without ALPN — the first byte tells MQTT from HTTP — and
  round-trips.

The node makes its own development CA and server certificate (the embedded default) and a device certificate comes
from ops/make-device-cert.sh, as a user would do it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HOST, flotilla_bin, free_ports
from paho_client import PahoClient, V311, V5

WAIT = 15.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tlsport")
    mqtt, api, raft, bus, tls, gossip = free_ports(6)
    data = tmp / "data"
    log_path = tmp / "node.log"
    args = [str(flotilla_bin()), "serve", "--data-dir", str(data), "--bind", HOST, "--mqtt-port", str(mqtt),
            "--api-port", str(api), "--raft-port", str(raft), "--bus-port", str(bus), "--gossip-port", str(gossip), "--tls-port", str(tls),
            "--policies", "off", "--election-timeout-ms", "300", "--heartbeat-timeout-ms", "50", "--log-level", "info"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and "development CA registered" not in log_path.read_text():
            assert proc.poll() is None, f"flotilla exited:\n{log_path.read_text()}"
            time.sleep(0.1)
        assert "development CA registered" in log_path.read_text(), log_path.read_text()
        made = subprocess.run([str(ROOT / "ops" / "make-device-cert.sh"), str(data), "thing-1"],
                              capture_output=True, text=True, timeout=30)
        assert made.returncode == 0, made.stderr
        n = type("Node", (), {})()
        n.host, n.mqtt_port, n.api, n.tls, n.proc, n.log = HOST, mqtt, api, tls, proc, log_path
        n.ca = data / "tls" / "dev-ca.pem"
        n.cert = data / "tls" / "devices" / "thing-1.pem"
        n.key = data / "tls" / "devices" / "thing-1.key"
        yield n
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0, f"flotilla exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}"


def tls_port_broker(node):
    return type("B", (), {"host": "localhost", "mqtt_port": node.tls})()


def plain_broker(node):
    return type("B", (), {"host": HOST, "mqtt_port": node.mqtt_port})()


def wss_client(node, **kw) -> PahoClient:
    return PahoClient(tls_port_broker(node), transport="websockets",
                      tls=dict(ca_certs=str(node.ca), certfile=str(node.cert), keyfile=str(node.key)), **kw)


def curl(node, topic_encoded: str, body: str, *, cert: bool = True, extra: list[str] | None = None):
    args = ["curl", "-sS", "--max-time", "10", "--cacert", str(node.ca), "-X", "POST", "--data-binary", body,
            "-D", "-", f"https://localhost:{node.tls}/topics/{topic_encoded}?qos=1"]
    if cert:
        args += ["--cert", str(node.cert), "--key", str(node.key)]
    done = subprocess.run(args + (extra or []), capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, f"curl failed: {done.stderr}"
    head, _, payload = done.stdout.partition("\n\n")  # text mode: CRLF already became LF
    status = int(head.split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in head.splitlines()[1:])}
    return status, headers, payload


def test_paho_over_websocket_tls_round_trips(node):
    sub = wss_client(node, version=V5)
    pub = wss_client(node, version=V311)
    try:
        sub.connect()
        assert sub.subscribe("wss/#", 1) == [1]
        pub.connect()
        pub.publish("wss/a", b"over-websocket", qos=1)
        m = sub.expect_message()
        assert (m.topic, m.payload, m.qos) == ("wss/a", b"over-websocket", 1)
    finally:
        sub.close()
        pub.close()


def test_curl_publishes_over_https_to_every_transport(node):
    wss = wss_client(node)
    plain = PahoClient(plain_broker(node))
    try:
        wss.connect()
        wss.subscribe("dt/+/temp", 1)
        plain.connect()
        plain.subscribe("dt/#", 1)
        status, headers, body = curl(node, "dt%2Fthing-1%2Ftemp", '{"t":21.5}',
                                     extra=["-H", "Content-Type: application/json"])
        assert status == 200, body
        assert json.loads(body)["message"] == "OK" and json.loads(body)["traceId"]
        for c in (wss, plain):
            m = c.expect_message()
            assert (m.topic, m.payload) == ("dt/thing-1/temp", b'{"t":21.5}')
    finally:
        wss.close()
        plain.close()


def test_https_refusals(node):
    status, headers, body = curl(node, "x", "nope", cert=False)
    assert status == 401 and headers.get("x-amzn-errortype") == "UnauthorizedException", (status, headers, body)
    status, headers, body = curl(node, "x", "bad", extra=["-X", "GET"])  # not a publish
    assert status == 405 and headers.get("x-amzn-errortype") == "MethodNotAllowedException", (status, headers)
    status, headers, body = curl(node, "bad%2F%23", "wildcard")
    assert status == 400 and headers.get("x-amzn-errortype") == "InvalidRequestException", (status, headers)


def mosquitto(node, alpn: str, *, cert: bool, topic: str):
    args = ["mosquitto_pub", "-h", "localhost", "-p", str(node.tls), "--cafile", str(node.ca), "--tls-alpn", alpn,
            "-t", topic, "-m", "alpn", "-q", "1", "-i", f"alpn-{alpn}-{cert}"]
    if cert:
        args += ["--cert", str(node.cert), "--key", str(node.key)]
    return subprocess.run(args, capture_output=True, text=True, timeout=15)


def test_alpn_selects_mqtt_and_its_authentication(node):
    plain = PahoClient(plain_broker(node))
    try:
        plain.connect()
        plain.subscribe("alpn/#", 1)
        done = mosquitto(node, "x-amzn-mqtt-ca", cert=True, topic="alpn/mtls")
        assert done.returncode == 0, done.stderr
        assert plain.expect_message().topic == "alpn/mtls"
        # x-amzn-mqtt-ca without a certificate: refused at the handshake.
        done = mosquitto(node, "x-amzn-mqtt-ca", cert=False, topic="alpn/none")
        assert done.returncode != 0
        # mqtt (custom authorizers; none configured): the handshake passes, CONNECT is refused.
        done = mosquitto(node, "mqtt", cert=False, topic="alpn/custom")
        assert done.returncode != 0 and "not authori" in (done.stderr + done.stdout).lower(), done.stderr
        plain.expect_no_message(0.5)
    finally:
        plain.close()


def test_aws_iot_device_sdk_v2_without_alpn(node):
    from awscrt import mqtt
    from awsiot import mqtt_connection_builder

    received = []
    conn = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=node.tls, cert_filepath=str(node.cert), pri_key_filepath=str(node.key),
        ca_filepath=str(node.ca), client_id="sdk-v2-8443", clean_session=True, keep_alive_secs=30)
    conn.connect().result(timeout=10)
    try:
        import threading
        got = threading.Event()

        def on_message(topic, payload, **kwargs):
            received.append((topic, payload))
            got.set()

        sub_future, _ = conn.subscribe(topic="sdk/8443", qos=mqtt.QoS.AT_LEAST_ONCE, callback=on_message)
        sub_future.result(timeout=10)
        pub_future, _ = conn.publish(topic="sdk/8443", payload=b"from-sdk", qos=mqtt.QoS.AT_LEAST_ONCE)
        pub_future.result(timeout=10)
        assert got.wait(10), "the SDK did not receive its own message"
        assert received == [("sdk/8443", b"from-sdk")]
    finally:
        conn.disconnect().result(timeout=10)


def test_garbage_on_the_tls_port_leaves_it_serving(node):
    for junk in (b"\x16\x03\x01\xff\xff" + b"\xab" * 64, b"GET / HTTP/1.1\r\n\r\n", bytes(range(256))):
        with socket.create_connection((HOST, node.tls), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
    status, _, body = curl(node, "after%2Fgarbage", "still-here")
    assert status == 200, body
