"""IoT policies, versions and attachments through the AWS `iot` control plane, on one real node, with the real AWS
CLI and boto3 (issue 5, the replicated half): CreatePolicy / GetPolicy / ListPolicies, versions (five at most,
SetDefault, the default undeletable), AttachPolicy to a certificate ARN, ListAttachedPolicies /
ListTargetsForPolicy, AttachThingPrincipal (header `x-amzn-principal`) / ListThingPrincipals / ListPrincipalThings,
and AWS's conflicts: DeletePolicy while attached or versioned, DeleteThing with a principal attached.
"""

from __future__ import annotations

import json

import pytest

from aws_kit import aws, aws_json, client, error_code

DOC = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:us-east-1:000000000000:client/${iot:ClientId}"}]})
DOC2 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
CERT_ARN = "arn:aws:iot:us-east-1:000000000000:cert/" + "ab" * 32


@pytest.fixture
def iot(broker):
    return client(broker)


def test_policy_lifecycle_with_the_cli(broker):
    created = aws_json(broker, "create-policy", "--policy-name", "devices", "--policy-document", DOC)
    assert created == {"policyName": "devices", "policyArn": "arn:aws:iot:us-east-1:000000000000:policy/devices",
                       "policyDocument": DOC, "policyVersionId": "1"}
    got = aws_json(broker, "get-policy", "--policy-name", "devices")
    assert got["defaultVersionId"] == "1" and got["policyDocument"] == DOC
    assert isinstance(got["creationDate"], (int, float, str))

    v2 = aws_json(broker, "create-policy-version", "--policy-name", "devices", "--policy-document", DOC2,
                  "--set-as-default")
    assert v2["policyVersionId"] == "2" and v2["isDefaultVersion"] is True
    versions = aws_json(broker, "list-policy-versions", "--policy-name", "devices")["policyVersions"]
    assert [(v["versionId"], v["isDefaultVersion"]) for v in versions] == [("2", True), ("1", False)]
    aws(broker, "set-default-policy-version", "--policy-name", "devices", "--policy-version-id", "1")
    assert aws_json(broker, "get-policy-version", "--policy-name", "devices",
                    "--policy-version-id", "1")["isDefaultVersion"] is True

    aws(broker, "attach-policy", "--policy-name", "devices", "--target", CERT_ARN)
    attached = aws_json(broker, "list-attached-policies", "--target", CERT_ARN)["policies"]
    assert attached == [{"policyName": "devices", "policyArn": created["policyArn"]}]
    assert aws_json(broker, "list-targets-for-policy", "--policy-name", "devices")["targets"] == [CERT_ARN]
    names = [p["policyName"] for p in aws_json(broker, "list-policies")["policies"]]
    assert "devices" in names

    aws_json(broker, "create-thing", "--thing-name", "pol-sensor")
    aws(broker, "attach-thing-principal", "--thing-name", "pol-sensor", "--principal", CERT_ARN)
    assert aws_json(broker, "list-thing-principals", "--thing-name", "pol-sensor")["principals"] == [CERT_ARN]
    assert aws_json(broker, "list-principal-things", "--principal", CERT_ARN)["things"] == ["pol-sensor"]

    # Clean-up in AWS's order: detach, delete non-default versions, then delete.
    aws(broker, "detach-thing-principal", "--thing-name", "pol-sensor", "--principal", CERT_ARN)
    aws(broker, "delete-thing", "--thing-name", "pol-sensor")
    aws(broker, "detach-policy", "--policy-name", "devices", "--target", CERT_ARN)
    aws(broker, "delete-policy-version", "--policy-name", "devices", "--policy-version-id", "2")
    aws(broker, "delete-policy", "--policy-name", "devices")
    gone = aws(broker, "get-policy", "--policy-name", "devices", ok=False)
    assert gone.returncode != 0 and "ResourceNotFoundException" in gone.stderr


def test_policy_errors_with_boto3(iot):
    from botocore.exceptions import ClientError
    iot.create_policy(policyName="strict", policyDocument=DOC)
    with pytest.raises(ClientError) as e:
        iot.create_policy(policyName="strict", policyDocument=DOC)
    assert error_code(e) == ("ResourceAlreadyExistsException", 409)
    with pytest.raises(ClientError) as e:
        iot.create_policy(policyName="bad", policyDocument="not json")
    assert error_code(e) == ("MalformedPolicyException", 400)
    with pytest.raises(ClientError) as e:
        iot.create_policy(policyName="bad name", policyDocument=DOC)
    assert error_code(e) == ("InvalidRequestException", 400)
    for _ in range(4):
        iot.create_policy_version(policyName="strict", policyDocument=DOC2)
    with pytest.raises(ClientError) as e:
        iot.create_policy_version(policyName="strict", policyDocument=DOC2)
    assert error_code(e) == ("VersionsLimitExceededException", 409)
    with pytest.raises(ClientError) as e:
        iot.delete_policy_version(policyName="strict", policyVersionId="1")
    assert error_code(e) == ("DeleteConflictException", 409)
    with pytest.raises(ClientError) as e:
        iot.delete_policy(policyName="strict")
    assert error_code(e) == ("DeleteConflictException", 409)
    with pytest.raises(ClientError) as e:
        iot.attach_policy(policyName="missing", target=CERT_ARN)
    assert error_code(e) == ("ResourceNotFoundException", 404)
    for i in range(10):
        iot.create_policy(policyName=f"many-{i}", policyDocument=DOC)
        iot.attach_policy(policyName=f"many-{i}", target=CERT_ARN + "-many")
    with pytest.raises(ClientError) as e:
        iot.attach_policy(policyName="strict", target=CERT_ARN + "-many")
    assert error_code(e) == ("LimitExceededException", 410)
    page = iot.list_attached_policies(target=CERT_ARN + "-many", pageSize=4)
    assert len(page["policies"]) == 4 and page.get("nextMarker")
    rest = iot.list_attached_policies(target=CERT_ARN + "-many", pageSize=10, marker=page["nextMarker"])
    assert len(rest["policies"]) == 6 and not rest.get("nextMarker")

    iot.create_thing(thingName="held")
    iot.attach_thing_principal(thingName="held", principal=CERT_ARN, thingPrincipalType="EXCLUSIVE_THING")
    iot.create_thing(thingName="other")
    with pytest.raises(ClientError) as e:
        iot.attach_thing_principal(thingName="other", principal=CERT_ARN)
    assert error_code(e) == ("InvalidRequestException", 400)
    with pytest.raises(ClientError) as e:
        iot.delete_thing(thingName="held")
    assert error_code(e) == ("InvalidRequestException", 400)
    with pytest.raises(ClientError) as e:
        iot.attach_thing_principal(thingName="nope", principal=CERT_ARN)
    assert error_code(e) == ("ResourceNotFoundException", 404)
