"""SmartConfig end to end: transmitter -> UDP (unicast and loopback multicast) -> receiver -> confirmation,
with datagram loss, garbage datagrams, the AES key option, and discovery after joining (UDP 1501, mDNS)."""

from __future__ import annotations

import asyncio
import random
import socket
from typing import Any

import pytest

from tests.simplelink.conftest import Rig

KEY = "Key0Key0Key0Key0"


def lossy(rate: float, seed: int) -> Any:
    rng = random.Random(seed)
    return lambda _n: rng.random() < rate


@pytest.mark.parametrize("loss", [0.0, 0.1, 0.3])
async def test_transmitter_to_confirmation_with_loss(rig: Rig, loss: float) -> None:
    assert await rig.start("START_MODE_SC", timeout=600) == 0
    await rig.smartconfig("HomeNet", "secret123", name="Kitchen", drop=lossy(loss, 7))
    assert rig.trace() == ["13", "PA"]
    added = rig.events("profile_added")[0].data
    assert added["ssid"] == "HomeNet" and added["ssid_len"] == 7 and len(bytes.fromhex(added["wire"])) == 76
    rig.advance(1.0)
    rig.advance(0.5)
    assert await rig.get("/param_cfg_result.txt") == (200, "5")
    assert rig.trace() == ["13", "PA", "15", "16", "5", "12"]
    profiles = rig.emu.store.listing()
    assert [(p["ssid"], p["security"], p["key"], p["priority"], p["source"]) for p in profiles] == [
        ("HomeNet", 2, "secret123", 0, "smartconfig")
    ]
    assert rig.emu.device.device_name == "Kitchen"


@pytest.mark.parametrize("overrides", [{"smartconfig_key": KEY, "start": "sc"}])
async def test_multicast_with_key(rig: Rig, overrides: dict[str, Any]) -> None:
    assert rig.emu.receiver is not None and rig.emu.receiver.multicast_bound
    await rig.smartconfig("HomeNet", "secret123", key=KEY.encode(), target="224.0.0.235")
    message = rig.events("smartconfig_message")[0].data
    assert message["encrypted_marker"] is True
    assert rig.emu.store.listing()[0]["key"] == "secret123"


async def test_garbage_datagrams_do_not_disturb(rig: Rig) -> None:
    assert await rig.start("START_MODE_SC", timeout=600) == 0
    assert rig.emu.receiver is not None
    port = rig.emu.receiver.port
    rng = random.Random(3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(300):
            sock.sendto(bytes(rng.randrange(0, 1400)), ("127.0.0.1", port))
    await asyncio.sleep(0.05)
    assert rig.trace() == [] and rig.emu.device.state()["phase"] == "configuration"
    noise = random.Random(4)

    def drop_and_interfere(n: int) -> bool:
        if n % 7 == 0:
            sock2.sendto(bytes(noise.randrange(0, 1400)), ("127.0.0.1", port))
        return False

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock2:
        await rig.smartconfig("HomeNet", "secret123", drop=drop_and_interfere)
    assert rig.trace() == ["13", "PA"] and rig.emu.store.listing()[0]["key"] == "secret123"


async def test_drop_fault_and_sync_timeout(rig: Rig) -> None:
    assert await rig.start("START_MODE_SC", timeout=600) == 0
    url = f"{rig.suite.control_url}/api/simplelink/faults"
    async with rig.session.post(url, json={"action": "drop_datagram", "params": {"probability": 0.2}}) as resp:
        assert resp.status == 201
    await rig.smartconfig("HomeNet", "secret123")
    assert rig.trace() == ["13", "PA"]
    rig.emu.device.decoder.reset()
    async with rig.session.delete(url):
        pass
    # a transmission that starts but never completes: status 14 once the sync timeout passes
    assert await rig.start("STOP", role=0, timeout=0) == 0
    assert await rig.start("START_MODE_SC", timeout=600) == 0
    await rig.host("smartconfig/lengths", lengths=[1099, 1099, 34, 34, 597])
    rig.advance(61)
    assert rig.trace()[-1] == "14"


async def test_smartconfig_ignored_in_ap_only_mode(rig: Rig) -> None:
    assert await rig.start("START_MODE_AP", timeout=600) == 0
    await rig.host("smartconfig/lengths", lengths=[1099, 1099, 34, 34, 597, 681] * 3)
    assert rig.emu.device.state()["smartconfig"]["received"] == 0


@pytest.mark.parametrize("overrides", [{"udp_broadcast": True, "broadcast_interval": 0.05}])
async def test_udp_1501_discovery_broadcast(rig: Rig, overrides: dict[str, Any]) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.255.255.255", 0))
    listener.setblocking(False)
    rig.emu.config.broadcast_udp = listener.getsockname()[1]
    try:
        assert await rig.start("START_MODE_SC", timeout=600) == 0
        await rig.smartconfig("HomeNet", "secret123", name="Kitchen")
        rig.advance(1.0)
        rig.advance(0.5)
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(listener, 256), 5)
        assert data == b"127.0.0.1,Kitchen"
    finally:
        listener.close()


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [{"mdns": True, "device_name": "provemu-sl-test"}])
async def test_mdns_discovery(rig: Rig, overrides: dict[str, Any]) -> None:
    from zeroconf import ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    assert await rig.start("START_MODE_SC", timeout=600) == 0
    await rig.smartconfig("HomeNet", "secret123")
    rig.advance(1.0)
    rig.advance(0.5)
    await rig.wait("mdns_registered", timeout=20)
    found: asyncio.Queue[str] = asyncio.Queue()

    def on_change(zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            found.put_nowait(name)

    browser_zc = AsyncZeroconf(interfaces=["127.0.0.1"])
    browser = AsyncServiceBrowser(browser_zc.zeroconf, "_http._tcp.local.", handlers=[on_change])
    try:
        while True:
            name = await asyncio.wait_for(found.get(), 15)
            if name.startswith("provemu-sl-test"):
                break
        info = AsyncServiceInfo("_http._tcp.local.", name)
        assert await info.async_request(browser_zc.zeroconf, 5000)
        assert info.properties[b"srcvers"] == b"1D90645" and info.properties[b"path"] == b"/"
        assert info.parsed_addresses() == ["127.0.0.1"]
    finally:
        await browser.async_cancel()
        await browser_zc.async_close()
    assert await rig.get("/param_cfg_result.txt") == (200, "5")
    await rig.wait("mdns_unregistered", timeout=10)


@pytest.mark.parametrize("overrides", [{"udp_broadcast": True, "broadcast_address": "127.0.0.1"}])
async def test_discovery_broadcast_repeats_on_the_emulator_clock(rig: Rig, overrides: dict[str, Any]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        rig.emu.config.broadcast_udp = listener.getsockname()[1]
        assert await rig.start("START_MODE_SC", timeout=600) == 0
        await rig.smartconfig("HomeNet", "secret123")
        rig.advance(1.0)
        rig.advance(0.5)
        assert len(rig.events("udp_broadcast")) == 1
        await asyncio.sleep(0.2)  # the ticker runs in real time, but the manual clock stands still
        assert len(rig.events("udp_broadcast")) == 1
        rig.advance(rig.emu.config.broadcast_interval)
        assert len(rig.events("udp_broadcast")) == 2
