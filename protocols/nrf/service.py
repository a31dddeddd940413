"""The nRF Cloud provisioning service's decisions, written once for every transport (sdk-nrf nrf_provisioning
docs: "HTTP" and "CoAP" transports; nRF Cloud REST API "ProvisioningService").

Owns authentication (ES256 JWT → claimed device, the claim check; a device claimed without a trusted key
is refused unless the policy accepts unverified JWTs), answering a command fetch (cursor, limit
and size budgets through `select_batch`), applying posted responses (`settle`), and what a scenario fault
does at each of those decision points. Nothing here waits, reads a clock or touches a socket: time comes in
as `now`, the registry behind `ServiceStore`, faults from a `protocols.faults.FaultPlan`, and every answer is a
transport-neutral `Reply` that the HTTP and CoAP drivers map onto a status or code. A fault that shapes
*delivery* (delay, drop) rides on the reply as `Reply.fault`; the driver turns it into a `Delivery`.
Invariant: bad input never changes stored state, it gets a reply, a log line and an event.
"""

from __future__ import annotations

import collections
import enum
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from protocols.faults import Fault, FaultPlan
from protocols.nrf.codec import (
    DEFAULT_LIMIT,
    CborDecodeError,
    FinishedCommand,
    Response,
    decode_responses,
    encode_commands,
)
from protocols.nrf.jwt import JwtError, numeric_date, parse_jwt, verify_jwt
from protocols.nrf.queue import QueuedCommand, Settlement, select_batch, settle
from protocols.nrf.requests import result_json

log = logging.getLogger("provemu.nrf.service")

FAULT_ACTIONS = {
    "status": "answer with params.http (default 500) / params.coap (default '5.03')",
    "drop": "no answer: HTTP closes the connection (params.mode 'close') or stays silent "
            "(params.mode 'silence', params.seconds); CoAP ignores the datagram and its retransmissions; "
            "on resource 'handshake' (transport https or dtls) the handshake never completes (connect timeout)",
    "delay": "answer normally after params.seconds (latency)",
    "not_claimed": "answer as for an unclaimed device (configured HTTP status / CoAP code)",
    "jwt_time_reject": "reject the JWT as expired (time-based rejection; 401 / 4.01)",
    "too_many_commands": "answer a fetch with limit+1 commands (FAILED_TOO_MANY_COMMANDS)",
    "bad_cbor": "answer a fetch with params.hex (default '80', an empty array) as the body",
    "oversized": "answer a fetch with a valid command list larger than rxMaxSize",
    "wrong_root_ca": "present a server certificate from another CA in the TLS/DTLS handshake",
    "no_valid_datetime": "the emulated network time (NITZ) for the fake device is unavailable",
    "time_skew": "the emulated network time is off by params.seconds (JWTs fail time checks)",
}

_ANSWERS = frozenset({"status", "drop", "delay", "not_claimed", "jwt_time_reject"})
APPLICABLE: dict[str, frozenset[str]] = {
    "auth": _ANSWERS,
    "commands": _ANSWERS | {"too_many_commands", "bad_cbor", "oversized"},
    "response": _ANSWERS,
    "handshake": frozenset({"wrong_root_ca", "drop"}),
    "network-time": frozenset({"no_valid_datetime", "time_skew"}),
}
"""Which fault actions each decision point understands, so a fault is never spent where it means nothing."""

HTTP_REPLY_HEADERS = 160  # status line + headers the device counts against rxMaxSize on HTTP


# --- what the core needs from outside ---------------------------------------------------------------------

class ClaimedDevice(Protocol):
    @property
    def device_id(self) -> str: ...

    @property
    def public_key(self) -> str | None: ...


class ServiceStore(Protocol):
    """The registry the service reads and changes: claimed devices and their ordered command queues."""

    def device(self, device_id: str) -> ClaimedDevice | None: ...

    def pending(self, device_id: str) -> list[QueuedCommand]: ...

    def mark_delivered(self, batch: Sequence[QueuedCommand], now: float) -> None: ...

    def apply(self, device_id: str, settlement: Settlement, completed_status: str, failed_status: str,
              cancelled_status: str, now: float, result: Callable[[str, list[Response]], Any]) -> None: ...


