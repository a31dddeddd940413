"""Hypothesis strategies producing valid MQTT packets per protocol level and direction."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from protocols.mqtt.enums import REASON_CODES_BY_PACKET, SUBACK_RETURN_CODES_311
from protocols.mqtt.packets import (
    Auth,
    ConnAck,
    ConnackReturnCode,
    Connect,
    Disconnect,
    PacketType,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ReasonCode,
    RetainHandling,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from protocols.mqtt.properties import PROPERTY_SPECS, WILL_PROPERTIES, Properties, WireType

# Valid MQTT string characters: no surrogates, no U+0000.
mqtt_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_level_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00+#/"), max_size=6)
topic_names = st.lists(_level_text, min_size=1, max_size=4).map("/".join).filter(bool)
topic_filters = (
    st.lists(st.one_of(_level_text, st.just("+")), min_size=1, max_size=4)
    .flatmap(lambda levels: st.sampled_from(["/".join(levels), "/".join([*levels, "#"])]))
    .filter(bool)
)
packet_ids = st.integers(1, 0xFFFF)
binary = st.binary(max_size=16)


def _value(wire_type: WireType, minimum: int, maximum: int) -> st.SearchStrategy[Any]:
    if wire_type is WireType.UTF8_STRING:
        return mqtt_text
    if wire_type is WireType.BINARY_DATA:
        return binary
    if wire_type is WireType.UTF8_STRING_PAIR:
        return st.tuples(mqtt_text, mqtt_text)
    return st.integers(minimum, maximum)


def properties(context: int, *, exclude: frozenset[str] = frozenset()) -> st.SearchStrategy[Properties]:
    """Any valid property set for a packet type (or WILL_PROPERTIES)."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for spec in PROPERTY_SPECS.values():
        if context not in spec.contexts or spec.attr in exclude:
            continue
        value = _value(spec.wire_type, spec.minimum, spec.maximum)
        if spec.repeatable_in:
            max_size = 3 if context in spec.repeatable_in else 1
            optional[spec.attr] = st.lists(value, max_size=max_size).map(tuple)
        else:
            optional[spec.attr] = st.none() | value
    return st.fixed_dictionaries({}, optional=optional).map(lambda kw: Properties(**kw))


def _props(level: int, context: int, **kw: Any) -> st.SearchStrategy[Properties]:
    return properties(context, **kw) if level == 5 else st.just(Properties())


def _reason(packet_type: PacketType) -> st.SearchStrategy[Any]:
    return st.sampled_from(sorted(REASON_CODES_BY_PACKET[packet_type]))


def _auth_consistent(props: Properties) -> bool:
    return props.authentication_data is None or props.authentication_method is not None


def connects(level: int) -> st.SearchStrategy[Connect]:
    wills = st.builds(
        Will,
        topic=topic_names,
        payload=binary,
        qos=st.integers(0, 2),
        retain=st.booleans(),
        properties=_props(level, WILL_PROPERTIES),
    )

    @st.composite
    def build(draw: st.DrawFn) -> Connect:
        username = draw(st.none() | mqtt_text)
        password = draw(st.none() | binary)
        if level == 4 and username is None:
            password = None
        return Connect(
            client_id=draw(mqtt_text),
            clean_start=draw(st.booleans()),
            keepalive=draw(st.integers(0, 0xFFFF)),
            username=username,
            password=password,
            will=draw(st.none() | wills),
            properties=draw(_props(level, PacketType.CONNECT).filter(_auth_consistent)),
            protocol_level=level,
        )

    return build()


def publishes(level: int, *, from_client: bool) -> st.SearchStrategy[Publish]:
    exclude = frozenset({"subscription_identifiers"}) if from_client else frozenset()

    @st.composite
    def build(draw: st.DrawFn) -> Publish:
        qos = draw(st.integers(0, 2))
        props = draw(_props(level, PacketType.PUBLISH, exclude=exclude))
        topic = draw(topic_names | st.just("")) if props.topic_alias is not None else draw(topic_names)
        return Publish(
            topic=topic,
            payload=draw(st.binary(max_size=64)),
            qos=qos,
            retain=draw(st.booleans()),
            dup=draw(st.booleans()) if qos else False,
            packet_id=draw(packet_ids) if qos else None,
            properties=props,
        )

    return build()


