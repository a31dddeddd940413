"""One MQTT connection as AWS IoT Core's message broker sees it: a sans-I/O state machine.

Feed received bytes to `receive_data(data, now)`, then take events one at a time with `next_event(now)` until
it returns None, deciding on each before taking the next (CONNECT, PUBLISH, SUBSCRIBE, ...): the gateway answers
through methods (`accept_connect`, `ack_publish`, `suback`, `send_publish`, ...). Bytes to write accumulate in
`data_to_send()`. Because every event is decided before the next packet is decoded, the outcome of a byte stream
does not depend on how it was split into reads: a client may pipeline SUBSCRIBE/PUBLISH right behind its CONNECT
(MQTT 3.1.1 §3.1.4), and a bad packet after a QoS 1 PUBLISH closes the session only after that PUBLISH was answered.

Invariants:
- state moves only along TRANSITIONS; CLOSED is final and absorbs every input;
- while a CONNECT awaits its decision (CONNECTING) no further packet is decoded: what follows stays buffered
  (`awaiting_decision` tells the driver to stop reading) and is served once the connection is accepted;
- CONNECT is legal only as the first packet; a second CONNECT is a protocol error;
- QoS 2 is never acknowledged (AWS answers neither PUBACK nor SUBACK for it) and never delivered;
- at most `send_window` unacknowledged QoS 1 messages go out (our `max_inflight`, lowered to the client's MQTT 5
  Receive Maximum [MQTT-3.3.4-9]); further ones wait in order and go out as PUBACKs come in, up to
  `MAX_QUEUED`; packet ids are never reused while in flight;
- a protocol violation closes the session, sending MQTT 5 DISCONNECT with the reason code first;
- one deadline bounds an idle peer in every open state but CONNECTING: a complete CONNECT within `connect_timeout`
  of the transport opening (AWAIT_CONNECT), then 1.5 keep-alive periods between packets (CONNECTED). A CONNECT
  the gateway leaves undecided (a `never_answer` fault) has no deadline: the client's own timeout ends it.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, replace

from protocols.errors import LocalProtocolError
from protocols.machine import step
from protocols.mqtt.codec import PacketDecoder, encode, encode_unsupported_version_connack
from protocols.mqtt.errors import MqttProtocolError
from protocols.mqtt.packets import (
    PROTOCOL_LEVEL_5,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    Publish,
    ReasonCode,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
    connack_return_code_311,
)
from protocols.mqtt.properties import EMPTY_PROPERTIES, Properties


class SessionState(enum.Enum):
    AWAIT_CONNECT = "await_connect"
    CONNECTING = "connecting"  # CONNECT received, gateway deciding
    CONNECTED = "connected"
    CLOSED = "closed"


class Input(enum.Enum):
    CONNECT = "connect"
    ACCEPT = "accept"
    REFUSE = "refuse"
    PACKET = "packet"  # any packet other than CONNECT
    CLOSE = "close"


TRANSITIONS: dict[tuple[SessionState, Input], SessionState] = {
    (SessionState.AWAIT_CONNECT, Input.CONNECT): SessionState.CONNECTING,
    (SessionState.CONNECTING, Input.ACCEPT): SessionState.CONNECTED,
    (SessionState.CONNECTING, Input.REFUSE): SessionState.CLOSED,
    (SessionState.CONNECTED, Input.PACKET): SessionState.CONNECTED,
    (SessionState.AWAIT_CONNECT, Input.CLOSE): SessionState.CLOSED,
    (SessionState.CONNECTING, Input.CLOSE): SessionState.CLOSED,
    (SessionState.CONNECTED, Input.CLOSE): SessionState.CLOSED,
}


class SessionUsageError(LocalProtocolError):
    """The gateway called a method the session's state does not allow (a local error)."""


@dataclass(frozen=True)
class ConnectReceived:
    packet: Connect


@dataclass(frozen=True)
class PublishReceived:
    packet: Publish


@dataclass(frozen=True)
class SubscribeReceived:
    packet: Subscribe


@dataclass(frozen=True)
class UnsubscribeReceived:
    packet: Unsubscribe


@dataclass(frozen=True)
class PubAckReceived:
    packet_id: int


@dataclass(frozen=True)
class ClientDisconnected:
    reason_code: ReasonCode


@dataclass(frozen=True)
class ProtocolViolation:
    error: MqttProtocolError


@dataclass(frozen=True)
class KeepAliveExpired:
    keepalive: int


@dataclass(frozen=True)
class ConnectTimedOut:
    """No complete CONNECT arrived within `seconds` of the transport opening."""

    seconds: float


SessionEvent = (
    ConnectReceived
    | PublishReceived
    | SubscribeReceived
    | UnsubscribeReceived
    | PubAckReceived
    | ClientDisconnected
    | ProtocolViolation
    | KeepAliveExpired
    | ConnectTimedOut
)

