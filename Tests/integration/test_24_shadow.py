"""Device shadows on one real node (issue 6, "Done when" 2 and 3, and tenant isolation), with real clients only:

- the AWS IoT Device SDK v2 shadow client (`awsiot.iotshadow.IotShadowClient`) over mutual TLS, with policies
  enforced (its certificate is issued by the node's own API and has an allow-all policy), runs the classic and a
  named shadow flow: subscribe to update accepted/rejected/delta/documents, get accepted/rejected and delete
  accepted; update desired → accepted + delta; report the same → accepted, no delta; get (state and version); an
  update with a stale version → rejected 409 "Version conflict"; delete → accepted; get → rejected 404;
- `aws iot-data …` (CLI v1) and boto3 `iot-data` interoperate with MQTT: an HTTP update publishes
  accepted/delta/documents to a paho subscriber; an MQTT update is read back over HTTP at the same version;
  list-named-shadows-for-thing lists named shadows only; errors carry the iot-data exception types and statuses;
- the same thing name in two tenants is two shadows: neither tenant reads, lists or receives the other's.

Every wait is bounded.
"""

from __future__ import annotations

import json
import queue
import time

import pytest

from aws_kit import Creds, aws, client, error_code
from mqtt_raw import V5
from paho_client import V5 as PAHO_V5, PahoClient
from tenant_kit import device, two_tenant_node
from tls_kit import tls_client

TIMEOUT = 10.0
QUIET = 0.7  # how long "no message" is watched for


@pytest.fixture
def node(start_broker, tmp_path):
    return two_tenant_node(start_broker, tmp_path)


def iot_data(node, *args: str, creds: Creds | None = None, ok: bool = True):
    return aws(node, *args, service="iot-data", creds=creds, ok=ok)


def prefix(thing: str, shadow: str | None) -> str:
    return f"$aws/things/{thing}/shadow" + (f"/name/{shadow}" if shadow else "")


# --- the AWS IoT Device SDK v2 shadow client --------------------------------------------------------------------

