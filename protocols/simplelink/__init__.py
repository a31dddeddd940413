"""Sans-I/O cores of the TI SimpleLink (CC3x20/CC3x3x) provisioning emulator."""
