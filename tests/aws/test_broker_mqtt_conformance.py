"""MQTT 3.1.1 and 5 conformance of the broker core, clause by clause, where AWS IoT Core follows the
specifications (AWS IoT developer guide, "AWS IoT differences from MQTT specifications", "MQTT 5 supported
features", "MQTT 5 properties"): in memory, every client allowed everything."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from protocols.aws.broker import Broker
from protocols.faults import FaultPlan
from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.enums import RetainHandling
from protocols.mqtt.packets import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PubAck,
    Publish,
    ReasonCode,
    Subscribe,
    Subscription,
    Unsubscribe,
    Will,
)
from protocols.mqtt.properties import Properties
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
        self.send(name, Connect(name, fields.pop("clean_start", True), 60, protocol_level=level, **fields))
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


# MQTT 5 §3.2.2.3: the CONNACK properties AWS IoT Core sends ("MQTT 5 properties"); Maximum QoS 1 [MQTT-3.2.2-9]
def test_mqtt5_connack_says_what_the_broker_offers() -> None:
    net = Net()
    connack = net.connect("c5", 5)
    assert isinstance(connack, ConnAck) and connack.reason_code == ReasonCode.SUCCESS
    props = connack.properties
    assert (props.maximum_qos, props.retain_available, props.wildcard_subscription_available) == (1, 1, 1)
    assert (props.topic_alias_maximum, props.receive_maximum) == (8, 100)
    assert props.subscription_identifier_available == 0 and props.shared_subscription_available == 1
    assert props.maximum_packet_size is not None and props.maximum_packet_size > 128 * 1024
    assert props.server_keep_alive is None  # 60 s is within AWS's range
    assert net.connect("c4", 4) == ConnAck(False, ReasonCode.SUCCESS)


def test_topic_alias_0_and_above_the_maximum_get_0x94() -> None:
    for alias in (0, 9):
        net = Net()
        net.connect("c", 5)
        raw = bytearray(encode(Publish("t/a", b"x", 0, properties=Properties(topic_alias=1)), 5))
        raw[-2] = alias  # the alias' low byte, just before the one-byte payload
        net._apply(net.broker.receive_data(net.links["c"], bytes(raw), 0.0))
        [disconnect] = net.take("c")
        assert isinstance(disconnect, Disconnect) and disconnect.reason_code == ReasonCode.TOPIC_ALIAS_INVALID
        assert "c" in net.closed


def test_topic_alias_routes_under_its_topic() -> None:
    net = Net()
    net.connect("sub", 5)
    net.subscribe("sub", Subscription("t/a", 0))
    net.connect("pub", 5)
    net.send("pub", Publish("t/a", b"1", 0, properties=Properties(topic_alias=3)))
    net.send("pub", Publish("", b"2", 0, properties=Properties(topic_alias=3)))
    received = net.publishes("sub")
    assert [(p.topic, p.payload, p.properties.topic_alias) for p in received] == [("t/a", b"1", None),
                                                                                  ("t/a", b"2", None)]


# MQTT 5 §3.8.2.1.2: a Subscription Identifier when the server said Subscription Identifiers Available = 0
def test_subscribe_with_a_subscription_identifier_gets_disconnect_0xa1() -> None:
    net = Net()
    net.connect("c", 5)
    [disconnect] = net.subscribe("c", Subscription("t/a", 1), properties=Properties(subscription_identifiers=(7,)))
    assert isinstance(disconnect, Disconnect)
    assert disconnect.reason_code == ReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED and "c" in net.closed


# [MQTT-3.3.4-9]: no more than the client's Receive Maximum unacknowledged QoS 1 PUBLISHes; the rest wait in order
def test_client_receive_maximum_is_honoured() -> None:
    net = Net()
    net.connect("sub", 5, properties=Properties(receive_maximum=2))
    net.subscribe("sub", Subscription("t/a", 1))
    net.connect("pub", 4)
    for n in range(1, 5):
        net.send("pub", Publish("t/a", b"%d" % n, 1, packet_id=n))
    first = net.publishes("sub")
    assert [p.payload for p in first] == [b"1", b"2"]
    net.send("sub", PubAck(first[0].packet_id or 0))
    [third] = net.publishes("sub")
    assert third.payload == b"3" and third.packet_id not in (first[1].packet_id, None)
    net.send("sub", PubAck(first[1].packet_id or 0))
    net.send("sub", PubAck(third.packet_id or 0))
    assert [p.payload for p in net.publishes("sub")] == [b"4"]


MESSAGE_PROPERTIES = Properties(payload_format_indicator=1, content_type="application/json", response_topic="t/reply",
                                correlation_data=b"\x00id", user_properties=(("k", "v"), ("k", "v2")))


# MQTT 5 §3.3.2.3: the publisher's properties reach MQTT 5 subscribers unchanged [MQTT-3.3.2-4/15/16/17/18/20];
# AWS IoT Core delivers across versions ("MQTT", cross MQTT version communication): 3.1.1 gets the bare message
def test_message_properties_pass_through_and_across_versions() -> None:
    net = Net()
    net.connect("sub5", 5)
    net.subscribe("sub5", Subscription("t/#", 1))
    net.connect("sub3", 4)
    net.subscribe("sub3", Subscription("t/#", 1))
    net.connect("pub5", 5)
    net.connect("pub3", 4)
    net.send("pub5", Publish("t/a", b"{}", 1, packet_id=1, properties=MESSAGE_PROPERTIES))
    [to5] = net.publishes("sub5")
    [to3] = net.publishes("sub3")
    assert to5.properties == MESSAGE_PROPERTIES and to5.payload == b"{}"
    assert to3.payload == b"{}" and not to3.properties
    net.send("pub3", Publish("t/b", b"plain", 1, packet_id=1))
    [from3] = net.publishes("sub5")
    assert (from3.topic, from3.payload, from3.qos) == ("t/b", b"plain", 1) and not from3.properties


def test_retained_message_keeps_its_properties_and_expires() -> None:
    net = Net()
    net.connect("pub", 5)
    net.send("pub", Publish("t/kept", b"k", 0, True, properties=MESSAGE_PROPERTIES))
    net.send("pub", Publish("t/brief", b"b", 0, True, properties=Properties(message_expiry_interval=10)))
    net.now = 4.0
    net.connect("early", 5)
    retained = {p.topic: p for p in net.subscribe("early", Subscription("t/+", 0)) if isinstance(p, Publish)}
    assert retained["t/kept"].properties == MESSAGE_PROPERTIES and retained["t/kept"].retain
    assert retained["t/brief"].properties.message_expiry_interval == 6  # what remains [MQTT-3.3.2-6]
    net.now = 10.0
    net.connect("late", 5)
    late = [p.topic for p in net.subscribe("late", Subscription("t/+", 0)) if isinstance(p, Publish)]
    assert late == ["t/kept"]  # expired, never sent [MQTT-3.3.2-5]


# MQTT 5 §3.1.3.2: the will's properties go with the will message; [MQTT-3.1.3-10] its User Properties too
def test_will_message_carries_its_properties() -> None:
    net = Net()
    net.connect("sub", 5)
    net.subscribe("sub", Subscription("t/will", 1))
    net.connect("dies", 5, will=Will("t/will", b"gone", 1, properties=MESSAGE_PROPERTIES))
    net.lose("dies")
    [will] = net.publishes("sub")
    assert (will.payload, will.properties) == (b"gone", MESSAGE_PROPERTIES)


# Overlapping subscriptions: one copy per matching filter, each at its own subscription's QoS (MQTT 5 §3.3.4,
# [MQTT-3.3.4-2], [MQTT-3.3.5-1]); AWS IoT Core documents that a message may be delivered more than once
def test_overlapping_subscriptions_get_a_copy_each_at_their_own_qos() -> None:
    for level in (4, 5):
        net = Net()
        net.connect("sub", level)
        net.subscribe("sub", Subscription("t/#", 0), Subscription("t/a", 1))
        net.connect("pub", level)
        net.send("pub", Publish("t/a", b"x", 1, packet_id=1))
        assert sorted(p.qos for p in net.publishes("sub")) == [0, 1]


# MQTT 5 §3.8.3.1 subscription options [MQTT-3.8.3-3]
def test_no_local_keeps_a_clients_own_messages_from_it() -> None:
    net = Net()
    net.connect("me", 5)
    net.subscribe("me", Subscription("t/a", 1, no_local=True))
    net.connect("other", 5)
    net.subscribe("other", Subscription("t/a", 1))
    net.send("me", Publish("t/a", b"mine", 1, packet_id=1))
    assert [p for p in net.take("me") if isinstance(p, Publish)] == []
    assert [p.payload for p in net.publishes("other")] == [b"mine"]


def test_retain_as_published_keeps_the_retain_flag_on_forwarded_messages() -> None:
    net = Net()
    net.connect("rap", 5)
    net.subscribe("rap", Subscription("t/a", 0, retain_as_published=True))
    net.connect("plain", 5)
    net.subscribe("plain", Subscription("t/a", 0))
    net.connect("pub", 5)
    net.send("pub", Publish("t/a", b"r", 0, True))
    [kept] = net.publishes("rap")
    [cleared] = net.publishes("plain")
    assert (kept.retain, cleared.retain) == (True, False)


def test_retain_handling_decides_when_retained_messages_are_sent() -> None:
    net = Net()
    net.connect("pub", 5)
    net.send("pub", Publish("t/a", b"r", 0, True))
    net.connect("sub", 5)

    def retained_for(handling: RetainHandling, packet_id: int) -> list[bytes]:
        answers = net.subscribe("sub", Subscription("t/a", 0, retain_handling=handling), packet_id=packet_id)
        return [p.payload for p in answers if isinstance(p, Publish)]

    assert retained_for(RetainHandling.DO_NOT_SEND, 1) == []
    net.send("sub", Unsubscribe(2, ("t/a",)))
    net.take("sub")
    assert retained_for(RetainHandling.SEND_IF_NEW_SUBSCRIPTION, 3) == [b"r"]
    assert retained_for(RetainHandling.SEND_IF_NEW_SUBSCRIPTION, 4) == []  # not new any more
    assert retained_for(RetainHandling.SEND_ON_SUBSCRIBE, 5) == [b"r"]


# AWS IoT Core: "does not send a PUBACK or SUBACK when QoS 2 is requested" ("AWS IoT differences from MQTT
# specifications"); for a SUBSCRIBE mixing QoS 2 with QoS 0/1 filters AWS documents nothing more, so the whole
# SUBSCRIBE goes unanswered and subscribes nothing
def test_a_subscribe_with_one_qos2_filter_is_not_answered_and_subscribes_nothing() -> None:
    for level in (4, 5):
        net = Net()
        net.connect("sub", level)
        assert net.subscribe("sub", Subscription("t/a", 1), Subscription("t/b", 2)) == []
        net.connect("pub", level)
        net.send("pub", Publish("t/a", b"x", 0))
        assert net.publishes("sub") == [] and "sub" not in net.closed


# Shared subscriptions (MQTT 5 §4.8.2; AWS: "MQTT 5 supported features", for MQTT 3.1.1 clients too): each message
# goes to one member of the group; ordinary subscribers still get every message; no retained messages on subscribe
def test_shared_subscription_gives_each_message_to_one_member_across_versions() -> None:
    net = Net()
    net.connect("pub", 5)
    net.send("pub", Publish("t/a", b"old", 0, True))
    net.connect("m3", 4)
    net.connect("m5", 5)
    net.connect("all", 5)
    for name in ("m3", "m5"):
        [suback] = net.subscribe(name, Subscription("$share/g/t/+", 1))
        assert not any(isinstance(p, Publish) for p in [suback])
    net.subscribe("all", Subscription("t/a", 0), Subscription("$share/solo/t/a", 0))
    net.take("all")
    for n in range(4):
        net.send("pub", Publish("t/a", b"%d" % n, 1, packet_id=n + 1))
    got3, got5 = [p.payload for p in net.publishes("m3")], [p.payload for p in net.publishes("m5")]
    assert sorted(got3 + got5) == [b"0", b"1", b"2", b"3"] and len(got3) == len(got5) == 2
    assert sorted(p.payload for p in net.publishes("all")) == sorted([b"0", b"1", b"2", b"3"] * 2)
    net.send("m3", Unsubscribe(9, ("$share/g/t/+",)))
    net.take("m3")
    net.send("pub", Publish("t/a", b"4", 0))
    assert net.publishes("m3") == [] and [p.payload for p in net.publishes("m5")] == [b"4"]


# Will Delay Interval (MQTT 5 §3.1.3.2.2; AWS: "MQTT 5 supported features"): the will waits for the delay or the end
# of the session, whichever is sooner; a new connection to the session within the delay cancels it [MQTT-3.1.3-9]
def test_will_delay() -> None:
    def setup(delay: int, session_expiry: int) -> Net:
        net = Net()
        net.connect("sub", 5)
        net.subscribe("sub", Subscription("t/will", 0))
        net.connect("dev", 5, clean_start=False, properties=Properties(session_expiry_interval=session_expiry),
                    will=Will("t/will", b"gone", 0, properties=Properties(will_delay_interval=delay)))
        net.lose("dev")
        return net

    net = setup(5, 60)
    assert net.publishes("sub") == []
    net._apply(net.broker.publish_due_wills(4.9))
    assert net.publishes("sub") == []
    net._apply(net.broker.publish_due_wills(5.0))
    [will] = net.publishes("sub")
    assert will.payload == b"gone" and will.properties.will_delay_interval is None

    net = setup(30, 0)  # the session ends with the connection: the will goes at once
    assert [p.payload for p in net.publishes("sub")] == [b"gone"]

    net = setup(5, 60)
    net.connect("dev", 5, clean_start=False)
    net._apply(net.broker.publish_due_wills(10.0))
    assert net.publishes("sub") == []


# MQTT 5 §3.14.2.1: DISCONNECT with reason 0x04 publishes the will [MQTT-3.14.4-3]
def test_disconnect_with_will_message_publishes_the_will() -> None:
    net = Net()
    net.connect("sub", 5)
    net.subscribe("sub", Subscription("t/will", 0))
    net.connect("dev", 5, will=Will("t/will", b"bye", 0))
    net.send("dev", Disconnect(ReasonCode.DISCONNECT_WITH_WILL_MESSAGE))
    net.lose("dev")
    assert [p.payload for p in net.publishes("sub")] == [b"bye"]