class SdkShadow:
    """One thing's classic (`shadow=None`) or named shadow through `IotShadowClient`: every response kind lands in
    its own queue, as the SDK parsed it."""

    KINDS = ("update_accepted", "update_rejected", "delta", "documents", "get_accepted", "get_rejected",
             "delete_accepted", "delete_rejected")

    def __init__(self, connection, thing: str, shadow: str | None):
        from awscrt import mqtt
        from awsiot import iotshadow as s
        self.s, self.qos = s, mqtt.QoS.AT_LEAST_ONCE
        self.client = s.IotShadowClient(connection)
        self.thing, self.shadow = thing, shadow
        self.q = {k: queue.Queue() for k in self.KINDS}
        c, named = self.client, shadow is not None
        ids = dict(thing_name=thing, shadow_name=shadow) if named else dict(thing_name=thing)
        subs = [
            ("update_accepted", c.subscribe_to_update_named_shadow_accepted if named
             else c.subscribe_to_update_shadow_accepted,
             s.UpdateNamedShadowSubscriptionRequest if named else s.UpdateShadowSubscriptionRequest),
            ("update_rejected", c.subscribe_to_update_named_shadow_rejected if named
             else c.subscribe_to_update_shadow_rejected,
             s.UpdateNamedShadowSubscriptionRequest if named else s.UpdateShadowSubscriptionRequest),
            ("delta", c.subscribe_to_named_shadow_delta_updated_events if named
             else c.subscribe_to_shadow_delta_updated_events,
             s.NamedShadowDeltaUpdatedSubscriptionRequest if named else s.ShadowDeltaUpdatedSubscriptionRequest),
            ("documents", c.subscribe_to_named_shadow_updated_events if named
             else c.subscribe_to_shadow_updated_events,
             s.NamedShadowUpdatedSubscriptionRequest if named else s.ShadowUpdatedSubscriptionRequest),
            ("get_accepted", c.subscribe_to_get_named_shadow_accepted if named
             else c.subscribe_to_get_shadow_accepted,
             s.GetNamedShadowSubscriptionRequest if named else s.GetShadowSubscriptionRequest),
            ("get_rejected", c.subscribe_to_get_named_shadow_rejected if named
             else c.subscribe_to_get_shadow_rejected,
             s.GetNamedShadowSubscriptionRequest if named else s.GetShadowSubscriptionRequest),
            ("delete_accepted", c.subscribe_to_delete_named_shadow_accepted if named
             else c.subscribe_to_delete_shadow_accepted,
             s.DeleteNamedShadowSubscriptionRequest if named else s.DeleteShadowSubscriptionRequest),
            ("delete_rejected", c.subscribe_to_delete_named_shadow_rejected if named
             else c.subscribe_to_delete_shadow_rejected,
             s.DeleteNamedShadowSubscriptionRequest if named else s.DeleteShadowSubscriptionRequest),
        ]
        for kind, subscribe, request in subs:
            future, topic = subscribe(request(**ids), self.qos, lambda r, kind=kind: self.q[kind].put(r))
            granted = future.result(timeout=TIMEOUT)
            assert granted == self.qos, (kind, topic, granted)

    def _ids(self, **kw) -> dict:
        return dict(thing_name=self.thing, **({"shadow_name": self.shadow} if self.shadow else {}), **kw)

    def update(self, *, desired=None, reported=None, version=None, token: str):
        s = self.s
        state = s.ShadowState(desired=desired, reported=reported)
        if self.shadow:
            f = self.client.publish_update_named_shadow(
                s.UpdateNamedShadowRequest(**self._ids(state=state, version=version, client_token=token)), self.qos)
        else:
            f = self.client.publish_update_shadow(
                s.UpdateShadowRequest(**self._ids(state=state, version=version, client_token=token)), self.qos)
        f.result(timeout=TIMEOUT)

    def get(self, token: str):
        s = self.s
        if self.shadow:
            f = self.client.publish_get_named_shadow(s.GetNamedShadowRequest(**self._ids(client_token=token)),
                                                     self.qos)
        else:
            f = self.client.publish_get_shadow(s.GetShadowRequest(**self._ids(client_token=token)), self.qos)
        f.result(timeout=TIMEOUT)

    def delete(self, token: str):
        s = self.s
        if self.shadow:
            f = self.client.publish_delete_named_shadow(
                s.DeleteNamedShadowRequest(**self._ids(client_token=token)), self.qos)
        else:
            f = self.client.publish_delete_shadow(s.DeleteShadowRequest(**self._ids(client_token=token)), self.qos)
        f.result(timeout=TIMEOUT)

    def expect(self, kind: str, timeout: float = TIMEOUT):
        try:
            return self.q[kind].get(timeout=timeout)
        except queue.Empty:
            seen = {k: self.q[k].qsize() for k in self.KINDS}
            raise AssertionError(f"{self.thing}/{self.shadow}: no {kind} within {timeout}s (queued: {seen})") from None

    def expect_none(self, *kinds: str, duration: float = QUIET) -> None:
        time.sleep(duration)
        extra = {k: self.q[k].get_nowait() for k in kinds if not self.q[k].empty()}
        assert not extra, f"unexpected: {extra}"


