"""MQTT data representations (section 1.5): integers, variable byte integers, UTF-8 strings, binary data.

`Reader` walks one packet body in the decoder's buffer by offset, never copying the buffer; every
read past the end or ill-formed value raises `MqttProtocolError(MALFORMED_PACKET)`. The `encode_*`
helpers raise `MqttUsageError`: they serialise values our own caller supplied.
"""

from __future__ import annotations

from .enums import ReasonCode
from .errors import MqttProtocolError, MqttUsageError

MAX_VARINT = 268_435_455
MAX_UINT16 = 0xFFFF
MAX_UINT32 = 0xFFFF_FFFF
_MALFORMED = ReasonCode.MALFORMED_PACKET


def malformed(message: str) -> MqttProtocolError:
    return MqttProtocolError(_MALFORMED, message)


def protocol_error(message: str) -> MqttProtocolError:
    return MqttProtocolError(ReasonCode.PROTOCOL_ERROR, message)


def decode_utf8(raw: bytes | bytearray) -> str:
    """A UTF-8 Encoded String's characters: well-formed UTF-8 without U+0000 [MQTT-1.5.4-1/-2]."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise malformed(f"ill-formed UTF-8 string: {exc.reason}") from None
    if "\x00" in text:
        raise malformed("UTF-8 string contains U+0000")
    return text


class Reader:
    """Cursor over buf[pos:end], the body of one packet."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes | bytearray, pos: int, end: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end

    def remaining(self) -> int:
        return self.end - self.pos

    def u8(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise malformed("packet ends inside a byte field")
        self.pos = pos + 1
        return self.buf[pos]

    def u16(self) -> int:
        pos = self.pos
        if pos + 2 > self.end:
            raise malformed("packet ends inside a two byte integer")
        self.pos = pos + 2
        buf = self.buf
        return (buf[pos] << 8) | buf[pos + 1]

    def u32(self) -> int:
        pos = self.pos
        if pos + 4 > self.end:
            raise malformed("packet ends inside a four byte integer")
        self.pos = pos + 4
        return int.from_bytes(self.buf[pos : pos + 4], "big")

    def varint(self) -> int:
        value, self.pos = read_varint(self.buf, self.pos, self.end)
        return value

    def raw(self, length: int) -> bytes:
        pos = self.pos
        if pos + length > self.end:
            raise malformed("field length exceeds the packet")
        self.pos = pos + length
        return bytes(self.buf[pos : pos + length])

    def utf8(self) -> str:
        length = self.u16()
        pos = self.pos
        if pos + length > self.end:
            raise malformed("string length exceeds the packet")
        self.pos = pos + length
        return decode_utf8(self.buf[pos : pos + length])

    def binary(self) -> bytes:
        return self.raw(self.u16())

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise malformed(f"{self.end - self.pos} unexpected trailing bytes after {what}")


def read_varint(buf: bytes | bytearray, pos: int, end: int) -> tuple[int, int]:
    """Decode a Variable Byte Integer at pos; returns (value, position after it).

    At most four bytes, and the minimum number of bytes [MQTT-1.5.5-1].
    """
    value = 0
    shift = 0
    for i in range(4):
        if pos + i >= end:
            raise malformed("packet ends inside a variable byte integer")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise malformed("variable byte integer not in its shortest form")
            return value, pos + i + 1
        shift += 7
    raise malformed("variable byte integer longer than four bytes")


def encode_varint(value: int) -> bytes:
    if not 0 <= value <= MAX_VARINT:
        raise MqttUsageError(f"{value} does not fit a variable byte integer")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_utf8(text: str, what: str) -> bytes:
    """Length-prefixed UTF-8 Encoded String."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise MqttUsageError(f"{what} is not encodable as UTF-8 (lone surrogate)") from None
    if len(raw) > MAX_UINT16:
        raise MqttUsageError(f"{what} is {len(raw)} bytes, more than 65535")
    if b"\x00" in raw:
        raise MqttUsageError(f"{what} contains U+0000")
    return len(raw).to_bytes(2, "big") + raw


def encode_binary(data: bytes, what: str) -> bytes:
    """Length-prefixed Binary Data."""
    if len(data) > MAX_UINT16:
        raise MqttUsageError(f"{what} is {len(data)} bytes, more than 65535")
    return len(data).to_bytes(2, "big") + bytes(data)


def check_uint(value: int, maximum: int, what: str) -> None:
    if not 0 <= value <= maximum:
        raise MqttUsageError(f"{what} {value} out of range 0..{maximum}")