# What the MQTT 5 CONNACK tells a client about this server (AWS IoT developer guide, "MQTT 5 supported features",
# "MQTT 5 properties", and "AWS IoT Core message broker and protocol limits and quotas"): QoS 2 is not supported
# ("AWS IoT differences from MQTT specifications"), so Maximum QoS = 1 [MQTT-3.2.2-9]; at most 8 topic aliases
# per connection and 100 unacknowledged in-flight messages (the quotas); retained messages and wildcard
# and shared subscriptions are available; Subscription Identifiers are not (AWS IoT Core does not implement them).
MAXIMUM_QOS = 1
TOPIC_ALIAS_MAXIMUM = 8
RECEIVE_MAXIMUM = 100
SHARED_SUBSCRIPTION_AVAILABLE = 1

# QoS 1 messages waiting for the client's Receive Maximum window; beyond this a slow client loses messages rather
# than the broker growing without bound (AWS documents no queue for connected clients).
MAX_QUEUED = 1000

MAX_KEEPALIVE = 1200
IDLE_TIMEOUT_FOR_ZERO_KEEPALIVE = 30 * 60
# MQTT (3.1.1 and 5, §3.1) asks a server to close a connection with no CONNECT "within a reasonable amount of
# time"; AWS documents no figure, and 10 s leaves a constrained device on a slow link ample room.
CONNECT_TIMEOUT = 10.0


