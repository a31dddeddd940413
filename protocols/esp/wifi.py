"""The simulated Wi-Fi side of a provisioning node: access points, scans, and the station/provisioning state
machines behind ``prov-config`` GetStatus (ESP-IDF wifi_provisioning ``manager.c``, ``wifi_config.c``,
``wifi_scan.c``). Time is passed in as ``now`` (monotonic seconds).

Invariants:
- ``prov_state`` only changes through ``PROV_TRANSITIONS``; ``sta_state`` only through ``STA_TRANSITIONS``;
- an ApplyConfig is accepted only in ``ProvState.STARTED`` with pending credentials;
- with ``conn_attempts == 0`` an auth or not-found disconnect is final and any other reason retries forever
  (with ``prov_state`` already FAIL, as the C handler orders it); with ``N > 0`` every disconnect counts and the
  N-th is final, ``fail_reason`` changing only then and only for auth/not-found reasons;
- a connection attempt's outcome is decided when it starts, by the ``resolve`` callable the driver passes in
  (the environment plus injected faults), so access points may change while a node is connecting.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from protocols.errors import RemoteProtocolError
from protocols.esp.errors import EspError
from protocols.machine import step

MAX_SSID_LEN = 32
MAX_PASSPHRASE_LEN = 63


class AuthMode(enum.IntEnum):
    OPEN = 0
    WEP = 1
    WPA_PSK = 2
    WPA2_PSK = 3
    WPA_WPA2_PSK = 4
    WPA2_ENTERPRISE = 5
    WPA3_PSK = 6
    WPA2_WPA3_PSK = 7


# The station address a simulated network hands out: loopback, so an app that contacts the device at the
# address it reported after provisioning stays on this machine.
DEFAULT_STATION_IP = "127.0.0.1"


@dataclass(frozen=True)
class AccessPoint:
    ssid: bytes
    bssid: bytes
    channel: int = 6
    rssi: int = -50
    auth: int = AuthMode.WPA2_PSK
    passphrase: bytes = b""
    ip4_addr: str = DEFAULT_STATION_IP


class DisconnectReason(enum.Enum):
    """The ``WIFI_EVENT_STA_DISCONNECTED`` reasons that matter to provisioning."""

    AUTH_FAIL = "auth_fail"
    FOURWAY_HANDSHAKE_TIMEOUT = "4way_handshake_timeout"
    HANDSHAKE_TIMEOUT = "handshake_timeout"
    MIC_FAILURE = "mic_failure"
    NO_AP_FOUND = "no_ap_found"
    BEACON_TIMEOUT = "beacon_timeout"  # stands for every "other" reason


AUTH_REASONS = frozenset(
    {
        DisconnectReason.AUTH_FAIL,
        DisconnectReason.FOURWAY_HANDSHAKE_TIMEOUT,
        DisconnectReason.HANDSHAKE_TIMEOUT,
        DisconnectReason.MIC_FAILURE,
    }
)


class FailReason(enum.IntEnum):
    AUTH_ERROR = 0
    NETWORK_NOT_FOUND = 1


def fail_reason_for(reason: DisconnectReason) -> FailReason | None:
    if reason in AUTH_REASONS:
        return FailReason.AUTH_ERROR
    if reason is DisconnectReason.NO_AP_FOUND:
        return FailReason.NETWORK_NOT_FOUND
    return None


Outcome = AccessPoint | DisconnectReason
Resolver = Callable[[bytes, bytes], Outcome]


class WifiEnvironment:
    """Access points in range of a node."""

    def __init__(self, access_points: list[AccessPoint] | None = None) -> None:
        self.access_points: list[AccessPoint] = list(access_points or [])

    def scan(self, max_entries: int = 16) -> list[AccessPoint]:
        return sorted(self.access_points, key=lambda ap: ap.rssi, reverse=True)[:max_entries]

    def find(self, ssid: bytes) -> AccessPoint | None:
        matches = [ap for ap in self.access_points if ap.ssid == ssid]
        return max(matches, key=lambda ap: ap.rssi) if matches else None

    def attempt(self, ssid: bytes, passphrase: bytes) -> Outcome:
        """What one association attempt to ``ssid`` with ``passphrase`` yields."""
        ap = self.find(ssid)
        if ap is None:
            return DisconnectReason.NO_AP_FOUND
        if ap.auth != AuthMode.OPEN and ap.passphrase != passphrase:
            return DisconnectReason.FOURWAY_HANDSHAKE_TIMEOUT
        return ap


class StaState(enum.IntEnum):
    """``wifi_prov_sta_state_t``; zero-initialised, so CONNECTING before any ApplyConfig."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    CONN_ATTEMPT_FAILED = 3


class StaInput(enum.Enum):
    APPLY = "apply"
    GOT_IP = "got_ip"
    COUNTED_RETRY = "counted_retry"  # attempt n < N failed: CONN_ATTEMPT_FAILED and reconnect
    DISCONNECTED = "disconnected"
    RETRY = "retry"  # conn_attempts == 0 and a reason other than auth/not-found: reconnect
    REPROV = "reprov"


