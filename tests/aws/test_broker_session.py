"""The sans-I/O broker session: transitions, AWS quirks, keep-alive arithmetic, and a state-machine property."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.aws.broker_session import (
    TRANSITIONS,
    BrokerSession,
    ClientDisconnected,
    ConnectReceived,
    ConnectTimedOut,
    KeepAliveExpired,
    ProtocolViolation,
    PubAckReceived,
    PublishReceived,
    SessionEvent,
    SessionState,
    SessionUsageError,
    SubscribeReceived,
    effective_keepalive,
)
from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.packets import (
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
    Subscription,
)
from protocols.mqtt.properties import Properties


def feed(session: BrokerSession, data: bytes, now: float) -> list[SessionEvent]:
    """Buffer `data` and take every event it completes (without deciding on a CONNECT)."""
    session.receive_data(data, now)
    events = []
    while (event := session.next_event(now)) is not None:
        events.append(event)
    return events


def connected(level: int = 4, keepalive: int = 60) -> BrokerSession:
    session = BrokerSession(max_packet_size=200_000)
    events = feed(session, encode(Connect("dev", keepalive=keepalive, protocol_level=level), level), 0.0)
    assert isinstance(events[0], ConnectReceived)
    session.accept_connect()
    session.data_to_send()
    return session


def decode_all(data: bytes, level: int) -> list[object]:
    decoder = PacketDecoder(level)
    decoder.receive_data(data)
    out = []
    while (packet := decoder.next_packet()) is not None:
        out.append(packet)
    return out


def test_connect_accept_and_ping() -> None:
    session = BrokerSession(max_packet_size=1000)
    [event] = feed(session, encode(Connect("dev", keepalive=30), 4), 10.0)
    assert isinstance(event, ConnectReceived) and session.state is SessionState.CONNECTING
    session.accept_connect()
    assert decode_all(session.data_to_send(), 4) == [ConnAck(False, ReasonCode.SUCCESS)]
    assert feed(session, encode(PingReq(), 4), 11.0) == []
    assert decode_all(session.data_to_send(), 4) == [PingResp()]


def test_packets_before_connect_and_second_connect_are_protocol_errors() -> None:
    session = BrokerSession(max_packet_size=1000)
    [event] = feed(session, encode(PingReq(), 4), 0.0)
    assert isinstance(event, ProtocolViolation) and session.closed
    session = connected(5)
    [event] = feed(session, encode(Connect("again", protocol_level=5), 5), 0.0)
    assert isinstance(event, ProtocolViolation)
    [disconnect] = decode_all(session.data_to_send(), 5)
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == ReasonCode.PROTOCOL_ERROR


def test_packets_pipelined_behind_connect_wait_for_the_decision() -> None:
    """MQTT 3.1.1 §3.1.4: a client may send more packets right after CONNECT, before the CONNACK (paho does)."""
    session = BrokerSession(max_packet_size=1000)
    wire = encode(Connect("dev"), 4) + encode(Subscribe(1, (Subscription("t/#", 1),)), 4) + encode(PingReq(), 4)
    [event] = feed(session, wire, 0.0)
    assert isinstance(event, ConnectReceived) and session.awaiting_decision
    assert feed(session, b"", 0.0) == [] and session.data_to_send() == b""
    session.accept_connect()
    subscribe = session.next_event(0.0)
    assert isinstance(subscribe, SubscribeReceived)
    session.suback(1, [ReasonCode.GRANTED_QOS_1])
    assert feed(session, b"", 0.0) == []
    assert [type(p) for p in decode_all(session.data_to_send(), 4)] == [ConnAck, SubAck, PingResp]


def test_a_refused_connect_discards_what_was_pipelined_behind_it() -> None:
    session = BrokerSession(max_packet_size=1000)
    feed(session, encode(Connect("dev"), 4) + encode(PingReq(), 4), 0.0)
    session.refuse_connect(ReasonCode.NOT_AUTHORIZED)
    assert feed(session, encode(PingReq(), 4), 0.0) == []
    assert session.data_to_send() == bytes((0x20, 0x02, 0x00, 0x05)) and session.closed


def test_a_qos1_publish_is_acknowledged_before_a_following_bad_packet_closes() -> None:
    session = connected(5)
    wire = encode(Publish("t", b"x", 1, packet_id=7), 5) + b"\xf0\x00"  # 0xF0: AUTH with reserved flags
    [publish] = feed(session, wire[: len(wire) - 2], 1.0)
    session.receive_data(wire[len(wire) - 2 :], 1.0)
    assert isinstance(publish, PublishReceived)
    session.ack_publish(7)
    violation = session.next_event(1.0)
    assert isinstance(violation, ProtocolViolation) and session.closed
    packets = decode_all(session.data_to_send(), 5)
    assert isinstance(packets[0], PubAck) and packets[0].packet_id == 7 and isinstance(packets[1], Disconnect)


def test_refuse_connect_v311_can_send_aws_code_7() -> None:
    session = BrokerSession(max_packet_size=1000)
    feed(session, encode(Connect("dev"), 4), 0.0)
    session.refuse_connect(ReasonCode.NOT_AUTHORIZED, 7)
    assert session.data_to_send() == bytes((0x20, 0x02, 0x00, 0x07)) and session.closed


def test_refuse_connect_v5_sends_reason() -> None:
    session = BrokerSession(max_packet_size=1000)
    feed(session, encode(Connect("dev", protocol_level=5), 5), 0.0)
    session.refuse_connect(ReasonCode.NOT_AUTHORIZED)
    assert decode_all(session.data_to_send(), 5) == [ConnAck(False, ReasonCode.NOT_AUTHORIZED)]


def test_unsupported_protocol_level_gets_connack_before_close() -> None:
    session = BrokerSession(max_packet_size=1000)
    raw = bytearray(encode(Connect("dev"), 4))
    raw[8] = 6  # protocol level byte after the fixed header and "MQTT"
    [event] = feed(session, bytes(raw), 0.0)
    assert isinstance(event, ProtocolViolation) and session.closed
    assert session.data_to_send() == b"\x20\x03\x00\x84\x00"  # CONNACK 0x84 Unsupported Protocol Version


def test_topic_alias_above_the_maximum_is_refused() -> None:
    session = connected(5)
    [event] = feed(session, encode(Publish("a", b"", 0, properties=Properties(topic_alias=9)), 5), 1.0)
    assert isinstance(event, ProtocolViolation) and event.error.reason_code == ReasonCode.TOPIC_ALIAS_INVALID


def test_topic_alias_set_then_used_and_never_forwarded() -> None:
    session = connected(5)
    [first] = feed(session, encode(Publish("a/b", b"1", 0, properties=Properties(topic_alias=8)), 5), 1.0)
    [second] = feed(session, encode(Publish("", b"2", 0, properties=Properties(topic_alias=8)), 5), 1.0)
    assert isinstance(first, PublishReceived) and isinstance(second, PublishReceived)
    assert (first.packet.topic, second.packet.topic) == ("a/b", "a/b")
    assert first.packet.properties.topic_alias is None and second.packet.properties.topic_alias is None
    [unknown] = feed(session, encode(Publish("", b"3", 0, properties=Properties(topic_alias=2)), 5), 1.0)
    assert isinstance(unknown, ProtocolViolation) and unknown.error.reason_code == ReasonCode.PROTOCOL_ERROR


def test_usage_errors_are_local() -> None:
    session = BrokerSession(max_packet_size=1000)
    with pytest.raises(SessionUsageError):
        session.accept_connect()
    with pytest.raises(SessionUsageError):
        session.ack_publish(1)


def test_outbound_qos1_window_queues_and_packet_ids() -> None:
    session = connected()
    session.send_window = 2
    assert session.send_publish("t", b"1", 1) and session.send_publish("t", b"2", 1)
    assert session.send_publish("t", b"3", 1)  # waits for a PUBACK
    assert session.send_publish("t", b"qos0 still goes", 0)
    sent = decode_all(session.data_to_send(), 4)
    assert [(p.packet_id, p.payload) for p in sent if isinstance(p, Publish)] == [(1, b"1"), (2, b"2"),
                                                                                  (None, b"qos0 still goes")]
    feed(session, encode(PubAck(1), 4), 1.0)
    [third] = decode_all(session.data_to_send(), 4)
    assert isinstance(third, Publish) and (third.packet_id, third.payload) == (3, b"3")
    feed(session, encode(PubAck(1), 4), 1.0)  # a PUBACK for no message in flight releases nothing
    assert session.data_to_send() == b""


def test_client_receive_maximum_lowers_the_window() -> None:
    session = BrokerSession(max_packet_size=1000)
    feed(session, encode(Connect("d", protocol_level=5, properties=Properties(receive_maximum=3)), 5), 0)
    assert session.send_window == 3


def test_qos_is_capped_at_one_and_client_max_packet_size_respected() -> None:
    session = BrokerSession(max_packet_size=1000)
    feed(session, encode(Connect("d", protocol_level=5, properties=Properties(maximum_packet_size=50)), 5), 0)
    session.accept_connect()
    session.data_to_send()
    assert not session.send_publish("t", b"x" * 100, 1)
    assert session.send_publish("t", b"x", 2)
    [publish] = decode_all(session.data_to_send(), 5)
    assert isinstance(publish, Publish) and publish.qos == 1


def test_keepalive_rules_and_expiry() -> None:
    assert effective_keepalive(0, 5) == 0
    assert effective_keepalive(1, 5) == 5
    assert effective_keepalive(3000, 5) == 1200
    session = connected(5, keepalive=2)
    assert session.effective_keepalive == 5
    assert session.deadline() == 7.5
    assert session.check_timeout(7.4) is None
    assert isinstance(session.check_timeout(7.5), KeepAliveExpired) and session.closed
    [disconnect] = decode_all(session.data_to_send(), 5)
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT


def test_no_complete_connect_within_the_connect_timeout_closes_without_a_word() -> None:
    """MQTT §3.1: a server closes a connection that sends no CONNECT within a reasonable time. Bytes of a CONNECT
    that never completes (a slow sender) do not move the deadline; nothing is written before a CONNACK."""
    session = BrokerSession(max_packet_size=1000, opened_at=100.0, connect_timeout=10.0)
    assert session.deadline() == 110.0
    connect = encode(Connect("slow", protocol_level=5), 5)
    assert feed(session, connect[:3], 109.0) == []
    assert session.check_timeout(109.9) is None
    assert session.check_timeout(110.0) == ConnectTimedOut(10.0) and session.closed
    assert session.data_to_send() == b"" and session.deadline() is None


def test_a_connect_in_time_ends_the_connect_deadline() -> None:
    session = BrokerSession(max_packet_size=1000, opened_at=0.0, connect_timeout=10.0)
    feed(session, encode(Connect("dev", keepalive=0), 4), 9.0)
    assert session.deadline() is None  # undecided (a never_answer fault): the client's own timeout ends it
    assert session.check_timeout(1000.0) is None
    session.accept_connect()
    assert session.deadline() == 9.0 + 1800


def test_v5_connack_announces_adjusted_keepalive() -> None:
    session = BrokerSession(max_packet_size=1000)
    feed(session, encode(Connect("d", keepalive=4000, protocol_level=5), 5), 0.0)
    session.accept_connect()
    [connack] = decode_all(session.data_to_send(), 5)
    assert isinstance(connack, ConnAck) and connack.properties.server_keep_alive == 1200


def test_zero_keepalive_means_thirty_minutes_idle() -> None:
    session = connected(4, keepalive=0)
    assert session.deadline() == 1800.0


def test_client_disconnect_closes() -> None:
    session = connected()
    [event] = feed(session, encode(Disconnect(), 4), 1.0)
    assert isinstance(event, ClientDisconnected) and session.closed
    assert feed(session, encode(PingReq(), 4), 2.0) == []


# A property over (state x input): whatever a client sends, the session only moves along the table,
# only ever reports the typed events, and once closed stays closed and silent.

client_packets = st.sampled_from([
    Connect("a"), PingReq(), Publish("t/1", b"x", 1, packet_id=1), Publish("t/2", b"", 0),
    Subscribe(2, (Subscription("t/#", 1),)), PubAck(9), Disconnect(),
])
chunks = st.lists(st.one_of(client_packets.map(lambda p: encode(p, 4)), st.binary(max_size=8)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(chunks, st.lists(st.booleans(), min_size=12, max_size=12))
def test_session_moves_only_along_the_table(inputs: list[bytes], accept: list[bool]) -> None:
    session = BrokerSession(max_packet_size=1000)
    allowed_targets = {target for target in TRANSITIONS.values()} | {SessionState.AWAIT_CONNECT}
    for index, data in enumerate(inputs):
        before = session.state
        session.receive_data(data, float(index))
        events = []
        while (event := session.next_event(float(index))) is not None:
            events.append(event)
            assert isinstance(event, ConnectReceived | PublishReceived | SubscribeReceived | ClientDisconnected
                              | ProtocolViolation | PubAckReceived)
            if isinstance(event, ConnectReceived):
                if accept[index]:
                    session.accept_connect()
                else:
                    session.refuse_connect(ReasonCode.NOT_AUTHORIZED)
        assert session.state in allowed_targets
        if before is SessionState.CLOSED:
            assert session.state is SessionState.CLOSED and events == []
        session.data_to_send()


# The outcome of a valid packet stream does not depend on how it is split into reads (MQTT 3.1.1 §3.1.4 lets a
# client pipeline packets behind CONNECT), and no input makes the session raise: only ProtocolViolation.

valid_after_connect: st.SearchStrategy[list[Packet]] = st.lists(st.sampled_from([
    PingReq(), Publish("t/1", b"x", 1, packet_id=1), Publish("t/2", b"", 0), Subscribe(2, (Subscription("t/#", 1),)),
    PubAck(9),
]), max_size=8)


def _serve(session: BrokerSession, pieces: list[bytes]) -> tuple[list[str], bytes]:
    """Feed `pieces` one read at a time, deciding on each event as a gateway would; what happened and was sent."""
    seen: list[str] = []
    sent = b""
    for piece in pieces:
        session.receive_data(piece, 0.0)
        while (event := session.next_event(0.0)) is not None:
            seen.append(type(event).__name__)
            if isinstance(event, ConnectReceived):
                session.accept_connect()
            elif isinstance(event, PublishReceived) and event.packet.qos == 1 and event.packet.packet_id:
                session.ack_publish(event.packet.packet_id)
            elif isinstance(event, SubscribeReceived):
                session.suback(event.packet.packet_id, [ReasonCode.GRANTED_QOS_1])
        sent += session.data_to_send()
    return seen, sent


@settings(max_examples=200, deadline=None)
@given(valid_after_connect, st.sampled_from([4, 5]), st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_outcome_does_not_depend_on_how_the_stream_is_split(packets: list[Packet], level: int,
                                                            cuts: list[int]) -> None:
    wire = encode(Connect("dev", protocol_level=level), level) + b"".join(encode(p, level) for p in packets)
    edges = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    split = [wire[a:b] for a, b in itertools.pairwise(edges)]
    whole = _serve(BrokerSession(max_packet_size=1000), [wire])
    assert _serve(BrokerSession(max_packet_size=1000), split) == whole
    assert _serve(BrokerSession(max_packet_size=1000), [bytes([b]) for b in wire]) == whole


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([4, 5]))
def test_any_bytes_after_connect_only_end_in_a_protocol_violation(garbage: bytes, level: int) -> None:
    session = BrokerSession(max_packet_size=1000)
    seen, _ = _serve(session, [encode(Connect("dev", protocol_level=level), level) + garbage])
    assert seen[0] == "ConnectReceived"
    assert set(seen) <= {"ConnectReceived", "PublishReceived", "SubscribeReceived", "UnsubscribeReceived",
                         "PubAckReceived", "ClientDisconnected", "ProtocolViolation"}
