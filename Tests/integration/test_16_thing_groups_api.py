"""Thing types and static thing groups through the AWS `iot` control plane, on one real node, with the real AWS CLI
and boto3: CreateThingType / DescribeThingType / DeprecateThingType / ListThingTypes / DeleteThingType (refused
before the 5-minute wait), things that must name a registered, non-deprecated type; CreateThingGroup with a
parent / DescribeThingGroup (rootToParentThingGroups) / UpdateThingGroup (expectedVersion) / ListThingGroups
(parentGroup, recursive, prefix) / Add- and RemoveThingFromThingGroup (by name and by ARN) / ListThingsInThingGroup
(recursive) / ListThingGroupsForThing / UpdateThingGroupsForThing / DeleteThingGroup (refused with children), and a
policy attached to a group.
"""

from __future__ import annotations

import json

import pytest

from aws_kit import aws, aws_json, client, error_code

ACCOUNT = "000000000000"
GROUP_ARN = "arn:aws:iot:us-east-1:" + ACCOUNT + ":thinggroup/"
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]})


@pytest.fixture
def iot(broker):
    return client(broker)


def test_thing_types_with_the_cli(broker):
    created = aws_json(broker, "create-thing-type", "--thing-type-name", "tt-lamp", "--thing-type-properties",
                       '{"thingTypeDescription":"A lamp","searchableAttributes":["room","floor"]}')
    assert set(created) == {"thingTypeName", "thingTypeArn", "thingTypeId"}
    assert created["thingTypeArn"] == "arn:aws:iot:us-east-1:" + ACCOUNT + ":thingtype/tt-lamp"
    described = aws_json(broker, "describe-thing-type", "--thing-type-name", "tt-lamp")
    assert described["thingTypeId"] == created["thingTypeId"]
    assert described["thingTypeProperties"] == {"thingTypeDescription": "A lamp",
                                                "searchableAttributes": ["room", "floor"]}
    assert described["thingTypeMetadata"]["deprecated"] is False
    assert "creationDate" in described["thingTypeMetadata"]

    # With a type, a thing may have more than three attributes.
    attrs = {f"a{i}": "v" for i in range(5)}
    aws_json(broker, "create-thing", "--thing-name", "tt-thing", "--thing-type-name", "tt-lamp",
             "--attribute-payload", json.dumps({"attributes": attrs}))
    assert aws_json(broker, "describe-thing", "--thing-name", "tt-thing")["thingTypeName"] == "tt-lamp"

    aws(broker, "deprecate-thing-type", "--thing-type-name", "tt-lamp")
    meta = aws_json(broker, "describe-thing-type", "--thing-type-name", "tt-lamp")["thingTypeMetadata"]
    assert meta["deprecated"] is True and "deprecationDate" in meta
    refused = aws(broker, "create-thing", "--thing-name", "tt-other", "--thing-type-name", "tt-lamp", ok=False)
    assert refused.returncode != 0 and "InvalidRequestException" in refused.stderr
    early = aws(broker, "delete-thing-type", "--thing-type-name", "tt-lamp", ok=False)
    assert early.returncode != 0 and "InvalidRequestException" in early.stderr

    aws(broker, "deprecate-thing-type", "--thing-type-name", "tt-lamp", "--undo-deprecate")
    assert aws_json(broker, "describe-thing-type",
                    "--thing-type-name", "tt-lamp")["thingTypeMetadata"]["deprecated"] is False

    for n in ("tt-a", "tt-b", "tt-c"):
        aws_json(broker, "create-thing-type", "--thing-type-name", n)
    # The CLI follows nextToken through pages of one.
    names = [t["thingTypeName"] for t in aws_json(broker, "list-thing-types", "--page-size", "1")["thingTypes"]]
    assert [n for n in names if n.startswith("tt-")] == ["tt-a", "tt-b", "tt-c", "tt-lamp"]
    only = aws_json(broker, "list-thing-types", "--thing-type-name", "tt-b")["thingTypes"]
    assert [t["thingTypeName"] for t in only] == ["tt-b"]


