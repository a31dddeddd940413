"""Typed exceptions of the SimpleLink cores, on the shared hierarchy of :mod:`protocols.errors`.

Local errors mean our caller misused an API (bad arguments to the encoder, a command the state machine cannot
take). Remote errors mean the peer sent bytes we cannot accept; each decoder raises only its own subclass.
"""

from __future__ import annotations

from protocols import errors


class SimpleLinkError(errors.ProtocolError):
    """Base class of every SimpleLink core exception."""


class LocalProtocolError(SimpleLinkError, errors.LocalProtocolError, ValueError):
    """The caller passed input the protocol does not allow (e.g. an SSID over 32 bytes)."""


class RemoteProtocolError(SimpleLinkError, errors.RemoteProtocolError):
    """The peer sent something malformed."""


class SmartConfigDecodeError(RemoteProtocolError):
    """A complete SmartConfig message whose content cannot be turned into a profile."""


class FormError(RemoteProtocolError):
    """An HTTP provisioning request whose form or fields the device rejects."""


class HostWireError(RemoteProtocolError):
    """A malformed host<->NWP provisioning command or event body."""


class FrameError(RemoteProtocolError):
    """A captured 802.11 frame that cannot carry a SmartConfig symbol."""
