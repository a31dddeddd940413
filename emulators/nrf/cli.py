"""Where the client registry finds `provemu nrf ...`; the commands live with the reference client."""

from __future__ import annotations

from emulators.nrf.client.cli import add_client_commands

__all__ = ["add_client_commands"]