def acks(level: int) -> st.SearchStrategy[Any]:
    options = []
    for cls in (PubAck, PubRec, PubRel, PubComp):
        packet_type = cls.packet_type
        reason = _reason(packet_type) if level == 5 else st.just(ReasonCode.SUCCESS)
        options.append(st.builds(cls, packet_id=packet_ids, reason_code=reason, properties=_props(level, packet_type)))
    return st.one_of(options)


def subscribes(level: int) -> st.SearchStrategy[Subscribe]:
    if level == 5:
        subscription = st.builds(
            Subscription,
            topic_filter=topic_filters,
            qos=st.integers(0, 2),
            no_local=st.booleans(),
            retain_as_published=st.booleans(),
            retain_handling=st.sampled_from(list(RetainHandling)),
        )
    else:
        subscription = st.builds(Subscription, topic_filter=topic_filters, qos=st.integers(0, 2))
    return st.builds(
        Subscribe,
        packet_id=packet_ids,
        subscriptions=st.lists(subscription, min_size=1, max_size=4).map(tuple),
        properties=_props(level, PacketType.SUBSCRIBE),
    )


def unsubscribes(level: int) -> st.SearchStrategy[Unsubscribe]:
    return st.builds(
        Unsubscribe,
        packet_id=packet_ids,
        topic_filters=st.lists(topic_filters, min_size=1, max_size=4).map(tuple),
        properties=_props(level, PacketType.UNSUBSCRIBE),
    )


def connacks(level: int) -> st.SearchStrategy[ConnAck]:
    code = _reason(PacketType.CONNACK) if level == 5 else st.sampled_from(list(ConnackReturnCode))
    return st.builds(
        lambda session_present, reason_code, props: ConnAck(session_present and not reason_code, reason_code, props),
        st.booleans(),
        code,
        _props(level, PacketType.CONNACK),
    )


def subacks(level: int) -> st.SearchStrategy[SubAck]:
    codes = SUBACK_RETURN_CODES_311 if level == 4 else REASON_CODES_BY_PACKET[PacketType.SUBACK]
    return st.builds(
        SubAck,
        packet_id=packet_ids,
        reason_codes=st.lists(st.sampled_from(sorted(codes)), min_size=1, max_size=4).map(tuple),
        properties=_props(level, PacketType.SUBACK),
    )


def unsubacks(level: int) -> st.SearchStrategy[UnsubAck]:
    if level == 4:
        return st.builds(UnsubAck, packet_id=packet_ids)
    return st.builds(
        UnsubAck,
        packet_id=packet_ids,
        reason_codes=st.lists(_reason(PacketType.UNSUBACK), min_size=1, max_size=4).map(tuple),
        properties=_props(level, PacketType.UNSUBACK),
    )


def disconnects(level: int, *, from_client: bool) -> st.SearchStrategy[Disconnect]:
    if level == 4:
        return st.just(Disconnect())
    exclude = frozenset() if from_client else frozenset({"session_expiry_interval"})
    return st.builds(
        Disconnect,
        reason_code=_reason(PacketType.DISCONNECT),
        properties=properties(PacketType.DISCONNECT, exclude=exclude),
    )


def auths() -> st.SearchStrategy[Auth]:
    return st.builds(Auth, reason_code=_reason(PacketType.AUTH), properties=properties(PacketType.AUTH))


def client_packets(level: int) -> st.SearchStrategy[Any]:
    """Packets a client sends after CONNECT."""
    options = [
        publishes(level, from_client=True),
        acks(level),
        subscribes(level),
        unsubscribes(level),
        st.just(PingReq()),
        disconnects(level, from_client=True),
    ]
    if level == 5:
        options.append(auths())
    return st.one_of(options)


def server_packets(level: int) -> st.SearchStrategy[Any]:
    """Packets a server sends."""
    options = [
        connacks(level),
        publishes(level, from_client=False),
        acks(level),
        subacks(level),
        unsubacks(level),
        st.just(PingResp()),
    ]
    if level == 5:
        options += [disconnects(level, from_client=False), auths()]
    return st.one_of(options)
