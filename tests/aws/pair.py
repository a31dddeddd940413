"""In-memory pairs for the aws broker core: real `ClientSession`s joined to a real `Broker` by memory, the way
h11's ConnectionPair joins a client and a server. Every packet either side sends is recorded in an
`ExchangeLog` as "client -> broker: PUBLISH topic"; provisioning requests are answered by the real
`FleetProvisioningService` when one is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography import x509

from certs.pki import certificate_id
from emulators.aws.provisioning import FleetProvisioningService
from protocols.aws.broker import Broker, Effects
from protocols.mqtt.client_session import ClientEvent, ClientSession
from protocols.mqtt.codec import PacketDecoder
from protocols.mqtt.packets import (
    ConnAck,
    Connect,
    Packet,
    Publish,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
)
from tests.exchanges import ExchangeLog


def describe(packet: Packet) -> str:
    """One packet as a step of a vendor sequence: its type and what identifies it, no packet ids."""
    if isinstance(packet, Connect):
        return f"CONNECT {packet.client_id}"
    if isinstance(packet, ConnAck):
        return f"CONNACK {int(packet.reason_code)}"
    if isinstance(packet, Subscribe):
        return "SUBSCRIBE " + ", ".join(f"{s.topic_filter} qos{s.qos}" for s in packet.subscriptions)
    if isinstance(packet, SubAck | UnsubAck):
        return f"{type(packet).__name__.upper()} " + ", ".join(str(int(c)) for c in packet.reason_codes)
    if isinstance(packet, Unsubscribe):
        return "UNSUBSCRIBE " + ", ".join(packet.topic_filters)
    if isinstance(packet, Publish):
        return f"PUBLISH {packet.topic} qos{packet.qos}"
    return type(packet).__name__.upper()  # PINGREQ, PINGRESP, DISCONNECT, PUBACK


class Endpoint:
    """One client session and its broker connection, the bytes between them recorded under `name`."""

    def __init__(self, world: World, name: str, session: ClientSession,
                 certificate: x509.Certificate | None) -> None:
        self.world = world
        self.name = name
        self.session = session
        self.inbox: list[ClientEvent] = []
        self.closed_by_broker = False
        self._upstream = PacketDecoder(None)
        self._downstream = PacketDecoder(session.protocol_level)
        self.link, effects = world.broker.open(
            self, peer=f"memory:{name}", listener="memory", now=world.now(), certificate=certificate,
            certificate_id=certificate_id(certificate) if certificate is not None else None)
        world.pending.append(effects)

    def from_broker(self, data: bytes) -> None:
        self._downstream.receive_data(data)
        while (packet := self._downstream.next_packet()) is not None:
            self.world.log.record("broker", self.name, describe(packet))
        self.session.receive_data(data)
        while (event := self.session.next_event()) is not None:
            self.inbox.append(event)

    def to_broker(self) -> bool:
        data = self.session.data_to_send()
        if not data or self.closed_by_broker:
            return False
        self._upstream.receive_data(data)
        while (packet := self._upstream.next_packet()) is not None:
            self.world.log.record(self.name, "broker", describe(packet))
        self.world.pending.append(self.world.broker.receive_data(self.link, data, self.world.now()))
        return True

    def close(self) -> None:
        """The transport goes away (after DISCONNECT, or a broker close)."""
        self.session.connection_lost()
        self.world.pending.append(self.world.broker.connection_lost(self.link))


class World:
    """A broker core, its provisioning service and the client endpoints attached to it."""

    def __init__(self, broker: Broker[Endpoint], now: Callable[[], float],
                 service: FleetProvisioningService | None = None) -> None:
        self.broker = broker
        self.now = now
        self.service = service
        self.log = ExchangeLog()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.pending: list[Effects[Endpoint]] = []

    def connect(self, name: str, session: ClientSession, certificate: x509.Certificate | None) -> Endpoint:
        endpoint = Endpoint(self, name, session, certificate)
        session.connect()
        return endpoint

    async def settle(self, *endpoints: Endpoint) -> None:
        """Move bytes both ways, serving provisioning requests, until nobody has anything left to say."""
        while True:
            moved = False
            while self.pending:
                await self._apply(self.pending.pop(0))
                moved = True
            for endpoint in endpoints:
                moved = endpoint.to_broker() or moved
            if not moved and not self.pending:
                return

    async def _apply(self, effects: Effects[Endpoint]) -> None:
        for conn, data, close in effects.writes:
            if data:
                conn.handle.from_broker(data)
            if close:
                conn.handle.closed_by_broker = True
                conn.handle.close()
        for conn in effects.aborts:
            conn.handle.closed_by_broker = True
            conn.handle.close()
        self.events.extend(effects.events)
        for request in effects.provisioning:
            assert self.service is not None, "a provisioning request in a world without the service"
            answer = await self.service.serve(request)
            if answer.delivery.answers:
                self.pending.append(self.broker.deliver_response(request.connection, answer.topic, answer.payload,
                                                                 answer.qos))
