"""Byte vectors: OASIS specification examples, hand-built packets and every decoder rejection rule."""

from __future__ import annotations

import pytest

from protocols.mqtt.codec import MAX_PACKET_SIZE, PacketDecoder, encode, encode_unsupported_version_connack
from protocols.mqtt.enums import ConnackReturnCode, ReasonCode, RetainHandling
from protocols.mqtt.errors import MqttProtocolError, MqttUsageError
from protocols.mqtt.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    Publish,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from protocols.mqtt.properties import Properties
from protocols.mqtt.wire import encode_varint, read_varint

CONNECT4 = encode(Connect("c"), 4)
CONNECT5 = encode(Connect("c", protocol_level=5), 5)


def decode_one(data: bytes, level: int | None) -> Packet:
    decoder = PacketDecoder(level)
    decoder.receive_data(data)
    packet = decoder.next_packet()
    assert packet is not None
    assert decoder.next_packet() is None
    return packet


def server_decode(level: int, data: bytes) -> list[Packet]:
    """Decode client bytes after a CONNECT of `level`; returns the packets after the CONNECT."""
    decoder = PacketDecoder()
    decoder.receive_data((CONNECT4 if level == 4 else CONNECT5) + data)
    packets = []
    while (packet := decoder.next_packet()) is not None:
        packets.append(packet)
    return packets[1:]


def protocol_error(level: int | None, data: bytes) -> MqttProtocolError:
    """The error decoding `data` raises (client bytes after a CONNECT when level is given)."""
    decoder = PacketDecoder()
    if level is not None:
        decoder.receive_data(CONNECT4 if level == 4 else CONNECT5)
        assert decoder.next_packet() is not None
    decoder.receive_data(data)
    with pytest.raises(MqttProtocolError) as exc:
        while decoder.next_packet() is not None:
            pass
    return exc.value


def client_error(level: int, data: bytes) -> MqttProtocolError:
    decoder = PacketDecoder(level)
    decoder.receive_data(data)
    with pytest.raises(MqttProtocolError) as exc:
        while decoder.next_packet() is not None:
            pass
    return exc.value


# --- Remaining length (MQTT 3.1.1 table 2.4 / MQTT 5 table 1-1) --------------------------------

VARINTS = [
    (0, "00"),
    (127, "7f"),
    (128, "8001"),
    (16383, "ff7f"),
    (16384, "808001"),
    (2097151, "ffff7f"),
    (2097152, "80808001"),
    (268435455, "ffffff7f"),
]


@pytest.mark.parametrize(("value", "hex_bytes"), VARINTS)
def test_variable_byte_integer_vectors(value: int, hex_bytes: str) -> None:
    raw = bytes.fromhex(hex_bytes)
    assert encode_varint(value) == raw
    assert read_varint(raw, 0, len(raw)) == (value, len(raw))


@pytest.mark.parametrize(("value", "hex_bytes"), VARINTS)
def test_remaining_length_in_a_publish_header(value: int, hex_bytes: str) -> None:
    header = b"\x30" + bytes.fromhex(hex_bytes)
    if value <= 2097152:
        # Build a real QoS 0 PUBLISH of exactly this remaining length (topic "t" = 3 bytes).
        payload = b"x" * max(value - 3, 0)
        if value >= 3:
            wire = encode(Publish("t", payload), 4)
            assert wire.startswith(header)
            assert len(wire) == len(header) + value
            assert server_decode(4, wire) == [Publish("t", payload)]
    decoder = PacketDecoder(4)
    decoder.receive_data(header)
    if value == 0:
        # A complete PUBLISH without even a topic length.
        with pytest.raises(MqttProtocolError):
            decoder.next_packet()
    else:
        # The header alone: the decoder waits for the body without failing.
        assert decoder.next_packet() is None


def test_varint_too_long_or_not_minimal() -> None:
    assert client_error(4, bytes.fromhex("30ffffffff01")).reason_code == ReasonCode.MALFORMED_PACKET
    assert client_error(4, bytes.fromhex("308000")).reason_code == ReasonCode.MALFORMED_PACKET
    with pytest.raises(MqttProtocolError):
        read_varint(bytes.fromhex("ffffffff7f"), 0, 5)
    with pytest.raises(MqttUsageError):
        encode_varint(268435456)


