"""Properties of the broker core over many clients: the outcome of valid packet streams does not depend on how
each stream is cut into reads or how the answers are batched into writes, and no input bytes make the core
raise anything but a protocol error."""

from __future__ import annotations

import contextlib
import datetime
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.aws.broker import Broker, Effects
from protocols.errors import ProtocolError
from protocols.faults import FaultPlan
from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.enums import RetainHandling
from protocols.mqtt.packets import (
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PubAck,
    Publish,
    ReasonCode,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from protocols.mqtt.properties import Properties

ALLOW_ALL = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}'
CLIENTS = 3
TOPICS = ["t/a", "t/b", "t/a/deep", "$aws/things/x/shadow/update"]
FILTERS = ["t/a", "t/+", "t/#", "#", "$share/g/t/a", "t/#/x"]


def _certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "property client")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


CERTIFICATE = _certificate()


@dataclass(frozen=True)
class Record:
    status: str = "ACTIVE"


@dataclass
class MemoryStore:
    """Every certificate ACTIVE with an allow-all policy; no things."""

    generation: int = 0

    def certificate(self, cert_id: str) -> Record | None:
        return Record()

    def policies_of_certificate(self, cert_id: str) -> Mapping[str, str]:
        return {"all": ALLOW_ALL}

    def things_of_certificate(self, cert_id: str) -> list[str]:
        return []

    def thing(self, name: str) -> None:
        return None


@dataclass
class Settings:
    region: str = "us-east-1"
    account_id: str = "123456789012"
    max_payload: int = 128 * 1024
    keepalive_min: int = 5
    connect_timeout: float = 10.0
    unauthorized_connect: str = "close"
    deliver_unsubscribed: bool = False
    require_sni: bool = False


@dataclass
class Outcome:
    written: dict[int, bytearray] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def run(streams: list[list[bytes]], turns: list[tuple[int, int, list[int]]]) -> Outcome:
    """Feed each client's packets in `turns` (client, packets, cut points inside the turn's bytes)."""
    broker: Broker[int] = Broker(MemoryStore(), Settings(), FaultPlan({}))
    outcome = Outcome()
    links = []

    def apply(effects: Any) -> None:
        for conn, data, close in effects.writes:
            outcome.written.setdefault(conn.handle, bytearray()).extend(data)
            if close:
                outcome.closed.add(conn.handle)
        outcome.closed.update(conn.handle for conn in effects.aborts)
        outcome.events.extend(effects.events)

    for index in range(len(streams)):
        link, effects = broker.open(index, peer=f"p{index}", listener="memory", now=0.0, certificate=CERTIFICATE,
                                    certificate_id=f"cert-{index}")
        links.append(link)
        apply(effects)
    position = [0] * len(streams)
    for client, count, cuts in turns:
        packets = streams[client][position[client]:position[client] + count]
        position[client] += len(packets)
        data = b"".join(packets)
        edges = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
        for start, end in itertools.pairwise(edges):
            if end > start:
                apply(broker.receive_data(links[client], data[start:end], 0.0))
    return outcome


@st.composite
def client_stream(draw: st.DrawFn, index: int) -> list[bytes]:
    level = draw(st.sampled_from([4, 5]))
    will = draw(st.none() | st.builds(Will, st.sampled_from(TOPICS), st.just(b"gone"), st.sampled_from([0, 1])))
    packets: list[Packet] = [Connect(f"c{index}", True, 60, protocol_level=level, will=will)]
    for packet_id in range(1, draw(st.integers(0, 8)) + 1):
        kind = draw(st.sampled_from(["sub", "pub", "unsub", "ping"]))
        if kind == "sub":
            filters = draw(st.lists(st.sampled_from(FILTERS), min_size=1, max_size=3, unique=True))
            packets.append(Subscribe(packet_id, tuple(
                Subscription(f, draw(st.sampled_from([0, 1])),
                             no_local=level == 5 and not f.startswith("$share/") and draw(st.booleans()),
                             retain_as_published=level == 5 and draw(st.booleans()),
                             retain_handling=RetainHandling(draw(st.sampled_from([0, 1, 2]))) if level == 5
                             else RetainHandling.SEND_ON_SUBSCRIBE)
                for f in filters)))
        elif kind == "pub":
            qos = draw(st.sampled_from([0, 1]))
            properties = Properties(user_properties=(("k", "v"),), content_type="t",
                                    message_expiry_interval=draw(st.none() | st.integers(1, 5))) \
                if level == 5 and draw(st.booleans()) else Properties()
            packets.append(Publish(draw(st.sampled_from(TOPICS)), draw(st.binary(max_size=8)), qos,
                                   draw(st.booleans()), packet_id=packet_id if qos else None,
                                   properties=properties))
        elif kind == "unsub":
            packets.append(Unsubscribe(packet_id, (draw(st.sampled_from(FILTERS)),)))
        else:
            packets.append(PingReq())
    if draw(st.booleans()):
        packets.append(Disconnect())
    return [encode(p, level) for p in packets]


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[list[bytes]], list[tuple[int, int, list[int]]]]:
    streams = [draw(client_stream(i)) for i in range(CLIENTS)]
    left = [len(s) for s in streams]
    turns = []
    while any(left):
        client = draw(st.sampled_from([i for i, n in enumerate(left) if n]))
        count = draw(st.integers(1, left[client]))
        left[client] -= count
        turns.append((client, count, draw(st.lists(st.integers(0, 10_000), max_size=4))))
    return streams, turns


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_outcome_does_not_depend_on_how_streams_are_cut(case: tuple[list[list[bytes]],
                                                                    list[tuple[int, int, list[int]]]]) -> None:
    streams, turns = case
    one_read_per_packet = [(client, 1, []) for client, count, _ in turns for _ in range(count)]
    reference = run(streams, one_read_per_packet)
    assert run(streams, turns) == reference
    whole_turns = [(client, count, []) for client, count, _ in turns]
    assert run(streams, whole_turns) == reference


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(st.binary(max_size=64), max_size=6))
def test_no_input_bytes_raise_anything_but_a_protocol_error(after_connect: bool, chunks: list[bytes]) -> None:
    broker: Broker[int] = Broker(MemoryStore(), Settings(), FaultPlan({}))
    link, _ = broker.open(0, peer="p", listener="memory", now=0.0, certificate=CERTIFICATE, certificate_id="cert")
    if after_connect:
        broker.receive_data(link, encode(Connect("garbage", True, 60), 4), 0.0)
    for chunk in chunks:
        with contextlib.suppress(ProtocolError):
            broker.receive_data(link, chunk, 0.0)
    broker.check_timeout(link, 10_000.0)
    broker.connection_lost(link)


