"""Tests of the nRF Cloud provisioning emulator and the fake nRF91 device."""
