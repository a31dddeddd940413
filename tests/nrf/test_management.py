"""The management REST API over HTTPS with an independent client (urllib), and the control-API mirror."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request

import aiohttp

from emulators.harness import running
from emulators.nrf.client.device import DeviceIdentity
from tests.nrf.conftest import Nrf

KEY = "provemu-nrf-api-key"


def _call(nrf, method, path, body=None, key=KEY, raw=None, headers=None):
    context = ssl.create_default_context(cafile=str(nrf.suite.pki.ca_path))
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"https://127.0.0.1:{nrf.ports['https']}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {key}", **(headers or {})})
    if raw is None and body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text else None


async def call(nrf, *args, **kwargs):
    return await asyncio.to_thread(_call, nrf, *args, **kwargs)


async def test_claim_flow_status_codes(nrf):
    device = nrf.device()
    token = device.attestation_token()
    assert (await call(nrf, "POST", "/v1/claimed-devices", {"claimToken": token}, key="wrong"))[0] == 401
    assert (await call(nrf, "POST", "/v1/claimed-devices?dryrun=true", {"claimToken": token}))[0] == 202
    status, body = await call(nrf, "POST", "/v1/claimed-devices", {"claimToken": token, "tags": ["t1"]})
    assert status == 201
    assert body["id"] == device.identity.device_id and body["deviceType"] == "nRF9161_LACA"
    assert body["ownershipStatus"] == "IDENTIFIED" and body["claimedAt"].endswith("Z")
    assert (await call(nrf, "POST", "/v1/claimed-devices", {"claimToken": token}))[0] == 409
    assert (await call(nrf, "POST", "/v1/claimed-devices?dryrun=true", {"claimToken": token}))[0] == 409
    status, listing = await call(nrf, "GET", "/v1/claimed-devices")
    assert status == 200 and [d["id"] for d in listing["items"]] == [device.identity.device_id]
    assert (await call(nrf, "DELETE", f"/v1/claimed-devices/{device.identity.device_id}"))[0] == 204
    assert (await call(nrf, "DELETE", f"/v1/claimed-devices/{device.identity.device_id}"))[0] == 404
    status, _ = await call(nrf, "POST", "/v1/identities/claimed-devices", {"claimToken": token})
    assert status == 201


async def test_bad_claims(nrf):
    device, other = nrf.device(), nrf.device()
    for body in ({}, {"claimToken": "garbage"}, {"claimToken": "a.b"}, {"claimToken": 5},
                 {"claimToken": device.attestation_token(), "tags": "x"},
                 {"claimToken": device.attestation_token(), "publicKey": "not a key"},
                 {"claimToken": device.attestation_token(), "publicKey": other.identity.public_key_pem}):
        status, answer = await call(nrf, "POST", "/v1/claimed-devices", body)
        assert status == 400 and answer["message"]
    assert (await call(nrf, "POST", "/v1/claimed-devices", raw=b"{not json"))[0] == 400
    assert (await call(nrf, "GET", "/v1/claimed-devices"))[1]["items"] == []


async def test_commands_create_read_and_limits(nrf):
    device = nrf.device()
    await nrf.claim(device)
    base = f"/v1/claimed-devices/{device.identity.device_id}/provisioning"
    status, created = await call(nrf, "POST", base, {"description": "key",
                                                     "request": {"clientPrivateKeyGeneration": {"secTag": 9}}})
    assert status == 201 and created["status"] == "PENDING" and len(created["correlationIds"]) == 2
    assert all(len(i) <= 45 for i in created["correlationIds"])
    assert created["correlationIds"][0] == created["correlationIds"][1] + ".s"
    status, read = await call(nrf, "GET", f"{base}/{created['id']}")
    assert status == 200 and read["status"] == "PENDING"
    assert (await call(nrf, "GET", f"{base}/nope"))[0] == 404
    assert (await call(nrf, "POST", base, {"request": {"bogus": {}}}))[0] == 400
    assert (await call(nrf, "POST", "/v1/claimed-devices/unknown/provisioning",
                       {"request": {"finished": {}}}))[0] == 404
    for _ in range(19):
        assert (await call(nrf, "POST", base, {"request": {"finished": {}}}))[0] == 201
    status, answer = await call(nrf, "POST", base, {"request": {"finished": {}}})
    assert status == 400 and "20" in answer["message"]
    _events, _ = await device.trigger()
    status, read = await call(nrf, "GET", f"{base}/{created['id']}")
    assert read["status"] == "COMPLETED" and read["response"]["clientPrivateKeyGeneration"]["publicKey"]


async def test_rules_tags_and_auto_onboarding(nrf):
    rule = {"name": "onboard", "active": True, "tags": ["nrf-cloud-onboarding"],
            "commands": [{"request": {"config": {"provisioning/interval-sec": "600"}}},
                         {"request": {"finished": {}}}]}
    status, created = await call(nrf, "POST", "/v1/provisioning-rules", rule)
    assert status == 201 and created["id"]
    assert (await call(nrf, "POST", "/v1/provisioning-rules", {"name": "x", "commands": [{"request": {}}]}))[0] == 400
    assert (await call(nrf, "GET", "/v1/provisioning-rules"))[1]["items"][0]["tags"] == ["nrf-cloud-onboarding"]
    assert (await call(nrf, "POST", "/v1/provisioning/tags", {"tag": "nrf-cloud-onboarding"}))[0] == 201
    assert (await call(nrf, "GET", "/v1/provisioning/tags"))[1]["items"][0]["tag"] == "nrf-cloud-onboarding"
    device = nrf.device("coap")
    await nrf.claim(device, tags=["nrf-cloud-onboarding"])
    events, _ = await device.trigger()
    assert events[-2].event.name == "DONE"
    assert device.lib.settings["provisioning/interval-sec"] == "600"


async def test_csv_bulk_claim_with_nrfcloud_utils_header(nrf):
    devices = [nrf.device() for _ in range(2)]
    rows = "".join(f'"{d.attestation_token()}","tag-a"\n' for d in devices) + '"garbage",""\n'
    status, body = await call(nrf, "POST", "/v1/claimed-devices", raw=rows.encode(),
                              headers={"contentType": "text/csv"})
    assert status == 201
    assert sorted(body["claimedIds"]) == sorted(d.identity.device_id for d in devices)
    assert len(body["failed"]) == 1
    status, body = await call(nrf, "POST", "/v1/claimed-devices/bulk",
                              raw=f'"{nrf.device().attestation_token()}",""\n'.encode())
    assert status == 202 and body["bulkOpsRequestId"]
    assert len((await call(nrf, "GET", "/v1/claimed-devices"))[1]["items"]) == 3


async def test_state_survives_restart(tmp_path):
    identity = DeviceIdentity.generate()
    async with running(["nrf"], state_dir=tmp_path) as suite:
        nrf = Nrf(suite)
        device = nrf.device("http", identity=identity)
        await nrf.claim(device)
        await nrf.command(device, {"finished": {}})
    async with running(["nrf"], state_dir=tmp_path) as suite:
        nrf = Nrf(suite)
        status, queue = await nrf.call("GET", f"/devices/{identity.device_id}/queue")
        assert status == 200 and [q["type"] for q in queue["items"]] == ["FinishedCommand"]
        events, _ = await nrf.device("http", identity=identity).trigger()
        assert events[-2].event.name == "DONE"
        await nrf.close()


async def test_fault_control_routes_and_openapi(nrf):
    status, _body = await nrf.call("POST", "/faults", {"action": "status", "match": {"transport": "http"},
                                                      "params": {"http": 503}, "count": 1})
    assert status == 201
    events, _ = await nrf.device("http").trigger()
    assert events[1].event.name == "FAILED"  # 503 → -ENOTSUP → FAILED
    assert (await nrf.call("POST", "/faults", {"action": "nope"}))[0] == 400
    async with aiohttp.ClientSession() as session, session.get(f"{nrf.suite.control_url}/openapi.json") as r:
        paths = (await r.json())["paths"]
    assert "/api/nrf/faults" in paths and "/api/nrf/v1/claimed-devices" in paths


def test_fake_device_cli(tmp_path, capsys):
    import argparse

    from emulators.nrf.client.cli import add_client_commands

    parser = argparse.ArgumentParser(prog="provemu")
    add_client_commands(parser.add_subparsers(dest="command", required=True))

    def main(argv):
        args = parser.parse_args(argv)
        return args.handler(args)

    assert main(["nrf", "--state-dir", str(tmp_path), "device", "create"]) == 0
    device_id = json.loads(capsys.readouterr().out)["deviceId"]
    assert main(["nrf", "--state-dir", str(tmp_path), "device", "at", device_id, "AT%XMODEMUUID", "AT+CFUN?"]) == 0
    assert "+CFUN: 0" in capsys.readouterr().out
    assert main(["nrf", "--state-dir", str(tmp_path), "device", "token", device_id]) == 0
    assert capsys.readouterr().out.count(".") == 1
    assert main(["nrf", "--state-dir", str(tmp_path), "device", "list"]) == 0
    assert device_id in capsys.readouterr().out


async def test_unclaim_ends_an_authenticated_coap_session(nrf):
    device = nrf.device("coap")
    await nrf.claim(device)
    await nrf.command(device, {"finished": {}})
    original = device._execute
    unclaimed = False

    async def unclaim_after_auth(effect):
        nonlocal unclaimed
        result = await original(effect)
        if not unclaimed and getattr(effect, "path", None) == ("p", "auth-jwt"):
            unclaimed = True
            assert (await nrf.call("DELETE", f"/v1/claimed-devices/{device.identity.device_id}"))[0] == 204
        return result

    device._execute = unclaim_after_auth
    events, _ = await device.trigger()
    assert [e.event.name for e in events] == ["START", "FAILED_DEVICE_NOT_CLAIMED", "STOP"]


def test_config_rejects_unusable_values():
    import pytest

    from emulators.config import ConfigError, load_config
    from emulators.nrf.config import NrfConfig
    for bad in ({"not_claimed_coap_code": "9.99"}, {"not_claimed_http_status": 200}, {"dtls_suspend": "x"},
                {"max_batch": 0}):
        with pytest.raises(ConfigError):
            load_config(NrfConfig, "nrf", overrides=bad)
    assert load_config(NrfConfig, "nrf", env={"PROVEMU_NRF_NOT_CLAIMED_HTTP_STATUS": "401"}) \
        .not_claimed_http_status == 401


async def test_fake_device_cli_against_the_emulator(nrf, tmp_path, capsys):
    import argparse
    import inspect

    from emulators.nrf.client.cli import add_client_commands

    parser = argparse.ArgumentParser(prog="provemu")
    add_client_commands(parser.add_subparsers(dest="command", required=True))
    base = ["nrf", "--state-dir", str(tmp_path)]
    api = ["--api", f"https://127.0.0.1:{nrf.ports['https']}", "--ca", str(nrf.suite.pki.ca_path)]

    async def main(argv):
        args = parser.parse_args(base + argv)
        if inspect.iscoroutinefunction(args.handler):
            return await args.handler(args)
        return await asyncio.to_thread(args.handler, args)  # urllib blocks; the emulator shares this loop

    assert await main(["device", "create"]) == 0
    device_id = json.loads(capsys.readouterr().out)["deviceId"]
    assert await main(["device", "claim", device_id, *api]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == 201
    assert await main(["command", "create", device_id, *api, "--request", '{"finished": {}}']) == 0
    capsys.readouterr()
    run = ["device", "run", device_id, "--transport", "coap", "--coap-url", f"coap://127.0.0.1:{nrf.ports['coap']}",
           "--save-cmd-id", "--valid-datetime-timeout", "0"]
    assert await main(run) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["event"] for p in printed] == ["START", "NEED_LTE_ACTIVATED", "DONE", "STOP"]
    assert await main(["device", "list"]) == 0
    assert "provisioning/after-correlation-id" in capsys.readouterr().out
    assert await main(["command", "list", device_id, *api]) == 0
    assert json.loads(capsys.readouterr().out)["body"]["items"][0]["status"] == "COMPLETED"
