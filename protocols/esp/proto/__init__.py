"""Protobuf schemas of ESP protocomm, wifi_provisioning and RainMaker (sources + generated modules)."""
