"""Garbage in: any bytes fed to any decoder may only raise MqttProtocolError."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.errors import MqttProtocolError
from protocols.mqtt.packets import (
    ConnAck,
    Connect,
    Publish,
    ReasonCode,
    SubAck,
    Subscribe,
    Subscription,
    Will,
)
from protocols.mqtt.properties import Properties

from .strategies import client_packets, connects, server_packets

DECODER_LEVELS = [None, 4, 5]  # None: server side, learns the level from CONNECT


def _feed(level: int | None, data: bytes, chunk: int) -> None:
    decoder = PacketDecoder(level, max_packet_size=4096)
    try:
        for start in range(0, len(data), chunk):
            decoder.receive_data(data[start : start + chunk])
            while decoder.next_packet() is not None:
                pass
    except MqttProtocolError as exc:
        assert exc.reason_code.is_error
        # The decoder stays failed with the same error.
        with pytest.raises(MqttProtocolError) as again:
            decoder.next_packet()
        assert again.value is exc


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1 and buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif op == 2:
            at = rng.randrange(len(buf) + 1)
            buf[at:at] = rng.randbytes(rng.randint(1, 4))
        elif buf:
            at = rng.randrange(len(buf))
            del buf[at : at + rng.randint(1, 4)]
    return bytes(buf)


@pytest.mark.parametrize("level", DECODER_LEVELS)
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), chunk=st.integers(1, 64))
def test_random_bytes(level: int | None, data: bytes, chunk: int) -> None:
    _feed(level, data, chunk)


@pytest.mark.parametrize("protocol_level", [4, 5])
@pytest.mark.parametrize("target", ["server", "client"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_mutated_valid_streams(protocol_level: int, target: str, data: st.DataObject, seed: int) -> None:
    if target == "server":
        packets = [data.draw(connects(protocol_level))]
        packets += data.draw(st.lists(client_packets(protocol_level), max_size=4))
        decoder_level = None
    else:
        packets = data.draw(st.lists(server_packets(protocol_level), min_size=1, max_size=4))
        decoder_level = protocol_level
    wire = b"".join(encode(p, protocol_level) for p in packets)
    rng = random.Random(seed)
    mutated = _mutate(wire, rng)
    _feed(decoder_level, mutated, rng.randint(1, 32))
    # The same bytes, decoded by the other kinds of decoder too.
    for other in DECODER_LEVELS:
        if other != decoder_level:
            _feed(other, mutated, len(mutated) or 1)


def test_seeded_mutation_loop() -> None:
    """A bounded, deterministic sweep over single-packet mutations of hand-picked packets."""
    props = Properties(session_expiry_interval=120, user_properties=(("k", "v"),))
    seeds = [
        encode(Connect("dev1", will=Will("w/t", b"bye", 1), username="u", password=b"p"), 4)
        + encode(Publish("a/b", b"hi", 1, packet_id=10), 4),
        encode(Connect("dev1", properties=props, protocol_level=5), 5)
        + encode(Subscribe(1, (Subscription("a/#", 1, no_local=True),)), 5),
        encode(Publish("a/b", b"hi", 1, packet_id=10, properties=Properties(content_type="t")), 5),
        encode(ConnAck(properties=props), 5) + encode(SubAck(1, (ReasonCode.GRANTED_QOS_1,)), 5),
    ]
    rng = random.Random(20261122)
    for _ in range(3000):
        base = rng.choice(seeds)
        mutated = _mutate(base, rng)
        for level in DECODER_LEVELS:
            _feed(level, mutated, rng.randint(1, 8))
