"""SmartConfig v2 wire encoding (TI's smartconfiglib2, in Starter Pro): symbols, free data and air timing.

A symbol is the length of one UDP payload. A message is four fields, each introduced by a doubled marker and a
doubled length header (``len + 28``) and followed by its data symbols (``593 + ((prev ^ idx) << 4 | nibble)``).
On the air every symbol is preceded by a sync datagram alternating 3 / 23 - group bytes, with 10 ms after every
datagram and 100 ms after every block of four rounds. Invariants: header < 593 <= data <= 848 < 1099 <= marker,
so a length classifies without context; the encoder never emits a value outside these classes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import LocalProtocolError, SmartConfigDecodeError
from .smartconfig_aes import check_key, protect, unprotect

PORT = 15000
MULTICAST_GROUP = "224.0.0.235"
PAYLOAD_BYTE = 0x31  # every payload byte is '1'; only the length carries information
MAX_PAYLOAD = 1200

MARKER_START = 1099
MARKER_PLAIN = 1199
MARKER_ENCRYPTED = 1200
MARKER_KEY_PART2 = 1155
MARKER_FREE_DATA = 1149
LEGACY_MARKER_START = 1399  # CC3000 FTC, ignored unless enabled (an emulator choice, docs/simplelink.md)
LEGACY_MARKER_MID = 1459
MARKERS = frozenset({MARKER_START, MARKER_PLAIN, MARKER_ENCRYPTED, MARKER_KEY_PART2, MARKER_FREE_DATA})

HEADER_OFFSET = 28
DATA_BASE = 593
DATA_MAX = DATA_BASE + 255
SYNC_LOW = 3
SYNC_HIGH = 23

MAX_SSID = 32
MAX_PASSWORD = 64
MAX_FREE_DATA = 33
MAX_TOKEN = 32
FIELD_PART = 32  # key-field bytes per part (1155 splits the rest)

DATAGRAM_GAP = 0.010
BLOCK_GAP = 0.100
ROUNDS_PER_BLOCK = 4  # nSetup
TRANSMIT_TIME = 40.0  # Starter Pro stops after 40 s

TLV_DEVICE_NAME = 3


class SymbolClass(enum.Enum):
    SYNC = "sync"
    HEADER = "header"
    DATA = "data"
    MARKER = "marker"
    OTHER = "other"


def classify(length: int, group: int = 0) -> SymbolClass:
    """Class of one payload length (smartconfiglib2 ``SmartConfigEncode``); the sync lengths are 3 and 23 - group."""
    if length in (SYNC_LOW, SYNC_HIGH - group):
        return SymbolClass.SYNC
    if HEADER_OFFSET <= length < DATA_BASE:
        return SymbolClass.HEADER
    if DATA_BASE <= length <= DATA_MAX:
        return SymbolClass.DATA
    if length in MARKERS:
        return SymbolClass.MARKER
    return SymbolClass.OTHER


def data_symbols(field: bytes) -> list[int]:
    """Data coding of one field (smartconfiglib2): high nibble first, chained position check."""
    out: list[int] = []
    prev = idx = 0
    for byte in field:
        for nib in (byte >> 4, byte & 0x0F):
            out.append(DATA_BASE + (((prev ^ idx) << 4) | nib))
            prev, idx = nib, idx + 1
        idx &= 0x0F
    return out


def name_tlv(name: bytes) -> bytes:
    """Free data as Starter Pro sends it: TLV type 3 (device name); empty when there is no name."""
    if len(name) > MAX_FREE_DATA - 2:
        raise LocalProtocolError(f"device name is at most {MAX_FREE_DATA - 2} bytes")
    return bytes([TLV_DEVICE_NAME, len(name)]) + name if name else b""


def parse_free_data(free_data: bytes) -> dict[int, bytes]:
    """TLVs of the free-data field; unknown types are kept by type and skipped by length (docs/simplelink.md)."""
    tlvs: dict[int, bytes] = {}
    pos = 0
    while pos < len(free_data):
        if pos + 2 > len(free_data):
            raise SmartConfigDecodeError("truncated free-data TLV header")
        kind, length = free_data[pos], free_data[pos + 1]
        if pos + 2 + length > len(free_data):
            raise SmartConfigDecodeError("free-data TLV runs past the field")
        tlvs[kind] = free_data[pos + 2 : pos + 2 + length]
        pos += 2 + length
    return tlvs


@dataclass(frozen=True)
class SmartConfigMessage:
    """The four fields of one message as they travel (the key field possibly AES-protected)."""

    ssid: bytes
    key_field: bytes
    encrypted_marker: bool
    free_data: bytes = b""

    def symbols(self) -> list[int]:
        """The v2 symbol list of this message, without sync datagrams."""
        mid = MARKER_ENCRYPTED if self.encrypted_marker else MARKER_PLAIN
        fields = (
            (MARKER_START, self.ssid),
            (mid, self.key_field[:FIELD_PART]),
            (MARKER_KEY_PART2, self.key_field[FIELD_PART:]),
            (MARKER_FREE_DATA, self.free_data),
        )
        out: list[int] = []
        for marker, field in fields:
            header = len(field) + HEADER_OFFSET
            out += [marker, marker, header, header, *data_symbols(field)]
        return out


def build_message(
    ssid: bytes, password: bytes, key: bytes | None = None, free_data: bytes = b"", token: str = ""
) -> SmartConfigMessage:
    """Validate inputs as the library does and protect the password (AES key field, the 1200-marker quirk)."""
    if len(ssid) > MAX_SSID:
        raise LocalProtocolError(f"SSID is at most {MAX_SSID} bytes")
    if len(password) > MAX_PASSWORD:
        raise LocalProtocolError(f"password is at most {MAX_PASSWORD} bytes")
    if len(free_data) > MAX_FREE_DATA:
        raise LocalProtocolError(f"free data is at most {MAX_FREE_DATA} bytes")
    if len(token) > MAX_TOKEN:
        raise LocalProtocolError(f"token is at most {MAX_TOKEN} characters")  # stored, never encoded
    check_key(key)
    return SmartConfigMessage(ssid, protect(password, key), key is not None, free_data)


def encode(ssid: bytes, password: bytes, key: bytes | None = None, free_data: bytes = b"") -> list[int]:
    """Symbols of one message, exactly as smartconfiglib2 computes them (vectors V1, V2b, V2, V3)."""
    return build_message(ssid, password, key, free_data).symbols()


@dataclass(frozen=True)
class ReceivedProfile:
    """What the device makes of a decoded message: the profile and the device name it asks for."""

    ssid: bytes
    password: bytes
    device_name: bytes | None
    free_data: dict[int, bytes]


def open_message(message: SmartConfigMessage, key: bytes | None) -> ReceivedProfile:
    """Turn a decoded message into a profile (key handling: an emulator choice, docs/simplelink.md).

    With a device key configured and marker 1200 the key field is decrypted; otherwise it is taken as plaintext
    under both 1199 and 1200 (smartconfiglib2's 1200-marker quirk). A wrong key gives a garbage password, not an error.
    """
    if not message.ssid:
        raise SmartConfigDecodeError("empty SSID")
    # a field that was never encrypted (or with another key) decrypts to garbage, as on the device
    password = unprotect(message.key_field, key) if key and message.encrypted_marker else message.key_field
    tlvs = parse_free_data(message.free_data)
    return ReceivedProfile(message.ssid, password, tlvs.get(TLV_DEVICE_NAME), tlvs)


@dataclass(frozen=True)
class Datagram:
    """One datagram of the air schedule: its payload length and the pause that follows it."""

    length: int
    delay_after: float
    is_sync: bool


def air_schedule(symbols: list[int], group: int = 0) -> Iterator[Datagram]:
    """smartconfiglib2's endless send loop: blocks of four rounds, a sync datagram before every symbol.

    The sync alternation restarts at 3 at each block; the block's last datagram carries the extra 100 ms.
    """
    if not symbols:
        raise LocalProtocolError("nothing to transmit")
    sync_high = SYNC_HIGH - group
    last = len(symbols) * ROUNDS_PER_BLOCK - 1
    while True:
        low = True
        for n in range(last + 1):
            yield Datagram(SYNC_LOW if low else sync_high, DATAGRAM_GAP, True)
            low = not low
            gap = DATAGRAM_GAP + BLOCK_GAP if n == last else DATAGRAM_GAP
            yield Datagram(symbols[n % len(symbols)], gap, False)


def payload(length: int) -> bytes:
    """The bytes of one datagram of ``length`` (all '1')."""
    if not 0 <= length <= MAX_PAYLOAD:
        raise LocalProtocolError(f"payload length {length} outside 0..{MAX_PAYLOAD}")
    return bytes([PAYLOAD_BYTE]) * length