def test_oversize_packet_rejected_from_header_before_body() -> None:
    decoder = PacketDecoder(5, max_packet_size=1024)
    decoder.receive_data(bytes.fromhex("30ffffff7f") + b"\x00\x01t")  # 256 MB announced
    with pytest.raises(MqttProtocolError) as exc:
        decoder.next_packet()
    assert exc.value.reason_code == ReasonCode.PACKET_TOO_LARGE
    assert decoder.buffered == 8  # only what was received; nothing awaited or allocated
    # Exactly max_packet_size total is fine.
    fits = encode(Publish("t", b"x" * (1024 - 3 - 3)), 4)
    assert len(fits) == 1024
    ok = PacketDecoder(4, max_packet_size=1024)
    ok.receive_data(fits)
    assert ok.next_packet() == Publish("t", b"x" * 1018)
    too_big = PacketDecoder(4, max_packet_size=1023)
    too_big.receive_data(fits[:3])
    with pytest.raises(MqttProtocolError):
        too_big.next_packet()
    assert MAX_PACKET_SIZE == 268435455 + 5


# --- Specification examples ------------------------------------------------------------------


def test_pingreq_pingresp_disconnect_bytes() -> None:
    assert encode(PingReq(), 4) == bytes.fromhex("c000")
    assert encode(PingResp(), 5) == bytes.fromhex("d000")
    assert encode(Disconnect(), 4) == bytes.fromhex("e000")
    assert encode(Disconnect(), 5) == bytes.fromhex("e000")
    assert server_decode(4, bytes.fromhex("c000e000")) == [PingReq(), Disconnect()]
    assert decode_one(bytes.fromhex("d000"), 4) == PingResp()


def test_connect_variable_header_example_311() -> None:
    # MQTT 3.1.1 section 3.1.2.10, figure 3.6: flags 0xCE = user name, password, Will QoS 1,
    # Will flag, Clean Session; keep alive 10.
    packet = Connect("", keepalive=10, username="u", password=b"p", will=Will("w", b"", 1))
    wire = encode(packet, 4)
    assert wire[2:12] == bytes.fromhex("00044d51545404ce000a")
    assert decode_one(wire, None) == packet


def test_connect_variable_header_example_5() -> None:
    # MQTT 5 section 3.1.2.11, figure 3-7: ... 05 CE 00 0A, properties length 5, Session Expiry 10.
    packet = Connect(
        "",
        keepalive=10,
        username="u",
        password=b"p",
        will=Will("w", b"", 1),
        properties=Properties(session_expiry_interval=10),
        protocol_level=5,
    )
    wire = encode(packet, 5)
    assert wire[2:18] == bytes.fromhex("00044d51545405ce000a05110000000a")
    assert decode_one(wire, None) == packet


def test_publish_variable_header_example() -> None:
    # MQTT 3.1.1 section 3.3.2.3: topic "a/b", packet identifier 10.
    wire = encode(Publish("a/b", b"", 1, packet_id=10), 4)
    assert wire == bytes.fromhex("32070003612f62000a")
    # MQTT 5 adds a zero property length.
    assert encode(Publish("a/b", b"", 1, packet_id=10), 5) == bytes.fromhex("32080003612f62000a00")


def test_utf8_string_example() -> None:
    # MQTT 3.1.1 section 1.5.3, figure 1.3: "A\u2a6d4" -> 00 05 41 F0 AA 9B 94.
    topic = "A\U0002a6d4"
    wire = encode(Publish(topic), 4)
    assert wire == bytes.fromhex("3007000541f0aa9b94")
    assert server_decode(4, wire) == [Publish(topic)]


