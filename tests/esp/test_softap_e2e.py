
"""End to end over real loopback sockets: the emulator's SoftAP HTTP transport driven by the fake app and by raw
bytes (close-without-reply semantics, cookies, 404/405, body limits), Wi-Fi outcomes, RainMaker, fleets, state."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from emulators.base import Listener
from emulators.clock import ManualClock
from emulators.esp.client.app import ESPConnectStatus, ESPDevice, ESPProvisionStatus, ProgressEvent
from emulators.esp.client.cloud import ControlApiCloud
from emulators.esp.client.transport import SoftApTransport, TransportError
from emulators.harness import running
from protocols.esp import client as msgs
from protocols.esp.client_security import Sec1Client, Sec2Client

from .conftest import control, event, post, raw_exchange

INSTANT = {"instant": True}


def app(address: str, security: int, pop: str = "abcd1234") -> ESPDevice:
    return ESPDevice(address, "softap", security, pop, address=address, poll_interval=0.0)  # type: ignore[arg-type]


async def provision(address: str, security: int, pop: str = "abcd1234", ssid: str = "provemu-ap",
                    passphrase: str = "provemu-pass", **kwargs: Any) -> tuple[ESPProvisionStatus, list[ProgressEvent]]:
    device = app(address, security, pop)
    assert await device.connect() is ESPConnectStatus.CONNECTED
    assert await device.initialize_session()
    events: list[ProgressEvent] = []
    try:
        status = await device.provision(ssid, passphrase, events.append, **kwargs)
    finally:
        await device.disconnect()
    return status, events


@pytest.mark.parametrize("security", [0, 1, 2])
async def test_provisioning_end_to_end(tmp_path: Path, security: int) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "security": security}}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        device = app(listener.address, security)
        assert await device.connect() is ESPConnectStatus.CONNECTED
        assert device.get_device_version_info()["prov"]["sec_ver"] == security
        assert ("no_sec" in device.get_device_capabilities()) == (security == 0)
        assert await device.initialize_session()
        networks = await device.scan_wifi_list()
        assert [n.ssid for n in networks] == ["provemu-ap"]
        events: list[ProgressEvent] = []
        assert await device.provision("provemu-ap", "provemu-pass", events.append) is ESPProvisionStatus.SUCCESS
        await device.disconnect()
        assert events[-1].code == "DEVICE_PROVISIONED" and events[-1].status == "succeed"
        assert events[-1].data["ip4_addr"] == "127.0.0.1"
        kinds = [e.kind for e in suite.events.since(0, "esp")]
        assert kinds.index("session_opened") < kinds.index("wifi_attempt") < kinds.index("wifi_connected")
        status, node = await control(suite.control_url, "GET", f"/api/esp/nodes/{listener.name}")
        assert status == 200 and node["provisioned"] and node["stored_ssid"] == "provemu-ap"


async def test_security2_patch0_static_nonce_node(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "sec_patch_ver": 0}}) as suite:
        address = suite.emulators["esp"].listeners()[0].address
        device = app(address, 2)
        await device.connect()
        assert device.get_device_version_info()["prov"]["sec_patch_ver"] == 0
        await device.disconnect()
        status, _ = await provision(address, 2)  # the app picks the static-nonce rule from sec_patch_ver
        assert status is ESPProvisionStatus.SUCCESS


async def test_default_node_matches_idf_example(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        reader, writer = await asyncio.open_connection(listener.host, listener.port)
        writer.write(post("proto-ver", b"---"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 95\r\n"
                               b"Set-Cookie: session=")
        body = await reader.readexactly(95)
        assert body == (b'{\n\t"prov":\t{\n\t\t"ver":\t"v1.1",\n\t\t"sec_ver":\t2,\n\t\t"sec_patch_ver":\t1,'
                        b'\n\t\t"cap":\t["wifi_scan"]\n\t}\n}')
        writer.write(post("proto-ver", b"ESP"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"Set-Cookie" not in head  # same socket, same session
        await reader.readexactly(95)
        writer.close()
        status, _ = await provision(listener.address, 2, "abcd1234")
        assert status is ESPProvisionStatus.SUCCESS


async def test_wrong_credentials_close_without_reply_and_node_keeps_serving(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "security": 1}}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        bad = app(listener.address, 1, "wrong-pop")
        assert await bad.connect() is ESPConnectStatus.CONNECTED
        assert not await bad.initialize_session()
        await bad.disconnect()
        mismatch = await suite.events.wait_for(lambda e: e.kind == "credentials_mismatch", 2.0)
        assert mismatch.data["transport"] == "softap"
        # raw view: the failing Cmd1 gets zero bytes back
        transport = SoftApTransport(listener.host, listener.port)
        client = Sec1Client(b"another-wrong", rng=os.urandom)
        cmd1 = client.receive(await transport.send("prov-session", client.start()))
        assert cmd1 is not None
        with pytest.raises(TransportError, match="without response"):
            await transport.send("prov-session", cmd1)
        await transport.close()
        status, _ = await provision(listener.address, 1, "abcd1234")
        assert status is ESPProvisionStatus.SUCCESS


async def test_wrong_sec2_password(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        device = app(listener.address, 2, "not-the-password")
        await device.connect()
        assert not await device.initialize_session()
        await device.disconnect()
        await suite.events.wait_for(lambda e: e.kind == "credentials_mismatch", 2.0)


async def test_bad_input_is_answered_like_the_device(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "security": 2}}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        # out of order: Cmd1 first, and a REQ_EP before any handshake: closed, no bytes
        cmd1 = bytes.fromhex("100262470802b201420a40") + bytes(64)
        assert await raw_exchange(listener, post("prov-session", cmd1)) == b""
        assert await raw_exchange(listener, post("prov-config", msgs.get_status() + bytes(16))) == b""
        # malformed protobuf and wrong security version
        assert await raw_exchange(listener, post("prov-session", b"\xff\xff\xff")) == b""
        assert await raw_exchange(listener, post("prov-session", Sec1Client(b"x", rng=os.urandom).start())) == b""
        # body limits
        assert await raw_exchange(listener, post("prov-session", b"x" * 4097)) == b""
        assert await raw_exchange(listener, post("prov-session", b"")) == b""
        # unknown endpoint and wrong method
        not_found = await raw_exchange(listener, post("nope", b"x"))
        assert not_found == (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 29\r\n\r\n"
                             b"Nothing matches the given URI")
        wrong_method = await raw_exchange(listener, b"GET /proto-ver HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wrong_method.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
        assert wrong_method.endswith(b"Specified method is invalid for this resource")
        assert (await raw_exchange(listener, b"NONSENSE\r\n\r\n")).startswith(b"HTTP/1.1 400 Bad Request")
        failures = [e for e in suite.events.since(0, "esp") if e.kind == "bad_request"]
        assert len(failures) >= 8
        status, _ = await provision(listener.address, 2)
        assert status is ESPProvisionStatus.SUCCESS


async def test_incomplete_request_times_out(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        emu = suite.emulators["esp"]
        listener = emu.listeners()[0]
        emu.softap[listener.name].recv_timeout = 0.05  # type: ignore[attr-defined]
        reply = await raw_exchange(listener, b"POST /proto-ver HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_cookie_session_survives_reconnect(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        transport = SoftApTransport(listener.host, listener.port)
        client = Sec2Client(b"abcd1234", rng=os.urandom)
        request: bytes | None = client.start()
        while request is not None:
            request = client.receive(await transport.send("prov-session", request))
        await transport.close()  # new TCP connection next time, same cookie
        reply = client.decrypt(await transport.send("prov-config", client.encrypt(msgs.get_status())))
        assert msgs.read_status(reply).status is msgs.WifiStatus.CONNECTING
        await transport.close()
        transport.cookie = None  # no cookie on a fresh socket: a new session, so the old keys fail
        with pytest.raises(TransportError):
            await transport.send("prov-config", client.encrypt(msgs.get_status()))
        await transport.close()


@pytest.mark.parametrize(("ssid", "passphrase", "reason"), [("provemu-ap", "wrong-pass", "AUTH_FAILED"),
                                                             ("no-such-ap", "whatever1", "NETWORK_NOT_FOUND")])
async def test_wifi_failure_reasons(tmp_path: Path, ssid: str, passphrase: str, reason: str) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        address = suite.emulators["esp"].listeners()[0].address
        status, events = await provision(address, 2, ssid=ssid, passphrase=passphrase)
        assert status is ESPProvisionStatus.FAILURE
        assert (events[-1].status, events[-1].code, events[-1].data["reason"]) == ("failed", "FAILED_PROV", reason)


async def test_wifi_fault_reset_and_retry(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        address = suite.emulators["esp"].listeners()[0].address
        code, fault = await control(suite.control_url, "POST", "/api/esp/faults",
                                    {"action": "wifi_fail", "params": {"reason": "no_ap_found"}, "count": 1})
        assert code == 201, fault
        device = app(address, 2)
        await device.connect()
        await device.initialize_session()
        reading = await device.provision_wifi("provemu-ap", "provemu-pass")
        assert reading.status is msgs.WifiStatus.NETWORK_NOT_FOUND
        # ApplyConfig is refused until prov-ctrl Reset
        await device.send_data("prov-config", msgs.set_config("provemu-ap", "provemu-pass"))
        assert msgs.read_apply_config(await device.send_data("prov-config", msgs.apply_config())) == 5
        node_path = f"/api/esp/nodes/{suite.emulators['esp'].listeners()[0].name}"
        assert (await control(suite.control_url, "GET", node_path))[1]["stored_ssid"] == "provemu-ap"  # NVS at apply
        assert msgs.read_ctrl(await device.send_data("prov-ctrl", msgs.ctrl_reset()), 2) == 0
        assert (await control(suite.control_url, "GET", node_path))[1]["stored_ssid"] is None
        assert (await device.provision_wifi("provemu-ap", "provemu-pass")).status is msgs.WifiStatus.CONNECTED
        await device.disconnect()


async def test_rainmaker_attempt_countdown_with_manual_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    overrides = {"esp": {"rainmaker": "ch_resp", "conn_attempts": 3, "security": 2, "apply_delay": 1.0,
                         "fail_time": 2.0, "connect_time": 2.0, "scan_time": 0.0}}
    async with running(["esp"], tmp_path, overrides, clock=clock) as suite:
        address = suite.emulators["esp"].listeners()[0].address
        device = app(address, 2)
        await device.connect()
        await device.initialize_session()
        await device.send_data("prov-config", msgs.set_config("provemu-ap", "bad-pass"))
        await device.send_data("prov-config", msgs.apply_config())

        async def poll() -> msgs.StatusReading:
            return msgs.read_status(await device.send_data("prov-config", msgs.get_status()))

        assert (await poll()).attempts_remaining is None
        clock.advance(3.0)
        assert (await poll()).attempts_remaining == 2
        clock.advance(2.0)
        assert (await poll()).attempts_remaining == 1
        clock.advance(2.0)
        assert (await poll()).status is msgs.WifiStatus.AUTH_ERROR
        await device.disconnect()


async def test_rainmaker_challenge_response_flow(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "rainmaker": "ch_resp"}}) as suite:
        emu = suite.emulators["esp"]
        listener = emu.listeners()[0]
        assert listener.name.startswith("PROV_") and listener.name[5:] == listener.name[5:].lower()
        cloud = ControlApiCloud(suite.control_url, "user-42")
        status, events = await provision(listener.address, 2, cloud=cloud, group_id="g1")
        assert status is ESPProvisionStatus.SUCCESS
        codes = [e.code for e in events]
        assert codes == ["INITIATING_NODE_ASSOCIATION", "SENDING_CHALLENGE_TO_DEVICE", "VERIFYING_NODE_ASSOCIATION",
                         "USER_NODE_MAPPING_SUCCEED", "SETTING_NETWORK_CREDENTIALS", "DEVICE_PROVISIONED"]
        _, node = await control(suite.control_url, "GET", f"/api/esp/nodes/{listener.name}")
        assert events[-1].description == node["rainmaker"]["node_id"] and len(node["rainmaker"]["node_id"]) == 22
        assert node["rainmaker"]["challenges_answered"] == 1
        cert = x509.load_pem_x509_certificate(node["rainmaker"]["certificate_pem"].encode())
        assert cert.subject.rfc4514_string() == f"CN={node['rainmaker']['node_id']}"
        assert suite.pki is not None and cert.issuer == suite.pki.ca.cert.subject
        assert b'"rmaker_extra"' in (await SoftApTransport(listener.host, listener.port).send("proto-ver", b"ESP"))


async def test_rainmaker_challenge_signature_is_checked(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "rainmaker": "ch_resp"}}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        device = app(listener.address, 2)
        await device.connect()
        await device.initialize_session()
        status, signature, node_id = msgs.read_challenge_response(
            await device.send_data("ch_resp", msgs.challenge("hello")))
        assert status == 0
        cloud = ControlApiCloud(suite.control_url)
        challenge, request_id = await cloud.initiate_mapping()
        assert not await cloud.verify_mapping(request_id, signature.hex(), node_id, None)  # signed "hello"
        await device.send_data("ch_resp", msgs.disable_chal_resp())
        status, _, _ = msgs.read_challenge_response(await device.send_data("ch_resp", msgs.challenge(challenge)))
        assert status == 3  # Disabled
        await device.disconnect()
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "rainmaker": "ch_resp"}}) as suite:
        _, node = await control(suite.control_url, "GET", f"/api/esp/nodes/{listener.name}")
        assert node["rainmaker"]["chal_resp_disabled"]  # the client's disable survives a reboot
        await control(suite.control_url, "POST", f"/api/esp/nodes/{listener.name}/factory-reset")
        _, node = await control(suite.control_url, "GET", f"/api/esp/nodes/{listener.name}")
        assert not node["rainmaker"]["chal_resp_disabled"]


async def test_rainmaker_legacy_user_association(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "rainmaker": "user_assoc"}}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        cloud = ControlApiCloud(suite.control_url, "user-7")
        status, events = await provision(listener.address, 2, provision_type="mqtt", cloud=cloud)
        assert status is ESPProvisionStatus.SUCCESS
        codes = [e.code for e in events]
        assert codes[:6] == ["START_ASSOCIATION", "ASSOCIATION_CONFIG_CREATED", "SENDING_ASSOCIATION_CONFIG",
                             "ASSOCIATION_CONFIG_SENT", "DECODING_RESPONSE_DATA", "DECODED_NODE_ID"]
        assert codes[-2:] == ["DEVICE_PROVISIONED", "USER_NODE_MAPPING_SUCCEED"]
        code, mapping = await control(suite.control_url, "GET", f"/api/esp/nodes/{listener.name}/mapping")
        assert code == 200 and mapping["mapping"]["user_id"] == "user-7"


async def test_plain_node_refuses_challenge_response_flow(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        status, events = await provision(suite.emulators["esp"].listeners()[0].address, 2,
                                         provision_type="chal_resp")
        assert status is ESPProvisionStatus.FAILURE and events[-1].code == "CHALLENGE_RESPONSE_NOT_SUPPORTED"


async def test_fleet_from_config_concurrently(tmp_path: Path) -> None:
    nodes = [{"name": "PROV_SEC0", "security": 0, "http_port": 0},
             {"name": "PROV_SEC1", "security": 1, "pop": "pop-one", "http_port": 0},
             {"name": "PROV_SEC2", "security": 2, "sec2_password": "pw-two", "http_port": 0, "host": "127.0.0.2"}]
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "nodes": nodes}}) as suite:
        listeners = {lst.name: lst for lst in suite.emulators["esp"].listeners()}
        assert listeners["PROV_SEC2"].host == "127.0.0.2"
        garbage = raw_exchange(listeners["PROV_SEC1"], post("prov-session", b"\x00garbage"))
        results = await asyncio.gather(
            provision(listeners["PROV_SEC0"].address, 0),
            provision(listeners["PROV_SEC1"].address, 1, "pop-one"),
            provision(listeners["PROV_SEC2"].address, 2, "pw-two"),
            garbage,
        )
        assert [r[0] for r in results[:3]] == [ESPProvisionStatus.SUCCESS] * 3
        assert results[3] == b""


async def test_count_flag_runs_distinct_nodes(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "count": 3}}) as suite:
        listeners = suite.emulators["esp"].listeners()
        assert len({lst.name for lst in listeners}) == 3 and len({lst.port for lst in listeners}) == 3
        _, body = await control(suite.control_url, "GET", "/api/esp/nodes")
        assert len(body["nodes"]) == 3


async def test_provisioned_state_persists_and_factory_reset(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        assert (await provision(listener.address, 2))[0] is ESPProvisionStatus.SUCCESS
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        emu = suite.emulators["esp"]
        assert emu.listeners() == []  # not in provisioning mode: no HTTP server, and /healthz says so
        server = emu.softap[listener.name]
        with pytest.raises(ConnectionRefusedError):
            await raw_exchange(Listener(listener.name, "http", server.host, server.port), post("proto-ver", b"ESP"))
        assert emu.ready_info()["already_provisioned"] == listener.name
        code, node = await control(suite.control_url, "POST", f"/api/esp/nodes/{listener.name}/factory-reset")
        assert code == 200 and node["provisioning_active"] and not node["provisioned"]
        [listener] = emu.listeners()
        assert (await provision(listener.address, 2))[0] is ESPProvisionStatus.SUCCESS


async def test_provisioning_stops_after_connected_is_reported(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "cleanup_delay": 0.0}}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        assert (await provision(listener.address, 2))[0] is ESPProvisionStatus.SUCCESS
        await suite.events.wait_for(event("stopped", what="softap"), 2.0)
        with pytest.raises(ConnectionRefusedError):
            await raw_exchange(listener, post("proto-ver", b"ESP"))
        assert suite.emulators["esp"].listeners() == []
        status, health = await control(suite.control_url, "GET", "/healthz")
        assert status == 200 and health["emulators"]["esp"]["listeners"] == []
        assert f"{listener.name}=" not in suite.ready_line()


async def test_auto_factory_reset_brings_the_node_back(tmp_path: Path) -> None:
    clock = ManualClock()
    overrides = {"esp": {**INSTANT, "cleanup_delay": 0.0, "auto_factory_reset": 10.0}}
    async with running(["esp"], tmp_path, overrides, clock=clock) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        assert (await provision(listener.address, 2))[0] is ESPProvisionStatus.SUCCESS
        await suite.events.wait_for(event("stopped", what="softap"), 2.0)
        clock.advance(10.0)
        await suite.events.wait_for(event("started", what="softap"), 2.0)
        assert (await provision(listener.address, 2))[0] is ESPProvisionStatus.SUCCESS


async def test_too_many_wrong_pops_stop_provisioning(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "security": 1, "max_pop_mismatch": 2}}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        for _ in range(2):
            device = app(listener.address, 1, "wrong")
            await device.connect()
            assert not await device.initialize_session()
            await device.disconnect()
        stopped = await suite.events.wait_for(event("stopped", what="provisioning"), 2.0)
        assert stopped.data["reason"] == "too many credential mismatches"
        await suite.events.wait_for(event("stopped", what="softap"), 2.0)


async def test_access_points_from_control_api(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        ap = {"ssid": "Office", "auth": "WPA3_PSK", "passphrase": "office-pass", "rssi": -30, "channel": 11,
              "ip4_addr": "10.1.2.3"}
        code, _ = await control(suite.control_url, "POST", "/api/esp/access-points", ap)
        assert code == 201
        code, err = await control(suite.control_url, "POST", "/api/esp/access-points", {"ssid": "x", "auth": "BOGUS"})
        assert code == 400 and "auth" in err["error"]
        address = suite.emulators["esp"].listeners()[0].address
        device = app(address, 2)
        await device.connect()
        await device.initialize_session()
        assert [n.ssid for n in await device.scan_wifi_list()] == ["Office", "provemu-ap"]
        reading = await device.provision_wifi("Office", "office-pass")
        assert (reading.status, reading.ip4_addr) == (msgs.WifiStatus.CONNECTED, "10.1.2.3")
        await device.disconnect()


async def test_request_faults(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        await control(suite.control_url, "POST", "/api/esp/faults",
                      {"action": "drop", "match": {"endpoint": "prov-config"}, "count": 1})
        status, events = await provision(listener.address, 2)
        assert status is ESPProvisionStatus.FAILURE and "TRANSPORT_ERROR" in events[-1].data["reason"]
        await control(suite.control_url, "POST", "/api/esp/faults", {"action": "softap_drop_after_apply"})
        device = app(listener.address, 2)
        await device.connect()
        await device.initialize_session()
        await device.send_data("prov-config", msgs.set_config("provemu-ap", "provemu-pass"))
        assert msgs.read_apply_config(await device.send_data("prov-config", msgs.apply_config())) == 0
        with pytest.raises(TransportError):  # the phone lost the SoftAP on the channel switch
            await device.send_data("prov-config", msgs.get_status())
        await device.disconnect()
        await suite.events.wait_for(event("fault_applied", action="softap_drop_after_apply"), 1.0)


async def test_openapi_lists_esp_routes(tmp_path: Path) -> None:
    async with running(["esp"], tmp_path, {"esp": INSTANT}) as suite:
        _, doc = await control(suite.control_url, "GET", "/openapi.json")
        assert {"/api/esp/nodes", "/api/esp/access-points", "/api/esp/faults"} <= set(doc["paths"])
