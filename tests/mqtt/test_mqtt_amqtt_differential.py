"""Differential test against amqtt's independent MQTT 3.1.1 packet codec.

Random packets encoded by us are decoded by amqtt and compared field by field, and packets
built by amqtt are decoded by us. amqtt's codec reads from an in-memory buffer here, so its
coroutines complete without an event loop.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

amqtt_adapters = pytest.importorskip("amqtt.adapters")
from amqtt.mqtt.connack import ConnackPacket  # noqa: E402
from amqtt.mqtt.connect import ConnectPacket, ConnectPayload, ConnectVariableHeader  # noqa: E402
from amqtt.mqtt.puback import PubackPacket  # noqa: E402
from amqtt.mqtt.publish import PublishPacket  # noqa: E402
from amqtt.mqtt.suback import SubackPacket  # noqa: E402
from amqtt.mqtt.subscribe import SubscribePacket  # noqa: E402
from amqtt.mqtt.unsubscribe import UnsubscribePacket  # noqa: E402

from protocols.mqtt.codec import PacketDecoder, encode  # noqa: E402
from protocols.mqtt.packets import (  # noqa: E402
    ConnAck,
    ConnackReturnCode,
    Connect,
    Packet,
    PubAck,
    Publish,
    ReasonCode,
    SubAck,
    Subscribe,
    Subscription,
    Unsubscribe,
    Will,
)

from .strategies import mqtt_text, packet_ids, publishes, topic_filters, topic_names  # noqa: E402

T = TypeVar("T")
_settings = settings(max_examples=100, deadline=None)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (amqtt reading from a BufferReader)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("coroutine suspended")


def amqtt_decode(cls: Any, wire: bytes) -> Any:
    return run_sync(cls.from_stream(amqtt_adapters.BufferReader(wire)))


def our_decode(wire: bytes, *, from_client: bool) -> Packet:
    decoder = PacketDecoder(None if from_client else 4)
    if from_client and wire[0] >> 4 != 1:  # anything but CONNECT follows a CONNECT
        decoder.receive_data(encode(Connect("c"), 4))
        assert decoder.next_packet() is not None
    decoder.receive_data(wire)
    packet = decoder.next_packet()
    assert packet is not None and decoder.buffered == 0
    return packet


@_settings
@given(packet=publishes(4, from_client=True))
def test_publish(packet: Publish) -> None:
    theirs = amqtt_decode(PublishPacket, encode(packet, 4))
    assert (theirs.topic_name, theirs.data, theirs.qos, theirs.retain_flag, theirs.dup_flag) == (
        packet.topic,
        packet.payload,
        packet.qos,
        packet.retain,
        packet.dup,
    )
    assert theirs.packet_id == packet.packet_id
    built = PublishPacket.build(packet.topic, packet.payload, packet.packet_id, packet.dup, packet.qos, packet.retain)
    assert our_decode(built.to_bytes(), from_client=True) == packet


_clients = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=23)


@_settings
@given(
    client_id=_clients,
    clean=st.booleans(),
    keepalive=st.integers(0, 0xFFFF),
    username=st.none() | mqtt_text,
    password=st.none() | mqtt_text,
    will=st.none() | st.tuples(topic_names, st.binary(max_size=16), st.integers(0, 2), st.booleans()),
)
def test_connect(
    client_id: str,
    clean: bool,
    keepalive: int,
    username: str | None,
    password: str | None,
    will: tuple[str, bytes, int, bool] | None,
) -> None:
    if username is None:
        password = None  # MQTT 3.1.1 needs a user name for a password
    packet = Connect(
        client_id,
        clean,
        keepalive,
        username,
        password.encode() if password is not None else None,
        Will(*will) if will else None,
    )
    theirs = amqtt_decode(ConnectPacket, encode(packet, 4))
    assert (theirs.proto_name, theirs.proto_level) == ("MQTT", 4)
    assert (theirs.client_id, theirs.clean_session_flag, theirs.keep_alive) == (client_id, clean, keepalive)
    assert (theirs.username, theirs.password) == (username, password)
    assert theirs.will_flag is (will is not None)
    if will:
        assert (theirs.will_topic, theirs.will_message, theirs.will_qos, theirs.will_retain_flag) == will
    header = ConnectVariableHeader(keep_alive=keepalive, proto_name="MQTT", proto_level=4)
    header.clean_session_flag = clean
    header.username_flag = username is not None
    header.password_flag = password is not None
    header.will_flag = will is not None
    if will:
        header.will_qos, header.will_retain_flag = will[2], will[3]
    body = ConnectPayload(client_id, will[0] if will else None, will[1] if will else None, username, password)
    built = ConnectPacket(variable_header=header, payload=body)
    assert our_decode(built.to_bytes(), from_client=True) == packet


@_settings
@given(pid=packet_ids, filters=st.lists(st.tuples(topic_filters, st.integers(0, 2)), min_size=1, max_size=5))
def test_subscribe_and_suback(pid: int, filters: list[tuple[str, int]]) -> None:
    packet = Subscribe(pid, tuple(Subscription(f, q) for f, q in filters))
    theirs = amqtt_decode(SubscribePacket, encode(packet, 4))
    assert theirs.variable_header.packet_id == pid
    assert theirs.payload.topics == filters
    assert our_decode(SubscribePacket.build(filters, pid).to_bytes(), from_client=True) == packet

    codes = [q if i % 2 else 0x80 for i, (_, q) in enumerate(filters)]
    suback = SubAck(pid, tuple(ReasonCode(c) for c in codes))
    assert amqtt_decode(SubackPacket, encode(suback, 4)).payload.return_codes == codes
    assert our_decode(SubackPacket.build(pid, codes).to_bytes(), from_client=False) == suback


@_settings
@given(pid=packet_ids, filters=st.lists(topic_filters, min_size=1, max_size=5))
def test_unsubscribe(pid: int, filters: list[str]) -> None:
    packet = Unsubscribe(pid, tuple(filters))
    theirs = amqtt_decode(UnsubscribePacket, encode(packet, 4))
    assert (theirs.variable_header.packet_id, theirs.payload.topics) == (pid, filters)
    assert our_decode(UnsubscribePacket.build(filters, pid).to_bytes(), from_client=True) == packet


@pytest.mark.parametrize("code", list(ConnackReturnCode))
@pytest.mark.parametrize("session_present", [False, True])
def test_connack(code: ConnackReturnCode, session_present: bool) -> None:
    session_present = session_present and code == ConnackReturnCode.ACCEPTED
    packet = ConnAck(session_present, code)
    theirs = amqtt_decode(ConnackPacket, encode(packet, 4))
    assert (bool(theirs.session_parent), theirs.return_code) == (session_present, code)
    assert our_decode(ConnackPacket.build(int(session_present), int(code)).to_bytes(), from_client=False) == packet


@_settings
@given(pid=packet_ids)
def test_puback(pid: int) -> None:
    assert amqtt_decode(PubackPacket, encode(PubAck(pid), 4)).packet_id == pid
    assert our_decode(PubackPacket.build(pid).to_bytes(), from_client=True) == PubAck(pid)
