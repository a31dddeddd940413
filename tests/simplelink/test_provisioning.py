"""The provisioning state machine core (SWRA513 §7): commands, return codes, blocking, timers, every status."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.simplelink.provisioning import (
    TABLE,
    Command,
    Discovery,
    Effect,
    Input,
    JoinOutcome,
    Phase,
    Profile,
    ProfileAddedEvent,
    ProvisioningMachine,
    ResetRequestEvent,
    ReturnCode,
    Role,
    RoleChanged,
    StartParams,
    Status,
    StatusEvent,
)

HOME = Profile(b"HomeNet", 2, b"secret123")


def statuses(effects: list[Effect]) -> list[int]:
    return [int(e.status) for e in effects if isinstance(e, StatusEvent)]


def machine(outcome: JoinOutcome = JoinOutcome.CONNECTED, **kwargs: object) -> ProvisioningMachine:
    return ProvisioningMachine(join=lambda _: outcome, **kwargs)  # type: ignore[arg-type]


def start(m: ProvisioningMachine, cmd: int, now: float = 0.0, **kwargs: object) -> tuple[ReturnCode, list[Effect]]:
    return m.command(now, StartParams(cmd, **kwargs))  # type: ignore[arg-type]


def test_every_phase_has_a_stop_row() -> None:
    for phase in Phase:
        assert (phase, Input.STOP) in TABLE


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cmd": 2, "key": b"short"}, Status.ERROR_ABORT_INVALID_PARAM, ReturnCode.INVALID_PARAM),
        ({"cmd": 2, "role": 7}, Status.ERROR_ABORT_INVALID_PARAM, ReturnCode.INVALID_PARAM),
        ({"cmd": 2, "timeout": 10}, Status.ERROR_ABORT_INVALID_PARAM, ReturnCode.INVALID_PARAM),
        ({"cmd": 2, "flags": 0x80}, Status.ERROR_ABORT_INVALID_PARAM, ReturnCode.INVALID_PARAM),
        ({"cmd": 9}, Status.ERROR_ABORT_INVALID_PARAM, ReturnCode.INVALID_PARAM),
    ],
)
def test_start_rejections(params: dict[str, object], status: Status, code: ReturnCode) -> None:
    m = machine()
    rc, effects = start(m, **params)  # type: ignore[arg-type]
    assert (rc, statuses(effects), m.phase) == (code, [status], Phase.IDLE)


def test_http_disabled_and_list_full_and_already_started() -> None:
    m = machine(http_server_enabled=False)
    assert start(m, Command.START_MODE_AP)[0] == ReturnCode.HTTP_SERVER_DISABLED
    assert start(m, Command.START_MODE_SC)[0] == ReturnCode.OK  # SmartConfig needs no HTTP server
    rc, effects = start(m, Command.START_MODE_SC)
    assert (rc, statuses(effects)) == (ReturnCode.PROVISIONING_ALREADY_STARTED, [10])
    full = machine()
    rc, effects = full.command(0, StartParams(2), stored_profiles=7)
    assert (rc, statuses(effects)) == (ReturnCode.PROFILE_LIST_FULL, [9])


def test_abort_status_six() -> None:
    rc, effects = machine().abort(0)
    assert (rc, statuses(effects)) == (ReturnCode.GENERAL_ABORT, [6])


def test_stop_and_abort_not_expected_when_idle() -> None:
    m = machine()
    assert start(m, Command.STOP, role=0xFF)[0] == ReturnCode.COMMAND_NOT_EXPECTED
    assert start(m, Command.ABORT_EXTERNAL_CONFIRMATION)[0] == ReturnCode.COMMAND_NOT_EXPECTED


def test_blocking_rules() -> None:
    m = machine()
    assert m.host_api("sl_NetAppDnsGetHostByName") == ReturnCode.OK
    start(m, Command.START_MODE_APSC)
    assert m.host_api("sl_Socket") == ReturnCode.PROVISIONING_IN_PROGRESS
    assert m.host_api("sl_WlanSetScanPolicy") == ReturnCode.SCAN_DURING_PROVISIONING
    assert not m.delivers_async_event("ip_acquired")
    assert m.delivers_async_event("provisioning_status")
    assert m.status_bits == 0x18
    ext = machine()
    _, effects = start(ext, Command.START_MODE_APSC_EXTERNAL_CONFIGURATION)
    assert statuses(effects) == [17] and ext.api_allowed and ext.status_bits == 0x58


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (JoinOutcome.NETWORK_NOT_FOUND, [13, 1]),
        (JoinOutcome.CONNECTION_FAILED, [13, 2]),
        (JoinOutcome.IP_NOT_ACQUIRED, [13, 15, 3]),
    ],
)
def test_confirmation_failures_return_to_configuration(outcome: JoinOutcome, expected: list[int]) -> None:
    m = machine(outcome)
    start(m, Command.START_MODE_SC)
    effects = m.smartconfig_profile(1, HOME) + m.tick(10)
    assert statuses(effects) == expected
    assert m.phase is Phase.CONFIGURATION and m.result == expected[-1] and m.role == Role.STA


def test_feedback_failed_then_late_read_in_ap_fallback() -> None:
    m = machine()
    start(m, Command.START_MODE_APSC)
    effects = m.smartconfig_profile(1, HOME) + m.tick(2) + m.tick(3)
    assert statuses(effects) == [13, 15, 16] and m.phase is Phase.FEEDBACK
    assert Discovery(True) in effects
    effects = m.tick(100)
    assert statuses(effects) == [4] and m.role == Role.AP and m.result == 4
    value, effects = m.result_read(101)
    assert value == 4 and statuses(effects) == [5, 12] and m.phase.value == "idle" and m.role == Role.STA


def test_inactivity_timeout_restores_role() -> None:
    m = machine(role=Role.STA)
    start(m, Command.START_MODE_AP, timeout=60)
    assert m.role == Role.AP
    m.activity(50)
    assert m.tick(100) == []
    effects = m.tick(111)
    assert statuses(effects) == [12] and m.role == Role.STA and m.phase is Phase.IDLE
    assert effects.index(RoleChanged(Role.STA)) < len(effects) - 1  # STOPPED after the role switch


def test_sync_timeout_and_general_error() -> None:
    m = machine()
    start(m, Command.START_MODE_SC)
    m.smartconfig_detected(0)
    assert statuses(m.tick(61)) == [14]
    assert statuses(m.general_error(62)) == [0]


def test_auto_provisioning_without_profiles_and_after_disconnect() -> None:
    m = machine()
    m.boot(0, [])
    assert m.tick(1.9) == []
    effects = m.tick(2.0)
    assert statuses(effects) == [11] and m.mode == Command.START_MODE_SC and not m.user_initiated
    ap = machine(JoinOutcome.NETWORK_NOT_FOUND, role=Role.STA)
    ap.boot(0, [HOME])
    assert ap.tick(119) == [] and statuses(ap.tick(120)) == [11]
    connected = machine()
    connected.boot(0, [HOME])
    assert connected.tick(500) == []


def test_host_command_cancels_auto_start() -> None:
    m = machine()
    m.boot(0, [])
    start(m, Command.STOP, role=0xFF)
    assert m.tick(10) == []


def test_reset_request_in_external_mode() -> None:
    m = machine()
    start(m, Command.START_MODE_APSC_EXTERNAL_CONFIGURATION)
    effects = m.smartconfig_profile(1, HOME)
    assert statuses(effects) == [13]
    assert [type(e) for e in effects if not isinstance(e, StatusEvent)] == [ProfileAddedEvent, ResetRequestEvent]
    assert m.phase is Phase.RESET_PENDING
    m.host_restart(2, [HOME])
    assert m.phase.value == "connecting" and not m.api_allowed


STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("cmd"),
            st.integers(0, 6),
            st.sampled_from([0, 2, 3, 0xFF]),
            st.sampled_from([0, 30, 600]),
            st.sampled_from([0, 1]),
        ),
        st.tuples(st.just("sc")),
        st.tuples(st.just("ap")),
        st.tuples(st.just("confirm")),
        st.tuples(st.just("read")),
        st.tuples(st.just("restart")),
        st.tuples(st.just("detect")),
        st.tuples(st.just("tick"), st.floats(0, 1000)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(STEPS, st.sampled_from(list(JoinOutcome)))
def test_random_inputs_keep_invariants(steps: list[tuple[object, ...]], outcome: JoinOutcome) -> None:
    m = machine(outcome)
    now = 0.0
    for step in steps:
        now += 0.5
        kind = step[0]
        if kind == "cmd":
            _, cmd, role, timeout, flags = step
            key = None
            _, effects = m.command(now, StartParams(int(cmd), int(role), int(timeout), key, int(flags)))  # type: ignore[call-overload]
        elif kind == "sc":
            effects = m.smartconfig_profile(now, HOME)
        elif kind == "ap":
            effects = m.ap_profile(now, HOME)
        elif kind == "confirm":
            effects = m.confirm_request(now)
        elif kind == "read":
            _, effects = m.result_read(now)
        elif kind == "restart":
            effects = m.host_restart(now, [])
        elif kind == "detect":
            effects = m.smartconfig_detected(now)
        else:
            now += float(step[1])  # type: ignore[arg-type]
            effects = m.tick(now)
        codes = statuses(effects)
        if 12 in codes:
            assert m.phase is Phase.IDLE or codes.index(12) < len(codes) - 1
        if 5 in codes:
            assert codes[codes.index(5) + 1] == 12
        assert m.api_allowed == (m.phase in (Phase.IDLE, Phase.EXTERNAL_CONFIGURATION, Phase.EXTERNAL_CONFIRMATION))
        assert all(0 <= c <= 17 for c in codes)


def test_every_status_value_is_reachable() -> None:
    """One pass over the machine that produces each of the 18 provisioning status values at least once."""
    seen: set[int] = set()
    outcomes = iter([JoinOutcome.NETWORK_NOT_FOUND, JoinOutcome.CONNECTION_FAILED, JoinOutcome.IP_NOT_ACQUIRED])
    m = ProvisioningMachine(join=lambda _: next(outcomes, JoinOutcome.CONNECTED), http_server_enabled=False)
    seen.update(statuses(start(m, Command.START_MODE_AP)[1]))  # 8
    m.http_server_enabled = True
    seen.update(statuses(m.command(0, StartParams(2), stored_profiles=7)[1]))  # 9
    seen.update(statuses(start(m, 2, key=b"bad")[1]))  # 7
    seen.update(statuses(m.abort(0)[1]))  # 6
    seen.update(statuses(m.boot(0, [])))
    seen.update(statuses(m.tick(2)))  # 11 (auto, SmartConfig in STA role)
    seen.update(statuses(start(m, Command.START_MODE_SC, now=3)[1]))  # 10
    seen.update(statuses(m.general_error(3)))  # 0
    seen.update(statuses(m.smartconfig_detected(3) + m.tick(63.5)))  # 14
    for now in (100, 200, 300, 400):  # 1, 2, 3, then 15/16 and 4
        seen.update(statuses(m.smartconfig_profile(now, HOME) + m.tick(now + 1) + m.tick(now + 2)))
    seen.update(statuses(m.tick(500)))  # 4
    seen.update(statuses(m.result_read(501)[1]))  # 5, 12
    seen.update(statuses(start(m, Command.START_MODE_APSC_EXTERNAL_CONFIGURATION, now=600)[1]))  # 17
    assert seen == set(range(18)) and m.smartconfig_listening
