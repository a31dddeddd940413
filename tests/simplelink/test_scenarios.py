"""The seven sequence scenarios of SWRA513 chapter 8 as ordered expectations on the event stream,
driven as the app (HTTP, SmartConfig over UDP) and the host (control API) would drive a real device.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.simplelink.conftest import Rig

BLOCKED = -2014
HOME_AP = {"access_points": [{"ssid": "HomeNet", "security": "wpa_wpa2", "passphrase": "secret123"}]}


async def confirm_until_ip(rig: Rig) -> None:
    rig.advance(1.0)  # join
    rig.advance(0.5)  # DHCP


async def test_8_1_successful_smartconfig(rig: Rig) -> None:
    assert await rig.start("START_MODE_SC", role=0, timeout=600) == 0
    assert await rig.api() == BLOCKED
    await rig.smartconfig("HomeNet", "secret123")
    assert rig.trace() == ["13", "PA"]
    await confirm_until_ip(rig)
    assert rig.trace() == ["13", "PA", "15", "16"]
    async with rig.session.head(rig.url + "/param_cfg_result.txt") as resp:
        assert resp.status == 200  # a HEAD carries no result to the app: no feedback yet
    assert rig.trace() == ["13", "PA", "15", "16"]
    assert (await rig.get("/param_cfg_result.txt")) == (200, "5")
    assert rig.trace() == ["13", "PA", "15", "16", "5", "12"]
    assert await rig.api() == 0
    state = rig.emu.device.state()
    assert (state["phase"], state["role"], state["confirmed"]) == ("idle", 0, "HomeNet")


@pytest.mark.parametrize("overrides", [HOME_AP])
async def test_8_2_unsuccessful_smartconfig(rig: Rig, overrides: dict[str, Any]) -> None:
    assert await rig.start("START_MODE_SC", role=0, timeout=60) == 0
    await rig.smartconfig("HomeNet", "wrong-password")
    await confirm_until_ip(rig)
    assert rig.trace() == ["13", "PA", "2"]
    state = rig.emu.device.state()
    assert state["phase"] == "configuration" and state["smartconfig_listening"]
    rig.advance(61)  # nobody retries: inactivity timeout
    assert rig.trace() == ["13", "PA", "2", "12"]
    assert rig.emu.device.state()["role"] == 0  # the original role


async def test_8_3_smartconfig_with_ap_fallback(rig: Rig) -> None:
    assert await rig.start("START_MODE_APSC", role=0, timeout=600) == 0
    await rig.smartconfig("HomeNet", "secret123")
    await confirm_until_ip(rig)
    assert rig.trace() == ["13", "PA", "15", "16"]
    rig.advance(30.0)  # the app never finds the device on the home network
    assert rig.trace() == ["13", "PA", "15", "16", "4"]
    assert rig.emu.device.state()["role"] == 2  # back in the AP role
    assert (await rig.get("/__SL_G_MCR")) == (200, "4")  # the app joined mysimplelink-... and reads the result
    assert rig.trace() == ["13", "PA", "15", "16", "4", "5", "12"]


async def test_8_4_successful_ap_provisioning(rig: Rig) -> None:
    assert await rig.start("START_MODE_AP", role=0, timeout=600) == 0
    assert (await rig.get("/param_product_version.txt")) == (200, "R2.0")
    assert (await rig.post("/api/1/wlan/en_ap_scan", {"__SL_P_SC1": "10", "__SL_P_SC2": "1"}))[0] == 204
    assert (await rig.get("/netlist.txt"))[0] == 200
    assert (await rig.post("/api/1/netapp/set_urn", {"__SL_P_S.B": "Kitchen"}))[0] == 204
    profile = {"__SL_P_P.A": "HomeNet", "__SL_P_P.B": "3", "__SL_P_P.C": "secret123", "__SL_P_P.D": "0"}
    assert (await rig.post("/api/1/wlan/profile_add", profile))[0] == 204
    assert rig.trace() == ["PA"]
    assert (await rig.post("/api/1/wlan/confirm_req"))[0] == 204
    assert rig.emu.device.state()["role"] == 0  # left the AP role to join the home AP
    await confirm_until_ip(rig)
    assert rig.trace() == ["PA", "15", "16"]
    assert (await rig.get("/param_cfg_result.txt")) == (200, "5")
    assert rig.trace() == ["PA", "15", "16", "5", "12"]
    assert (await rig.get("/param_device_name.txt")) == (200, "Kitchen")


async def test_8_5_ap_provisioning_with_cloud_confirmation(rig: Rig) -> None:
    assert await rig.start("START_MODE_APSC", role=0, timeout=600, flags=1) == 0
    assert await rig.api() == BLOCKED
    profile = {"__SL_P_P.A": "HomeNet", "__SL_P_P.B": "3", "__SL_P_P.C": "secret123"}
    await rig.post("/api/1/wlan/profile_add", profile)
    await rig.post("/api/1/wlan/confirm_req")
    await confirm_until_ip(rig)
    assert rig.trace() == ["PA", "15", "16"]
    assert await rig.api("sl_Connect") == 0  # APIs allowed: the host talks to its cloud
    assert await rig.start("STOP", role=0, timeout=0) == 0
    assert rig.trace() == ["PA", "15", "16", "12"]
    assert rig.emu.device.state()["confirmed"] == "HomeNet"


async def test_8_5_cloud_confirmation_failure_branch(rig: Rig) -> None:
    assert await rig.start("START_MODE_APSC", role=0, timeout=600, flags=1) == 0
    await rig.post("/api/1/wlan/profile_add", {"__SL_P_P.A": "HomeNet", "__SL_P_P.B": "3", "__SL_P_P.C": "secret123"})
    await rig.post("/api/1/wlan/confirm_req")
    await confirm_until_ip(rig)
    assert await rig.start("ABORT_EXTERNAL_CONFIRMATION", timeout=0) == 0
    state = rig.emu.device.state()
    assert (state["phase"], state["role"], state["api_allowed"]) == ("configuration", 2, False)
    assert await rig.start("ABORT_EXTERNAL_CONFIRMATION", timeout=0) == -2177


async def test_8_6_external_configuration_wac(rig: Rig) -> None:
    assert await rig.start("START_MODE_APSC_EXTERNAL_CONFIGURATION", role=0, timeout=600) == 0
    assert rig.trace() == ["17"]
    assert await rig.api("sl_Socket") == 0  # the host listens for WAC
    assert await rig.start("STOP", role=0xFF, timeout=0) == 0  # WAC detected: stop, stay in the current role
    assert rig.trace() == ["17", "12"]
    assert rig.emu.device.state()["role"] == 2


async def test_8_7_smartconfig_while_external_configuration(rig: Rig) -> None:
    assert await rig.start("START_MODE_APSC_EXTERNAL_CONFIGURATION", role=0, timeout=600) == 0
    await rig.smartconfig("HomeNet", "secret123")
    assert rig.trace() == ["17", "13", "PA", "RR1"]
    await rig.host("host/restart")  # the host stops WAC, then sl_Stop + sl_Start
    assert await rig.api() == BLOCKED
    await confirm_until_ip(rig)
    assert (await rig.get("/__SL_G_MCR")) == (200, "5")
    assert rig.trace() == ["17", "13", "PA", "RR1", "15", "16", "5", "12"]
    reset = rig.events("reset_request")[0]
    assert reset.data["caller_name"] == "PROVISIONING_EXTERNAL_CONFIGURATION" and reset.data["wire"] == "00000100"


async def test_event_fields_on_the_stream(rig: Rig) -> None:
    assert await rig.start("START_MODE_SC", role=0, timeout=600, key="Key0Key0Key0Key0") == 0
    command = rig.events("host_command")[0].data
    assert command["opcode"] == "0x8C98" and command["body"].startswith("0100580200000000")
    await rig.smartconfig("HomeNet", "secret123", key=b"Key0Key0Key0Key0")
    status = rig.events("provisioning_status")[0].data
    assert (status["event_id"], status["opcode"], status["name"]) == (13, "0x089A", "SMART_CONFIG_SYNCED")
    added = rig.events("profile_added")[0].data
    assert (added["event_id"], added["opcode"], added["ssid"]) == (14, "0x08B2", "HomeNet")
    assert rig.emu.store.listing()[0]["key"] == "secret123"  # the host's key decrypted the key field