def test_thing_type_errors_with_boto3(iot):
    with pytest.raises(iot.exceptions.ResourceNotFoundException) as e:
        iot.describe_thing_type(thingTypeName="tt-ghost")
    assert error_code(e) == ("ResourceNotFoundException", 404)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.create_thing(thingName="tt-orphan", thingTypeName="tt-ghost")
    with pytest.raises(iot.exceptions.InvalidRequestException) as e:
        iot.create_thing_type(thingTypeName="tt-many",
                              thingTypeProperties={"searchableAttributes": ["a", "b", "c", "d"]})
    assert error_code(e) == ("InvalidRequestException", 400)
    assert "three searchable attributes" in e.value.response["Error"]["Message"]
    iot.create_thing_type(thingTypeName="tt-same", thingTypeProperties={"thingTypeDescription": "x"})
    iot.create_thing_type(thingTypeName="tt-same", thingTypeProperties={"thingTypeDescription": "x"})
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException) as e:
        iot.create_thing_type(thingTypeName="tt-same", thingTypeProperties={"thingTypeDescription": "y"})
    assert error_code(e) == ("ResourceAlreadyExistsException", 409)
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.delete_thing_type(thingTypeName="tt-same")  # not deprecated


def test_thing_groups_with_the_cli(broker):
    site = aws_json(broker, "create-thing-group", "--thing-group-name", "tg-site", "--thing-group-properties",
                    '{"thingGroupDescription":"All","attributePayload":{"attributes":{"city":"Oslo"}}}')
    assert set(site) == {"thingGroupName", "thingGroupArn", "thingGroupId"}
    assert site["thingGroupArn"] == GROUP_ARN + "tg-site"
    aws_json(broker, "create-thing-group", "--thing-group-name", "tg-floor", "--parent-group-name", "tg-site")
    aws_json(broker, "create-thing-group", "--thing-group-name", "tg-room", "--parent-group-name", "tg-floor")

    room = aws_json(broker, "describe-thing-group", "--thing-group-name", "tg-room")
    assert room["version"] == 1
    assert room["thingGroupMetadata"]["parentGroupName"] == "tg-floor"
    assert room["thingGroupMetadata"]["rootToParentThingGroups"] == [
        {"groupName": "tg-site", "groupArn": GROUP_ARN + "tg-site"},
        {"groupName": "tg-floor", "groupArn": GROUP_ARN + "tg-floor"}]

    updated = aws_json(broker, "update-thing-group", "--thing-group-name", "tg-site", "--expected-version", "1",
                       "--thing-group-properties", '{"attributePayload":{"attributes":{"zip":"0150"},"merge":true}}')
    assert updated == {"version": 2}
    attrs = aws_json(broker, "describe-thing-group",
                     "--thing-group-name", "tg-site")["thingGroupProperties"]["attributePayload"]["attributes"]
    assert attrs == {"city": "Oslo", "zip": "0150"}

    names = lambda out: [g["groupName"] for g in out["thingGroups"]]  # noqa: E731
    assert names(aws_json(broker, "list-thing-groups", "--parent-group", "tg-site", "--no-recursive")) == ["tg-floor"]
    assert names(aws_json(broker, "list-thing-groups", "--parent-group", "tg-site", "--recursive")) == [
        "tg-floor", "tg-room"]
    assert names(aws_json(broker, "list-thing-groups", "--name-prefix-filter", "tg-r")) == ["tg-room"]

    for t in ("tg-dev-1", "tg-dev-2"):
        aws_json(broker, "create-thing", "--thing-name", t)
    aws(broker, "add-thing-to-thing-group", "--thing-group-name", "tg-room", "--thing-name", "tg-dev-1")
    aws(broker, "add-thing-to-thing-group", "--thing-group-arn", GROUP_ARN + "tg-site",
        "--thing-arn", "arn:aws:iot:us-east-1:" + ACCOUNT + ":thing/tg-dev-2")
    assert aws_json(broker, "list-things-in-thing-group", "--thing-group-name", "tg-site")["things"] == ["tg-dev-2"]
    assert aws_json(broker, "list-things-in-thing-group", "--thing-group-name", "tg-site",
                    "--recursive")["things"] == ["tg-dev-1", "tg-dev-2"]
    assert aws_json(broker, "list-thing-groups-for-thing", "--thing-name", "tg-dev-1")["thingGroups"] == [
        {"groupName": "tg-room", "groupArn": GROUP_ARN + "tg-room"}]

    refused = aws(broker, "delete-thing-group", "--thing-group-name", "tg-floor", ok=False)
    assert refused.returncode != 0 and "InvalidRequestException" in refused.stderr
    aws(broker, "remove-thing-from-thing-group", "--thing-group-name", "tg-room", "--thing-name", "tg-dev-1")
    assert aws_json(broker, "list-thing-groups-for-thing", "--thing-name", "tg-dev-1")["thingGroups"] == []
    aws(broker, "delete-thing-group", "--thing-group-name", "tg-room")
    aws(broker, "delete-thing-group", "--thing-group-name", "tg-room")  # already gone: success, as AWS
    assert "tg-room" not in names(aws_json(broker, "list-thing-groups"))


