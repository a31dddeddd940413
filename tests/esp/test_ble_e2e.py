
"""End to end over BLE: the emulator's bumble GATT peripheral and the fake app's bumble central on one
in-process virtual link (ESP-IDF protocomm_nimble.c; bumble's LocalLink)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("bumble", reason="bumble (the 'ble' extra) is not installed")

from bumble.core import UUID

from emulators.esp.client.app import ESPConnectStatus, ESPDevice, ESPProvisionManager, ESPProvisionStatus
from emulators.esp.client.ble import BleCentralTransport
from emulators.esp.client.transport import TransportError
from emulators.esp.radio import USER_DESCRIPTION, characteristic_uuid
from emulators.harness import running
from protocols.esp import client as msgs
from protocols.esp.client_security import Sec1Client

from .conftest import control, event

pytestmark = pytest.mark.ble


def ble_overrides(**extra: object) -> dict[str, dict[str, object]]:
    return {"esp": {"instant": True, "ble": True, **extra}}


@pytest.mark.parametrize("security", [0, 1, 2])
async def test_provisioning_over_ble(tmp_path: Path, security: int) -> None:
    async with running(["esp"], tmp_path, ble_overrides(security=security)) as suite:
        manager = ESPProvisionManager(poll_interval=0.0)
        found = await manager.search_esp_devices("PROV_", "ble", timeout=0.5)
        name = suite.emulators["esp"].listeners()[0].name
        assert [d.name for d in found] == [name]
        device = manager.create_esp_device(name, "ble", security, "abcd1234")
        assert await device.connect() is ESPConnectStatus.CONNECTED
        assert await device.initialize_session()
        assert [n.ssid for n in await device.scan_wifi_list()] == ["provemu-ap"]
        events: list[object] = []
        assert await device.provision("provemu-ap", "provemu-pass", events.append) is ESPProvisionStatus.SUCCESS
        await device.disconnect()
        kinds = [(e.kind, e.data.get("transport")) for e in suite.events.since(0, "esp")]
        assert ("session_opened", "ble") in kinds and ("session_closed", "ble") in kinds
        assert ("wifi_connected", None) in kinds


async def test_ble_stops_after_provisioning(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, ble_overrides(cleanup_delay=0.0)) as suite:
        emu = suite.emulators["esp"]
        name = emu.listeners()[0].name
        device = ESPDevice(name, "ble", 2, "abcd1234", poll_interval=0.0)  # type: ignore[arg-type]
        assert await device.connect() is ESPConnectStatus.CONNECTED
        assert await device.initialize_session()
        assert (await device.provision_wifi("provemu-ap", "provemu-pass")).status is msgs.WifiStatus.CONNECTED
        await suite.events.wait_for(event("stopped", what="ble_advertising"), 2.0)
        await device.disconnect()
        assert await ESPProvisionManager().search_esp_devices("PROV_", "ble", timeout=0.3) == []
        await control_reset(suite.control_url, name)
        await suite.events.wait_for(event("started", what="ble_advertising"), 2.0)
        assert [d.name for d in await ESPProvisionManager().search_esp_devices("PROV_", "ble", timeout=1.0)] == [name]


async def control_reset(url: str, name: str) -> None:
    code, _ = await control(url, "POST", f"/api/esp/nodes/{name}/factory-reset")
    assert code == 200


async def test_gatt_layout_names_and_exchange_rules(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, ble_overrides(security=1, custom_endpoints=["custom-data"])) as suite:
        emu = suite.emulators["esp"]
        name = emu.listeners()[0].name
        transport = await BleCentralTransport.connect(name)
        try:
            chars = transport.characteristics
            assert set(chars) == {"prov-ctrl", "prov-scan", "prov-session", "prov-config", "proto-ver", "custom-data"}
            service = emu.ble[name].service_uuid  # type: ignore[attr-defined]
            assert str(chars["prov-session"].uuid).lower() == characteristic_uuid(service, 0xFF51)
            assert str(chars["custom-data"].uuid).lower() == characteristic_uuid(service, 0xFF54)
            for char in chars.values():
                assert [d.type for d in char.descriptors] == [UUID.from_16_bits(USER_DESCRIPTION)]
            assert await chars["proto-ver"].read_value() == b""  # read before any write
            info = await transport.send("proto-ver", b"ESP")
            assert b'"sec_ver":\t1' in info
            assert await chars["proto-ver"].read_value() == info  # the reply stays on the characteristic
            with pytest.raises(TransportError):  # longer than the 512-byte ATT value limit
                await transport.send("prov-session", b"\x00" * 513)
            client = Sec1Client(b"abcd1234", rng=os.urandom)
            request: bytes | None = client.start()
            while request is not None:
                request = client.receive(await transport.send("prov-session", request))
            reply = client.decrypt(await transport.send("custom-data", client.encrypt(b"hello")))
            assert reply == b"SUCCESS\x00"
        finally:
            await transport.close()


@pytest.mark.parametrize(("flavour", "link_survives"), [("nimble", True), ("bluedroid", False)])
async def test_wrong_pop_over_ble(tmp_path: Path, flavour: str, link_survives: bool) -> None:
    async with running(["esp"], tmp_path, ble_overrides(security=1, ble_failure=flavour)) as suite:
        name = suite.emulators["esp"].listeners()[0].name
        transport = await BleCentralTransport.connect(name)
        try:
            client = Sec1Client(b"wrong-pop", rng=os.urandom)
            cmd1 = client.receive(await transport.send("prov-session", client.start()))
            assert cmd1 is not None
            with pytest.raises(TransportError):
                await transport.send("prov-session", cmd1)
            await suite.events.wait_for(lambda e: e.kind == "credentials_mismatch", 2.0)
            if not link_survives:
                await suite.events.wait_for(lambda e: e.kind == "session_closed", 2.0)
                await asyncio.sleep(0)
                assert transport.disconnected
            else:
                assert await transport.send("proto-ver", b"ESP")  # NimBLE keeps the connection
        finally:
            await transport.close()
        device = ESPDevice(name, "ble", 1, "abcd1234", poll_interval=0.0)  # type: ignore[arg-type]
        assert await device.connect() is ESPConnectStatus.CONNECTED
        assert await device.initialize_session()
        await device.disconnect()


async def test_bluedroid_value_limit(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, ble_overrides(security=2, ble_failure="bluedroid")) as suite:
        transport = await BleCentralTransport.connect(suite.emulators["esp"].listeners()[0].name)
        try:
            with pytest.raises(TransportError, match="INVALID_ATTRIBUTE_LENGTH"):
                await transport.send("prov-session", b"\x00" * 482)
        finally:
            await transport.close()


async def test_advertisement_carries_name_and_service_uuid(tmp_path: Path) -> None:
    from bumble.core import AdvertisingData

    from emulators.esp.radio import SERVICE_UUID, Radio, link_for

    async with running(["esp"], tmp_path, ble_overrides()) as suite:
        name = suite.emulators["esp"].listeners()[0].name
        radio = await Radio.open("observer", link_for())
        seen: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        def on_advertisement(adv: Any) -> None:
            if not seen.done():
                seen.set_result(adv.data_bytes)

        radio.device.on("advertisement", on_advertisement)
        try:
            await radio.device.start_scanning()
            data = AdvertisingData.from_bytes(await asyncio.wait_for(seen, 5.0))
        finally:
            await radio.close()
        assert data.get(AdvertisingData.COMPLETE_LOCAL_NAME) == name
        uuids = data.get(AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS)
        assert uuids is not None and str(uuids[0]).lower() == SERVICE_UUID
        assert data.get(AdvertisingData.FLAGS) is None  # dropped so name + UUID fit in 31 bytes
        assert len(bytes(data)) <= 31


async def test_garbage_over_ble_keeps_serving(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, ble_overrides(security=2)) as suite:
        name = suite.emulators["esp"].listeners()[0].name
        transport = await BleCentralTransport.connect(name)
        try:
            for endpoint, payload in (("prov-session", b"\xff\xff"), ("prov-config", msgs.get_status())):
                with pytest.raises(TransportError):
                    await transport.send(endpoint, payload)
            assert b"prov" in await transport.send("proto-ver", b"ESP")
        finally:
            await transport.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
async def test_across_processes_through_bumble_controllers(tmp_path: Path) -> None:
    import subprocess
    import sys

    node_port, app_port = _free_port(), _free_port()
    relay = subprocess.Popen([sys.executable, "-m", "bumble.apps.controllers", f"tcp-server:127.0.0.1:{node_port}",
                              f"tcp-server:127.0.0.1:{app_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):  # wait until the relay listens
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", app_port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        overrides = ble_overrides(ble_transport=f"tcp-client:127.0.0.1:{node_port}")
        async with running(["esp"], tmp_path, overrides) as suite:
            name = suite.emulators["esp"].listeners()[0].name
            link = f"tcp-client:127.0.0.1:{app_port}"
            device = ESPDevice(name, "ble", 2, "abcd1234", ble_link=link, poll_interval=0.0)  # type: ignore[arg-type]
            assert await device.connect() is ESPConnectStatus.CONNECTED
            assert await device.initialize_session()
            assert (await device.provision_wifi("provemu-ap", "provemu-pass")).status is msgs.WifiStatus.CONNECTED
            await device.disconnect()
    finally:
        relay.terminate()
        relay.wait(10)
