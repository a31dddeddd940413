"""MQTT 5 properties (section 2.2.2): identifiers, wire types, which packets allow them, encode/decode.

Invariants of a decoded `Properties`:
- every present property is allowed in the packet (or Will) it came from; an identifier that is
  unknown or not allowed there is a Malformed Packet (0x81) [section 2.2.2.2];
- only User Property, and Subscription Identifier in PUBLISH, may repeat; any other duplicate is a
  Protocol Error (0x82);
- values lie in their documented range (e.g. Receive Maximum != 0, boolean bytes are 0 or 1),
  else Protocol Error (0x82).
Absent properties are None (or an empty tuple for the repeatable ones).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from .enums import PacketType, ReasonCode
from .errors import MqttProtocolError, MqttUsageError
from .wire import (
    MAX_UINT16,
    MAX_UINT32,
    MAX_VARINT,
    Reader,
    encode_binary,
    encode_utf8,
    encode_varint,
    malformed,
    protocol_error,
)

# Context key for the Will Properties in a CONNECT payload; packet contexts are PacketType values.
WILL_PROPERTIES = 0


class PropertyId(enum.IntEnum):
    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


class WireType(enum.Enum):
    BYTE = "byte"
    TWO_BYTE_INTEGER = "two byte integer"
    FOUR_BYTE_INTEGER = "four byte integer"
    VARIABLE_BYTE_INTEGER = "variable byte integer"
    UTF8_STRING = "UTF-8 encoded string"
    BINARY_DATA = "binary data"
    UTF8_STRING_PAIR = "UTF-8 string pair"


@dataclass(frozen=True)
class Properties:
    """The properties of one packet or Will; field names are the MQTT 5 specification's names in snake case.

    Deliberately without __slots__: absent properties then read their class-level default, so
    the decoder can build an instance from just the properties present (see `_from_decoded`).
    """

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: int | None = None
    will_delay_interval: int | None = None
    request_response_information: int | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: int | None = None
    subscription_identifier_available: int | None = None
    shared_subscription_available: int | None = None

    def __bool__(self) -> bool:
        return any(value is not None and value != () for value in vars(self).values())


EMPTY_PROPERTIES = Properties()

_CONNECT = PacketType.CONNECT
_CONNACK = PacketType.CONNACK
_PUBLISH = PacketType.PUBLISH
_ACKS = (PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP)
_DISCONNECT = PacketType.DISCONNECT
_AUTH = PacketType.AUTH
_MESSAGE = (_PUBLISH, WILL_PROPERTIES)
_ALL = (*PacketType, WILL_PROPERTIES)


class PropertySpec(NamedTuple):
    id: PropertyId
    attr: str
    wire_type: WireType
    contexts: frozenset[int]
    minimum: int
    maximum: int
    repeatable_in: frozenset[int]
    read: Callable[[Reader], Any]
    is_integer: bool


def _read_string_pair(reader: Reader) -> tuple[str, str]:
    return reader.utf8(), reader.utf8()


_READERS: dict[WireType, Callable[[Reader], Any]] = {
    WireType.BYTE: Reader.u8,
    WireType.TWO_BYTE_INTEGER: Reader.u16,
    WireType.FOUR_BYTE_INTEGER: Reader.u32,
    WireType.VARIABLE_BYTE_INTEGER: Reader.varint,
    WireType.UTF8_STRING: Reader.utf8,
    WireType.BINARY_DATA: Reader.binary,
    WireType.UTF8_STRING_PAIR: _read_string_pair,
}


def _spec(
    pid: PropertyId,
    attr: str,
    wire_type: WireType,
    contexts: tuple[int, ...],
    *,
    minimum: int = 0,
    maximum: int | None = None,
    repeatable_in: tuple[int, ...] = (),
) -> PropertySpec:
    if maximum is None:
        maximum = {
            WireType.BYTE: 0xFF,
            WireType.TWO_BYTE_INTEGER: MAX_UINT16,
            WireType.FOUR_BYTE_INTEGER: MAX_UINT32,
            WireType.VARIABLE_BYTE_INTEGER: MAX_VARINT,
        }.get(wire_type, 0)
    return PropertySpec(
        pid,
        attr,
        wire_type,
        frozenset(contexts),
        minimum,
        maximum,
        frozenset(repeatable_in),
        _READERS[wire_type],
        maximum > 0,
    )


_B, _U16, _U32, _VAR = (
    WireType.BYTE,
    WireType.TWO_BYTE_INTEGER,
    WireType.FOUR_BYTE_INTEGER,
    WireType.VARIABLE_BYTE_INTEGER,
)
_STR, _BIN, _PAIR = WireType.UTF8_STRING, WireType.BINARY_DATA, WireType.UTF8_STRING_PAIR
P = PropertyId

PROPERTY_SPECS: dict[int, PropertySpec] = {
    s.id: s
    for s in (
        _spec(P.PAYLOAD_FORMAT_INDICATOR, "payload_format_indicator", _B, _MESSAGE, maximum=1),
        _spec(P.MESSAGE_EXPIRY_INTERVAL, "message_expiry_interval", _U32, _MESSAGE),
        _spec(P.CONTENT_TYPE, "content_type", _STR, _MESSAGE),
        _spec(P.RESPONSE_TOPIC, "response_topic", _STR, _MESSAGE),
        _spec(P.CORRELATION_DATA, "correlation_data", _BIN, _MESSAGE),
        _spec(
            P.SUBSCRIPTION_IDENTIFIER,
            "subscription_identifiers",
            _VAR,
            (_PUBLISH, PacketType.SUBSCRIBE),
            minimum=1,
            repeatable_in=(_PUBLISH,),
        ),
        _spec(P.SESSION_EXPIRY_INTERVAL, "session_expiry_interval", _U32, (_CONNECT, _CONNACK, _DISCONNECT)),
        _spec(P.ASSIGNED_CLIENT_IDENTIFIER, "assigned_client_identifier", _STR, (_CONNACK,)),
        _spec(P.SERVER_KEEP_ALIVE, "server_keep_alive", _U16, (_CONNACK,)),
        _spec(P.AUTHENTICATION_METHOD, "authentication_method", _STR, (_CONNECT, _CONNACK, _AUTH)),
        _spec(P.AUTHENTICATION_DATA, "authentication_data", _BIN, (_CONNECT, _CONNACK, _AUTH)),
        _spec(P.REQUEST_PROBLEM_INFORMATION, "request_problem_information", _B, (_CONNECT,), maximum=1),
        _spec(P.WILL_DELAY_INTERVAL, "will_delay_interval", _U32, (WILL_PROPERTIES,)),
        _spec(P.REQUEST_RESPONSE_INFORMATION, "request_response_information", _B, (_CONNECT,), maximum=1),
        _spec(P.RESPONSE_INFORMATION, "response_information", _STR, (_CONNACK,)),
        _spec(P.SERVER_REFERENCE, "server_reference", _STR, (_CONNACK, _DISCONNECT)),
        _spec(
            P.REASON_STRING,
            "reason_string",
            _STR,
            (_CONNACK, *_ACKS, PacketType.SUBACK, PacketType.UNSUBACK, _DISCONNECT, _AUTH),
        ),
        _spec(P.RECEIVE_MAXIMUM, "receive_maximum", _U16, (_CONNECT, _CONNACK), minimum=1),
        _spec(P.TOPIC_ALIAS_MAXIMUM, "topic_alias_maximum", _U16, (_CONNECT, _CONNACK)),
        _spec(P.TOPIC_ALIAS, "topic_alias", _U16, (_PUBLISH,), minimum=1),
        _spec(P.MAXIMUM_QOS, "maximum_qos", _B, (_CONNACK,), maximum=1),
        _spec(P.RETAIN_AVAILABLE, "retain_available", _B, (_CONNACK,), maximum=1),
        _spec(P.USER_PROPERTY, "user_properties", _PAIR, _ALL, repeatable_in=_ALL),
        _spec(P.MAXIMUM_PACKET_SIZE, "maximum_packet_size", _U32, (_CONNECT, _CONNACK), minimum=1),
        _spec(P.WILDCARD_SUBSCRIPTION_AVAILABLE, "wildcard_subscription_available", _B, (_CONNACK,), maximum=1),
        _spec(
            P.SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            "subscription_identifier_available",
            _B,
            (_CONNACK,),
            maximum=1,
        ),
        _spec(P.SHARED_SUBSCRIPTION_AVAILABLE, "shared_subscription_available", _B, (_CONNACK,), maximum=1),
    )
}
del P

_SPEC_BY_ATTR = {s.attr: s for s in PROPERTY_SPECS.values()}
assert _SPEC_BY_ATTR.keys() == {f.name for f in fields(Properties)}


def _context_name(context: int) -> str:
    return "Will Properties" if context == WILL_PROPERTIES else PacketType(context).name


def decode_properties(reader: Reader, context: int) -> Properties:
    """Read a Property Length and the properties it covers; the reader ends after them."""
    length = reader.varint()
    if length == 0:
        return EMPTY_PROPERTIES
    end = reader.pos + length
    if end > reader.end:
        raise malformed("property length exceeds the packet")
    values: dict[str, Any] = {}
    repeated: dict[str, list[Any]] = {}
    sub = Reader(reader.buf, reader.pos, end)
    while sub.pos < end:
        # Identifiers are variable byte integers, but every defined one is < 0x80: a first byte
        # >= 0x80 is either an unknown identifier or a non-minimal encoding, both malformed.
        pid = sub.u8()
        spec = PROPERTY_SPECS.get(pid)
        if spec is None:
            raise malformed(f"unknown property identifier 0x{pid:02X}")
        if context not in spec.contexts:
            raise malformed(f"property {spec.id.name} is not allowed in {_context_name(context)}")
        value = spec.read(sub)
        if spec.is_integer and not spec.minimum <= value <= spec.maximum:
            if pid == PropertyId.TOPIC_ALIAS:  # alias 0: "Topic Alias invalid" [MQTT-3.3.2-8], MQTT 5 §3.3.2.3.4
                raise MqttProtocolError(ReasonCode.TOPIC_ALIAS_INVALID, "topic alias 0")
            raise protocol_error(f"property {spec.id.name} value {value} outside {spec.minimum}..{spec.maximum}")
        attr = spec.attr
        if spec.repeatable_in:  # a tuple-valued attribute, even where it may occur only once
            if attr in repeated and context not in spec.repeatable_in:
                raise protocol_error(f"property {spec.id.name} included more than once")
            repeated.setdefault(attr, []).append(value)
        elif attr in values:
            raise protocol_error(f"property {spec.id.name} included more than once")
        else:
            values[attr] = value
    reader.pos = end
    for attr, items in repeated.items():
        values[attr] = tuple(items)
    return _from_decoded(values)


def _from_decoded(values: dict[str, Any]) -> Properties:
    # The frozen-dataclass __init__ assigns all 27 fields through object.__setattr__; decoded
    # values are already validated, and absent ones fall back to the class defaults.
    props: Properties = object.__new__(Properties)
    props.__dict__.update(values)
    return props


def encode_properties(props: Properties, context: int) -> bytes:
    """Property Length followed by the properties, in identifier order."""
    if props is EMPTY_PROPERTIES:
        return b"\x00"
    present = [(_SPEC_BY_ATTR[attr], value) for attr, value in vars(props).items() if value is not None and value != ()]
    if len(present) > 1:
        present.sort(key=lambda item: item[0].id)
    out = bytearray()
    for spec, value in present:
        if context not in spec.contexts:
            raise MqttUsageError(f"property {spec.id.name} is not allowed in {_context_name(context)}")
        if spec.repeatable_in:
            if len(value) > 1 and context not in spec.repeatable_in:
                raise MqttUsageError(f"property {spec.id.name} may appear only once in {_context_name(context)}")
            for item in value:
                out += _encode_value(spec, item)
        else:
            out += _encode_value(spec, value)
    return encode_varint(len(out)) + bytes(out)


def _encode_value(spec: PropertySpec, value: Any) -> bytes:
    head = bytes((spec.id,))
    wire_type = spec.wire_type
    what = f"property {spec.id.name}"
    if wire_type is WireType.UTF8_STRING:
        return head + encode_utf8(value, what)
    if wire_type is WireType.BINARY_DATA:
        return head + encode_binary(value, what)
    if wire_type is WireType.UTF8_STRING_PAIR:
        key, val = value
        return head + encode_utf8(key, what + " name") + encode_utf8(val, what + " value")
    if not isinstance(value, int) or not spec.minimum <= value <= spec.maximum:
        raise MqttUsageError(f"{what} value {value!r} outside {spec.minimum}..{spec.maximum}")
    if wire_type is WireType.BYTE:
        return head + bytes((value,))
    if wire_type is WireType.TWO_BYTE_INTEGER:
        return head + value.to_bytes(2, "big")
    if wire_type is WireType.FOUR_BYTE_INTEGER:
        return head + value.to_bytes(4, "big")
    return head + encode_varint(value)
