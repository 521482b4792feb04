"""The things API of the AWS `iot` control plane, against the real binary (one node), with real AWS clients.

- The AWS CLI (`aws iot … --endpoint-url`, through aws_kit) creates,
  describes, updates, lists (auto-paginated over small pages) and deletes things.
- boto3 sees the model's error shapes (ResourceNotFound 404, ResourceAlreadyExists 409, VersionConflict 409,
  InvalidRequest 400); urllib checks the raw wire: the `x-amzn-ErrorType` header, the `{"message"}` body, and
  413 for a body over 1 MiB.
"""

from __future__ import annotations

import json

import pytest

from aws_kit import aws, aws_json, client, raw


@pytest.fixture
def iot(broker):
    return client(broker)


def test_aws_cli_create_describe_update_list_delete(broker):
    aws_json(broker, "create-thing-type", "--thing-type-name", "Lamp")  # a thing's type must be registered
    created = aws_json(broker, "create-thing", "--thing-name", "cli-lamp", "--thing-type-name", "Lamp",
                       "--attribute-payload", '{"attributes":{"room":"kitchen","floor":"1"}}')
    assert set(created) == {"thingName", "thingArn", "thingId"}
    assert created["thingName"] == "cli-lamp"
    assert created["thingArn"] == "arn:aws:iot:us-east-1:000000000000:thing/cli-lamp"

    described = aws_json(broker, "describe-thing", "--thing-name", "cli-lamp")
    assert described == {"defaultClientId": "cli-lamp", "thingName": "cli-lamp", "thingId": created["thingId"],
                         "thingArn": created["thingArn"], "thingTypeName": "Lamp",
                         "attributes": {"room": "kitchen", "floor": "1"}, "version": 1}

    aws(broker, "update-thing", "--thing-name", "cli-lamp", "--expected-version", "1", "--attribute-payload",
        '{"attributes":{"room":"hall","floor":""},"merge":true}')
    described = aws_json(broker, "describe-thing", "--thing-name", "cli-lamp")
    assert described["attributes"] == {"room": "hall"} and described["version"] == 2

    aws(broker, "update-thing", "--thing-name", "cli-lamp", "--remove-thing-type")
    assert "thingTypeName" not in aws_json(broker, "describe-thing", "--thing-name", "cli-lamp")

    # Five more, listed in pages of two: the CLI follows nextToken until it is absent.
    for i in range(5):
        aws(broker, "create-thing", "--thing-name", f"cli-page-{i}")
    listed = aws_json(broker, "list-things", "--page-size", "2")
    names = [t["thingName"] for t in listed["things"]]
    assert [n for n in names if n.startswith("cli-")] == ["cli-lamp"] + [f"cli-page-{i}" for i in range(5)]
    assert names == sorted(names)
    lamp = next(t for t in listed["things"] if t["thingName"] == "cli-lamp")
    assert lamp == {"thingName": "cli-lamp", "thingArn": created["thingArn"], "attributes": {"room": "hall"},
                    "version": 3}

    filtered = aws_json(broker, "list-things", "--attribute-name", "room", "--attribute-value", "hall")
    assert [t["thingName"] for t in filtered["things"]] == ["cli-lamp"]

    aws(broker, "delete-thing", "--thing-name", "cli-lamp", "--expected-version", "3")
    missing = aws(broker, "describe-thing", "--thing-name", "cli-lamp", ok=False)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr, missing.stderr


