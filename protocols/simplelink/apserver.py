"""The AP-mode HTTP provisioning server of the NWP (SWRA513 Table 9-1; tokens per SWRU455 chapter 9), sans I/O.

:meth:`ApServer.handle` is fed one parsed request and ``now`` and returns an :class:`ApExchange`: the answer
(status, body, headers, and the delay an injected fault asks for) and, in order, what the request causes: the
provisioning-machine inputs (:data:`MachineInput`, applied with :func:`feed`) and the :class:`Note` events to
report. The store, the fault decisions and the machine's state are reached through the interfaces below; the
core reads no clock and keeps only the ``__SL_P_`` token memory.

Invariants: every request but a redirect counts as user activity (it restarts the inactivity timer) before
anything else; a rejected form changes no stored state except the token memory (posted tokens are kept before
the request is acted on); only a GET of the confirmation result delivers it to the app (a HEAD is not feedback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .apapi import (
    DEVICE_HOST,
    UNKNOWN_TOKEN,
    Endpoint,
    TokenMemory,
    device_name_token,
    parse_form,
    parse_policy,
    parse_profile_add,
    parse_scan,
    parse_set_time,
    parse_urn,
    redirect_location,
    render_netlist,
    route,
)
from .errors import FormError
from .notes import Note
from .profiles import DeviceStore, ssid_text, store_profile
from .provisioning import Effect, Profile, ProvisioningMachine, Role
from .wifi import WifiEnvironment

NWP_VERSION = "3.7.0.1"
ROLE_NAMES = {Role.STA: "Station", Role.AP: "Access Point", Role.P2P: "P2P"}


@dataclass(frozen=True)
class ApIdentity:
    """What the device says about itself over the API."""

    version: str = "R2.0"
    appname: str = "out_of_box"
    default_name: str = "mysimplelink"
    mac: str = "f4:b8:5e:00:a1:b2"
    device_ip: str = "127.0.0.1"

    @property
    def ap_ssid(self) -> str:
        """``mysimplelink-xxyyzz``: the last six hex digits of the MAC."""
        return "mysimplelink-" + self.mac.replace(":", "")[-6:].upper()


@dataclass(frozen=True)
class ApRequest:
    method: str
    path: str
    query: str = ""
    host: str = DEVICE_HOST
    body: bytes = b""
    secure: bool = False

    @property
    def path_qs(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass
class ApAnswer:
    status: int
    body: str = ""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


# --- what a request causes in the provisioning machine ------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    """User activity: restarts the inactivity timer."""


@dataclass(frozen=True)
class ApProfileInput:
    profile: Profile


@dataclass(frozen=True)
class ConfirmRequest:
    pass


@dataclass(frozen=True)
class ResultRead:
    """The app read the confirmation result (feedback)."""


@dataclass(frozen=True)
class SetAutoProvisioning:
    enabled: bool


@dataclass(frozen=True)
class FireDueTimers:
    """Timers the request made due now (zero simulated delays) fire before the answer."""


MachineInput = Activity | ApProfileInput | ConfirmRequest | ResultRead | SetAutoProvisioning | FireDueTimers
Output = MachineInput | Note


def feed(machine: ProvisioningMachine, now: float, inp: MachineInput) -> list[Effect]:
    """Apply one input an exchange returned to the machine; the effects it produced, in order."""
    if isinstance(inp, Activity):
        return machine.activity(now)
    if isinstance(inp, ApProfileInput):
        return machine.ap_profile(now, inp.profile)
    if isinstance(inp, ConfirmRequest):
        return machine.confirm_request(now)
    if isinstance(inp, ResultRead):
        return machine.result_read(now)[1]
    if isinstance(inp, SetAutoProvisioning):
        machine.auto_provisioning = inp.enabled
        return []
    return machine.tick(now)


@dataclass
class ApExchange:
    answer: ApAnswer
    outputs: list[Output] = field(default_factory=list)


# --- what the core needs from around it ---------------------------------------------------------------------


class MachineView(Protocol):
    """The provisioning machine's state the API serves."""

    @property
    def result(self) -> int: ...

    @property
    def role(self) -> int: ...


class ApFaults(Protocol):
    """Injected fault decisions; each call consumes the matching fault, so it is asked only where it applies."""

    def forced_answer(self, method: str, path: str) -> tuple[int, str] | None: ...

    def delay(self, method: str, path: str) -> float: ...

    def result_read_ignored(self, path: str) -> bool: ...


