"""Domain configurations replicate through raft (issue 4, "Done when": a new domain configuration added on node 1
of a three-node cluster serves its certificate on node 3 without a restart).

Three real nodes, each with an 8883-style listener (`--mqtts-port`) and the same default server certificate. Through
node 1's API only:

1. a tenant's CA certificate is registered, and a domain configuration `mqtt.brand.test` is created for that
   tenant with a server certificate of its own (signed by another CA);
2. within 10 s, nodes 3 and 2 (and 1) serve that certificate to a ClientHello naming `mqtt.brand.test`
   (`openssl s_client -servername`), and it verifies against the brand CA for that host name; other names still
   get the default certificate;
3. a device of the tenant (its certificate signed by the tenant's CA) round-trips QoS 1 over mutual TLS on node 3;
   a retained message it publishes on node 2 reaches its subscription on node 3 (live routing between nodes is
   issue 7; retained messages are replicated state), and not a default-tenant device subscribed to the same topic
   on node 3;
4. the same device without the domain's name (the default endpoint, the default tenant) is refused on node 3 with
   reason certificate_unknown in /metrics: the tenant's CA is trusted only for the tenant.
"""

from __future__ import annotations

import time

import pytest

from cluster_kit import Cluster
from conftest import free_ports
from pki import make_ca, make_leaf
from mqtt_raw import unique
from tls_kit import (
    admin, plus, refusal_seen, served_subject, tls_client, tls_round_trip, wait_refusals,
)

TENANT = "123456789012"
BRAND = "mqtt.brand.test"
REPLICATION_WAIT = 10.0


@pytest.fixture
def tls_cluster(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_ca(pki, "default-ca")
    make_leaf(pki, "default-ca", "server", server=True, sans="DNS:localhost,IP:127.0.0.1")
    make_ca(pki, "brand-ca")
    make_leaf(pki, "brand-ca", BRAND, server=True, sans=f"DNS:{BRAND}")
    make_ca(pki, "tenant-ca")
    make_leaf(pki, "tenant-ca", "tenant-device", server=False)
    make_leaf(pki, "default-ca", "default-device", server=False)

    mqtts = dict(zip((1, 2, 3), free_ports(3)))
    c = Cluster(tmp_path / "cluster", 3, extra_args=lambda i: [
        "--mqtts-port", str(mqtts[i]), "--policies", "off",
        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")])
    c.pki, c.mqtts = pki, mqtts
    try:
        c.start()
        for i in c.nodes:
            c.wait_port(i, mqtts[i])
        yield c
    finally:
        c.stop()
    assert not c.crashed, f"nodes died during the test: {c.crashed}\n{c.logs()}"


def test_domain_added_on_node_1_is_served_on_every_node(tls_cluster):
    c = tls_cluster
    pki = c.pki
    device = dict(cert=pki / "tenant-device.pem", key=pki / "tenant-device.key")
    handshakes = {1: 0, 2: 0, 3: 0}

    def subject(i: int, servername: str) -> str:
        """The certificate node i serves for `servername` (s_client, without a client certificate)."""
        handshakes[i] += 1
        return served_subject(c.mqtts[i], servername)

    # Before: no node knows the name, so it gets the default endpoint's certificate.
    for i in (1, 2, 3):
        served = subject(i, BRAND)
        assert served == "subject=CN=server", f"node {i}: {served}"

    # Raft applies in log order: once a node serves the domain (the last of these three), it has the CAs too.
    admin(c[1].api_port, "cert", "register", "--ca", str(pki / "default-ca.pem"))
    admin(c[1].api_port, "cert", "register", "--ca", str(pki / "tenant-ca.pem"), "--tenant", TENANT)
    out = admin(c[1].api_port, "domain", "create", "brand", "--tenant", TENANT, "--domain-name", BRAND,
                "--certificate-chain", str(pki / f"{BRAND}.pem"), "--private-key", str(pki / f"{BRAND}.key"))
    assert "ENABLED" in out, out
    created = time.monotonic()

    # Nodes 3 and 2 (followers or leader, no restart) serve the brand certificate once the entry is applied there.
    for i in (3, 2, 1):
        c.wait_for(f"node {i} to serve {BRAND}'s certificate",
                   lambda: subject(i, BRAND) == f"subject=CN={BRAND}",
                   timeout=max(0.5, REPLICATION_WAIT - (time.monotonic() - created)), interval=0.1)
    print(f"{BRAND} served on all three nodes {time.monotonic() - created:.2f}s after the create returned")
    for i in (1, 2, 3):
        assert subject(i, "other.example.test") == "subject=CN=server", f"node {i}"

    # s_client sent no client certificate: each of those handshakes was refused for that, and for nothing else.
    before = {i: wait_refusals(c[i].api_port, {"no_client_certificate": handshakes[i]}) for i in (1, 2, 3)}

    # The tenant's device over mutual TLS on node 3, verifying the brand certificate for its name (Python's ssl:
    # CA brand-ca, check_hostname).
    brand = dict(device, servername=BRAND, cafile=pki / "brand-ca.pem", verify_name=True)
    tls_round_trip(c.mqtts[3], **brand)

    # A retained message of the tenant, published on node 2, is delivered on node 3 once replicated there.
    topic = "brand/" + unique("state")
    with tls_client(c.mqtts[2], **brand) as pub:
        assert pub.connect(unique("pub")).code == 0
        ack = pub.publish(topic, b"from node 2", qos=1, retain=True)
        assert ack.reason in (None, 0x00), ack

    def retained_on_node_3() -> bool:
        with tls_client(c.mqtts[3], **brand) as sub:
            assert sub.connect(unique("sub")).code == 0
            assert sub.subscribe([(topic, 1)]).codes == [1]
            try:
                got = sub.recv_publish(1.0)
            except AssertionError:
                return False  # not applied on node 3 yet
            assert (got.topic, got.payload, got.retain) == (topic, b"from node 2", True), got
            return True

    c.wait_for("the tenant's retained message on node 3", retained_on_node_3, timeout=REPLICATION_WAIT, interval=0.2)

    # A default-tenant device on node 3 (no SNI: the default endpoint) does not see the tenant's topic.
    default_device = dict(cert=pki / "default-device.pem", key=pki / "default-device.key")
    with tls_client(c.mqtts[3], **default_device) as other:
        assert other.connect(unique("other")).code == 0
        assert other.subscribe([(topic, 1)]).codes == [1]
        other.expect_silence(1.0)
    tls_round_trip(c.mqtts[3], **default_device)
    wait_refusals(c[3].api_port, before[3])

    # Without the domain's name the device is on the default endpoint, whose tenant does not trust tenant-ca.
    seen = refusal_seen(c.mqtts[3], **device, servername=None)
    assert seen.startswith("alert"), seen
    wait_refusals(c[3].api_port, plus(before[3], certificate_unknown=1))
    wait_refusals(c[2].api_port, before[2])
    tls_round_trip(c.mqtts[3], **device, servername=BRAND)  # still serving