class ServicePolicy(Protocol):
    """The settings the service decides with (read on every request, so a change applies at once)."""

    accept_unverified_jwt: bool
    jwt_skew_seconds: int
    require_jwt_exp: bool
    max_batch: int | None
    max_responses: int
    status_completed: str
    status_failed: str
    status_cancelled: str


class EventSink(Protocol):
    def __call__(self, kind: str, **data: Any) -> None: ...


# --- answers ----------------------------------------------------------------------------------------------

class Outcome(enum.Enum):
    OK = "ok"
    NO_COMMANDS = "no_commands"
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    NOT_CLAIMED = "not_claimed"
    FORCED = "forced"  # a `status` fault: the driver answers with `http_status` / `coap_code`
    DROP = "drop"  # a `drop` fault: no answer at all (see `Reply.fault` for how)


@dataclass(frozen=True)
class Authenticated:
    device_id: str
    expires: float | None


@dataclass(frozen=True)
class Reply:
    """A transport-neutral answer. `fault` is the scenario fault that shapes its delivery, if any; `staged` says
    that fault answered in the service's place (the service itself decided nothing)."""

    outcome: Outcome
    payload: bytes = b""
    http_status: int | None = None
    coap_code: str | None = None
    fault: Fault | None = None
    staged: bool = False
    authenticated: Authenticated | None = None


AuthCheck = Callable[[], "Authenticated | Reply"]


@dataclass(frozen=True)
class FetchQuery:
    after: str
    rx_max: int
    tx_max: int
    limit: int

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> FetchQuery:
        """The query of a command fetch; ValueError when a number is malformed or out of range."""
        parsed = cls(query.get("after", ""), int(query.get("rxMaxSize", "1024")),
                     int(query.get("txMaxSize", "2048")), int(query.get("limit", str(DEFAULT_LIMIT))))
        if not (1 <= parsed.limit <= 1000 and 64 <= parsed.rx_max <= 1 << 20 and 64 <= parsed.tx_max <= 1 << 20):
            raise ValueError("out of range")
        return parsed


# --- the service ------------------------------------------------------------------------------------------