def test_thing_group_errors_and_policy_with_boto3(iot):
    with pytest.raises(iot.exceptions.ResourceNotFoundException) as e:
        iot.describe_thing_group(thingGroupName="tg-ghost")
    assert error_code(e) == ("ResourceNotFoundException", 404)
    with pytest.raises(iot.exceptions.InvalidRequestException) as e:
        iot.create_thing_group(thingGroupName="tg-orphan", parentGroupName="tg-ghost")
    assert error_code(e) == ("InvalidRequestException", 400)

    # Seven levels deep at most.
    iot.create_thing_group(thingGroupName="tg-l1")
    for i in range(2, 8):
        iot.create_thing_group(thingGroupName=f"tg-l{i}", parentGroupName=f"tg-l{i - 1}")
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.create_thing_group(thingGroupName="tg-l8", parentGroupName="tg-l7")

    with pytest.raises(iot.exceptions.VersionConflictException) as e:
        iot.update_thing_group(thingGroupName="tg-l1", thingGroupProperties={"thingGroupDescription": "d"},
                               expectedVersion=9)
    assert error_code(e) == ("VersionConflictException", 409)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.add_thing_to_thing_group(thingGroupName="tg-l7", thingName="tg-ghost-thing")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.list_things_in_thing_group(thingGroupName="tg-ghost")

    # A policy attaches to an existing group only; a member of a descendant inherits it.
    iot.create_policy(policyName="tg-policy", policyDocument=DOC)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.attach_policy(policyName="tg-policy", target=GROUP_ARN + "tg-ghost")
    iot.attach_policy(policyName="tg-policy", target=GROUP_ARN + "tg-l1")
    assert iot.list_targets_for_policy(policyName="tg-policy")["targets"] == [GROUP_ARN + "tg-l1"]
    iot.create_thing(thingName="tg-deep-dev")
    iot.add_thing_to_thing_group(thingGroupName="tg-l7", thingName="tg-deep-dev", overrideDynamicGroups=False)
    with pytest.raises(iot.exceptions.InvalidRequestException):  # never two groups of one hierarchy
        iot.add_thing_to_thing_group(thingGroupName="tg-l3", thingName="tg-deep-dev")
    assert iot.list_things_in_thing_group(thingGroupName="tg-l1", recursive=True)["things"] == ["tg-deep-dev"]
    # Deleting the thing removes its membership.
    iot.delete_thing(thingName="tg-deep-dev")
    assert iot.list_things_in_thing_group(thingGroupName="tg-l7")["things"] == []

    # UpdateThingGroupsForThing: all or nothing.
    iot.create_thing_group(thingGroupName="tg-solo")
    iot.create_thing(thingName="tg-mover")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.update_thing_groups_for_thing(thingName="tg-mover", thingGroupsToAdd=["tg-solo", "tg-ghost"])
    assert iot.list_thing_groups_for_thing(thingName="tg-mover")["thingGroups"] == []
    iot.update_thing_groups_for_thing(thingName="tg-mover", thingGroupsToAdd=["tg-solo", "tg-l2"])
    iot.update_thing_groups_for_thing(thingName="tg-mover", thingGroupsToAdd=["tg-l3"], thingGroupsToRemove=["tg-l2"])
    groups = iot.list_thing_groups_for_thing(thingName="tg-mover")["thingGroups"]
    assert [g["groupName"] for g in groups] == ["tg-l3", "tg-solo"]
