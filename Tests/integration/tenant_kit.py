"""Two tenants on one real node (shared by the tenant-isolation and shadow tests): the default tenant on the node's
own endpoint and tenant B (111111111111) with its key and its branded domain `iot.acme.test`, chosen by SNI, on an
mTLS listener with policies enforced; and devices whose certificates each tenant's own API issues."""

from __future__ import annotations

import json
import time

import pytest

from aws_kit import Creds, aws, aws_json, raw
from conftest import HOST, free_ports, port_accepts
from pki import make_ca, make_leaf

B = "111111111111"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*",
                                                                 "Resource": "*"}]})


def two_tenant_node(start_broker, tmp_path):
    """A node with an mTLS listener (policies enforced), tenant B with its key and branded domain `iot.acme.test`."""
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, "server-ca")
    make_leaf(d, "server-ca", "server", server=True, sans="DNS:localhost,IP:127.0.0.1")
    make_leaf(d, "server-ca", "iot.acme.test", server=True, sans="DNS:iot.acme.test")
    (mqtts,) = free_ports(1)
    n = start_broker(extra_args=["--mqtts-port", str(mqtts), "--tls-cert", str(d / "server.pem"),
                                 "--tls-key", str(d / "server.key")])
    n.mqtts, n.dir, n.server_ca = mqtts, tmp_path, d / "server-ca.pem"
    for _ in range(200):  # ≤ 200 × (0.5 s connect + 0.05 s)
        if port_accepts(HOST, mqtts):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"TLS listener not up:\n{n.log_tail()}")
    assert raw(n, "POST", "/cluster/tenants", json.dumps({"accountId": B, "name": "acme"}).encode(),
               sign=False)[0] == 200
    status, _, key = raw(n, "POST", f"/cluster/tenants/{B}/access-keys", sign=False)
    assert status == 200
    n.b = Creds(key["accessKeyId"], key["secretAccessKey"])
    body = {"domainConfigurationName": "acme", "domainName": "iot.acme.test",
            "serverCertificateChainPem": (d / "iot.acme.test.pem").read_text(),
            "privateKeyPem": (d / "iot.acme.test.key").read_text()}
    assert raw(n, "POST", f"/cluster/domains?tenant={B}", json.dumps(body).encode(), sign=False)[0] == 200
    return n


def device(node, creds: Creds | None, name: str) -> tuple:
    """A certificate issued by the tenant's own API with an allow-all policy attached."""
    keys = aws_json(node, "create-keys-and-certificate", "--set-as-active", creds=creds)
    cert, key = node.dir / f"{name}.pem", node.dir / f"{name}.key"
    cert.write_text(keys["certificatePem"])
    key.write_text(keys["keyPair"]["PrivateKey"])
    if aws(node, "get-policy", "--policy-name", "all", ok=False, creds=creds).returncode != 0:
        aws(node, "create-policy", "--policy-name", "all", "--policy-document", ALLOW_ALL, creds=creds)
    aws(node, "attach-policy", "--policy-name", "all", "--target", keys["certificateArn"], creds=creds)
    return cert, key
