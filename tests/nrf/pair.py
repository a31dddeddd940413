"""An in-memory pair: the device library core (`protocols.nrf.client`) and the emulated modem against the real
provisioning service core (`protocols.nrf.service`) over the real registry (SQLite `:memory:`), with no
sockets, a manual clock and a seeded rng (after h11's ConnectionPair).

`ServicePair` answers the library's HTTP and CoAP effects the way the drivers do (the drivers' own
Reply → status / code mapping), records every step in an `ExchangeLog`, and can be scripted: each entry of
`script` shapes the next request, either as a scenario fault the service applies (`Scripted`) or as a link
failure the request never gets past (`LinkDown`, e.g. a refused TLS handshake).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulators.clock import ManualClock
from emulators.events import EventLog
from emulators.nrf.coap import RESOURCES, coap_code, query_of
from emulators.nrf.config import NrfConfig
from emulators.nrf.http import delivery, http_status
from emulators.nrf.store import NrfStore
from emulators.state import StateStore
from protocols.faults import Delivery, FaultPlan
from protocols.nrf.client import (
    At,
    CoapClose,
    CoapConnect,
    CoapRequest,
    CoapResult,
    Effect,
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
    Command,
    ConfigAck,
    ConfigCommand,
    ErrorResponse,
    decode_commands,
    decode_responses,
)
from protocols.nrf.modem import Modem
from protocols.nrf.queue import random_uuid
from protocols.nrf.results import Errno, Event
from protocols.nrf.service import FAULT_ACTIONS, Authenticated, Outcome, ProvisioningService, Reply
from tests.exchanges import ExchangeLog

NOW = 1_700_000_000.0
HEADER_BYTES = 120  # status line and headers, about what aiohttp writes; the device counts them in rxMaxSize


@dataclass(frozen=True)
class Scripted:
    """A scenario fault for the next request (added just before it, so the script keeps its order)."""

    action: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkDown:
    """The next request fails below the service (connect, TLS or DTLS), with this errno."""

    errno: Errno


def scripted_status(value: int | str) -> Scripted:
    return Scripted("status", {"http": value} if isinstance(value, int) else {"coap": value})


class ServicePair:
    """The service side: the real core, its registry and faults, and what crossed the link."""

    def __init__(self, commands: tuple[Command, ...] | list[Command] = (), seed: int = 1,
                 config: NrfConfig | None = None) -> None:
        self.clock = ManualClock(NOW)
        self.rng = random.Random(seed)
        self.config = config or NrfConfig()
        self.store = NrfStore(StateStore(":memory:"), self.rng)
        self.faults = FaultPlan(FAULT_ACTIONS)
        self.events = EventLog(self.clock)
        self.service: ProvisioningService = ProvisioningService(
            self.config, self.store, self.faults, lambda kind, **data: self.events.emit("nrf", kind, **data))
        self.initial = list(commands)
        self.device_id = ""
        self.exchanges = ExchangeLog()
        self.script: list[Scripted | LinkDown | int | str] = []
        self.log: list[Any] = []
        self.posted: list[Any] = []
        self._session: Authenticated | None = None

    # --- the registry ---
    def claim(self, modem: Modem) -> None:
        token = modem.attestation_token()
        pem = modem.identity_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.store.claim(modem.device_id, modem.device_type, modem.firmware_id, pem, [], token.text,
                         self.clock.now())
        self.device_id = modem.device_id
        if self.initial:
            self.queue(self.initial)

    def queue(self, commands: list[Command]) -> None:
        self.store.add_command(self.device_id, "scripted", {}, "", commands, self.clock.now())

    @property
    def pending(self) -> list[Any]:
        return self.store.pending(self.device_id)

    # --- the link ---
    def _next(self, resource: str, transport: str) -> LinkDown | None:
        """Apply the next script entry to the request about to reach `resource`."""
        if not self.script:
            return None
        entry = self.script.pop(0)
        if isinstance(entry, LinkDown):
            return entry
        if not isinstance(entry, Scripted):
            entry = scripted_status(entry)
        self.faults.add(entry.action, {"transport": transport, "resource": resource}, entry.params, count=1)
        return None

    def http(self, request: HttpRequest) -> HttpResult:
        self.log.append((request.method, request.target))
        path = urlsplit(request.target).path
        posted = _describe_posted(request.body or b"") if request.method == "POST" else ""
        self.exchanges.record("device", "service", f"{request.method} {path}{posted}")
        resource = "commands" if request.method == "GET" else "response"
        down = self._next(resource, "http")
        if down is not None:
            self.exchanges.record("link", "device", down.errno.name)
            return HttpResult(None, errno=down.errno)
        now = self.clock.now()

        def auth() -> Authenticated | Reply:
            return self.service.authenticate(request.jwt, "http", now)

        hint = self.service.token_device(request.jwt)
        if request.method == "GET":
            reply = self.service.fetch("http", hint, auth, dict(parse_qsl(urlsplit(request.target).query,
                                                                          keep_blank_values=True)), now)
        else:
            body = request.body or b""
            self._observe_posted(body)
            reply = self.service.respond("http", hint, auth, body, now)
        how = delivery(reply)
        self.clock.advance(how.delay)
        if not how.answers:
            self.exchanges.record("service", "device", "connection closed")
            return HttpResult(None, errno=Errno.ESHUTDOWN)  # what the device's HTTP client makes of it
        status = http_status(reply, self.config.not_claimed_http_status)
        self.exchanges.record("service", "device", f"{status}{_describe(reply.payload)}")
        return HttpResult(status, reply.payload, len(reply.payload) + HEADER_BYTES)

    def connect(self) -> None:
        self._session = None
        self.exchanges.record("device", "service", "connect")

    def close(self) -> None:
        self._session = None

    def coap(self, request: CoapRequest) -> CoapResult:
        self.log.append(("/".join(request.path), request.query))
        path = "/".join(request.path)
        posted = _describe_posted(request.payload) if path == "p/rsp" else ""
        self.exchanges.record("device", "service", f"{request.method} {path}{posted}")
        if request.path == (".dtls", "suspend"):
            code = self.config.dtls_suspend if self.config.dtls_suspend.startswith("2.") else "4.04"
            self.exchanges.record("service", "device", code)
            return CoapResult(code)
        resource = RESOURCES.get(request.path, "other")
        down = self._next(resource, "coap")
        if down is not None:
            self.exchanges.record("link", "device", down.errno.name)
            return CoapResult(None, errno=down.errno)
        now = self.clock.now()
        hint = self._session.device_id if self._session else ""

        def auth() -> Authenticated | Reply:
            return self._session if self._session is not None else Reply(Outcome.UNAUTHORIZED)

        ok = {"auth": "2.01", "commands": "2.05", "response": "2.04"}.get(resource)
        if ok is None:
            self.exchanges.record("service", "device", "4.04")
            return CoapResult("4.04")
        if resource == "auth":
            reply = self.service.sign_in(request.payload.decode("ascii", "replace").strip(), "coap", now)
            if reply.authenticated is not None:
                self._session = reply.authenticated
            elif not reply.staged:
                self._session = None
        elif resource == "commands":
            reply = self.service.fetch("coap", hint, auth, query_of(request.query), now)
        else:
            self._observe_posted(request.payload)
            reply = self.service.respond("coap", hint, auth, request.payload, now)
        self.clock.advance(Delivery.of(reply.fault).delay)
        code = coap_code(reply, ok, self.config.not_claimed_coap_code)
        payload = reply.payload if reply.outcome is Outcome.OK else b""
        self.exchanges.record("service", "device", f"{code}{_describe(payload)}")
        return CoapResult(code, payload)

    def _observe_posted(self, body: bytes) -> None:
        try:
            self.posted.append(decode_responses(body))
        except ValueError:
            self.posted.append(body)


def _describe(payload: bytes) -> str:
    """A command list as its kinds, e.g. ` [%CMNG, %KEYGEN, finished]`."""
    if not payload:
        return ""
    try:
        commands = decode_commands(payload, limit=1000)
    except ValueError:
        return f" ({len(payload)} bytes)"
    return " [" + ", ".join(c.set_command if isinstance(c, AtCommand) else
                            "config" if isinstance(c, ConfigCommand) else "finished" for c in commands) + "]"


def _describe_posted(body: bytes) -> str:
    """A response list as its kinds, e.g. ` [ok, ok, finished]`."""
    try:
        responses = decode_responses(body)
    except ValueError:
        return f" ({len(body)} bytes)"
    return " [" + ", ".join("ok" if isinstance(r, AtResponse) else "error" if isinstance(r, ErrorResponse) else
                            "config" if isinstance(r, ConfigAck) else "finished" for r in responses) + "]"


class Driver:
    """The device side: runs library work items synchronously; the 'application' reacts to NEED_LTE_* by
    switching the modem like the sample, and the device is claimed with its identity key."""

    def __init__(self, service: ServicePair, config: LibraryConfig | None = None, lte_follows: bool = True,
                 claim: bool = True, **modem_kwargs: Any) -> None:
        rng = service.rng
        self.modem = Modem(ec.generate_private_key(ec.SECP256R1()), random_uuid(rng), random_uuid(rng),
                           rng=rng, **modem_kwargs)
        self.modem.handle("AT+CFUN=1", service.clock.now())
        self.service = service
        self.lib = ProvisioningLibrary(config or LibraryConfig(), rand=lambda: rng.getrandbits(31))
        self.lte_follows = lte_follows
        self.events: list[Emit] = []
        self.at_log: list[str] = []
        if claim:
            service.claim(self.modem)

    def work(self) -> int | None:
        gen = self.lib.work()
        value: Any = None
        try:
            while True:
                value = self._do(gen.send(value))
        except StopIteration as stop:
            result: int | None = stop.value
            return result

    def _do(self, effect: Effect) -> Any:
        now = self.service.clock.now()
        if isinstance(effect, Emit):
            self.events.append(effect)
            self.service.exchanges.record("library", "application", effect.event.name)
            if self.lte_follows and effect.event is Event.NEED_LTE_DEACTIVATED:
                self.modem.handle("AT+CFUN=4", now)
            if self.lte_follows and effect.event is Event.NEED_LTE_ACTIVATED:
                self.modem.handle("AT+CFUN=1", now)
            return None
        if isinstance(effect, At):
            self.at_log.append(effect.command)
            return self.modem.handle(effect.command, now)
        if isinstance(effect, WaitMode):
            return self.modem.mode == effect.mode
        if isinstance(effect, WaitValidTime):
            return self.modem.has_time
        if isinstance(effect, HttpRequest):
            return self.service.http(effect)
        if isinstance(effect, CoapConnect):
            self.service.log.append("CoapConnect")
            self.service.connect()
            return None
        if isinstance(effect, CoapClose):
            self.service.log.append("CoapClose")
            self.service.close()
            return None
        return self.service.coap(effect)

    @property
    def kinds(self) -> list[Event]:
        return [e.event for e in self.events]
