"""Every server-caused nrf_provisioning event, end to end: fake device ↔ emulator over HTTPS and CoAP."""

from __future__ import annotations

import pytest
from cryptography import x509

from protocols.nrf import cose
from protocols.nrf.results import Event, Mapping

E = Event
TRANSPORTS = ["http", "coap"]
ONBOARD = [{"clientPrivateKeyGeneration": {"secTag": 16842753}},
           {"certificateSigningRequest": {"secTag": 16842754, "attributes": "O=provemu,CN=dev"}},
           {"finished": {}}]


def kinds(events):
    return [e.event for e in events]


@pytest.mark.parametrize("transport", [*TRANSPORTS, "coaps"])
async def test_done_then_no_commands(nrf, transport):
    device = nrf.device("coap" if transport == "coaps" else transport, listener="coaps" if transport == "coaps"
                        else None)
    await nrf.claim(device)
    for request in ONBOARD:
        await nrf.command(device, request)
    events, _ = await device.trigger()
    assert kinds(events) == [E.START, E.NEED_LTE_DEACTIVATED, E.NEED_LTE_ACTIVATED, E.DONE, E.STOP]
    commands = await nrf.commands(device)
    assert [c["status"] for c in commands] == ["COMPLETED"] * 3
    csr = x509.load_der_x509_csr(cose.split_keygen_blob(commands[1]["response"]["certificateSigningRequest"]["csr"]))
    assert csr.is_signature_valid and csr.subject.rfc4514_string() == "CN=dev,O=provemu"
    assert commands[0]["response"]["clientPrivateKeyGeneration"]["publicKey"]
    events, _ = await device.trigger()
    assert kinds(events) == [E.START, E.NO_COMMANDS, E.STOP]
    await device.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_not_claimed_carries_attestation_token(nrf, transport):
    device = nrf.device(transport)
    events, _ = await device.trigger()
    assert kinds(events) == [E.START, E.FAILED_DEVICE_NOT_CLAIMED, E.STOP]
    token = cose.parse_attestation_token(events[1].token)
    assert token.device_id == device.identity.device_id
    status = await nrf.suite.events.wait_for(lambda ev: ev.kind == "auth_rejected")
    assert status.data["reason"] == "not_claimed"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_server_errors_fail_with_backoff(nrf, transport):
    device = nrf.device(transport, scheduled=True, initial_backoff=7)
    device.lib.reschedule = False
    await nrf.claim(device)
    nrf.fault("status", count=2, params={"http": 500, "coap": "5.03"}, transport=transport)
    first, delay1 = await device.trigger()
    second, delay2 = await device.trigger()
    assert kinds(first) == kinds(second) == [E.START, E.FAILED, E.STOP]
    assert (delay1, delay2) == (7, 14)
    events, delay = await device.trigger()
    assert kinds(events) == [E.START, E.NO_COMMANDS, E.STOP] and delay == 0
    assert device.lib.schedule.backoff == 0


async def test_coap_silence_exhausts_retransmissions_with_backoff(nrf):
    device = nrf.device("coap", scheduled=True, initial_backoff=5)
    device.lib.reschedule = False
    await nrf.claim(device)
    nrf.fault("drop", count=1, transport="coap", resource="commands")
    events, delay = await device.trigger()
    assert kinds(events) == [E.START, E.FAILED, E.STOP] and delay == 5  # -ETIMEDOUT → backoff


@pytest.mark.parametrize("mode", ["close", "silence"])
async def test_http_dropped_response_is_failed(nrf, mode):
    device = nrf.device("http", scheduled=True, options={"http_timeout": 0.3})
    device.lib.reschedule = False
    await nrf.claim(device)
    nrf.fault("drop", params={"mode": mode, "seconds": 2}, transport="http", resource="commands")
    events, delay = await device.trigger()
    assert kinds(events) == [E.START, E.FAILED, E.STOP] and delay == 0  # -ESHUTDOWN: no backoff


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_too_many_commands(nrf, transport):
    device = nrf.device(transport)
    await nrf.claim(device)
    nrf.fault("too_many_commands", transport=transport)
    events, _ = await device.trigger()
    assert kinds(events) == [E.START, E.FAILED_TOO_MANY_COMMANDS, E.STOP]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bad_cbor_and_oversized_answers_fail(nrf, transport):
    device = nrf.device(transport, rx_max_size=1024)
    await nrf.claim(device)
    nrf.fault("bad_cbor", transport=transport)
    nrf.fault("oversized", transport=transport)
    for _ in range(2):
        events, _ = await device.trigger()
        assert kinds(events) == [E.START, E.FAILED, E.STOP]


