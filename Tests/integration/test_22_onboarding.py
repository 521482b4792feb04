"""The whole AWS IoT onboarding flow against one real node (issue 5, "Done when" 1), exactly as a user would run
it, with nothing but `--endpoint-url` changed:

- the AWS CLI: create-thing with attributes, create-keys-and-certificate --set-as-active, create-policy,
  attach-policy, attach-thing-principal, list-thing-principals, describe-endpoint — for device `sensor-7`;
- boto3: the same calls for device `sensor-8`;
- then each device connects over mutual TLS with the certificate the API issued — mosquitto for sensor-7 (MQTT
  3.1.1), paho for sensor-8 (MQTT 5) — and can do exactly what the policy allows. The policy uses
  `${iot:Connection.Thing.ThingName}` (connect only under the attached thing's name; subscribe/receive `cmd/<thing>/…`)
  and `${iot:ClientId}` (publish `dt/<client id>/…`). Allowed publishes and subscriptions work; a client id that is
  not the thing's name is refused at CONNECT; another device's topics are refused (3.1.1: the connection closes on a
  denied publish; 5: PUBACK/SUBACK 0x87).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from aws_kit import aws_json, client
from conftest import HOST, free_ports, port_accepts
from paho_client import PahoClient, V5
from pki import make_ca, make_leaf

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:us-east-1:000000000000:client/${iot:Connection.Thing.ThingName}"},
    {"Effect": "Allow", "Action": "iot:Publish",
     "Resource": "arn:aws:iot:us-east-1:000000000000:topic/dt/${iot:ClientId}/*"},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": "arn:aws:iot:us-east-1:000000000000:topicfilter/cmd/${iot:Connection.Thing.ThingName}/*"},
    {"Effect": "Allow", "Action": "iot:Receive",
     "Resource": "arn:aws:iot:us-east-1:000000000000:topic/cmd/${iot:Connection.Thing.ThingName}/*"},
]})


@pytest.fixture
def node(start_broker, tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, "server-ca")
    make_leaf(d, "server-ca", "server", server=True, sans="DNS:localhost,IP:127.0.0.1")
    (mqtts,) = free_ports(1)
    n = start_broker(extra_args=["--mqtts-port", str(mqtts), "--tls-cert", str(d / "server.pem"),
                                 "--tls-key", str(d / "server.key")])
    n.mqtts, n.server_ca, n.dir = mqtts, d / "server-ca.pem", tmp_path
    for _ in range(200):
        if port_accepts(HOST, mqtts):
            break
        time.sleep(0.05)
    return n


def onboard_with_cli(node, thing: str) -> tuple[str, str, str]:
    """The CLI half of the flow; returns (certificate ARN, cert file, key file)."""
    made = aws_json(node, "create-thing", "--thing-name", thing, "--attribute-payload",
                    '{"attributes":{"room":"lab","floor":"2"}}')
    assert made["thingName"] == thing
    keys = aws_json(node, "create-keys-and-certificate", "--set-as-active")
    arn = keys["certificateArn"]
    assert arn == f"arn:aws:iot:us-east-1:000000000000:cert/{keys['certificateId']}"
    assert keys["keyPair"]["PrivateKey"].startswith("-----BEGIN")
    cert, key = node.dir / f"{thing}.pem", node.dir / f"{thing}.key"
    cert.write_text(keys["certificatePem"])
    key.write_text(keys["keyPair"]["PrivateKey"])
    assert aws_json(node, "describe-certificate", "--certificate-id",
                    keys["certificateId"])["certificateDescription"]["status"] == "ACTIVE"
    aws_json(node, "create-policy", "--policy-name", "fleet", "--policy-document", POLICY)
    aws_json(node, "attach-policy", "--policy-name", "fleet", "--target", arn)
    aws_json(node, "attach-thing-principal", "--thing-name", thing, "--principal", arn)
    assert aws_json(node, "list-thing-principals", "--thing-name", thing)["principals"] == [arn]
    endpoint = aws_json(node, "describe-endpoint", "--endpoint-type", "iot:Data-ATS")["endpointAddress"]
    assert endpoint.endswith("-ats.iot.us-east-1.amazonaws.com"), endpoint
    return arn, str(cert), str(key)


def onboard_with_boto3(node, thing: str) -> tuple[str, str, str]:
    iot = client(node)
    iot.create_thing(thingName=thing, attributePayload={"attributes": {"room": "hall"}})
    keys = iot.create_keys_and_certificate(setAsActive=True)
    arn = keys["certificateArn"]
    cert, key = node.dir / f"{thing}.pem", node.dir / f"{thing}.key"
    cert.write_text(keys["certificatePem"])
    key.write_text(keys["keyPair"]["PrivateKey"])
    iot.attach_policy(policyName="fleet", target=arn)
    iot.attach_thing_principal(thingName=thing, principal=arn)
    assert iot.list_thing_principals(thingName=thing)["principals"] == [arn]
    assert iot.describe_thing(thingName=thing)["attributes"] == {"room": "hall"}
    assert iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"].endswith(".amazonaws.com")
    return arn, str(cert), str(key)


def mosquitto(node, tool: str, cert: str, key: str, client_id: str, *args: str, timeout: float = 15):
    return subprocess.run([tool, "-h", HOST, "-p", str(node.mqtts), "--cafile", str(node.server_ca),
                           "--cert", cert, "--key", key, "-i", client_id, "-V", "mqttv311", *args],
                          capture_output=True, text=True, timeout=timeout)


def plain(node, client_id: str) -> PahoClient:
    """An observer on the plain development listener (anonymous, no policy)."""
    c = PahoClient(node, version=V5, client_id=client_id)
    c.connect()
    return c


def test_onboarding_flow_then_devices_do_exactly_what_the_policy_allows(node):
    _, cert7, key7 = onboard_with_cli(node, "sensor-7")
    _, cert8, key8 = onboard_with_boto3(node, "sensor-8")
    watcher = plain(node, "watcher")
    try:
        assert watcher.subscribe("dt/#", 1) == [1]

        # sensor-7, mosquitto (MQTT 3.1.1): allowed publish arrives.
        done = mosquitto(node, "mosquitto_pub", cert7, key7, "sensor-7", "-t", "dt/sensor-7/temp", "-m", "21.5",
                         "-q", "1")
        assert done.returncode == 0, done.stderr
        m = watcher.expect_message()
        assert (m.topic, m.payload) == ("dt/sensor-7/temp", b"21.5")

        # A client id that is not the attached thing's name: ${iot:Connection.Thing.ThingName} has no value → refused.
        refused = mosquitto(node, "mosquitto_pub", cert7, key7, "intruder", "-t", "dt/intruder/temp", "-m", "x")
        assert refused.returncode != 0 and "not authori" in refused.stderr.lower(), refused.stderr

        # Another device's topic: not delivered (and 3.1.1 closes the connection on a denied publish).
        mosquitto(node, "mosquitto_pub", cert7, key7, "sensor-7", "-t", "dt/sensor-8/temp", "-m", "spoof", "-q", "1")
        watcher.expect_no_message(1.0)

        # Allowed subscribe + receive: a command for sensor-7 reaches mosquitto_sub.
        sub = subprocess.Popen(["mosquitto_sub", "-h", HOST, "-p", str(node.mqtts), "--cafile", str(node.server_ca),
                                "--cert", cert7, "--key", key7, "-i", "sensor-7", "-V", "mqttv311",
                                "-t", "cmd/sensor-7/#", "-C", "1", "-W", "10", "-v"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and sub.poll() is None:
                watcher.publish("cmd/sensor-7/reboot", b"now", qos=1)
                try:
                    out, err = sub.communicate(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    continue
            else:
                out, err = sub.communicate(timeout=10)
        finally:
            if sub.poll() is None:
                sub.kill()
        assert out.strip().startswith("cmd/sensor-7/reboot now"), (out, err)

        # sensor-8, paho (MQTT 5): exact reason codes.
        dev = PahoClient(type("T", (), {"host": HOST, "mqtt_port": node.mqtts})(), version=V5, client_id="sensor-8",
                         tls=dict(ca_certs=str(node.server_ca), certfile=cert8, keyfile=key8))
        codes: list[int] = []
        dev.c.on_publish = lambda client, userdata, mid, reason_code, properties: codes.append(int(reason_code.value))
        try:
            dev.connect()
            assert dev.subscribe("cmd/sensor-8/#", 1) == [1]
            assert dev.subscribe("cmd/sensor-7/#", 1) == [0x87]
            dev.publish("dt/sensor-8/hum", b"40", qos=1)
            dev.publish("dt/sensor-7/hum", b"spoof", qos=1)
            assert codes == [0x00, 0x87]
            m = watcher.expect_message()
            assert (m.topic, m.payload) == ("dt/sensor-8/hum", b"40")
            watcher.expect_no_message(1.0)
            watcher.publish("cmd/sensor-8/led", b"on", qos=1)
            watcher.publish("cmd/sensor-7/led", b"on", qos=1)  # sensor-8 did not get this subscription
            got = dev.expect_message()
            assert (got.topic, got.payload) == ("cmd/sensor-8/led", b"on")
            dev.expect_no_message(1.0)
        finally:
            dev.close()
    finally:
        watcher.close()