@pytest.mark.parametrize("shadow", [None, "config"], ids=["classic", "named"])
def test_device_sdk_shadow_flow(node, shadow):
    mqtt_connection_builder = pytest.importorskip("awsiot.mqtt_connection_builder")
    cert, key = device(node, None, "sdk-device")
    thing = f"sdk-thing-{shadow or 'classic'}"
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=node.mqtts, cert_filepath=str(cert), pri_key_filepath=str(key),
        ca_filepath=str(node.server_ca), client_id=f"sdk-shadow-{shadow or 'classic'}", clean_session=True,
        keep_alive_secs=30)
    connection.connect().result(timeout=TIMEOUT)
    try:
        sh = SdkShadow(connection, thing, shadow)

        # Desired state → accepted (version 1) and a delta with everything desired.
        sh.update(desired={"color": "red", "power": "on"}, token="t-desire")
        acc = sh.expect("update_accepted")
        assert (acc.version, acc.client_token) == (1, "t-desire")
        assert acc.state.desired == {"color": "red", "power": "on"} and acc.state.reported is None
        assert set(acc.metadata.desired) == {"color", "power"}
        delta = sh.expect("delta")
        assert (delta.version, delta.state, delta.client_token) == (1, {"color": "red", "power": "on"}, "t-desire")
        docs = sh.expect("documents")
        assert docs.previous is None and docs.current.version == 1
        assert docs.current.state.desired == {"color": "red", "power": "on"}

        # The device reports exactly that → accepted (version 2), and no delta.
        sh.update(reported={"color": "red", "power": "on"}, token="t-report")
        acc = sh.expect("update_accepted")
        assert (acc.version, acc.client_token) == (2, "t-report")
        assert acc.state.reported == {"color": "red", "power": "on"} and acc.state.desired is None
        docs = sh.expect("documents")
        assert (docs.previous.version, docs.current.version) == (1, 2)
        assert docs.current.state.reported == {"color": "red", "power": "on"}
        sh.expect_none("delta", "update_rejected")

        # Get: both sections, no delta, version 2.
        sh.get(token="t-get")
        got = sh.expect("get_accepted")
        assert (got.version, got.client_token) == (2, "t-get")
        assert got.state.desired == got.state.reported == {"color": "red", "power": "on"}
        assert got.state.delta is None
        assert set(got.metadata.reported) == {"color", "power"}

        # A stale version is refused; nothing changes.
        sh.update(desired={"color": "blue"}, version=1, token="t-stale")
        rej = sh.expect("update_rejected")
        assert (rej.code, rej.message, rej.client_token) == (409, "Version conflict", "t-stale")
        sh.expect_none("update_accepted", "delta", "documents")

        # The right version is accepted (and gives a delta again).
        sh.update(desired={"color": "blue"}, version=2, token="t-current")
        assert sh.expect("update_accepted").version == 3
        delta = sh.expect("delta")
        assert (delta.version, delta.state) == (3, {"color": "blue"})

        # Delete → accepted with the deleted version; then get → 404.
        sh.delete(token="t-delete")
        deleted = sh.expect("delete_accepted")
        assert (deleted.version, deleted.client_token) == (3, "t-delete")
        sh.get(token="t-gone")
        rej = sh.expect("get_rejected")
        assert (rej.code, rej.client_token) == (404, "t-gone")
        assert rej.message == f"No shadow exists with name: '{shadow or thing}'"
        sh.expect_none("get_accepted", "delete_rejected")
    finally:
        connection.disconnect().result(timeout=TIMEOUT)


# --- iot-data over HTTP, interoperating with MQTT -----------------------------------------------------------------

def subscriber(node, thing: str, shadow: str | None) -> PahoClient:
    c = PahoClient(node, version=PAHO_V5)
    c.connect()
    p = prefix(thing, shadow)
    assert c.subscribe([(p + "/update/+", 1), (p + "/get/+", 1), (p + "/delete/+", 1)]) == [1, 1, 1]
    return c


def by_topic(messages) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for m in messages:
        assert m.topic not in out, f"{m.topic} twice"
        out[m.topic] = json.loads(m.payload)
    return out


def expect_topics(sub: PahoClient, topics: set[str]) -> dict[str, dict]:
    """Exactly one message on each of `topics` (in any order), then silence on the rest."""
    got = by_topic(sub.expect_messages(len(topics)))
    assert set(got) == topics, sorted(got)
    sub.expect_no_message(QUIET)
    return got