class BrokerSession:
    def __init__(self, max_packet_size: int, keepalive_min: int = 5, max_inflight: int = 100, *,
                 opened_at: float = 0.0, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self._decoder = PacketDecoder(None, max_packet_size=max_packet_size)
        self._out = bytearray()
        self.connect_deadline = opened_at + connect_timeout
        self.connect_timeout = connect_timeout
        self.state = SessionState.AWAIT_CONNECT
        self.protocol_level = 4
        self.client_id = ""
        self.keepalive_min = keepalive_min
        self.requested_keepalive = 0
        self.effective_keepalive = 0
        self.max_inflight = max_inflight
        self.client_max_packet_size: int | None = None
        self._last_received = 0.0
        self._next_packet_id = 1
        self.inflight: dict[int, Publish] = {}
        self.send_window = max_inflight
        self.queued: deque[Publish] = deque()
        self.max_packet_size = max_packet_size
        self._topic_aliases: dict[int, str] = {}

    # state machine
    def _move(self, event: Input) -> None:
        if event is Input.CLOSE and self.state is SessionState.CLOSED:
            return  # closing twice (a DISCONNECT, then the transport going away) is harmless
        self.state = step(TRANSITIONS, self.state, event, machine="broker session", error=SessionUsageError)

    @property
    def is_v5(self) -> bool:
        return self.protocol_level == PROTOCOL_LEVEL_5

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def _send(self, packet: Packet) -> None:
        self._out += encode(packet, self.protocol_level)

    @property
    def awaiting_decision(self) -> bool:
        """A CONNECT waits for accept/refuse; nothing more is decoded until then."""
        return self.state is SessionState.CONNECTING

    # input
    def receive_data(self, data: bytes, now: float) -> None:
        """Buffer bytes from the client; take the events they complete with `next_event`."""
        if self.closed:
            return
        self._last_received = now
        self._decoder.receive_data(data)

    def next_event(self, now: float) -> SessionEvent | None:
        """The next event to decide on, or None when more bytes or a CONNECT decision are needed, or closed."""
        while not self.closed and not self.awaiting_decision:
            try:
                packet = self._decoder.next_packet()
                if packet is None:
                    return None
                event = self._handle(packet, now)
            except MqttProtocolError as error:
                return self._violation(error)
            if event is not None:
                return event
        return None

    def _handle(self, packet: Packet, now: float) -> SessionEvent | None:
        if isinstance(packet, Connect):
            if self.state is not SessionState.AWAIT_CONNECT:
                raise MqttProtocolError(ReasonCode.PROTOCOL_ERROR, "second CONNECT on a connection")
            self.protocol_level = packet.protocol_level
            self.client_id = packet.client_id
            self.client_max_packet_size = packet.properties.maximum_packet_size
            self.send_window = min(self.max_inflight, packet.properties.receive_maximum or self.max_inflight)
            self.requested_keepalive = packet.keepalive
            self._move(Input.CONNECT)
            return ConnectReceived(packet)
        if self.state is not SessionState.CONNECTED:
            raise MqttProtocolError(
                ReasonCode.PROTOCOL_ERROR, f"{type(packet).__name__} before the connection was accepted"
            )
        self._move(Input.PACKET)
        if isinstance(packet, Publish):
            if packet.properties.topic_alias is not None:
                packet = self._resolve_topic_alias(packet)
            return PublishReceived(packet)
        if isinstance(packet, PubAck):
            if self.inflight.pop(packet.packet_id, None) is not None and self.queued:
                self._send_queued()
            return PubAckReceived(packet.packet_id)
        if isinstance(packet, Subscribe):
            if packet.properties.subscription_identifiers:
                # the Server Subscription Identifiers Available = 0 answer (MQTT 5 §3.2.2.3.12, §3.8.2.1.2)
                raise MqttProtocolError(ReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
                                        "subscription identifiers are not supported")
            return SubscribeReceived(packet)
        if isinstance(packet, Unsubscribe):
            return UnsubscribeReceived(packet)
        if isinstance(packet, PingReq):
            self._send(PingResp())
            return None
        if isinstance(packet, Disconnect):
            self._move(Input.CLOSE)
            return ClientDisconnected(packet.reason_code)
        raise MqttProtocolError(
            ReasonCode.PROTOCOL_ERROR, f"{type(packet).__name__} is not expected from a client"
        )

    def _resolve_topic_alias(self, packet: Publish) -> Publish:
        """A PUBLISH with a Topic Alias (MQTT 5 §3.3.2.3.4): a topic sets the alias, an empty topic uses it. The
        alias is this connection's, so the message goes on with its topic and without the alias."""
        alias = packet.properties.topic_alias
        assert alias is not None
        if alias > TOPIC_ALIAS_MAXIMUM:
            raise MqttProtocolError(ReasonCode.TOPIC_ALIAS_INVALID,
                                    f"topic alias {alias} above the maximum {TOPIC_ALIAS_MAXIMUM}")
        topic = packet.topic
        if topic:
            self._topic_aliases[alias] = topic
        else:
            known = self._topic_aliases.get(alias)
            if known is None:
                raise MqttProtocolError(ReasonCode.PROTOCOL_ERROR, f"topic alias {alias} was never set")
            topic = known
        return replace(packet, topic=topic, properties=replace(packet.properties, topic_alias=None))

    def _violation(self, error: MqttProtocolError) -> ProtocolViolation:
        if error.unsupported_protocol_level is not None and self.state is SessionState.AWAIT_CONNECT:
            self._out += encode_unsupported_version_connack(error.unsupported_protocol_level)
        elif self.is_v5 and self.state is SessionState.CONNECTED:
            self._send(Disconnect(error.reason_code, Properties(reason_string=error.message[:200])))
        self._move(Input.CLOSE)
        return ProtocolViolation(error)

    # decisions on CONNECT
    def accept_connect(self, session_present: bool = False) -> None:
        if self.state is not SessionState.CONNECTING:
            raise SessionUsageError("no CONNECT awaiting a decision")
        self._move(Input.ACCEPT)
        properties = Properties()
        requested = self.requested_keepalive
        self.effective_keepalive = effective_keepalive(requested, self.keepalive_min)
        if self.is_v5:
            properties = Properties(
                server_keep_alive=self.effective_keepalive
                if self.effective_keepalive != requested and requested != 0 else None,
                maximum_qos=MAXIMUM_QOS, retain_available=1, receive_maximum=RECEIVE_MAXIMUM,
                topic_alias_maximum=TOPIC_ALIAS_MAXIMUM, maximum_packet_size=self.max_packet_size,
                wildcard_subscription_available=1, subscription_identifier_available=0,
                shared_subscription_available=SHARED_SUBSCRIPTION_AVAILABLE)
        self._send(ConnAck(session_present, ReasonCode.SUCCESS, properties))

    def refuse_connect(self, reason: ReasonCode, v311_code: int | None = None) -> None:
        """Answer CONNACK with `reason` (MQTT 5) or `v311_code`/its 3.1.1 counterpart, then close."""
        if self.state is not SessionState.CONNECTING:
            raise SessionUsageError("no CONNECT awaiting a decision")
        if self.is_v5:
            self._send(ConnAck(False, reason))
        else:
            code = v311_code if v311_code is not None else int(connack_return_code_311(reason))
            self._out += bytes((0x20, 0x02, 0x00, code))  # raw: AWS may answer 7, outside 3.1.1's 0-5
        self._move(Input.REFUSE)

    # decisions on traffic
    def ack_publish(self, packet_id: int, reason: ReasonCode = ReasonCode.SUCCESS) -> None:
        self._require_connected()
        self._send(PubAck(packet_id, reason if self.is_v5 else ReasonCode.SUCCESS))

    def suback(self, packet_id: int, codes: list[ReasonCode]) -> None:
        self._require_connected()
        if not self.is_v5:
            codes = [
                c
                if c in (ReasonCode.GRANTED_QOS_0, ReasonCode.GRANTED_QOS_1, ReasonCode.GRANTED_QOS_2)
                else ReasonCode.UNSPECIFIED_ERROR
                for c in codes
            ]
        self._send(SubAck(packet_id, tuple(codes)))

    def unsuback(self, packet_id: int, codes: list[ReasonCode]) -> None:
        self._require_connected()
        self._send(UnsubAck(packet_id, tuple(codes) if self.is_v5 else ()))

    def send_publish(self, topic: str, payload: bytes, qos: int, retain: bool = False,
                     properties: Properties = EMPTY_PROPERTIES) -> bool:
        """Queue a PUBLISH; False when it cannot go (not connected, too large for the client, queue full).
        `retain` is set only on a retained message sent because of a new subscription [MQTT-3.3.1-8]. A QoS 1
        message beyond the client's Receive Maximum waits for a PUBACK [MQTT-3.3.4-9]. `properties` (the
        publisher's, MQTT 5 §3.3.2.3) reach MQTT 5 clients only: an MQTT 3.1.1 PUBLISH has none."""
        if self.state is not SessionState.CONNECTED:
            return False
        if not self.is_v5:
            properties = EMPTY_PROPERTIES
        if qos < 1:
            return self._write_publish(Publish(topic, payload, 0, retain, properties=properties))
        if len(self.inflight) < self.send_window:
            packet_id = self._allocate_packet_id()
            packet = Publish(topic, payload, 1, retain, False, packet_id, properties)
            if not self._write_publish(packet):
                return False
            self.inflight[packet_id] = packet
            return True
        packet = Publish(topic, payload, 1, retain, False, 1, properties)  # the id is chosen when it goes out
        if len(self.queued) >= MAX_QUEUED or not self._fits(len(encode(packet, self.protocol_level))):
            return False
        self.queued.append(packet)
        return True

    def _fits(self, size: int) -> bool:
        return self.client_max_packet_size is None or size <= self.client_max_packet_size

    def _write_publish(self, packet: Publish) -> bool:
        data = encode(packet, self.protocol_level)
        if not self._fits(len(data)):
            return False
        self._out += data
        return True

    def _send_queued(self) -> None:
        while self.queued and len(self.inflight) < self.send_window:
            packet_id = self._allocate_packet_id()
            packet = replace(self.queued.popleft(), packet_id=packet_id)
            self._out += encode(packet, self.protocol_level)
            self.inflight[packet_id] = packet

    def disconnect(self, reason: ReasonCode, message: str = "") -> None:
        """Server-initiated close: MQTT 5 gets a DISCONNECT with the reason, MQTT 3.1.1 just the close."""
        if self.closed:
            return
        if self.is_v5 and self.state is SessionState.CONNECTED:
            props = Properties(reason_string=message[:200]) if message else Properties()
            self._send(Disconnect(reason, props))
        self._move(Input.CLOSE)

    def connection_lost(self) -> None:
        self._move(Input.CLOSE)

    # idle deadlines
    def deadline(self) -> float | None:
        """When the peer will have been idle too long: the CONNECT deadline, then the keep-alive one."""
        if self.state is SessionState.AWAIT_CONNECT:
            return self.connect_deadline
        if self.state is not SessionState.CONNECTED:
            return None
        limit = (
            IDLE_TIMEOUT_FOR_ZERO_KEEPALIVE
            if self.effective_keepalive == 0
            else 1.5 * self.effective_keepalive
        )
        return self._last_received + limit

    def check_timeout(self, now: float) -> KeepAliveExpired | ConnectTimedOut | None:
        """Close the session if its deadline has passed, saying which one."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        if self.state is SessionState.AWAIT_CONNECT:
            self._move(Input.CLOSE)  # no DISCONNECT before a CONNACK (MQTT 5 §3.14): just close
            return ConnectTimedOut(self.connect_timeout)
        self.disconnect(ReasonCode.KEEP_ALIVE_TIMEOUT, "keep-alive timeout")
        return KeepAliveExpired(self.effective_keepalive)

    def _require_connected(self) -> None:
        if self.state is not SessionState.CONNECTED:
            raise SessionUsageError(f"not connected (state {self.state.value})")

    def _allocate_packet_id(self) -> int:
        while True:
            packet_id = self._next_packet_id
            self._next_packet_id = packet_id % 65535 + 1
            if packet_id not in self.inflight:
                return packet_id


def effective_keepalive(requested: int, minimum: int) -> int:
    """AWS's keep-alive rules: 0 stays 0 (30-minute idle limit), below the minimum rises, above 1200 caps."""
    if requested == 0:
        return 0
    return max(minimum, min(requested, MAX_KEEPALIVE))
