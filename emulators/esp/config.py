"""Settings of the ESP32 provisioning emulator (``[esp]`` in the config file, ``PROVEMU_ESP_*``, flags) and
their expansion into one ``NodeSettings`` per emulated node (a fleet comes from ``count`` or ``[[esp.nodes]]``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from emulators.config import ConfigError
from protocols.esp.device import DeviceSpec
from protocols.esp.errors import LocalError
from protocols.esp.protover import AppInfo
from protocols.esp.rainmaker import node_id_for, service_name_for
from protocols.esp.wifi import DEFAULT_STATION_IP, AccessPoint, AuthMode, Timings

DEFAULT_ACCESS_POINTS: list[dict[str, Any]] = [
    {
        "ssid": "provemu-ap",
        "bssid": "24:0a:c4:aa:bb:01",
        "channel": 6,
        "rssi": -45,
        "auth": "WPA2_PSK",
        "passphrase": "provemu-pass",
    },
]


@dataclass
class EspConfig:
    http_port: int = field(
        default=8080,
        metadata={
            "help": "SoftAP HTTP port of the first node; with count > 1 the next nodes take the following ports "
            "(0: a free port each)"
        },
    )
    count: int = field(default=1, metadata={"help": "number of identical nodes to run (a fleet)"})
    name: str = field(
        default="", metadata={"help": "service name of the first node (default PROV_ + last 3 MAC bytes)"}
    )
    security: int = field(default=2, metadata={"help": "protocomm security version: 0 | 1 | 2"})
    pop: str = field(default="abcd1234", metadata={"help": "Security 1 proof of possession (empty: no_pop)"})
    sec2_username: str = field(default="wifiprov", metadata={"help": "Security 2 SRP username"})
    sec2_password: str = field(default="abcd1234", metadata={"help": "Security 2 SRP password"})
    sec2_salt: str = field(
        default="036ee0c7bcb9eda84c9eac97d93decf4",
        metadata={"help": "Security 2 salt (hex; default: the IDF example's)"},
    )
    sec_patch_ver: int = field(
        default=1,
        metadata={"help": "Security 2 patch version: 1 = nonce counter (IDF >= 5.5/5.4.1/5.3.3), 0 = static nonce"},
    )
    flavour: str = field(
        default="wifi_prov",
        metadata={"help": "firmware flavour: wifi_prov (proto-ver v1.1) | network_prov (netprov-v1.2)"},
    )
    rainmaker: str = field(default="none", metadata={"help": "RainMaker endpoints: none | ch_resp | user_assoc | both"})
    conn_attempts: int = field(
        default=0,
        metadata={"help": "Wi-Fi attempts before failing (0: IDF default, auth/not-found fail at once; RainMaker: 3)"},
    )
    reset_on_failure: bool = field(
        default=False,
        metadata={"help": "firmware resets provisioning right after a final Wi-Fi failure (RainMaker default)"},
    )
    auto_stop: bool = field(
        default=True, metadata={"help": "provisioning auto-stop enabled (prov-ctrl Reprov then answers InternalError)"}
    )
    stop_on_success: bool = field(
        default=True, metadata={"help": "stop serving provisioning cleanup_delay seconds after the node got an IP"}
    )
    max_pop_mismatch: int = field(
        default=0, metadata={"help": "stop provisioning after this many wrong PoPs/passwords (0: never; RainMaker: 5)"}
    )
    custom_endpoints: list[str] = field(
        default_factory=list,
        metadata={"help": "extra endpoints answering SUCCESS\\0 like the IDF example's custom-data"},
    )
    app_info: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={"help": "extra proto-ver app-info blocks ([[esp.app_info]] label, ver, cap), e.g. rmaker/claim"},
    )
    legacy_proto_ver: bool = field(
        default=False, metadata={"help": "IDF v4.x proto-ver without sec_ver/sec_patch_ver (clients assume Sec1)"}
    )
    ble: bool = field(default=False, metadata={"help": "also serve over BLE GATT (needs the ble extra)"})
    ble_transport: str = field(
        default="", metadata={"help": "bumble HCI transport for the BLE controller (empty: in-process virtual link)"}
    )
    ble_failure: str = field(
        default="nimble",
        metadata={"help": "BLE reaction to a failed request: nimble (ATT error 0x04) | bluedroid (disconnect)"},
    )
    instant: bool = field(
        default=False, metadata={"help": "zero the Wi-Fi delays (apply, connect, fail, scan) for tests and benchmarks"}
    )
    apply_delay: float = field(default=1.0, metadata={"help": "seconds from ApplyConfig to the first attempt"})
    connect_time: float = field(default=3.0, metadata={"help": "seconds an attempt takes to get an IP"})
    fail_time: float = field(default=3.0, metadata={"help": "seconds an attempt takes to fail"})
    scan_time: float = field(default=0.5, metadata={"help": "seconds a Wi-Fi scan takes"})
    cleanup_delay: float = field(default=1.0, metadata={"help": "seconds from Connected to provisioning stop"})
    auto_factory_reset: float = field(
        default=0.0,
        metadata={
            "help": "factory-reset a node this many seconds after it left provisioning mode, as if someone "
            "pressed its reset button, so it can be provisioned again (0: never)"
        },
    )
    autostop_timeout: float = field(
        default=30.0, metadata={"help": "seconds after getting an IP when provisioning stops if nobody asks"}
    )
    scan_max_entries: int = field(default=16, metadata={"help": "most access points a scan reports"})
    access_points: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(a) for a in DEFAULT_ACCESS_POINTS],
        metadata={"help": "simulated access points ([[esp.access_points]])"},
    )
    nodes: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={"help": "explicit fleet ([[esp.nodes]]): per-node overrides of the settings above plus host, mac"},
    )


NODE_KEYS = {
    "name",
    "mac",
    "host",
    "http_port",
    "security",
    "pop",
    "sec2_username",
    "sec2_password",
    "sec2_salt",
    "sec_patch_ver",
    "flavour",
    "rainmaker",
    "node_id",
    "conn_attempts",
    "reset_on_failure",
    "auto_stop",
    "stop_on_success",
    "max_pop_mismatch",
    "custom_endpoints",
    "app_info",
    "legacy_proto_ver",
    "ble",
    "access_points",
}


@dataclass
class NodeSettings:
    """Everything the emulator needs to run one node."""

    spec: DeviceSpec
    mac: bytes
    host: str | None
    http_port: int
    ble: bool
    index: int
    access_points: list[AccessPoint] | None = None


def mac_for(index: int) -> bytes:
    digest = hashlib.sha256(f"provemu-esp-node-{index}".encode()).digest()
    return bytes([0x24, 0x0A, 0xC4]) + digest[:3]


def parse_mac(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    except ValueError as exc:
        raise ConfigError(f"esp: bad MAC/BSSID {text!r}") from exc
    if len(raw) != 6:
        raise ConfigError(f"esp: MAC/BSSID {text!r} is not 6 bytes")
    return raw


def parse_access_point(raw: dict[str, Any], where: str) -> AccessPoint:
    if not isinstance(raw, dict) or not isinstance(raw.get("ssid"), str):
        raise ConfigError(f"{where}: an access point needs a string ssid")
    unknown = set(raw) - {"ssid", "bssid", "channel", "rssi", "auth", "passphrase", "ip4_addr"}
    if unknown:
        raise ConfigError(f"{where}: unknown access point keys {sorted(unknown)}")
    ssid = raw["ssid"].encode()
    auth_raw = raw.get("auth", "WPA2_PSK" if raw.get("passphrase") else "OPEN")
    try:
        auth = int(auth_raw) if isinstance(auth_raw, int) else int(AuthMode[str(auth_raw).upper()])
    except KeyError as exc:
        raise ConfigError(f"{where}: unknown auth mode {auth_raw!r}; use {', '.join(AuthMode.__members__)}") from exc
    bssid = (
        parse_mac(raw["bssid"]) if raw.get("bssid") else bytes([0x24, 0x0A, 0xC4]) + hashlib.sha256(ssid).digest()[:3]
    )
    ip4 = str(raw.get("ip4_addr", DEFAULT_STATION_IP))
    try:
        ipaddress.IPv4Address(ip4)
    except ValueError as exc:
        raise ConfigError(f"{where}: bad ip4_addr {ip4!r}") from exc
    return AccessPoint(
        ssid=ssid,
        bssid=bssid,
        channel=int(raw.get("channel", 6)),
        rssi=int(raw.get("rssi", -50)),
        auth=auth,
        passphrase=str(raw.get("passphrase", "")).encode(),
        ip4_addr=ip4,
    )


def timings(config: EspConfig) -> Timings:
    if config.instant:
        return Timings.instant()
    return Timings(config.apply_delay, config.connect_time, config.fail_time, config.scan_time)


def _app_info(raw: Any, where: str) -> tuple[AppInfo, ...]:
    out = []
    for item in raw or []:
        if not isinstance(item, dict) or not isinstance(item.get("label"), str) or item["label"] == "prov":
            raise ConfigError(f"{where}: app_info entries need a string label other than 'prov'")
        caps = item.get("cap", [])
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise ConfigError(f"{where}: app_info cap must be a list of strings")
        out.append(AppInfo(item["label"], str(item.get("ver", "1.0")), tuple(caps)))
    return tuple(out)


def _setting(row: dict[str, Any], config: EspConfig, key: str) -> Any:
    return row.get(key, getattr(config, key))


def node_settings(config: EspConfig) -> list[NodeSettings]:
    """Expand the config into nodes: ``[[esp.nodes]]`` if given, else ``count`` copies of the top level."""
    if config.ble_failure not in ("nimble", "bluedroid"):
        raise ConfigError(f"esp: ble_failure must be nimble or bluedroid, not {config.ble_failure!r}")
    rows: list[dict[str, Any]] = [dict(n) for n in config.nodes] or [{} for _ in range(max(1, config.count))]
    out: list[NodeSettings] = []
    names: set[str] = set()
    for index, row in enumerate(rows):
        where = f"esp node {index}"
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: must be a table")
        unknown = set(row) - NODE_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        mac = parse_mac(row["mac"]) if row.get("mac") else mac_for(index)
        rainmaker = str(_setting(row, config, "rainmaker"))
        default_port = config.http_port + index if config.http_port and not config.nodes else config.http_port
        name = row.get("name") or (config.name if index == 0 and config.name else "")
        name = name or service_name_for(mac, lowercase=rainmaker != "none")
        if name in names:
            raise ConfigError(f"{where}: duplicate node name {name}")
        names.add(name)
        try:
            spec = DeviceSpec(
                name=name,
                security=int(_setting(row, config, "security")),
                pop=str(_setting(row, config, "pop")),
                sec2_username=str(_setting(row, config, "sec2_username")),
                sec2_password=str(_setting(row, config, "sec2_password")),
                sec2_salt=bytes.fromhex(str(_setting(row, config, "sec2_salt"))),
                sec_patch_ver=int(_setting(row, config, "sec_patch_ver")),
                flavour=str(_setting(row, config, "flavour")),
                rainmaker=rainmaker,
                node_id=str(row.get("node_id") or (node_id_for(mac) if rainmaker != "none" else "")),
                conn_attempts=int(_setting(row, config, "conn_attempts")),
                reset_on_failure=bool(_setting(row, config, "reset_on_failure")),
                auto_stop=bool(_setting(row, config, "auto_stop")),
                stop_on_success=bool(_setting(row, config, "stop_on_success")),
                cleanup_delay=config.cleanup_delay,
                autostop_timeout=config.autostop_timeout,
                scan_max_entries=config.scan_max_entries,
                max_pop_mismatch=int(_setting(row, config, "max_pop_mismatch")),
                timings=timings(config),
                custom_endpoints=tuple(_setting(row, config, "custom_endpoints")),
                app_info=_app_info(_setting(row, config, "app_info"), where),
                legacy_proto_ver=bool(_setting(row, config, "legacy_proto_ver")),
            )
            spec.validate()
        except (LocalError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        aps = None
        if "access_points" in row:
            aps = [parse_access_point(a, f"{where} access point") for a in row["access_points"]]
        out.append(
            NodeSettings(
                spec,
                mac,
                row.get("host"),
                int(row.get("http_port", default_port)),
                bool(_setting(row, config, "ble")),
                index,
                aps,
            )
        )
    return out
