"""One emulated provisioning node, transport-independent: protocomm + Wi-Fi manager + RainMaker + lifecycle.

Lifecycle invariants: the node serves provisioning while ``active``; with ``stop_on_success`` it stops
``cleanup_delay`` seconds after a GetStatus reported Connected (``*_mgr_done``), or ``autostop_timeout``
seconds after the station got an IP if nobody asks; it also stops after ``max_pop_mismatch``
credential mismatches when that limit is non-zero (RainMaker). ``restart_provisioning`` starts it again with
a fresh Wi-Fi manager. Drivers call ``advance(now)`` before each request and read the returned changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from protocols.esp.errors import CredentialsMismatch, LocalError
from protocols.esp.protocomm import Handler, Protocomm
from protocols.esp.protover import AppInfo, ProtoVersion
from protocols.esp.provisioning import ProvisioningOptions, Reply, WifiProvisioning
from protocols.esp.rainmaker import MappingRecord, RainMakerService
from protocols.esp.security import DeviceSession, Rng, Sec0Session, Sec1Session, Sec2Session
from protocols.esp.srp import compute_verifier
from protocols.esp.wifi import AccessPoint, Outcome, StationChange, Timings, WifiEnvironment, WifiStation

RAINMAKER_MODES = ("none", "user_assoc", "ch_resp", "both")
FLAVOURS = ("wifi_prov", "network_prov")


@dataclass
class DeviceSpec:
    name: str
    security: int = 2
    pop: str = "abcd1234"
    sec2_username: str = "wifiprov"
    sec2_password: str = "abcd1234"
    sec2_salt: bytes = bytes.fromhex("036ee0c7bcb9eda84c9eac97d93decf4")
    sec_patch_ver: int = 1
    flavour: str = "wifi_prov"
    rainmaker: str = "none"
    node_id: str = ""
    conn_attempts: int = 0
    reset_on_failure: bool = False
    auto_stop: bool = True
    stop_on_success: bool = True
    cleanup_delay: float = 1.0
    autostop_timeout: float = 30.0
    max_pop_mismatch: int = 0
    scan_max_entries: int = 16
    timings: Timings = field(default_factory=Timings)
    custom_endpoints: tuple[str, ...] = ()
    app_info: tuple[AppInfo, ...] = ()
    legacy_proto_ver: bool = False  # IDF v4.x: no sec_ver / sec_patch_ver in proto-ver

    def validate(self) -> None:
        if self.security not in (0, 1, 2):
            raise LocalError(f"security must be 0, 1 or 2, not {self.security}")
        if self.flavour not in FLAVOURS:
            raise LocalError(f"flavour must be one of {', '.join(FLAVOURS)}")
        if self.rainmaker not in RAINMAKER_MODES:
            raise LocalError(f"rainmaker must be one of {', '.join(RAINMAKER_MODES)}")
        if self.sec_patch_ver not in (0, 1):
            raise LocalError("sec_patch_ver must be 0 or 1")
        if self.legacy_proto_ver and self.security == 2:
            raise LocalError("IDF v4.x (legacy_proto_ver) has no Security 2")
        if self.rainmaker != "none" and not self.node_id:
            raise LocalError("a RainMaker node needs a node_id")


def custom_data_handler(data: bytes, now: float) -> Reply:
    """The IDF example's ``custom-data`` endpoint: whatever the request, the answer is ``SUCCESS\\0``."""
    return Reply(b"SUCCESS\x00")


