"""`provemu aws ...`: the entry point the emulator registry names; the commands live in the reference client."""

from emulators.aws.client.cli import add_client_commands

__all__ = ["add_client_commands"]
