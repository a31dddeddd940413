"""AP-mode HTTP provisioning end to end over loopback: the reference app, HTTPS with the 302 switch, tokens,
bad input, the profile table, the simulated Wi-Fi outcomes and the fault model."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulators.clock import ManualClock
from emulators.harness import running
from emulators.routes import openapi_paths
from emulators.simplelink.client.ap import ApProvisioningClient
from tests.simplelink.conftest import HOST, QUIET, Rig

INSTANT = {"connect_delay": 0.0, "ip_delay": 0.0, "start": "apsc"}
PROFILE = {"__SL_P_P.A": "HomeNet", "__SL_P_P.B": "3", "__SL_P_P.C": "secret123", "__SL_P_P.D": "0"}


@pytest.mark.parametrize("overrides", [INSTANT])
async def test_reference_app_flow(rig: Rig, overrides: dict[str, Any]) -> None:
    client = ApProvisioningClient(rig.url, rig.session)
    result = await client.provision("HomeNet", "secret123", security=3, name="Kitchen")
    assert (result.version, result.result, result.device_name) == ("R2.0", "5", "Kitchen")
    assert rig.trace() == ["PA", "15", "16", "5", "12"]
    listing = (await (await rig.session.get(f"{rig.suite.control_url}/api/simplelink/profiles")).json())["profiles"]
    assert [(p["ssid"], p["security"], p["key"], p["priority"]) for p in listing] == [("HomeNet", 2, "secret123", 0)]


@pytest.mark.parametrize("overrides", [{**INSTANT, "https": True}])
async def test_https_with_redirect(rig: Rig, overrides: dict[str, Any]) -> None:
    async with rig.session.get(rig.url + "/param_product_version.txt", headers=HOST, allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert rig.emu.http is not None
    assert location == f"https://mysimplelink.net:{rig.emu.http.https_port}/param_product_version.txt"
    client = ApProvisioningClient(rig.url, rig.session)
    result = await client.provision("HomeNet", "secret123")
    assert result.base_url.startswith("https://") and result.result == "5"
    assert any(e.data.get("https") for e in rig.events("request"))


@pytest.mark.parametrize("overrides", [{"start": "ap"}])
async def test_tokens_and_files(rig: Rig, overrides: dict[str, Any]) -> None:
    assert await rig.get("/__SL_G_DNP") == (200, "mysimplelink-00A1B2")
    assert await rig.get("/param_device_name.txt") == (200, "mysimplelink")
    assert await rig.get("/__SL_G_PIP") == (200, "127.0.0.1")
    assert await rig.get("/__SL_G_S.D") == (200, "Access Point")
    assert await rig.get("/__SL_G_ZZZ") == (200, "Unknown Token")
    assert await rig.get("/device?appname") == (200, "appname=out_of_box")
    assert await rig.get("/param_cfg_result.txt") == (200, "0")
    assert await rig.get("/netlist.txt") == (200, ";".join(["X"] * 15))
    assert (await rig.post("/api/1/iotlink/uuid", {"uuid": "abc"}))[0] == 200
    assert (await rig.post("/api/1/wlan/en_ap_scan/set_time", {"__SL_P_S.J": "2024,05,01,12,30,00"}))[0] == 204
    assert (await rig.post("/api/1/wlan/policy_set", {"__SL_P_P.E": "", "__SL_P_P.Q": ""}))[0] == 204
    assert (await rig.post("/api/1/wlan/en_ap_scan/station_action", {"__SL_P_CRR": "1"}))[0] == 204
    assert (await rig.get("/nothing-here"))[0] == 404


@pytest.mark.parametrize("overrides", [{"start": "ap"}])
async def test_bad_input_is_answered_logged_and_harmless(rig: Rig, overrides: dict[str, Any]) -> None:
    await rig.post("/api/1/wlan/profile_add", PROFILE)
    before = rig.emu.store.listing()
    bad: list[bytes | dict[str, str]] = [
        b"__SL_P_P.A=%zz",
        b"__SL_P_P.A=" + b"A" * 40 + b"&__SL_P_P.B=3&__SL_P_P.C=secret123",
        {"__SL_P_P.A": "Other", "__SL_P_P.B": "9", "__SL_P_P.C": "secret123"},
        {"__SL_P_P.A": "Other", "__SL_P_P.B": "3", "__SL_P_P.C": "x" * 65},
        {"__SL_P_P.A": "Other", "__SL_P_P.B": "3", "__SL_P_P.C": "secret123", "__SL_P_P.D": "high"},
        "__SL_P_P.A=é".encode(),
    ]
    for body in bad:
        status, text = await rig.post("/api/1/wlan/profile_add", body)
        assert status == 400 and text.startswith("Bad Request")
    async with rig.session.post(rig.url + "/api/1/wlan/profile_add", data=b"x" * 70_000) as resp:
        assert resp.status == 413
    assert len(rig.events("bad_request")) == len(bad)
    assert rig.emu.store.listing() == before
    assert rig.trace() == ["PA"]
    assert (await rig.post("/api/1/wlan/confirm_req"))[0] == 204  # still serving, state intact
    assert rig.emu.device.state()["candidate"] == "HomeNet"


@pytest.mark.parametrize("overrides", [{"start": "ap"}])
async def test_starter_pro_double_post_and_token_memory(rig: Rig, overrides: dict[str, Any]) -> None:
    """Unknown security: Starter Pro posts WEP first (rejected for this key), then WPA1; P.D is left out."""
    wep = {"__SL_P_P.A": "HomeNet", "__SL_P_P.B": "1", "__SL_P_P.C": "secret123"}
    assert (await rig.post("/api/1/wlan/profile_add", wep))[0] == 400
    assert (await rig.post("/api/1/wlan/profile_add", {"__SL_P_P.B": "2"}))[0] == 204  # A and C kept
    assert [(p["ssid"], p["security"], p["key"]) for p in rig.emu.store.listing()] == [("HomeNet", 2, "secret123")]


@pytest.mark.parametrize(
    ("ap", "status"),
    [
        ({"ssid": "Elsewhere", "security": "wpa_wpa2", "passphrase": "secret123"}, 1),
        ({"ssid": "HomeNet", "security": "wpa_wpa2", "passphrase": "other-pass"}, 2),
        ({"ssid": "HomeNet", "security": "wpa3", "passphrase": "secret123"}, 2),
        ({"ssid": "HomeNet", "security": "wpa_wpa2", "passphrase": "secret123", "dhcp": False}, 3),
    ],
)
async def test_confirmation_failure_reasons(rig: Rig, ap: dict[str, Any], status: int) -> None:
    async with rig.session.put(f"{rig.suite.control_url}/api/simplelink/access-points", json={"access_points": [ap]}):
        pass
    assert await rig.start("START_MODE_AP", timeout=600) == 0
    await rig.post("/api/1/wlan/profile_add", PROFILE)
    await rig.post("/api/1/wlan/confirm_req")
    rig.advance(1.0)
    rig.advance(0.5)
    assert rig.trace()[-1] == str(status)
    assert await rig.get("/param_cfg_result.txt") == (200, str(status))
    assert rig.emu.device.state()["phase"] == "configuration"


async def fault(rig: Rig, action: str, **body: Any) -> None:
    async with rig.session.post(f"{rig.suite.control_url}/api/simplelink/faults", json={"action": action, **body}) as r:
        assert r.status == 201, await r.text()


async def test_faults(rig: Rig) -> None:
    await fault(rig, "start_abort", count=1)
    assert await rig.start("START_MODE_AP") == -2173
    assert rig.trace() == ["6"]
    assert await rig.start("START_MODE_AP") == 0
    await fault(rig, "general_error", count=1)
    rig.advance(0.1)
    assert rig.trace() == ["6", "0"]
    await fault(rig, "http_status", match={"path": "/netlist.txt"}, params={"status": 503, "body": "busy"}, count=1)
    assert await rig.get("/netlist.txt") == (503, "busy")
    await fault(rig, "join_outcome", match={"ssid": "HomeNet"}, params={"outcome": "network_not_found"}, count=1)
    await rig.post("/api/1/wlan/profile_add", PROFILE)
    await rig.post("/api/1/wlan/confirm_req")
    rig.advance(1.0)
    assert rig.trace()[-1] == "1"
    await rig.post("/api/1/wlan/confirm_req")  # the user retries the same profile
    rig.advance(1.0)
    rig.advance(0.5)
    await fault(rig, "ignore_result_read", count=1)
    assert await rig.get("/__SL_G_MCR") == (200, "5")  # answered, but the feedback never counts
    rig.advance(30.0)
    assert rig.trace()[-1] == "4"


async def test_profile_table_limit_and_control_api(rig: Rig) -> None:
    url = f"{rig.suite.control_url}/api/simplelink/profiles"
    for i in range(7):
        async with rig.session.post(url, json={"ssid": f"Net{i}", "security": 3, "key": "secret123"}) as resp:
            assert resp.status == 201
    async with rig.session.post(url, json={"ssid": "Net7", "security": 3, "key": "secret123"}) as resp:
        assert resp.status == 409
    assert await rig.start("START_MODE_APSC") == -2171
    assert rig.trace() == ["9"]
    async with rig.session.delete(url):
        pass
    assert rig.emu.store.count() == 0
    assert await rig.start("START_MODE_APSC") == 0


@pytest.mark.parametrize("overrides", [{"http_server": False}])
async def test_http_server_disabled(rig: Rig, overrides: dict[str, Any]) -> None:
    assert await rig.start("START_MODE_AP") == -2170
    assert await rig.start("START_MODE_SC") == 0
    assert rig.trace() == ["8"]


async def test_blocked_apis_and_events_through_control(rig: Rig) -> None:
    assert await rig.start("START_MODE_SC") == 0
    assert await rig.api("sl_WlanSetScanPolicy") == -2052
    assert (await rig.host("host/event", kind="ip_acquired"))["delivered"] is False
    assert (await rig.host("host/event", kind="provisioning_status"))["delivered"] is True
    async with rig.session.post(
        f"{rig.suite.control_url}/api/simplelink/host/provisioning", json={"cmd": "BOGUS"}
    ) as r:
        assert r.status == 400


async def test_profiles_survive_restart(tmp_path: Path) -> None:
    settings = {"simplelink": {**QUIET, "start": "ap"}}
    async with running(["simplelink"], tmp_path, overrides=settings, clock=ManualClock()) as suite:
        emu = suite.emulators["simplelink"]
        async with aiohttp.ClientSession() as session:
            rig = Rig(suite, ManualClock(), session)
            await rig.post("/api/1/wlan/profile_add", PROFILE)
            await rig.post("/api/1/netapp/set_urn", {"__SL_P_S.B": "Kitchen"})
        assert emu is not None
    async with running(["simplelink"], tmp_path, overrides=settings, clock=ManualClock()) as suite:
        emu = suite.emulators["simplelink"]
        assert [p["ssid"] for p in emu.store.listing()] == ["HomeNet"]  # type: ignore[attr-defined]
        assert emu.device.device_name == "Kitchen"  # type: ignore[attr-defined]


async def test_auto_provisioning_e2e(tmp_path: Path) -> None:
    clock = ManualClock()
    settings = {"simplelink": {**QUIET, "start": "none", "role": "ap"}}
    async with running(["simplelink"], tmp_path, overrides=settings, clock=clock) as suite:
        emu = suite.emulators["simplelink"]
        clock.advance(2.0)
        emu.tick()  # type: ignore[attr-defined]
        await asyncio.sleep(0)
        statuses = [e.data["status"] for e in suite.events.since(0, "simplelink") if e.kind == "provisioning_status"]
        assert statuses == [11]
        assert emu.device.state()["mode"] == "START_MODE_APSC"  # type: ignore[attr-defined]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
@pytest.mark.parametrize("overrides", [INSTANT])
async def test_spec_curl_session(rig: Rig, overrides: dict[str, Any]) -> None:
    """The exact requests the apps make (docs/simplelink.md, the curl session), made by curl (an independent client)."""

    async def curl(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "curl", "-s", "-H", "Host: mysimplelink.net", *args, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        return out.decode()

    d = rig.url
    assert await curl(f"{d}/param_product_version.txt") == "R2.0"
    await curl("-d", "__SL_P_SC1=10&__SL_P_SC2=1", f"{d}/api/1/wlan/en_ap_scan")
    assert (await curl(f"{d}/netlist.txt")).startswith("X;")
    await curl("--data-urlencode", "__SL_P_S.B=Kitchen", f"{d}/api/1/netapp/set_urn")
    assert await curl(f"{d}/__SL_G_DNP") == "Kitchen"
    await curl(
        "--data-urlencode",
        "__SL_P_P.A=HomeNet",
        "-d",
        "__SL_P_P.B=3",
        "--data-urlencode",
        "__SL_P_P.C=secret123",
        "-d",
        "__SL_P_P.D=0",
        f"{d}/api/1/wlan/profile_add",
    )
    await curl("-X", "POST", f"{d}/api/1/wlan/confirm_req")
    for _ in range(100):
        if rig.emu.device.state()["phase"] == "feedback":
            break
        await asyncio.sleep(0.02)
    assert await curl(f"{d}/__SL_G_MCR") == "5"
    assert await curl(f"{d}/param_cfg_result.txt") == "5"
    assert rig.trace() == ["PA", "15", "16", "5", "12"]


async def test_openapi_documents_every_control_route(rig: Rig) -> None:
    documented = openapi_paths("/api/simplelink", rig.emu.control_routes())
    for route in rig.emu.control_routes():
        path = "/api/simplelink" + route.path
        assert route.method.lower() in documented[path], path


@pytest.mark.parametrize("overrides", [{"start": "ap"}])
async def test_every_security_code_over_http(rig: Rig, overrides: dict[str, Any]) -> None:
    expected = {0: 0, 1: 1, 2: 2, 3: 2, 4: 12, 5: 12, 11: 11, 12: 12}
    for code, security in expected.items():
        key = "abcde" if code == 1 else "secret123"
        form = {"__SL_P_P.A": f"Net{code}", "__SL_P_P.B": str(code), "__SL_P_P.C": key, "__SL_P_P.D": "1"}
        assert (await rig.post("/api/1/wlan/profile_add", form))[0] == 204
        stored = next(p for p in rig.emu.store.listing() if p["ssid"] == f"Net{code}")
        assert (stored["security"], stored["key"], stored["priority"]) == (security, "" if code == 0 else key, 1)
        rig.emu.store.delete()  # eight codes, seven slots
    assert [e.data["ssid"] for e in rig.events("profile_added")] == [f"Net{c}" for c in expected]


async def test_a_delay_fault_waits_on_the_emulators_clock(rig: Rig) -> None:
    rig.emu.faults.add("http_delay", {"path": "/__SL_G_MCR"}, {"seconds": 30}, count=1)
    pending = asyncio.create_task(rig.get("/__SL_G_MCR"))
    await asyncio.sleep(0.2)
    assert not pending.done()  # no real time passes for a simulated delay
    rig.advance(30)
    status, _ = await asyncio.wait_for(pending, 5.0)
    assert status == 200