_ACTIVE = (StaState.CONNECTING, StaState.CONN_ATTEMPT_FAILED)
STA_TRANSITIONS: dict[tuple[StaState, StaInput], StaState] = {
    **{(s, StaInput.APPLY): StaState.CONNECTING for s in StaState},
    **{(s, StaInput.REPROV): StaState.CONNECTING for s in StaState},
    **{(s, StaInput.GOT_IP): StaState.CONNECTED for s in _ACTIVE},
    **{(s, StaInput.COUNTED_RETRY): StaState.CONN_ATTEMPT_FAILED for s in _ACTIVE},
    **{(s, StaInput.DISCONNECTED): StaState.DISCONNECTED for s in _ACTIVE},
    (StaState.DISCONNECTED, StaInput.RETRY): StaState.CONNECTING,
}


class ProvState(enum.Enum):
    STARTED = "started"
    CRED_RECV = "cred_recv"
    FAIL = "fail"
    SUCCESS = "success"


class ProvInput(enum.Enum):
    APPLY = "apply"
    GOT_IP = "got_ip"
    DISCONNECTED = "disconnected"
    RESET = "reset"
    FIRMWARE_RESET = "firmware_reset"  # reset_on_failure (RainMaker, IDF example option)
    REPROV = "reprov"


# The manager marks FAIL on every disconnect that leaves the station DISCONNECTED, *before* it decides to retry
# an "other" reason, so FAIL while still connecting is real, and a later IP moves FAIL to SUCCESS.
PROV_TRANSITIONS: dict[tuple[ProvState, ProvInput], ProvState] = {
    (ProvState.STARTED, ProvInput.APPLY): ProvState.CRED_RECV,
    (ProvState.CRED_RECV, ProvInput.GOT_IP): ProvState.SUCCESS,
    (ProvState.FAIL, ProvInput.GOT_IP): ProvState.SUCCESS,
    (ProvState.CRED_RECV, ProvInput.DISCONNECTED): ProvState.FAIL,
    (ProvState.FAIL, ProvInput.DISCONNECTED): ProvState.FAIL,
    (ProvState.FAIL, ProvInput.RESET): ProvState.STARTED,
    (ProvState.FAIL, ProvInput.FIRMWARE_RESET): ProvState.STARTED,
    **{(s, ProvInput.REPROV): ProvState.STARTED for s in ProvState},
}