def test_error_shapes_through_boto3(iot):
    from botocore.exceptions import ClientError

    def error(call, **kw) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as info:
            call(**kw)
        e = info.value.response
        return e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Message"]

    assert error(iot.describe_thing, thingName="boto-ghost")[:2] == ("ResourceNotFoundException", 404)

    first = iot.create_thing(thingName="boto-t", attributePayload={"attributes": {"a": "1"}})
    again = iot.create_thing(thingName="boto-t", attributePayload={"attributes": {"a": "1"}})  # idempotent
    assert again["thingId"] == first["thingId"]
    assert error(iot.create_thing, thingName="boto-t",
                 attributePayload={"attributes": {"a": "2"}})[:2] == ("ResourceAlreadyExistsException", 409)

    code, status, message = error(iot.update_thing, thingName="boto-t", expectedVersion=7)
    assert (code, status) == ("VersionConflictException", 409) and "boto-t" in message
    assert error(iot.delete_thing, thingName="boto-t", expectedVersion=7)[:2] == ("VersionConflictException", 409)

    for bad in ["bad name", "a/b", "x" * 129]:
        assert error(iot.describe_thing, thingName=bad)[:2] == ("InvalidRequestException", 400), bad
    assert error(iot.create_thing, thingName="boto-4",
                 attributePayload={"attributes": {"a": "1", "b": "2", "c": "3", "d": "4"}})[:2] \
        == ("InvalidRequestException", 400)
    assert error(iot.list_things, maxResults=251)[:2] == ("InvalidRequestException", 400)

    iot.delete_thing(thingName="boto-t", expectedVersion=1)
    iot.delete_thing(thingName="boto-t")  # deleting a missing thing succeeds, as on AWS


def test_raw_wire_error_format(broker):
    status, headers, body = raw(broker, "GET", "/things/raw-ghost")
    assert status == 404
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert body == {"message": "Thing raw-ghost cannot be found."}

    raw(broker, "POST", "/things/raw-t", b"{}")
    raw(broker, "POST", "/thing-types/Other", b"{}")
    status, headers, body = raw(broker, "POST", "/things/raw-t", b'{"thingTypeName":"Other"}')
    assert (status, headers["x-amzn-errortype"]) == (409, "ResourceAlreadyExistsException")
    assert set(body) == {"message", "resourceId", "resourceArn"}
    assert body["resourceArn"].endswith(":thing/raw-t")

    status, headers, body = raw(broker, "POST", "/things/bad%20name", b"{}")
    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidRequestException") and "thingName" in body["message"]
    status, headers, _ = raw(broker, "POST", "/things/raw-json", b"{not json")
    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidRequestException")

    status, headers, _ = raw(broker, "POST", "/things/raw-big", b"{" + b" " * (1 << 20) + b"}")
    assert (status, headers["x-amzn-errortype"]) == (413, "InvalidRequestException")
    status, headers, _ = raw(broker, "GET", "/no/such/route")
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")
    # The listener still serves metrics and health alongside the API.
    assert raw(broker, "GET", "/health")[0] == 200


def test_default_credentials_and_signatures(broker):
    """The node writes its default tenant's key (0600); unsigned or wrongly signed requests are refused as AWS does."""
    import stat
    from aws_kit import Creds, credentials
    path = broker.data_dir / "aws-credentials"
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    good = credentials(broker)
    assert good.access_key_id.startswith("AKIA") and len(good.access_key_id) == 20 and len(good.secret_access_key) == 40
    assert good.secret_access_key not in broker.log_text()  # the secret is in the file, never in the log

    status, headers, body = raw(broker, "GET", "/things", sign=False)
    assert (status, headers.get("x-amzn-errortype")) == (403, "MissingAuthenticationTokenException")
    bad = aws(broker, "list-things", ok=False, creds=Creds(good.access_key_id, "wrong" + good.secret_access_key[5:]))
    assert bad.returncode != 0 and "InvalidSignatureException" in bad.stderr
    unknown = aws(broker, "list-things", ok=False, creds=Creds("AKIAUNKNOWNUNKNOWN00", good.secret_access_key))
    assert unknown.returncode != 0 and "UnrecognizedClientException" in unknown.stderr
    # The operator routes are unsigned, loopback only.
    assert raw(broker, "GET", "/cluster/status", sign=False)[0] == 200


def test_credentials_file_keeps_other_profiles_across_restarts(fresh_broker):
    """`flotilla admin access-key create --credentials-file <data-dir>/aws-credentials` appends a profile; the node
    rewrites only its own `[flotilla]` profile when it starts, so the appended one survives."""
    from aws_kit import credentials
    b = fresh_broker
    path = b.data_dir / "aws-credentials"
    before = credentials(b)
    path.write_text(path.read_text() + "\n[acme]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s\n")
    code, _ = b.terminate()
    assert code == 0
    b.start()
    assert raw(b, "GET", "/things")[0] == 200
    text = path.read_text()
    assert "[acme]" in text and "AKIAEXAMPLE" in text
    assert text.count("[flotilla]") == 1 and credentials(b) == before
