"""One emulated SimpleLink device: the provisioning machine, the AP-mode API core, the SmartConfig decoder and
the stored profiles wired together. Synchronous; the asyncio servers in this package feed it.

Every machine effect becomes an event on the stream (``provisioning_status``, ``profile_added``,
``reset_request``, ``init_complete``, ``role_changed``, ``discovery``, and ``state_changed`` when the
provisioning phase moves); discovery effects are handed to the ``on_discovery`` callback the emulator installs.
Faults are taken here (and, for the AP API, through :class:`PlanApFaults`), each reported as ``fault_applied``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from emulators.clock import Clock
from emulators.simplelink.config import ROLES, START_MODES, SimpleLinkConfig, parse_access_point
from emulators.simplelink.store import ProfileStore
from protocols.faults import Delivery, Fault, FaultPlan, seconds_param
from protocols.simplelink import apapi, hostwire
from protocols.simplelink import smartconfig as sc
from protocols.simplelink.apserver import ApAnswer, ApIdentity, ApRequest, ApServer, feed
from protocols.simplelink.errors import SmartConfigDecodeError
from protocols.simplelink.notes import Note
from protocols.simplelink.profiles import ssid_text, store_profile
from protocols.simplelink.provisioning import (
    Command,
    Discovery,
    Effect,
    Ignored,
    InitCompleteEvent,
    JoinOutcome,
    Profile,
    ProfileAddedEvent,
    ProvisioningMachine,
    Rejected,
    ResetRequestEvent,
    RoleChanged,
    SmartConfigRestart,
    StartParams,
    StatusEvent,
    Timing,
)
from protocols.simplelink.smartconfig_decoder import MessageDecoded, SmartConfigDecoder, TransmissionDetected
from protocols.simplelink.wifi import WifiEnvironment

FAULT_ACTIONS = {
    "drop_datagram": "SmartConfig: drop matching datagrams (match: length, source; params.probability 0..1)",
    "join_outcome": "confirmation: force the join result (match: ssid; params.outcome: network_not_found | "
    "connection_failed | ip_not_acquired | connected)",
    "ignore_result_read": "answer the confirmation-result GET without counting it as feedback (match: path)",
    "http_status": "AP API: answer matching requests (match: method, path) with params.status / params.body",
    "http_delay": "AP API: delay matching requests (match: method, path) by params.seconds",
    "start_abort": "the next matching host start fails with ERROR_ABORT (status 6, -2173) (match: cmd)",
    "general_error": "emit GENERAL_ERROR (status 0) at the next tick while provisioning",
}

Take = Callable[..., Fault | None]


def _command_body(cmd: int, role: int, timeout: int, key: bytes | None, flags: int) -> str | None:
    """The command as the host driver would put it on the wire (None when the key cannot be encoded)."""
    if key is not None and len(key) != hostwire.KEY_LEN:
        return None
    command = hostwire.ProvisioningCommand(cmd & 0xFF, role & 0xFF, timeout & 0xFFFF, key, flags & 0xFFFFFFFF)
    return command.encode().hex()


class PlanApFaults:
    """The AP core's fault decisions (:class:`protocols.simplelink.apserver.ApFaults`) from the fault plan."""

    def __init__(self, take: Take) -> None:
        self._take = take

    def forced_answer(self, method: str, path: str) -> tuple[int, str] | None:
        fault = self._take("http_status", method=method, path=path)
        if fault is None:
            return None
        return int(fault.params.get("status", 500)), str(fault.params.get("body", ""))

    def delay(self, method: str, path: str) -> float:
        fault = self._take("http_delay", method=method, path=path)
        return seconds_param(fault.params) if fault is not None else 0.0

    def result_read_ignored(self, path: str) -> bool:
        return self._take("ignore_result_read", path=path) is not None


