"""DescribeEndpoint, domain configurations made through the AWS API from an imported server certificate, and
resource tags, on real nodes with the real AWS CLI and boto3 (aws_kit), `flotilla admin server-cert import` and
`openssl s_client`:

- describe-endpoint answers AWS's address shape for each endpoint type (none: the legacy iot:Data), and an unknown
  type is 400 InvalidRequestException;
- a server certificate made with openssl is imported (ACM-shaped ARN), create-domain-configuration serves it by SNI
  on the TLS listener at once; disabled, it is no longer served; deleted (once disabled) it is gone; a certificate
  that does not cover the domain name is 400 CertificateValidationException, a key that is not the certificate's
  is refused at import;
- tag-resource / untag-resource / list-tags-for-resource on a thing and a policy (also CreatePolicy's tags), and
  their errors: unknown ARN 404, 51 tags 410 LimitExceededException, a reserved key 400; deleting the thing deletes
  its tags.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from aws_kit import aws, aws_json, client, error_code
from conftest import HOST, flotilla_bin, free_ports, port_accepts
from pki import make_ca, make_leaf
from tls_kit import admin, served_subject

ACCOUNT = "000000000000"
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})


# --- DescribeEndpoint ------------------------------------------------------------------------------------------------

def test_describe_endpoint_each_type(broker):
    legacy = aws_json(broker, "describe-endpoint")["endpointAddress"]
    prefix, _, rest = legacy.partition(".")
    assert rest == "iot.us-east-1.amazonaws.com" and len(prefix) == 14 and prefix.isalnum(), legacy
    expected = {
        "iot:Data": f"{prefix}.iot.us-east-1.amazonaws.com",
        "iot:Data-ATS": f"{prefix}-ats.iot.us-east-1.amazonaws.com",
        "iot:CredentialProvider": f"{prefix}.credentials.iot.us-east-1.amazonaws.com",
        "iot:Jobs": f"{prefix}.jobs.iot.us-east-1.amazonaws.com",
    }
    iot = client(broker)
    for endpoint_type, address in expected.items():
        assert aws_json(broker, "describe-endpoint", "--endpoint-type", endpoint_type)["endpointAddress"] == address
        assert iot.describe_endpoint(endpointType=endpoint_type)["endpointAddress"] == address
    # Stable: the same again.
    assert iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] == expected["iot:Data-ATS"]
    for bad in ["iot:Data-Beta", "iot:data-ats", "https"]:
        with pytest.raises(iot.exceptions.InvalidRequestException) as e:
            iot.describe_endpoint(endpointType=bad)
        assert error_code(e) == ("InvalidRequestException", 400)


# --- Domain configurations over TLS ------------------------------------------------------------------------------

@pytest.fixture
def tls_broker(start_broker, tmp_path):
    (mqtts,) = free_ports(1)
    b = start_broker(extra_args=["--mqtts-port", str(mqtts)])
    deadline = time.monotonic() + 15
    while not port_accepts(HOST, mqtts):
        assert time.monotonic() < deadline, f"TLS listener not up:\n{b.log_tail()}"
        time.sleep(0.1)
    b.mqtts_port = mqtts
    pki = tmp_path / "pki"
    pki.mkdir()
    make_ca(pki, "brand-ca")
    make_leaf(pki, "brand-ca", "mqtt.brand.test", server=True, sans="DNS:mqtt.brand.test,DNS:*.devices.brand.test")
    make_leaf(pki, "brand-ca", "other", server=True, sans="DNS:other.brand.test")
    b.pki = pki
    return b


def server_cert_import(b, chain, key) -> subprocess.CompletedProcess:
    return subprocess.run([str(flotilla_bin()), "admin", "server-cert", "import", "--certificate-chain", str(chain),
                           "--private-key", str(key), "--api", f"http://{HOST}:{b.metrics_port}"],
                          capture_output=True, text=True, timeout=60)


def test_domain_configuration_from_imported_certificate_is_served_by_sni(tls_broker):
    b, pki = tls_broker, tls_broker.pki
    default_subject = served_subject(b.mqtts_port, "mqtt.brand.test")
    assert "CN=mqtt.brand.test" not in default_subject, default_subject

    # A key that is not the certificate's is refused at import.
    mismatch = server_cert_import(b, pki / "mqtt.brand.test.pem", pki / "other.key")
    assert mismatch.returncode != 0 and "CertificateValidationException" in mismatch.stdout + mismatch.stderr, \
        mismatch.stdout + mismatch.stderr

    arn = admin(b.metrics_port, "server-cert", "import", "--certificate-chain", str(pki / "mqtt.brand.test.pem"),
                "--private-key", str(pki / "mqtt.brand.test.key")).strip()
    assert arn.startswith(f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/"), arn
    listed = json.loads(admin(b.metrics_port, "server-cert", "list", "--json"))["serverCertificates"]
    assert [c["certificateArn"] for c in listed] == [arn]
    assert listed[0]["domainNames"] == ["mqtt.brand.test", "*.devices.brand.test"]

    created = aws_json(b, "create-domain-configuration", "--domain-configuration-name", "brand",
                       "--domain-name", "mqtt.brand.test", "--server-certificate-arns", arn,
                       "--service-type", "DATA", "--tags", "Key=env,Value=test")
    domain_arn = f"arn:aws:iot:us-east-1:{ACCOUNT}:domainconfiguration/brand"
    assert created == {"domainConfigurationName": "brand", "domainConfigurationArn": domain_arn}
    assert "CN=mqtt.brand.test" in served_subject(b.mqtts_port, "mqtt.brand.test")
    # Other names still get the default endpoint's certificate.
    assert served_subject(b.mqtts_port, "elsewhere.test") == default_subject

    iot = client(b)
    d = iot.describe_domain_configuration(domainConfigurationName="brand")
    assert d["domainName"] == "mqtt.brand.test" and d["domainConfigurationStatus"] == "ENABLED"
    assert d["serviceType"] == "DATA" and d["domainType"] == "CUSTOMER_MANAGED"
    assert d["serverCertificates"] == [{"serverCertificateArn": arn, "serverCertificateStatus": "VALID"}]
    assert [x["domainConfigurationName"] for x in iot.list_domain_configurations()["domainConfigurations"]] == ["brand"]
    assert iot.list_tags_for_resource(resourceArn=domain_arn)["tags"] == [{"Key": "env", "Value": "test"}]

    # A wildcard name of the certificate is covered; a name it does not hold is CertificateValidationException.
    iot.create_domain_configuration(domainConfigurationName="devices", domainName="a.devices.brand.test",
                                    serverCertificateArns=[arn])
    assert "CN=mqtt.brand.test" in served_subject(b.mqtts_port, "a.devices.brand.test")
    with pytest.raises(iot.exceptions.CertificateValidationException) as e:
        iot.create_domain_configuration(domainConfigurationName="nope", domainName="other.brand.test",
                                        serverCertificateArns=[arn])
    assert error_code(e) == ("CertificateValidationException", 400)
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException) as e:
        iot.create_domain_configuration(domainConfigurationName="again", domainName="mqtt.brand.test",
                                        serverCertificateArns=[arn])
    assert error_code(e) == ("ResourceAlreadyExistsException", 409)

    # AWS: an ENABLED configuration cannot be deleted.
    with pytest.raises(iot.exceptions.InvalidRequestException) as e:
        iot.delete_domain_configuration(domainConfigurationName="brand")
    assert error_code(e) == ("InvalidRequestException", 400)

    aws(b, "update-domain-configuration", "--domain-configuration-name", "brand",
        "--domain-configuration-status", "DISABLED")
    assert served_subject(b.mqtts_port, "mqtt.brand.test") == default_subject
    assert iot.describe_domain_configuration(domainConfigurationName="brand")["domainConfigurationStatus"] == "DISABLED"
    aws(b, "update-domain-configuration", "--domain-configuration-name", "brand",
        "--domain-configuration-status", "ENABLED")
    assert "CN=mqtt.brand.test" in served_subject(b.mqtts_port, "mqtt.brand.test")

    iot.update_domain_configuration(domainConfigurationName="brand", domainConfigurationStatus="DISABLED")
    aws(b, "delete-domain-configuration", "--domain-configuration-name", "brand")
    with pytest.raises(iot.exceptions.ResourceNotFoundException) as e:
        iot.describe_domain_configuration(domainConfigurationName="brand")
    assert error_code(e) == ("ResourceNotFoundException", 404)
    with pytest.raises(iot.exceptions.ResourceNotFoundException) as e:
        iot.update_domain_configuration(domainConfigurationName="brand", domainConfigurationStatus="ENABLED")
    assert error_code(e) == ("ResourceNotFoundException", 404)
    assert served_subject(b.mqtts_port, "mqtt.brand.test") == default_subject


# --- Tags ------------------------------------------------------------------------------------------------------------

def test_tags_on_a_thing_and_a_policy(broker):
    iot = client(broker)
    iot.create_thing(thingName="tagged-thing")
    thing_arn = f"arn:aws:iot:us-east-1:{ACCOUNT}:thing/tagged-thing"
    policy_arn = aws_json(broker, "create-policy", "--policy-name", "tagged-policy", "--policy-document", DOC,
                          "--tags", "Key=team,Value=ops")["policyArn"]
    assert aws_json(broker, "list-tags-for-resource", "--resource-arn", policy_arn)["tags"] == [
        {"Key": "team", "Value": "ops"}]

    aws(broker, "tag-resource", "--resource-arn", thing_arn, "--tags", "Key=room,Value=kitchen", "Key=floor,Value=1")
    iot.tag_resource(resourceArn=thing_arn, tags=[{"Key": "room", "Value": "hall"}, {"Key": "empty"}])
    assert iot.list_tags_for_resource(resourceArn=thing_arn)["tags"] == [
        {"Key": "empty", "Value": ""}, {"Key": "floor", "Value": "1"}, {"Key": "room", "Value": "hall"}]
    aws(broker, "untag-resource", "--resource-arn", thing_arn, "--tag-keys", "floor", "never-set")
    assert [t["Key"] for t in iot.list_tags_for_resource(resourceArn=thing_arn)["tags"]] == ["empty", "room"]
    iot.untag_resource(resourceArn=policy_arn, tagKeys=["team"])
    assert iot.list_tags_for_resource(resourceArn=policy_arn)["tags"] == []

    missing = f"arn:aws:iot:us-east-1:{ACCOUNT}:thing/no-such-thing"
    for call in (lambda: iot.tag_resource(resourceArn=missing, tags=[{"Key": "k", "Value": "v"}]),
                 lambda: iot.untag_resource(resourceArn=missing, tagKeys=["k"]),
                 lambda: iot.list_tags_for_resource(resourceArn=missing),
                 lambda: iot.list_tags_for_resource(resourceArn="arn:aws:iot:us-east-1:111111111111:thing/tagged-thing")):
        with pytest.raises(iot.exceptions.ResourceNotFoundException) as e:
            call()
        assert error_code(e) == ("ResourceNotFoundException", 404)
    cli = aws(broker, "list-tags-for-resource", "--resource-arn", missing, ok=False)
    assert cli.returncode != 0 and "ResourceNotFoundException" in cli.stderr

    with pytest.raises(iot.exceptions.InvalidRequestException) as e:
        iot.tag_resource(resourceArn=thing_arn, tags=[{"Key": "aws:reserved", "Value": "v"}])
    assert error_code(e) == ("InvalidRequestException", 400)
    with pytest.raises(iot.exceptions.InvalidRequestException) as e:
        iot.tag_resource(resourceArn="not-an-arn", tags=[{"Key": "k", "Value": "v"}])
    assert error_code(e) == ("InvalidRequestException", 400)
    with pytest.raises(iot.exceptions.LimitExceededException) as e:
        iot.tag_resource(resourceArn=thing_arn, tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    assert error_code(e) == ("LimitExceededException", 410)
    assert len(iot.list_tags_for_resource(resourceArn=thing_arn)["tags"]) == 2  # unchanged

    iot.delete_thing(thingName="tagged-thing")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.list_tags_for_resource(resourceArn=thing_arn)
    iot.create_thing(thingName="tagged-thing")
    assert iot.list_tags_for_resource(resourceArn=thing_arn)["tags"] == []
