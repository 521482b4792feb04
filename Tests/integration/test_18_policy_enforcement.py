"""IoT policies enforced on certificate connections (issue 5, the data-plane half), on one real node with TLS
listeners (8883-style `--mqtts-port`, 8443-style `--tls-port`): policies created and attached with the real AWS CLI,
device certificates registered with `flotilla admin cert`, and real clients (mosquitto_pub/sub, paho, a raw MQTT
client over TLS for exact reason codes, curl for HTTPS publish).

- iot:Connect on `client/<id>`: an allowed client id connects; another gets CONNACK 5 (3.1.1) / 0x87 (MQTT 5);
- iot:Publish: MQTT 5 gets PUBACK 0x87 and stays connected; MQTT 3.1.1 is disconnected; iot:RetainPublish too;
- iot:Subscribe: SUBACK 0x80 (3.1.1) / 0x87 (5) for the refused filter only;
- iot:Receive: a subscriber allowed to subscribe to `feed/#` only gets the topics it may receive;
- `${iot:ClientId}`, `${iot:Certificate.Subject.CommonName}` and `${iot:Connection.Thing.ThingName}` resolve (the thing attached with attach-thing-principal
  takes effect on the live connection);
- DetachPolicy denies the next publish of a live connection, without reconnecting; a certificate set INACTIVE is
  disconnected;
- HTTPS publish refused by policy: 403 ForbiddenException;
- the plain listener (1883) is not subject to policies;
- each denial is counted in /metrics;
- on a three-node cluster, a policy attached and detached through node 1 takes effect on a live connection on
  node 3 without a reconnect.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from aws_kit import aws
from cluster_kit import Cluster
from conftest import HOST, free_ports, port_accepts
from mqtt_raw import DISCONNECT, RawClient, V311, V5, publish as publish_packet, unique
from paho_client import PahoClient
from pki import cert_id, make_ca, make_leaf
from tls_kit import admin, tls_client

ACCOUNT = "000000000000"
ARN = f"arn:aws:iot:us-east-1:{ACCOUNT}"

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ARN}:client/dev-*"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
        f"{ARN}:topic/devices/${{iot:ClientId}}/*",
        f"{ARN}:topic/things/${{iot:Connection.Thing.ThingName}}/*",
        f"{ARN}:topic/feed/*", f"{ARN}:topic/http/*",
        f"{ARN}:topic/cn/${{iot:Certificate.Subject.CommonName}}/*"]},
    {"Effect": "Deny", "Action": "iot:Receive", "Resource": f"{ARN}:topic/feed/secret/*"},
    {"Effect": "Allow", "Action": "iot:RetainPublish", "Resource": f"{ARN}:topic/devices/${{iot:ClientId}}/state"},
    {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
        f"{ARN}:topicfilter/devices/${{iot:ClientId}}/#", f"{ARN}:topicfilter/feed/#"]},
]})


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "dev-ca")
    make_leaf(d, "dev-ca", "server", server=True, sans="DNS:localhost,IP:127.0.0.1")
    for name in ("device-1", "device-2", "device-3"):
        make_leaf(d, "dev-ca", name, server=False)
    return d


@pytest.fixture
def node(start_broker, pki):
    """A node enforcing policies on 8883/8443; device-1..3 registered ACTIVE; POLICY attached to device-1 and -3."""
    mqtts, tls = free_ports(2)
    n = start_broker(extra_args=["--mqtts-port", str(mqtts), "--tls-port", str(tls),
                                 "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")])
    n.mqtts, n.tls, n.pki = mqtts, tls, pki
    for _ in range(100):
        if port_accepts(HOST, mqtts) and port_accepts(HOST, tls):
            break
        time.sleep(0.05)
    admin(n.metrics_port, "cert", "register", "--ca", str(pki / "dev-ca.pem"))
    for name in ("device-1", "device-2", "device-3"):
        admin(n.metrics_port, "cert", "register", str(pki / f"{name}.pem"))
    aws(n, "create-policy", "--policy-name", "devices", "--policy-document", POLICY)
    for name in ("device-1", "device-3"):
        aws(n, "attach-policy", "--policy-name", "devices", "--target", cert_arn(pki, name))
    return n


def cert_arn(pki, name: str) -> str:
    return f"{ARN}:cert/{cert_id(pki / f'{name}.pem')}"


def device(node, name: str = "device-1") -> dict:
    return dict(cert=node.pki / f"{name}.pem", key=node.pki / f"{name}.key")


def raw(node, version: int, name: str = "device-1") -> RawClient:
    return tls_client(node.mqtts, **device(node, name), version=version)


def paho(node, client_id: str, version=V5, name: str = "device-1") -> PahoClient:
    target = type("B", (), {"host": HOST, "mqtt_port": node.mqtts})()
    return PahoClient(target, version=version, client_id=client_id,
                      tls=dict(ca_certs=str(node.pki / "dev-ca.pem"), certfile=str(node.pki / f"{name}.pem"),
                               keyfile=str(node.pki / f"{name}.key")))


def mosquitto_args(node, client_id: str, name: str = "device-1") -> list[str]:
    return ["-h", HOST, "-p", str(node.mqtts), "--cafile", str(node.pki / "dev-ca.pem"), "--insecure",
            "--cert", str(node.pki / f"{name}.pem"), "--key", str(node.pki / f"{name}.key"), "-i", client_id]


def denied_count(node, action: str) -> float:
    text = urllib.request.urlopen(f"{node.metrics_url}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("iot_authorization_denied_total") and f'action="{action}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_connect_allowed_and_refused(node):
    for version, refused_code in ((V311, 0x05), (V5, 0x87)):
        with raw(node, version) as c:
            assert c.connect(unique("dev-ok")).code == 0
        with raw(node, version) as c:
            assert c.connect(unique("intruder")).code == refused_code
            c.expect_closed()
        # A certificate with no policy at all: default deny, whatever the client id.
        with raw(node, version, name="device-2") as c:
            assert c.connect(unique("dev-nopolicy")).code == refused_code
    # mosquitto sees the refusal too.
    done = subprocess.run(["mosquitto_pub", *mosquitto_args(node, "intruder-1"), "-t", "devices/intruder-1/x",
                           "-m", "y"], capture_output=True, text=True, timeout=15)
    assert done.returncode != 0 and "not authori" in (done.stderr + done.stdout).lower(), done.stderr
    assert denied_count(node, "iot:Connect") >= 5


def test_publish_denied_v5_puback_0x87_and_v311_disconnect(node):
    cid = unique("dev-pub")
    with raw(node, V5) as c:
        assert c.connect(cid).code == 0
        assert c.publish(f"devices/{cid}/t", b"ok", qos=1).reason in (None, 0)
        assert c.publish(f"devices/someone-else/t", b"no", qos=1).reason == 0x87
        assert c.publish("elsewhere", b"no", qos=0) is None  # dropped silently
        # Retained: iot:RetainPublish is needed too.
        assert c.publish(f"devices/{cid}/t", b"r", qos=1, retain=True).reason == 0x87
        assert c.publish(f"devices/{cid}/state", b"r", qos=1, retain=True).reason in (None, 0)
        c.expect_open()
    with raw(node, V311) as c:
        assert c.connect(unique("dev-pub")).code == 0
        # The 3.1.1 refusal is a closed connection, not a PUBACK.
        c.send(publish_packet("devices/someone-else/t", b"no", qos=1, pid=9, version=V311))
        c.expect_closed()
    assert denied_count(node, "iot:Publish") >= 3
    assert denied_count(node, "iot:RetainPublish") >= 1


def test_publish_denied_with_paho_v5(node):
    cid = unique("dev-paho")
    p = paho(node, cid)
    codes: list[int] = []
    p.c.on_publish = lambda client, userdata, mid, reason_code, properties: codes.append(int(reason_code.value))
    try:
        p.connect()
        p.publish(f"devices/{cid}/t", b"ok", qos=1)
        p.publish("nope/t", b"no", qos=1)  # completes with a PUBACK carrying 0x87 …
        assert codes == [0x00, 0x87]
        p.publish(f"devices/{cid}/t", b"ok", qos=1)  # … and the connection stays up
        assert codes == [0x00, 0x87, 0x00] and not p.disconnected.is_set()
    finally:
        p.close()


def test_subscribe_denied_for_that_filter_only(node):
    for version, code in ((V311, 0x80), (V5, 0x87)):
        cid = unique("dev-sub")
        with raw(node, version) as c:
            assert c.connect(cid).code == 0
            sa = c.subscribe([(f"devices/{cid}/#", 1), ("other/#", 1), ("feed/#", 0)], pid=4)
            assert sa.codes == [1, code, 0]
            c.expect_open()
    assert denied_count(node, "iot:Subscribe") >= 2


def test_receive_checked_at_delivery(node):
    sub = paho(node, unique("dev-rx"))
    try:
        sub.connect()
        assert sub.subscribe("feed/#", 1) == [1]
        with raw(node, V5, name="device-3") as pub:
            assert pub.connect(unique("dev-tx")).code == 0
            assert pub.publish("feed/secret/1", b"hidden", qos=1).reason in (None, 0)
            assert pub.publish("feed/public/1", b"visible", qos=1).reason in (None, 0)
        m = sub.expect_message()
        assert (m.topic, m.payload) == ("feed/public/1", b"visible")
        sub.expect_no_message(1.0)
    finally:
        sub.close()
    assert denied_count(node, "iot:Receive") >= 1

    # mosquitto_sub: the same filter, the allowed message only.
    cid = unique("dev-msub")
    s = subprocess.Popen(["mosquitto_sub", *mosquitto_args(node, cid), "-t", "feed/#", "-C", "1", "-W", "8", "-v"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)  # let the subscription land (bounded by -W)
    for topic, body in (("feed/secret/2", "hidden"), ("feed/public/2", "visible")):
        done = subprocess.run(["mosquitto_pub", *mosquitto_args(node, unique("dev-mpub"), "device-3"), "-t", topic,
                               "-m", body, "-q", "1"], capture_output=True, text=True, timeout=15)
        assert done.returncode == 0, done.stderr
    out, _ = s.communicate(timeout=15)
    assert out.strip() == "feed/public/2 visible"


def test_thing_name_variable_and_detach_without_reconnect(node):
    cid = unique("dev-thing")
    with raw(node, V5) as c:
        assert c.connect(cid).code == 0
        # No thing attached yet: ${iot:Connection.Thing.ThingName} does not resolve.
        assert c.publish(f"things/{cid}/telemetry", b"x", qos=1).reason == 0x87
        aws(node, "create-thing", "--thing-name", cid)
        aws(node, "attach-thing-principal", "--thing-name", cid, "--principal", cert_arn(node.pki, "device-1"))
        # The same connection, next publish: the thing is the one named like the client id.
        assert c.publish(f"things/{cid}/telemetry", b"x", qos=1).reason in (None, 0)
        assert c.publish("things/another-thing/telemetry", b"x", qos=1).reason == 0x87

        aws(node, "detach-policy", "--policy-name", "devices", "--target", cert_arn(node.pki, "device-1"))
        assert c.publish(f"devices/{cid}/t", b"x", qos=1).reason == 0x87  # no reconnect needed
        aws(node, "attach-policy", "--policy-name", "devices", "--target", cert_arn(node.pki, "device-1"))
        assert c.publish(f"devices/{cid}/t", b"x", qos=1).reason in (None, 0)


def test_certificate_subject_variable(node):
    # The device certificates are made with CN=<file name> (pki.make_leaf).
    with raw(node, V5) as c:
        assert c.connect(unique("dev-cn")).code == 0
        assert c.publish("cn/device-1/t", b"x", qos=1).reason in (None, 0)
        assert c.publish("cn/device-3/t", b"x", qos=1).reason == 0x87
    with raw(node, V5, name="device-3") as c:
        assert c.connect(unique("dev-cn")).code == 0
        assert c.publish("cn/device-3/t", b"x", qos=1).reason in (None, 0)


def test_inactive_certificate_is_disconnected(node):
    with raw(node, V5, name="device-3") as c:
        assert c.connect(unique("dev-idle")).code == 0
        admin(node.metrics_port, "cert", "update-status", cert_id(node.pki / "device-3.pem"), "INACTIVE")
        d = c.expect(DISCONNECT, timeout=5).disconnect()  # DISCONNECT, within the broker's once-a-second sweep
        assert d.reason == 0x87
        c.expect_closed()


def test_https_publish_refused_with_403(node):
    def post(topic: str) -> tuple[int, str, str]:
        done = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "--cacert", str(node.pki / "dev-ca.pem"), "-X", "POST",
             "--data-binary", "x", "-D", "-", "--cert", str(node.pki / "device-1.pem"),
             "--key", str(node.pki / "device-1.key"), f"https://localhost:{node.tls}/topics/{topic}?qos=1"],
            capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done.stderr
        head, _, body = done.stdout.partition("\n\n")
        error_type = next((l.split(":", 1)[1].strip() for l in head.splitlines()
                           if l.lower().startswith("x-amzn-errortype:")), "")
        return int(head.split()[1]), error_type, body

    assert post("http%2Fok")[0] == 200
    assert post("cn%2Fdevice-1%2Fh")[0] == 200  # certificate variables resolve over HTTPS too
    status, error_type, body = post("forbidden%2Ftopic")
    assert (status, error_type) == (403, "ForbiddenException"), body
    assert "message" in json.loads(body)
    # ${iot:ClientId} does not resolve over HTTPS: the devices/<id>/* grant does not apply.
    assert post("devices%2Fdev-x%2Ft")[0] == 403


def test_plain_listener_is_not_enforced(node):
    with RawClient(HOST, node.mqtt_port, version=V5) as c:
        assert c.connect(unique("anyone")).code == 0
        assert c.publish("anything/at/all", b"x", qos=1).reason in (None, 0)


@pytest.fixture
def policy_cluster(tmp_path, pki):
    mqtts = dict(zip((1, 2, 3), free_ports(3)))
    c = Cluster(tmp_path / "cluster", 3, extra_args=lambda i: [
        "--mqtts-port", str(mqtts[i]), "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")])
    c.mqtts = mqtts
    try:
        c.start()
        for i in c.nodes:
            c.wait_port(i, mqtts[i])
        yield c
    finally:
        c.stop()
    assert not c.crashed, f"nodes died during the test: {c.crashed}\n{c.logs()}"


def test_policy_changes_through_node_1_apply_on_node_3(policy_cluster, pki):
    c = policy_cluster
    node1 = type("N", (), {"api_url": f"http://{HOST}:{c[1].api_port}", "data_dir": c[1].data_dir})()
    admin(c[1].api_port, "cert", "register", "--ca", str(pki / "dev-ca.pem"))
    aws(node1, "create-policy", "--policy-name", "devices", "--policy-document", POLICY)
    aws(node1, "attach-policy", "--policy-name", "devices", "--target", cert_arn(pki, "device-1"))
    kw = dict(cert=pki / "device-1.pem", key=pki / "device-1.key", version=V5)
    cid = unique("dev-far")

    def connects() -> bool:
        with tls_client(c.mqtts[3], **kw) as probe:
            return probe.connect(unique("dev-probe")).code == 0

    c.wait_for("node 3 to apply the attachment", connects, timeout=10, interval=0.2)
    with tls_client(c.mqtts[3], **kw) as conn:
        assert conn.connect(cid).code == 0
        assert conn.publish(f"devices/{cid}/t", b"x", qos=1).reason in (None, 0)
        aws(node1, "detach-policy", "--policy-name", "devices", "--target", cert_arn(pki, "device-1"))
        detached = time.monotonic()
        # The same connection on node 3: refused once node 3 has applied the detach (raft replication).
        c.wait_for("node 3 to refuse the next publish", lambda: conn.publish(f"devices/{cid}/t", b"x", qos=1).reason
                   == 0x87, timeout=10, interval=0.1)
        print(f"detach applied on node 3's live connection {time.monotonic() - detached:.2f}s after the CLI returned")
