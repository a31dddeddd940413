"""The TI SimpleLink (CC3x20/CC3x3x) provisioning emulator and its SmartConfig transmitter."""
