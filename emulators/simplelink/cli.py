"""Where the emulator registry finds ``provemu simplelink ...``; the commands live with the reference clients."""

from emulators.simplelink.client.commands import add_client_commands

__all__ = ["add_client_commands"]
