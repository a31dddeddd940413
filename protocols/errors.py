"""The one error hierarchy of every protocol core, after h11's.

`ProtocolError` is the root. `RemoteProtocolError` means the peer sent something the protocol does not allow:
a server answers it on the wire (an error status, a DISCONNECT, a refusal) and carries on serving others.
`LocalProtocolError` means our own caller misused a core's API (a method called in a state that does not allow
it, arguments the protocol cannot express): a bug in provemu, never something a peer can cause.
Every protocol package's error types subclass one of the two.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error a protocol core raises."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes or a message the protocol does not allow."""


class LocalProtocolError(ProtocolError):
    """Our caller used a core's API in a way the protocol or the core's state does not allow."""
