"""The device library engine driven synchronously against an in-memory service (no sockets, no clock)."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.nrf.client import (
    AFTER_KEY,
    INTERVAL_KEY,
    At,
    CoapClose,
    CoapConnect,
    CoapRequest,
    CoapResult,
    Emit,
    HttpRequest,
    HttpResult,
    LibraryConfig,
    ProvisioningLibrary,
    WaitMode,
    WaitValidTime,
)
from protocols.nrf.codec import (
    AtCommand,
    AtResponse,
    ConfigCommand,
    ErrorResponse,
    FinishedAck,
    FinishedCommand,
    decode_responses,
    encode_commands,
)
from protocols.nrf.modem import Modem
from protocols.nrf.queue import QueuedCommand, select_batch, settle
from protocols.nrf.results import Errno, Event, Mapping

NOW = 1_700_000_000.0
P = "89ed369b-0fed-4194-a703-aabb7fe8130b"
E = Event


class MemoryService:
    """Just enough of the service to exercise the library: a queue, statuses to force, a log."""

    def __init__(self, commands=()):
        self.pending = [QueuedCommand(c, "m") for c in commands]
        self.forced: list[Any] = []  # statuses/codes to answer the next requests with
        self.log: list[Any] = []
        self.posted: list[Any] = []

    def http(self, request: HttpRequest) -> HttpResult:
        self.log.append((request.method, request.target))
        if self.forced:
            forced = self.forced.pop(0)
            return forced if isinstance(forced, HttpResult) else HttpResult(forced, b"", 20)
        if request.method == "GET":
            query = parse_qs(urlsplit(request.target).query, keep_blank_values=True)
            batch = select_batch(self.pending, query["after"][0], int(query["limit"][0]))
            if not batch:
                return HttpResult(204, b"", 20)
            body = encode_commands([q.command for q in batch])
            return HttpResult(200, body, len(body) + 20)
        responses = decode_responses(request.body or b"")
        self.posted.append(responses)
        removed = settle(self.pending, responses).removed
        self.pending = [q for q in self.pending if q.corr_id not in removed]
        return HttpResult(200, b"", 20)

    def coap(self, request: CoapRequest) -> CoapResult:
        self.log.append(("/".join(request.path), request.query))
        if self.forced and request.path != (".dtls", "suspend"):
            return CoapResult(self.forced.pop(0))
        if request.path == ("p", "auth-jwt"):
            return CoapResult("2.01")
        if request.path == ("p", "cmd"):
            after = request.query[0].split("=", 1)[1]
            batch = select_batch(self.pending, after, 10)
            return CoapResult("2.05", encode_commands([q.command for q in batch]) if batch else b"")
        if request.path == ("p", "rsp"):
            responses = decode_responses(request.payload)
            self.posted.append(responses)
            removed = settle(self.pending, responses).removed
            self.pending = [q for q in self.pending if q.corr_id not in removed]
            return CoapResult("2.04")
        return CoapResult("4.04")


class Driver:
    """Runs work items; the 'application' reacts to NEED_LTE_* by switching the modem like the sample."""

    def __init__(self, service, config=None, lte_follows=True, **modem_kwargs):
        self.modem = Modem(ec.generate_private_key(ec.SECP256R1()), str(uuid.uuid4()), str(uuid.uuid4()),
                           **modem_kwargs)
        self.modem.handle("AT+CFUN=1", NOW)
        self.service = service
        self.lib = ProvisioningLibrary(config or LibraryConfig())
        self.lte_follows = lte_follows
        self.events: list[Emit] = []
        self.at_log: list[str] = []

    def work(self):
        gen = self.lib.work()
        value = None
        try:
            while True:
                effect = gen.send(value)
                value = self._do(effect)
        except StopIteration as stop:
            return stop.value

    def _do(self, effect):
        if isinstance(effect, Emit):
            self.events.append(effect)
            if self.lte_follows and effect.event is Event.NEED_LTE_DEACTIVATED:
                self.modem.handle("AT+CFUN=4", NOW)
            if self.lte_follows and effect.event is Event.NEED_LTE_ACTIVATED:
                self.modem.handle("AT+CFUN=1", NOW)
            return None
        if isinstance(effect, At):
            self.at_log.append(effect.command)
            return self.modem.handle(effect.command, NOW)
        if isinstance(effect, WaitMode):
            return self.modem.mode == effect.mode
        if isinstance(effect, WaitValidTime):
            return self.modem.has_time
        if isinstance(effect, HttpRequest):
            return self.service.http(effect)
        if isinstance(effect, CoapConnect | CoapClose):
            self.service.log.append(type(effect).__name__)
            return None
        return self.service.coap(effect)

    @property
    def kinds(self):
        return [e.event for e in self.events]


def _cmds2():
    return [AtCommand(f"{P}.e.s", "%CMNG", "3,16842753,2", (513,)), AtCommand(f"{P}.e", "%KEYGEN", "16842753,2,1"),
            FinishedCommand(f"{P}.f")]


def test_http_done_sequence_and_after_cursor():
    service = MemoryService(_cmds2())
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
    service = MemoryService([ConfigCommand(f"{P}.14", (("provisioning/interval-sec", "99"),))])
    d = Driver(service)
    d.work()
    assert d.kinds == [E.START, E.NEED_LTE_ACTIVATED, E.NO_COMMANDS, E.STOP]
    assert d.lib.settings[INTERVAL_KEY] == "99"
    assert [type(r).__name__ for r in service.posted[0]] == ["ConfigAck"]


def test_failed_command_stops_batch_and_drops_finished_ack():
    service = MemoryService([AtCommand(f"{P}.1", "%CMNG", "3,5,2"), AtCommand(f"{P}.2", "%KEYGEN", "5,2,1"),
                             FinishedCommand(f"{P}.3")])
    d = Driver(service)
    d.work()
    assert service.posted[0] == [ErrorResponse(f"{P}.1", 513, "+CME ERROR: 513")]
    assert d.kinds == [E.START, E.NEED_LTE_DEACTIVATED, E.NEED_LTE_ACTIVATED, E.NO_COMMANDS, E.STOP]
    assert not service.pending  # the memory service flushed the rest of the queue
    assert d.lib.latest_id == f"{P}.1"  # the failing id became the cursor


def test_status_mapping_events_and_attestation_token():
    cases = [(204, E.NO_COMMANDS), (400, E.FAILED), (401, E.FAILED_DEVICE_NOT_CLAIMED),
             (403, E.FAILED_DEVICE_NOT_CLAIMED), (415, E.FAILED), (500, E.FAILED), (404, E.FAILED),
             (HttpResult(None, errno=Errno.ECONNREFUSED), E.FAILED_WRONG_ROOT_CA),
             (HttpResult(None, errno=Errno.ESHUTDOWN), E.FAILED),
             (HttpResult(200, b"\x80", 20), E.FAILED),
             (HttpResult(200, encode_commands([FinishedCommand(str(i)) for i in range(11)]), 200),
              E.FAILED_TOO_MANY_COMMANDS),
             (HttpResult(200, b"", 3000), E.FAILED)]
    for forced, event in cases:
        service = MemoryService()
        service.forced = [forced]
        d = Driver(service)
        d.work()
        assert d.kinds == [E.START, event, E.STOP], forced
        if event is E.FAILED_DEVICE_NOT_CLAIMED:
            assert d.events[1].token and d.events[1].token.count(".") == 1


def test_no_valid_datetime_and_jwt_failure():
    d = Driver(MemoryService(), nitz_offset=None)
    d.modem.time_offset = None
    d.work()
    assert d.kinds == [E.START, E.FAILED_NO_VALID_DATETIME, E.STOP]


def test_scheduled_sequences_backoff_and_interval():
    service = MemoryService()
    config = LibraryConfig(scheduled=True, interval_s=60, spread_s=3, initial_backoff=10)
    d = Driver(service, config)
    d.lib.rand = lambda: 1
    d.lib.schedule.rand = d.lib.rand
    assert d.work() == 2 and d.events[-1].next_attempt_time_seconds == 2
    assert d.work() == 0  # ran: START, NO_COMMANDS, STOP; reschedule immediately
    assert d.work() == 61
    assert d.kinds == [E.SCHEDULED_PROVISIONING, E.START, E.NO_COMMANDS, E.STOP, E.SCHEDULED_PROVISIONING]
    service.forced = [500, 500]
    assert d.work() == 10 and d.work() == 20  # backoff doubles, no SCHED event in between
    assert d.kinds[-6:] == [E.START, E.FAILED, E.STOP, E.START, E.FAILED, E.STOP]
    assert d.work() == 0 and d.lib.schedule.backoff == 0
    d.lib.set_interval(99)
    assert d.work() == 100
    assert ProvisioningLibrary(LibraryConfig()).set_interval(5) == -Errno.ENOTSUP


def test_scheduling_without_time_retries_with_growing_delays():
    d = Driver(MemoryService(), LibraryConfig(scheduled=True, interval_s=10))
    d.modem.time_offset = None
    d.modem.nitz_offset = None
    assert [d.work() for _ in range(4)] == [2, 4, 8, 10]
    assert d.kinds == []  # no event until the device has time
    d.modem.set_time(0.0)
    assert d.work() == 1 and d.kinds == [E.SCHEDULED_PROVISIONING]


def test_scheduled_run_without_network_backs_off_silently():
    d = Driver(MemoryService(), LibraryConfig(scheduled=True, initial_backoff=5))
    d.lib.reschedule = False
    d.lib.network_up = False
    assert [d.work(), d.work()] == [5, 10] and d.kinds == []
    d.lib.network_up = True
    assert d.work() == 0 and d.kinds == [E.START, E.NO_COMMANDS, E.STOP]


def test_lte_wait_timeout_is_failed_with_backoff():
    service = MemoryService([AtCommand(f"{P}.1", "%CMNG", "3,5,2", (513,))])
    d = Driver(service, LibraryConfig(scheduled=True), lte_follows=False)
    d.lib.reschedule = False
    assert d.work() == 60
    assert d.kinds == [E.START, E.NEED_LTE_DEACTIVATED, E.FAILED, E.STOP]
    assert service.posted == []


def test_save_cmd_id_persists_only_after_done():
    service = MemoryService([FinishedCommand(f"{P}.d")])
    d = Driver(service, LibraryConfig(save_cmd_id=True))
    d.work()
    assert d.lib.settings[AFTER_KEY] == f"{P}.d"
    rebooted = ProvisioningLibrary(LibraryConfig(save_cmd_id=True), settings=d.lib.settings)
    assert rebooted.latest_id == f"{P}.d"
    assert ProvisioningLibrary(LibraryConfig(), settings=d.lib.settings).latest_id == ""


def test_plain_error_quirk_and_encode_failure_quirk():
    service = MemoryService([AtCommand(f"{P}.1", "%NOTACOMMAND", "1")])
    d = Driver(service)
    d.work()
    assert isinstance(service.posted[0][0], AtResponse)
    service = MemoryService([AtCommand(f"{P}.1", "%NOTACOMMAND", "1")])
    d = Driver(service, LibraryConfig(quirk_plain_error_is_success=False))
    d.work()
    assert service.posted[0] == [ErrorResponse(f"{P}.1", 0, "ERROR")]
    service = MemoryService([AtCommand(f"{P}.1", "%KEYGEN", "9,2,0"), FinishedCommand(f"{P}.2")])
    d = Driver(service, LibraryConfig(tx_max_size=100))
    d.work()
    assert d.kinds[-2] is E.NO_COMMANDS and service.posted == []


def test_keygen_buffer_growth_reruns_after_delete():
    long_attrs = "CN=" + "x" * 60 + ",O=" + "y" * 200 + ",OU=" + "z" * 200 + ",L=" + "w" * 120
    service = MemoryService([AtCommand(f"{P}.1", "%KEYGEN", f'9,2,0,"{long_attrs}"'), FinishedCommand(f"{P}.2")])
    d = Driver(service)
    d.work()
    assert E.DONE in d.kinds
    assert len(service.posted[0][0].message) >= 1024
    assert "AT%CMNG=3,9,2" in d.at_log  # -E2BIG: key deleted, command re-run with a 2048-byte buffer
    assert sum(c.startswith("AT%KEYGEN") for c in d.at_log) == 2


def test_coap_run_reconnects_and_reauthenticates():
    service = MemoryService(_cmds2())
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
        service = MemoryService()
        service.forced = [code]
        d = Driver(service, LibraryConfig(transport="coap", mapping=mapping))
        d.work()
        assert d.kinds == [E.START, event, E.STOP], code
    service = MemoryService([FinishedCommand(f"{P}.1")])
    d = Driver(service, LibraryConfig(transport="coap", keep_open=True))
    d.work()
    steps = [s if isinstance(s, str) else s[0] for s in service.log]
    assert ".dtls/suspend" in steps and steps.count("p/auth-jwt") == 2  # 4.04 ends keep-open mode
    assert d.kinds[-2] is E.DONE


def test_fatal_error_when_settings_unusable():
    d = Driver(MemoryService())
    d.lib.settings_ok = False
    d.work()
    assert d.kinds == [E.FATAL_ERROR]


TERMINAL = {E.DONE, E.FAILED, E.NO_COMMANDS, E.FAILED_TOO_MANY_COMMANDS, E.FAILED_DEVICE_NOT_CLAIMED,
            E.FAILED_WRONG_ROOT_CA, E.FAILED_NO_VALID_DATETIME}

http_answers = st.one_of(
    st.sampled_from([200, 204, 400, 401, 403, 404, 415, 500, 503]),
    st.builds(lambda body: HttpResult(200, body, len(body) + 20), st.binary(max_size=60)),
    st.builds(lambda cmds: HttpResult(200, encode_commands(cmds), 200), st.lists(
        st.sampled_from([FinishedCommand(f"{P}.9"), ConfigCommand(f"{P}.a", (("k", "v"),)),
                         AtCommand(f"{P}.b", "%CMNG", "3,1,2", (513,))]), min_size=1, max_size=12)),
    st.sampled_from([HttpResult(None, errno=Errno.ECONNREFUSED), HttpResult(None, errno=Errno.ETIMEDOUT),
                     HttpResult(None, errno=Errno.ESHUTDOWN)]))
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
    service = MemoryService()
    service.forced = list(answers)
    d = Driver(service, LibraryConfig(scheduled=scheduled))
    d.lib.reschedule = False
    delay = d.work()
    _shape_ok(d.kinds)
    assert (delay is None) == (not scheduled)


@given(st.lists(coap_answers, min_size=1, max_size=8), st.sampled_from(list(Mapping)))
@settings(max_examples=150, deadline=None)
def test_any_coap_answer_sequence_ends_in_exactly_one_result_event(codes, mapping):
    service = MemoryService([FinishedCommand(f"{P}.1")])
    service.forced = list(codes)
    d = Driver(service, LibraryConfig(transport="coap", mapping=mapping))
    d.work()
    _shape_ok(d.kinds)
