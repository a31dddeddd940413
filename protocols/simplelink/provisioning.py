"""The NWP provisioning state machine of ``sl_WlanProvisioning`` (SWRA513 §7, scenarios of chapter 8), sans I/O.

Inputs are host commands (start / stop / abort external confirmation / restart / any other API), what the
configuration channels deliver (a SmartConfig profile, an AP-mode profile, a confirm request, a read of the
confirmation result, user activity) and the passing of time (:meth:`ProvisioningMachine.tick` fires due timers).
Every input returns the effects the device produces, in order: host events (status 0-17, profile added, reset
request, init complete), role changes, and discovery on/off. Time is always passed in.

Invariants:
- ``TABLE`` lists every (phase, input) pair the machine accepts and the phases it may move to; any other pair is
  ignored (returned as :class:`Ignored`) and never changes state.
- Host APIs are blocked (-2014) in every provisioning phase except EXTERNAL_CONFIGURATION (after status 17) and
  EXTERNAL_CONFIRMATION (after status 16 with the external-confirmation flag).
- STOPPED (12) is emitted only after the role switch it reports; CONFIRMATION_STATUS_SUCCESS (5) only after the
  app read the result; the confirmation result resets to 0 whenever a profile is added.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from . import hostwire

MAX_PROFILES = 7
MIN_INACTIVITY_TIMEOUT = 30
AUTO_START_DELAY = 2.0
AUTO_START_DISCONNECTED = 120.0
FLAG_EXTERNAL_CONFIRMATION = 0x1
REMAIN_IN_CURRENT_ROLE = 0xFF


class Command(enum.IntEnum):
    START_MODE_AP = 0
    START_MODE_SC = 1
    START_MODE_APSC = 2
    START_MODE_APSC_EXTERNAL_CONFIGURATION = 3
    STOP = 4
    ABORT_EXTERNAL_CONFIRMATION = 5


class Role(enum.IntEnum):
    STA = 0
    AP = 2
    P2P = 3


class WlanStatus(enum.IntEnum):
    DISCONNECTED = 0
    SCANNING = 1
    CONNECTING = 2
    CONNECTED = 3


class Status(enum.IntEnum):
    GENERAL_ERROR = 0
    CONFIRMATION_STATUS_FAIL_NETWORK_NOT_FOUND = 1
    CONFIRMATION_STATUS_FAIL_CONNECTION_FAILED = 2
    CONFIRMATION_STATUS_CONNECTION_SUCCESS_IP_NOT_ACQUIRED = 3
    CONFIRMATION_STATUS_SUCCESS_FEEDBACK_FAILED = 4
    CONFIRMATION_STATUS_SUCCESS = 5
    ERROR_ABORT = 6
    ERROR_ABORT_INVALID_PARAM = 7
    ERROR_ABORT_HTTP_SERVER_DISABLED = 8
    ERROR_ABORT_PROFILE_LIST_FULL = 9
    ERROR_ABORT_PROVISIONING_ALREADY_STARTED = 10
    AUTO_STARTED = 11
    STOPPED = 12
    SMART_CONFIG_SYNCED = 13
    SMART_CONFIG_SYNC_TIMEOUT = 14
    CONFIRMATION_WLAN_CONNECT = 15
    CONFIRMATION_IP_ACQUIRED = 16
    EXTERNAL_CONFIGURATION_READY = 17


class ReturnCode(enum.IntEnum):
    OK = 0
    PROVISIONING_ALREADY_STARTED = -2169
    HTTP_SERVER_DISABLED = -2170
    PROFILE_LIST_FULL = -2171
    INVALID_PARAM = -2172
    GENERAL_ABORT = -2173
    COMMAND_NOT_EXPECTED = -2177
    PROVISIONING_IN_PROGRESS = -2014
    SCAN_DURING_PROVISIONING = -2052


class ResetCaller(enum.IntEnum):
    PROVISIONING = 0
    PROVISIONING_EXTERNAL_CONFIGURATION = 1


class JoinOutcome(enum.Enum):
    """What joining a profile's network gives in the (simulated) radio environment."""

    NETWORK_NOT_FOUND = Status.CONFIRMATION_STATUS_FAIL_NETWORK_NOT_FOUND
    CONNECTION_FAILED = Status.CONFIRMATION_STATUS_FAIL_CONNECTION_FAILED
    IP_NOT_ACQUIRED = Status.CONFIRMATION_STATUS_CONNECTION_SUCCESS_IP_NOT_ACQUIRED
    CONNECTED = Status.CONFIRMATION_IP_ACQUIRED


