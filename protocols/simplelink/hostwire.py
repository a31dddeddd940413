"""Host<->NWP wire structures of SimpleLink provisioning (SDK protocol.h, wlan.h, device.h), little-endian.

Encoders for the provisioning command body (opcode 0x8C98) and the three async events the host receives during
provisioning; a decoder for the command body that raises only HostWireError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import HostWireError, LocalProtocolError

OPCODE_PROVISIONING_COMMAND = 0x8C98
OPCODE_PROVISIONING_RESPONSE = 0x0C98
OPCODE_PROVISIONING_STATUS = 0x089A
OPCODE_PROFILE_ADDED = 0x08B2
OPCODE_RESET_REQUEST = 0x0099
WLAN_EVENT_PROVISIONING_STATUS = 13
WLAN_EVENT_PROVISIONING_PROFILE_ADDED = 14
DEVICE_EVENT_RESET_REQUEST = 6
CIPHER_AES = 1
KEY_LEN = 16
SSID_MAX = 32

_COMMAND = struct.Struct("<BBHIIBB2x16s")
_STATUS = struct.Struct("<BBBB32sI")
_PROFILE_ADDED = struct.Struct("<II32sI32s")
_RESET_REQUEST = struct.Struct("<hH")


@dataclass(frozen=True)
class ProvisioningCommand:
    """``sl_WlanProvisioning(cmd, role, timeout, key, flags)`` as it travels to the NWP."""

    cmd: int
    role: int
    timeout: int
    key: bytes | None
    flags: int

    def encode(self) -> bytes:
        if self.key is not None and len(self.key) != KEY_LEN:
            raise LocalProtocolError("the SmartConfig key is exactly 16 bytes or NULL")
        key = self.key or bytes(KEY_LEN)
        return _COMMAND.pack(self.cmd, self.role, self.timeout, self.flags, 0, CIPHER_AES, KEY_LEN, key)

    @classmethod
    def decode(cls, body: bytes) -> ProvisioningCommand:
        if len(body) != _COMMAND.size:
            raise HostWireError(f"provisioning command body is {_COMMAND.size} bytes, got {len(body)}")
        cmd, role, timeout, flags, _group, _cipher, _keylen, key = _COMMAND.unpack(body)
        return cls(cmd, role, timeout, None if key == bytes(KEY_LEN) else key, flags)


def _ssid_field(ssid: bytes) -> bytes:
    return ssid[:SSID_MAX].ljust(SSID_MAX, b"\0")


def encode_status_event(status: int, role: int, wlan_status: int, ssid: bytes) -> bytes:
    """``SlWlanEventProvisioningStatus_t`` (40 bytes)."""
    return _STATUS.pack(status, role, wlan_status, min(len(ssid), SSID_MAX), _ssid_field(ssid), 0)


def encode_profile_added(status: int, ssid: bytes, reserved: bytes = b"") -> bytes:
    """``SlWlanEventProvisioningProfileAdded_t`` (76 bytes)."""
    return _PROFILE_ADDED.pack(
        status, min(len(ssid), SSID_MAX), _ssid_field(ssid), min(len(reserved), SSID_MAX), _ssid_field(reserved)
    )


def encode_reset_request(status: int, caller: int) -> bytes:
    """``SlDeviceEventResetRequest_t``: i16 status, u16 caller."""
    return _RESET_REQUEST.pack(status, caller)
