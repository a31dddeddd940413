"""The nRF91 device library (`nrf_provisioning`) as a sans-I/O engine: one work item = one generator.

`ProvisioningLibrary.work()` yields effects (`Emit`, `At`, `WaitMode`, `WaitValidTime`, `HttpRequest`,
`CoapConnect`, `CoapRequest`, `CoapClose`) and is sent each effect's result; it returns the delay until
the next work item (None: not rescheduled). The driver owns sockets, the modem and waiting; after a work
item it closes any CoAP connection still open.

Run (sdk-nrf nrf_provisioning.c, `nrf_provisioning_work`): [scheduled + reschedule →
SCHEDULED_PROVISIONING(n), return n] → START → valid time or FAILED_NO_VALID_DATETIME → exchange
(nrf_provisioning_http.c or nrf_provisioning_coap.c, command processing in nrf_provisioning_codec.c) →
result event (`check_return_code_and_notify`) → STOP → reschedule, or back off on BUSY/TIMEDOUT.
Invariants: NEED_LTE_ACTIVATED follows every decoded batch; `latest_id` is the last processed command's
id; it is written to the settings only after DONE and only with `save_cmd_id`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from protocols.nrf.codec import (
    AtCommand,
    AtResponse,
    CborDecodeError,
    ConfigAck,
    ConfigCommand,
    ErrorResponse,
    FinishedAck,
    FinishedCommand,
    Response,
    TooManyElements,
    decode_commands,
    encode_responses,
)
from protocols.nrf.results import (
    BACKOFF_ERRORS,
    Errno,
    Event,
    Mapping,
    coap_code_errno,
    event_for,
    http_status_errno,
)
from protocols.nrf.schedule import Schedule

SETTINGS_PREFIX = "provisioning"
INTERVAL_KEY = f"{SETTINGS_PREFIX}/interval-sec"
AFTER_KEY = f"{SETTINGS_PREFIX}/after-correlation-id"
COMMANDS_PATH = "/v1/provisioning/commands"
RESPONSES_PATH = "/v1/provisioning/response"
CONTENT_FORMAT_CBOR = 60
SETTINGS_MAX_NAME_LEN = 64
MODE_OFFLINE, MODE_NORMAL = 4, 1
FINISHED = 1  # exchange result > 0: a batch with `finished` was acknowledged


# --- effects ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Emit:
    event: Event
    token: str | None = None
    next_attempt_time_seconds: int | None = None


@dataclass(frozen=True)
class At:
    command: str  # result: the modem's response text


@dataclass(frozen=True)
class WaitMode:
    mode: int
    timeout: float  # result: bool, the modem reached the mode in time


@dataclass(frozen=True)
class WaitValidTime:
    timeout: float  # result: bool


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    body: bytes | None
    jwt: str  # result: HttpResult


@dataclass(frozen=True)
class HttpResult:
    status: int | None
    body: bytes = b""
    size: int = 0  # status line + headers + body, as received
    errno: Errno | None = None


@dataclass(frozen=True)
class CoapConnect:
    pass  # result: Errno | None


@dataclass(frozen=True)
class CoapRequest:
    method: str
    path: tuple[str, ...]
    query: tuple[str, ...] = ()
    payload: bytes = b""
    content_format: int | None = None
    confirmable: bool = True
    block2_szx: int | None = None  # result: CoapResult


@dataclass(frozen=True)
class CoapResult:
    code: str | None
    payload: bytes = b""
    errno: Errno | None = None


@dataclass(frozen=True)
class CoapClose:
    pass


Effect = Emit | At | WaitMode | WaitValidTime | HttpRequest | CoapConnect | CoapRequest | CoapClose


# --- configuration ----------------------------------------------------------------------------------

@dataclass
class LibraryConfig:
    transport: str = field(default="http", metadata={
        "help": "http or coap (CONFIG_NRF_PROVISIONING_HTTP / _COAP)"})
    rx_max_size: int = field(default=2304, metadata={
        "help": "CONFIG_NRF_PROVISIONING_RX_BUF_SZ, sent as rxMaxSize"})
    tx_max_size: int = field(default=2304, metadata={
        "help": "CONFIG_NRF_PROVISIONING_TX_BUF_SZ, sent as txMaxSize"})
    cbor_records: int = field(default=10, metadata={
        "help": "CONFIG_NRF_PROVISIONING_CBOR_RECORDS: most commands per batch (limit=)"})
    send_limit: bool = field(default=True, metadata={"help": "send limit= (clients since 2025-05)"})
    cver: str = field(default="3.1.0", metadata={"help": "cver= value (NCS version; older clients send 1)"})
    scheduled: bool = field(default=False, metadata={
        "help": "CONFIG_NRF_PROVISIONING_SCHEDULED: periodic runs"})
    interval_s: int = field(default=86400, metadata={"help": "CONFIG_NRF_PROVISIONING_INTERVAL_S"})
    spread_s: int = field(default=0, metadata={"help": "CONFIG_NRF_PROVISIONING_SPREAD_S"})
    initial_backoff: int = field(default=60, metadata={
        "help": "CONFIG_NRF_PROVISIONING_INITIAL_BACKOFF (seconds)"})
    jwt_valid_time: int = field(default=300, metadata={
        "help": "CONFIG_NRF_PROVISIONING_JWT_MAX_VALID_TIME_S"})
    provide_attestation_token: bool = field(default=True, metadata={
        "help": "pass the attestation token with FAILED_DEVICE_NOT_CLAIMED"})
    save_cmd_id: bool = field(default=False, metadata={
        "help": "CONFIG_NRF_PROVISIONING_SAVE_CMD_ID: persist the after id after DONE"})
    mapping: Mapping = field(default=Mapping.BASELINE, metadata={
        "help": "401/403 mapping: baseline or newer"})
    accept_indefinite: bool = field(default=False, metadata={
        "help": "accept indefinite-length command lists"})
    canonical: bool = field(default=True, metadata={
        "help": "CONFIG_ZCBOR_CANONICAL: definite-length responses"})
    quirk_plain_error_is_success: bool = field(default=True, metadata={
        "help": "a plain ERROR from the modem is reported as success (100)"})
    quirk_encode_failure_is_no_commands: bool = field(default=True, metadata={
        "help": "replies that do not fit txMaxSize end as NO_COMMANDS"})
    keep_open: bool = field(default=False, metadata={
        "help": "CoAP keep-open mode (nRF91x1 SO_KEEPOPEN + /.dtls/suspend)"})
    modem_state_wait_timeout: float = field(default=120.0, metadata={
        "help": "seconds to wait for the modem mode after NEED_LTE_*"})
    valid_datetime_timeout: float = field(default=60.0, metadata={
        "help": "seconds to wait for valid time at START"})
    coap_block_szx: int = field(default=5, metadata={"help": "Block2 SZX of p/cmd (5 = 512 bytes)"})
    settings_max: int = field(default=64, metadata={"help": "settings entries the device can store"})


Work = Generator[Effect, Any, int | None]
Exchange = Generator[Effect, Any, int]


def _strip_at(text: str) -> str:
    lines = [line for line in text.replace("\r", "").split("\n") if line and line != "OK"]
    return "\n".join(lines)


def _quoted_value(text: str, prefix: str) -> str | None:
    match = re.search(re.escape(prefix) + r'\s*"([^"]*)"', text)
    return match.group(1) if match else None


@dataclass
class ProvisioningLibrary:
    config: LibraryConfig
    settings: dict[str, str] = field(default_factory=dict)
    rand: Callable[[], int] = field(default=lambda: 0)
    settings_ok: bool = True
    network_up: bool = True
    latest_id: str = ""

    def __post_init__(self) -> None:
        c = self.config
        self.schedule = Schedule(c.interval_s, c.spread_s, c.initial_backoff, rand=self.rand)
        self.reschedule = c.scheduled
        if c.save_cmd_id and not self.latest_id:
            self.latest_id = self.settings.get(AFTER_KEY, "")

    def set_interval(self, seconds: int) -> int:
        """`nrf_provisioning_set_interval`: 0 or -ENOTSUP when not scheduled."""
        if not self.config.scheduled:
            return -Errno.ENOTSUP
        self.settings[INTERVAL_KEY] = str(seconds)
        return 0

    # --- one work item ---
    def work(self) -> Work:
        c = self.config
        if not self.settings_ok:
            yield Emit(Event.FATAL_ERROR)
            return None
        if c.scheduled and self.reschedule:
            if not (yield WaitValidTime(0.0)):
                return self.schedule.no_time_delay()  # date_time_now() = -ENODATA: retry 2, 4, 8 ... s
            self.reschedule = False
            delay = self.schedule.next_delay(self.settings.get(INTERVAL_KEY))
            yield Emit(Event.SCHEDULED_PROVISIONING, next_attempt_time_seconds=delay)
            return delay
        if c.scheduled and not self.network_up:
            return self.schedule.backoff_delay()
        yield Emit(Event.START)
        if not (yield WaitValidTime(c.valid_datetime_timeout)):
            yield Emit(Event.FAILED_NO_VALID_DATETIME)
            yield Emit(Event.STOP)
            return None
        exchange = self._http_exchange() if c.transport == "http" else self._coap_exchange()
        result = yield from exchange
        yield from self._notify(result)
        yield Emit(Event.STOP)
        if not c.scheduled:
            return None
        if result < 0 and Errno(-result) in BACKOFF_ERRORS:
            return self.schedule.backoff_delay()
        self.schedule.reset_backoff()
        self.reschedule = True
        return 0

    def _notify(self, result: int) -> Generator[Effect, Any, None]:
        if result > 0:
            if self.config.save_cmd_id:
                self.settings[AFTER_KEY] = self.latest_id
            yield Emit(Event.DONE)
            return
        if result == 0:
            return
        event = event_for(Errno(-result))
        token = None
        if event is Event.FAILED_DEVICE_NOT_CLAIMED and self.config.provide_attestation_token:
            token = _quoted_value((yield At("AT%ATTESTTOKEN")), "%ATTESTTOKEN:")
        yield Emit(event, token=token)

    # --- JWT ---
    def _jwt(self) -> Generator[Effect, Any, str | None]:
        if "%CCLK:" not in (yield At("AT%CCLK?")):
            return None
        answer = yield At(f'AT%JWT=0,{self.config.jwt_valid_time},"",""')
        token = _quoted_value(answer, "%JWT:")
        if not token:
            return None
        return token.replace("+", "-").replace("/", "_").split("=", 1)[0]

    def _firmware(self) -> Generator[Effect, Any, str]:
        return _strip_at((yield At("AT+CGMR")))

    # --- HTTP ---
    def _commands_target(self, mver: str) -> str:
        c = self.config
        target = (f"{COMMANDS_PATH}?after={self.latest_id}&rxMaxSize={c.rx_max_size}"
                  f"&txMaxSize={c.tx_max_size}&mver={mver}&cver={c.cver}")
        return target + (f"&limit={c.cbor_records}" if c.send_limit else "")

    def _http_exchange(self) -> Exchange:
        mver = yield from self._firmware()
        while True:
            jwt = yield from self._jwt()
            if jwt is None:
                return -Errno.ETIME
            got: HttpResult = yield HttpRequest("GET", self._commands_target(mver), None, jwt)
            if got.errno is not None:
                return -got.errno
            if got.size + 1 >= self.config.rx_max_size:
                return -Errno.ENOBUFS
            if got.status != 200:
                return -http_status_errno(got.status or 0)
            processed = yield from self._process(got.body)
            if isinstance(processed, Errno):
                return -processed
            finished, payload = processed
            jwt = yield from self._jwt()
            if jwt is None:
                return -Errno.ETIME
            posted: HttpResult = yield HttpRequest("POST", RESPONSES_PATH, payload, jwt)
            if finished and posted.errno is None and posted.status == 200:
                return FINISHED

    # --- CoAP ---
    def _coap_auth(self, jwt: str, mver: str) -> Generator[Effect, Any, Errno | None]:
        query = (f"mver={mver}", f"cver={self.config.cver}")
        got: CoapResult = yield CoapRequest("POST", ("p", "auth-jwt"), query, jwt.encode("ascii"),
                                            CONTENT_FORMAT_CBOR)
        if got.errno is not None:
            return got.errno
        return None if got.code == "2.01" else coap_code_errno(got.code or "", self.config.mapping)

    def _coap_reconnect(self, jwt: str, mver: str) -> Generator[Effect, Any, Errno | None]:
        yield CoapClose()
        failure: Errno | None = yield CoapConnect()
        if failure is not None:
            return failure
        return (yield from self._coap_auth(jwt, mver))

    def _coap_exchange(self) -> Exchange:
        c = self.config
        mver = yield from self._firmware()
        failure: Errno | None = yield CoapConnect()
        if failure is not None:
            return -failure
        jwt = yield from self._jwt()
        if jwt is None:
            return -Errno.ETIME
        keep_open = c.keep_open
        while True:
            failure = yield from self._coap_auth(jwt, mver)
            if failure is not None:
                return -failure
            query: tuple[str, ...] = (f"after={self.latest_id}", f"rxMaxSize={c.rx_max_size}",
                                      f"txMaxSize={c.tx_max_size}")
            if c.send_limit:
                query += (f"limit={c.cbor_records}",)
            got: CoapResult = yield CoapRequest("GET", ("p", "cmd"), query, block2_szx=c.coap_block_szx)
            if got.errno is not None:
                return -got.errno
            if got.code != "2.05":
                return -coap_code_errno(got.code or "", c.mapping)
            if not got.payload:
                return -Errno.ENODATA
            if len(got.payload) > c.rx_max_size:
                return -Errno.ENOTSUP
            if keep_open:
                suspended: CoapResult = yield CoapRequest("POST", (".dtls", "suspend"), confirmable=False)
                keep_open = suspended.errno is None and suspended.code not in (None, "4.04")
            if not keep_open:
                yield CoapClose()
            processed = yield from self._process(got.payload)
            if isinstance(processed, Errno):
                return -processed
            finished, payload = processed
            if not keep_open:
                failure = yield CoapConnect()
                if failure is None:
                    failure = yield from self._coap_auth(jwt, mver)
                if failure is not None:
                    return -failure
            rsp = CoapRequest("POST", ("p", "rsp"), payload=payload, content_format=CONTENT_FORMAT_CBOR)
            posted: CoapResult = yield rsp
            if (posted.errno is not None or posted.code != "2.04") and keep_open:
                failure = yield from self._coap_reconnect(jwt, mver)
                if failure is not None:
                    return -failure
                posted = yield rsp
            if posted.errno is not None:
                return -posted.errno
            if posted.code != "2.04":
                return -coap_code_errno(posted.code or "", c.mapping)
            if finished:
                return FINISHED

    # --- command processing (nrf_provisioning_codec.c, `nrf_provisioning_codec_process_commands`) ---
    def _process(self, payload: bytes) -> Generator[Effect, Any, Errno | tuple[bool, bytes]]:
        c = self.config
        try:
            commands = decode_commands(payload, c.cbor_records, c.accept_indefinite)
        except TooManyElements:
            return Errno.ENOMEM
        except CborDecodeError:
            return Errno.EINVAL
        cmee_was_off = "+CMEE: 0" in (yield At("AT+CMEE?"))
        if cmee_was_off:
            yield At("AT+CMEE=1")
        responses: list[Response] = []
        failed = False
        finished_id: str | None = None
        for command in commands:
            if failed:
                break
            response: Response | None = None
            if isinstance(command, AtCommand):
                mode = re.search(r"\+CFUN:\s*(\d+)", (yield At("AT+CFUN?")))
                if not mode or int(mode.group(1)) != MODE_OFFLINE:
                    yield Emit(Event.NEED_LTE_DEACTIVATED)
                    if not (yield WaitMode(MODE_OFFLINE, c.modem_state_wait_timeout)):
                        if cmee_was_off:
                            yield At("AT+CMEE=0")
                        return Errno.ETIMEDOUT
                response = yield from self._run_at(command)
            elif isinstance(command, ConfigCommand):
                response = self._store_config(command)
            else:
                assert isinstance(command, FinishedCommand)
                finished_id = command.corr_id
            if response is not None:
                responses.append(response)
                failed = isinstance(response, ErrorResponse)
            self.latest_id = command.corr_id
        if cmee_was_off:
            yield At("AT+CMEE=0")
        yield Emit(Event.NEED_LTE_ACTIVATED)
        if not (yield WaitMode(MODE_NORMAL, c.modem_state_wait_timeout)):
            return Errno.ETIMEDOUT
        if finished_id is not None and not failed:
            responses.append(FinishedAck(finished_id))
        encoded = encode_responses(responses, indefinite=not c.canonical)
        if len(encoded) > c.tx_max_size:
            return Errno.ENODATA if c.quirk_encode_failure_is_no_commands else Errno.ENOBUFS
        return (finished_id is not None and not failed, encoded)

    def _run_at(self, command: AtCommand) -> Generator[Effect, Any, Response]:
        keygen = command.set_command.upper() == "%KEYGEN"
        size = 1024 if keygen else 64
        while True:
            text: str = yield At(command.at_text)
            if len(text) < size:
                break
            if size >= 4096:
                return ErrorResponse(command.corr_id, 0, "")
            size *= 2
            if keygen:
                tag_type = command.parameters.split(",")[:2]
                yield At(f"AT%CMNG=3,{','.join(tag_type)}")
        if text.endswith("OK\r\n"):
            return AtResponse(command.corr_id, text)
        cme = re.search(r"\+CME ERROR:\s*(\d+)", text)
        if cme:
            code = int(cme.group(1))
            if code in command.ignore_cme_errors:
                return AtResponse(command.corr_id, text)
            return ErrorResponse(command.corr_id, code, text.strip())
        if self.config.quirk_plain_error_is_success:
            return AtResponse(command.corr_id, text)
        return ErrorResponse(command.corr_id, 0, text.strip())

    def _store_config(self, command: ConfigCommand) -> ConfigAck | ErrorResponse:
        for index, (key, value) in enumerate(command.pairs):
            if len(key) > SETTINGS_MAX_NAME_LEN:
                return ErrorResponse(command.corr_id, -Errno.EINVAL & 0xFFFFFFFF,
                                     f"Key [{index}](0-indexed) too big")
            if key not in self.settings and len(self.settings) >= self.config.settings_max:
                return ErrorResponse(command.corr_id, -Errno.ENOMEM & 0xFFFFFFFF,
                                     f"Unable to store [{index}](0-indexed) key-value-pair")
            self.settings[key] = value
        return ConfigAck(command.corr_id)