@pytest.mark.parametrize(("transport", "listener"), [("http", "https"), ("coap", "coaps")])
async def test_wrong_root_ca(nrf, transport, listener):
    device = nrf.device(transport, listener=listener)
    nrf.fault("wrong_root_ca", transport="https" if transport == "http" else "dtls")
    events, _ = await device.trigger()
    assert kinds(events) == [E.START, E.FAILED_WRONG_ROOT_CA, E.STOP]
    assert (nrf.suite.state_dir if hasattr(nrf.suite, "state_dir") else nrf.suite.serve.state_dir) \
        .joinpath("pki", "nrf-other-ca.pem").exists()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_no_valid_datetime_from_network_time(nrf, transport):
    device = nrf.device(transport, options={"network_time_url": f"{nrf.api}/network-time"})
    nrf.fault("no_valid_datetime", count=None, device=device.identity.device_id)
    events, delay = await device.trigger()
    assert kinds(events) == [E.START, E.FAILED_NO_VALID_DATETIME, E.STOP] and delay is None


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_time_based_jwt_rejection(nrf, transport):
    device = nrf.device(transport, options={"network_time_url": f"{nrf.api}/network-time"})
    await nrf.claim(device)
    nrf.fault("time_skew", params={"seconds": -3600}, device=device.identity.device_id)
    events, _ = await device.trigger()
    assert kinds(events) == [E.START, E.FAILED_DEVICE_NOT_CLAIMED, E.STOP]
    rejected = await nrf.suite.events.wait_for(lambda ev: ev.kind == "auth_rejected")
    assert rejected.data["reason"] == "expired"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_latency_and_flush_after_failed_command(nrf, transport):
    device = nrf.device(transport)
    await nrf.claim(device)
    await nrf.command(device, {"clientCertificate": {"secTag": 5, "content": "not a certificate"}})
    await nrf.command(device, {"config": {"provisioning/interval-sec": "99"}})
    await nrf.command(device, {"finished": {}})
    nrf.fault("delay", params={"seconds": 0.05}, transport=transport, resource="commands")
    events, _ = await device.trigger()
    assert kinds(events) == [E.START, E.NEED_LTE_DEACTIVATED, E.NEED_LTE_ACTIVATED, E.NO_COMMANDS, E.STOP]
    assert [c["status"] for c in await nrf.commands(device)] == ["FAILED", "CANCELLED", "CANCELLED"]
    failed = (await nrf.commands(device))[0]["response"]["error"]
    assert failed["cmeError"] == 514
    assert "provisioning/interval-sec" not in device.lib.settings


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_after_cursor_over_several_rounds(nrf, transport, tmp_path):
    nrf.emulator.config.max_batch = 1
    device = nrf.device(transport, save_cmd_id=True)
    await nrf.claim(device)
    await nrf.command(device, {"config": {"provisioning/interval-sec": "120"}})
    await nrf.command(device, {"finished": {}})
    events, _ = await device.trigger()
    assert kinds(events) == [E.START, E.NEED_LTE_ACTIVATED, E.NEED_LTE_ACTIVATED, E.DONE, E.STOP]
    fetches = [ev.data for ev in nrf.suite.events.since(0, "nrf") if ev.kind == "commands"]
    assert [f["count"] for f in fetches] == [1, 1]
    assert fetches[1]["after"] == fetches[0]["ids"][0]
    assert device.lib.settings["provisioning/after-correlation-id"] == fetches[1]["ids"][0]


async def test_not_claimed_status_is_configurable_and_newer_mapping(tmp_path):
    from emulators.harness import running
    from tests.nrf.conftest import Nrf
    overrides = {"nrf": {"not_claimed_http_status": 401, "not_claimed_coap_code": "4.03"}}
    async with running(["nrf"], state_dir=tmp_path, overrides=overrides) as suite:
        nrf = Nrf(suite)
        events, _ = await nrf.device("http").trigger()
        assert kinds(events)[1] is E.FAILED_DEVICE_NOT_CLAIMED
        events, _ = await nrf.device("coap").trigger()
        assert kinds(events)[1] is E.FAILED_DEVICE_NOT_CLAIMED  # baseline: 4.03 → -EACCES
        events, _ = await nrf.device("coap", mapping=Mapping.NEWER).trigger()
        assert kinds(events)[1] is E.FAILED  # PR #24907: 4.03 → -EPERM
        await nrf.close()


