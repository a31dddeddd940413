"""One emulated SimpleLink device: the provisioning machine, the SmartConfig decoder, the AP-mode HTTP API and
the stored profiles wired together. Synchronous; the asyncio servers in this package feed it.

Every machine effect becomes an event on the stream (``provisioning_status``, ``profile_added``,
``reset_request``, ``init_complete``, ``role_changed``, ``discovery``); discovery effects are handed to the
``on_discovery`` callback the emulator installs.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.clock import Clock
from emulators.faults import FaultPlan
from emulators.simplelink.config import ROLES, START_MODES, SimpleLinkConfig, parse_access_point
from emulators.simplelink.store import ProfileStore
from protocols.simplelink import apapi, hostwire
from protocols.simplelink import smartconfig as sc
from protocols.simplelink.errors import FormError, SmartConfigDecodeError
from protocols.simplelink.provisioning import (
    MAX_PROFILES,
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
    Role,
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
ROLE_NAMES = {Role.STA: "Station", Role.AP: "Access Point", Role.P2P: "P2P"}
NWP_VERSION = "3.7.0.1"


@dataclass
class HttpAnswer:
    status: int
    body: str = ""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def _command_body(cmd: int, role: int, timeout: int, key: bytes | None, flags: int) -> str | None:
    """The command as the host driver would put it on the wire (None when the key cannot be encoded)."""
    if key is not None and len(key) != hostwire.KEY_LEN:
        return None
    command = hostwire.ProvisioningCommand(cmd & 0xFF, role & 0xFF, timeout & 0xFFFF, key, flags & 0xFFFFFFFF)
    return command.encode().hex()


def _ssid(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


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
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.faults = faults
        self.emit = emit
        self.log = log
        self.device_ip = device_ip
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
        self.decoder = SmartConfigDecoder(
            min_votes=config.smartconfig_min_votes, accept_legacy=config.smartconfig_legacy
        )
        self.tokens = apapi.TokenMemory()
        self.on_discovery: Callable[[bool], None] = lambda active: None
        self._rng = random.Random()
        self._smartconfig_name: bytes | None = None

    # --- identity --------------------------------------------------------------------------------------

    @property
    def device_name(self) -> str:
        return self.store.setting("urn", self.config.device_name)

    @property
    def ap_ssid(self) -> str:
        return "mysimplelink-" + self.config.mac.replace(":", "")[-6:].upper()

    def now(self) -> float:
        return self.clock.now()

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
                    ssid=_ssid(effect.ssid),
                    wire=effect.encode().hex(),
                )
            elif isinstance(effect, ProfileAddedEvent):
                self.emit(
                    "profile_added",
                    event_id=hostwire.WLAN_EVENT_PROVISIONING_PROFILE_ADDED,
                    opcode=f"0x{hostwire.OPCODE_PROFILE_ADDED:04X}",
                    status=effect.status,
                    ssid=_ssid(effect.ssid),
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
        if self.machine.active and self.faults.take(actions=("general_error",)) is not None:
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
            "candidate": _ssid(m.candidate.ssid) if m.candidate else None,
            "confirmed": _ssid(m.confirmed.ssid) if m.confirmed else None,
            "device_name": self.device_name,
            "ap_ssid": self.ap_ssid,
            "device_ip": self.device_ip,
            "deadlines": {k.value: v for k, v in m.deadlines.items()},
            "smartconfig": vars(self.decoder.stats).copy(),
        }

    # --- the simulated radio ---------------------------------------------------------------------------

    def _join(self, profile: Profile) -> JoinOutcome:
        fault = self.faults.take(actions=("join_outcome",), ssid=_ssid(profile.ssid))
        if fault is not None:
            try:
                return JoinOutcome[str(fault.params.get("outcome", "connected")).upper()]
            except KeyError:
                self.log.warning("fault %s has an unknown outcome %r", fault.id, fault.params.get("outcome"))
        outcome = self.env.join(profile)
        self.emit("join", ssid=_ssid(profile.ssid), outcome=outcome.name)
        return outcome

    # --- host API --------------------------------------------------------------------------------------

    def host_provisioning(self, cmd: int, role: int, timeout: int, key: bytes | None, flags: int) -> int:
        now = self.now()
        params = StartParams(cmd, role, timeout, key, flags)
        if cmd in (0, 1, 2, 3) and self.faults.take(actions=("start_abort",), cmd=cmd) is not None:
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
            ssid=_ssid(received.ssid),
            encrypted_marker=message.encrypted_marker,
            device_name=_ssid(received.device_name) if received.device_name is not None else None,
            stats=stats,
        )
        if received.device_name:
            self.store.set_setting("urn", _ssid(received.device_name[: apapi.MAX_URN]))
        security = self.env.security_of(received.ssid, received.password)
        profile = Profile(received.ssid, int(security), received.password, 0)
        if not self._store(profile, "smartconfig"):
            return
        self.apply(self.machine.smartconfig_profile(self.now(), profile))

    def _store(self, profile: Profile, source: str) -> bool:
        if self.store.add(profile, source, self.now()):
            return True
        self.log.warning("profile table full (%d profiles); %r not stored", MAX_PROFILES, profile.ssid)
        self.emit("profile_rejected", ssid=_ssid(profile.ssid), reason="profile list full")
        return False

    # --- AP-mode HTTP API ------------------------------------------------------------------------------

    def http(self, method: str, path: str, body: bytes) -> HttpAnswer:
        """Answer one request to the device's HTTP server (as the NWP does, spec §3, §7)."""
        self.apply(self.machine.activity(self.now()))
        fault = self.faults.take(actions=("http_status",), method=method, path=path)
        if fault is not None:
            return HttpAnswer(int(fault.params.get("status", 500)), str(fault.params.get("body", "")))
        delay_fault = self.faults.take(actions=("http_delay",), method=method, path=path)
        delay = float(delay_fault.params.get("seconds", 1.0)) if delay_fault else 0.0
        target = apapi.route(method, path)
        if target is None:
            return HttpAnswer(404, "Not Found", delay=delay)
        endpoint, token = target
        try:
            answer = self._endpoint(method, endpoint, token, path, body)
        except FormError as exc:
            self.log.warning("%s %s rejected: %s", method, path, exc)
            self.emit("http_rejected", method=method, path=path, reason=str(exc))
            answer = HttpAnswer(400, f"Bad Request: {exc}")
        answer.delay = delay
        self.apply(self.machine.tick(self.now()))  # timers the request made due now (zero delays) fire at once
        return answer

    def _endpoint(self, method: str, endpoint: apapi.Endpoint, token: str, path: str, body: bytes) -> HttpAnswer:
        E = apapi.Endpoint
        if endpoint is E.VERSION:
            return HttpAnswer(200, self.config.version)
        if endpoint is E.DEVICE_NAME:
            return HttpAnswer(200, self.device_name)
        if endpoint is E.CFG_RESULT:
            return HttpAnswer(200, self._read_result(path, method))
        if endpoint is E.NETLIST:
            return HttpAnswer(200, apapi.render_netlist(self.env.access_points))
        if endpoint is E.APPNAME:
            return HttpAnswer(200, f"appname={self.config.appname}")
        if endpoint is E.TOKEN:
            return HttpAnswer(200, self._token(token, path, method))
        form = apapi.parse_form(body)
        if endpoint is E.PROFILE_ADD:
            # the server stores every posted token before the request is acted on (spec §3.3)
            self.tokens.commit(form)
            profile = apapi.parse_profile_add(self.tokens.values)
            self.emit(
                "http_profile_add",
                ssid=_ssid(profile.ssid),
                security=profile.security,
                priority=profile.priority,
            )
            if self._store(profile, "ap"):
                self.apply(self.machine.ap_profile(self.now(), profile))
            return HttpAnswer(204)
        if endpoint in (E.CONFIRM_REQ, E.LEGACY_ADVANCE):
            self.emit("http_confirm_req", path=path)
            self.apply(self.machine.confirm_request(self.now()))
            return HttpAnswer(204)
        if endpoint is E.SET_URN:
            self.tokens.commit(form)
            name = apapi.parse_urn(self.tokens.values)
            self.store.set_setting("urn", _ssid(name))
            self.emit("device_name_set", name=_ssid(name))
            return HttpAnswer(204)
        if endpoint is E.AP_SCAN:
            self.tokens.commit(form)
            interval, cycles = apapi.parse_scan(self.tokens.values)
            self.emit("scan", interval=interval, cycles=cycles, found=len(self.env.access_points))
            return HttpAnswer(204)
        if endpoint is E.POLICY_SET:
            flags = apapi.parse_policy(form)
            self.machine.auto_provisioning = flags["auto_provisioning"]
            self.emit("policy_set", **flags)
            return HttpAnswer(204)
        if endpoint is E.SET_TIME:
            self.tokens.commit(form)
            parts = apapi.parse_set_time(self.tokens.values)
            self.emit("time_set", time=list(parts))
            return HttpAnswer(204)
        if endpoint is E.IOT_UUID:
            uuid = form.get("uuid", b"")
            self.store.set_setting("iot_uuid", _ssid(uuid))
            self.emit("iot_uuid", uuid=_ssid(uuid))
            return HttpAnswer(200)
        self.tokens.commit(form)  # station_action, ap_aclist: accepted, nothing emulated behind them
        self.emit("http_post", endpoint=endpoint.value, params=sorted(form))
        return HttpAnswer(204)

    def _read_result(self, path: str, method: str) -> str:
        # only a GET delivers the result to the app; HEAD (no body) is not feedback
        if method != "GET" or self.faults.take(actions=("ignore_result_read",), path=path) is not None:
            value = self.machine.result
        else:
            value, effects = self.machine.result_read(self.now())
            self.apply(effects)
        self.emit("result_read", path=path, value=value)
        return str(value)

    def _token(self, token: str, path: str, method: str) -> str:
        name = self.device_name
        values = {
            "__SL_G_DNP": lambda: apapi.device_name_token(name, self.config.device_name, self.config.mac),
            "__SL_G_DEN": lambda: name,
            "__SL_G_S.B": lambda: name,
            "__SL_G_PIP": lambda: self.device_ip,
            "__SL_G_REV": lambda: self.config.version,
            "__SL_G_V.A": lambda: NWP_VERSION,
            "__SL_G_S.D": lambda: ROLE_NAMES.get(Role(self.machine.role), "Station"),
            "__SL_G_S.C": lambda: apapi.DEVICE_HOST,
        }
        if token == "__SL_G_MCR":
            return self._read_result(path, method)
        getter = values.get(token)
        return getter() if getter else apapi.UNKNOWN_TOKEN
