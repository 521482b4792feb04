"""The `iot` certificate operations on a real node with TLS, through the real AWS CLI and boto3 (aws_kit), and real
MQTT clients (mosquitto_pub/sub) on 8883:

- create-keys-and-certificate --set-as-active: the certificate and key it returns connect with mosquitto over mutual
  TLS and round-trip a message; set INACTIVE, the same certificate is refused at the handshake;
- create-certificate-from-csr with a CSR made by `openssl req` connects with its key; a bad CSR is
  InvalidRequestException;
- get-registration-code + register-ca-certificate with a verification certificate made by openssl (CN = the code,
  signed by the CA key), then register-certificate of a device certificate signed by that CA, which connects;
  a wrong verification certificate is RegistrationCodeValidationException;
- on a three-node cluster, two followers issuing at once agree on one issuing CA (first writer wins), and a
  certificate issued through one node connects on another;
- describe / list / list-certificates-by-ca, and AWS's delete rules (ACTIVE: CertificateStateException 406;
  attached policy: DeleteConflictException 409 unless --force-delete; ACTIVE CA: CertificateStateException).

The nodes run with `--policies off`: these tests are about certificates (which ones the handshake accepts), not
about what a certificate's policies allow — test_18 and test_22 cover that.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from aws_kit import aws, aws_json, client, error_code
from cluster_kit import Cluster
from conftest import HOST, flotilla_bin, free_ports
from pki import cert_id, make_ca, make_leaf, openssl

WAIT = 15.0
ACCOUNT = "000000000000"


@pytest.fixture
def node(tmp_path):
    """One node with the MQTT-over-TLS listener; the control plane on `metrics_url`, as aws_kit expects."""
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, "server-ca")
    make_leaf(d, "server-ca", "server", server=True, sans="DNS:localhost,IP:127.0.0.1")
    mqtt, api, raft, bus, mqtts, gossip = free_ports(6)
    data = tmp_path / "data"
    log = open(tmp_path / "node.log", "ab")
    args = [str(flotilla_bin()), "serve", "--data-dir", str(data), "--bind", HOST,
            "--mqtt-port", str(mqtt), "--api-port", str(api), "--raft-port", str(raft), "--bus-port", str(bus), "--gossip-port", str(gossip),
            "--mqtts-port", str(mqtts), "--policies", "off", "--tls-cert", str(d / "server.pem"), "--tls-key", str(d / "server.key"),
            "--election-timeout-ms", "300", "--heartbeat-timeout-ms", "50", "--log-level", "info"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    n = type("Node", (), {})()
    n.pki, n.mqtts, n.proc, n.log = d, mqtts, proc, tmp_path / "node.log"
    n.metrics_url, n.data_dir = f"http://{HOST}:{api}", str(data)
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, mqtts), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, f"flotilla exited:\n{n.log.read_text()}"
                time.sleep(0.1)
        else:
            pytest.fail(f"TLS listener not up:\n{n.log.read_text()}")
        yield n
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def tls_args(n, cert: Path, key: Path) -> list[str]:
    return ["-h", HOST, "-p", str(n.mqtts), "--cafile", str(n.pki / "server-ca.pem"), "--insecure",
            "--cert", str(cert), "--key", str(key)]


def round_trip(n, cert: Path, key: Path, topic: str) -> bool:
    """mosquitto_sub and mosquitto_pub over mutual TLS with this certificate; True if the message arrived."""
    sub = subprocess.Popen(["mosquitto_sub", *tls_args(n, cert, key), "-t", topic, "-C", "1", "-W", "8",
                            "-i", f"sub-{topic}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # integration test: let the subscription land (bounded by -W on the subscriber)
    pub = subprocess.run(["mosquitto_pub", *tls_args(n, cert, key), "-t", topic, "-m", "issued", "-q", "1",
                          "-i", f"pub-{topic}"], capture_output=True, text=True, timeout=15)
    out, _ = sub.communicate(timeout=15)
    return pub.returncode == 0 and out.strip() == "issued"


def refused(n, cert: Path, key: Path) -> bool:
    done = subprocess.run(["mosquitto_pub", *tls_args(n, cert, key), "-t", "x", "-m", "y", "-i", "refused"],
                          capture_output=True, text=True, timeout=15)
    return done.returncode != 0


def test_issued_certificate_connects_then_inactive_is_refused(node, tmp_path):
    made = aws_json(node, "create-keys-and-certificate", "--set-as-active")
    assert set(made) == {"certificateArn", "certificateId", "certificatePem", "keyPair"}
    cert, key = tmp_path / "issued.pem", tmp_path / "issued.key"
    cert.write_text(made["certificatePem"])
    key.write_text(made["keyPair"]["PrivateKey"])
    cid = made["certificateId"]
    assert cid == cert_id(cert)
    assert made["certificateArn"] == f"arn:aws:iot:us-east-1:{ACCOUNT}:cert/{cid}"
    subject = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-enddate"],
                             capture_output=True, text=True, check=True).stdout
    assert "CN = AWS IoT Certificate" in subject and "Dec 31 23:59:59 2049 GMT" in subject
    bits = subprocess.run(["openssl", "pkey", "-in", str(key), "-noout", "-text"], capture_output=True, text=True,
                          check=True).stdout
    assert "2048 bit" in bits
    # The private key is returned, never logged.
    assert made["keyPair"]["PrivateKey"].splitlines()[1] not in node.log.read_text()

    assert round_trip(node, cert, key, "issued/one")

    aws(node, "update-certificate", "--certificate-id", cid, "--new-status", "INACTIVE")
    assert refused(node, cert, key)
    desc = aws_json(node, "describe-certificate", "--certificate-id", cid)["certificateDescription"]
    assert desc["status"] == "INACTIVE" and desc["certificateMode"] == "DEFAULT" and "caCertificateId" not in desc
    assert desc["ownedBy"] == ACCOUNT and desc["certificatePem"] == made["certificatePem"]


def test_certificate_from_csr(node, tmp_path):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=csr-device", "-keyout", "csr.key",
            "-out", "csr.csr", cwd=tmp_path)
    made = aws_json(node, "create-certificate-from-csr", "--set-as-active",
                    "--certificate-signing-request", f"file://{tmp_path / 'csr.csr'}")
    assert set(made) == {"certificateArn", "certificateId", "certificatePem"}
    (tmp_path / "csr.pem").write_text(made["certificatePem"])
    assert round_trip(node, tmp_path / "csr.pem", tmp_path / "csr.key", "csr/one")

    iot = client(node)
    with pytest.raises(iot.exceptions.InvalidRequestException) as e:
        iot.create_certificate_from_csr(certificateSigningRequest="-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                                                  "-----END CERTIFICATE REQUEST-----\n")
    assert error_code(e) == ("InvalidRequestException", 400)


def test_ca_registration_and_device_certificate(node, tmp_path):
    iot = client(node)
    d = tmp_path / "ca"
    d.mkdir()
    make_ca(d, "fleet-ca")
    code = aws_json(node, "get-registration-code")["registrationCode"]
    assert len(code) == 64 and aws_json(node, "get-registration-code")["registrationCode"] == code

    make_leaf(d, "fleet-ca", code, server=False)  # the verification certificate: CN = the registration code
    make_leaf(d, "fleet-ca", "wrong-cn", server=False)
    with pytest.raises(iot.exceptions.RegistrationCodeValidationException) as e:
        iot.register_ca_certificate(caCertificate=(d / "fleet-ca.pem").read_text(),
                                    verificationCertificate=(d / "wrong-cn.pem").read_text())
    assert error_code(e) == ("RegistrationCodeValidationException", 400)

    ca = aws_json(node, "register-ca-certificate", "--ca-certificate", f"file://{d / 'fleet-ca.pem'}",
                  "--verification-certificate", f"file://{d / (code + '.pem')}", "--set-as-active")
    ca_id = ca["certificateId"]
    assert ca_id == cert_id(d / "fleet-ca.pem")
    assert ca["certificateArn"] == f"arn:aws:iot:us-east-1:{ACCOUNT}:cacert/{ca_id}"
    ca_desc = aws_json(node, "describe-ca-certificate", "--certificate-id", ca_id)["certificateDescription"]
    assert ca_desc["status"] == "ACTIVE" and ca_desc["autoRegistrationStatus"] == "DISABLE"
    assert [c["certificateId"] for c in aws_json(node, "list-ca-certificates")["certificates"]] == [ca_id]

    make_leaf(d, "fleet-ca", "fleet-device", server=False)
    reg = aws_json(node, "register-certificate", "--certificate-pem", f"file://{d / 'fleet-device.pem'}",
                   "--status", "ACTIVE")
    dev_id = reg["certificateId"]
    assert dev_id == cert_id(d / "fleet-device.pem")
    desc = aws_json(node, "describe-certificate", "--certificate-id", dev_id)["certificateDescription"]
    assert desc["caCertificateId"] == ca_id and desc["status"] == "ACTIVE"
    assert round_trip(node, d / "fleet-device.pem", d / "fleet-device.key", "fleet/one")

    by_ca = aws_json(node, "list-certificates-by-ca", "--ca-certificate-id", ca_id)["certificates"]
    assert [c["certificateId"] for c in by_ca] == [dev_id]
    listed = [c["certificateId"] for c in aws_json(node, "list-certificates")["certificates"]]
    assert dev_id in listed

    # A device certificate of a CA that is not registered.
    make_ca(d, "stranger-ca")
    make_leaf(d, "stranger-ca", "stranger", server=False)
    with pytest.raises(iot.exceptions.CertificateValidationException) as e:
        iot.register_certificate(certificatePem=(d / "stranger.pem").read_text())
    assert error_code(e) == ("CertificateValidationException", 400)

    # Delete rules: an ACTIVE CA, then an INACTIVE one.
    with pytest.raises(iot.exceptions.CertificateStateException) as e:
        iot.delete_ca_certificate(certificateId=ca_id)
    assert error_code(e) == ("CertificateStateException", 406)
    aws(node, "update-ca-certificate", "--certificate-id", ca_id, "--new-status", "INACTIVE")
    assert refused(node, d / "fleet-device.pem", d / "fleet-device.key")  # an INACTIVE CA fails its devices
    aws(node, "delete-ca-certificate", "--certificate-id", ca_id)


def test_delete_certificate_rules(node):
    iot = client(node)
    made = iot.create_keys_and_certificate(setAsActive=True)
    cid, arn = made["certificateId"], made["certificateArn"]
    with pytest.raises(iot.exceptions.CertificateStateException) as e:
        iot.delete_certificate(certificateId=cid)
    assert error_code(e) == ("CertificateStateException", 406)
    iot.update_certificate(certificateId=cid, newStatus="INACTIVE")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
    iot.create_policy(policyName="cert-rules", policyDocument=doc)
    iot.attach_policy(policyName="cert-rules", target=arn)
    with pytest.raises(iot.exceptions.DeleteConflictException) as e:
        iot.delete_certificate(certificateId=cid)
    assert error_code(e) == ("DeleteConflictException", 409)
    aws(node, "delete-certificate", "--certificate-id", cid, "--force-delete")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_certificate(certificateId=cid)
    assert iot.list_attached_policies(target=arn)["policies"] == []

    # REVOKED is final.
    other = iot.create_keys_and_certificate(setAsActive=False)["certificateId"]
    iot.update_certificate(certificateId=other, newStatus="REVOKED")
    with pytest.raises(iot.exceptions.CertificateStateException) as e:
        iot.update_certificate(certificateId=other, newStatus="ACTIVE")
    assert error_code(e) == ("CertificateStateException", 406)

    # Pagination with pageSize/marker: pages by hand, and boto3's paginator following nextMarker. (The CLI turns
    # its own paginator off when --page-size, the API's member, is given: it then shows nextMarker.)
    for _ in range(2):
        iot.create_keys_and_certificate(setAsActive=False)
    ids = [c["certificateId"] for c in iot.list_certificates(pageSize=250)["certificates"]]
    assert len(ids) == 3 and ids == sorted(ids)
    first = aws_json(node, "list-certificates", "--page-size", "2")
    assert [c["certificateId"] for c in first["certificates"]] == ids[:2]
    second = aws_json(node, "list-certificates", "--page-size", "2", "--marker", first["nextMarker"])
    assert [c["certificateId"] for c in second["certificates"]] == ids[2:] and "nextMarker" not in second
    pages = iot.get_paginator("list_certificates").paginate(PaginationConfig={"PageSize": 1})
    assert [c["certificateId"] for p in pages for c in p["certificates"]] == ids
    assert [c["certificateId"] for c in aws_json(node, "list-certificates")["certificates"]] == ids
    descending = iot.list_certificates(ascendingOrder=False)["certificates"]
    assert [c["certificateId"] for c in descending] == ids[::-1]


def authority_key_id(pem: Path) -> str:
    return subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-ext", "authorityKeyIdentifier"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_cluster_agrees_on_one_issuing_ca(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_ca(pki, "server-ca")
    make_leaf(pki, "server-ca", "server", server=True, sans="DNS:localhost,IP:127.0.0.1")
    mqtts = dict(zip((1, 2, 3), free_ports(3)))
    c = Cluster(tmp_path / "cluster", 3, extra_args=lambda i: [
        "--mqtts-port", str(mqtts[i]), "--policies", "off", "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")])
    try:
        c.start()
        views = {}
        for i in c.nodes:
            c.wait_port(i, mqtts[i])
            v = type("Node", (), {})()
            v.metrics_url, v.data_dir = f"http://{HOST}:{c.api_port(i)}", str(c[i].data_dir)
            v.pki, v.mqtts = pki, mqtts[i]
            views[i] = v
        followers = [i for i in c.nodes if i != c.agreed_leader()][:2]
        made: dict[int, dict] = {}

        def issue(i: int) -> None:
            made[i] = client(views[i]).create_keys_and_certificate(setAsActive=True)

        threads = [threading.Thread(target=issue, args=(i,)) for i in followers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(made) == sorted(followers)
        for i, m in made.items():
            (tmp_path / f"c{i}.pem").write_text(m["certificatePem"])
            (tmp_path / f"c{i}.key").write_text(m["keyPair"]["PrivateKey"])
        a, b = followers
        assert authority_key_id(tmp_path / f"c{a}.pem") == authority_key_id(tmp_path / f"c{b}.pem")
        # Issued through one follower, connecting on the other node and on the leader.
        other = next(i for i in c.nodes if i != a)
        listed = lambda: made[a]["certificateId"] in [  # noqa: E731
            x["certificateId"] for x in client(views[other]).list_certificates(pageSize=250)["certificates"]]
        c.wait_for("the certificate to replicate", listed, timeout=10)
        assert round_trip(views[other], tmp_path / f"c{a}.pem", tmp_path / f"c{a}.key", "cluster/issued")
    finally:
        c.stop()
    assert not c.crashed
