"""The simulated Wi-Fi environment and the station/provisioning state machines (ESP-IDF
wifi_provisioning manager.c), time passed in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.esp import client as msgs
from protocols.esp import messages as pb
from protocols.esp.errors import RemoteError
from protocols.esp.provisioning import ProvisioningOptions, WifiProvisioning
from protocols.esp.wifi import (
    PROV_TRANSITIONS,
    STA_TRANSITIONS,
    AccessPoint,
    DisconnectReason,
    ProvState,
    StaState,
    Timings,
    WifiEnvironment,
    WifiStation,
)

AP = AccessPoint(b"HomeNet", bytes.fromhex("aabbccddee01"), channel=6, rssi=-40, auth=3, passphrase=b"secretpw",
                 ip4_addr="127.0.0.50")
OPEN_AP = AccessPoint(b"Cafe", bytes.fromhex("aabbccddee02"), channel=1, rssi=-70, auth=0)


def make(conn_attempts: int = 0, timings: Timings | None = None, flavour_np: bool = False,
         reset_on_failure: bool = False, auto_stop: bool = True,
         env: WifiEnvironment | None = None) -> WifiProvisioning:
    env = env or WifiEnvironment([AP, OPEN_AP])
    station = WifiStation(conn_attempts, reset_on_failure, timings or Timings.instant(), flavour_np)
    return WifiProvisioning(station, env, env.attempt, ProvisioningOptions(auto_stop=auto_stop))


def status(wifi: WifiProvisioning, now: float) -> msgs.StatusReading:
    wifi.advance(now)
    return msgs.read_status(wifi.handle_config(msgs.get_status(), now).data)


def provision(wifi: WifiProvisioning, ssid: str, password: str, now: float = 0.0) -> int:
    assert msgs.read_set_config(wifi.handle_config(msgs.set_config(ssid, password), now).data) == 0
    return msgs.read_apply_config(wifi.handle_config(msgs.apply_config(), now).data)


def test_status_before_apply_is_connecting() -> None:
    assert status(make(), 0.0).status is msgs.WifiStatus.CONNECTING


def test_connects_with_ip_after_configured_delays() -> None:
    wifi = make(timings=Timings(apply_delay=1.0, connect_time=3.0, fail_time=2.0))
    assert provision(wifi, "HomeNet", "secretpw") == 0
    assert status(wifi, 3.9).status is msgs.WifiStatus.CONNECTING
    reading = status(wifi, 4.0)
    assert reading.status is msgs.WifiStatus.CONNECTED and reading.ip4_addr == "127.0.0.50"
    assert wifi.station.prov_state is ProvState.SUCCESS


def test_open_network_accepts_any_passphrase() -> None:
    wifi = make()
    provision(wifi, "Cafe", "")
    assert status(wifi, 0.0).status is msgs.WifiStatus.CONNECTED


def test_wrong_passphrase_is_auth_error() -> None:
    wifi = make()
    provision(wifi, "HomeNet", "wrongpass")
    assert status(wifi, 0.0).status is msgs.WifiStatus.AUTH_ERROR
    assert wifi.station.prov_state is ProvState.FAIL


def test_unknown_ssid_is_network_not_found() -> None:
    wifi = make()
    provision(wifi, "Nowhere", "whatever1")
    assert status(wifi, 0.0).status is msgs.WifiStatus.NETWORK_NOT_FOUND


def test_rainmaker_attempt_countdown() -> None:
    wifi = make(conn_attempts=3, timings=Timings(apply_delay=1.0, connect_time=3.0, fail_time=2.0))
    provision(wifi, "HomeNet", "wrongpass")
    assert status(wifi, 2.9) == msgs.StatusReading(msgs.WifiStatus.CONNECTING)
    assert status(wifi, 3.0).attempts_remaining == 2
    assert status(wifi, 5.0).attempts_remaining == 1
    assert status(wifi, 7.0).status is msgs.WifiStatus.AUTH_ERROR


def test_other_reasons_retry_forever_without_attempt_limit() -> None:
    env = WifiEnvironment([AP])
    station = WifiStation(0, False, Timings(1.0, 1.0, 1.0, 0.0))
    wifi = WifiProvisioning(station, env, lambda s, p: DisconnectReason.BEACON_TIMEOUT)
    provision(wifi, "HomeNet", "secretpw")
    assert status(wifi, 100.0).status is msgs.WifiStatus.CONNECTING
    assert station.prov_state is ProvState.FAIL  # marked before the manager decides to retry
    assert msgs.read_ctrl(wifi.handle_ctrl(msgs.ctrl_reset(), 100.0).data, 2) == 0  # so Reset is accepted


def test_fail_reason_only_set_by_the_final_disconnect() -> None:
    outcomes = iter([DisconnectReason.NO_AP_FOUND, DisconnectReason.BEACON_TIMEOUT])
    station = WifiStation(2, False, Timings.instant())
    wifi = WifiProvisioning(station, WifiEnvironment(), lambda s, p: next(outcomes))
    provision(wifi, "x", "y")
    assert status(wifi, 0.0).status is msgs.WifiStatus.AUTH_ERROR  # NO_AP_FOUND came before the last attempt


def test_other_reason_keeps_previous_fail_reason_at_limit() -> None:
    station = WifiStation(2, False, Timings.instant())
    wifi = WifiProvisioning(station, WifiEnvironment(), lambda s, p: DisconnectReason.BEACON_TIMEOUT)
    provision(wifi, "x", "y")
    assert status(wifi, 0.0).status is msgs.WifiStatus.AUTH_ERROR  # initial AuthError kept


def test_apply_without_set_and_apply_twice_are_internal_error() -> None:
    wifi = make()
    assert msgs.read_apply_config(wifi.handle_config(msgs.apply_config(), 0.0).data) == pb.constants.InternalError
    assert provision(wifi, "HomeNet", "wrongpass") == 0
    status(wifi, 0.0)
    assert provision(wifi, "HomeNet", "secretpw") == pb.constants.InternalError


def test_reset_after_failure_allows_new_apply_and_keeps_reported_state() -> None:
    wifi = make()
    assert msgs.read_ctrl(wifi.handle_ctrl(msgs.ctrl_reset(), 0.0).data, 2) == pb.constants.InternalError
    provision(wifi, "HomeNet", "wrongpass")
    status(wifi, 0.0)
    assert msgs.read_ctrl(wifi.handle_ctrl(msgs.ctrl_reset(), 0.0).data, 2) == 0
    assert status(wifi, 0.0).status is msgs.WifiStatus.AUTH_ERROR  # wifi_state untouched by reset
    assert provision(wifi, "HomeNet", "secretpw") == 0
    assert status(wifi, 0.0).status is msgs.WifiStatus.CONNECTED


def test_refused_apply_still_frees_the_config() -> None:
    wifi = make()
    provision(wifi, "HomeNet", "wrongpass")
    status(wifi, 0.0)
    assert provision(wifi, "HomeNet", "secretpw") == pb.constants.InternalError
    wifi.handle_ctrl(msgs.ctrl_reset(), 0.0)
    assert msgs.read_apply_config(wifi.handle_config(msgs.apply_config(), 0.0).data) == pb.constants.InternalError


def test_embedded_nul_ends_ssid() -> None:
    wifi = make()
    wifi.handle_config(msgs.set_config("HomeNet\0junk", "secretpw\0x"), 0.0)
    assert wifi.station.pending is not None and wifi.station.pending.ssid == b"HomeNet"
    assert wifi.station.pending.passphrase == b"secretpw"


def test_network_prov_reset_in_started_is_success() -> None:
    assert msgs.read_ctrl(make(flavour_np=True).handle_ctrl(msgs.ctrl_reset(), 0.0).data, 2) == 0


def test_firmware_reset_on_failure() -> None:
    wifi = make(reset_on_failure=True, flavour_np=True)
    provision(wifi, "HomeNet", "wrongpass")
    assert status(wifi, 0.0).status is msgs.WifiStatus.AUTH_ERROR
    assert wifi.station.prov_state is ProvState.STARTED
    assert provision(wifi, "HomeNet", "secretpw") == 0


def test_reprov_needs_auto_stop_disabled() -> None:
    assert msgs.read_ctrl(make().handle_ctrl(msgs.ctrl_reprov(), 0.0).data, 4) == pb.constants.InternalError
    wifi = make(auto_stop=False)
    provision(wifi, "HomeNet", "secretpw")
    status(wifi, 0.0)
    assert msgs.read_ctrl(wifi.handle_ctrl(msgs.ctrl_reprov(), 0.0).data, 4) == 0
    assert wifi.station.prov_state is ProvState.STARTED
    assert status(wifi, 0.0).status is msgs.WifiStatus.CONNECTING


@pytest.mark.parametrize(("ssid", "password", "bssid"), [("x" * 33, "p", b""), ("ok", "p" * 64, b""),
                                                         ("ok", "p", b"\x01\x02")])
def test_set_config_invalid_argument(ssid: str, password: str, bssid: bytes) -> None:
    reply = make().handle_config(msgs.set_config(ssid, password, bssid), 0.0).data
    assert msgs.read_set_config(reply) == pb.constants.InvalidArgument


def test_set_config_limits_inclusive() -> None:
    assert msgs.read_set_config(make().handle_config(msgs.set_config("x" * 32, "p" * 63), 0.0).data) == 0


def test_scan_sorted_capped_and_out_of_range() -> None:
    aps = [AccessPoint(f"ap{i}".encode(), bytes([0, 0, 0, 0, 0, i]), rssi=-90 + i) for i in range(20)]
    env = WifiEnvironment(aps)
    wifi = WifiProvisioning(WifiStation(timings=Timings(scan_time=1.0)), env, env.attempt)
    start = wifi.handle_scan(msgs.scan_start(True, 5, 120), 0.0)
    assert start.not_before == 1.0
    assert msgs.read_scan_status(wifi.handle_scan(msgs.scan_status(), 0.5).data) == (False, 0)
    assert msgs.read_scan_status(wifi.handle_scan(msgs.scan_status(), 1.0).data) == (True, 16)
    entries = msgs.read_scan_result(wifi.handle_scan(msgs.scan_result(0, 16), 1.0).data)
    assert [e.rssi for e in entries] == sorted((e.rssi for e in entries), reverse=True)
    assert entries[0].ssid == "ap19"
    resp = pb.decode(pb.wifi_scan.WiFiScanPayload, wifi.handle_scan(msgs.scan_result(14, 4), 1.0).data)
    assert resp.status == pb.constants.InternalError and len(resp.resp_scan_result.entries) == 2


@pytest.mark.parametrize("payload", [b"\x08\x02", b"\x08\x00", b"\x08\x04", b"\x08\x09"])
def test_missing_payload_or_unknown_msg_is_transport_failure(payload: bytes) -> None:
    wifi = make()
    with pytest.raises(RemoteError):
        if payload == b"\x08\x09":
            wifi.handle_ctrl(payload, 0.0)
        elif payload == b"\x08\x02":
            wifi.handle_config(payload, 0.0)
        else:
            wifi.handle_scan(payload, 0.0)


# --- properties over the state machines ------------------------------------------------------------------------
OPS = st.sampled_from(["set_good", "set_bad", "set_unknown", "apply", "reset", "reprov", "wait"])


@settings(max_examples=80, deadline=None)
@given(st.lists(OPS, max_size=20), st.integers(min_value=0, max_value=3), st.booleans(), st.booleans())
def test_station_transitions_stay_in_tables(ops: list[str], attempts: int, np: bool, auto_stop: bool) -> None:
    wifi = make(conn_attempts=attempts, timings=Timings(1.0, 2.0, 2.0, 0.0), flavour_np=np, auto_stop=auto_stop)
    st_ = wifi.station
    now = 0.0
    for op in ops:
        before = (st_.prov_state, st_.sta_state)
        if op.startswith("set"):
            ssid, pw = {"set_good": ("HomeNet", "secretpw"), "set_bad": ("HomeNet", "nope"),
                        "set_unknown": ("Nowhere", "x")}[op]
            wifi.handle_config(msgs.set_config(ssid, pw), now)
        elif op == "apply":
            code = msgs.read_apply_config(wifi.handle_config(msgs.apply_config(), now).data)
            assert (code == 0) == (before[0] is ProvState.STARTED and st_.prov_state is ProvState.CRED_RECV)
        elif op == "reset":
            wifi.handle_ctrl(msgs.ctrl_reset(), now)
        elif op == "reprov":
            wifi.handle_ctrl(msgs.ctrl_reprov(), now)
        else:
            now += 1.5
            wifi.advance(now)
        after = (st_.prov_state, st_.sta_state)
        if after[1] != before[1]:
            assert after[1] in STA_TRANSITIONS.values()
        if after[0] != before[0] and op not in ("wait",):
            assert any(k[0] is before[0] and v is after[0] for k, v in PROV_TRANSITIONS.items())
        # invariants
        if st_.sta_state is StaState.CONNECTED:
            assert st_.connected is not None and st_.prov_state is ProvState.SUCCESS
        if st_.prov_state is ProvState.FAIL:
            assert st_.sta_state in (StaState.DISCONNECTED, StaState.CONNECTING)
        assert 0 <= st_.status().attempts_remaining <= max(attempts, 0)
