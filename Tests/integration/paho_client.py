"""A thin, bounded-wait wrapper around paho-mqtt 2.x (CallbackAPIVersion.VERSION2) for the tests.

Every wait has a timeout and fails with a message that says what did not happen. Automatic reconnects are
off: a test that is disconnected must see it, not have paho quietly reconnect (and, with a shared client id,
take the session back).
"""

from __future__ import annotations

import queue
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt_raw import unique

TIMEOUT = 10.0
V311, V5 = mqtt.MQTTv311, mqtt.MQTTv5


def publish_properties(**attrs) -> Properties:
    """Properties(PUBLISH) with attributes set, e.g. publish_properties(ContentType="text/plain")."""
    p = Properties(PacketTypes.PUBLISH)
    for k, v in attrs.items():
        setattr(p, k, v)
    return p


class PahoClient:
    def __init__(self, broker, *, version=V5, client_id: str | None = None, clean: bool = True,
                 session_expiry: int | None = None, keepalive: int = 60, will: dict | None = None,
                 transport: str = "tcp", tls: dict | None = None, ws_path: str = "/mqtt"):
        """`transport="websockets"` speaks MQTT over WebSocket at `ws_path`; `tls` is passed to `tls_set`
        (ca_certs, certfile, keyfile, …)."""
        self.host, self.port = broker.host, broker.mqtt_port
        self.version = version
        self.client_id = client_id if client_id is not None else unique("paho")
        self.clean = clean
        self.session_expiry = session_expiry
        self.keepalive = keepalive
        kwargs = dict(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                      protocol=version, reconnect_on_failure=False, transport=transport)
        if version == V311:
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(**kwargs)
        if tls is not None:
            self.c.tls_set(**tls)
        if transport == "websockets":
            self.c.ws_set_options(path=ws_path)
        if will:
            self.c.will_set(**will)
        self.messages: queue.Queue = queue.Queue()
        self._connack: queue.Queue = queue.Queue()
        self._subacks: dict[int, queue.Queue] = {}
        self._unsubacks: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.disconnected = threading.Event()
        self.disconnect_reason = None
        self.disconnect_properties = None
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_disconnect = self._on_disconnect
        self.connack_flags = None
        self.connack_reason = None
        self.connack_properties = None

    # --- callbacks (paho's network thread) ------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self._connack.put((flags, reason_code, properties))

    def _on_message(self, client, userdata, message):
        self.messages.put(message)

    def _ack_queue(self, table, mid):
        with self._lock:
            return table.setdefault(mid, queue.Queue())

    def _on_subscribe(self, client, userdata, mid, reason_code_list, properties):
        self._ack_queue(self._subacks, mid).put(reason_code_list)

    def _on_unsubscribe(self, client, userdata, mid, reason_code_list, properties):
        self._ack_queue(self._unsubacks, mid).put(reason_code_list)

    def _on_disconnect(self, client, userdata, disconnect_flags, reason_code, properties):
        self.disconnect_reason = reason_code
        self.disconnect_properties = properties
        self.disconnected.set()

    # --- operations ------------------------------------------------------------------------------------------------
    def connect(self, *, expect_success: bool = True, timeout: float = TIMEOUT):
        """Connects and waits for CONNACK. Returns (flags, reason_code, properties)."""
        kwargs = {}
        if self.version == V5:
            props = Properties(PacketTypes.CONNECT)
            if self.session_expiry is not None:
                props.SessionExpiryInterval = self.session_expiry
            kwargs = dict(clean_start=self.clean, properties=props)
        self.c.connect(self.host, self.port, keepalive=self.keepalive, **kwargs)
        self.c.loop_start()
        try:
            flags, rc, props = self._connack.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no CONNACK within {timeout}s") from None
        self.connack_flags, self.connack_reason, self.connack_properties = flags, rc, props
        if expect_success:
            assert not rc.is_failure, f"{self.client_id}: CONNACK {rc} ({int(rc.value):#04x})"
        return flags, rc, props

    def subscribe(self, topic, qos: int = 1, *, options: SubscribeOptions | None = None,
                  timeout: float = TIMEOUT) -> list[int]:
        """Subscribes one filter (or a list of (filter, qos|SubscribeOptions)) and returns the SUBACK codes."""
        if isinstance(topic, list):
            result, mid = self.c.subscribe(topic)
        elif options is not None:
            result, mid = self.c.subscribe(topic, options=options)
        else:
            result, mid = self.c.subscribe(topic, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS, f"subscribe not sent: {result}"
        try:
            codes = self._ack_queue(self._subacks, mid).get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no SUBACK for {topic!r} within {timeout}s") from None
        return [int(rc.value) for rc in codes]

    def unsubscribe(self, topic, timeout: float = TIMEOUT):
        result, mid = self.c.unsubscribe(topic)
        assert result == mqtt.MQTT_ERR_SUCCESS
        try:
            return self._ack_queue(self._unsubacks, mid).get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no UNSUBACK within {timeout}s") from None

    def publish(self, topic: str, payload=b"", qos: int = 0, retain: bool = False,
                properties: Properties | None = None, timeout: float = TIMEOUT):
        """Publishes and, for QoS 1/2, waits until the flow completes (PUBACK / PUBCOMP)."""
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout=timeout)
        assert info.is_published(), f"{self.client_id}: publish to {topic!r} (QoS {qos}) not completed in {timeout}s"
        return info

    def expect_message(self, timeout: float = TIMEOUT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no message within {timeout}s") from None

    def expect_messages(self, n: int, timeout: float = TIMEOUT) -> list:
        return [self.expect_message(timeout) for _ in range(n)]

    def expect_no_message(self, duration: float = 1.0) -> None:
        try:
            m = self.messages.get(timeout=duration)
        except queue.Empty:
            return
        raise AssertionError(f"{self.client_id}: unexpected message on {m.topic!r}: {m.payload!r}")

    def drain(self) -> list:
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def wait_disconnected(self, timeout: float = TIMEOUT):
        assert self.disconnected.wait(timeout), f"{self.client_id}: still connected after {timeout}s"
        return self.disconnect_reason

    def disconnect(self, reasoncode=None, properties=None) -> None:
        """A normal DISCONNECT, then stop the network thread."""
        if not self.disconnected.is_set():
            self.c.disconnect(reasoncode=reasoncode, properties=properties)
            self.disconnected.wait(TIMEOUT)
        self.c.loop_stop()

    def close(self) -> None:
        """Best-effort cleanup for finalizers."""
        try:
            self.disconnect()
        except Exception:
            pass