class ApServer:
    """The NWP's HTTP server. ``https_port``: set once the HTTPS listener is up; plain requests then get 302."""

    def __init__(
        self,
        identity: ApIdentity,
        env: WifiEnvironment,
        store: DeviceStore,
        machine: MachineView,
        faults: ApFaults | None = None,
        https_port: int | None = None,
    ) -> None:
        self.identity = identity
        self.env = env
        self.store = store
        self.machine = machine
        self.faults = faults
        self.https_port = https_port
        self.tokens = TokenMemory()

    @property
    def device_name(self) -> str:
        return self.store.setting("urn", self.identity.default_name)

    def redirect(self, request: ApRequest) -> ApAnswer | None:
        """The 302 to HTTPS for a plain request while HTTPS is on (decided from the request head alone)."""
        if self.https_port is None or request.secure:
            return None
        location = redirect_location(request.host, self.https_port, request.path_qs)
        return ApAnswer(302, "302: Found", headers={"Location": location})

    def handle(self, request: ApRequest, now: float) -> ApExchange:
        redirect = self.redirect(request)
        if redirect is not None:
            return ApExchange(redirect)
        out: list[Output] = [Activity()]
        forced = self.faults.forced_answer(request.method, request.path) if self.faults else None
        if forced is not None:
            return ApExchange(ApAnswer(*forced), out)
        delay = self.faults.delay(request.method, request.path) if self.faults else 0.0
        target = route(request.method, request.path)
        if target is None:
            return ApExchange(ApAnswer(404, "Not Found", delay=delay), out)
        endpoint, token = target
        try:
            answer = self._endpoint(request, endpoint, token, now, out)
        except FormError as exc:
            out.append(
                Note(
                    "bad_request",
                    {"transport": _scheme(request), "method": request.method, "path": request.path, "reason": str(exc)},
                    warning=f"{request.method} {request.path} rejected: {exc}",
                )
            )
            answer = ApAnswer(400, f"Bad Request: {exc}")
        answer.delay = delay
        out.append(FireDueTimers())
        return ApExchange(answer, out)

    def _endpoint(self, request: ApRequest, endpoint: Endpoint, token: str, now: float, out: list[Output]) -> ApAnswer:
        E = Endpoint
        if endpoint is E.VERSION:
            return ApAnswer(200, self.identity.version)
        if endpoint is E.DEVICE_NAME:
            return ApAnswer(200, self.device_name)
        if endpoint is E.CFG_RESULT:
            return ApAnswer(200, self._read_result(request, out))
        if endpoint is E.NETLIST:
            return ApAnswer(200, render_netlist(self.env.access_points))
        if endpoint is E.APPNAME:
            return ApAnswer(200, f"appname={self.identity.appname}")
        if endpoint is E.TOKEN:
            return ApAnswer(200, self._token(token, request, out))
        form = parse_form(request.body)
        if endpoint is E.PROFILE_ADD:
            # the server stores every posted token before the request is acted on (SWRU455 §9, tokens)
            self.tokens.commit(form)
            profile = parse_profile_add(self.tokens.values)
            out.append(
                Note(
                    "http_profile_add",
                    {"ssid": ssid_text(profile.ssid), "security": profile.security, "priority": profile.priority},
                )
            )
            rejected = store_profile(self.store, profile, "ap", now)
            out.append(rejected if rejected is not None else ApProfileInput(profile))
            return ApAnswer(204)
        if endpoint in (E.CONFIRM_REQ, E.LEGACY_ADVANCE):
            out += [Note("http_confirm_req", {"path": request.path}), ConfirmRequest()]
            return ApAnswer(204)
        if endpoint is E.SET_URN:
            self.tokens.commit(form)
            name = ssid_text(parse_urn(self.tokens.values))
            self.store.set_setting("urn", name)
            out.append(Note("device_name_set", {"name": name}))
            return ApAnswer(204)
        if endpoint is E.AP_SCAN:
            self.tokens.commit(form)
            interval, cycles = parse_scan(self.tokens.values)
            out.append(Note("scan", {"interval": interval, "cycles": cycles, "found": len(self.env.access_points)}))
            return ApAnswer(204)
        if endpoint is E.POLICY_SET:
            flags = parse_policy(form)
            out += [SetAutoProvisioning(flags["auto_provisioning"]), Note("policy_set", dict(flags))]
            return ApAnswer(204)
        if endpoint is E.SET_TIME:
            self.tokens.commit(form)
            parts = parse_set_time(self.tokens.values)
            out.append(Note("time_set", {"time": list(parts)}))
            return ApAnswer(204)
        if endpoint is E.IOT_UUID:
            uuid = ssid_text(form.get("uuid", b""))
            self.store.set_setting("iot_uuid", uuid)
            out.append(Note("iot_uuid", {"uuid": uuid}))
            return ApAnswer(200)
        self.tokens.commit(form)  # station_action, ap_aclist: accepted, nothing emulated behind them
        out.append(Note("http_post", {"endpoint": endpoint.value, "params": sorted(form)}))
        return ApAnswer(204)

    def _read_result(self, request: ApRequest, out: list[Output]) -> str:
        value = self.machine.result
        # only a GET delivers the result to the app; HEAD (no body) is not feedback
        if request.method == "GET" and not (self.faults and self.faults.result_read_ignored(request.path)):
            out.append(ResultRead())
        out.append(Note("result_read", {"path": request.path, "value": value}))
        return str(value)

    def _token(self, token: str, request: ApRequest, out: list[Output]) -> str:
        if token == "__SL_G_MCR":
            return self._read_result(request, out)
        identity, name = self.identity, self.device_name
        values = {
            "__SL_G_DNP": lambda: device_name_token(name, identity.default_name, identity.mac),
            "__SL_G_DEN": lambda: name,
            "__SL_G_S.B": lambda: name,
            "__SL_G_PIP": lambda: identity.device_ip,
            "__SL_G_REV": lambda: identity.version,
            "__SL_G_V.A": lambda: NWP_VERSION,
            "__SL_G_S.D": lambda: ROLE_NAMES.get(Role(self.machine.role), "Station"),
            "__SL_G_S.C": lambda: DEVICE_HOST,
        }
        getter = values.get(token)
        return getter() if getter else UNKNOWN_TOKEN


def _scheme(request: ApRequest) -> str:
    return "https" if request.secure else "http"