@dataclass(frozen=True)
class Timings:
    """Device-side delays in seconds (estimates: the ESP-IDF sources leave them to the radio); all zero makes the
    node instant."""

    apply_delay: float = 1.0
    connect_time: float = 3.0
    fail_time: float = 3.0
    scan_time: float = 0.5

    @classmethod
    def instant(cls) -> Timings:
        return cls(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Credentials:
    ssid: bytes
    passphrase: bytes
    bssid: bytes = b""
    channel: int = 0


@dataclass(frozen=True)
class StationStatus:
    sta_state: StaState
    fail_reason: FailReason
    attempts_remaining: int
    connected: AccessPoint | None


@dataclass
class StationChange:
    """A state change the driver should log as an event."""

    kind: str
    data: dict[str, object] = field(default_factory=dict)


class InvalidTransition(EspError, RemoteProtocolError):
    """An input not allowed in the current state; handlers map it to InternalError. Unlike ``RemoteError`` the
    device answers it with a status instead of failing the transport."""


class WifiStation:
    """The node's station and provisioning manager state."""

    MAX_STEPS_PER_ADVANCE = 64  # bounds "retry forever" when every attempt takes zero time

    def __init__(
        self,
        conn_attempts: int = 0,
        reset_on_failure: bool = False,
        timings: Timings | None = None,
        np_reset_semantics: bool = False,
    ) -> None:
        self.conn_attempts = conn_attempts
        self.reset_on_failure = reset_on_failure
        self.timings = timings or Timings()
        self.np_reset_semantics = np_reset_semantics
        self.sta_state = StaState.CONNECTING
        self.prov_state = ProvState.STARTED
        self.fail_reason = FailReason.AUTH_ERROR
        self.attempts = 0
        self.pending: Credentials | None = None
        self.applied: Credentials | None = None
        self.connected: AccessPoint | None = None
        self.connected_at: float | None = None
        self._attempt_start: float | None = None
        self._attempt_end: float | None = None
        self._outcome: Outcome | None = None

    def _sta(self, event: StaInput) -> None:
        self.sta_state = step(STA_TRANSITIONS, self.sta_state, event, machine="station", error=InvalidTransition)

    def _prov(self, event: ProvInput) -> None:
        self.prov_state = step(PROV_TRANSITIONS, self.prov_state, event, machine="provisioning",
                               error=InvalidTransition)

    def set_config(self, creds: Credentials) -> None:
        self.pending = creds

    def apply(self, now: float) -> None:
        """ApplyConfig; raises ``InvalidTransition`` (reply InternalError) when the device refuses it."""
        if self.pending is None:
            raise InvalidTransition("no credentials set")
        try:
            self._prov(ProvInput.APPLY)
        except InvalidTransition:
            self.pending = None  # apply_config_handler frees the config whether or not it was applied
            raise
        self._sta(StaInput.APPLY)
        self.applied, self.pending = self.pending, None
        self.connected, self.connected_at = None, None
        self._attempt_start = now + self.timings.apply_delay
        self._attempt_end, self._outcome = None, None

    def reset(self) -> None:
        """``prov-ctrl`` Reset: back to STARTED after a failure; wifi_state is deliberately left alone."""
        if self.prov_state is ProvState.STARTED and self.np_reset_semantics:
            return
        self._prov(ProvInput.RESET)
        # the STA config is wiped, which ends any reconnect loop; wifi_state keeps its value
        self.pending = self.applied = None
        self._attempt_start = self._attempt_end = None
        self._outcome = None
        if self.np_reset_semantics:
            self.attempts = 0

    def reprov(self) -> None:
        self._prov(ProvInput.REPROV)
        self._sta(StaInput.REPROV)
        self.pending = self.applied = None
        self.connected = self.connected_at = None
        self._attempt_start = self._attempt_end = None
        self._outcome = None
        self.attempts = 0

    def status(self) -> StationStatus:
        remaining = max(0, self.conn_attempts - self.attempts)
        return StationStatus(self.sta_state, self.fail_reason, remaining, self.connected)

    def advance(self, now: float, resolve: Resolver) -> list[StationChange]:
        """Run every scheduled step due at ``now``; returns the changes for the event log."""
        changes: list[StationChange] = []
        for _ in range(self.MAX_STEPS_PER_ADVANCE):
            if self._attempt_start is not None and self._attempt_start <= now and self.applied is not None:
                start, self._attempt_start = self._attempt_start, None
                self._outcome = resolve(self.applied.ssid, self.applied.passphrase)
                ok = isinstance(self._outcome, AccessPoint)
                self._attempt_end = start + (self.timings.connect_time if ok else self.timings.fail_time)
                changes.append(StationChange("wifi_attempt", {"ssid": self.applied.ssid.decode("utf-8", "replace")}))
            elif self._attempt_end is not None and self._attempt_end <= now and self._outcome is not None:
                end, outcome = self._attempt_end, self._outcome
                self._attempt_end, self._outcome = None, None
                changes.append(self._finish(end, outcome))
            else:
                break
        return changes

    def _finish(self, at: float, outcome: Outcome) -> StationChange:
        """The manager's IP_EVENT_STA_GOT_IP / WIFI_EVENT_STA_DISCONNECTED handling, in its order."""
        if isinstance(outcome, AccessPoint):
            self._sta(StaInput.GOT_IP)
            self._prov(ProvInput.GOT_IP)
            self.connected, self.connected_at = outcome, at
            return StationChange(
                "wifi_connected",
                {"ssid": outcome.ssid.decode("utf-8", "replace"), "ip4_addr": outcome.ip4_addr},
            )
        if self.conn_attempts > 0:
            self.attempts += 1
            if self.attempts < self.conn_attempts:
                self._sta(StaInput.COUNTED_RETRY)
                self._attempt_start = at
                remaining = self.conn_attempts - self.attempts
                return StationChange(
                    "wifi_disconnected", {"reason": outcome.value, "final": False, "attempts_remaining": remaining}
                )
        self._sta(StaInput.DISCONNECTED)
        self._prov(ProvInput.DISCONNECTED)
        reason = fail_reason_for(outcome)
        if reason is not None:
            self.fail_reason = reason
        elif self.conn_attempts == 0:
            self._sta(StaInput.RETRY)
            self._attempt_start = at
            return StationChange("wifi_disconnected", {"reason": outcome.value, "final": False})
        if self.reset_on_failure:  # the firmware's WIFI_PROV_CRED_FAIL handler resets at once
            self._prov(ProvInput.FIRMWARE_RESET)
            self.pending = self.applied = None
            self.attempts = 0
        return StationChange("wifi_failed", {"reason": outcome.value, "fail_reason": self.fail_reason.name})


@dataclass
class ScanState:
    """One node's Wi-Fi scan: results are fixed when the scan starts and visible once it has finished."""

    results: list[AccessPoint] = field(default_factory=list)
    started_at: float | None = None
    done_at: float | None = None

    def start(self, now: float, env: WifiEnvironment, duration: float, max_entries: int) -> float:
        """Start a scan unless one is running; return when it is (or was) done."""
        if self.done_at is not None and now < self.done_at:
            return self.done_at
        self.results = env.scan(max_entries)
        self.started_at, self.done_at = now, now + duration
        return self.done_at

    def finished(self, now: float) -> bool:
        return self.done_at is not None and now >= self.done_at

    def count(self, now: float) -> int:
        return len(self.results) if self.finished(now) else 0