@pytest.mark.parametrize("shadow", [None, "cfg"], ids=["classic", "named"])
def test_cli_update_publishes_and_mqtt_update_reads_back(node, tmp_path, shadow):
    thing = f"cli-thing-{shadow or 'classic'}"
    p = prefix(thing, shadow)
    name = ["--shadow-name", shadow] if shadow else []
    sub = subscriber(node, thing, shadow)
    try:
        # HTTP update (CLI) → the response document, and accepted/delta/documents on MQTT.
        out = tmp_path / "update.json"
        iot_data(node, "update-thing-shadow", "--thing-name", thing, *name, "--payload",
                 json.dumps({"state": {"desired": {"mode": "eco"}}, "clientToken": "cli-1"}), str(out))
        doc = json.loads(out.read_text())
        assert (doc["version"], doc["clientToken"], doc["state"]) == (1, "cli-1", {"desired": {"mode": "eco"}})
        got = expect_topics(sub, {p + "/update/accepted", p + "/update/delta", p + "/update/documents"})
        assert got[p + "/update/accepted"]["version"] == 1
        assert got[p + "/update/accepted"]["state"] == {"desired": {"mode": "eco"}}
        assert got[p + "/update/delta"]["state"] == {"mode": "eco"}
        assert got[p + "/update/delta"]["version"] == 1
        assert got[p + "/update/documents"]["current"]["version"] == 1
        assert "previous" not in got[p + "/update/documents"] or got[p + "/update/documents"]["previous"] is None

        # MQTT update → the CLI reads it at the same version.
        pub = PahoClient(node, version=PAHO_V5)
        pub.connect()
        try:
            pub.publish(p + "/update", json.dumps({"state": {"reported": {"mode": "eco"}}, "clientToken": "m-2"}),
                        qos=1)
        finally:
            pub.disconnect()
        got = expect_topics(sub, {p + "/update/accepted", p + "/update/documents"})  # no delta
        mqtt_version = got[p + "/update/accepted"]["version"]
        assert mqtt_version == 2
        out = tmp_path / "get.json"
        iot_data(node, "get-thing-shadow", "--thing-name", thing, *name, str(out))
        doc = json.loads(out.read_text())
        assert doc["version"] == mqtt_version
        assert doc["state"] == {"desired": {"mode": "eco"}, "reported": {"mode": "eco"}}

        # Delete over HTTP → /delete/accepted on MQTT; get → ResourceNotFoundException.
        out = tmp_path / "delete.json"
        iot_data(node, "delete-thing-shadow", "--thing-name", thing, *name, str(out))
        assert json.loads(out.read_text())["version"] == 2
        got = expect_topics(sub, {p + "/delete/accepted"})
        assert got[p + "/delete/accepted"]["version"] == 2
        gone = iot_data(node, "get-thing-shadow", "--thing-name", thing, *name, str(out), ok=False)
        assert gone.returncode != 0 and "ResourceNotFoundException" in gone.stderr, gone.stderr
        assert (f"No shadow exists with name: '{shadow or thing}'") in gone.stderr, gone.stderr
    finally:
        sub.close()


def test_boto3_errors_and_named_shadow_listing(node):
    from botocore.exceptions import ClientError
    data = client(node, "iot-data")
    thing = "boto-thing"

    assert json.loads(data.update_thing_shadow(thingName=thing, payload=b'{"state":{"reported":{"a":1}}}')
                      ["payload"].read())["version"] == 1
    for name in ("zeta", "alpha", "mid"):
        data.update_thing_shadow(thingName=thing, shadowName=name, payload=b'{"state":{"reported":{"a":1}}}')
    # The classic shadow is not a named one.
    listed = data.list_named_shadows_for_thing(thingName=thing)
    assert listed["results"] == ["alpha", "mid", "zeta"] and "nextToken" not in listed
    assert isinstance(listed["timestamp"], int)
    page = data.list_named_shadows_for_thing(thingName=thing, pageSize=2)
    assert page["results"] == ["alpha", "mid"] and page["nextToken"]
    rest = data.list_named_shadows_for_thing(thingName=thing, pageSize=2, nextToken=page["nextToken"])
    assert rest["results"] == ["zeta"] and "nextToken" not in rest
    assert data.list_named_shadows_for_thing(thingName="nobody-here")["results"] == []
    # A deleted named shadow is no longer listed.
    data.delete_thing_shadow(thingName=thing, shadowName="mid")
    assert data.list_named_shadows_for_thing(thingName=thing)["results"] == ["alpha", "zeta"]

    def fails(call, **kw) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as e:
            call(**kw)
        return (*error_code(e), e.value.response["Error"].get("Message", ""))

    assert fails(data.update_thing_shadow, thingName=thing, payload=b'{"state":{"reported":{"a":2}},"version":7}') \
        == ("ConflictException", 409, "Version conflict")
    assert fails(data.get_thing_shadow, thingName=thing, shadowName="mid") \
        == ("ResourceNotFoundException", 404, "No shadow exists with name: 'mid'")
    assert fails(data.delete_thing_shadow, thingName="never-made") \
        == ("ResourceNotFoundException", 404, "No shadow exists with name: 'never-made'")
    assert fails(data.update_thing_shadow, thingName=thing, payload=b'{"state":') \
        == ("InvalidRequestException", 400, "Invalid JSON")
    assert fails(data.update_thing_shadow, thingName=thing, payload=b'{"nostate":{}}') \
        == ("InvalidRequestException", 400, "Missing required node: state")
    code, status, _ = fails(data.update_thing_shadow, thingName=thing, payload=b'{"state":{"reported":{"a":1}}}',
                            shadowName="bad name!")
    assert (code, status) == ("InvalidRequestException", 400)
    # The CLI shows the same types.
    out = node.dir / "out.json"
    conflict = iot_data(node, "update-thing-shadow", "--thing-name", thing, "--payload",
                        '{"state":{"reported":{"a":3}},"version":99}', str(out), ok=False)
    assert conflict.returncode != 0 and "ConflictException" in conflict.stderr, conflict.stderr
    bad = iot_data(node, "update-thing-shadow", "--thing-name", thing, "--payload", "[1,2]", str(out), ok=False)
    assert bad.returncode != 0 and "InvalidRequestException" in bad.stderr, bad.stderr
    # Nothing of that changed the classic shadow.
    assert json.loads(data.get_thing_shadow(thingName=thing)["payload"].read())["version"] == 1


