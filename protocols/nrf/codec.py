"""The CBOR command and response lists of nrf_provisioning, per the library's CDDL (sdk-nrf
`subsys/net/lib/nrf_provisioning/nrf_provisioning_cbor.cddl`).

Owns the message types and their encoders/decoders; no state. Two decoders exist because the two sides
treat input differently:

* `decode_commands` is the device's zcbor decoder: strict types (text ids, unsigned numbers, no tags),
  1..`limit` commands, at most 10 config pairs and 6 ignored CME codes. Exceeding a definite element count
  raises `TooManyElements` (zcbor HIGH_ELEM_COUNT, which the device reports as FAILED_TOO_MANY_COMMANDS);
  every other problem raises `CborDecodeError`. Trailing bytes after the list are ignored, as on the device.
* `decode_responses` is the service's decoder: definite and indefinite lengths are accepted, trailing
  bytes and tags are not.

`CborDecodeError` is the only exception garbage input can raise (`TooManyElements` is a subclass).
Encoders always emit definite-length, shortest-form (canonical) CBOR, except `encode_responses(...,
indefinite=True)`, which mimics a zcbor build without ZCBOR_CANONICAL. Encoders raise `CodecUsageError`
for values the schema cannot carry (local errors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cbor2

from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.nrf.scan import CborFramingError, scan

MAX_ID_LENGTH = 45
MAX_CONFIG_PAIRS = 10
MAX_IGNORED_CME = 6
DEFAULT_LIMIT = 10

AT_COMMAND, CONFIG, FINISHED = 0, 1, 2
ERROR, AT_OK, CONFIG_ACK, FINISHED_ACK = 99, 100, 101, 102


class CborDecodeError(RemoteProtocolError, ValueError):
    """The peer sent bytes that are not a valid command/response list (remote error)."""


class TooManyElements(CborDecodeError):
    """A definite-length list or map holds more elements than the schema allows (zcbor HIGH_ELEM_COUNT)."""


class CodecUsageError(LocalProtocolError, ValueError):
    """The caller asked to encode something the schema cannot carry (local error)."""


@dataclass(frozen=True)
class AtCommand:
    corr_id: str
    set_command: str
    parameters: str
    ignore_cme_errors: tuple[int, ...] = ()

    @property
    def at_text(self) -> str:
        return f"AT{self.set_command}={self.parameters}"


@dataclass(frozen=True)
class ConfigCommand:
    corr_id: str
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FinishedCommand:
    corr_id: str


Command = AtCommand | ConfigCommand | FinishedCommand


@dataclass(frozen=True)
class ErrorResponse:
    corr_id: str
    cme_error: int
    message: str


@dataclass(frozen=True)
class AtResponse:
    corr_id: str
    message: str


@dataclass(frozen=True)
class ConfigAck:
    corr_id: str


@dataclass(frozen=True)
class FinishedAck:
    corr_id: str


Response = ErrorResponse | AtResponse | ConfigAck | FinishedAck


# --- encoding -------------------------------------------------------------------------------------------

def _check_id(corr_id: str) -> None:
    if not isinstance(corr_id, str) or not corr_id:
        raise CodecUsageError("a correlation id must be a non-empty string")
    if len(corr_id) > MAX_ID_LENGTH:
        raise CodecUsageError(f"correlation id longer than {MAX_ID_LENGTH} characters: {corr_id!r}")


def _check_uint(value: int, what: str) -> None:
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise CodecUsageError(f"{what} must be an unsigned integer")


def command_item(command: Command) -> list[Any]:
    _check_id(command.corr_id)
    if isinstance(command, AtCommand):
        if len(command.ignore_cme_errors) > MAX_IGNORED_CME:
            raise CodecUsageError(f"at most {MAX_IGNORED_CME} ignored CME errors")
        for code in command.ignore_cme_errors:
            _check_uint(code, "an ignored CME error")
        return [command.corr_id, AT_COMMAND, command.set_command, command.parameters,
                list(command.ignore_cme_errors)]
    if isinstance(command, ConfigCommand):
        if len(command.pairs) > MAX_CONFIG_PAIRS:
            raise CodecUsageError(f"at most {MAX_CONFIG_PAIRS} config pairs")
        mapping = dict(command.pairs)
        if len(mapping) != len(command.pairs):
            raise CodecUsageError("duplicate config key")
        return [command.corr_id, CONFIG, mapping]
    return [command.corr_id, FINISHED]


def response_item(response: Response) -> list[Any]:
    _check_id(response.corr_id)
    if isinstance(response, ErrorResponse):
        _check_uint(response.cme_error, "cme_error")
        return [response.corr_id, ERROR, response.cme_error, response.message]
    if isinstance(response, AtResponse):
        return [response.corr_id, AT_OK, response.message]
    if isinstance(response, ConfigAck):
        return [response.corr_id, CONFIG_ACK]
    return [response.corr_id, FINISHED_ACK]


def encode_commands(commands: Sequence[Command]) -> bytes:
    """Canonical CBOR for a non-empty command list (the service's GET answer)."""
    if not commands:
        raise CodecUsageError("a command list needs at least one command")
    return cbor2.dumps([command_item(c) for c in commands], canonical=True)


def encode_responses(responses: Sequence[Response], indefinite: bool = False) -> bytes:
    """CBOR for a non-empty response list; `indefinite` frames arrays as zcbor does when not canonical."""
    if not responses:
        raise CodecUsageError("a response list needs at least one response")
    items = [response_item(r) for r in responses]
    if not indefinite:
        return cbor2.dumps(items, canonical=True)
    body = b"".join(b"\x9f" + b"".join(cbor2.dumps(v, canonical=True) for v in item) + b"\xff"
                    for item in items)
    return b"\x9f" + body + b"\xff"


# --- decoding -------------------------------------------------------------------------------------------

def _load(data: bytes, allow_trailing: bool, allow_indefinite: bool) -> Any:
    if not data:
        raise CborDecodeError("empty payload")
    try:
        framing = scan(data)
    except CborFramingError as exc:
        raise CborDecodeError(str(exc)) from exc
    if framing.tagged:
        raise CborDecodeError("tags are not allowed by the schema")
    if framing.indefinite and not allow_indefinite:
        raise CborDecodeError("indefinite-length item not accepted")
    if framing.end != len(data) and not allow_trailing:
        raise CborDecodeError(f"{len(data) - framing.end} trailing bytes after the list")
    try:
        return cbor2.loads(data[:framing.end])
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError) as exc:
        raise CborDecodeError(f"undecodable CBOR: {exc}") from exc


