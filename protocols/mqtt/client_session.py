"""One MQTT 3.1.1/5 client connection as a sans-I/O state machine: what a device says to a broker.

Call `connect()`, `subscribe()`, `unsubscribe()`, `publish()`, `ping()`, `disconnect()` to queue packets
(take the bytes with `data_to_send()`); feed what the broker sent to `receive_data()` and take events one at a
time with `next_event()`. Packet ids come from one counter shared by SUBSCRIBE, UNSUBSCRIBE and QoS 1
PUBLISH and are never reused while their answer is outstanding; a QoS 1 PUBLISH from the broker is
acknowledged as it is handed out (MQTT 3.1.1 §4.3.2, MQTT 5 §4.3.2).

Invariants: state moves only along TRANSITIONS; CLOSED is final; packets may be queued right behind CONNECT,
before the CONNACK (MQTT 3.1.1 §3.1.4); bytes from the broker that MQTT does not allow raise
`MqttProtocolError` (remote) and close the session; calling a method the state does not allow raises
`ClientUsageError` (local).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.errors import LocalProtocolError
from protocols.machine import step

from .codec import PacketDecoder, encode
from .enums import ReasonCode
from .errors import MqttProtocolError
from .packets import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
)


class ClientState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"  # CONNECT sent, CONNACK awaited
    CONNECTED = "connected"
    CLOSED = "closed"


class ClientInput(enum.Enum):
    CONNECT = "connect"
    ACCEPTED = "accepted"  # CONNACK with reason 0
    REFUSED = "refused"
    SEND = "send"  # SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PINGREQ
    RECEIVE = "receive"  # any packet after the CONNACK
    CLOSE = "close"


TRANSITIONS: dict[tuple[ClientState, ClientInput], ClientState] = {
    (ClientState.IDLE, ClientInput.CONNECT): ClientState.CONNECTING,
    (ClientState.CONNECTING, ClientInput.ACCEPTED): ClientState.CONNECTED,
    (ClientState.CONNECTING, ClientInput.REFUSED): ClientState.CLOSED,
    (ClientState.CONNECTING, ClientInput.SEND): ClientState.CONNECTING,
    (ClientState.CONNECTED, ClientInput.SEND): ClientState.CONNECTED,
    (ClientState.CONNECTED, ClientInput.RECEIVE): ClientState.CONNECTED,
    (ClientState.IDLE, ClientInput.CLOSE): ClientState.CLOSED,
    (ClientState.CONNECTING, ClientInput.CLOSE): ClientState.CLOSED,
    (ClientState.CONNECTED, ClientInput.CLOSE): ClientState.CLOSED,
}


class ClientUsageError(LocalProtocolError):
    """The caller asked the client session for something its state does not allow."""


@dataclass(frozen=True)
class ConnectAnswered:
    """The CONNACK: accepted when `connack.reason_code` is 0, else the session is closed."""

    connack: ConnAck


@dataclass(frozen=True)
class SubscribeAnswered:
    packet_id: int
    reason_codes: tuple[ReasonCode, ...]


@dataclass(frozen=True)
class UnsubscribeAnswered:
    packet_id: int
    reason_codes: tuple[ReasonCode, ...]


@dataclass(frozen=True)
class PublishAnswered:
    packet_id: int
    reason_code: ReasonCode


@dataclass(frozen=True)
class MessageReceived:
    topic: str
    payload: bytes
    qos: int


@dataclass(frozen=True)
class PingAnswered:
    pass


@dataclass(frozen=True)
class ServerDisconnected:
    reason_code: ReasonCode


ClientEvent = (
    ConnectAnswered
    | SubscribeAnswered
    | UnsubscribeAnswered
    | PublishAnswered
    | MessageReceived
    | PingAnswered
    | ServerDisconnected
)


class ClientSession:
    def __init__(self, client_id: str, protocol_level: int = 4, keepalive: int = 60) -> None:
        self.client_id = client_id
        self.protocol_level = protocol_level
        self.keepalive = keepalive
        self.state = ClientState.IDLE
        self._decoder = PacketDecoder(protocol_level)
        self._out = bytearray()
        self._next_id = 1
        self.outstanding: set[int] = set()

    @property
    def closed(self) -> bool:
        return self.state is ClientState.CLOSED

    def _move(self, event: ClientInput) -> None:
        self.state = step(TRANSITIONS, self.state, event, machine="mqtt client", error=ClientUsageError)

    def _send(self, packet: Packet) -> None:
        self._out += encode(packet, self.protocol_level)

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def _allocate(self) -> int:
        while True:
            packet_id = self._next_id
            self._next_id = packet_id % 65535 + 1
            if packet_id not in self.outstanding:
                self.outstanding.add(packet_id)
                return packet_id

    # requests
    def connect(self) -> None:
        self._move(ClientInput.CONNECT)
        self._send(Connect(self.client_id, True, self.keepalive, protocol_level=self.protocol_level))

    def subscribe(self, topic_filters: Sequence[str], qos: int = 1) -> int:
        self._move(ClientInput.SEND)
        packet_id = self._allocate()
        self._send(Subscribe(packet_id, tuple(Subscription(f, qos) for f in topic_filters)))
        return packet_id

    def unsubscribe(self, topic_filters: Sequence[str]) -> int:
        self._move(ClientInput.SEND)
        packet_id = self._allocate()
        self._send(Unsubscribe(packet_id, tuple(topic_filters)))
        return packet_id

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> int | None:
        """Queue a PUBLISH; its packet id (None at QoS 0), answered by a `PublishAnswered`."""
        self._move(ClientInput.SEND)
        packet_id = self._allocate() if qos else None
        self._send(Publish(topic, payload, qos, packet_id=packet_id))
        return packet_id

    def ping(self) -> None:
        self._move(ClientInput.SEND)
        self._send(PingReq())

    def disconnect(self) -> None:
        if self.state is ClientState.CONNECTED:
            self._send(Disconnect())
        self.connection_lost()

    def connection_lost(self) -> None:
        if not self.closed:
            self._move(ClientInput.CLOSE)

    # input
    def receive_data(self, data: bytes) -> None:
        if not self.closed:
            self._decoder.receive_data(data)

    def next_event(self) -> ClientEvent | None:
        """The next thing the broker said, or None when more bytes are needed (or the session is closed)."""
        while not self.closed:
            try:
                packet = self._decoder.next_packet()
            except MqttProtocolError:
                self._move(ClientInput.CLOSE)
                raise
            if packet is None:
                return None
            event = self._handle(packet)
            if event is not None:
                return event
        return None

    def _handle(self, packet: Packet) -> ClientEvent | None:
        if isinstance(packet, ConnAck):
            if self.state is not ClientState.CONNECTING:
                self._move(ClientInput.CLOSE)
                raise MqttProtocolError(ReasonCode.PROTOCOL_ERROR, "CONNACK outside of a connect")
            self._move(ClientInput.ACCEPTED if packet.reason_code == 0 else ClientInput.REFUSED)
            return ConnectAnswered(packet)
        if self.state is not ClientState.CONNECTED:
            self._move(ClientInput.CLOSE)
            raise MqttProtocolError(ReasonCode.PROTOCOL_ERROR, f"{type(packet).__name__} before the CONNACK")
        self._move(ClientInput.RECEIVE)
        if isinstance(packet, Publish):
            if packet.qos == 1 and packet.packet_id is not None:
                self._send(PubAck(packet.packet_id))
            return MessageReceived(packet.topic, packet.payload, packet.qos)
        if isinstance(packet, SubAck):
            self.outstanding.discard(packet.packet_id)
            return SubscribeAnswered(packet.packet_id, packet.reason_codes)
        if isinstance(packet, UnsubAck):
            self.outstanding.discard(packet.packet_id)
            return UnsubscribeAnswered(packet.packet_id, packet.reason_codes)
        if isinstance(packet, PubAck):
            self.outstanding.discard(packet.packet_id)
            return PublishAnswered(packet.packet_id, packet.reason_code)
        if isinstance(packet, PingResp):
            return PingAnswered()
        if isinstance(packet, Disconnect):
            self._move(ClientInput.CLOSE)
            return ServerDisconnected(packet.reason_code)
        return None  # a packet a broker may send that this client does not use (AUTH, QoS 2 flow)