def test_a_reject_fault_with_unusable_codes_still_refuses_the_connect() -> None:
    faults = FaultPlan({"reject": "refuse CONNECT"})
    faults.add("reject", params={"reason_code": "nonsense", "return_code": 999})
    broker: Broker[int] = Broker(MemoryStore(), Settings(), faults)
    link, _ = broker.open(0, peer="p0", listener="memory", now=0.0, certificate=CERTIFICATE, certificate_id="cert-0")
    effects = broker.receive_data(link, encode(Connect("c0"), 4), 0.0)
    assert [bytes(data) for _, data, _ in effects.writes] == [bytes((0x20, 0x02, 0x00, 0x05))]
    assert ("fault_applied", {"fault": "f1", "action": "reject", "operation": "connect"}) in effects.events


ANSWERED_THEN_GARBAGE = [Publish("t/a", b"x", 1, packet_id=7), Unsubscribe(8, ("t/a",))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([4, 5]), st.sampled_from(ANSWERED_THEN_GARBAGE),
       st.sampled_from([b"\xf0\x00", b"\x00\x00", b"\x30\xff\xff\xff\xff\x7f"]) | st.binary(min_size=1, max_size=64))
def test_a_packet_needing_an_answer_then_garbage_in_one_read_is_answered_then_closed(
        level: int, packet: Packet, garbage: bytes) -> None:
    """A QoS 1 PUBLISH or an UNSUBSCRIBE followed, in the same read, by bytes that are not a valid packet: the
    broker answers the first (PUBACK, UNSUBACK) and then ends the connection as a protocol error, never raising."""
    broker: Broker[int] = Broker(MemoryStore(), Settings(), FaultPlan({}))
    link, _ = broker.open(0, peer="p", listener="memory", now=0.0, certificate=CERTIFICATE, certificate_id="cert")
    broker.receive_data(link, encode(Connect("c0", True, 60, protocol_level=level), level), 0.0)
    effects = broker.receive_data(link, encode(packet, level) + garbage, 0.0)
    [(_, data, _)] = effects.writes
    answers = decode_answers(data, level)
    assert answers and answers[0] == (PubAck(7) if isinstance(packet, Publish) else
                                      UnsubAck(8, (ReasonCode.NO_SUBSCRIPTION_EXISTED,) if level == 5 else ()))
    if link.session.closed:
        assert [kind for kind, _ in effects.events][-1] == "bad_request"
    broker.connection_lost(link)


def decode_answers(data: bytes, level: int) -> list[Packet]:
    decoder = PacketDecoder(level)
    decoder.receive_data(data)
    return list(iter(decoder.next_packet, None))


def test_a_connection_without_connect_is_closed_at_its_deadline_with_an_event() -> None:
    broker: Broker[int] = Broker(MemoryStore(), Settings(connect_timeout=2.5), FaultPlan({}))
    idle, _ = broker.open(0, peer="p0", listener="mqtt", now=50.0, certificate=CERTIFICATE, certificate_id="c0")
    busy, _ = broker.open(1, peer="p1", listener="mqtt", now=50.0, certificate=CERTIFICATE, certificate_id="c1")
    broker.receive_data(busy, encode(Connect("busy", True, 60), 4), 51.0)
    assert broker.check_timeout(idle, 52.4) == Effects()
    effects = broker.check_timeout(idle, 52.5)
    assert [(conn.handle, data, close) for conn, data, close in effects.writes] == [(0, b"", True)]
    assert effects.events == [("connect_timeout", {"peer": "p0", "listener": "mqtt", "seconds": 2.5})]
    assert broker.check_timeout(busy, 52.5) == Effects() and not busy.session.closed
