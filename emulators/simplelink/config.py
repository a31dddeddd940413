"""Settings of the SimpleLink emulator (``[simplelink]`` in the config file, ``PROVEMU_SIMPLELINK_*``, flags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulators.config import ConfigError
from protocols.simplelink.errors import LocalProtocolError
from protocols.simplelink.wifi import AccessPoint, SecurityType

START_MODES = {"ap": 0, "sc": 1, "apsc": 2, "apsc_external": 3}
ROLES = {"sta": 0, "ap": 2, "p2p": 3}


@dataclass
class SimpleLinkConfig:
    http_port: int = field(default=8081, metadata={"help": "AP-mode HTTP provisioning API port"})
    https: bool = field(default=False, metadata={"help": "serve HTTPS and answer every plain-HTTP request with 302"})
    https_port: int = field(default=8444, metadata={"help": "HTTPS port when --https is on"})
    http_server: bool = field(
        default=True, metadata={"help": "HTTP server enabled (off: starting AP modes fails with status 8)"}
    )
    smartconfig_port: int = field(default=15000, metadata={"help": "SmartConfig UDP port (unicast and multicast)"})
    smartconfig_multicast: bool = field(
        default=True, metadata={"help": "also join 224.0.0.235 on the loopback interface"}
    )
    smartconfig_key: str = field(
        default="", metadata={"help": "16-byte SmartConfig AES key (empty: key field taken as plaintext)"}
    )
    smartconfig_legacy: bool = field(default=False, metadata={"help": "accept CC3000 1399/1459 markers"})
    smartconfig_min_votes: int = field(
        default=2, metadata={"help": "votes per nibble when a field is assembled from lossy repetitions"}
    )
    start: str = field(
        default="apsc",
        metadata={
            "help": "at boot the host starts provisioning: apsc | ap | sc | apsc_external | none (nothing: the "
            "NWP auto-starts after 2 s unless --no-auto-provisioning)"
        },
    )
    role: str = field(default="sta", metadata={"help": "role before provisioning: sta | ap"})
    requested_role: str = field(default="sta", metadata={"help": "RequestedRoleAfterSuccess: sta | ap | p2p"})
    inactivity_timeout: int = field(default=600, metadata={"help": "InactivityTimeoutSec of the boot start (0: none)"})
    external_confirmation: bool = field(
        default=False, metadata={"help": "set SL_WLAN_PROVISIONING_CMD_FLAG_EXTERNAL_CONFIRMATION at boot start"}
    )
    auto_provisioning: bool = field(default=True, metadata={"help": "connection policy bit 5 (auto-provisioning)"})
    device_name: str = field(default="mysimplelink", metadata={"help": "device name (URN)"})
    mac: str = field(default="f4:b8:5e:00:a1:b2", metadata={"help": "device MAC (AP SSID mysimplelink-xxyyzz)"})
    version: str = field(default="R2.0", metadata={"help": "body of /param_product_version.txt"})
    appname: str = field(default="out_of_box", metadata={"help": "/device?appname answer"})
    device_ip: str = field(default="", metadata={"help": "IP the device reports after joining (default: bind host)"})
    accept_any_ssid: bool = field(
        default=True, metadata={"help": "with no access points configured, every SSID is reachable"}
    )
    access_points: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={"help": "simulated Wi-Fi: [[simplelink.access_points]] ssid, security, passphrase, dhcp, rssi"},
    )
    connect_delay: float = field(default=1.0, metadata={"help": "seconds to join the profile's network"})
    ip_delay: float = field(default=0.5, metadata={"help": "seconds from association to IP"})
    feedback_timeout: float = field(
        default=30.0, metadata={"help": "seconds the app has to read the result before FEEDBACK_FAILED"}
    )
    smartconfig_sync_timeout: float = field(
        default=60.0, metadata={"help": "seconds from the first start marker to SMART_CONFIG_SYNC_TIMEOUT"}
    )
    mdns: bool = field(default=True, metadata={"help": "advertise _http._tcp on 127.0.0.1 while awaiting feedback"})
    udp_broadcast: bool = field(default=True, metadata={"help": "broadcast '<ip>,<name>' to UDP 1501"})
    broadcast_address: str = field(default="127.255.255.255", metadata={"help": "UDP 1501 destination"})
    broadcast_udp: int = field(default=1501, metadata={"help": "UDP port of the discovery broadcast"})
    broadcast_interval: float = field(default=1.0, metadata={"help": "seconds between discovery broadcasts"})

    def __post_init__(self) -> None:
        if self.start not in (*START_MODES, "none"):
            raise ValueError(f"start must be one of {', '.join((*START_MODES, 'none'))}")
        if self.role not in ("sta", "ap") or self.requested_role not in ROLES:
            raise ValueError("role must be sta | ap and requested_role sta | ap | p2p")
        if self.smartconfig_key and len(self.smartconfig_key.encode()) != 16:
            raise ValueError("smartconfig_key must be exactly 16 bytes")

    @property
    def key_bytes(self) -> bytes | None:
        return self.smartconfig_key.encode() if self.smartconfig_key else None


def parse_access_point(raw: Any, where: str) -> AccessPoint:
    """One ``[[simplelink.access_points]]`` table (or control-API JSON object)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("ssid"), str):
        raise ConfigError(f"{where}: each access point needs a string 'ssid'")
    security = raw.get("security", "wpa_wpa2" if raw.get("passphrase") else "open")
    try:
        sec = SecurityType[str(security).upper()] if not isinstance(security, int) else SecurityType(security)
        return AccessPoint(
            ssid=raw["ssid"].encode(),
            security=sec,
            passphrase=str(raw.get("passphrase", "")).encode(),
            dhcp=bool(raw.get("dhcp", True)),
            rssi=int(raw.get("rssi", -50)),
        )
    except (KeyError, ValueError, LocalProtocolError) as exc:
        raise ConfigError(f"{where}: invalid access point {raw!r}: {exc}") from exc


def access_point_json(ap: AccessPoint) -> dict[str, Any]:
    return {
        "ssid": ap.ssid.decode("utf-8", "replace"),
        "security": ap.security.name.lower(),
        "passphrase": ap.passphrase.decode("utf-8", "replace"),
        "dhcp": ap.dhcp,
        "rssi": ap.rssi,
    }
