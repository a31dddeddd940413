"""The SmartConfig receiver core: loss, reordering, unrelated traffic, v1/legacy transmitters, garbage."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.simplelink import smartconfig as sc
from protocols.simplelink.errors import LocalProtocolError, SmartConfigDecodeError
from protocols.simplelink.smartconfig_decoder import MessageDecoded, SmartConfigDecoder, TransmissionDetected

KEY = b"Key0Key0Key0Key0"


def run_air(
    symbols: list[int],
    loss: float,
    seed: int,
    limit: int = 200_000,
    noise: float = 0.0,
    swap: float = 0.0,
    key: bytes | None = None,
) -> tuple[sc.ReceivedProfile, int]:
    """Feed the endless air schedule through a lossy, noisy, reordering channel until a message decodes."""
    rng = random.Random(seed)
    decoder = SmartConfigDecoder()
    held: int | None = None
    schedule = sc.air_schedule(symbols)
    for sent in range(1, limit):
        length = next(schedule).length
        if rng.random() < loss:
            continue
        if held is None and rng.random() < swap:
            held = length  # delivered after the next datagram
            continue
        batch = [length] if held is None else [length, held]
        held = None
        if rng.random() < noise:
            batch.insert(0, rng.randrange(0, 1500))
        decoder.receive_lengths(batch)
        for event in iter(decoder.next_event, None):
            if isinstance(event, MessageDecoded):
                return sc.open_message(event.message, key), sent
    raise AssertionError("no message decoded")


MESSAGES = [
    (b"HomeAP", b"password123", None, b""),
    (b"HomeAP", b"password123", KEY, b"Kitchen"),
    (b"MyNet", b"x" * 40, KEY, b""),
    (b"\xc3\xa9t\xc3\xa9-network", b"correct horse battery staple", None, b"Salon"),
]


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("loss", [0.1, 0.3])
def test_decodes_through_loss(message: tuple[bytes, bytes, bytes | None, bytes], loss: float) -> None:
    ssid, password, key, name = message
    for seed in range(3):
        profile, _ = run_air(sc.encode(ssid, password, key, sc.name_tlv(name)), loss, seed, key=key)
        assert (profile.ssid, profile.password, profile.device_name) == (ssid, password, name or None)


def test_decodes_first_round_without_loss() -> None:
    symbols = sc.encode(b"HomeAP", b"password123")
    _, sent = run_air(symbols, 0.0, 0)
    assert sent <= 2 * len(symbols) + 4  # one round plus the next start marker at most


@pytest.mark.parametrize("seed", range(3))
def test_tolerates_unrelated_traffic_and_reordering(seed: int) -> None:
    symbols = sc.encode(b"HomeAP", b"password123", KEY, sc.name_tlv(b"Kitchen"))
    profile, _ = run_air(symbols, 0.05, seed, noise=0.2, swap=0.05, key=KEY)
    assert (profile.ssid, profile.password, profile.device_name) == (b"HomeAP", b"password123", b"Kitchen")


def test_single_markers_v1_transmitter() -> None:
    """v1/CC3000-style senders send each marker and header once and may omit the 1155/1149 fields."""
    ssid, key_field = b"Legacy", b"secret99"
    one_round = [1099, len(ssid) + 28, *sc.data_symbols(ssid), 1199, len(key_field) + 28, *sc.data_symbols(key_field)]
    decoder = SmartConfigDecoder()
    decoder.receive_lengths(one_round * 3)  # a single header is trusted once a second round confirms it
    messages = [e for e in iter(decoder.next_event, None) if isinstance(e, MessageDecoded)]
    assert messages and messages[0].message.ssid == ssid and messages[0].message.key_field == key_field


def test_legacy_markers_ignored_unless_enabled() -> None:
    ssid, key_field = b"CC3000", b"secret99"
    one_round = [1399, len(ssid) + 28, *sc.data_symbols(ssid), 1459, len(key_field) + 28, *sc.data_symbols(key_field)]
    plain = SmartConfigDecoder()
    plain.receive_lengths(one_round * 3)
    assert plain.next_event() is None
    legacy = SmartConfigDecoder(accept_legacy=True)
    legacy.receive_lengths(one_round * 3)
    events = list(iter(legacy.next_event, None))
    assert any(isinstance(e, MessageDecoded) and e.message.ssid == ssid for e in events)


def test_events_order_and_duplicate_suppression() -> None:
    decoder = SmartConfigDecoder()
    decoder.receive_lengths(sc.encode(b"HomeAP", b"password123") * 5)
    events = list(iter(decoder.next_event, None))
    assert isinstance(events[0], TransmissionDetected)
    assert sum(isinstance(e, MessageDecoded) for e in events) == 1
    decoder.reset()
    decoder.receive_lengths(sc.encode(b"HomeAP", b"password123") * 2)
    assert any(isinstance(e, MessageDecoded) for e in iter(decoder.next_event, None))


def test_changed_transmission_is_decoded_again() -> None:
    decoder = SmartConfigDecoder()
    decoder.receive_lengths(sc.encode(b"First", b"password1") * 2)
    decoder.receive_lengths(sc.encode(b"Second", b"password2") * 3)
    ssids = [e.message.ssid for e in iter(decoder.next_event, None) if isinstance(e, MessageDecoded)]
    assert ssids == [b"First", b"Second"]


def test_min_votes_must_be_positive() -> None:
    with pytest.raises(LocalProtocolError):
        SmartConfigDecoder(min_votes=0)


def test_malformed_free_data_is_a_remote_error() -> None:
    message = sc.SmartConfigMessage(b"ssid", b"pw", False, b"\x03\x09abc")
    with pytest.raises(SmartConfigDecodeError):
        sc.open_message(message, None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=-5, max_value=70000), max_size=2000))
def test_garbage_lengths_never_raise(lengths: list[int]) -> None:
    decoder = SmartConfigDecoder(accept_legacy=True)
    decoder.receive_lengths(lengths)
    for event in iter(decoder.next_event, None):
        if isinstance(event, MessageDecoded):
            with contextlib.suppress(SmartConfigDecodeError):
                sc.open_message(event.message, KEY)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([3, 23, 28, 30, 34, 60, 593, 600, 700, 848, 1099, 1149, 1155, 1199, 1200]), max_size=3000)
)
def test_structured_garbage_never_raises(lengths: list[int]) -> None:
    decoder = SmartConfigDecoder()
    decoder.receive_lengths(lengths)
    for event in iter(decoder.next_event, None):
        if isinstance(event, MessageDecoded):
            with contextlib.suppress(SmartConfigDecodeError):
                sc.open_message(event.message, None)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.binary(min_size=1, max_size=32),
    st.binary(min_size=0, max_size=64).filter(lambda p: all(b >= 0x20 for b in p)),
    st.one_of(st.none(), st.binary(min_size=16, max_size=16)),
    st.binary(min_size=0, max_size=31),
    st.sampled_from([0.0, 0.1, 0.2, 0.3]),
    st.integers(0, 2**32),
)
def test_lossy_channel_never_yields_a_wrong_message(
    ssid: bytes, password: bytes, key: bytes | None, name: bytes, loss: float, seed: int
) -> None:
    profile, _ = run_air(sc.encode(ssid, password, key, sc.name_tlv(name)), loss, seed, key=key)
    assert (profile.ssid, profile.password, profile.device_name) == (ssid, password, name or None)