def test_connack_return_codes_311_and_5() -> None:
    assert encode(ConnAck(True), 4) == bytes.fromhex("20020100")
    assert encode(ConnAck(reason_code=ConnackReturnCode.NOT_AUTHORIZED), 4) == bytes.fromhex("20020005")
    # An MQTT 5 reason code is sent as its closest 3.1.1 return code.
    assert encode(ConnAck(reason_code=ReasonCode.NOT_AUTHORIZED), 4) == bytes.fromhex("20020005")
    assert encode(ConnAck(reason_code=ReasonCode.BANNED), 4) == bytes.fromhex("20020005")
    assert encode(ConnAck(reason_code=ReasonCode.SERVER_BUSY), 4) == bytes.fromhex("20020003")
    assert encode(ConnAck(reason_code=ReasonCode.NOT_AUTHORIZED), 5) == bytes.fromhex("2003008700")
    assert decode_one(bytes.fromhex("20020005"), 4) == ConnAck(reason_code=ConnackReturnCode.NOT_AUTHORIZED)
    # A v5 client tolerates a CONNACK without property length.
    assert decode_one(bytes.fromhex("20020100"), 5) == ConnAck(True)


def test_unsupported_version_connack_bytes() -> None:
    assert encode_unsupported_version_connack(3) == bytes.fromhex("20020001")
    assert encode_unsupported_version_connack(6) == bytes.fromhex("2003008400")


def test_suback_311_maps_errors_to_failure() -> None:
    packet = SubAck(1, (ReasonCode.GRANTED_QOS_1, ReasonCode.NOT_AUTHORIZED))
    assert encode(packet, 4) == bytes.fromhex("900400010180")
    assert encode(packet, 5) == bytes.fromhex("90050001000187")
    assert decode_one(bytes.fromhex("900400010180"), 4) == SubAck(
        1, (ReasonCode.GRANTED_QOS_1, ReasonCode.UNSPECIFIED_ERROR)
    )


def test_ack_shortened_forms_5() -> None:
    assert encode(PubAck(5), 5) == bytes.fromhex("40020005")
    assert encode(PubAck(5, ReasonCode.NO_MATCHING_SUBSCRIBERS), 5) == bytes.fromhex("4003000510")
    assert encode(PubRel(5), 5) == bytes.fromhex("62020005")
    for wire in ("40020005", "4003000500", "400400050000"):
        assert decode_one(bytes.fromhex(wire), 5) == PubAck(5)
    assert encode(Disconnect(ReasonCode.SESSION_TAKEN_OVER), 5) == bytes.fromhex("e0018e")
    assert decode_one(bytes.fromhex("e0018e"), 5) == Disconnect(ReasonCode.SESSION_TAKEN_OVER)
    assert decode_one(bytes.fromhex("f000"), 5) == Auth()


def test_subscribe_options_byte() -> None:
    sub = Subscription("a", qos=2, no_local=True, retain_as_published=True, retain_handling=RetainHandling.DO_NOT_SEND)
    wire = encode(Subscribe(7, (sub,)), 5)
    assert wire == bytes.fromhex("82070007000001612e")
    assert server_decode(5, wire) == [Subscribe(7, (sub,))]


def test_properties_encoding_and_repeats() -> None:
    props = Properties(
        user_properties=(("a", "1"), ("a", "2")),
        subscription_identifiers=(1, 300),
        content_type="j",
        message_expiry_interval=5,
    )
    wire = encode(Publish("t", b"", properties=props), 5)
    assert wire == bytes.fromhex("30200001741c02000000050300016a0b010bac022600016100013126000161000132")
    assert decode_one(wire, 5) == Publish("t", b"", properties=props)


# --- Decoder rejections -----------------------------------------------------------------------

MALFORMED = ReasonCode.MALFORMED_PACKET
PROTOCOL = ReasonCode.PROTOCOL_ERROR