class Phase(enum.Enum):
    IDLE = "idle"
    CONFIGURATION = "configuration"
    EXTERNAL_CONFIGURATION = "external_configuration"
    RESET_PENDING = "reset_pending"
    CONNECTING = "connecting"
    ACQUIRING_IP = "acquiring_ip"
    FEEDBACK = "feedback"
    EXTERNAL_CONFIRMATION = "external_confirmation"


class Input(enum.Enum):
    START = "start"
    STOP = "stop"
    ABORT_EXTERNAL_CONFIRMATION = "abort_external_confirmation"
    HOST_RESTART = "host_restart"
    SC_PROFILE = "smartconfig_profile"
    AP_PROFILE = "ap_profile"
    CONFIRM_REQUEST = "confirm_request"
    RESULT_READ = "result_read"
    SC_DETECTED = "smartconfig_detected"
    ACTIVITY = "activity"
    GENERAL_ERROR = "general_error"
    AUTO_START_DUE = "auto_start_due"
    INACTIVITY_DUE = "inactivity_due"
    SC_SYNC_DUE = "smartconfig_sync_due"
    JOIN_DUE = "join_due"
    IP_DUE = "ip_due"
    FEEDBACK_DUE = "feedback_due"


P = Phase
_CONFIGURING = (P.CONFIGURATION, P.EXTERNAL_CONFIGURATION)
_ACTIVE = (*_CONFIGURING, P.RESET_PENDING, P.CONNECTING, P.ACQUIRING_IP, P.FEEDBACK, P.EXTERNAL_CONFIRMATION)
_BACK = (P.CONFIGURATION, P.EXTERNAL_CONFIGURATION)


def _rows(phases: tuple[Phase, ...], inp: Input, nxt: tuple[Phase, ...]) -> dict[tuple[Phase, Input], frozenset[Phase]]:
    return {(phase, inp): frozenset(nxt) for phase in phases}


# (phase, input) -> phases the input may lead to. The handler named after the input picks one.
TABLE: dict[tuple[Phase, Input], frozenset[Phase]] = {
    **_rows((P.IDLE,), Input.START, (P.IDLE, P.CONFIGURATION, P.EXTERNAL_CONFIGURATION)),
    **_rows(_ACTIVE, Input.START, _ACTIVE),  # already started: error 10, no change
    **_rows((P.IDLE,), Input.AUTO_START_DUE, (P.CONFIGURATION,)),
    **_rows(_ACTIVE, Input.STOP, (P.IDLE,)),
    **_rows((P.IDLE,), Input.STOP, (P.IDLE,)),
    **_rows((P.EXTERNAL_CONFIRMATION,), Input.ABORT_EXTERNAL_CONFIRMATION, _BACK),
    **_rows((P.IDLE, *_ACTIVE), Input.HOST_RESTART, (P.IDLE, P.CONNECTING)),
    **_rows(_CONFIGURING, Input.SC_PROFILE, (P.CONNECTING, P.RESET_PENDING)),
    **_rows(_CONFIGURING, Input.AP_PROFILE, _CONFIGURING),
    **_rows(_CONFIGURING, Input.CONFIRM_REQUEST, (*_CONFIGURING, P.CONNECTING, P.RESET_PENDING)),
    **_rows(_CONFIGURING, Input.RESULT_READ, (*_CONFIGURING, P.IDLE)),
    **_rows((P.FEEDBACK,), Input.RESULT_READ, (P.IDLE,)),
    **_rows(_CONFIGURING, Input.SC_DETECTED, _CONFIGURING),
    **_rows(_CONFIGURING, Input.ACTIVITY, _CONFIGURING),
    **_rows(_ACTIVE, Input.GENERAL_ERROR, _ACTIVE),
    **_rows(_CONFIGURING, Input.INACTIVITY_DUE, (P.IDLE,)),
    **_rows(_CONFIGURING, Input.SC_SYNC_DUE, _CONFIGURING),
    **_rows((P.CONNECTING,), Input.JOIN_DUE, (*_BACK, P.ACQUIRING_IP)),
    **_rows((P.ACQUIRING_IP,), Input.IP_DUE, (*_BACK, P.FEEDBACK, P.EXTERNAL_CONFIRMATION)),
    **_rows((P.FEEDBACK,), Input.FEEDBACK_DUE, _BACK),
}

