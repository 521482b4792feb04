"""Client side of the TLS integration tests: `flotilla admin` calls, `openssl s_client`, MQTT over TLS with the
raw MQTT toolkit (Python's ssl module, so the test chooses the SNI and the trust anchors), a TLS handshake under
which raw bytes can then be written, and the `iot_tls_refusals_total{reason}` counters of a node's /metrics.

Every network wait has a deadline.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

from conftest import HOST, flotilla_bin, http_get
from mqtt_raw import V311, RawClient, unique

TIMEOUT = 5.0


# --- admin ---------------------------------------------------------------------------------------------------------

def admin(api_port: int, *args: str) -> str:
    """`flotilla admin …` against the node whose API listens on `api_port`; asserts success."""
    done = subprocess.run([str(flotilla_bin()), "admin", *args, "--api", f"http://{HOST}:{api_port}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"flotilla admin {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


# --- openssl s_client ------------------------------------------------------------------------------------------------

def s_client(port: int, servername: str | None, *, cert: Path | None = None, key: Path | None = None,
             extra: list[str] | None = None) -> subprocess.CompletedProcess:
    """One `openssl s_client` handshake (stdin empty, so it ends right after); stdout and stderr as text."""
    args = ["openssl", "s_client", "-connect", f"{HOST}:{port}"]
    args += ["-servername", servername] if servername else ["-noservername"]
    if cert:
        args += ["-cert", str(cert), "-key", str(key)]
    return subprocess.run(args + list(extra or []), input="", capture_output=True, text=True, timeout=15)


def served_subject(port: int, servername: str | None, *, cert: Path | None = None, key: Path | None = None) -> str:
    """The `subject=` line s_client prints for the server's certificate, spaces removed (e.g. `subject=CN=server`);
    s_client's whole output when there is none."""
    done = s_client(port, servername, cert=cert, key=key)
    for line in done.stdout.splitlines():
        if line.strip().startswith("subject="):
            return line.strip().replace(" ", "")
    return done.stdout + done.stderr


# --- MQTT over TLS -------------------------------------------------------------------------------------------------

