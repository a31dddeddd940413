"""Tests of the sans-I/O MQTT codec, properties and topic matching (protocols.mqtt)."""
