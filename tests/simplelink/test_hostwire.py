"""Host<->NWP structures: sizes and field layout (SDK protocol.h, wlan.h, device.h)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.simplelink import hostwire
from protocols.simplelink.errors import HostWireError, LocalProtocolError


def test_status_event_layout() -> None:
    wire = hostwire.encode_status_event(16, 0, 3, b"HomeNet")
    assert len(wire) == 40
    assert wire[:4] == bytes([16, 0, 3, 7]) and wire[4:11] == b"HomeNet" and wire[36:] == bytes(4)


def test_profile_added_layout() -> None:
    wire = hostwire.encode_profile_added(0, b"HomeAP")
    assert len(wire) == 76
    status, ssid_len, ssid, reserved_len, _ = struct.unpack("<II32sI32s", wire)
    assert (status, ssid_len, ssid.rstrip(b"\0"), reserved_len) == (0, 6, b"HomeAP", 0)


def test_reset_request_layout() -> None:
    assert hostwire.encode_reset_request(0, 1) == b"\x00\x00\x01\x00"


def test_command_round_trip() -> None:
    cmd = hostwire.ProvisioningCommand(2, 0, 600, b"Key0Key0Key0Key0", 1)
    body = cmd.encode()
    assert len(body) == 32
    assert body[:4] == bytes([2, 0]) + (600).to_bytes(2, "little")
    assert body[12:14] == bytes([hostwire.CIPHER_AES, 16])
    assert hostwire.ProvisioningCommand.decode(body) == cmd
    assert hostwire.ProvisioningCommand.decode(hostwire.ProvisioningCommand(4, 0xFF, 0, None, 0).encode()).key is None


def test_command_key_must_be_16_bytes() -> None:
    with pytest.raises(LocalProtocolError):
        hostwire.ProvisioningCommand(0, 0, 600, b"short", 0).encode()


@given(st.binary(max_size=64))
def test_command_garbage_only_raises_host_wire_error(body: bytes) -> None:
    try:
        hostwire.ProvisioningCommand.decode(body)
    except HostWireError:
        assert len(body) != 32