async def test_plain_http_listener_and_lte_timeout(nrf):
    device = nrf.device("http", listener="http", scheduled=True, initial_backoff=3,
                        options={"lte_follows": False})
    device.lib.reschedule = False
    await nrf.claim(device)
    await nrf.command(device, {"finished": {}})
    await nrf.command(device, {"atCommand": {"setCommand": "%XPOFWARN", "parameters": "1,30"}})
    events, delay = await device.trigger()
    assert kinds(events) == [E.START, E.NEED_LTE_DEACTIVATED, E.FAILED, E.STOP] and delay == 3


async def test_scheduled_run_emits_scheduled_provisioning(nrf):
    device = nrf.device("coap", scheduled=True, interval_s=60)
    await nrf.claim(device)
    await nrf.command(device, {"config": {"provisioning/interval-sec": "30"}})
    sleeps = []

    async def no_sleep(seconds):
        sleeps.append(seconds)

    await device.run_scheduled(4, sleep=no_sleep)
    assert kinds(device.events) == [E.SCHEDULED_PROVISIONING, E.START, E.NEED_LTE_ACTIVATED, E.NO_COMMANDS,
                                    E.STOP, E.SCHEDULED_PROVISIONING, E.START, E.NO_COMMANDS, E.STOP]
    assert device.events[0].next_attempt_time_seconds == 1
    assert device.events[5].next_attempt_time_seconds == 30  # the server-set interval
    assert sleeps == [1, 0, 30, 0]


async def test_dtls_keep_open_session_survives_suspend(tmp_path):
    from emulators.harness import running
    from tests.nrf.conftest import Nrf
    async with running(["nrf"], state_dir=tmp_path, overrides={"nrf": {"dtls_suspend": "2.04"}}) as suite:
        nrf = Nrf(suite)
        device = nrf.device("coap", listener="coaps", keep_open=True)
        await nrf.claim(device)
        await nrf.command(device, {"finished": {}})
        events, _ = await device.trigger()
        assert kinds(events)[-2] is E.DONE
        seen = [ev.kind for ev in suite.events.since(0, "nrf")]
        assert seen.count("session_opened") == 1 and "dtls_suspend" in seen
        assert seen.count("authenticated") == 1  # no re-authentication before p/rsp in keep-open mode
        await nrf.close()


async def test_https_handshake_stall_is_a_connect_timeout_with_backoff(nrf):
    device = nrf.device("http", scheduled=True, initial_backoff=9, options={"connect_timeout": 0.3})
    device.lib.reschedule = False
    await nrf.claim(device)
    nrf.fault("drop", params={"seconds": 2}, transport="https", resource="handshake")
    events, delay = await device.trigger()
    assert kinds(events) == [E.START, E.FAILED, E.STOP] and delay == 9  # -ETIMEDOUT → backoff
    events, delay = await device.trigger()
    assert kinds(events) == [E.START, E.NO_COMMANDS, E.STOP] and delay == 0


async def test_coap_exchange_order_matches_the_sdk_coap_test(nrf):
    """SDK tests/coap.c `test_provisioning_commands`: cmds2 → auth, cmd, rsp 2.04; then auth, empty cmd."""
    device = nrf.device("coap")
    await nrf.claim(device)
    await nrf.command(device, {"clientPrivateKeyGeneration": {"secTag": 16842753}})
    since = nrf.suite.events.cursor
    events, _ = await device.trigger()
    assert kinds(events)[-2] is E.NO_COMMANDS  # no finished in the batch: the run ends on the empty fetch
    exchange = [(ev.kind, ev.data.get("count")) for ev in nrf.suite.events.since(since, "nrf")
                if ev.kind in ("authenticated", "commands", "responses")]
    assert exchange == [("authenticated", None), ("commands", 2), ("authenticated", None), ("responses", None),
                        ("authenticated", None), ("commands", 0)]
    ids = next(ev.data["ids"] for ev in nrf.suite.events.since(since, "nrf") if ev.kind == "commands")
    assert ids[0] == ids[1] + ".s"  # the CMNG delete pre-step, then the KEYGEN (cmds2's shape)