class ProvisioningDevice:
    """A provisioning node as its transports see it."""

    def __init__(
        self,
        spec: DeviceSpec,
        env: WifiEnvironment,
        resolve: Callable[[bytes, bytes], Outcome],
        sign: Callable[[bytes], bytes] | None = None,
        on_mapping: Callable[[MappingRecord], None] | None = None,
        *,
        rng: Rng,
    ) -> None:
        spec.validate()
        self.spec = spec
        self.env = env
        self.resolve = resolve
        self.rng = rng
        self._verifier = compute_verifier(spec.sec2_username.encode(), spec.sec2_password.encode(), spec.sec2_salt)
        self.rainmaker: RainMakerService | None = None
        if spec.rainmaker != "none":
            self.rainmaker = RainMakerService(spec.node_id, sign or _no_signer, on_mapping)
        self.protocomm = Protocomm(self._new_session, self._version_reply)
        self.wifi = self._new_wifi()
        for name in ("prov-ctrl", "prov-scan", "prov-session", "prov-config", "proto-ver"):
            self.protocomm.add_standard(name)
        self._wire_standard()
        if self.rainmaker is not None:
            if spec.rainmaker in ("ch_resp", "both"):
                self.protocomm.add_custom("ch_resp", self.rainmaker.handle_chal_resp)
            if spec.rainmaker in ("user_assoc", "both"):
                self.protocomm.add_custom("cloud_user_assoc", self.rainmaker.handle_user_assoc)
        for name in spec.custom_endpoints:
            self.protocomm.add_custom(name, custom_data_handler)
        self.active = True
        self.stop_at: float | None = None
        self.pop_mismatches = 0

    def _new_wifi(self) -> WifiProvisioning:
        station = WifiStation(
            self.spec.conn_attempts,
            self.spec.reset_on_failure,
            self.spec.timings,
            np_reset_semantics=self.spec.flavour == "network_prov",
        )
        options = ProvisioningOptions(self.spec.scan_max_entries, self.spec.auto_stop)
        return WifiProvisioning(station, self.env, self.resolve, options)

    def _wire_standard(self) -> None:
        eps = self.protocomm.endpoints
        eps["prov-config"].handler = lambda d, n: self.wifi.handle_config(d, n)
        eps["prov-scan"].handler = lambda d, n: self.wifi.handle_scan(d, n)
        eps["prov-ctrl"].handler = lambda d, n: self.wifi.handle_ctrl(d, n)

    def register_endpoint(self, name: str, handler: Handler) -> None:
        """Add an application endpoint (``*_mgr_endpoint_create`` + ``register``)."""
        self.protocomm.add_custom(name, handler)

    def version(self) -> ProtoVersion:
        infos = list(self.spec.app_info)
        if self.spec.rainmaker in ("ch_resp", "both"):
            infos.append(AppInfo("rmaker_extra", "1.0", ("ch_resp",)))
        return ProtoVersion(
            security=self.spec.security,
            flavour=self.spec.flavour,
            pop_set=bool(self.spec.pop),
            sec2_patch=self.spec.sec_patch_ver,
            send_sec_ver=not self.spec.legacy_proto_ver,
            app_info=tuple(infos),
        )

    def _version_reply(self) -> bytes:
        return self.version().render()

    def _new_session(self) -> DeviceSession:
        if self.spec.security == 0:
            return Sec0Session()
        if self.spec.security == 1:
            return Sec1Session(self.spec.pop.encode(), rng=self.rng)
        return Sec2Session(self.spec.sec2_salt, self._verifier, self.spec.sec_patch_ver, rng=self.rng)

    def advance(self, now: float) -> list[StationChange]:
        changes = self.wifi.advance(now)
        connected_at = self.wifi.station.connected_at
        if self.active and self.spec.stop_on_success and connected_at is not None:
            reported = self.wifi.reported_connected_at
            self.stop_at = min(
                connected_at + self.spec.autostop_timeout,
                reported + self.spec.cleanup_delay if reported is not None else float("inf"),
            )
        if self.active and self.stop_at is not None and now >= self.stop_at:
            self.active = False
            changes.append(StationChange("stopped", {"what": "provisioning", "reason": "provisioned"}))
        return changes

    def handle(self, session_id: int, endpoint: str, data: bytes, now: float) -> Reply:
        """Dispatch one request; ``RemoteError`` means transport failure."""
        try:
            return self.protocomm.handle(session_id, endpoint, data, now)
        except CredentialsMismatch:
            self.pop_mismatches += 1
            if self.spec.max_pop_mismatch and self.pop_mismatches >= self.spec.max_pop_mismatch:
                self.active = False
            raise

    def restart_provisioning(self) -> None:
        """Start provisioning again from scratch (what a factory reset + reboot does)."""
        self.wifi = self._new_wifi()
        self._wire_standard()
        self.protocomm.session_id, self.protocomm.session = None, None
        self.active, self.stop_at, self.pop_mismatches = True, None, 0

    @property
    def connected_ap(self) -> AccessPoint | None:
        return self.wifi.station.connected


def _no_signer(challenge: bytes) -> bytes:
    raise LocalError("this node has no signing key")