@pytest.mark.parametrize(
    ("level", "hex_bytes", "reason"),
    [
        (4, "60020001", MALFORMED),  # PUBREL flags 0000
        (4, "8006000100016100", MALFORMED),  # SUBSCRIBE flags 0000
        (4, "a0050001000161", MALFORMED),  # UNSUBSCRIBE flags 0000
        (4, "c100", MALFORMED),  # PINGREQ flags 0001
        (4, "36050001610001", MALFORMED),  # PUBLISH QoS 3
        (4, "3803000161", MALFORMED),  # DUP at QoS 0
        (4, "32050001610000", PROTOCOL),  # PUBLISH packet id 0
        (4, "40020000", PROTOCOL),  # PUBACK packet id 0
        (4, "82020001", PROTOCOL),  # SUBSCRIBE without filters
        (5, "8203000100", PROTOCOL),  # SUBSCRIBE (v5) without filters
        (4, "a2020001", PROTOCOL),  # UNSUBSCRIBE without filters
        (4, "8206000100016103", MALFORMED),  # SUBSCRIBE QoS 3
        (4, "8206000100016104", MALFORMED),  # 3.1.1 reserved option bits
        (5, "820700010000016140", MALFORMED),  # v5 reserved option bits
        (5, "820700010000016130", PROTOCOL),  # retain handling 3
        (5, "8210000100000a" + b"$share/a/b".hex() + "04", PROTOCOL),  # No Local on $share/a/b
        (4, "30050003ed a080".replace(" ", ""), MALFORMED),  # UTF-16 surrogate in UTF-8
        (4, "3005000361c0af", MALFORMED),  # overlong encoding
        (4, "300400026100", MALFORMED),  # U+0000
        (4, "3003000123", ReasonCode.TOPIC_NAME_INVALID),  # wildcard in topic name
        (4, "30020000", PROTOCOL),  # empty topic name
        (5, "3003000000", PROTOCOL),  # empty topic, no alias
        (4, "c00100", MALFORMED),  # PINGREQ with a body
        (4, "e00100", MALFORMED),  # 3.1.1 DISCONNECT with a body
        (4, "4003000100", MALFORMED),  # 3.1.1 PUBACK with a reason code
        (4, "f000", MALFORMED),  # AUTH does not exist in 3.1.1
        (4, "0000", MALFORMED),  # packet type 0
        (4, "20020000", PROTOCOL),  # CONNACK sent by a client
        (4, "9003000100", PROTOCOL),  # SUBACK sent by a client
        (4, "d000", PROTOCOL),  # PINGRESP sent by a client
        (4, CONNECT4.hex(), PROTOCOL),  # second CONNECT
        (5, "3006000174052300", MALFORMED),  # property length runs past the packet
        (5, "300a00017406230001230001", PROTOCOL),  # Topic Alias twice
        (5, "300700017403230000", ReasonCode.TOPIC_ALIAS_INVALID),  # Topic Alias 0 [MQTT-3.3.2-8]
        (5, "3006000174020102", PROTOCOL),  # Payload Format Indicator 2
        (5, "3005000174017f", MALFORMED),  # unknown property 0x7F
        (5, "3006000174028101", MALFORMED),  # non-minimal property identifier
        (5, "3009000174051100000001", MALFORMED),  # Session Expiry not allowed in PUBLISH
        (5, "3006000174020b05", PROTOCOL),  # Subscription Identifier from a client
        (5, "820b0001040b010b0200016100", PROTOCOL),  # 2 Subscription Identifiers
        (5, "82090001020b0000016100", PROTOCOL),  # Subscription Identifier 0
        (5, "400300018e", MALFORMED),  # SESSION_TAKEN_OVER is not a PUBACK code
        (5, "4003000103", MALFORMED),  # unknown reason code
        (5, "e00101", MALFORMED),  # DISCONNECT reason 0x01 not valid
        (5, "e0020001", MALFORMED),  # property length missing bytes
    ],
)
def test_client_stream_rejections(level: int, hex_bytes: str, reason: ReasonCode) -> None:
    assert protocol_error(level, bytes.fromhex(hex_bytes)).reason_code == reason


def test_subscription_identifier_in_subscribe_is_a_tuple() -> None:
    wire = bytes.fromhex("82090001020b2a00016101")
    props = Properties(subscription_identifiers=(42,))
    assert server_decode(5, wire) == [Subscribe(1, (Subscription("a", 1),), props)]
    assert encode(Subscribe(1, (Subscription("a", 1),), props), 5) == wire
    with pytest.raises(MqttUsageError):
        encode(Subscribe(1, (Subscription("a", 1),), Properties(subscription_identifiers=(1, 2))), 5)


