"""Fixtures: an in-process nRF emulator on free ports, fake devices aimed at it, management helpers."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from emulators.harness import running
from emulators.nrf.client.device import DeviceIdentity, DeviceOptions, FakeDevice
from protocols.nrf.client import LibraryConfig


class Nrf:
    def __init__(self, suite: Any) -> None:
        self.suite = suite
        self.emulator = suite.emulators["nrf"]
        self.ports = {lst.name: lst.port for lst in self.emulator.listeners()}
        self.api = f"{suite.control_url}/api/nrf"
        self.devices: list[FakeDevice] = []

    def url(self, name: str) -> str:
        scheme = {"https": "https", "http": "http", "coap": "coap", "coaps": "coaps"}[name]
        return f"{scheme}://127.0.0.1:{self.ports[name]}"

    def device(self, transport: str = "http", listener: str | None = None, identity: DeviceIdentity | None = None,
               options: dict[str, Any] | None = None, **library: Any) -> FakeDevice:
        listener = listener or ("https" if transport == "http" else "coap")
        opts = DeviceOptions(http_url=self.url(listener), coap_url=self.url(listener),
                             ca_file=self.suite.pki.ca_path, connect_timeout=5.0, http_timeout=5.0,
                             coap_timeout=5.0, coap_ack_timeout=0.05, coap_max_retransmit=1)
        for key, value in (options or {}).items():
            setattr(opts, key, value)
        config = LibraryConfig(transport="http" if transport == "http" else "coap", modem_state_wait_timeout=0,
                               valid_datetime_timeout=0, **library)
        device = FakeDevice(identity or DeviceIdentity.generate().endorsed(self.emulator.identity_ca), config, opts)
        self.devices.append(device)
        return device

    async def close(self) -> None:
        for device in self.devices:
            await device.close()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.request(method, self.api + path, json=body) as r:
            return r.status, (await r.json() if r.content_type == "application/json" else None)

    async def claim(self, device: FakeDevice, tags: list[str] | None = None) -> None:
        status, body = await self.call("POST", "/v1/claimed-devices", {
            "claimToken": device.attestation_token(), "publicKey": device.identity.public_key_pem,
            "tags": tags or []})
        assert status == 201, body

    async def command(self, device: FakeDevice, request: dict[str, Any]) -> str:
        status, body = await self.call("POST", f"/v1/claimed-devices/{device.identity.device_id}/provisioning",
                                       {"request": request})
        assert status == 201, body
        return str(body["id"])

    async def commands(self, device: FakeDevice) -> list[dict[str, Any]]:
        status, body = await self.call("GET", f"/v1/claimed-devices/{device.identity.device_id}/provisioning")
        assert status == 200
        return list(body["items"])

    def fault(self, action: str, count: int | None = 1, params: dict[str, Any] | None = None,
              **match: str) -> None:
        self.emulator.faults.add(action, match, params or {}, count)


@pytest.fixture
async def nrf(tmp_path):
    async with running(["nrf"], state_dir=tmp_path) as suite:
        handle = Nrf(suite)
        yield handle
        await handle.close()
