"""MQTT 3.1.1 / 5 wire codec: `encode(packet, level)` and the streaming `PacketDecoder`.

The decoder is fed bytes with `receive_data()` and yields packets from `next_packet()` (None means
"need more bytes"). It keeps one bytearray and a read offset, so a packet's bytes are looked at in
place and never shifted per packet. Any input bytes can only raise `MqttProtocolError`; after the
first one the decoder is dead and re-raises it.

Direction: a decoder created without a protocol level is a server's: the first packet must be
CONNECT, whose level it adopts, and packets only a server sends (CONNACK, SUBACK, UNSUBACK,
PINGRESP) or a second CONNECT are Protocol Errors. A decoder created with a level is a client's and
refuses the packets only a client sends.

What is checked here: everything that makes a packet malformed or a protocol error by itself
(fixed-header flags, lengths, QoS 3, packet identifiers, UTF-8, properties, CONNECT flags, PUBLISH
topic names). Not checked: topic filter syntax (the server answers those per filter in SUBACK; see
`topics.validate_topic_filter`), topic alias resolution, receive maximum and other session state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .enums import (
    PROTOCOL_LEVEL_5,
    PROTOCOL_LEVEL_311,
    REASON_CODES_BY_PACKET,
    SUBACK_RETURN_CODES_311,
    SUPPORTED_PROTOCOL_LEVELS,
    ConnackReturnCode,
    PacketType,
    ReasonCode,
    RetainHandling,
    connack_return_code_311,
)
from .errors import MqttProtocolError, MqttUsageError
from .packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PacketIdAck,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    publish_from_decoder,
)
from .properties import (
    EMPTY_PROPERTIES,
    WILL_PROPERTIES,
    Properties,
    decode_properties,
    encode_properties,
)
from .topics import SHARED_PREFIX
from .wire import (
    MAX_UINT16,
    MAX_VARINT,
    Reader,
    check_uint,
    encode_binary,
    encode_utf8,
    encode_varint,
    malformed,
    protocol_error,
)

MAX_PACKET_SIZE = MAX_VARINT + 5


_FROM_CLIENT_ONLY = frozenset({PacketType.CONNECT, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE, PacketType.PINGREQ})
_FROM_SERVER_ONLY = frozenset({PacketType.CONNACK, PacketType.SUBACK, PacketType.UNSUBACK, PacketType.PINGRESP})
# Fixed-header flag nibble every non-PUBLISH packet must carry [MQTT-2.2.2-1/-2].
_REQUIRED_FLAGS: dict[int, int] = {
    t: 0b0010 if t in (PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE) else 0 for t in PacketType
}


def _topic_name_invalid(message: str) -> MqttProtocolError:
    return MqttProtocolError(ReasonCode.TOPIC_NAME_INVALID, message)


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

_Parser = Callable[[Reader, int, bool], Any]
_Ack = TypeVar("_Ack", bound=PacketIdAck)


class PacketDecoder:
    """Streaming decoder for one direction of one connection."""

    __slots__ = ("_allowed", "_buf", "_error", "_from_client", "_level", "_pos", "max_packet_size")

    def __init__(self, protocol_level: int | None = None, max_packet_size: int = MAX_PACKET_SIZE) -> None:
        if protocol_level is not None and protocol_level not in SUPPORTED_PROTOCOL_LEVELS:
            raise MqttUsageError(f"unsupported protocol level {protocol_level}")
        if max_packet_size < 2:
            raise MqttUsageError("max_packet_size must allow at least a two byte packet")
        self._buf = bytearray()
        self._pos = 0
        self._error: MqttProtocolError | None = None
        self._level = protocol_level
        self._from_client = protocol_level is None
        self._allowed = self._allowed_types()
        self.max_packet_size = max_packet_size

    @property
    def protocol_level(self) -> int | None:
        """The level in use: given at construction, or learned from CONNECT (None until then)."""
        return self._level

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as packets."""
        return len(self._buf) - self._pos

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes from the peer. Call next_packet() until None after each call."""
        buf = self._buf
        pos = self._pos
        if pos:
            if pos == len(buf):
                buf.clear()
                self._pos = 0
            elif pos > 65536:
                del buf[:pos]
                self._pos = 0
        buf += data

    def _allowed_types(self) -> frozenset[int]:
        level = self._level
        if level is None:
            return frozenset({PacketType.CONNECT})
        allowed = set(PacketType) - (_FROM_SERVER_ONLY if self._from_client else _FROM_CLIENT_ONLY)
        allowed.discard(PacketType.CONNECT)  # only ever the first packet
        if level != PROTOCOL_LEVEL_5:
            allowed.discard(PacketType.AUTH)
        return frozenset(allowed)

    def next_packet(self) -> Packet | None:
        """The next complete packet, or None if more bytes are needed."""
        if self._error is not None:
            raise self._error
        try:
            buf = self._buf
            pos = self._pos
            available = len(buf) - pos
            if available < 2:
                if available == 1:
                    self._check_type(buf[pos])
                return None
            first = buf[pos]
            byte = buf[pos + 1]
            if byte < 0x80:
                length = byte
                body = pos + 2
            else:
                length = byte & 0x7F
                shift = 7
                body = pos + 2
                while True:
                    if body >= len(buf):
                        self._check_type(first)
                        return None
                    byte = buf[body]
                    body += 1
                    length |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        if byte == 0:
                            raise malformed("remaining length not in its shortest form")
                        break
                    if body - pos > 4:
                        raise malformed("remaining length longer than four bytes")
                    shift += 7
            if body - pos + length > self.max_packet_size:
                raise MqttProtocolError(
                    ReasonCode.PACKET_TOO_LARGE,
                    f"packet of {body - pos + length} bytes exceeds the maximum {self.max_packet_size}",
                )
            end = body + length
            if end > len(buf):
                self._check_type(first)
                return None
            self._pos = end
            packet_type = first >> 4
            level = self._level
            if packet_type == 3 and level is not None:  # PUBLISH
                return _parse_publish(buf, first, body, end, level, self._from_client)
            self._check_type(first)
            if first & 0x0F != _REQUIRED_FLAGS[packet_type]:
                raise malformed(f"invalid fixed header flags 0x{first & 0x0F:X} for {PacketType(packet_type).name}")
            reader = Reader(buf, body, end)
            if level is None:
                connect = _parse_connect(reader)
                self._level = connect.protocol_level
                self._allowed = self._allowed_types()
                return connect
            packet: Packet = _PARSERS[packet_type](reader, level, self._from_client)
            return packet
        except MqttProtocolError as exc:
            self._error = exc
            raise

    def _check_type(self, first: int) -> None:
        packet_type = first >> 4
        if packet_type in self._allowed:
            return
        if packet_type == 0 or (packet_type == PacketType.AUTH and self._level == PROTOCOL_LEVEL_311):
            raise malformed(f"reserved packet type {packet_type}")
        name = PacketType(packet_type).name
        if self._level is None:
            raise protocol_error(f"first packet must be CONNECT, not {name}")
        if packet_type == PacketType.CONNECT and self._from_client:
            raise protocol_error("second CONNECT on a connection")
        raise protocol_error(f"{name} is not sent in this direction")


def _parse_publish(buf: bytearray, first: int, pos: int, end: int, level: int, from_client: bool) -> Publish:
    # Hot path: inlined field reads instead of a Reader.
    qos = (first >> 1) & 3
    if qos == 3:
        raise malformed("PUBLISH with QoS 3")
    dup = first & 8
    if dup and not qos:
        raise malformed("PUBLISH with DUP set at QoS 0")
    if pos + 2 > end:
        raise malformed("PUBLISH ends inside the topic length")
    topic_end = pos + 2 + ((buf[pos] << 8) | buf[pos + 1])
    if topic_end > end:
        raise malformed("PUBLISH topic length exceeds the packet")
    try:
        topic = buf[pos + 2 : topic_end].decode()
    except UnicodeDecodeError:
        raise malformed("PUBLISH topic is ill-formed UTF-8") from None
    if "\x00" in topic:
        raise malformed("PUBLISH topic contains U+0000")
    if "+" in topic or "#" in topic:
        raise _topic_name_invalid("PUBLISH topic name contains a wildcard")
    pos = topic_end
    packet_id: int | None = None
    if qos:
        if pos + 2 > end:
            raise malformed("PUBLISH ends inside the packet identifier")
        packet_id = (buf[pos] << 8) | buf[pos + 1]
        if not packet_id:
            raise protocol_error("PUBLISH with packet identifier 0")
        pos += 2
    properties = EMPTY_PROPERTIES
    if level == PROTOCOL_LEVEL_5:
        if pos < end and buf[pos] == 0:
            pos += 1
        else:
            reader = Reader(buf, pos, end)
            properties = decode_properties(reader, PacketType.PUBLISH)
            pos = reader.pos
            if properties.subscription_identifiers and from_client:
                raise protocol_error("PUBLISH from a client carries a Subscription Identifier")
        if not topic and properties.topic_alias is None:
            raise protocol_error("PUBLISH with an empty topic and no Topic Alias")
    elif not topic:
        raise protocol_error("PUBLISH with an empty topic name")
    if end - pos < 4096:
        payload = bytes(buf[pos:end])
    else:
        # One copy instead of two for large payloads; small ones are cheaper without the view.
        with memoryview(buf) as view:
            payload = view[pos:end].tobytes()
    return publish_from_decoder(topic, payload, qos, bool(first & 1), bool(dup), packet_id, properties)


def _properties(reader: Reader, level: int, context: int) -> Properties:
    if level == PROTOCOL_LEVEL_5:
        return decode_properties(reader, context)
    return EMPTY_PROPERTIES


def _packet_id(reader: Reader, what: str) -> int:
    packet_id = reader.u16()
    if not packet_id:
        raise protocol_error(f"{what} with packet identifier 0")
    return packet_id


def _reason_code(reader: Reader, packet_type: PacketType) -> ReasonCode:
    value = reader.u8()
    try:
        code = ReasonCode(value)
    except ValueError:
        raise malformed(f"unknown reason code 0x{value:02X} in {packet_type.name}") from None
    if code not in REASON_CODES_BY_PACKET[packet_type]:
        raise malformed(f"reason code {code.name} is not valid in {packet_type.name}")
    return code


def _parse_connect(reader: Reader) -> Connect:
    name = reader.raw(reader.u16())
    level = reader.u8()
    if name == b"MQTT":
        if level not in SUPPORTED_PROTOCOL_LEVELS:
            raise MqttProtocolError(
                ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
                f"unsupported protocol level {level}",
                unsupported_protocol_level=level,
            )
    elif name == b"MQIsdp":
        raise MqttProtocolError(
            ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
            f"MQTT 3.1 (MQIsdp, level {level}) is not supported",
            unsupported_protocol_level=level,
        )
    else:
        raise protocol_error(f"unknown protocol name {name!r}")
    flags = reader.u8()
    if flags & 0x01:
        raise malformed("CONNECT reserved flag is set")
    will_flag = flags & 0x04
    will_qos = (flags >> 3) & 3
    will_retain = bool(flags & 0x20)
    if will_qos == 3:
        raise malformed("CONNECT Will QoS 3")
    if not will_flag and (will_qos or will_retain):
        raise malformed("CONNECT Will QoS or Will Retain set without the Will flag")
    has_password = flags & 0x40
    has_username = flags & 0x80
    if level == PROTOCOL_LEVEL_311 and has_password and not has_username:
        raise malformed("CONNECT password flag set without the user name flag")
    keepalive = reader.u16()
    properties = _properties(reader, level, PacketType.CONNECT)
    if properties.authentication_data is not None and properties.authentication_method is None:
        raise protocol_error("CONNECT has Authentication Data without an Authentication Method")
    client_id = reader.utf8()
    will = None
    if will_flag:
        will_properties = _properties(reader, level, WILL_PROPERTIES)
        will_topic = reader.utf8()
        if not will_topic or "+" in will_topic or "#" in will_topic:
            raise _topic_name_invalid(f"invalid Will topic {will_topic!r}")
        will = Will(will_topic, reader.binary(), will_qos, will_retain, will_properties)
    username = reader.utf8() if has_username else None
    password = reader.binary() if has_password else None
    reader.expect_end("CONNECT payload")
    return Connect(client_id, bool(flags & 0x02), keepalive, username, password, will, properties, level)


def _parse_connack(reader: Reader, level: int, _from_client: bool) -> ConnAck:
    ack_flags = reader.u8()
    if ack_flags & 0xFE:
        raise malformed("CONNACK reserved acknowledge flags set")
    session_present = bool(ack_flags)
    code: ReasonCode | ConnackReturnCode
    if level == PROTOCOL_LEVEL_5:
        code = _reason_code(reader, PacketType.CONNACK)
        properties = decode_properties(reader, PacketType.CONNACK) if reader.remaining() else EMPTY_PROPERTIES
    else:
        value = reader.u8()
        try:
            code = ConnackReturnCode(value)
        except ValueError:
            raise malformed(f"unknown CONNACK return code 0x{value:02X}") from None
        properties = EMPTY_PROPERTIES
    reader.expect_end("CONNACK")
    if session_present and code:
        raise protocol_error("CONNACK refuses the connection but sets Session Present")
    return ConnAck(session_present, code, properties)


def _ack_parser(cls: type[_Ack]) -> _Parser:
    packet_type = cls.packet_type

    def parse(reader: Reader, level: int, _from_client: bool) -> _Ack:
        packet_id = _packet_id(reader, packet_type.name)
        code = ReasonCode.SUCCESS
        properties = EMPTY_PROPERTIES
        if level == PROTOCOL_LEVEL_5 and reader.remaining():
            code = _reason_code(reader, packet_type)
            if reader.remaining():
                properties = decode_properties(reader, packet_type)
        reader.expect_end(packet_type.name)
        return cls(packet_id, code, properties)

    return parse


def _parse_subscribe(reader: Reader, level: int, _from_client: bool) -> Subscribe:
    packet_id = _packet_id(reader, "SUBSCRIBE")
    properties = _properties(reader, level, PacketType.SUBSCRIBE)
    reserved = 0xFC if level == PROTOCOL_LEVEL_311 else 0xC0
    subscriptions = []
    while reader.remaining():
        topic_filter = reader.utf8()
        options = reader.u8()
        if options & reserved:
            raise malformed("SUBSCRIBE options reserved bits set")
        qos = options & 3
        if qos == 3:
            raise malformed("SUBSCRIBE with QoS 3")
        retain_handling = (options >> 4) & 3
        if retain_handling == 3:
            raise protocol_error("SUBSCRIBE with Retain Handling 3")
        no_local = bool(options & 0x04)
        if no_local and topic_filter.startswith(SHARED_PREFIX):
            raise protocol_error("No Local set on a shared subscription")
        subscriptions.append(
            Subscription(topic_filter, qos, no_local, bool(options & 0x08), RetainHandling(retain_handling))
        )
    if not subscriptions:
        raise protocol_error("SUBSCRIBE without topic filters")
    return Subscribe(packet_id, tuple(subscriptions), properties)


def _parse_suback(reader: Reader, level: int, _from_client: bool) -> SubAck:
    packet_id = _packet_id(reader, "SUBACK")
    properties = _properties(reader, level, PacketType.SUBACK)
    codes = []
    while reader.remaining():
        codes.append(_reason_code(reader, PacketType.SUBACK))
        if level == PROTOCOL_LEVEL_311 and codes[-1] not in SUBACK_RETURN_CODES_311:
            raise malformed(f"invalid MQTT 3.1.1 SUBACK return code 0x{codes[-1].value:02X}")
    if not codes:
        raise protocol_error("SUBACK without return codes")
    return SubAck(packet_id, tuple(codes), properties)


def _parse_unsubscribe(reader: Reader, level: int, _from_client: bool) -> Unsubscribe:
    packet_id = _packet_id(reader, "UNSUBSCRIBE")
    properties = _properties(reader, level, PacketType.UNSUBSCRIBE)
    filters = []
    while reader.remaining():
        filters.append(reader.utf8())
    if not filters:
        raise protocol_error("UNSUBSCRIBE without topic filters")
    return Unsubscribe(packet_id, tuple(filters), properties)


def _parse_unsuback(reader: Reader, level: int, _from_client: bool) -> UnsubAck:
    packet_id = _packet_id(reader, "UNSUBACK")
    if level == PROTOCOL_LEVEL_311:
        reader.expect_end("UNSUBACK")
        return UnsubAck(packet_id)
    properties = decode_properties(reader, PacketType.UNSUBACK)
    codes = []
    while reader.remaining():
        codes.append(_reason_code(reader, PacketType.UNSUBACK))
    if not codes:
        raise protocol_error("UNSUBACK without reason codes")
    return UnsubAck(packet_id, tuple(codes), properties)


def _parse_pingreq(reader: Reader, _level: int, _from_client: bool) -> PingReq:
    reader.expect_end("PINGREQ")
    return PingReq()


def _parse_pingresp(reader: Reader, _level: int, _from_client: bool) -> PingResp:
    reader.expect_end("PINGRESP")
    return PingResp()


def _parse_disconnect(reader: Reader, level: int, from_client: bool) -> Disconnect:
    code = ReasonCode.NORMAL_DISCONNECTION
    properties = EMPTY_PROPERTIES
    if level == PROTOCOL_LEVEL_5 and reader.remaining():
        code = _reason_code(reader, PacketType.DISCONNECT)
        if reader.remaining():
            properties = decode_properties(reader, PacketType.DISCONNECT)
            if not from_client and properties.session_expiry_interval is not None:
                raise protocol_error("server DISCONNECT carries a Session Expiry Interval")
    reader.expect_end("DISCONNECT")
    return Disconnect(code, properties)


def _parse_auth(reader: Reader, _level: int, _from_client: bool) -> Auth:
    code = ReasonCode.SUCCESS
    properties = EMPTY_PROPERTIES
    if reader.remaining():
        code = _reason_code(reader, PacketType.AUTH)
        if reader.remaining():
            properties = decode_properties(reader, PacketType.AUTH)
    reader.expect_end("AUTH")
    return Auth(code, properties)


_PARSERS: dict[int, _Parser] = {
    PacketType.CONNACK: _parse_connack,
    PacketType.PUBACK: _ack_parser(PubAck),
    PacketType.PUBREC: _ack_parser(PubRec),
    PacketType.PUBREL: _ack_parser(PubRel),
    PacketType.PUBCOMP: _ack_parser(PubComp),
    PacketType.SUBSCRIBE: _parse_subscribe,
    PacketType.SUBACK: _parse_suback,
    PacketType.UNSUBSCRIBE: _parse_unsubscribe,
    PacketType.UNSUBACK: _parse_unsuback,
    PacketType.PINGREQ: _parse_pingreq,
    PacketType.PINGRESP: _parse_pingresp,
    PacketType.DISCONNECT: _parse_disconnect,
    PacketType.AUTH: _parse_auth,
}


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


def encode(packet: Packet, protocol_level: int) -> bytes:
    """Serialise one packet at protocol level 4 (MQTT 3.1.1) or 5; MqttUsageError if impossible."""
    if protocol_level not in SUPPORTED_PROTOCOL_LEVELS:
        raise MqttUsageError(f"unsupported protocol level {protocol_level}")
    encoder = _ENCODERS.get(type(packet))
    if encoder is None:
        raise MqttUsageError(f"not an MQTT packet: {packet!r}")
    return encoder(packet, protocol_level)


def encode_unsupported_version_connack(requested_level: int) -> bytes:
    """The CONNACK refusing a CONNECT of an unsupported protocol level.

    Levels below 5 get the MQTT 3.1.1 form with return code 0x01 [MQTT-3.1.2-2]; newer levels the
    MQTT 5 form with reason code 0x84, the closest layout a newer client can be expected to read.
    """
    if requested_level < PROTOCOL_LEVEL_5:
        return encode(ConnAck(reason_code=ConnackReturnCode.UNACCEPTABLE_PROTOCOL_VERSION), PROTOCOL_LEVEL_311)
    return encode(ConnAck(reason_code=ReasonCode.UNSUPPORTED_PROTOCOL_VERSION), PROTOCOL_LEVEL_5)


def _frame(first: int, *parts: bytes) -> bytes:
    body = b"".join(parts)
    if len(body) > MAX_VARINT:
        raise MqttUsageError(f"packet body of {len(body)} bytes exceeds the MQTT maximum")
    return bytes((first,)) + encode_varint(len(body)) + body


def _encode_props(properties: Properties, level: int, context: int, what: str) -> bytes:
    if level == PROTOCOL_LEVEL_5:
        return encode_properties(properties, context)
    if properties is not EMPTY_PROPERTIES and properties:
        raise MqttUsageError(f"{what} properties need MQTT 5")
    return b""


def _encode_packet_id(packet_id: int | None, what: str) -> bytes:
    if packet_id is None or not 1 <= packet_id <= MAX_UINT16:
        raise MqttUsageError(f"{what} needs a packet identifier 1..65535, not {packet_id!r}")
    return packet_id.to_bytes(2, "big")


def _check_reason(code: ReasonCode, packet_type: PacketType) -> None:
    if not isinstance(code, ReasonCode) or code not in REASON_CODES_BY_PACKET[packet_type]:
        raise MqttUsageError(f"{code!r} is not a valid {packet_type.name} reason code")


def _check_qos(qos: int, what: str) -> None:
    if qos not in (0, 1, 2):
        raise MqttUsageError(f"{what} QoS {qos!r} is not 0, 1 or 2")


def _encode_connect(p: Connect, level: int) -> bytes:
    if p.protocol_level != level:
        raise MqttUsageError(f"Connect.protocol_level {p.protocol_level} differs from the level {level}")
    check_uint(p.keepalive, MAX_UINT16, "keep alive")
    flags = 0x02 if p.clean_start else 0
    will_parts: tuple[bytes, ...] = ()
    if p.will is not None:
        will = p.will
        _check_qos(will.qos, "Will")
        if not will.topic or "+" in will.topic or "#" in will.topic:
            raise MqttUsageError(f"invalid Will topic {will.topic!r}")
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        will_parts = (
            _encode_props(will.properties, level, WILL_PROPERTIES, "Will"),
            encode_utf8(will.topic, "Will topic"),
            encode_binary(will.payload, "Will payload"),
        )
    if p.password is not None:
        if level == PROTOCOL_LEVEL_311 and p.username is None:
            raise MqttUsageError("MQTT 3.1.1 allows a password only with a user name")
        flags |= 0x40
    if p.username is not None:
        flags |= 0x80
    return _frame(
        0x10,
        b"\x00\x04MQTT",
        bytes((level, flags)),
        p.keepalive.to_bytes(2, "big"),
        _encode_props(p.properties, level, PacketType.CONNECT, "CONNECT"),
        encode_utf8(p.client_id, "client identifier"),
        *will_parts,
        encode_utf8(p.username, "user name") if p.username is not None else b"",
        encode_binary(p.password, "password") if p.password is not None else b"",
    )


def _encode_connack(p: ConnAck, level: int) -> bytes:
    code = p.reason_code
    if level == PROTOCOL_LEVEL_5:
        _check_reason(code, PacketType.CONNACK)  # type: ignore[arg-type]
    elif isinstance(code, ReasonCode):
        _check_reason(code, PacketType.CONNACK)
        code = connack_return_code_311(code)
    elif not isinstance(code, ConnackReturnCode):
        raise MqttUsageError(f"{code!r} is not a CONNACK return code")
    if p.session_present and code:
        raise MqttUsageError("a refusing CONNACK must not set Session Present")
    return _frame(
        0x20,
        bytes((1 if p.session_present else 0, code)),
        _encode_props(p.properties, level, PacketType.CONNACK, "CONNACK"),
    )


def _encode_publish(p: Publish, level: int) -> bytes:
    qos = p.qos
    _check_qos(qos, "PUBLISH")
    topic = p.topic
    if "+" in topic or "#" in topic:
        raise MqttUsageError(f"PUBLISH topic name {topic!r} contains a wildcard")
    if not topic and (level != PROTOCOL_LEVEL_5 or p.properties.topic_alias is None):
        raise MqttUsageError("an empty PUBLISH topic needs an MQTT 5 Topic Alias")
    first = 0x30 | (qos << 1) | (1 if p.retain else 0)
    if qos:
        packet_id = _encode_packet_id(p.packet_id, "PUBLISH")
        if p.dup:
            first |= 0x08
    else:
        if p.packet_id is not None or p.dup:
            raise MqttUsageError("a QoS 0 PUBLISH has no packet identifier and no DUP flag")
        packet_id = b""
    if level == PROTOCOL_LEVEL_5:
        properties = (
            b"\x00" if p.properties is EMPTY_PROPERTIES else encode_properties(p.properties, PacketType.PUBLISH)
        )
    else:
        properties = _encode_props(p.properties, level, PacketType.PUBLISH, "PUBLISH")
    return _frame(first, encode_utf8(topic, "topic name"), packet_id, properties, p.payload)


def _encode_ack(p: PacketIdAck, level: int) -> bytes:
    packet_type = p.packet_type
    first = (packet_type << 4) | _REQUIRED_FLAGS[packet_type]
    packet_id = _encode_packet_id(p.packet_id, packet_type.name)
    _check_reason(p.reason_code, packet_type)
    if level == PROTOCOL_LEVEL_311:
        if p.reason_code != ReasonCode.SUCCESS:
            raise MqttUsageError(f"{packet_type.name} reason codes need MQTT 5")
        return _frame(first, packet_id, _encode_props(p.properties, level, packet_type, packet_type.name))
    if p.properties is EMPTY_PROPERTIES or not p.properties:
        if p.reason_code == ReasonCode.SUCCESS:
            return _frame(first, packet_id)
        return _frame(first, packet_id, bytes((p.reason_code,)))
    return _frame(first, packet_id, bytes((p.reason_code,)), encode_properties(p.properties, packet_type))


def _encode_subscribe(p: Subscribe, level: int) -> bytes:
    if not p.subscriptions:
        raise MqttUsageError("SUBSCRIBE needs at least one topic filter")
    parts = [
        _encode_packet_id(p.packet_id, "SUBSCRIBE"),
        _encode_props(p.properties, level, PacketType.SUBSCRIBE, "SUBSCRIBE"),
    ]
    for sub in p.subscriptions:
        if not sub.topic_filter:
            raise MqttUsageError("empty topic filter")
        _check_qos(sub.qos, "SUBSCRIBE")
        if sub.retain_handling not in (0, 1, 2):
            raise MqttUsageError(f"retain handling {sub.retain_handling!r} is not 0, 1 or 2")
        options = sub.qos | (0x04 if sub.no_local else 0) | (0x08 if sub.retain_as_published else 0)
        options |= sub.retain_handling << 4
        if level == PROTOCOL_LEVEL_311 and options > 3:
            raise MqttUsageError("subscription options other than QoS need MQTT 5")
        if sub.no_local and sub.topic_filter.startswith(SHARED_PREFIX):
            raise MqttUsageError("No Local is not allowed on a shared subscription")
        parts.append(encode_utf8(sub.topic_filter, "topic filter"))
        parts.append(bytes((options,)))
    return _frame(0x82, *parts)


def _encode_suback(p: SubAck, level: int) -> bytes:
    if not p.reason_codes:
        raise MqttUsageError("SUBACK needs at least one reason code")
    codes = bytearray()
    for code in p.reason_codes:
        _check_reason(code, PacketType.SUBACK)
        # MQTT 3.1.1 has a single failure code, 0x80.
        codes.append(0x80 if level == PROTOCOL_LEVEL_311 and code >= 0x80 else code)
    return _frame(
        0x90,
        _encode_packet_id(p.packet_id, "SUBACK"),
        _encode_props(p.properties, level, PacketType.SUBACK, "SUBACK"),
        bytes(codes),
    )


def _encode_unsubscribe(p: Unsubscribe, level: int) -> bytes:
    if not p.topic_filters:
        raise MqttUsageError("UNSUBSCRIBE needs at least one topic filter")
    return _frame(
        0xA2,
        _encode_packet_id(p.packet_id, "UNSUBSCRIBE"),
        _encode_props(p.properties, level, PacketType.UNSUBSCRIBE, "UNSUBSCRIBE"),
        *(encode_utf8(f, "topic filter") for f in p.topic_filters),
    )


def _encode_unsuback(p: UnsubAck, level: int) -> bytes:
    packet_id = _encode_packet_id(p.packet_id, "UNSUBACK")
    if level == PROTOCOL_LEVEL_311:
        if p.reason_codes:
            raise MqttUsageError("MQTT 3.1.1 UNSUBACK carries no reason codes")
        return _frame(0xB0, packet_id, _encode_props(p.properties, level, PacketType.UNSUBACK, "UNSUBACK"))
    if not p.reason_codes:
        raise MqttUsageError("MQTT 5 UNSUBACK needs one reason code per topic filter")
    for code in p.reason_codes:
        _check_reason(code, PacketType.UNSUBACK)
    return _frame(0xB0, packet_id, encode_properties(p.properties, PacketType.UNSUBACK), bytes(p.reason_codes))


def _encode_pingreq(_p: PingReq, _level: int) -> bytes:
    return b"\xc0\x00"


def _encode_pingresp(_p: PingResp, _level: int) -> bytes:
    return b"\xd0\x00"


def _encode_disconnect(p: Disconnect, level: int) -> bytes:
    return _encode_reason_only(0xE0, PacketType.DISCONNECT, p.reason_code, p.properties, level)


def _encode_auth(p: Auth, level: int) -> bytes:
    if level != PROTOCOL_LEVEL_5:
        raise MqttUsageError("AUTH needs MQTT 5")
    return _encode_reason_only(0xF0, PacketType.AUTH, p.reason_code, p.properties, level)


def _encode_reason_only(
    first: int, packet_type: PacketType, code: ReasonCode, properties: Properties, level: int
) -> bytes:
    _check_reason(code, packet_type)
    if level == PROTOCOL_LEVEL_311:
        if code != ReasonCode.SUCCESS or properties:
            raise MqttUsageError(f"{packet_type.name} reason codes and properties need MQTT 5")
        return _frame(first)
    if not properties:
        return _frame(first, bytes((code,)) if code else b"")
    return _frame(first, bytes((code,)), encode_properties(properties, packet_type))


_ENCODERS: dict[type, Callable[[Any, int], bytes]] = {
    Connect: _encode_connect,
    ConnAck: _encode_connack,
    Publish: _encode_publish,
    PubAck: _encode_ack,
    PubRec: _encode_ack,
    PubRel: _encode_ack,
    PubComp: _encode_ack,
    Subscribe: _encode_subscribe,
    SubAck: _encode_suback,
    Unsubscribe: _encode_unsubscribe,
    UnsubAck: _encode_unsuback,
    PingReq: _encode_pingreq,
    PingResp: _encode_pingresp,
    Disconnect: _encode_disconnect,
    Auth: _encode_auth,
}
