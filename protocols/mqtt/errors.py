"""The two MQTT error types: remote (the peer sent bad bytes) and local (our caller misused the API)."""

from __future__ import annotations

from protocols.errors import LocalProtocolError, RemoteProtocolError

from .enums import ReasonCode


class MqttProtocolError(RemoteProtocolError):
    """The peer violated MQTT; the only exception a decoder raises for any input bytes.

    `reason_code` is the MQTT 5 reason code a server sends in its DISCONNECT (or CONNACK, before
    the connection is accepted); an MQTT 3.1.1 server simply closes the connection.
    `unsupported_protocol_level` is set when a CONNECT asked for a protocol level this codec
    does not speak: the server then answers with a CONNACK refusal before closing (see
    `codec.encode_unsupported_version_connack`).
    """

    def __init__(
        self,
        reason_code: ReasonCode,
        message: str,
        *,
        unsupported_protocol_level: int | None = None,
    ) -> None:
        super().__init__(f"{message} (reason {reason_code.name}, 0x{reason_code.value:02X})")
        self.reason_code = reason_code
        self.message = message
        self.unsupported_protocol_level = unsupported_protocol_level


class MqttUsageError(LocalProtocolError):
    """Our caller asked for something MQTT cannot express (e.g. an MQTT 5-only packet at level 4)."""