def test_properties_truthiness_and_hash() -> None:
    assert not Properties()
    assert Properties(correlation_data=b"")
    assert Properties(user_properties=(("a", "b"),))
    decoded = decode_one(encode(PubAck(1, properties=Properties(reason_string="r")), 5), 5)
    assert isinstance(decoded, PubAck)
    assert hash(decoded.properties) == hash(Properties(reason_string="r"))


def test_puback_0x99_is_valid() -> None:
    assert server_decode(5, bytes.fromhex("4003000199")) == [PubAck(1, ReasonCode.PAYLOAD_FORMAT_INVALID)]


@pytest.mark.parametrize(
    ("hex_bytes", "reason"),
    [
        ("100d00044d51545404010000000161", MALFORMED),  # reserved CONNECT flag
        ("100d00044d51545404080000000161", MALFORMED),  # Will QoS without Will flag
        ("100d00044d51545404200000000161", MALFORMED),  # Will Retain without Will flag
        ("101200044d515454041c00000001610001770000", MALFORMED),  # Will QoS 3
        ("100f00044d515454044000000001610000", MALFORMED),  # 3.1.1 password without user name
        ("100e00044d5154540400000000016100", MALFORMED),  # trailing byte
        ("100d00044d51545404000000000100", MALFORMED),  # client id U+0000
        ("101200044d515454040400000001610001230000", ReasonCode.TOPIC_NAME_INVALID),  # Will "#"
        ("100d00044d51545a04000000000161", PROTOCOL),  # protocol name "MQTZ"
        ("3000", PROTOCOL),  # first packet not CONNECT
        ("c000", PROTOCOL),
        ("101000044d51545405000000032100000000", PROTOCOL),  # Receive Maximum 0
        ("101200044d515454050000000527000000000000", PROTOCOL),  # Maximum Packet Size 0
        ("101100044d5154540500000003110000000000", MALFORMED),  # property truncated
        ("101000044d51545405000000031600000000", PROTOCOL),  # Authentication Data, no Method
    ],
)
def test_connect_rejections(hex_bytes: str, reason: ReasonCode) -> None:
    error = protocol_error(None, bytes.fromhex(hex_bytes))
    assert error.reason_code == reason
    assert error.unsupported_protocol_level is None


@pytest.mark.parametrize(
    ("hex_bytes", "level"),
    [
        ("100f00064d514973647003020000000161", 3),  # MQTT 3.1, "MQIsdp" level 3
        ("100d00044d51545403020000000161", 3),  # "MQTT" level 3
        ("100d00044d51545406020000000161", 6),
        ("100d00044d515454ff020000000161", 255),
    ],
)
def test_unsupported_protocol_levels(hex_bytes: str, level: int) -> None:
    raw = bytes.fromhex(hex_bytes)
    decoder = PacketDecoder()
    decoder.receive_data(raw)
    with pytest.raises(MqttProtocolError) as exc:
        decoder.next_packet()
    assert exc.value.reason_code == ReasonCode.UNSUPPORTED_PROTOCOL_VERSION
    assert exc.value.unsupported_protocol_level == level


def test_connect_first_byte_checked_before_the_rest_arrives() -> None:
    decoder = PacketDecoder()
    decoder.receive_data(b"G")  # "GET / HTTP/1.1": not MQTT at all
    with pytest.raises(MqttProtocolError) as exc:
        decoder.next_packet()
    assert exc.value.reason_code == PROTOCOL


@pytest.mark.parametrize(
    ("level", "hex_bytes", "reason"),
    [
        (4, "10020000", PROTOCOL),  # CONNECT sent by a server
        (4, "8206000100016100", PROTOCOL),  # SUBSCRIBE sent by a server
        (4, "c000", PROTOCOL),  # PINGREQ sent by a server
        (4, "20020006", MALFORMED),  # unknown CONNACK return code
        (4, "20020205", MALFORMED),  # reserved acknowledge flag
        (4, "20020105", PROTOCOL),  # session present on a refusal
        (4, "9003000103", MALFORMED),  # 3.1.1 SUBACK return code 3
        (4, "9003000187", MALFORMED),  # 3.1.1 SUBACK return code 0x87
        (4, "90020001", PROTOCOL),  # SUBACK without codes
        (4, "b00300010000"[:10], MALFORMED),  # 3.1.1 UNSUBACK with a body
        (5, "b003000100", PROTOCOL),  # v5 UNSUBACK without codes
        (5, "e0058b03110000", MALFORMED),  # truncated property
        (5, "e0078b051100000001", PROTOCOL),  # server DISCONNECT with Session Expiry
        (5, "2003000100", MALFORMED),  # CONNACK reason 0x01
    ],
)
def test_server_stream_rejections(level: int, hex_bytes: str, reason: ReasonCode) -> None:
    assert client_error(level, bytes.fromhex(hex_bytes)).reason_code == reason


