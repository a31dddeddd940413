"""The smartconfiglib2 vectors in both directions, the AES key field, the air schedule and the library's limits."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.simplelink import smartconfig as sc
from protocols.simplelink.errors import LocalProtocolError
from protocols.simplelink.smartconfig_aes import protect, unprotect
from protocols.simplelink.smartconfig_decoder import MessageDecoded, SmartConfigDecoder

KEY = b"Key0Key0Key0Key0"
V1_TEXT = (
    "1099 1099 34 34 597 681 759 688 775 654 775 614 805 802 774 817 1199 1199 39 39 600 689 631 674 680 628 680 596"
    " 776 824 807 816 648 755 791 741 660 626 644 595 692 692 1155 1155 28 28 1149 1149 28 28"
)
V2_TEXT = (
    "1099 1099 34 34 597 681 759 688 775 654 775 614 805 802 774 817 1200 1200 44 44 596 629 692 603 831 775 604 795"
    " 625 738 775 809 669 613 753 834 617 752 802 625 671 770 705 706 737 752 676 721 795 710 770 828 1155 1155 28 28"
    " 1149 1149 37 37 593 612 609 648 645 620 807 618 616 821 823 804 839 777 695 742 679 719"
)
V1 = [int(x) for x in V1_TEXT.split()]
V2 = [int(x) for x in V2_TEXT.split()]
V2_KEY_FIELD = bytes.fromhex("343ae6ba0168c4018f10e1010f30a51b")
V3_KEY_FIELD = bytes.fromhex(
    "4732ffb10a67d30b9359ab4a7748dd6347479a0437d9abee3332021ebb6b32c515a5069420bc56d4b1abc4b57104e180"
)


def decode_all(symbols: list[int], key: bytes | None = None) -> sc.ReceivedProfile:
    decoder = SmartConfigDecoder()
    decoder.receive_lengths(symbols)
    events = [e for e in iter(decoder.next_event, None) if isinstance(e, MessageDecoded)]
    assert len(events) == 1
    return sc.open_message(events[0].message, key)


def test_v1_encode() -> None:
    assert len(V1) == 50
    assert sc.encode(b"HomeAP", b"password123") == V1


def test_v1_first_datagrams_on_the_wire() -> None:
    air = [d.length for d in itertools.islice(sc.air_schedule(V1), 16)]
    assert air == [3, 1099, 23, 1099, 3, 34, 23, 34, 3, 597, 23, 681, 3, 759, 23, 688]


def test_v2b_empty_key_sends_1200_with_plaintext() -> None:
    expected = [1200 if s == 1199 else s for s in V1]
    assert sc.encode(b"HomeAP", b"password123", key=b"") == expected


def test_v2_encode_with_key_and_name() -> None:
    assert protect(b"password123", KEY) == V2_KEY_FIELD
    assert sc.name_tlv(b"Kitchen") == b"\x03\x07Kitchen"
    assert sc.encode(b"HomeAP", b"password123", KEY, sc.name_tlv(b"Kitchen")) == V2


def test_v3_long_password_split() -> None:
    symbols = sc.encode(b"MyNet", b"x" * 40, KEY)
    assert protect(b"x" * 40, KEY) == V3_KEY_FIELD
    assert symbols[symbols.index(1200) + 2] == 60  # k1 header
    assert symbols[symbols.index(1155) + 2] == 44  # k2 header


def test_data_coding_example() -> None:
    assert sc.data_symbols(b"H") == [597, 681]


@pytest.mark.parametrize(
    ("symbols", "key", "ssid", "password", "name"),
    [
        (V1, None, b"HomeAP", b"password123", None),
        ([1200 if s == 1199 else s for s in V1], None, b"HomeAP", b"password123", None),  # V2b, no device key
        (V2, KEY, b"HomeAP", b"password123", b"Kitchen"),
        (sc.encode(b"MyNet", b"x" * 40, KEY), KEY, b"MyNet", b"x" * 40, None),
    ],
)
def test_vectors_decode(
    symbols: list[int], key: bytes | None, ssid: bytes, password: bytes, name: bytes | None
) -> None:
    profile = decode_all(symbols, key)
    assert (profile.ssid, profile.password, profile.device_name) == (ssid, password, name)


def test_v2_without_device_key_keeps_ciphertext_as_password() -> None:
    """No key configured -> the key field is taken as plaintext, even under 1200."""
    assert decode_all(V2).password == V2_KEY_FIELD


def test_wrong_key_gives_garbage_not_error() -> None:
    assert decode_all(V2, b"WrongKeyWrongKey").password != b"password123"


def test_v2b_at_a_keyed_device_decrypts_to_garbage() -> None:
    """With a device key, marker 1200 means decrypt, even when the app sent plaintext."""
    assert decode_all([1200 if s == 1199 else s for s in V1], KEY).password != b"password123"


@pytest.mark.parametrize(
    ("ssid", "password", "key", "free"),
    [
        (b"x" * 33, b"", None, b""),
        (b"ok", b"p" * 65, None, b""),
        (b"ok", b"pw", b"short", b""),
        (b"ok", b"pw", None, b"f" * 34),
    ],
)
def test_library_limits(ssid: bytes, password: bytes, key: bytes | None, free: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        sc.encode(ssid, password, key, free)


def test_name_limit() -> None:
    with pytest.raises(LocalProtocolError):
        sc.name_tlv(b"n" * 32)


def test_air_schedule_timing() -> None:
    """10 ms after every datagram, 100 ms more after each block of four rounds; sync restarts at 3 per block."""
    schedule = list(itertools.islice(sc.air_schedule(V1), 2 * 4 * 50 + 2))
    block = schedule[: 2 * 4 * 50]
    assert all(d.delay_after == pytest.approx(0.010) for d in block[:-1])
    assert block[-1].delay_after == pytest.approx(0.110)
    assert sum(d.delay_after for d in block) == pytest.approx(4.1)
    assert [d.length for d in block if d.is_sync][:4] == [3, 23, 3, 23]
    assert schedule[-2].length == 3  # next block restarts the alternation


def _field_size(n: int) -> int:
    chunk = lambda m: 16 if m < 16 else 32  # noqa: E731
    return chunk(n) if n <= 32 else 32 + chunk(n - 32)


@given(
    st.binary(min_size=0, max_size=64).filter(lambda p: all(b >= 0x20 for b in p)), st.binary(min_size=16, max_size=16)
)
def test_aes_round_trip(password: bytes, key: bytes) -> None:
    """Passphrases are printable, so the first-byte rule (length byte < 0x20) always recovers them."""
    field = protect(password, key)
    assert len(field) == _field_size(len(password))
    assert unprotect(field, key) == password


@given(
    st.binary(min_size=1, max_size=32),
    st.binary(min_size=0, max_size=64).filter(lambda p: all(b >= 0x20 for b in p)),
    st.one_of(st.none(), st.just(b""), st.binary(min_size=16, max_size=16)),
    st.binary(min_size=0, max_size=31),
)
def test_round_trip_any_message(ssid: bytes, password: bytes, key: bytes | None, name: bytes) -> None:
    symbols = sc.encode(ssid, password, key, sc.name_tlv(name))
    profile = decode_all(symbols, key)
    assert profile.ssid == ssid
    assert profile.password == password
    assert profile.device_name == (name or None)
