"""Interop: paho-mqtt (MQTT 3.1.1 and 5) talks to a loopback listener that uses only our codec.

The listener decodes every byte paho sends and answers with our encoder, so paho's own decoder
checks our CONNACK, SUBACK, PUBACK, UNSUBACK and PUBLISH (with properties) along the way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

paho_client = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties as PahoProperties  # noqa: E402
from paho.mqtt.reasoncodes import ReasonCode as PahoReasonCode  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

from protocols.mqtt.codec import PacketDecoder, encode  # noqa: E402
from protocols.mqtt.packets import (  # noqa: E402
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    Publish,
    ReasonCode,
    RetainHandling,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from protocols.mqtt.properties import Properties  # noqa: E402

pytestmark = pytest.mark.slow
WAIT = 10.0

SERVER_PUBLISH_PROPS = Properties(
    payload_format_indicator=1,
    message_expiry_interval=30,
    content_type="application/json",
    response_topic="test/reply",
    correlation_data=b"\x00cd",
    subscription_identifiers=(42,),
    user_properties=(("srv", "x"), ("srv", "y")),
)


class CaptureServer:
    """Loopback MQTT peer built on PacketDecoder/encode; records every packet it decodes."""

    def __init__(self) -> None:
        self.received: list[Packet] = []
        self.changed = asyncio.Condition()
        self.errors: list[BaseException] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = PacketDecoder()
        try:
            while data := await reader.read(65536):
                decoder.receive_data(data)
                while (packet := decoder.next_packet()) is not None:
                    level = decoder.protocol_level
                    assert level is not None
                    for reply in self.replies(packet, level):
                        writer.write(encode(reply, level))
                    async with self.changed:
                        self.received.append(packet)
                        self.changed.notify_all()
                await writer.drain()
        except Exception as exc:  # surfaced by the test, never swallowed
            self.errors.append(exc)
            async with self.changed:
                self.changed.notify_all()
        finally:
            writer.close()

    @staticmethod
    def replies(packet: Packet, level: int) -> list[Packet]:
        v5 = level == 5
        if isinstance(packet, Connect):
            props = Properties(receive_maximum=10, maximum_qos=1, user_properties=(("srv", "1"),))
            return [ConnAck(False, ReasonCode.SUCCESS, props if v5 else Properties())]
        if isinstance(packet, Subscribe):
            return [SubAck(packet.packet_id, tuple(ReasonCode(s.qos) for s in packet.subscriptions))]
        if isinstance(packet, Publish):
            out: list[Packet] = []
            if packet.qos == 1:
                assert packet.packet_id is not None
                out.append(PubAck(packet.packet_id))
            if packet.topic == "test/echo":
                props = SERVER_PUBLISH_PROPS if v5 else Properties()
                out.append(Publish("test/a", b"from server", 1, packet_id=1, properties=props))
            return out
        if isinstance(packet, Unsubscribe):
            codes = tuple(ReasonCode.SUCCESS for _ in packet.topic_filters) if v5 else ()
            return [UnsubAck(packet.packet_id, codes)]
        if isinstance(packet, PingReq):
            return [PingResp()]
        return []

    async def wait_for(self, predicate: Callable[[list[Packet]], bool]) -> None:
        async def _wait() -> None:
            async with self.changed:
                await self.changed.wait_for(lambda: bool(self.errors) or predicate(self.received))

        await asyncio.wait_for(_wait(), WAIT)
        if self.errors:
            raise self.errors[0]


def _paho_props(packet_type: int, **values: Any) -> Any:
    props = PahoProperties(packet_type)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(props, name, value)
    return props


def _packet_id(packet: Packet) -> int:
    assert isinstance(packet, Subscribe | Publish | Unsubscribe) and packet.packet_id is not None
    return packet.packet_id


async def _wait_event(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT)


@pytest.mark.parametrize("level", [4, 5])
async def test_paho_session_decodes_and_our_replies_satisfy_paho(level: int) -> None:
    server = CaptureServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    v5 = level == 5
    client_id = f"provemu-paho-{level}"
    client = paho_client.Client(
        paho_client.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho_client.MQTTv5 if v5 else paho_client.MQTTv311,
    )
    events = {name: threading.Event() for name in ("connect", "subscribe", "publish", "message", "unsubscribe")}
    seen: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        seen["connack"] = (reason_code.value, flags.session_present, properties)
        events["connect"].set()

    def on_subscribe(_c: Any, _u: Any, mid: int, reason_codes: Any, _p: Any) -> None:
        seen["suback"] = [rc.value for rc in reason_codes]
        events["subscribe"].set()

    def on_publish(_c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        seen.setdefault("published", []).append(mid)
        if len(seen["published"]) == 2:
            events["publish"].set()

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        seen["message"] = message
        events["message"].set()

    def on_unsubscribe(_c: Any, _u: Any, mid: int, reason_codes: Any, _p: Any) -> None:
        seen["unsuback"] = [rc.value for rc in reason_codes]
        events["unsubscribe"].set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_publish = on_publish
    client.on_message = on_message
    client.on_unsubscribe = on_unsubscribe
    client.username_pw_set("?SDK=paho", "secret")
    will_props = _paho_props(PacketTypes.WILLMESSAGE, WillDelayInterval=5, ContentType="text/plain") if v5 else None
    client.will_set("test/will", b"gone", qos=1, retain=True, properties=will_props)

    connect_props = None
    if v5:
        connect_props = _paho_props(
            PacketTypes.CONNECT, SessionExpiryInterval=300, ReceiveMaximum=20, UserProperty=("device", "paho")
        )
    try:
        if v5:
            client.connect_async("127.0.0.1", port, keepalive=30, clean_start=True, properties=connect_props)
        else:
            client.connect_async("127.0.0.1", port, keepalive=30)
        client.loop_start()
        await _wait_event(events["connect"])

        if v5:
            sub_props = _paho_props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=42, UserProperty=("s", "1"))
            client.subscribe(
                [
                    ("test/a", SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True, retainHandling=2)),
                    ("test/+/b", SubscribeOptions(qos=0)),
                ],
                properties=sub_props,
            )
        else:
            client.subscribe([("test/a", 1), ("test/+/b", 0)])
        await _wait_event(events["subscribe"])

        q0_props = q1_props = None
        if v5:
            q0_props = _paho_props(
                PacketTypes.PUBLISH, PayloadFormatIndicator=1, ContentType="text/plain", UserProperty=("k", "v")
            )
            q1_props = _paho_props(
                PacketTypes.PUBLISH, ResponseTopic="test/resp", CorrelationData=b"\x01\x02", MessageExpiryInterval=60
            )
        client.publish("test/q0", b"zero", qos=0, properties=q0_props)
        client.publish("test/echo", b"one", qos=1, properties=q1_props)
        await _wait_event(events["publish"])
        await _wait_event(events["message"])
        await server.wait_for(lambda pkts: any(isinstance(p, PubAck) for p in pkts))

        unsub_props = _paho_props(PacketTypes.UNSUBSCRIBE, UserProperty=("u", "1")) if v5 else None
        client.unsubscribe(["test/a", "test/+/b"], properties=unsub_props)
        await _wait_event(events["unsubscribe"])

        if v5:
            client.disconnect(
                reasoncode=PahoReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"),
                properties=_paho_props(PacketTypes.DISCONNECT, SessionExpiryInterval=0),
            )
        else:
            client.disconnect()
        await server.wait_for(lambda pkts: any(isinstance(p, Disconnect) for p in pkts))
    finally:
        client.loop_stop()
        listener.close()
        await listener.wait_closed()

    # What paho made of our encoder's packets.
    assert seen["connack"][0] == 0 and seen["connack"][1] is False
    if v5:
        assert seen["connack"][2].ReceiveMaximum == 10
        assert seen["connack"][2].UserProperty == [("srv", "1")]
    assert seen["suback"] == [1, 0]
    assert seen["unsuback"] == ([0, 0] if v5 else [])
    message = seen["message"]
    assert (message.topic, message.payload, message.qos) == ("test/a", b"from server", 1)
    if v5:
        props = message.properties
        assert props.ContentType == "application/json"
        assert props.PayloadFormatIndicator == 1
        assert props.MessageExpiryInterval == 30
        assert props.ResponseTopic == "test/reply"
        assert props.CorrelationData == b"\x00cd"
        assert props.SubscriptionIdentifier == [42]
        assert props.UserProperty == [("srv", "x"), ("srv", "y")]

    # What we made of paho's bytes.
    packets = [p for p in server.received if not isinstance(p, PingReq)]
    sub_pid, pub_pid, unsub_pid = (_packet_id(packets[i]) for i in (1, 3, 5))
    if v5:
        expected: list[Packet] = [
            Connect(
                client_id,
                True,
                30,
                "?SDK=paho",
                b"secret",
                Will("test/will", b"gone", 1, True, Properties(content_type="text/plain", will_delay_interval=5)),
                Properties(session_expiry_interval=300, receive_maximum=20, user_properties=(("device", "paho"),)),
                5,
            ),
            Subscribe(
                sub_pid,
                (
                    Subscription("test/a", 1, True, True, RetainHandling.DO_NOT_SEND),
                    Subscription("test/+/b", 0),
                ),
                Properties(subscription_identifiers=(42,), user_properties=(("s", "1"),)),
            ),
            Publish(
                "test/q0",
                b"zero",
                properties=Properties(
                    payload_format_indicator=1, content_type="text/plain", user_properties=(("k", "v"),)
                ),
            ),
            Publish(
                "test/echo",
                b"one",
                1,
                packet_id=pub_pid,
                properties=Properties(
                    message_expiry_interval=60, response_topic="test/resp", correlation_data=b"\x01\x02"
                ),
            ),
            PubAck(1),
            Unsubscribe(unsub_pid, ("test/a", "test/+/b"), Properties(user_properties=(("u", "1"),))),
            Disconnect(ReasonCode.DISCONNECT_WITH_WILL_MESSAGE, Properties(session_expiry_interval=0)),
        ]
    else:
        expected = [
            Connect(client_id, True, 30, "?SDK=paho", b"secret", Will("test/will", b"gone", 1, True)),
            Subscribe(sub_pid, (Subscription("test/a", 1), Subscription("test/+/b", 0))),
            Publish("test/q0", b"zero"),
            Publish("test/echo", b"one", 1, packet_id=pub_pid),
            PubAck(1),
            Unsubscribe(unsub_pid, ("test/a", "test/+/b")),
            Disconnect(),
        ]
    for got, want in zip(packets, expected, strict=True):
        assert got == want
