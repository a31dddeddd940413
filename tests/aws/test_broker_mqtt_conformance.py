"""MQTT 3.1.1 and 5 conformance of the broker core, clause by clause, where AWS IoT Core follows the
specifications (AWS IoT developer guide, "AWS IoT differences from MQTT specifications", "MQTT 5 supported
features", "MQTT 5 properties"): in memory, every client allowed everything."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from protocols.aws.broker import Broker
from protocols.faults import FaultPlan
from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.packets import Connect, Packet, Publish, Subscribe, Subscription
from tests.aws.test_broker_properties import CERTIFICATE, MemoryStore, Settings


class Net:
    """Clients by name against one broker core; what each receives is kept in `inbox`."""

    def __init__(self, **settings: Any) -> None:
        self.broker: Broker[str] = Broker(MemoryStore(), Settings(**settings), FaultPlan({}))
        self.links: dict[str, Any] = {}
        self.levels: dict[str, int] = {}
        self.decoders: dict[str, PacketDecoder] = {}
        self.inbox: dict[str, list[Packet]] = defaultdict(list)
        self.closed: set[str] = set()
        self.now = 0.0

    def _apply(self, effects: Any) -> None:
        for conn, data, close in effects.writes:
            decoder = self.decoders[conn.handle]
            decoder.receive_data(data)
            self.inbox[conn.handle].extend(iter(decoder.next_packet, None))
            if close:
                self.closed.add(conn.handle)
        self.closed.update(conn.handle for conn in effects.aborts)

    def connect(self, name: str, level: int = 4, **fields: Any) -> Packet:
        link, effects = self.broker.open(name, peer=name, listener="memory", now=self.now, certificate=CERTIFICATE,
                                         certificate_id=f"cert-{name}")
        self.links[name], self.levels[name], self.decoders[name] = link, level, PacketDecoder(level)
        self._apply(effects)
        self.send(name, Connect(name, True, 60, protocol_level=level, **fields))
        return self.take(name)[0]

    def send(self, name: str, packet: Packet) -> None:
        self._apply(self.broker.receive_data(self.links[name], encode(packet, self.levels[name]), self.now))

    def lose(self, name: str) -> None:
        self._apply(self.broker.connection_lost(self.links[name]))

    def take(self, name: str) -> list[Packet]:
        packets, self.inbox[name] = self.inbox[name], []
        return packets

    def subscribe(self, name: str, *subscriptions: Subscription, packet_id: int = 1, **fields: Any) -> list[Packet]:
        self.send(name, Subscribe(packet_id, subscriptions, **fields))
        return self.take(name)

    def publishes(self, name: str) -> list[Publish]:
        return [p for p in self.take(name) if isinstance(p, Publish)]


# [MQTT-3.3.1-8]: a retained message sent because of a new subscription has RETAIN = 1;
# [MQTT-3.3.1-9]: a message forwarded to an existing subscription has RETAIN = 0 (MQTT 3.1.1 and 5)
def test_retained_message_sent_on_subscribe_has_retain_set() -> None:
    for level in (4, 5):
        net = Net()
        net.connect("pub", level)
        net.connect("old", level)
        net.subscribe("old", Subscription("t/a", 1))
        net.send("pub", Publish("t/a", b"kept", 1, True, packet_id=1))
        [live] = net.publishes("old")
        assert live.retain is False
        net.connect("new", level)
        [_suback, retained] = net.subscribe("new", Subscription("t/+", 1))
        assert isinstance(retained, Publish) and retained.retain is True and retained.payload == b"kept"
