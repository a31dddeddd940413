"""Property tests: every packet type, both protocol levels, encode -> decode in arbitrary chunks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.mqtt.codec import PacketDecoder, encode
from protocols.mqtt.packets import Connect, Packet

from .strategies import client_packets, connects, server_packets

LEVELS = [4, 5]
_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


def _decode_all(decoder: PacketDecoder, chunks: list[bytes]) -> list[Packet]:
    out: list[Packet] = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        while (packet := decoder.next_packet()) is not None:
            out.append(packet)
    assert decoder.buffered == 0
    return out


def _roundtrip(decoder: PacketDecoder, packets: list[Any], level: int, cuts: list[int] | None) -> None:
    data = b"".join(encode(p, level) for p in packets)
    chunks = [data[i : i + 1] for i in range(len(data))] if cuts is None else _split(data, cuts)
    assert _decode_all(decoder, chunks) == packets


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("one_byte", [True, False], ids=["1-byte", "random-chunks"])
@_settings
@given(data=st.data())
def test_client_to_server_roundtrip(level: int, one_byte: bool, data: st.DataObject) -> None:
    connect: Connect = data.draw(connects(level))
    rest = data.draw(st.lists(client_packets(level), max_size=6))
    cuts = None if one_byte else data.draw(st.lists(st.integers(0, 10_000), max_size=8))
    decoder = PacketDecoder()
    _roundtrip(decoder, [connect, *rest], level, cuts)
    assert decoder.protocol_level == level


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("one_byte", [True, False], ids=["1-byte", "random-chunks"])
@_settings
@given(data=st.data())
def test_server_to_client_roundtrip(level: int, one_byte: bool, data: st.DataObject) -> None:
    packets = data.draw(st.lists(server_packets(level), min_size=1, max_size=6))
    cuts = None if one_byte else data.draw(st.lists(st.integers(0, 10_000), max_size=8))
    _roundtrip(PacketDecoder(level), packets, level, cuts)


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_encoding_is_deterministic_and_reencodes_identically(level: int, data: st.DataObject) -> None:
    packet = data.draw(server_packets(level))
    wire = encode(packet, level)
    decoder = PacketDecoder(level)
    decoder.receive_data(wire)
    decoded = decoder.next_packet()
    assert decoded is not None
    assert encode(decoded, level) == wire
