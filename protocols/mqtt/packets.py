"""MQTT control packets as immutable values, one class per packet type of MQTT 3.1.1 and 5.

Fields not expressible at protocol level 4 (properties, most reason codes, subscription options
other than QoS) keep their defaults there; `codec.encode` refuses a packet that would lose
information at the level asked for. Sequences are tuples so that packets compare and hash by value.
The enums live in `enums` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

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
from .properties import EMPTY_PROPERTIES, Properties

__all__ = [
    "PROTOCOL_LEVEL_5",
    "PROTOCOL_LEVEL_311",
    "REASON_CODES_BY_PACKET",
    "SUBACK_RETURN_CODES_311",
    "SUPPORTED_PROTOCOL_LEVELS",
    "Auth",
    "ConnAck",
    "ConnackReturnCode",
    "Connect",
    "Disconnect",
    "Packet",
    "PacketIdAck",
    "PacketType",
    "PingReq",
    "PingResp",
    "PubAck",
    "PubComp",
    "PubRec",
    "PubRel",
    "Publish",
    "ReasonCode",
    "RetainHandling",
    "SubAck",
    "Subscribe",
    "Subscription",
    "UnsubAck",
    "Unsubscribe",
    "Will",
    "connack_return_code_311",
]


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Connect:
    packet_type: ClassVar[PacketType] = PacketType.CONNECT
    client_id: str = ""
    clean_start: bool = True
    keepalive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = EMPTY_PROPERTIES
    protocol_level: int = PROTOCOL_LEVEL_311


@dataclass(frozen=True, slots=True)
class ConnAck:
    """`reason_code` is a ReasonCode at level 5; decoding at level 4 yields a ConnackReturnCode.

    Encoding a ReasonCode at level 4 sends `connack_return_code_311(reason_code)`.
    """

    packet_type: ClassVar[PacketType] = PacketType.CONNACK
    session_present: bool = False
    reason_code: ReasonCode | ConnackReturnCode = ReasonCode.SUCCESS
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Publish:
    packet_type: ClassVar[PacketType] = PacketType.PUBLISH
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class PacketIdAck:
    """Shared shape of PUBACK, PUBREC, PUBREL and PUBCOMP."""

    packet_type: ClassVar[PacketType]
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class PubAck(PacketIdAck):
    packet_type: ClassVar[PacketType] = PacketType.PUBACK


@dataclass(frozen=True, slots=True)
class PubRec(PacketIdAck):
    packet_type: ClassVar[PacketType] = PacketType.PUBREC


@dataclass(frozen=True, slots=True)
class PubRel(PacketIdAck):
    packet_type: ClassVar[PacketType] = PacketType.PUBREL


@dataclass(frozen=True, slots=True)
class PubComp(PacketIdAck):
    packet_type: ClassVar[PacketType] = PacketType.PUBCOMP


@dataclass(frozen=True, slots=True)
class Subscription:
    """One topic filter of a SUBSCRIBE with its options byte (MQTT 5 section 3.8.3.1)."""

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: RetainHandling = RetainHandling.SEND_ON_SUBSCRIBE


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_type: ClassVar[PacketType] = PacketType.SUBSCRIBE
    packet_id: int
    subscriptions: tuple[Subscription, ...]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class SubAck:
    """One reason code per filter; at level 4 error codes are sent as 0x80 (Failure)."""

    packet_type: ClassVar[PacketType] = PacketType.SUBACK
    packet_id: int
    reason_codes: tuple[ReasonCode, ...]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_type: ClassVar[PacketType] = PacketType.UNSUBSCRIBE
    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class UnsubAck:
    """MQTT 5 carries one reason code per filter; MQTT 3.1.1 none (leave `reason_codes` empty)."""

    packet_type: ClassVar[PacketType] = PacketType.UNSUBACK
    packet_id: int
    reason_codes: tuple[ReasonCode, ...] = ()
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class PingReq:
    packet_type: ClassVar[PacketType] = PacketType.PINGREQ


@dataclass(frozen=True, slots=True)
class PingResp:
    packet_type: ClassVar[PacketType] = PacketType.PINGRESP


@dataclass(frozen=True, slots=True)
class Disconnect:
    packet_type: ClassVar[PacketType] = PacketType.DISCONNECT
    reason_code: ReasonCode = ReasonCode.NORMAL_DISCONNECTION
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Auth:
    """MQTT 5 only."""

    packet_type: ClassVar[PacketType] = PacketType.AUTH
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = EMPTY_PROPERTIES


# Frozen dataclasses assign each field through object.__setattr__, which costs more than the rest of
# decoding a small PUBLISH; the decoder, having validated every value itself, fills the slots
# through their descriptors instead. Keep the argument order equal to Publish's field order.
_set_topic, _set_payload, _set_qos, _set_retain, _set_dup, _set_packet_id, _set_properties = (
    Publish.__dict__[f.name].__set__ for f in fields(Publish)
)


def publish_from_decoder(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    dup: bool,
    packet_id: int | None,
    properties: Properties,
) -> Publish:
    """Publish(...) without the frozen-dataclass __init__; for the decoder's validated values."""
    obj: Publish = object.__new__(Publish)
    _set_topic(obj, topic)
    _set_payload(obj, payload)
    _set_qos(obj, qos)
    _set_retain(obj, retain)
    _set_dup(obj, dup)
    _set_packet_id(obj, packet_id)
    _set_properties(obj, properties)
    return obj


Packet = (
    Connect
    | ConnAck
    | Publish
    | PubAck
    | PubRec
    | PubRel
    | PubComp
    | Subscribe
    | SubAck
    | Unsubscribe
    | UnsubAck
    | PingReq
    | PingResp
    | Disconnect
    | Auth
)