def _is_uint(value: Any) -> bool:
    return type(value) is int and value >= 0


def _text(value: Any, what: str) -> str:
    if type(value) is not str:
        raise CborDecodeError(f"{what} must be a text string")
    return value


def _corr_id(item: list[Any]) -> str:
    corr_id = _text(item[0], "correlation id")
    if len(corr_id) > MAX_ID_LENGTH:
        raise CborDecodeError(f"correlation id longer than {MAX_ID_LENGTH} characters")
    return corr_id


def _exact_length(item: list[Any], length: int, what: str) -> None:
    if len(item) > length:
        raise TooManyElements(f"{what} has {len(item)} elements, at most {length}")
    if len(item) < length:
        raise CborDecodeError(f"{what} has {len(item)} elements, needs {length}")


def _command(item: Any) -> Command:
    if type(item) is not list or len(item) < 2:
        raise CborDecodeError("a command must be an array of at least 2 elements")
    corr_id = _corr_id(item)
    kind = item[1]
    if not _is_uint(kind) or kind not in (AT_COMMAND, CONFIG, FINISHED):
        raise CborDecodeError(f"unknown command type {kind!r}")
    if kind == AT_COMMAND:
        _exact_length(item, 5, "an AT command")
        set_command = _text(item[2], "set_command")
        parameters = _text(item[3], "parameters")
        ignore = item[4]
        if type(ignore) is not list:
            raise CborDecodeError("ignore_cme_errors must be an array")
        if len(ignore) > MAX_IGNORED_CME:
            raise TooManyElements(f"{len(ignore)} ignored CME errors, at most {MAX_IGNORED_CME}")
        if not all(_is_uint(code) for code in ignore):
            raise CborDecodeError("ignored CME errors must be unsigned integers")
        return AtCommand(corr_id, set_command, parameters, tuple(ignore))
    if kind == CONFIG:
        _exact_length(item, 3, "a config command")
        mapping = item[2]
        if type(mapping) is not dict:
            raise CborDecodeError("config must be a map")
        if len(mapping) > MAX_CONFIG_PAIRS:
            raise TooManyElements(f"{len(mapping)} config pairs, at most {MAX_CONFIG_PAIRS}")
        pairs = tuple((_text(k, "config key"), _text(v, "config value")) for k, v in mapping.items())
        return ConfigCommand(corr_id, pairs)
    _exact_length(item, 2, "a finished command")
    return FinishedCommand(corr_id)


def decode_commands(data: bytes, limit: int = DEFAULT_LIMIT,
                    accept_indefinite: bool = False) -> list[Command]:
    """The device's decoder: a list of 1..`limit` commands (see the module docstring for the rules)."""
    value = _load(data, allow_trailing=True, allow_indefinite=accept_indefinite)
    if type(value) is not list or not value:
        raise CborDecodeError("commands must be a non-empty array")
    if len(value) > limit:
        raise TooManyElements(f"{len(value)} commands, at most {limit}")
    return [_command(item) for item in value]


def _response(item: Any) -> Response:
    if type(item) is not list or len(item) < 2:
        raise CborDecodeError("a response must be an array of at least 2 elements")
    corr_id = _corr_id(item)
    kind = item[1]
    if kind == ERROR and type(kind) is int:
        _exact_length(item, 4, "an error response")
        if not _is_uint(item[2]):
            raise CborDecodeError("cme_error must be an unsigned integer")
        return ErrorResponse(corr_id, item[2], _text(item[3], "message"))
    if kind == AT_OK and type(kind) is int:
        _exact_length(item, 3, "an AT response")
        return AtResponse(corr_id, _text(item[2], "message"))
    if kind == CONFIG_ACK and type(kind) is int:
        _exact_length(item, 2, "a config ack")
        return ConfigAck(corr_id)
    if kind == FINISHED_ACK and type(kind) is int:
        _exact_length(item, 2, "a finished ack")
        return FinishedAck(corr_id)
    raise CborDecodeError(f"unknown response type {kind!r}")


def decode_responses(data: bytes, max_items: int = 20) -> list[Response]:
    """The service's decoder: 1..`max_items` responses, definite or indefinite framing."""
    value = _load(data, allow_trailing=False, allow_indefinite=True)
    if type(value) is not list or not value:
        raise CborDecodeError("responses must be a non-empty array")
    if len(value) > max_items:
        raise TooManyElements(f"{len(value)} responses, at most {max_items}")
    return [_response(item) for item in value]
