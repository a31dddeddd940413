"""Tests of the TI SimpleLink emulator."""