def client_context(cert: Path | None, key: Path | None, *, cafile: Path | None = None,
                   verify_name: bool = False) -> ssl.SSLContext:
    """A client context presenting `cert`; it verifies the server against `cafile` when given (and its name against
    the SNI when `verify_name`), and accepts any server certificate otherwise."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile=str(cafile))
        ctx.check_hostname = verify_name
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def tls_client(port: int, *, cert: Path | None, key: Path | None, servername: str | None = None,
               cafile: Path | None = None, verify_name: bool = False, version: int = V311,
               timeout: float = TIMEOUT) -> RawClient:
    """A RawClient whose socket completed a TLS handshake (SNI `servername`, none if None) — not yet CONNECTed."""
    c = RawClient(HOST, port, version=version, timeout=timeout)
    try:
        ctx = client_context(cert, key, cafile=cafile, verify_name=verify_name)
        c.sock = ctx.wrap_socket(c.sock, server_hostname=servername)
    except BaseException:
        c.close()
        raise
    return c


def tls_round_trip(port: int, *, cert: Path, key: Path, servername: str | None = None, cafile: Path | None = None,
                   verify_name: bool = False, pub_port: int | None = None, version: int = V311) -> None:
    """A subscriber (on `port`) and a publisher (on `pub_port`, default the same) over mutual TLS do one QoS 1
    exchange; asserts every step."""
    topic = "tls/" + unique("rt")
    kw = dict(cert=cert, key=key, servername=servername, cafile=cafile, verify_name=verify_name, version=version)
    with tls_client(port, **kw) as sub, tls_client(pub_port or port, **kw) as pub:
        for c, role in ((sub, "sub"), (pub, "pub")):
            ack = c.connect(unique(role))
            assert ack.code == 0, f"{role}: CONNACK code {ack.code:#04x}"
        sa = sub.subscribe([(topic, 1)], pid=3)
        assert sa.codes == [1], f"SUBACK {sa.codes}"
        a = pub.publish(topic, b"over-tls", qos=1)
        assert a.reason in (None, 0x00), f"PUBACK reason {a.reason:#04x}"
        got = sub.recv_publish(TIMEOUT)
        assert (got.topic, got.payload) == (topic, b"over-tls")
        sub.disconnect()
        pub.disconnect()


def refusal_seen(port: int, *, cert: Path | None, key: Path | None, servername: str | None = None,
                 timeout: float = TIMEOUT) -> str:
    """Attempts a mutual-TLS connection and reports how the server ended it, without sending MQTT first (so a
    reset cannot swallow the alert): `alert <OpenSSL reason>` (during or right after the handshake — with TLS 1.3
    the server judges the client certificate after the client has finished), `closed` (EOF without an alert), or
    `open` (nothing happened for `timeout` seconds: the server accepted the client)."""
    try:
        c = tls_client(port, cert=cert, key=key, servername=servername, timeout=timeout)
    except ssl.SSLError as e:
        return f"alert {e.reason}"
    except OSError as e:
        return f"closed {e!r}"
    with c:
        c.sock.settimeout(timeout)
        try:
            data = c.sock.recv(1024)
        except ssl.SSLError as e:
            return f"alert {e.reason}"
        except (socket.timeout, TimeoutError):
            return "open"
        except OSError as e:
            return f"closed {e!r}"
        return "closed" if not data else f"data {data[:16].hex()}"


def connack_over_tls(port: int, *, cert: Path, key: Path, servername: str | None = None) -> int:
    """The CONNACK return code an MQTT 3.1.1 CONNECT gets over mutual TLS."""
    with tls_client(port, cert=cert, key=key, servername=servername) as c:
        return c.connect(unique("tls")).code


def handshaken_socket(port: int, *, cert: Path, key: Path, servername: str | None = None,
                      timeout: float = TIMEOUT) -> tuple[socket.socket, ssl.SSLObject, ssl.MemoryBIO]:
    """A TCP socket on which a mutual-TLS handshake completed through an ssl.SSLObject over memory BIOs (returned
    with the BIO it reads from), so the test can go on writing raw bytes underneath the TLS layer and still decrypt
    what the server sends."""
    sock = socket.create_connection((HOST, port), timeout=timeout)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(cert, key).wrap_bio(incoming, outgoing, server_hostname=servername)
    deadline = time.monotonic() + timeout
    try:
        for _ in range(100):  # a handshake is a few flights; the bound backs up the deadline
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            pending = outgoing.read()
            if pending:
                sock.sendall(pending)
            remaining = deadline - time.monotonic()
            assert remaining > 0, "TLS handshake did not complete in time"
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            assert chunk, "the server closed during the handshake"
            incoming.write(chunk)
        else:
            raise AssertionError("TLS handshake did not complete")
        pending = outgoing.read()  # the client's last flight (Certificate, Finished)
        if pending:
            sock.sendall(pending)
    except BaseException:
        sock.close()
        raise
    return sock, tls, incoming


def decrypted_alert(tls: ssl.SSLObject, incoming: ssl.MemoryBIO, received: bytes) -> str:
    """Feeds what the server sent after the handshake to the client's TLS state and returns the OpenSSL reason of
    the alert it ends with (`''` if it ends without one)."""
    incoming.write(received)
    incoming.write_eof()
    for _ in range(64):  # session tickets, then the alert: a handful of records
        try:
            if not tls.read(65536):
                return ""
        except ssl.SSLZeroReturnError:
            return ""
        except (ssl.SSLWantReadError, ssl.SSLEOFError):
            return ""
        except ssl.SSLError as e:
            return e.reason or str(e)
    return ""


def send_and_read_to_close(port: int, data: bytes, *, sock: socket.socket | None = None,
                           timeout: float = TIMEOUT) -> bytes:
    """Sends `data` on a new TCP connection (or on `sock`) and reads until the server closes; asserts that it does
    within `timeout`. Returns what the server sent."""
    s = sock or socket.create_connection((HOST, port), timeout=timeout)
    received = b""
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return received  # closed while we were still writing
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the server kept the connection open for {timeout}s after {len(data)} bytes"
            s.settimeout(remaining)
            try:
                chunk = s.recv(65536)
            except (socket.timeout, TimeoutError):
                continue  # the assertion above ends the loop
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk
    finally:
        s.close()


# --- /metrics --------------------------------------------------------------------------------------------------------

_REFUSAL = re.compile(r'^iot_tls_refusals_total\{([^}]*)\}\s+(\S+)')
_REASON = re.compile(r'reason="([^"]*)"')


def refusals(api_port: int) -> dict[str, int]:
    """iot_tls_refusals_total by reason, from the node's /metrics."""
    code, _, text = http_get(f"http://{HOST}:{api_port}/metrics", timeout=5)
    assert code == 200, f"/metrics answered {code}"
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _REFUSAL.match(line)
        if m:
            reason = _REASON.search(m.group(1))
            if reason:
                out[reason.group(1)] = out.get(reason.group(1), 0) + int(float(m.group(2)))
    return out


def plus(base: dict[str, int], **delta: int) -> dict[str, int]:
    """`base` (counters read earlier) with `delta` added: what wait_refusals should see after more refusals."""
    out = dict(base)
    for reason, n in delta.items():
        out[reason] = out.get(reason, 0) + n
    return out


def wait_refusals(api_port: int, expected: dict[str, int], timeout: float = TIMEOUT) -> dict[str, int]:
    """Polls /metrics until the refusal counters equal `expected` (reasons not named must be absent or zero);
    asserts they do within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {k: v for k, v in refusals(api_port).items() if v}
        if seen == {k: v for k, v in expected.items() if v}:
            return seen
        assert time.monotonic() < deadline, f"iot_tls_refusals_total: expected {expected}, /metrics says {seen}"
        time.sleep(0.05)
