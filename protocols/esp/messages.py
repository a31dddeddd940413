"""Protobuf decoding with the package's remote-error contract, and the generated message modules re-exported.

``decode(cls, data)`` is the only place that parses peer bytes into protobuf messages: any parse failure
becomes ``RemoteError`` so transports can treat it like the device does (transport failure).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from google.protobuf.message import DecodeError, Message

from protocols.esp.errors import RemoteError
from protocols.esp.proto import (
    constants_pb2,
    esp_rmaker_chal_resp_pb2,
    esp_rmaker_user_mapping_pb2,
    sec0_pb2,
    sec1_pb2,
    sec2_pb2,
    session_pb2,
    wifi_config_pb2,
    wifi_constants_pb2,
    wifi_ctrl_pb2,
    wifi_scan_pb2,
)

__all__ = [
    "chal_resp",
    "constants",
    "decode",
    "encode",
    "sec0",
    "sec1",
    "sec2",
    "session",
    "session_envelope",
    "user_mapping",
    "wifi_config",
    "wifi_constants",
    "wifi_ctrl",
    "wifi_scan",
    "with_msg",
]

constants = constants_pb2
session = session_pb2
sec0 = sec0_pb2
sec1 = sec1_pb2
sec2 = sec2_pb2
wifi_constants = wifi_constants_pb2
wifi_config = wifi_config_pb2
wifi_scan = wifi_scan_pb2
wifi_ctrl = wifi_ctrl_pb2
user_mapping = esp_rmaker_user_mapping_pb2
chal_resp = esp_rmaker_chal_resp_pb2

M = TypeVar("M", bound=Message)


def decode(cls: type[M], data: bytes) -> M:
    """Parse ``data`` as ``cls``; protobuf-c on the device fails the request on unparsable input."""
    msg = cls()
    try:
        msg.ParseFromString(bytes(data))
    except (DecodeError, ValueError, RecursionError) as exc:
        raise RemoteError(f"malformed {cls.__name__}: {exc}") from exc
    return msg


def with_msg(cls: type[M], msg: int) -> M:
    """A message with its ``msg`` type field set (the generated stubs type it as a closed enum)."""
    out = cls()
    cast(Any, out).msg = msg
    return out


def session_envelope(sec_ver: int) -> session_pb2.SessionData:
    out = session_pb2.SessionData()
    cast(Any, out).sec_ver = sec_ver
    return out


def encode(msg: Message) -> bytes:
    return msg.SerializeToString(deterministic=True)
