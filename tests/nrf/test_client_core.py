"""The device library engine driven synchronously against the real service core (`ServicePair`: no sockets, a
manual clock); a test shapes the service's next answers with `script` (scenario faults, link failures)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.nrf.client import AFTER_KEY, INTERVAL_KEY, LibraryConfig, ProvisioningLibrary
from protocols.nrf.codec import (
    AtCommand,
    AtResponse,
    ConfigCommand,
    ErrorResponse,
    FinishedAck,
    FinishedCommand,
    encode_commands,
)
from protocols.nrf.results import Errno, Event, Mapping
from tests.nrf.pair import Driver, LinkDown, Scripted, ServicePair

P = "89ed369b-0fed-4194-a703-aabb7fe8130b"
E = Event


def _cmds2():
    return [AtCommand(f"{P}.e.s", "%CMNG", "3,16842753,2", (513,)), AtCommand(f"{P}.e", "%KEYGEN", "16842753,2,1"),
            FinishedCommand(f"{P}.f")]


def test_http_done_sequence_and_after_cursor():
    service = ServicePair(_cmds2())
    d = Driver(service)
    assert d.work() is None
    assert d.kinds == [E.START, E.NEED_LTE_DEACTIVATED, E.NEED_LTE_ACTIVATED, E.DONE, E.STOP]
    (responses,) = service.posted
    assert [type(r) for r in responses] == [AtResponse, AtResponse, FinishedAck]
    assert "+CME ERROR: 513" in responses[0].message and '%KEYGEN: "' in responses[1].message
    assert d.lib.latest_id == f"{P}.f" and not service.pending
    assert d.modem.keys  # a real key now lives in the modem
    get = service.log[0][1]
    assert get.startswith("/v1/provisioning/commands?after=&rxMaxSize=2304&txMaxSize=2304&mver=mfw_nrf91x1_2.0.2"
                          "&cver=3.1.0&limit=10")
    keygen = next(i for i, c in enumerate(d.at_log) if c.startswith("AT%KEYGEN"))
    assert d.at_log.count("AT+CMEE=1") == 1 and "AT+CMEE=0" in d.at_log[keygen:]  # CMEE restored
    d.work()
    assert service.log[-1][1].startswith(f"/v1/provisioning/commands?after={P}.f&")
    assert d.kinds[-2:] == [E.NO_COMMANDS, E.STOP]


def test_batch_without_finished_loops_to_no_commands():
    service = ServicePair([ConfigCommand(f"{P}.14", (("provisioning/interval-sec", "99"),))])
    d = Driver(service)
    d.work()
    assert d.kinds == [E.START, E.NEED_LTE_ACTIVATED, E.NO_COMMANDS, E.STOP]
    assert d.lib.settings[INTERVAL_KEY] == "99"
    assert [type(r).__name__ for r in service.posted[0]] == ["ConfigAck"]


def test_failed_command_stops_batch_and_drops_finished_ack():
    service = ServicePair([AtCommand(f"{P}.1", "%CMNG", "3,5,2"), AtCommand(f"{P}.2", "%KEYGEN", "5,2,1"),
                             FinishedCommand(f"{P}.3")])
    d = Driver(service)
    d.work()
    assert service.posted[0] == [ErrorResponse(f"{P}.1", 513, "+CME ERROR: 513")]
    assert d.kinds == [E.START, E.NEED_LTE_DEACTIVATED, E.NEED_LTE_ACTIVATED, E.NO_COMMANDS, E.STOP]
    assert not service.pending  # the service flushed the rest of the queue
    assert d.lib.latest_id == f"{P}.1"  # the failing id became the cursor


def test_status_mapping_events_and_attestation_token():
    cases = [(204, E.NO_COMMANDS), (400, E.FAILED), (401, E.FAILED_DEVICE_NOT_CLAIMED),
             (403, E.FAILED_DEVICE_NOT_CLAIMED), (415, E.FAILED), (500, E.FAILED), (404, E.FAILED),
             (LinkDown(Errno.ECONNREFUSED), E.FAILED_WRONG_ROOT_CA),
             (Scripted("drop"), E.FAILED),
             (Scripted("bad_cbor", {"hex": "80"}), E.FAILED),
             (Scripted("too_many_commands"), E.FAILED_TOO_MANY_COMMANDS),
             (Scripted("oversized"), E.FAILED)]
    for forced, event in cases:
        service = ServicePair()
        service.script = [forced]
        d = Driver(service)
        d.work()
        assert d.kinds == [E.START, event, E.STOP], forced
        if event is E.FAILED_DEVICE_NOT_CLAIMED:
            assert d.events[1].token and d.events[1].token.count(".") == 1


def test_no_valid_datetime_and_jwt_failure():
    d = Driver(ServicePair(), nitz_offset=None)
    d.modem.time_offset = None
    d.work()
    assert d.kinds == [E.START, E.FAILED_NO_VALID_DATETIME, E.STOP]


def test_scheduled_sequences_backoff_and_interval():
    service = ServicePair()
    config = LibraryConfig(scheduled=True, interval_s=60, spread_s=3, initial_backoff=10)
    d = Driver(service, config)
    d.lib.rand = lambda: 1
    d.lib.schedule.rand = d.lib.rand
    assert d.work() == 2 and d.events[-1].next_attempt_time_seconds == 2
    assert d.work() == 0  # ran: START, NO_COMMANDS, STOP; reschedule immediately
    assert d.work() == 61
    assert d.kinds == [E.SCHEDULED_PROVISIONING, E.START, E.NO_COMMANDS, E.STOP, E.SCHEDULED_PROVISIONING]
    service.script = [500, 500]
    assert d.work() == 10 and d.work() == 20  # backoff doubles, no SCHED event in between
    assert d.kinds[-6:] == [E.START, E.FAILED, E.STOP, E.START, E.FAILED, E.STOP]
    assert d.work() == 0 and d.lib.schedule.backoff == 0
    d.lib.set_interval(99)
    assert d.work() == 100
    assert ProvisioningLibrary(LibraryConfig()).set_interval(5) == -Errno.ENOTSUP


def test_scheduling_without_time_retries_with_growing_delays():
    d = Driver(ServicePair(), LibraryConfig(scheduled=True, interval_s=10))
    d.modem.time_offset = None
    d.modem.nitz_offset = None
    assert [d.work() for _ in range(4)] == [2, 4, 8, 10]
    assert d.kinds == []  # no event until the device has time
    d.modem.set_time(0.0)
    assert d.work() == 1 and d.kinds == [E.SCHEDULED_PROVISIONING]


def test_scheduled_run_without_network_backs_off_silently():
    d = Driver(ServicePair(), LibraryConfig(scheduled=True, initial_backoff=5))
    d.lib.reschedule = False
    d.lib.network_up = False
    assert [d.work(), d.work()] == [5, 10] and d.kinds == []
    d.lib.network_up = True
    assert d.work() == 0 and d.kinds == [E.START, E.NO_COMMANDS, E.STOP]


def test_lte_wait_timeout_is_failed_with_backoff():
    service = ServicePair([AtCommand(f"{P}.1", "%CMNG", "3,5,2", (513,))])
    d = Driver(service, LibraryConfig(scheduled=True), lte_follows=False)
    d.lib.reschedule = False
    assert d.work() == 60
    assert d.kinds == [E.START, E.NEED_LTE_DEACTIVATED, E.FAILED, E.STOP]
    assert service.posted == []


def test_save_cmd_id_persists_only_after_done():
    service = ServicePair([FinishedCommand(f"{P}.d")])
    d = Driver(service, LibraryConfig(save_cmd_id=True))
    d.work()
    assert d.lib.settings[AFTER_KEY] == f"{P}.d"
    rebooted = ProvisioningLibrary(LibraryConfig(save_cmd_id=True), settings=d.lib.settings)
    assert rebooted.latest_id == f"{P}.d"
    assert ProvisioningLibrary(LibraryConfig(), settings=d.lib.settings).latest_id == ""


def test_plain_error_quirk_and_encode_failure_quirk():
    service = ServicePair([AtCommand(f"{P}.1", "%NOTACOMMAND", "1")])
    d = Driver(service)
    d.work()
    assert isinstance(service.posted[0][0], AtResponse)
    service = ServicePair([AtCommand(f"{P}.1", "%NOTACOMMAND", "1")])
    d = Driver(service, LibraryConfig(quirk_plain_error_is_success=False))
    d.work()
    assert service.posted[0] == [ErrorResponse(f"{P}.1", 0, "ERROR")]
    service = ServicePair([AtCommand(f"{P}.1", "%KEYGEN", "9,2,0"), FinishedCommand(f"{P}.2")])
    d = Driver(service, LibraryConfig(tx_max_size=100))
    d.work()
    assert d.kinds[-2] is E.NO_COMMANDS and service.posted == []


def test_keygen_buffer_growth_reruns_after_delete():
    long_attrs = "CN=" + "x" * 60 + ",O=" + "y" * 200 + ",OU=" + "z" * 200 + ",L=" + "w" * 120
    service = ServicePair([AtCommand(f"{P}.1", "%KEYGEN", f'9,2,0,"{long_attrs}"'), FinishedCommand(f"{P}.2")])
    d = Driver(service)
    d.work()
    assert E.DONE in d.kinds
    assert len(service.posted[0][0].message) >= 1024
    assert "AT%CMNG=3,9,2" in d.at_log  # -E2BIG: key deleted, command re-run with a 2048-byte buffer
    assert sum(c.startswith("AT%KEYGEN") for c in d.at_log) == 2


def test_coap_run_reconnects_and_reauthenticates():
    service = ServicePair(_cmds2())
    d = Driver(service, LibraryConfig(transport="coap"))
    d.work()
    assert d.kinds == [E.START, E.NEED_LTE_DEACTIVATED, E.NEED_LTE_ACTIVATED, E.DONE, E.STOP]
    steps = [s if isinstance(s, str) else s[0] for s in service.log]
    assert steps == ["CoapConnect", "p/auth-jwt", "p/cmd", "CoapClose", "CoapConnect", "p/auth-jwt", "p/rsp"]
    assert service.log[2][1] == ("after=", "rxMaxSize=2304", "txMaxSize=2304", "limit=10")


def test_coap_codes_and_keep_open():
    for code, event, mapping in [
            ("4.01", E.FAILED_DEVICE_NOT_CLAIMED, Mapping.BASELINE),
            ("4.03", E.FAILED_DEVICE_NOT_CLAIMED, Mapping.BASELINE),
            ("4.03", E.FAILED, Mapping.NEWER), ("5.03", E.FAILED, Mapping.BASELINE)]:
        service = ServicePair()
        service.script = [code]
        d = Driver(service, LibraryConfig(transport="coap", mapping=mapping))
        d.work()
        assert d.kinds == [E.START, event, E.STOP], code
    service = ServicePair([FinishedCommand(f"{P}.1")])
    d = Driver(service, LibraryConfig(transport="coap", keep_open=True))
    d.work()
    steps = [s if isinstance(s, str) else s[0] for s in service.log]
    assert ".dtls/suspend" in steps and steps.count("p/auth-jwt") == 2  # 4.04 ends keep-open mode
    assert d.kinds[-2] is E.DONE


def test_fatal_error_when_settings_unusable():
    d = Driver(ServicePair())
    d.lib.settings_ok = False
    d.work()
    assert d.kinds == [E.FATAL_ERROR]


TERMINAL = {E.DONE, E.FAILED, E.NO_COMMANDS, E.FAILED_TOO_MANY_COMMANDS, E.FAILED_DEVICE_NOT_CLAIMED,
            E.FAILED_WRONG_ROOT_CA, E.FAILED_NO_VALID_DATETIME}

http_answers = st.one_of(
    st.sampled_from([200, 204, 400, 401, 403, 404, 415, 500, 503]),
    st.builds(lambda body: Scripted("bad_cbor", {"hex": body.hex()}), st.binary(max_size=60)),
    st.builds(lambda cmds: Scripted("bad_cbor", {"hex": encode_commands(cmds).hex()}), st.lists(
        st.sampled_from([FinishedCommand(f"{P}.9"), ConfigCommand(f"{P}.a", (("k", "v"),)),
                         AtCommand(f"{P}.b", "%CMNG", "3,1,2", (513,))]), min_size=1, max_size=12)),
    st.sampled_from([LinkDown(Errno.ECONNREFUSED), LinkDown(Errno.ETIMEDOUT), Scripted("drop")]))
coap_answers = st.sampled_from(["2.01", "2.05", "2.04", "4.00", "4.01", "4.03", "4.04", "5.00", "5.03", "1.00"])


def _shape_ok(kinds_):
    assert kinds_[0] is E.START and kinds_[-1] is E.STOP
    inner = kinds_[1:-1]
    assert sum(k in TERMINAL for k in inner) == 1 and inner[-1] in TERMINAL
    lte = "".join("D" if k is E.NEED_LTE_DEACTIVATED else "A" for k in inner
                  if k in (E.NEED_LTE_DEACTIVATED, E.NEED_LTE_ACTIVATED))
    assert re.fullmatch("(D?A)*", lte)  # every batch ends with LTE back on (the application follows)


@given(st.lists(http_answers, min_size=1, max_size=6), st.booleans())
@settings(max_examples=150, deadline=None)
def test_any_http_answer_sequence_ends_in_exactly_one_result_event(answers, scheduled):
    service = ServicePair()
    service.script = list(answers)
    d = Driver(service, LibraryConfig(scheduled=scheduled))
    d.lib.reschedule = False
    delay = d.work()
    _shape_ok(d.kinds)
    assert (delay is None) == (not scheduled)


@given(st.lists(coap_answers, min_size=1, max_size=8), st.sampled_from(list(Mapping)))
@settings(max_examples=150, deadline=None)
def test_any_coap_answer_sequence_ends_in_exactly_one_result_event(codes, mapping):
    service = ServicePair([FinishedCommand(f"{P}.1")])
    service.script = list(codes)
    d = Driver(service, LibraryConfig(transport="coap", mapping=mapping))
    d.work()
    _shape_ok(d.kinds)
