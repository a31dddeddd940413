"""One emulated node at runtime: the sans-I/O ``ProvisioningDevice`` plus what only a driver can give it
(clock, randomness, faults, events, SQLite persistence, the node's signing key). Transports (SoftAP, BLE)
call ``serve`` and apply the ``Delivery`` it returns; everything a node does is emitted on the event log."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulators.clock import Clock
from emulators.esp.config import NodeSettings
from emulators.esp.store import EspStore
from protocols.esp.device import ProvisioningDevice
from protocols.esp.errors import CredentialsMismatch, RemoteError
from protocols.esp.provisioning import Reply
from protocols.esp.rainmaker import MappingRecord, qr_payload
from protocols.esp.security import Rng
from protocols.esp.wifi import AccessPoint, DisconnectReason, Outcome, ProvState, WifiEnvironment
from protocols.faults import TRANSPORT_ACTIONS, Delivery, FaultPlan, seconds_param

FAULT_ACTIONS = {
    "drop": "close the connection (BLE: fail the write) without a reply; match node, transport, endpoint",
    "delay": "delay the reply by params.seconds; match node, transport, endpoint",
    "never_answer": "keep the request unanswered (the client times out); match node, transport, endpoint",
    "wifi_fail": "make a connection attempt fail with params.reason (auth_fail, 4way_handshake_timeout, "
    "handshake_timeout, mic_failure, no_ap_found, beacon_timeout); match node, ssid",
    "softap_drop_after_apply": "after a successful ApplyConfig the SoftAP drops every connection for "
    "params.seconds (default 5), like the channel switch phones suffer; match node",
}


class EmulatedNode:
    def __init__(
        self,
        settings: NodeSettings,
        env: WifiEnvironment,
        clock: Clock,
        faults: FaultPlan,
        store: EspStore,
        emit: Callable[..., None],
        log: logging.Logger,
        rng: Rng,
    ) -> None:
        self.settings = settings
        self.spec = settings.spec
        self.name = settings.spec.name
        self.env = env
        self.clock = clock
        self.faults = faults
        self.store = store
        self._emit = emit
        self.log = log
        self.rng = rng
        self.key = store.node_key(self.name, rng)
        self.certificate_pem: str | None = None
        self.lock = asyncio.Lock()
        self.softap_blocked_until = 0.0
        self.device = ProvisioningDevice(
            self.spec, env, self._resolve, sign=self._sign, on_mapping=self._on_mapping, rng=rng
        )
        if self.device.rainmaker is not None:
            self.device.rainmaker.chal_resp_disabled = store.chal_resp_disabled(self.name)
            self.device.rainmaker.on_disable = self._on_chal_resp_disabled
        self.provisioned = store.credentials(self.name) is not None
        self.inactive_since: float | None = None
        if self.provisioned:
            self.device.active = False

    def emit(self, kind: str, **data: Any) -> None:
        self._emit(kind, node=self.name, **data)

    @property
    def public_key_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def _sign(self, challenge: bytes) -> bytes:
        # RFC 6979 nonces: a signature is a function of key and challenge, so a seeded run replays exactly
        return self.key.sign(challenge, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))

    def _on_mapping(self, record: MappingRecord) -> None:
        self.store.save_mapping(self.name, self.spec.node_id, record.user_id, record.secret_key)
        self.emit("rainmaker_user_mapping", node_id=self.spec.node_id, user_id=record.user_id)

    def _on_chal_resp_disabled(self) -> None:
        self.store.disable_chal_resp(self.name)
        self.emit("rainmaker_chal_resp_disabled", node_id=self.spec.node_id)

    def _resolve(self, ssid: bytes, passphrase: bytes) -> Outcome:
        fault = self.faults.take(actions=("wifi_fail",), node=self.name, ssid=ssid.decode("utf-8", "replace"))
        if fault is not None:
            reason = str(fault.params.get("reason", "auth_fail"))
            self.emit("fault_applied", fault=fault.id, action=fault.action, ssid=ssid.decode("utf-8", "replace"))
            try:
                return DisconnectReason(reason)
            except ValueError:
                self.log.warning("wifi_fail fault %s has unknown reason %r; using auth_fail", fault.id, reason)
                return DisconnectReason.AUTH_FAIL
        outcome = self.env.attempt(ssid, passphrase)
        if isinstance(outcome, AccessPoint):
            return replace(outcome, ip4_addr=str(ipaddress.IPv4Address(outcome.ip4_addr) + self.settings.index))
        return outcome

    def tick(self) -> None:
        """Run the node's scheduled Wi-Fi steps and lifecycle up to now, emitting and persisting changes."""
        prov_before = self.device.wifi.station.prov_state
        now = self.clock.monotonic()
        for change in self.device.advance(now):
            self.emit(change.kind, **change.data)
        self._persist(prov_before)
        if self.device.active:
            self.inactive_since = None
        elif self.inactive_since is None:
            self.inactive_since = now

    def due_for_auto_reset(self, after: float) -> bool:
        """Out of provisioning mode for ``after`` seconds (``after`` 0 never is)."""
        return after > 0 and self.inactive_since is not None and self.clock.monotonic() - self.inactive_since >= after

    def _persist(self, prov_before: ProvState) -> None:
        """Report a provisioning-state change and mirror it in the device's NVS: ApplyConfig stores the STA config,
        a reset back to STARTED clears it."""
        station = self.device.wifi.station
        after = station.prov_state
        if after is prov_before:
            return
        self.emit("state_changed", state=after.value, previous=prov_before.value)
        if after is ProvState.STARTED:
            self.store.clear_credentials(self.name)
            self.provisioned = False
            return
        creds = station.applied
        if creds is not None and after in (ProvState.CRED_RECV, ProvState.SUCCESS):
            ap = self.device.connected_ap
            self.store.save_credentials(self.name, creds.ssid, creds.passphrase, ap.ip4_addr if ap else "")
            self.provisioned = True

    def new_session(self, session_id: int, transport: str) -> None:
        self.device.protocomm.new_transport_session(session_id)
        self.emit("session_opened", transport=transport, session=session_id)

    def close_session(self, session_id: int, transport: str) -> None:
        if self.device.protocomm.session_id == session_id:
            self.device.protocomm.close_transport_session(session_id)
            self.emit("session_closed", transport=transport, session=session_id)

    def serve(self, session_id: int, endpoint: str, body: bytes, transport: str) -> tuple[bytes, Delivery]:
        """Answer one request (caller holds ``lock``) and say how the transport delivers the answer: a transport
        fault (drop, delay, never_answer) applies first, then a blocking scan waits until its results are in.
        ``RemoteError`` means transport failure."""
        fault = self.faults.take(actions=TRANSPORT_ACTIONS, node=self.name, transport=transport, endpoint=endpoint)
        delivery = Delivery.of(fault)
        if fault is not None:
            self.emit("fault_applied", fault=fault.id, action=fault.action, transport=transport, endpoint=endpoint)
        if not delivery.answers:
            return b"", delivery
        reply = self._handle(session_id, endpoint, body, transport)
        if reply.not_before is None:
            return reply.data, delivery
        wait = max(0.0, reply.not_before - self.clock.monotonic())
        return reply.data, replace(delivery, delay=delivery.delay + wait)

    def _handle(self, session_id: int, endpoint: str, body: bytes, transport: str) -> Reply:
        self.tick()
        now = self.clock.monotonic()
        prov_before = self.device.wifi.station.prov_state
        try:
            reply = self.device.handle(session_id, endpoint, body, now)
        except CredentialsMismatch as exc:
            self.log.info("%s: %s over %s", self.name, exc, transport)
            self.emit("credentials_mismatch", transport=transport, endpoint=endpoint, reason=str(exc))
            if not self.device.active:
                self.emit("stopped", what="provisioning", reason="too many credential mismatches")
            raise
        except RemoteError as exc:
            self.log.info("%s: transport failure on %s over %s: %s", self.name, endpoint, transport, exc)
            self.emit("bad_request", transport=transport, endpoint=endpoint, reason=str(exc))
            raise
        self.emit("request", transport=transport, endpoint=endpoint, request_len=len(body), reply_len=len(reply.data))
        if prov_before is ProvState.STARTED and self.device.wifi.station.prov_state is not ProvState.STARTED:
            self._after_apply(now)
        self._persist(prov_before)
        return reply

    def _after_apply(self, now: float) -> None:
        fault = self.faults.take(actions=("softap_drop_after_apply",), node=self.name)
        if fault is not None:
            seconds = seconds_param(fault.params, default=5.0)
            self.softap_blocked_until = now + seconds
            self.emit("fault_applied", fault=fault.id, action=fault.action, seconds=seconds)

    def factory_reset(self) -> None:
        self.store.factory_reset(self.name)
        self.provisioned = False
        self.softap_blocked_until = 0.0
        self.device.restart_provisioning()
        if self.device.rainmaker is not None:
            self.device.rainmaker.mapping = None
            self.device.rainmaker.chal_resp_disabled = False
        self.emit("factory_reset")

    def describe(self) -> dict[str, Any]:
        self.tick()
        station = self.device.wifi.station
        status = station.status()
        rm = self.device.rainmaker
        mapping = self.store.mapping(self.name)
        creds = self.store.credentials(self.name)
        transport = "ble" if self.settings.ble else "softap"
        return {
            "name": self.name,
            "mac": self.settings.mac.hex(":"),
            "security": self.spec.security,
            "sec_patch_ver": self.spec.sec_patch_ver if self.spec.security == 2 else 0,
            "flavour": self.spec.flavour,
            "pop": self.spec.pop if self.spec.security == 1 else self.spec.sec2_password,
            "username": self.spec.sec2_username if self.spec.security == 2 else None,
            "provisioning_active": self.device.active,
            "provisioned": self.provisioned,
            "stored_ssid": bytes(creds["ssid"]).decode("utf-8", "replace") if creds else None,
            "prov_state": station.prov_state.value,
            "sta_state": status.sta_state.name,
            "fail_reason": status.fail_reason.name,
            "attempts_remaining": status.attempts_remaining,
            "ip4_addr": status.connected.ip4_addr if status.connected else None,
            "session": self.device.protocomm.session_id,
            "session_established": bool(self.device.protocomm.session and self.device.protocomm.session.established),
            "credential_mismatches": self.device.pop_mismatches,
            "endpoints": [{"name": e.name, "uuid16": f"{e.uuid16:04x}"} for e in self.device.protocomm.ordered()],
            "qr": qr_payload(
                self.name,
                self.spec.pop if self.spec.security == 1 else self.spec.sec2_password,
                transport,
                self.spec.security,
                self.spec.sec2_username,
            ),
            "rainmaker": None
            if rm is None
            else {
                "mode": self.spec.rainmaker,
                "node_id": rm.node_id,
                "public_key_pem": self.public_key_pem,
                "certificate_pem": self.certificate_pem,
                "challenges_answered": rm.challenges_answered,
                "chal_resp_disabled": rm.chal_resp_disabled,
                "mapping": None
                if mapping is None
                else {"user_id": mapping["user_id"], "secret_key": mapping["secret_key"]},
            },
        }
