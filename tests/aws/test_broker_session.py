"""The sans-I/O broker session: transitions, AWS quirks, keep-alive arithmetic, and a state-machine property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.aws.broker_session import (
    TRANSITIONS,
    BrokerSession,
    ClientDisconnected,
    ConnectReceived,
    KeepAliveExpired,
    ProtocolViolation,
    PubAckReceived,
    PublishReceived,
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
    PingReq,
    PingResp,
    PubAck,
    Publish,
    ReasonCode,
    Subscribe,
    Subscription,
)
from protocols.mqtt.properties import Properties


def connected(level: int = 4, keepalive: int = 60) -> BrokerSession:
    session = BrokerSession(max_packet_size=200_000)
    events = session.receive_data(encode(Connect("dev", keepalive=keepalive, protocol_level=level), level), 0.0)
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
    [event] = session.receive_data(encode(Connect("dev", keepalive=30), 4), 10.0)
    assert isinstance(event, ConnectReceived) and session.state is SessionState.CONNECTING
    session.accept_connect()
    assert decode_all(session.data_to_send(), 4) == [ConnAck(False, ReasonCode.SUCCESS)]
    assert session.receive_data(encode(PingReq(), 4), 11.0) == []
    assert decode_all(session.data_to_send(), 4) == [PingResp()]


def test_packets_before_connect_and_second_connect_are_protocol_errors() -> None:
    session = BrokerSession(max_packet_size=1000)
    session.receive_data(encode(Connect("dev"), 4), 0.0)
    [event] = session.receive_data(encode(PingReq(), 4), 0.0)
    assert isinstance(event, ProtocolViolation) and session.closed
    session = connected(5)
    [event] = session.receive_data(encode(Connect("again", protocol_level=5), 5), 0.0)
    assert isinstance(event, ProtocolViolation)
    [disconnect] = decode_all(session.data_to_send(), 5)
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == ReasonCode.PROTOCOL_ERROR


def test_refuse_connect_v311_can_send_aws_code_7() -> None:
    session = BrokerSession(max_packet_size=1000)
    session.receive_data(encode(Connect("dev"), 4), 0.0)
    session.refuse_connect(ReasonCode.NOT_AUTHORIZED, 7)
    assert session.data_to_send() == bytes((0x20, 0x02, 0x00, 0x07)) and session.closed


def test_refuse_connect_v5_sends_reason() -> None:
    session = BrokerSession(max_packet_size=1000)
    session.receive_data(encode(Connect("dev", protocol_level=5), 5), 0.0)
    session.refuse_connect(ReasonCode.NOT_AUTHORIZED)
    assert decode_all(session.data_to_send(), 5) == [ConnAck(False, ReasonCode.NOT_AUTHORIZED)]


def test_unsupported_protocol_level_gets_connack_before_close() -> None:
    session = BrokerSession(max_packet_size=1000)
    raw = bytearray(encode(Connect("dev"), 4))
    raw[8] = 6  # protocol level byte after the fixed header and "MQTT"
    [event] = session.receive_data(bytes(raw), 0.0)
    assert isinstance(event, ProtocolViolation) and session.closed
    assert session.data_to_send() == b"\x20\x03\x00\x84\x00"  # CONNACK 0x84 Unsupported Protocol Version


def test_topic_alias_is_refused() -> None:
    session = connected(5)
    [event] = session.receive_data(encode(Publish("a", b"", 0, properties=Properties(topic_alias=1)), 5), 1.0)
    assert isinstance(event, ProtocolViolation) and event.error.reason_code == ReasonCode.TOPIC_ALIAS_INVALID


def test_usage_errors_are_local() -> None:
    session = BrokerSession(max_packet_size=1000)
    with pytest.raises(SessionUsageError):
        session.accept_connect()
    with pytest.raises(SessionUsageError):
        session.ack_publish(1)


def test_outbound_qos1_window_and_packet_ids() -> None:
    session = connected()
    session.max_inflight = 2
    assert session.send_publish("t", b"1", 1) and session.send_publish("t", b"2", 1)
    assert not session.send_publish("t", b"3", 1)
    assert session.send_publish("t", b"qos0 still goes", 0)
    sent = decode_all(session.data_to_send(), 4)
    assert [p.packet_id for p in sent if isinstance(p, Publish)] == [1, 2, None]
    session.receive_data(encode(PubAck(1), 4), 1.0)
    assert session.send_publish("t", b"3", 1)
    assert [p.packet_id for p in decode_all(session.data_to_send(), 4)] == [3]  # type: ignore[attr-defined]


def test_qos_is_capped_at_one_and_client_max_packet_size_respected() -> None:
    session = BrokerSession(max_packet_size=1000)
    session.receive_data(encode(Connect("d", protocol_level=5, properties=Properties(maximum_packet_size=50)), 5), 0)
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
    assert session.keepalive_deadline() == 7.5
    assert session.check_keepalive(7.4) is None
    assert isinstance(session.check_keepalive(7.5), KeepAliveExpired) and session.closed
    [disconnect] = decode_all(session.data_to_send(), 5)
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT


def test_v5_connack_announces_adjusted_keepalive() -> None:
    session = BrokerSession(max_packet_size=1000)
    session.receive_data(encode(Connect("d", keepalive=4000, protocol_level=5), 5), 0.0)
    session.accept_connect()
    [connack] = decode_all(session.data_to_send(), 5)
    assert isinstance(connack, ConnAck) and connack.properties.server_keep_alive == 1200


def test_zero_keepalive_means_thirty_minutes_idle() -> None:
    session = connected(4, keepalive=0)
    assert session.keepalive_deadline() == 1800.0


def test_client_disconnect_closes() -> None:
    session = connected()
    [event] = session.receive_data(encode(Disconnect(), 4), 1.0)
    assert isinstance(event, ClientDisconnected) and session.closed
    assert session.receive_data(encode(PingReq(), 4), 2.0) == []


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
        events = session.receive_data(data, float(index))
        for event in events:
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
