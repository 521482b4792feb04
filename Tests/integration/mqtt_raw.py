"""A tiny raw MQTT 3.1.1/5 toolkit for the integration tests.

Builders produce exact bytes (so a test can also produce *wrong* bytes by hand), and ``RawClient`` reads
whole frames back with a bounded timeout. Nothing here retries or sleeps without a deadline.
Spec references are to MQTT 3.1.1 (OASIS 2014) and MQTT 5.0 (OASIS 2019).
"""

from __future__ import annotations

import itertools
import socket
import struct
import time
import uuid
from dataclasses import dataclass, field

# Control packet types [MQTT-2.1.2].
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

PACKET_NAMES = {
    0: "RESERVED", CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
    PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE", SUBACK: "SUBACK",
    UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ", PINGRESP: "PINGRESP",
    DISCONNECT: "DISCONNECT", AUTH: "AUTH",
}

V311, V5 = 4, 5

# MQTT 5 property identifiers and their wire types [MQTT-2.2.2.2].
BYTE, U16, U32, VARINT, UTF8, BINARY, PAIR = "byte", "u16", "u32", "varint", "utf8", "binary", "pair"
PAYLOAD_FORMAT_INDICATOR = 0x01
MESSAGE_EXPIRY_INTERVAL = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTHENTICATION_METHOD = 0x15
AUTHENTICATION_DATA = 0x16
REQUEST_PROBLEM_INFORMATION = 0x17
WILL_DELAY_INTERVAL = 0x18
REQUEST_RESPONSE_INFORMATION = 0x19
RESPONSE_INFORMATION = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A

PROPERTY_TYPES = {
    PAYLOAD_FORMAT_INDICATOR: BYTE, MESSAGE_EXPIRY_INTERVAL: U32, CONTENT_TYPE: UTF8, RESPONSE_TOPIC: UTF8,
    CORRELATION_DATA: BINARY, SUBSCRIPTION_IDENTIFIER: VARINT, SESSION_EXPIRY_INTERVAL: U32,
    ASSIGNED_CLIENT_IDENTIFIER: UTF8, SERVER_KEEP_ALIVE: U16, AUTHENTICATION_METHOD: UTF8,
    AUTHENTICATION_DATA: BINARY, REQUEST_PROBLEM_INFORMATION: BYTE, WILL_DELAY_INTERVAL: U32,
    REQUEST_RESPONSE_INFORMATION: BYTE, RESPONSE_INFORMATION: UTF8, SERVER_REFERENCE: UTF8, REASON_STRING: UTF8,
    RECEIVE_MAXIMUM: U16, TOPIC_ALIAS_MAXIMUM: U16, TOPIC_ALIAS: U16, MAXIMUM_QOS: BYTE, RETAIN_AVAILABLE: BYTE,
    USER_PROPERTY: PAIR, MAXIMUM_PACKET_SIZE: U32, WILDCARD_SUBSCRIPTION_AVAILABLE: BYTE,
    SUBSCRIPTION_IDENTIFIER_AVAILABLE: BYTE, SHARED_SUBSCRIPTION_AVAILABLE: BYTE,
}

PROPERTY_NAMES = {pid: name.title().replace("_", "") for name, pid in list(globals().items())
                  if name.isupper() and isinstance(pid, int) and pid in PROPERTY_TYPES}


def describe_properties(p: dict) -> str:
    """{0x27: 131072} → 'MaximumPacketSize=131072' (for assertion messages)."""
    return ", ".join(f"{PROPERTY_NAMES.get(k, hex(k))}={v!r}" for k, v in p.items()) or "(none)"


DEFAULT_TIMEOUT = 5.0


# ---------------------------------------------------------------------------------------------------------------
# Encoding primitives
# ---------------------------------------------------------------------------------------------------------------

