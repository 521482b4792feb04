"""MQTT over mutual TLS on a real node (issue 4, first slice): `--mqtts-port`, certificates made with the openssl
CLI, a CA and certificates registered through `flotilla admin cert`, real clients (mosquitto_pub/sub, openssl
s_client).

- a device certificate signed by a registered, ACTIVE CA connects with mosquitto over TLS and round-trips;
- a client without a certificate, a certificate from an unregistered CA, and a certificate set INACTIVE (on its
  next connection) are refused at the handshake; the node keeps serving;
- a domain configuration added at runtime serves its own certificate by SNI (openssl s_client -servername),
  while other names get the default endpoint's certificate;
- a plain-text MQTT CONNECT on the TLS port is closed, and the node keeps serving.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HOST, flotilla_bin, free_ports
from pki import cert_id as pem_cert_id, make_ca, make_leaf

WAIT = 15.0


@pytest.fixture
def tls_node(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, "dev-ca")
    make_leaf(d, "dev-ca", "server", server=True, sans="DNS:localhost,IP:127.0.0.1")
    make_ca(d, "other-ca")
    make_leaf(d, "dev-ca", "device-1", server=False)
    make_leaf(d, "dev-ca", "device-2", server=False)
    make_leaf(d, "other-ca", "stranger", server=False)
    make_ca(d, "brand-ca")
    make_leaf(d, "brand-ca", "mqtt.brand.test", server=True, sans="DNS:mqtt.brand.test")
    make_ca(d, "acme-ca")
    make_leaf(d, "acme-ca", "iot.acme.test", server=True, sans="DNS:iot.acme.test")

    mqtt, api, raft, bus, mqtts, gossip = free_ports(6)
    log = open(tmp_path / "node.log", "ab")
    args = [str(flotilla_bin()), "serve", "--data-dir", str(tmp_path / "data"), "--bind", HOST,
            "--mqtt-port", str(mqtt), "--api-port", str(api), "--raft-port", str(raft), "--bus-port", str(bus), "--gossip-port", str(gossip),
            "--mqtts-port", str(mqtts), "--policies", "off", "--tls-cert", str(d / "server.pem"), "--tls-key", str(d / "server.key"),
            "--election-timeout-ms", "300", "--heartbeat-timeout-ms", "50", "--log-level", "info"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    node = type("Node", (), {})()
    node.pki, node.mqtt, node.api, node.mqtts, node.proc, node.log = d, mqtt, api, mqtts, proc, tmp_path / "node.log"
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, mqtts), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, f"flotilla exited:\n{node.log.read_text()}"
                time.sleep(0.1)
        else:
            pytest.fail(f"TLS listener not up:\n{node.log.read_text()}")
        yield node
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def admin(node, *args: str) -> str:
    done = subprocess.run([str(flotilla_bin()), "admin", *args, "--api", f"http://{HOST}:{node.api}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"flotilla admin {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def cert_id(node, name: str) -> str:
    return pem_cert_id(node.pki / f"{name}.pem")


def tls_args(node, device: str | None) -> list[str]:
    args = ["-h", HOST, "-p", str(node.mqtts), "--cafile", str(node.pki / "dev-ca.pem"), "--insecure"]
    if device:
        args += ["--cert", str(node.pki / f"{device}.pem"), "--key", str(node.pki / f"{device}.key")]
    return args


def round_trip(node, device: str, topic: str) -> bool:
    """mosquitto_sub and mosquitto_pub over mutual TLS with `device`'s certificate; True if the message arrived."""
    sub = subprocess.Popen(["mosquitto_sub", *tls_args(node, device), "-t", topic, "-C", "1", "-W", "8",
                            "-i", f"sub-{topic}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # integration test: let the subscription land (bounded by -W on the subscriber)
    pub = subprocess.run(["mosquitto_pub", *tls_args(node, device), "-t", topic, "-m", "over-tls", "-q", "1",
                          "-i", f"pub-{topic}"], capture_output=True, text=True, timeout=15)
    out, err = sub.communicate(timeout=15)
    return pub.returncode == 0 and out.strip() == "over-tls"


def refused(node, device: str | None) -> bool:
    done = subprocess.run(["mosquitto_pub", *tls_args(node, device), "-t", "x", "-m", "y", "-i", "refused"],
                          capture_output=True, text=True, timeout=15)
    return done.returncode != 0


def served_subject(node, servername: str) -> str:
    done = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{node.mqtts}", "-servername", servername,
                           "-cert", str(node.pki / "device-1.pem"), "-key", str(node.pki / "device-1.key")],
                          input="", capture_output=True, text=True, timeout=15)
    for line in done.stdout.splitlines():
        if line.strip().startswith("subject="):
            return line.strip()
    return done.stdout + done.stderr