class SimpleLinkDevice:
    def __init__(
        self,
        config: SimpleLinkConfig,
        clock: Clock,
        store: ProfileStore,
        faults: FaultPlan,
        emit: Callable[..., None],
        log: logging.Logger,
        device_ip: str,
        rng: random.Random,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.faults = faults
        self.emit = emit
        self.log = log
        self.env = WifiEnvironment(
            [parse_access_point(a, "simplelink access_points") for a in config.access_points], config.accept_any_ssid
        )
        self.machine = ProvisioningMachine(
            join=self._join,
            role=ROLES[config.role],
            http_server_enabled=config.http_server,
            auto_provisioning=config.auto_provisioning,
            timing=Timing(
                connect=config.connect_delay,
                ip=config.ip_delay,
                feedback=config.feedback_timeout,
                smartconfig_sync=config.smartconfig_sync_timeout,
            ),
        )
        self.identity = ApIdentity(config.version, config.appname, config.device_name, config.mac, device_ip)
        self.ap = ApServer(self.identity, self.env, store, self.machine, PlanApFaults(self._take))
        self.decoder = SmartConfigDecoder(
            min_votes=config.smartconfig_min_votes, accept_legacy=config.smartconfig_legacy
        )
        self.on_discovery: Callable[[bool], None] = lambda active: None
        self._rng = rng
        self._phase = self.machine.phase

    # --- identity --------------------------------------------------------------------------------------

    @property
    def device_name(self) -> str:
        return self.ap.device_name

    @property
    def ap_ssid(self) -> str:
        return self.identity.ap_ssid

    @property
    def device_ip(self) -> str:
        return self.identity.device_ip

    def now(self) -> float:
        return self.clock.now()

    # --- faults and notes ------------------------------------------------------------------------------

    def _take(self, action: str, **where: object) -> Fault | None:
        fault = self.faults.take(actions=(action,), **where)
        if fault is not None:
            self.emit("fault_applied", fault=fault.id, action=action, **where)
        return fault

    def note(self, note: Note) -> None:
        if note.warning:
            self.log.warning("%s", note.warning)
        self.emit(note.kind, **note.data)

    # --- effects ---------------------------------------------------------------------------------------

    def apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, StatusEvent):
                self.emit(
                    "provisioning_status",
                    event_id=hostwire.WLAN_EVENT_PROVISIONING_STATUS,
                    opcode=f"0x{hostwire.OPCODE_PROVISIONING_STATUS:04X}",
                    status=int(effect.status),
                    name=effect.status.name,
                    role=int(effect.role),
                    wlan_status=int(effect.wlan_status),
                    ssid=ssid_text(effect.ssid),
                    wire=effect.encode().hex(),
                )
            elif isinstance(effect, ProfileAddedEvent):
                self.emit(
                    "profile_added",
                    event_id=hostwire.WLAN_EVENT_PROVISIONING_PROFILE_ADDED,
                    opcode=f"0x{hostwire.OPCODE_PROFILE_ADDED:04X}",
                    status=effect.status,
                    ssid=ssid_text(effect.ssid),
                    ssid_len=len(effect.ssid),
                    reserved=effect.reserved.hex(),
                    wire=effect.encode().hex(),
                )
            elif isinstance(effect, ResetRequestEvent):
                self.emit(
                    "reset_request",
                    event_id=hostwire.DEVICE_EVENT_RESET_REQUEST,
                    opcode=f"0x{hostwire.OPCODE_RESET_REQUEST:04X}",
                    status=effect.status,
                    caller=int(effect.caller),
                    caller_name=effect.caller.name,
                    wire=effect.encode().hex(),
                )
            elif isinstance(effect, InitCompleteEvent):
                self.emit("init_complete", role=int(effect.role))
            elif isinstance(effect, RoleChanged):
                self.emit("role_changed", role=int(effect.role))
            elif isinstance(effect, Discovery):
                self.emit("discovery", active=effect.active, ip=self.device_ip, name=self.device_name)
                self.on_discovery(effect.active)
            elif isinstance(effect, SmartConfigRestart):
                self.decoder.reset()
            elif isinstance(effect, Ignored):
                self.log.info("input %s ignored in phase %s", effect.input.value, effect.phase.value)
                self.emit("input_ignored", phase=effect.phase.value, input=effect.input.value)
            elif isinstance(effect, Rejected):
                pass  # reported with the host command's return code
        if self.machine.phase is not self._phase:
            previous, self._phase = self._phase, self.machine.phase
            self.emit("state_changed", device=self.ap_ssid, state=self._phase.value, previous=previous.value)

    def boot(self) -> None:
        """Power on: init complete, auto-provisioning armed, and the configured host start (if any)."""
        self.apply(self.machine.boot(self.now(), self.store.profiles()))
        if self.config.start in START_MODES:
            self.host_provisioning(
                START_MODES[self.config.start],
                ROLES[self.config.requested_role],
                self.config.inactivity_timeout,
                self.config.key_bytes,
                1 if self.config.external_confirmation else 0,
            )

    def tick(self) -> None:
        if self.machine.active and self._take("general_error") is not None:
            self.apply(self.machine.general_error(self.now()))
        self.apply(self.machine.tick(self.now()))

    def state(self) -> dict[str, Any]:
        m = self.machine
        return {
            "phase": m.phase.value,
            "mode": m.mode.name if m.mode is not None else None,
            "role": int(m.role),
            "wlan_status": int(m.wlan_status),
            "api_allowed": m.api_allowed,
            "status_bits": m.status_bits,
            "confirmation_result": m.result,
            "smartconfig_listening": m.smartconfig_listening,
            "smartconfig_key_set": bool(m.key),
            "candidate": ssid_text(m.candidate.ssid) if m.candidate else None,
            "confirmed": ssid_text(m.confirmed.ssid) if m.confirmed else None,
            "device_name": self.device_name,
            "ap_ssid": self.ap_ssid,
            "device_ip": self.device_ip,
            "deadlines": {k.value: v for k, v in m.deadlines.items()},
            "smartconfig": vars(self.decoder.stats).copy(),
        }

    # --- the simulated radio ---------------------------------------------------------------------------

    def _join(self, profile: Profile) -> JoinOutcome:
        fault = self._take("join_outcome", ssid=ssid_text(profile.ssid))
        if fault is not None:
            try:
                return JoinOutcome[str(fault.params.get("outcome", "connected")).upper()]
            except KeyError:
                self.log.warning("fault %s has an unknown outcome %r", fault.id, fault.params.get("outcome"))
        outcome = self.env.join(profile)
        self.emit("join", ssid=ssid_text(profile.ssid), outcome=outcome.name)
        return outcome

    # --- host API --------------------------------------------------------------------------------------

    def host_provisioning(self, cmd: int, role: int, timeout: int, key: bytes | None, flags: int) -> int:
        now = self.now()
        params = StartParams(cmd, role, timeout, key, flags)
        if cmd in (0, 1, 2, 3) and self._take("start_abort", cmd=cmd) is not None:
            code, effects = self.machine.abort(now)
        else:
            code, effects = self.machine.command(now, params, self.store.count())
        self.emit(
            "host_command",
            api="sl_WlanProvisioning",
            opcode=f"0x{hostwire.OPCODE_PROVISIONING_COMMAND:04X}",
            body=_command_body(cmd, role, timeout, key, flags),
            cmd=cmd,
            cmd_name=Command(cmd).name if cmd in Command._value2member_map_ else str(cmd),
            role=role,
            timeout=timeout,
            key_set=key is not None,
            flags=flags,
            return_code=int(code),
        )
        self.apply(effects)
        return int(code)

    def host_restart(self) -> None:
        self.emit("host_command", api="sl_Stop+sl_Start")
        self.apply(self.machine.host_restart(self.now(), self.store.profiles()))

    def host_api(self, name: str) -> int:
        code = self.machine.host_api(name)
        self.emit("host_command", api=name, return_code=int(code))
        return int(code)

    def host_async_event(self, kind: str) -> bool:
        delivered = self.machine.delivers_async_event(kind)
        self.emit("async_event", event=kind, delivered=delivered)
        return delivered

    # --- SmartConfig -----------------------------------------------------------------------------------

    def datagram(self, length: int, source: str) -> None:
        fault = self.faults.take(actions=("drop_datagram",), length=length, source=source)
        if fault is not None and self._rng.random() < float(fault.params.get("probability", 1.0)):
            self.emit("fault_applied", fault=fault.id, action=fault.action, length=length, source=source)
            return
        if not self.machine.smartconfig_listening:
            return
        ignored = self.decoder.stats.ignored
        self.decoder.receive_length(length)
        if self.decoder.stats.ignored != ignored:
            self.log.debug("SmartConfig: datagram of %d bytes from %s carries no symbol here; ignored", length, source)
        while (event := self.decoder.next_event()) is not None:
            if isinstance(event, TransmissionDetected):
                self.emit("smartconfig_detected", source=source)
                self.apply(self.machine.smartconfig_detected(self.now()))
            elif isinstance(event, MessageDecoded):
                self._smartconfig_message(event.message)

    def _smartconfig_message(self, message: sc.SmartConfigMessage) -> None:
        stats = vars(self.decoder.stats).copy()
        try:
            received = sc.open_message(message, self.machine.key or self.config.key_bytes)
        except SmartConfigDecodeError as exc:
            self.log.warning("SmartConfig message rejected: %s", exc)
            self.emit("smartconfig_rejected", reason=str(exc), stats=stats)
            return
        self.emit(
            "smartconfig_message",
            ssid=ssid_text(received.ssid),
            encrypted_marker=message.encrypted_marker,
            device_name=ssid_text(received.device_name) if received.device_name is not None else None,
            stats=stats,
        )
        if received.device_name:
            self.store.set_setting("urn", ssid_text(received.device_name[: apapi.MAX_URN]))
        security = self.env.security_of(received.ssid, received.password)
        profile = Profile(received.ssid, int(security), received.password, 0)
        rejected = store_profile(self.store, profile, "smartconfig", self.now())
        if rejected is not None:
            self.note(rejected)
            return
        self.apply(self.machine.smartconfig_profile(self.now(), profile))

    # --- AP-mode HTTP API ------------------------------------------------------------------------------

    def http(self, request: ApRequest) -> tuple[ApAnswer, Delivery]:
        """Answer one request to the device's HTTP server: the AP core decides, the machine follows."""
        now = self.now()
        exchange = self.ap.handle(request, now)
        for output in exchange.outputs:
            if isinstance(output, Note):
                self.note(output)
            else:
                self.apply(feed(self.machine, now, output))
        return exchange.answer, Delivery(delay=exchange.answer.delay)
