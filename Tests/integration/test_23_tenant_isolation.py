"""Tenant isolation (issue 5, "Done when" 3), on one real node serving two tenants: the default tenant
(000000000000, the node's own endpoint) and tenant B (111111111111, its branded domain `iot.acme.test`, chosen by
SNI). Each tenant is driven with its own SigV4 key through the real AWS CLI and boto3, and its devices connect with
certificates its own API issued.

- API: B's key cannot describe, list, update, tag or delete A's objects (404 ResourceNotFoundException, as AWS
  answers for another account's resources); B's objects with the same names are B's own, with B's ARNs.
- MQTT: a device of each tenant with the same client id stays connected (no takeover across tenants); on the same
  topic, each tenant's subscriber receives its own tenant's messages and never the other's, retained ones included.
"""

from __future__ import annotations

import pytest

from aws_kit import aws, client, error_code
from mqtt_raw import V5
from tenant_kit import ALLOW_ALL, B, device, two_tenant_node
from tls_kit import refusal_seen, tls_client


@pytest.fixture
def node(start_broker, tmp_path):
    return two_tenant_node(start_broker, tmp_path)


def test_api_objects_are_invisible_across_tenants(node):
    a_iot, b_iot = client(node), client(node, creds=node.b)
    from botocore.exceptions import ClientError
    a_thing = a_iot.create_thing(thingName="pump", attributePayload={"attributes": {"owner": "a"}})
    a_iot.create_policy(policyName="a-only", policyDocument=ALLOW_ALL)
    a_cert = a_iot.create_keys_and_certificate(setAsActive=False)

    # B cannot see or touch any of them.
    for call, kwargs in [
        (b_iot.describe_thing, dict(thingName="pump")),
        (b_iot.delete_policy, dict(policyName="a-only")),
        (b_iot.get_policy, dict(policyName="a-only")),
        (b_iot.describe_certificate, dict(certificateId=a_cert["certificateId"])),
        (b_iot.update_certificate, dict(certificateId=a_cert["certificateId"], newStatus="ACTIVE")),
        (b_iot.update_thing, dict(thingName="pump", attributePayload={"attributes": {"owner": "b"}})),
        (b_iot.attach_policy, dict(policyName="a-only", target=f"arn:aws:iot:us-east-1:{B}:cert/{'0' * 64}")),
        (b_iot.list_tags_for_resource, dict(resourceArn=a_thing["thingArn"])),
    ]:
        with pytest.raises(ClientError) as e:
            call(**kwargs)
        assert error_code(e) == ("ResourceNotFoundException", 404), (call.__name__, e.value.response)
    assert b_iot.list_things()["things"] == []
    assert all(p["policyName"] != "a-only" for p in b_iot.list_policies()["policies"])
    assert b_iot.list_certificates()["certificates"] == []

    # The same names in B are B's own objects.
    b_thing = b_iot.create_thing(thingName="pump")
    assert b_thing["thingArn"] == f"arn:aws:iot:us-east-1:{B}:thing/pump" != a_thing["thingArn"]
    b_iot.create_policy(policyName="a-only", policyDocument=ALLOW_ALL)
    assert a_iot.describe_thing(thingName="pump")["attributes"] == {"owner": "a"}
    assert b_iot.describe_thing(thingName="pump")["attributes"] == {}
    # And A cannot reach B's either, through the CLI this time.
    b_iot.create_thing(thingName="b-only")
    gone = aws(node, "describe-thing", "--thing-name", "b-only", ok=False)
    assert gone.returncode != 0 and "ResourceNotFoundException" in gone.stderr


def connected(node, cert, key, client_id: str, servername: str | None):
    c = tls_client(node.mqtts, cert=cert, key=key, servername=servername, version=V5)
    ack = c.connect(client_id)
    assert ack.code == 0, f"{client_id}@{servername}: CONNACK {ack.code:#x}"
    return c


def test_devices_of_two_tenants_share_names_but_nothing_else(node):
    a_cert, a_key = device(node, None, "dev-a")
    b_cert, b_key = device(node, node.b, "dev-b")
    # A retained message in A, before anyone of B subscribes.
    with connected(node, a_cert, a_key, "a-retainer", None) as r:
        assert r.publish("plant/status", b"a-retained", qos=1, retain=True).reason in (None, 0)

    a_sub = connected(node, a_cert, a_key, "same-id", None)
    b_sub = connected(node, b_cert, b_key, "same-id", "iot.acme.test")
    try:
        assert a_sub.subscribe([("plant/#", 1)]).codes == [1]
        assert b_sub.subscribe([("plant/#", 1)]).codes == [1]
        got = a_sub.recv_publish()
        assert (got.topic, got.payload, got.retain) == ("plant/status", b"a-retained", True)
        b_sub.expect_silence(0.5)  # A's retained message does not exist in B

        with connected(node, a_cert, a_key, "pub", None) as a_pub:
            assert a_pub.publish("plant/temp", b"from-a", qos=1).reason in (None, 0)
        got = a_sub.recv_publish()
        assert (got.topic, got.payload) == ("plant/temp", b"from-a")
        b_sub.expect_silence(0.5)

        with connected(node, b_cert, b_key, "pub", "iot.acme.test") as b_pub:
            assert b_pub.publish("plant/temp", b"from-b", qos=1).reason in (None, 0)
        got = b_sub.recv_publish()
        assert (got.topic, got.payload) == ("plant/temp", b"from-b")
        a_sub.expect_silence(0.5)

        # Both "same-id" sessions are still connected: a client id is per tenant.
        a_sub.expect_open()
        b_sub.expect_open()
    finally:
        a_sub.close()
        b_sub.close()

    # A's certificate is unknown in B: presenting it on B's domain is refused at the handshake (and B's in A).
    assert refusal_seen(node.mqtts, cert=a_cert, key=a_key, servername="iot.acme.test", timeout=3).startswith("alert")
    assert refusal_seen(node.mqtts, cert=b_cert, key=b_key, servername=None, timeout=3).startswith("alert")
