"""Tests of the ESP32 provisioning emulator, its cores and the fake app."""