_TIMERS = (
    Input.AUTO_START_DUE,
    Input.INACTIVITY_DUE,
    Input.SC_SYNC_DUE,
    Input.JOIN_DUE,
    Input.IP_DUE,
    Input.FEEDBACK_DUE,
)


@dataclass(frozen=True)
class Profile:
    """A WLAN profile as the device stores it (security is a host-API SL_WLAN_SEC_TYPE_* value)."""

    ssid: bytes
    security: int
    key: bytes
    priority: int = 0


@dataclass(frozen=True)
class StartParams:
    cmd: int
    role: int = Role.STA
    timeout: int = 600
    key: bytes | None = None
    flags: int = 0


# --- effects -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusEvent:
    status: Status
    role: int
    wlan_status: WlanStatus
    ssid: bytes

    def encode(self) -> bytes:
        return hostwire.encode_status_event(self.status, self.role, self.wlan_status, self.ssid)


@dataclass(frozen=True)
class ProfileAddedEvent:
    ssid: bytes
    status: int = 0
    reserved: bytes = b""

    def encode(self) -> bytes:
        return hostwire.encode_profile_added(self.status, self.ssid, self.reserved)


@dataclass(frozen=True)
class ResetRequestEvent:
    caller: ResetCaller
    status: int = 0

    def encode(self) -> bytes:
        return hostwire.encode_reset_request(self.status, self.caller)


@dataclass(frozen=True)
class InitCompleteEvent:
    role: int


@dataclass(frozen=True)
class RoleChanged:
    role: int


@dataclass(frozen=True)
class Discovery:
    """Start (or stop) advertising the device on the joined network (mDNS, UDP 1501)."""

    active: bool


@dataclass(frozen=True)
class SmartConfigRestart:
    """The SmartConfig receiver must forget partial messages."""


@dataclass(frozen=True)
class Ignored:
    """The input is not accepted in this phase; nothing changed."""

    phase: Phase
    input: Input


@dataclass(frozen=True)
class Rejected:
    """A start command that did not start provisioning (also reported with an error status event)."""

    code: ReturnCode


Effect = (
    StatusEvent
    | ProfileAddedEvent
    | ResetRequestEvent
    | InitCompleteEvent
    | RoleChanged
    | Discovery
    | SmartConfigRestart
    | Ignored
    | Rejected
)

JoinFunction = Callable[[Profile], JoinOutcome]


@dataclass
class Timing:
    """Simulated durations (seconds) of the confirmation steps and the emulator-chosen timeouts."""

    connect: float = 1.0
    ip: float = 0.5
    feedback: float = 30.0
    smartconfig_sync: float = 60.0
    auto_inactivity_timeout: int = 600