# --- tenants ------------------------------------------------------------------------------------------------------

def test_the_same_thing_name_in_two_tenants_is_two_shadows(node):
    from botocore.exceptions import ClientError
    a_data, b_data = client(node, "iot-data"), client(node, "iot-data", creds=node.b)
    thing = "pump"
    a_sub = subscriber(node, thing, None)  # plain MQTT: the default tenant (A)
    b_cert, b_key = device(node, node.b, "dev-b")
    b_mqtt = tls_client(node.mqtts, cert=b_cert, key=b_key, servername="iot.acme.test", version=V5)
    try:
        assert b_mqtt.connect("b-device").code == 0
        assert b_mqtt.subscribe([(f"$aws/things/{thing}/shadow/update/accepted", 1)]).codes == [1]

        # B's device updates B's pump over MQTT: B's accepted arrives, A's subscriber hears nothing, A has no shadow.
        assert b_mqtt.publish(f"$aws/things/{thing}/shadow/update",
                              b'{"state":{"reported":{"owner":"b"}}}', qos=1).reason in (None, 0)
        got = b_mqtt.recv_publish()
        assert json.loads(got.payload)["version"] == 1
        a_sub.expect_no_message(QUIET)
        with pytest.raises(ClientError) as e:
            a_data.get_thing_shadow(thingName=thing)
        assert error_code(e) == ("ResourceNotFoundException", 404)

        # A's own pump: version 1 as well, A's state; B's is untouched and B's device hears nothing of A's.
        a_data.update_thing_shadow(thingName=thing, payload=b'{"state":{"reported":{"owner":"a"}}}')
        got = expect_topics(a_sub, {f"$aws/things/{thing}/shadow/update/accepted",
                                    f"$aws/things/{thing}/shadow/update/documents"})
        assert got[f"$aws/things/{thing}/shadow/update/accepted"]["version"] == 1
        b_mqtt.expect_silence(QUIET)
        a_doc = json.loads(a_data.get_thing_shadow(thingName=thing)["payload"].read())
        b_doc = json.loads(b_data.get_thing_shadow(thingName=thing)["payload"].read())
        assert (a_doc["version"], a_doc["state"]) == (1, {"reported": {"owner": "a"}})
        assert (b_doc["version"], b_doc["state"]) == (1, {"reported": {"owner": "b"}})

        # Named shadows and deletes stay in their tenant too.
        b_data.update_thing_shadow(thingName=thing, shadowName="b-only", payload=b'{"state":{"desired":{"x":1}}}')
        assert a_data.list_named_shadows_for_thing(thingName=thing)["results"] == []
        assert b_data.list_named_shadows_for_thing(thingName=thing)["results"] == ["b-only"]
        a_data.delete_thing_shadow(thingName=thing)
        assert json.loads(b_data.get_thing_shadow(thingName=thing)["payload"].read())["version"] == 1
        with pytest.raises(ClientError) as e:
            a_data.delete_thing_shadow(thingName=thing, shadowName="b-only")
        assert error_code(e) == ("ResourceNotFoundException", 404)
    finally:
        b_mqtt.close()
        a_sub.close()
