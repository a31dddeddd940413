"""The device-facing provisioning service, written once for every transport (HTTP, CoAP, CoAP/DTLS).

Owns authentication (JWT → claimed device), answering a command fetch, applying posted responses and the
scenario faults at each of those decision points. Transports map the transport-neutral `Reply` onto HTTP
statuses or CoAP codes. Bad input never changes stored state: a reply, a log line and an event.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulators.faults import Fault, FaultPlan
from emulators.nrf.config import NrfConfig
from emulators.nrf.store import Device, NrfStore
from protocols.nrf.codec import (
    DEFAULT_LIMIT,
    CborDecodeError,
    FinishedCommand,
    decode_responses,
    encode_commands,
)
from protocols.nrf.jwt import JwtError, parse_jwt, verify_jwt
from protocols.nrf.queue import select_batch, settle
from protocols.nrf.requests import result_json

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


@dataclass(frozen=True)
class Reply:
    """Transport-neutral outcome: ok | no_commands | bad_request | unauthorized | not_claimed | forced | drop."""

    outcome: str
    payload: bytes = b""
    http_status: int | None = None
    coap_code: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Authenticated:
    device_id: str
    expires: float | None


class DeviceService:
    def __init__(self, config: NrfConfig, store: NrfStore, faults: FaultPlan, now: Callable[[], float],
                 emit: Callable[..., None], log: logging.Logger) -> None:
        self.config = config
        self.store = store
        self.faults = faults
        self.now = now
        self.emit = emit
        self.log = log
        self._keys: dict[str, ec.EllipticCurvePublicKey | None] = {}
        self._devices: dict[str, Device | None] = {}
        self._verified: collections.OrderedDict[str, ec.EllipticCurvePublicKey] = collections.OrderedDict()

    # --- faults ---
    def take_fault(self, transport: str, resource: str, device: str, actions: frozenset[str] | None = None,
                   **extra: str) -> Fault | None:
        """The first fault that matches here *and* whose action applies to this decision point, consumed, so a
        fetch-only fault matched by transport alone is not spent on the preceding authentication."""
        attributes = {"transport": transport, "resource": resource, "device": device, **extra}
        applicable = APPLICABLE.get(resource, frozenset()) if actions is None else actions
        candidate = self.faults.take(actions=applicable, **attributes)
        if candidate is not None:
            self.emit("fault", action=candidate.action, fault=candidate.id, **attributes)
        return candidate

    async def fault(self, transport: str, resource: str, device: str) -> Fault | None:
        """Take the fault for this decision point; apply latency here, return the others."""
        found = self.take_fault(transport, resource, device)
        if found is not None and found.action == "delay":
            await asyncio.sleep(float(found.params.get("seconds", 1.0)))
            return None
        return found

    @staticmethod
    def fault_reply(fault: Fault) -> Reply | None:
        if fault.action == "status":
            try:
                http_status = int(fault.params.get("http", 500))
            except (TypeError, ValueError):
                http_status = 500
            return Reply("forced", http_status=http_status if 100 <= http_status <= 599 else 500,
                         coap_code=str(fault.params.get("coap", "5.03")))
        if fault.action == "drop":
            return Reply("drop", params=fault.params)
        if fault.action == "not_claimed":
            return Reply("not_claimed")
        if fault.action == "jwt_time_reject":
            return Reply("unauthorized")
        return None

    # --- authentication ---
    def _public_key(self, device_id: str, pem: str | None) -> ec.EllipticCurvePublicKey | None:
        if device_id not in self._keys:
            key = serialization.load_pem_public_key(pem.encode()) if pem else None
            self._keys[device_id] = key if isinstance(key, ec.EllipticCurvePublicKey) else None
        return self._keys[device_id]

    def forget(self, device_id: str) -> None:
        """Drop cached registry facts of a device after a claim or unclaim."""
        self._keys.pop(device_id, None)
        self._devices.pop(device_id, None)

    def is_claimed(self, device_id: str) -> bool:
        return self._device(device_id) is not None

    def _device(self, device_id: str) -> Device | None:
        if device_id not in self._devices:
            if len(self._devices) > 100_000:
                self._devices.clear()
            self._devices[device_id] = self.store.device(device_id)
        return self._devices[device_id]

    def token_device(self, token: str) -> str:
        """The device id a token names, or '' (for fault matching before verification)."""
        try:
            return parse_jwt(token).device_id
        except JwtError:
            return ""

    def authenticate(self, token: str, transport: str) -> Authenticated | Reply:
        try:
            parsed = parse_jwt(token)
            device_id = parsed.device_id
        except JwtError as exc:
            self.log.warning("nrf %s: rejected JWT: %s", transport, exc)
            self.emit("auth_rejected", transport=transport, reason=exc.reason)
            return Reply("unauthorized")
        device = self._device(device_id)
        if device is None:
            self.log.info("nrf %s: device %s is not claimed", transport, device_id)
            self.emit("auth_rejected", transport=transport, device=device_id, reason="not_claimed")
            return Reply("not_claimed")
        key = self._public_key(device_id, device.public_key) if self.config.verify_jwt_signature else None
        if key is not None and self._verified.get(token) is key:
            key = None  # this exact token already verified against this key (a CoAP run reuses its JWT)
        try:
            verify_jwt(token, key, self.now(), self.config.jwt_skew_seconds, self.config.require_jwt_exp)
        except JwtError as exc:
            self.log.warning("nrf %s: device %s JWT rejected: %s", transport, device_id, exc)
            self.emit("auth_rejected", transport=transport, device=device_id, reason=exc.reason)
            return Reply("unauthorized")
        if key is not None:
            self._verified[token] = key
            while len(self._verified) > 10_000:
                self._verified.popitem(last=False)
        exp = parsed.claims.get("exp")
        return Authenticated(device_id, float(exp) if isinstance(exp, int | float) else None)

    # --- fetch ---
    async def fetch(self, transport: str, device_hint: str, auth: Callable[[], Authenticated | Reply],
                    query: Mapping[str, str]) -> Reply:
        """Answer a command fetch: query check, scenario fault, authentication, then the batch."""
        try:
            after = query.get("after", "")
            rx_max = int(query.get("rxMaxSize", "1024"))
            tx_max = int(query.get("txMaxSize", "2048"))
            limit = int(query.get("limit", str(DEFAULT_LIMIT)))
            if not (1 <= limit <= 1000 and 64 <= rx_max <= 1 << 20 and 64 <= tx_max <= 1 << 20):
                raise ValueError("out of range")
        except ValueError:
            self.log.warning("nrf %s: device %s sent a bad query %s", transport, device_hint, dict(query))
            self.emit("bad_request", transport=transport, device=device_hint, resource="commands")
            return Reply("bad_request")
        fault = await self.fault(transport, "commands", device_hint)
        if fault is not None:
            special = self._fetch_fault(fault, limit, rx_max)
            if special is not None:
                return special
        who = auth()
        if isinstance(who, Reply):
            return who
        device_id = who.device_id
        pending = self.store.pending(device_id)
        allowance = 160 if transport == "http" else 0
        batch = select_batch(pending, after, limit, rx_max, tx_max, self.config.max_batch, allowance)
        if not batch:
            self.emit("commands", transport=transport, device=device_id, after=after, count=0)
            return Reply("no_commands")
        self.store.mark_delivered(batch, self.now())
        self.emit("commands", transport=transport, device=device_id, after=after, count=len(batch),
                  ids=[q.corr_id for q in batch])
        return Reply("ok", encode_commands([q.command for q in batch]))

    def _fetch_fault(self, fault: Fault, limit: int, rx_max: int) -> Reply | None:
        if fault.action == "too_many_commands":
            synthetic = [FinishedCommand(f"provemu-too-many.{i:x}") for i in range(limit + 1)]
            return Reply("ok", encode_commands(synthetic))
        if fault.action == "bad_cbor":
            return Reply("ok", bytes.fromhex(str(fault.params.get("hex", "80"))))
        if fault.action == "oversized":
            padding = "A" * rx_max
            return Reply("ok", cbor2.dumps([["provemu-oversized", 0, "%XPADDING", padding, []]]))
        return self.fault_reply(fault)

    # --- responses ---
    async def respond(self, transport: str, device_hint: str, auth: Callable[[], Authenticated | Reply],
                      payload: bytes) -> Reply:
        """Apply posted responses: scenario fault, authentication, strict decoding, queue settlement."""
        fault = await self.fault(transport, "response", device_hint)
        if fault is not None:
            reply = self.fault_reply(fault)
            if reply is not None:
                return reply
        who = auth()
        if isinstance(who, Reply):
            return who
        device_id = who.device_id
        try:
            responses = decode_responses(payload, self.config.max_responses)
        except CborDecodeError as exc:
            self.log.warning("nrf %s: device %s posted bad CBOR: %s", transport, device_id, exc)
            self.emit("bad_request", transport=transport, device=device_id, resource="response", error=str(exc))
            return Reply("bad_request")
        settlement = settle(self.store.pending(device_id), responses)
        c = self.config
        self.store.apply(device_id, settlement, c.status_completed, c.status_failed, c.status_cancelled,
                         self.now(), result_json)
        if settlement.unknown:
            self.log.info("nrf %s: device %s answered unknown ids %s", transport, device_id,
                          [r.corr_id for r in settlement.unknown])
        self.emit("responses", transport=transport, device=device_id, removed=settlement.removed,
                  failed=settlement.failed[0].corr_id if settlement.failed else None,
                  flushed=[q.corr_id for q in settlement.flushed],
                  unknown=[r.corr_id for r in settlement.unknown])
        return Reply("ok")

    # --- emulated network time ---
    def network_time(self, device_id: str) -> float | None:
        found = self.take_fault("nitz", "network-time", device_id)
        now = self.now()
        if found is None:
            return now
        if found.action == "no_valid_datetime":
            return None
        if found.action == "time_skew":
            return now + float(found.params.get("seconds", 3600))
        return now
