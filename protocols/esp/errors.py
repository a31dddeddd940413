"""Error types of the ESP protocomm cores, on the shared hierarchy of `protocols.errors`.

``RemoteError`` is the one exception a decoder or device-side engine raises for bytes the peer sent; a real
device reacts to it with a transport failure (HTTP close without reply, ATT error). ``LocalError`` means the
caller misused an API (wrong order of calls on a client engine, bad configuration).
"""

from __future__ import annotations

from protocols.errors import LocalProtocolError, ProtocolError, RemoteProtocolError


class EspError(ProtocolError):
    """Base class of every error raised by ``protocols.esp``."""


class RemoteError(EspError, RemoteProtocolError):
    """The peer sent something the device rejects with a transport failure."""


class CredentialsMismatch(RemoteError):
    """Security 1 PoP or Security 2 SRP proof did not match (``SESSION_CREDENTIALS_MISMATCH``)."""


class LocalError(EspError, LocalProtocolError):
    """Our own caller misused an API."""