@dataclass
class ProvisioningMachine:
    """One device's provisioning process. ``join`` answers how joining a profile ends (the Wi-Fi environment)."""

    join: JoinFunction
    role: int = Role.STA
    http_server_enabled: bool = True
    auto_provisioning: bool = True
    timing: Timing = field(default_factory=Timing)
    phase: Phase = Phase.IDLE
    mode: Command | None = None
    result: int = 0
    key: bytes | None = None
    flags: int = 0
    user_initiated: bool = False
    candidate: Profile | None = None
    confirmed: Profile | None = None
    wlan_status: WlanStatus = WlanStatus.DISCONNECTED
    deadlines: dict[Input, float] = field(default_factory=dict)
    _pre_role: int = Role.STA
    _requested_role: int = Role.STA
    _timeout: int = 0
    _outcome: JoinOutcome | None = None
    _code: ReturnCode = ReturnCode.OK
    _stored: int = 0
    _effects: list[Effect] = field(default_factory=list)

    # --- queries ---------------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.phase is not Phase.IDLE

    @property
    def api_allowed(self) -> bool:
        return self.phase in (Phase.IDLE, Phase.EXTERNAL_CONFIGURATION, Phase.EXTERNAL_CONFIRMATION)

    @property
    def status_bits(self) -> int:
        """Device status bits carried in NWP responses: 0x08 provisioning, 0x10 user-initiated, 0x40 API on."""
        bits = 0x08 if self.active else 0
        bits |= 0x10 if self.active and self.user_initiated else 0
        return bits | (0x40 if self.api_allowed else 0)

    @property
    def smartconfig_listening(self) -> bool:
        return self.phase in _CONFIGURING and self.mode in (
            Command.START_MODE_SC,
            Command.START_MODE_APSC,
            Command.START_MODE_APSC_EXTERNAL_CONFIGURATION,
        )

    @property
    def ap_active(self) -> bool:
        return self.phase in _CONFIGURING and self.role == Role.AP

    def host_api(self, name: str) -> ReturnCode:
        """Return code of any host API other than sl_WlanProvisioning / sl_Stop (SWRA513 §7.5)."""
        if self.api_allowed:
            return ReturnCode.OK
        if name.startswith("sl_WlanSet") and "Scan" in name:
            return ReturnCode.SCAN_DURING_PROVISIONING
        return ReturnCode.PROVISIONING_IN_PROGRESS

    def delivers_async_event(self, kind: str) -> bool:
        """Whether a normal async event (e.g. ``ip_acquired``) reaches the host now."""
        always = {"provisioning_status", "profile_added", "reset_request", "init_complete", "netapp_request"}
        return self.api_allowed or kind in always

    # --- inputs ----------------------------------------------------------------------------------------

    def boot(self, now: float, stored_profiles: list[Profile], auto_connect: bool = True) -> list[Effect]:
        """Power-on (or sl_Start): arm auto-provisioning (SWRA513 §4.2)."""
        self._boot(now, stored_profiles, auto_connect)
        return self._drain()

    def _boot(self, now: float, stored_profiles: list[Profile], auto_connect: bool = True) -> None:
        self._effects.append(InitCompleteEvent(self.role))
        self.deadlines.pop(Input.AUTO_START_DUE, None)
        if not self.auto_provisioning:
            return
        if not stored_profiles:
            self.deadlines[Input.AUTO_START_DUE] = now + AUTO_START_DELAY
        elif self.role == Role.STA and auto_connect:
            best = max(stored_profiles, key=lambda p: p.priority)
            if self.join(best) is JoinOutcome.CONNECTED:
                self.wlan_status = WlanStatus.CONNECTED
            else:
                self.deadlines[Input.AUTO_START_DUE] = now + AUTO_START_DISCONNECTED

    def command(self, now: float, params: StartParams, stored_profiles: int = 0) -> tuple[ReturnCode, list[Effect]]:
        """``sl_WlanProvisioning``: returns the return code and the effects."""
        self.deadlines.pop(Input.AUTO_START_DUE, None)  # any host command cancels auto-provisioning
        self._code = ReturnCode.OK
        if params.cmd == Command.STOP:
            self._dispatch(Input.STOP, now, params)
        elif params.cmd == Command.ABORT_EXTERNAL_CONFIRMATION:
            self._dispatch(Input.ABORT_EXTERNAL_CONFIRMATION, now, params)
            if self._effects and isinstance(self._effects[-1], Ignored):
                self._code = ReturnCode.COMMAND_NOT_EXPECTED
        else:
            self._stored = stored_profiles
            self._dispatch(Input.START, now, params)
        return self._code, self._drain()

    def abort(self, now: float) -> tuple[ReturnCode, list[Effect]]:
        """A start that fails for an unknown reason (fault injection): status 6 / general abort."""
        self._status(Status.ERROR_ABORT)
        return ReturnCode.GENERAL_ABORT, self._drain()

    def host_restart(self, now: float, stored_profiles: list[Profile]) -> list[Effect]:
        """The host called sl_Stop then sl_Start."""
        self._dispatch(Input.HOST_RESTART, now, stored_profiles)
        return self._drain()

    def smartconfig_detected(self, now: float) -> list[Effect]:
        self._dispatch(Input.SC_DETECTED, now, None)
        return self._drain()

    def smartconfig_profile(self, now: float, profile: Profile) -> list[Effect]:
        self._dispatch(Input.SC_PROFILE, now, profile)
        return self._drain()

    def ap_profile(self, now: float, profile: Profile) -> list[Effect]:
        self._dispatch(Input.AP_PROFILE, now, profile)
        return self._drain()

    def confirm_request(self, now: float) -> list[Effect]:
        self._dispatch(Input.CONFIRM_REQUEST, now, None)
        return self._drain()

    def result_read(self, now: float) -> tuple[int, list[Effect]]:
        """The app GETs the confirmation result: returns the value served and the effects."""
        value = self.result
        self._dispatch(Input.RESULT_READ, now, None)
        return value, self._drain()

    def activity(self, now: float) -> list[Effect]:
        """User activity (an HTTP request): restarts the inactivity timer; meaningless outside configuration."""
        if (self.phase, Input.ACTIVITY) in TABLE:
            self._dispatch(Input.ACTIVITY, now, None)
        return self._drain()

    def general_error(self, now: float) -> list[Effect]:
        self._dispatch(Input.GENERAL_ERROR, now, None)
        return self._drain()

    def tick(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``, earliest first."""
        while True:
            due = [(t, i) for i, t in self.deadlines.items() if t <= now]
            if not due:
                return self._drain()
            at, timer = min(due, key=lambda d: (d[0], _TIMERS.index(d[1])))
            del self.deadlines[timer]
            self._dispatch(timer, at, None)  # chained timers count from when this one was due

    # --- dispatch ---------------------------------------------------------------------------------------

    def _drain(self) -> list[Effect]:
        out, self._effects = self._effects, []
        return out

    def _dispatch(self, inp: Input, now: float, arg: object) -> None:
        allowed = TABLE.get((self.phase, inp))
        if allowed is None:
            self._effects.append(Ignored(self.phase, inp))
            return
        before = self.phase
        getattr(self, "_on_" + inp.value)(now, arg)
        if self.phase not in allowed and self.phase is not before:
            raise AssertionError(
                f"{before} x {inp} moved to {self.phase}, table allows {sorted(p.value for p in allowed)}"
            )

    def _status(self, status: Status, ssid: bytes = b"") -> None:
        self._effects.append(StatusEvent(status, self.role, self.wlan_status, ssid))

    def _set_role(self, role: int) -> None:
        if role != self.role:
            self.role = role
            self._effects.append(RoleChanged(role))

    def _config_role(self) -> int:
        return Role.STA if self.mode == Command.START_MODE_SC else Role.AP

    def _arm_inactivity(self, now: float) -> None:
        if self._timeout:
            self.deadlines[Input.INACTIVITY_DUE] = now + self._timeout

    def _enter_configuration(self, now: float) -> None:
        self.wlan_status = WlanStatus.DISCONNECTED
        self._set_role(self._config_role())
        self.deadlines.pop(Input.SC_SYNC_DUE, None)
        self._arm_inactivity(now)
        self._effects.append(SmartConfigRestart())
        if self.mode == Command.START_MODE_APSC_EXTERNAL_CONFIGURATION:
            self.phase = Phase.EXTERNAL_CONFIGURATION
            self._status(Status.EXTERNAL_CONFIGURATION_READY)
        else:
            self.phase = Phase.CONFIGURATION

    def _finish(self, role: int, success: bool) -> None:
        if self.phase is Phase.FEEDBACK:
            self._effects.append(Discovery(False))
        self.deadlines = {k: v for k, v in self.deadlines.items() if k is Input.AUTO_START_DUE}
        if success:
            self.confirmed = self.candidate
        else:
            self.wlan_status = WlanStatus.DISCONNECTED
        self.phase = Phase.IDLE
        self._set_role(role)
        self._status(Status.STOPPED)  # after the role switch (SWRA513 §4.3)
        self.mode = None
        self.user_initiated = False

    def _start_confirmation(self, now: float) -> None:
        self.deadlines.pop(Input.INACTIVITY_DUE, None)
        self.deadlines.pop(Input.SC_SYNC_DUE, None)
        self.phase = Phase.CONNECTING
        self._set_role(Role.STA)
        self.wlan_status = WlanStatus.CONNECTING
        self.deadlines[Input.JOIN_DUE] = now + self.timing.connect

    def _confirmation_failed(self, now: float, status: Status) -> None:
        self.result = status.value
        ssid = self.candidate.ssid if self.candidate else b""
        self.wlan_status = WlanStatus.DISCONNECTED
        self._status(status, ssid)
        self._enter_configuration(now)

    # --- handlers (one per Input) -------------------------------------------------------------------

    def _on_start(self, now: float, arg: object) -> None:
        assert isinstance(arg, StartParams)
        failure = self._start_failure(arg)
        if failure is not None:
            status, self._code = failure
            self._status(status)
            self._effects.append(Rejected(self._code))
            return
        self.mode = Command(arg.cmd)
        self._pre_role = self.role
        self._requested_role = arg.role
        self._timeout = arg.timeout
        self.key = arg.key
        self.flags = arg.flags
        self.user_initiated = True
        self.candidate = None
        self.result = 0
        self._enter_configuration(now)

    def _start_failure(self, p: StartParams) -> tuple[Status, ReturnCode] | None:
        if self.phase is not Phase.IDLE:
            return Status.ERROR_ABORT_PROVISIONING_ALREADY_STARTED, ReturnCode.PROVISIONING_ALREADY_STARTED
        invalid = (
            p.cmd not in (0, 1, 2, 3)
            or p.role not in (Role.STA, Role.AP, Role.P2P)
            or (p.key is not None and len(p.key) != hostwire.KEY_LEN)
            or p.flags & ~FLAG_EXTERNAL_CONFIRMATION
            or 0 < p.timeout < MIN_INACTIVITY_TIMEOUT
            or not 0 <= p.timeout <= 0xFFFF
        )
        if invalid:
            return Status.ERROR_ABORT_INVALID_PARAM, ReturnCode.INVALID_PARAM
        if p.cmd != Command.START_MODE_SC and not self.http_server_enabled:
            return Status.ERROR_ABORT_HTTP_SERVER_DISABLED, ReturnCode.HTTP_SERVER_DISABLED
        if self._stored >= MAX_PROFILES:
            return Status.ERROR_ABORT_PROFILE_LIST_FULL, ReturnCode.PROFILE_LIST_FULL
        return None

    def _on_auto_start_due(self, now: float, arg: object) -> None:
        self.mode = Command.START_MODE_APSC if self.role == Role.AP else Command.START_MODE_SC
        self._pre_role = self.role
        self._requested_role = Role.STA
        self._timeout = self.timing.auto_inactivity_timeout
        self.key = None
        self.flags = 0
        self.user_initiated = False
        self.candidate = None
        self.result = 0
        self._status(Status.AUTO_STARTED)
        self._enter_configuration(now)

    def _on_stop(self, now: float, arg: object) -> None:
        assert isinstance(arg, StartParams)
        if self.phase is Phase.IDLE:
            self._code = ReturnCode.COMMAND_NOT_EXPECTED
            self._effects.append(Ignored(self.phase, Input.STOP))
            return
        role = self.role if arg.role == REMAIN_IN_CURRENT_ROLE else arg.role
        self._finish(role, success=self.phase is Phase.EXTERNAL_CONFIRMATION)

    def _on_abort_external_confirmation(self, now: float, arg: object) -> None:
        self._enter_configuration(now)

    def _on_host_restart(self, now: float, arg: object) -> None:
        if self.phase is Phase.RESET_PENDING:
            self._effects.append(InitCompleteEvent(self.role))
            self._start_confirmation(now)
            return
        if self.phase is not Phase.IDLE:
            # a reset ends provisioning; the device comes back in its pre-provisioning role, no STOPPED event
            if self.phase is Phase.FEEDBACK:
                self._effects.append(Discovery(False))
            self.deadlines.clear()
            self.phase = Phase.IDLE
            self.mode = None
            self.wlan_status = WlanStatus.DISCONNECTED
            self._set_role(self._pre_role)
        assert isinstance(arg, list)
        self._boot(now, arg)

    def _on_smartconfig_detected(self, now: float, arg: object) -> None:
        if self.smartconfig_listening:
            self.deadlines.setdefault(Input.SC_SYNC_DUE, now + self.timing.smartconfig_sync)
            self._arm_inactivity(now)

    def _on_smartconfig_profile(self, now: float, arg: object) -> None:
        assert isinstance(arg, Profile)
        if not self.smartconfig_listening:
            self._effects.append(Ignored(self.phase, Input.SC_PROFILE))
            return
        self.deadlines.pop(Input.SC_SYNC_DUE, None)
        self._status(Status.SMART_CONFIG_SYNCED)
        self._profile_added(arg)
        if self.phase is Phase.EXTERNAL_CONFIGURATION:
            self._request_reset()
        else:
            self._start_confirmation(now)

    def _profile_added(self, profile: Profile) -> None:
        self.candidate = profile
        self.result = 0
        self._effects.append(ProfileAddedEvent(profile.ssid))

    def _request_reset(self) -> None:
        self.deadlines.pop(Input.INACTIVITY_DUE, None)
        self.phase = Phase.RESET_PENDING
        self._effects.append(ResetRequestEvent(ResetCaller.PROVISIONING_EXTERNAL_CONFIGURATION))

    def _on_ap_profile(self, now: float, arg: object) -> None:
        assert isinstance(arg, Profile)
        if not self.ap_active:
            self._effects.append(Ignored(self.phase, Input.AP_PROFILE))
            return
        self._arm_inactivity(now)
        self._profile_added(arg)

    def _on_confirm_request(self, now: float, arg: object) -> None:
        if self.candidate is None:
            self._effects.append(Ignored(self.phase, Input.CONFIRM_REQUEST))
            return
        if self.phase is Phase.EXTERNAL_CONFIGURATION:
            self._request_reset()
        else:
            self._start_confirmation(now)

    def _on_result_read(self, now: float, arg: object) -> None:
        if self.phase is Phase.FEEDBACK or self.result == Status.CONFIRMATION_STATUS_SUCCESS_FEEDBACK_FAILED:
            # feedback delivered (late, through the device AP, in the second case): confirmation succeeded
            self.deadlines.pop(Input.FEEDBACK_DUE, None)
            self._status(Status.CONFIRMATION_STATUS_SUCCESS, self.candidate.ssid if self.candidate else b"")
            if self.phase is not Phase.FEEDBACK:
                self.wlan_status = WlanStatus.CONNECTED
            self._finish(self._requested_role, success=True)
        else:
            self._arm_inactivity(now)

    def _on_activity(self, now: float, arg: object) -> None:
        self._arm_inactivity(now)

    def _on_general_error(self, now: float, arg: object) -> None:
        self._status(Status.GENERAL_ERROR)

    def _on_inactivity_due(self, now: float, arg: object) -> None:
        self._finish(self._pre_role, success=False)

    def _on_smartconfig_sync_due(self, now: float, arg: object) -> None:
        self._status(Status.SMART_CONFIG_SYNC_TIMEOUT)
        self._effects.append(SmartConfigRestart())

    def _on_join_due(self, now: float, arg: object) -> None:
        assert self.candidate is not None
        self._outcome = self.join(self.candidate)
        if self._outcome in (JoinOutcome.NETWORK_NOT_FOUND, JoinOutcome.CONNECTION_FAILED):
            self._confirmation_failed(now, Status(self._outcome.value))
            return
        self.wlan_status = WlanStatus.CONNECTED
        self._status(Status.CONFIRMATION_WLAN_CONNECT, self.candidate.ssid)
        self.phase = Phase.ACQUIRING_IP
        self.deadlines[Input.IP_DUE] = now + self.timing.ip

    def _on_ip_due(self, now: float, arg: object) -> None:
        assert self.candidate is not None
        if self._outcome is JoinOutcome.IP_NOT_ACQUIRED:
            self._confirmation_failed(now, Status.CONFIRMATION_STATUS_CONNECTION_SUCCESS_IP_NOT_ACQUIRED)
            return
        self._status(Status.CONFIRMATION_IP_ACQUIRED, self.candidate.ssid)
        self.result = Status.CONFIRMATION_STATUS_SUCCESS
        if self.flags & FLAG_EXTERNAL_CONFIRMATION:
            self.phase = Phase.EXTERNAL_CONFIRMATION
            return
        self.phase = Phase.FEEDBACK
        self._effects.append(Discovery(True))
        self.deadlines[Input.FEEDBACK_DUE] = now + self.timing.feedback

    def _on_feedback_due(self, now: float, arg: object) -> None:
        self._effects.append(Discovery(False))
        self._confirmation_failed(now, Status.CONFIRMATION_STATUS_SUCCESS_FEEDBACK_FAILED)
