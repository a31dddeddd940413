"""Wi-Fi provisioning over SoftAP with the ESP provisioning app API against the `esp_node` fixture."""

from __future__ import annotations

import pytest

from emulators.esp.client.app import ESPConnectStatus, ESPDevice
from protocols.esp.client import WifiStatus

POP = "s3cret-pop"

pytestmark = pytest.mark.provemu(esp={"security": 1, "pop": POP, "instant": True})


def device_for(esp_node, pop: str) -> ESPDevice:
    host, port = esp_node.address()
    return ESPDevice(esp_node.listener().name, "softap", security=1, proof_of_possession=pop,
                     address=f"{host}:{port}", poll_interval=0.05)


async def test_app_provisions_the_node(esp_node) -> None:
    device = device_for(esp_node, POP)
    assert await device.connect() is ESPConnectStatus.CONNECTED
    try:
        assert await device.initialize_session()
        reading = await device.provision_wifi("provemu-ap", "provemu-pass")
    finally:
        await device.disconnect()
    assert reading.status is WifiStatus.CONNECTED
    await esp_node.await_event(where=lambda e: e["data"].get("endpoint") == "prov-config")


async def test_wrong_pop_fails_the_session(esp_node) -> None:
    device = device_for(esp_node, "not-the-pop")
    assert await device.connect() is ESPConnectStatus.CONNECTED
    try:
        assert not await device.initialize_session()
    finally:
        await device.disconnect()
    await esp_node.await_event("credentials_mismatch")
