"""A well-formedness walk over one CBOR data item, without building values.

cbor2 builds the values but hides how they were framed. The nRF codecs need three framing facts that the
decoded values lose: where the first item ends (the device ignores trailing bytes), whether any array, map or
string used the indefinite-length form, and whether any tag appeared (the CDDL allows none). Invariant: the
walk is iterative and bounded by `max_depth`, so hostile input can cost at most O(len(data)) steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.errors import RemoteProtocolError


class CborFramingError(RemoteProtocolError, ValueError):
    """The bytes are not one well-formed CBOR data item (remote error)."""


@dataclass(frozen=True)
class Framing:
    end: int
    indefinite: bool
    tagged: bool


_INDEFINITE = -1


def scan(data: bytes, max_depth: int = 16) -> Framing:
    """Walk the first data item in `data`; raise CborFramingError if it is truncated or ill-formed."""
    pos = 0
    indefinite = tagged = False
    # Each open container: [items still expected or _INDEFINITE, string major or -1, items seen, major]
    stack: list[list[int]] = []
    size = len(data)
    while True:
        if pos >= size:
            raise CborFramingError("truncated CBOR item")
        initial = data[pos]
        pos += 1
        major, info = initial >> 5, initial & 0x1F
        if initial == 0xFF:
            if not stack or stack[-1][0] != _INDEFINITE:
                raise CborFramingError(f"unexpected break byte at offset {pos - 1}")
            closed = stack.pop()
            if closed[3] == 5 and closed[2] % 2:
                raise CborFramingError("indefinite map with an odd number of items")
        else:
            if stack and stack[-1][1] >= 0 and (major != stack[-1][1] or info == 31):
                raise CborFramingError("indefinite string chunk of the wrong type")
            if info in (28, 29, 30):
                raise CborFramingError(f"reserved additional information {info}")
            argument: int | None
            if info < 24:
                argument = info
            elif info == 31:
                argument = None
            else:
                width = 1 << (info - 24)
                if pos + width > size:
                    raise CborFramingError("truncated CBOR head")
                argument = int.from_bytes(data[pos:pos + width], "big")
                pos += width
            if argument is None and major in (0, 1, 6):
                raise CborFramingError(f"indefinite length on major type {major}")
            if major == 7:
                if info == 24 and argument is not None and argument < 32:
                    raise CborFramingError("simple value in two-byte form below 32")
                if info == 31:
                    raise CborFramingError("break outside an indefinite container")
            if major in (2, 3):
                if argument is None:
                    indefinite = True
                    stack.append([_INDEFINITE, major, 0, major])
                    _check_depth(stack, max_depth)
                    continue
                if pos + argument > size:
                    raise CborFramingError("truncated CBOR string")
                pos += argument
            elif major in (4, 5):
                if argument is None:
                    indefinite = True
                    stack.append([_INDEFINITE, -1, 0, major])
                    _check_depth(stack, max_depth)
                    continue
                count = argument * (2 if major == 5 else 1)
                if count > size - pos:
                    raise CborFramingError("container longer than the data")
                if count:
                    stack.append([count, -1, 0, major])
                    _check_depth(stack, max_depth)
                    continue
            elif major == 6:
                tagged = True
                stack.append([1, -1, 0, major])
                _check_depth(stack, max_depth)
                continue
        # One item is complete: close every container it completes.
        while stack:
            top = stack[-1]
            top[2] += 1
            if top[0] == _INDEFINITE:
                break
            top[0] -= 1
            if top[0]:
                break
            stack.pop()
        if not stack:
            return Framing(pos, indefinite, tagged)


def _check_depth(stack: list[list[int]], max_depth: int) -> None:
    if len(stack) > max_depth:
        raise CborFramingError(f"CBOR nesting deeper than {max_depth}")