class ProvisioningService:
    """The device-facing provisioning service of one emulator instance."""

    def __init__(self, policy: ServicePolicy, store: ServiceStore, faults: FaultPlan, emit: EventSink) -> None:
        self.policy = policy
        self.store = store
        self.faults = faults
        self.emit = emit
        self._keys: dict[str, ec.EllipticCurvePublicKey | None] = {}
        self._devices: dict[str, ClaimedDevice | None] = {}
        self._verified: collections.OrderedDict[str, ec.EllipticCurvePublicKey] = collections.OrderedDict()

    # --- faults ---
    def take_fault(self, transport: str, resource: str, device: str, actions: Iterable[str] | None = None,
                   **extra: str) -> Fault | None:
        """The first fault that matches here *and* whose action applies to this decision point, consumed, so a
        fetch-only fault matched by transport alone is not spent on the preceding authentication."""
        attributes = {"transport": transport, "resource": resource, "device": device, **extra}
        applicable = APPLICABLE.get(resource, frozenset()) if actions is None else actions
        found = self.faults.take(actions=applicable, **attributes)
        if found is not None:
            self.emit("fault_applied", action=found.action, fault=found.id, **attributes)
        return found

    @staticmethod
    def _fault_reply(fault: Fault) -> Reply | None:
        """The answer a fault forces in place of the real one; None for delay (the real answer, later)."""
        if fault.action == "status":
            try:
                http_status = int(fault.params.get("http", 500))
            except (TypeError, ValueError):
                http_status = 500
            return Reply(Outcome.FORCED, http_status=http_status if 100 <= http_status <= 599 else 500,
                         coap_code=str(fault.params.get("coap", "5.03")), fault=fault, staged=True)
        if fault.action == "drop":
            return Reply(Outcome.DROP, fault=fault, staged=True)
        if fault.action == "not_claimed":
            return Reply(Outcome.NOT_CLAIMED, fault=fault, staged=True)
        if fault.action == "jwt_time_reject":
            return Reply(Outcome.UNAUTHORIZED, fault=fault, staged=True)
        return None

    # --- the registry, cached ---
    def forget(self, device_id: str) -> None:
        """Drop cached registry facts of a device after a claim or unclaim."""
        self._keys.pop(device_id, None)
        self._devices.pop(device_id, None)

    def is_claimed(self, device_id: str) -> bool:
        return self._device(device_id) is not None

    def _device(self, device_id: str) -> ClaimedDevice | None:
        if device_id not in self._devices:
            if len(self._devices) > 100_000:
                self._devices.clear()
            self._devices[device_id] = self.store.device(device_id)
        return self._devices[device_id]

    def _public_key(self, device_id: str, pem: str | None) -> ec.EllipticCurvePublicKey | None:
        if device_id not in self._keys:
            key = serialization.load_pem_public_key(pem.encode()) if pem else None
            self._keys[device_id] = key if isinstance(key, ec.EllipticCurvePublicKey) else None
        return self._keys[device_id]

    # --- authentication ---
    @staticmethod
    def token_device(token: str) -> str:
        """The device id a token names, or '' (for fault matching before verification)."""
        try:
            return parse_jwt(token).device_id
        except JwtError:
            return ""

    def authenticate(self, token: str, transport: str, now: float) -> Authenticated | Reply:
        """The claimed device a JWT proves, or the rejection (unauthorized / not claimed)."""
        try:
            parsed = parse_jwt(token)
            device_id = parsed.device_id
        except JwtError as exc:
            log.warning("nrf %s: rejected JWT: %s", transport, exc)
            self.emit("auth_rejected", transport=transport, reason=exc.reason)
            return Reply(Outcome.UNAUTHORIZED)
        device = self._device(device_id)
        if device is None:
            log.info("nrf %s: device %s is not claimed", transport, device_id)
            self.emit("auth_rejected", transport=transport, device=device_id, reason="not_claimed")
            return Reply(Outcome.NOT_CLAIMED)
        p = self.policy
        key = self._public_key(device_id, device.public_key)
        if key is None and not p.accept_unverified_jwt:
            log.warning("nrf %s: device %s was claimed without a key the service can trust: JWT refused (claim "
                        "with its emulated token or a publicKey, or set accept_unverified_jwt)", transport, device_id)
            self.emit("auth_rejected", transport=transport, device=device_id, reason="no_trusted_key")
            return Reply(Outcome.UNAUTHORIZED)
        if key is not None and self._verified.get(token) is key:
            key = None  # this exact token already verified against this key (a CoAP run reuses its JWT)
        try:
            verify_jwt(token, key, now, p.jwt_skew_seconds, p.require_jwt_exp)
        except JwtError as exc:
            log.warning("nrf %s: device %s JWT rejected: %s", transport, device_id, exc)
            self.emit("auth_rejected", transport=transport, device=device_id, reason=exc.reason)
            return Reply(Outcome.UNAUTHORIZED)
        if key is not None:
            self._verified[token] = key
            while len(self._verified) > 10_000:
                self._verified.popitem(last=False)
        return Authenticated(device_id, numeric_date(parsed, "exp"))

    def sign_in(self, token: str, transport: str, now: float) -> Reply:
        """A session sign-in (CoAP `POST p/auth-jwt`): OK with `authenticated` set, or the rejection."""
        fault = self.take_fault(transport, "auth", self.token_device(token))
        forced = self._fault_reply(fault) if fault is not None else None
        if forced is not None:
            return forced
        who = self.authenticate(token, transport, now)
        if isinstance(who, Reply):
            return replace(who, fault=fault)
        return Reply(Outcome.OK, fault=fault, authenticated=who)

    # --- fetch ---
    def fetch(self, transport: str, device_hint: str, auth: AuthCheck, query: Mapping[str, str],
              now: float) -> Reply:
        """Answer a command fetch: query check, scenario fault, authentication, then the batch."""
        try:
            parsed = FetchQuery.parse(query)
        except ValueError:
            log.warning("nrf %s: device %s sent a bad query %s", transport, device_hint, dict(query))
            self.emit("bad_request", transport=transport, device=device_hint, resource="commands")
            return Reply(Outcome.BAD_REQUEST)
        fault = self.take_fault(transport, "commands", device_hint)
        if fault is not None:
            forced = self._fetch_fault_reply(fault, parsed)
            if forced is not None:
                return forced
        who = auth()
        if isinstance(who, Reply):
            return replace(who, fault=fault)
        return replace(self._batch(transport, who.device_id, parsed, now), fault=fault)

    def _batch(self, transport: str, device_id: str, query: FetchQuery, now: float) -> Reply:
        allowance = HTTP_REPLY_HEADERS if transport == "http" else 0
        batch = select_batch(self.store.pending(device_id), query.after, query.limit, query.rx_max, query.tx_max,
                             self.policy.max_batch, allowance)
        if not batch:
            self.emit("commands", transport=transport, device=device_id, after=query.after, count=0)
            return Reply(Outcome.NO_COMMANDS)
        self.store.mark_delivered(batch, now)
        self.emit("commands", transport=transport, device=device_id, after=query.after, count=len(batch),
                  ids=[q.corr_id for q in batch])
        return Reply(Outcome.OK, encode_commands([q.command for q in batch]))

    def _fetch_fault_reply(self, fault: Fault, query: FetchQuery) -> Reply | None:
        if fault.action == "too_many_commands":
            synthetic = [FinishedCommand(f"provemu-too-many.{i:x}") for i in range(query.limit + 1)]
            return Reply(Outcome.OK, encode_commands(synthetic), fault=fault, staged=True)
        if fault.action == "bad_cbor":
            return Reply(Outcome.OK, bytes.fromhex(str(fault.params.get("hex", "80"))), fault=fault, staged=True)
        if fault.action == "oversized":
            padding = "A" * query.rx_max
            return Reply(Outcome.OK, cbor2.dumps([["provemu-oversized", 0, "%XPADDING", padding, []]]),
                         fault=fault, staged=True)
        return self._fault_reply(fault)

    # --- responses ---
    def respond(self, transport: str, device_hint: str, auth: AuthCheck, payload: bytes,
                now: float) -> Reply:
        """Apply posted responses: scenario fault, authentication, strict decoding, queue settlement."""
        fault = self.take_fault(transport, "response", device_hint)
        forced = self._fault_reply(fault) if fault is not None else None
        if forced is not None:
            return forced
        who = auth()
        if isinstance(who, Reply):
            return replace(who, fault=fault)
        device_id = who.device_id
        p = self.policy
        try:
            responses = decode_responses(payload, p.max_responses)
        except CborDecodeError as exc:
            log.warning("nrf %s: device %s posted bad CBOR: %s", transport, device_id, exc)
            self.emit("bad_request", transport=transport, device=device_id, resource="response", error=str(exc))
            return Reply(Outcome.BAD_REQUEST, fault=fault)
        settlement = settle(self.store.pending(device_id), responses)
        self.store.apply(device_id, settlement, p.status_completed, p.status_failed, p.status_cancelled, now,
                         result_json)
        if settlement.unknown:
            log.info("nrf %s: device %s answered unknown ids %s", transport, device_id,
                     [r.corr_id for r in settlement.unknown])
        self.emit("responses", transport=transport, device=device_id, removed=settlement.removed,
                  failed=settlement.failed[0].corr_id if settlement.failed else None,
                  flushed=[q.corr_id for q in settlement.flushed],
                  unknown=[r.corr_id for r in settlement.unknown])
        return Reply(Outcome.OK, fault=fault)

    # --- emulated network time ---
    def network_time(self, device_id: str, now: float) -> float | None:
        """The network time (NITZ) a fake device would receive: `now`, skewed, or none at all."""
        found = self.take_fault("nitz", "network-time", device_id)
        if found is None:
            return now
        if found.action == "no_valid_datetime":
            return None
        if found.action == "time_skew":
            try:
                return now + float(found.params.get("seconds", 3600))
            except (TypeError, ValueError):
                return now + 3600.0
        return now