def varint(n: int) -> bytes:
    """Variable Byte Integer [MQTT-1.5.5]."""
    if n < 0 or n > 268_435_455:
        raise ValueError(f"varint out of range: {n}")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s: str | bytes) -> bytes:
    """UTF-8 Encoded String: 2-byte length + bytes. Bytes are sent as given (for invalid UTF-8 tests)."""
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def binary(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


def prop(pid: int, value) -> bytes:
    """One property, encoded according to its identifier's type."""
    kind = PROPERTY_TYPES[pid]
    head = varint(pid)
    if kind == BYTE:
        return head + bytes([value])
    if kind == U16:
        return head + struct.pack("!H", value)
    if kind == U32:
        return head + struct.pack("!I", value)
    if kind == VARINT:
        return head + varint(value)
    if kind == UTF8:
        return head + utf8(value)
    if kind == BINARY:
        return head + binary(value)
    if kind == PAIR:
        k, v = value
        return head + utf8(k) + utf8(v)
    raise AssertionError(kind)


def props(*items, raw: bytes = b"") -> bytes:
    """A property block: length + properties. ``items`` are (identifier, value) pairs, in order (duplicates
    allowed, so tests can build protocol errors); ``raw`` is appended verbatim."""
    body = b"".join(prop(pid, value) for pid, value in items) + raw
    return varint(len(body)) + body


def packet(ptype: int, flags: int, body: bytes, remaining_length: bytes | None = None) -> bytes:
    """Fixed header + body. ``remaining_length`` overrides the encoded length (for malformed cases)."""
    rl = varint(len(body)) if remaining_length is None else remaining_length
    return bytes([(ptype << 4) | (flags & 0x0F)]) + rl + body


# ---------------------------------------------------------------------------------------------------------------
# Packet builders
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Will:
    topic: str | bytes
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: bytes = b"\x00"  # v5 only: a complete property block


def connect(
    version: int = V5,
    client_id: str | bytes = "",
    *,
    clean: bool = True,
    keepalive: int = 60,
    will: Will | None = None,
    username: str | bytes | None = None,
    password: bytes | None = None,
    properties: bytes | None = None,
    protocol_name: bytes | None = None,
    flags: int | None = None,
    header_flags: int = 0,
) -> bytes:
    """CONNECT [MQTT-3.1]. ``flags`` overrides the computed Connect Flags byte; ``protocol_name`` the
    "MQTT" name (e.g. b"MQIsdp" for 3.1)."""
    name = protocol_name if protocol_name is not None else b"MQTT"
    cf = 0
    if clean:
        cf |= 0x02
    if will is not None:
        cf |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    if password is not None:
        cf |= 0x40
    if username is not None:
        cf |= 0x80
    if flags is not None:
        cf = flags
    body = utf8(name) + bytes([version, cf]) + struct.pack("!H", keepalive)
    if version == V5:
        body += properties if properties is not None else b"\x00"
    body += utf8(client_id)
    if will is not None:
        if version == V5:
            body += will.properties
        body += utf8(will.topic) + binary(will.payload)
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += binary(password)
    return packet(CONNECT, header_flags, body)


def publish(
    topic: str | bytes,
    payload: bytes = b"",
    *,
    qos: int = 0,
    retain: bool = False,
    dup: bool = False,
    pid: int | None = None,
    version: int = V5,
    properties: bytes | None = None,
) -> bytes:
    """PUBLISH [MQTT-3.3]. ``pid`` defaults to 1 for QoS > 0."""
    flags = (0x08 if dup else 0) | ((qos & 3) << 1) | (0x01 if retain else 0)
    body = utf8(topic)
    if qos > 0:
        body += struct.pack("!H", 1 if pid is None else pid)
    if version == V5:
        body += properties if properties is not None else b"\x00"
    return packet(PUBLISH, flags, body + payload)


def publish_of_total_size(total: int, topic: str, *, qos: int = 1, pid: int = 1, version: int = V5) -> bytes:
    """A PUBLISH whose whole encoding (fixed header included) is exactly ``total`` bytes."""
    base = publish(topic, b"", qos=qos, pid=pid, version=version)
    payload_len = total - len(base)
    for _ in range(4):  # the remaining-length field grows with the payload; converge
        pkt = publish(topic, b"x" * payload_len, qos=qos, pid=pid, version=version)
        if len(pkt) == total:
            return pkt
        payload_len += total - len(pkt)
    raise AssertionError(f"cannot build a PUBLISH of exactly {total} bytes")


def subscribe(
    pid: int,
    filters,
    *,
    version: int = V5,
    properties: bytes | None = None,
    flags: int = 0x02,
) -> bytes:
    """SUBSCRIBE [MQTT-3.8]. ``filters``: (filter, options byte) pairs; options is the requested QoS for 3.1.1."""
    body = struct.pack("!H", pid)
    if version == V5:
        body += properties if properties is not None else b"\x00"
    for f, opts in filters:
        body += utf8(f) + bytes([opts])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(pid: int, filters, *, version: int = V5, flags: int = 0x02) -> bytes:
    body = struct.pack("!H", pid)
    if version == V5:
        body += b"\x00"
    for f in filters:
        body += utf8(f)
    return packet(UNSUBSCRIBE, flags, body)


def ack(ptype: int, pid: int, reason: int | None = None, *, flags: int | None = None) -> bytes:
    """PUBACK/PUBREC/PUBREL/PUBCOMP. PUBREL's fixed-header flags are 0b0010 [MQTT-3.6.1-1]."""
    if flags is None:
        flags = 0x02 if ptype == PUBREL else 0
    body = struct.pack("!H", pid) + (bytes([reason]) if reason is not None else b"")
    return packet(ptype, flags, body)


def pingreq(flags: int = 0) -> bytes:
    return packet(PINGREQ, flags, b"")


def disconnect(version: int = V5, reason: int = 0x00, properties: bytes | None = None) -> bytes:
    if version == V311:
        return packet(DISCONNECT, 0, b"")
    return packet(DISCONNECT, 0, bytes([reason]) + (properties if properties is not None else b"\x00"))


# ---------------------------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------------------------

class ConnectionClosed(Exception):
    """The peer closed the connection (EOF or reset)."""


class NoReply(AssertionError):
    """Nothing arrived before the deadline."""


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, mult = 0, 1
    for i in range(4):
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        value += (b & 0x7F) * mult
        if not b & 0x80:
            return value, pos
        mult *= 128
    raise ValueError("varint longer than 4 bytes")


def decode_properties(data: bytes, pos: int) -> tuple[dict, int]:
    """Returns ({id: value, USER_PROPERTY: [(k, v), ...]}, new position). Raises ValueError on bad input
    (including a duplicate property other than User Property / Subscription Identifier)."""
    length, pos = decode_varint(data, pos)
    end = pos + length
    if end > len(data):
        raise ValueError("property length beyond packet")
    out: dict = {}
    while pos < end:
        pid, pos = decode_varint(data, pos)
        kind = PROPERTY_TYPES.get(pid)
        if kind is None:
            raise ValueError(f"unknown property 0x{pid:02X}")
        if kind == BYTE:
            value, pos = data[pos], pos + 1
        elif kind == U16:
            value, pos = struct.unpack_from("!H", data, pos)[0], pos + 2
        elif kind == U32:
            value, pos = struct.unpack_from("!I", data, pos)[0], pos + 4
        elif kind == VARINT:
            value, pos = decode_varint(data, pos)
        elif kind in (UTF8, BINARY):
            n = struct.unpack_from("!H", data, pos)[0]
            raw = data[pos + 2:pos + 2 + n]
            pos += 2 + n
            value = raw.decode("utf-8") if kind == UTF8 else raw
        else:  # PAIR
            n = struct.unpack_from("!H", data, pos)[0]
            k = data[pos + 2:pos + 2 + n].decode("utf-8")
            pos += 2 + n
            n = struct.unpack_from("!H", data, pos)[0]
            v = data[pos + 2:pos + 2 + n].decode("utf-8")
            pos += 2 + n
        if pid == USER_PROPERTY:
            out.setdefault(USER_PROPERTY, []).append(value if kind != PAIR else (k, v))
        elif pid == SUBSCRIPTION_IDENTIFIER:
            out.setdefault(SUBSCRIPTION_IDENTIFIER, []).append(value)
        elif pid in out:
            raise ValueError(f"duplicate property 0x{pid:02X}")
        else:
            out[pid] = value
    if pos != end:
        raise ValueError("property block overran its length")
    return out, end


@dataclass
class Packet:
    type: int
    flags: int
    body: bytes
    version: int = V5

    @property
    def name(self) -> str:
        return PACKET_NAMES.get(self.type, f"TYPE{self.type}")

    def __repr__(self) -> str:  # short, for assertion messages
        shown = self.body[:48].hex()
        more = "…" if len(self.body) > 48 else ""
        return f"<{self.name} flags={self.flags:#x} len={len(self.body)} body={shown}{more}>"

    # --- typed views -------------------------------------------------------------------------------------------
    def connack(self) -> "ConnAck":
        assert self.type == CONNACK, f"expected CONNACK, got {self!r}"
        b = self.body
        if len(b) < 2:
            raise ValueError(f"short CONNACK {self!r}")
        properties = {}
        if self.version == V5 and len(b) > 2:
            properties, _ = decode_properties(b, 2)
        return ConnAck(session_present=bool(b[0] & 1), code=b[1], properties=properties, ack_flags=b[0],
                       raw=b)

    def suback(self) -> "SubAck":
        assert self.type == SUBACK, f"expected SUBACK, got {self!r}"
        pid = struct.unpack_from("!H", self.body, 0)[0]
        pos = 2
        properties = {}
        if self.version == V5:
            properties, pos = decode_properties(self.body, pos)
        return SubAck(pid=pid, codes=list(self.body[pos:]), properties=properties)

    def disconnect(self) -> "Disconnect":
        assert self.type == DISCONNECT, f"expected DISCONNECT, got {self!r}"
        if not self.body:
            return Disconnect(reason=0x00, properties={})
        properties = {}
        if len(self.body) > 1:
            properties, _ = decode_properties(self.body, 1)
        return Disconnect(reason=self.body[0], properties=properties)

    def ack(self) -> "Ack":
        """PUBACK / PUBREC / PUBREL / PUBCOMP / UNSUBACK(pid only)."""
        pid = struct.unpack_from("!H", self.body, 0)[0]
        reason = self.body[2] if len(self.body) > 2 else None
        return Ack(type=self.type, pid=pid, reason=reason)

    def publish(self) -> "Publish":
        assert self.type == PUBLISH, f"expected PUBLISH, got {self!r}"
        qos = (self.flags >> 1) & 3
        n = struct.unpack_from("!H", self.body, 0)[0]
        topic = self.body[2:2 + n].decode("utf-8")
        pos = 2 + n
        pid = None
        if qos:
            pid = struct.unpack_from("!H", self.body, pos)[0]
            pos += 2
        properties = {}
        if self.version == V5:
            properties, pos = decode_properties(self.body, pos)
        return Publish(topic=topic, payload=self.body[pos:], qos=qos, retain=bool(self.flags & 1),
                       dup=bool(self.flags & 8), pid=pid, properties=properties)


def parse_frame(data: bytes, version: int = V5) -> Packet:
    """Decodes one complete frame (e.g. to inspect bytes a test built itself)."""
    rlen, pos = decode_varint(data, 1)
    assert len(data) == pos + rlen, "not exactly one frame"
    return Packet(data[0] >> 4, data[0] & 0x0F, bytes(data[pos:]), version)


@dataclass
class ConnAck:
    session_present: bool
    code: int
    properties: dict
    ack_flags: int
    raw: bytes


@dataclass
class SubAck:
    pid: int
    codes: list
    properties: dict


@dataclass
class Disconnect:
    reason: int
    properties: dict


@dataclass
class Ack:
    type: int
    pid: int
    reason: int | None


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    pid: int | None
    properties: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# A raw client: exact bytes out, whole frames in, every wait bounded
# ---------------------------------------------------------------------------------------------------------------

_ids = itertools.count(1)


def unique(prefix: str = "it") -> str:
    """A short unique string for client ids and topics (tests share one broker)."""
    return f"{prefix}-{next(_ids)}-{uuid.uuid4().hex[:8]}"


class RawClient:
    def __init__(self, host: str, port: int, *, version: int = V5, timeout: float = DEFAULT_TIMEOUT):
        self.version = version
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        # PUBLISH packets that arrived while a convenience method waited for an acknowledgement (a broker may
        # deliver a client's own message before it acknowledges it); recv_publish() returns these first.
        self.inbox: list[Packet] = []

    # context manager: always close the socket
    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> bool:
        """Sends all bytes. Returns False if the peer had already closed (EPIPE/ECONNRESET): a broker may
        legitimately close while we are still writing an invalid packet."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoReply("timed out waiting for data")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise NoReply("timed out waiting for data") from None
        except (ConnectionResetError, ConnectionAbortedError):
            chunk = b""
        if not chunk:
            self.eof = True
            raise ConnectionClosed()
        self.buf += chunk

    def _frame_length(self) -> tuple[int, int] | None:
        """(header length, remaining length) if the fixed header is complete in the buffer."""
        if len(self.buf) < 2:
            return None
        value, mult = 0, 1
        for i in range(1, 5):
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            value += (b & 0x7F) * mult
            if not b & 0x80:
                return i + 1, value
            mult *= 128
        raise AssertionError(f"server sent a remaining length longer than 4 bytes: {bytes(self.buf[:5]).hex()}")

    def recv(self, timeout: float = DEFAULT_TIMEOUT) -> Packet:
        """The next whole packet. Raises ConnectionClosed on EOF/reset, NoReply on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.eof and not self.buf:
                raise ConnectionClosed()
            hdr = self._frame_length()
            if hdr is not None:
                hlen, rlen = hdr
                if len(self.buf) >= hlen + rlen:
                    first = self.buf[0]
                    body = bytes(self.buf[hlen:hlen + rlen])
                    del self.buf[:hlen + rlen]
                    return Packet(first >> 4, first & 0x0F, body, self.version)
            if self.eof:
                raise ConnectionClosed()  # a partial frame then EOF: treat as closed
            self._fill(deadline)

    def recv_skipping(self, skip: set, timeout: float = DEFAULT_TIMEOUT) -> Packet:
        """The next packet whose type is not in ``skip`` (e.g. skip PUBREC while flooding)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.recv(max(0.01, deadline - time.monotonic()))
            if p.type not in skip:
                return p

    def expect(self, ptype: int, timeout: float = DEFAULT_TIMEOUT) -> Packet:
        try:
            p = self.recv(timeout)
        except ConnectionClosed:
            raise AssertionError(f"expected {PACKET_NAMES[ptype]}, but the connection was closed") from None
        except NoReply:
            raise AssertionError(f"expected {PACKET_NAMES[ptype]}, but nothing arrived in {timeout}s") from None
        assert p.type == ptype, f"expected {PACKET_NAMES[ptype]}, got {p!r}"
        return p

    def expect_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """The connection closes with no further packet."""
        try:
            p = self.recv(timeout)
        except ConnectionClosed:
            return
        except NoReply:
            raise AssertionError(f"expected the connection to be closed, but it stayed open for {timeout}s") \
                from None
        raise AssertionError(f"expected the connection to be closed without a reply, got {p!r}")

    def expect_open(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """PINGREQ → PINGRESP, skipping nothing: proves the connection is alive and the server has nothing
        else queued for us."""
        assert self.send(pingreq()), "connection closed while sending PINGREQ"
        p = self.expect(PINGRESP, timeout)
        assert p.body == b""

    def expect_silence(self, duration: float) -> None:
        """Nothing arrives (and the connection stays open) for ``duration`` seconds."""
        try:
            p = self.recv(duration)
        except NoReply:
            return
        except ConnectionClosed:
            raise AssertionError("connection closed unexpectedly") from None
        raise AssertionError(f"expected no packet for {duration}s, got {p!r}")

    # --- conveniences ---------------------------------------------------------------------------------------------
    def connect(self, client_id: str = "", **kw) -> ConnAck:
        """Sends CONNECT and returns the CONNACK (any code)."""
        self.send(connect(self.version, client_id, **kw))
        return self.expect(CONNACK).connack()

    def subscribe(self, filters, pid: int = 1, properties: bytes | None = None) -> SubAck:
        self.send(subscribe(pid, filters, version=self.version, properties=properties))
        sa = self._expect_ack(SUBACK).suback()  # retained messages may arrive before the SUBACK is read
        assert sa.pid == pid, f"SUBACK for packet id {sa.pid}, expected {pid}"
        return sa

    def publish(self, topic, payload=b"", *, qos=0, retain=False, pid=None, properties=None) -> Ack | None:
        """Publishes and completes the QoS flow (PUBACK, or PUBREC/PUBREL/PUBCOMP)."""
        pid = pid if pid is not None else (next(_ids) % 65535) + 1
        self.send(publish(topic, payload, qos=qos, retain=retain, pid=pid, version=self.version,
                          properties=properties))
        if qos == 0:
            return None
        if qos == 1:
            a = self._expect_ack(PUBACK).ack()
            assert a.pid == pid
            return a
        rec = self._expect_ack(PUBREC).ack()
        assert rec.pid == pid
        if rec.reason is not None and rec.reason >= 0x80:
            return rec
        self.send(ack(PUBREL, pid))
        comp = self._expect_ack(PUBCOMP).ack()
        assert comp.pid == pid
        return comp

    def _expect_ack(self, ptype: int, timeout: float = DEFAULT_TIMEOUT) -> Packet:
        """Like expect(), but PUBLISH packets arriving first are kept for recv_publish()."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.expect_any(max(0.01, deadline - time.monotonic()), f"{PACKET_NAMES[ptype]}")
            if p.type == PUBLISH and ptype != PUBLISH:
                self.inbox.append(p)
                continue
            assert p.type == ptype, f"expected {PACKET_NAMES[ptype]}, got {p!r}"
            return p

    def expect_any(self, timeout: float, what: str = "a packet") -> Packet:
        try:
            return self.recv(timeout)
        except ConnectionClosed:
            raise AssertionError(f"expected {what}, but the connection was closed") from None
        except NoReply:
            raise AssertionError(f"expected {what}, but nothing arrived in {timeout:.1f}s") from None

    def recv_publish(self, timeout: float = DEFAULT_TIMEOUT, *, auto_ack: bool = True) -> Publish:
        """The next PUBLISH (acknowledging it for QoS 1/2)."""
        p = (self.inbox.pop(0) if self.inbox else self.expect(PUBLISH, timeout)).publish()
        if auto_ack and p.qos == 1:
            self.send(ack(PUBACK, p.pid))
        elif auto_ack and p.qos == 2:
            self.send(ack(PUBREC, p.pid))
            rel = self.expect(PUBREL, timeout).ack()
            assert rel.pid == p.pid
            self.send(ack(PUBCOMP, p.pid))
        return p

    def disconnect(self, reason: int = 0x00) -> None:
        self.send(disconnect(self.version, reason))
        self.close()


def connected(host: str, port: int, *, version: int = V5, client_id: str | None = None, **kw) -> RawClient:
    """A RawClient that has completed CONNECT/CONNACK with success."""
    c = RawClient(host, port, version=version)
    try:
        ca = c.connect(client_id if client_id is not None else unique("raw"), **kw)
        assert ca.code == 0, f"CONNACK code {ca.code:#04x}"
    except BaseException:
        c.close()
        raise
    c.connack = ca
    return c


def round_trip(host: str, port: int, *, version: int = V311, timeout: float = DEFAULT_TIMEOUT) -> None:
    """A fresh subscriber and a fresh publisher do one QoS 1 pub/sub exchange. Asserts on any failure;
    used after every malformed input to prove the node still serves new clients."""
    topic = "rt/" + unique("t")
    with connected(host, port, version=version) as sub, connected(host, port, version=version) as pub:
        sa = sub.subscribe([(topic, 1)], pid=7)
        assert sa.codes == [1], f"SUBACK {sa.codes}"
        a = pub.publish(topic, b"ping", qos=1)
        assert a.reason in (None, 0x00), f"PUBACK reason {a.reason:#04x}"
        got = sub.recv_publish(timeout)
        assert (got.topic, got.payload) == (topic, b"ping")
        sub.disconnect()
        pub.disconnect()