def test_v5_publish_empty_topic_with_alias_and_wildcard_free_topics() -> None:
    alias = Publish("", b"x", properties=Properties(topic_alias=3))
    assert server_decode(5, encode(alias, 5)) == [alias]


def test_decoder_error_is_sticky_and_buffer_compaction() -> None:
    packets = [Publish(f"t/{i}", b"p" * 100, 1, packet_id=i + 1) for i in range(2000)]
    wire = b"".join(encode(p, 4) for p in packets)
    decoder = PacketDecoder(4)
    out = []
    # Odd chunk sizes keep a partial packet in the buffer while > 64 KiB has been consumed.
    for start in range(0, len(wire), 70001):
        decoder.receive_data(wire[start : start + 70001])
        while (packet := decoder.next_packet()) is not None:
            out.append(packet)
    assert out == packets
    decoder.receive_data(b"\x00\x00")
    with pytest.raises(MqttProtocolError) as first:
        decoder.next_packet()
    with pytest.raises(MqttProtocolError) as second:
        decoder.next_packet()
    assert first.value is second.value


# --- Local misuse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "level"),
    [
        (Auth(), 4),
        (Publish("t", properties=Properties(content_type="x")), 4),
        (PubAck(1, ReasonCode.NOT_AUTHORIZED), 4),
        (Disconnect(ReasonCode.SERVER_BUSY), 4),
        (UnsubAck(1, (ReasonCode.SUCCESS,)), 4),
        (UnsubAck(1), 5),
        (Subscribe(1, (Subscription("a", no_local=True),)), 4),
        (Subscribe(1, ()), 5),
        (Unsubscribe(1, ()), 5),
        (SubAck(1, ()), 5),
        (Publish("t", qos=0, packet_id=3), 4),
        (Publish("t", qos=1), 4),
        (Publish("t", qos=3, packet_id=1), 4),
        (Publish("a/+"), 4),
        (Publish(""), 4),
        (Publish("t\x00"), 4),
        (Publish("\ud800"), 4),
        (Publish("t", properties=Properties(topic_alias=0)), 5),
        (Publish("t", properties=Properties(session_expiry_interval=1)), 5),
        (Connect("c", protocol_level=5), 4),
        (Connect("c", password=b"p"), 4),
        (Connect("c", keepalive=70000), 4),
        (ConnAck(True, ReasonCode.NOT_AUTHORIZED), 5),
        (ConnAck(reason_code=ConnackReturnCode.NOT_AUTHORIZED), 5),
        (ConnAck(reason_code=ReasonCode.NO_MATCHING_SUBSCRIBERS), 4),
        (PubAck(0), 5),
        (PubAck(1, ReasonCode.SESSION_TAKEN_OVER), 5),
        (Subscribe(1, (Subscription("$share/g/a", no_local=True),)), 5),
        (PingReq(), 3),
    ],
)
def test_encode_usage_errors(packet: Packet, level: int) -> None:
    with pytest.raises(MqttUsageError):
        encode(packet, level)


def test_decoder_usage_errors() -> None:
    with pytest.raises(MqttUsageError):
        PacketDecoder(3)
    with pytest.raises(MqttUsageError):
        PacketDecoder(4, max_packet_size=1)
    with pytest.raises(MqttUsageError):
        encode("not a packet", 4)  # type: ignore[arg-type]


def test_v5_password_without_username_is_allowed() -> None:
    packet = Connect("c", password=b"secret", protocol_level=5)
    assert decode_one(encode(packet, 5), None) == packet