def test_mutual_tls_round_trip_and_refusals(tls_node):
    node = tls_node
    admin(node, "cert", "register", "--ca", str(node.pki / "dev-ca.pem"))
    assert round_trip(node, "device-1", "tls/one"), node.log.read_text()[-3000:]

    assert refused(node, None), "a client without a certificate connected"
    assert refused(node, "stranger"), "a certificate from an unregistered CA connected"

    # device-2 registered itself, then set INACTIVE: refused on its next connection.
    admin(node, "cert", "register", str(node.pki / "device-2.pem"))
    assert round_trip(node, "device-2", "tls/two")
    admin(node, "cert", "update-status", cert_id(node, "device-2"), "INACTIVE")
    assert refused(node, "device-2"), "an INACTIVE certificate connected"
    assert round_trip(node, "device-1", "tls/three"), "the node stopped serving after refusals"

    log = node.log.read_text()
    assert "tls: connection refused" in log


def test_domain_added_at_runtime_is_served_by_sni(tls_node):
    node = tls_node
    admin(node, "cert", "register", "--ca", str(node.pki / "dev-ca.pem"))
    before = served_subject(node, "mqtt.brand.test")
    assert "CN=server" in before.replace(" ", ""), before  # not configured yet: the default endpoint's certificate
    admin(node, "domain", "create", "brand", "--domain-name", "mqtt.brand.test",
          "--certificate-chain", str(node.pki / "mqtt.brand.test.pem"),
          "--private-key", str(node.pki / "mqtt.brand.test.key"))
    after = served_subject(node, "mqtt.brand.test")
    assert "CN=mqtt.brand.test" in after.replace(" ", ""), after
    # A second domain, of another tenant: each name gets its own certificate.
    admin(node, "domain", "create", "acme-main", "--tenant", "111111111111", "--domain-name", "iot.acme.test",
          "--certificate-chain", str(node.pki / "iot.acme.test.pem"),
          "--private-key", str(node.pki / "iot.acme.test.key"))
    acme = served_subject(node, "iot.acme.test")
    assert "CN=iot.acme.test" in acme.replace(" ", ""), acme
    assert "CN=mqtt.brand.test" in served_subject(node, "mqtt.brand.test").replace(" ", "")
    other = served_subject(node, "other.example.test")
    assert "CN=server" in other.replace(" ", ""), other


def test_plain_mqtt_on_the_tls_port_is_closed(tls_node):
    node = tls_node
    connect = bytes([0x10, 0x10, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x04]) + b"abcd"
    with socket.create_connection((HOST, node.mqtts), timeout=5) as s:
        s.sendall(connect)
        s.settimeout(5)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    assert not data.startswith(b"\x20"), "a plain CONNECT got a CONNACK on the TLS port"
    admin(node, "cert", "register", "--ca", str(node.pki / "dev-ca.pem"))
    assert round_trip(node, "device-1", "tls/after-garbage")


def test_embedded_default_development_certificates(tmp_path):
    """With only --mqtts-port, the node makes a development CA and server certificate in <data-dir>/tls on first
    start and trusts that CA for the default tenant; ops/make-device-cert.sh makes a device certificate that
    mosquitto then uses, verifying the server (no --insecure)."""
    mqtt, api, raft, bus, mqtts, gossip = free_ports(6)
    data = tmp_path / "data"
    args = [str(flotilla_bin()), "serve", "--data-dir", str(data), "--bind", HOST, "--mqtt-port", str(mqtt),
            "--api-port", str(api), "--raft-port", str(raft), "--bus-port", str(bus), "--gossip-port", str(gossip), "--mqtts-port", str(mqtts),
            "--policies", "off", "--election-timeout-ms", "300", "--heartbeat-timeout-ms", "50"]
    log_path = tmp_path / "node.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and "development CA registered" not in log_path.read_text():
            assert proc.poll() is None, f"flotilla exited:\n{log_path.read_text()}"
            time.sleep(0.1)
        assert "development CA registered" in log_path.read_text(), log_path.read_text()
        tls = data / "tls"
        assert (tls / "dev-ca.pem").exists() and (tls / "server.pem").exists()
        assert oct((tls / "server.key").stat().st_mode & 0o777) == "0o600"
        made = subprocess.run([str(Path(__file__).resolve().parents[2] / "ops" / "make-device-cert.sh"), str(data),
                               "thing-1"], capture_output=True, text=True, timeout=30)
        assert made.returncode == 0, made.stderr
        device = tls / "devices"
        common = ["-h", "127.0.0.1", "-p", str(mqtts), "--cafile", str(tls / "dev-ca.pem"),
                  "--cert", str(device / "thing-1.pem"), "--key", str(device / "thing-1.key")]
        sub = subprocess.Popen(["mosquitto_sub", *common, "-t", "dev/t", "-C", "1", "-W", "8", "-i", "dev-sub"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # let the subscription land (the subscriber is bounded by -W)
        pub = subprocess.run(["mosquitto_pub", *common, "-t", "dev/t", "-m", "dev-hello", "-q", "1", "-i", "dev-pub"],
                             capture_output=True, text=True, timeout=15)
        out, err = sub.communicate(timeout=15)
        assert pub.returncode == 0, pub.stderr
        assert out.strip() == "dev-hello", err
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
