"""The ``proto-ver`` endpoint reply: byte-exact ``cJSON_Print`` text (ESP-IDF wifi_provisioning
``manager.c`` ``wifi_prov_get_info_json``) and its client-side reading.

Invariants: app-info members come first in registration order, ``prov`` last with keys ver, sec_ver,
sec_patch_ver, cap; ``no_sec``/``no_pop`` (never both) lead the capability list; no trailing newline or NUL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from protocols.esp.errors import RemoteError

WIFI_PROV_VER = "v1.1"
NETWORK_PROV_VER = "netprov-v1.2"

JsonValue = dict[str, Any] | list[Any] | str | int | bool | None


@dataclass(frozen=True)
class AppInfo:
    """One ``*_mgr_set_app_info(label, ver, caps)`` call."""

    label: str
    ver: str
    caps: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProtoVersion:
    """What the device announces on ``proto-ver``."""

    security: int
    flavour: str = "wifi_prov"  # "wifi_prov" (WP, "v1.1") or "network_prov" (NP, "netprov-v1.2")
    pop_set: bool = True
    send_sec_ver: bool = True  # IDF v4.x omitted it
    send_patch_ver: bool = True
    wifi_scan: bool = True
    app_info: tuple[AppInfo, ...] = field(default=())
    sec2_patch: int = 1  # protocomm's Security 2 patch_ver (0 before IDF v5.5/v5.4.1/v5.3.3)

    @property
    def ver(self) -> str:
        return NETWORK_PROV_VER if self.flavour == "network_prov" else WIFI_PROV_VER

    @property
    def patch_ver(self) -> int:
        return self.sec2_patch if self.security == 2 else 0

    def caps(self) -> list[str]:
        caps: list[str] = []
        if self.security == 0:
            caps.append("no_sec")
        elif self.security == 1 and not self.pop_set:
            caps.append("no_pop")
        if self.flavour == "network_prov":
            caps.append("wifi_prov")
        if self.wifi_scan:
            caps.append("wifi_scan")
        return caps

    def as_object(self) -> dict[str, JsonValue]:
        obj: dict[str, JsonValue] = {}
        for info in self.app_info:
            obj[info.label] = {"ver": info.ver, "cap": list(info.caps)}
        prov: dict[str, JsonValue] = {"ver": self.ver}
        if self.send_sec_ver:
            prov["sec_ver"] = self.security
            if self.send_patch_ver:
                prov["sec_patch_ver"] = self.patch_ver
        prov["cap"] = self.caps()
        obj["prov"] = prov
        return obj

    def render(self) -> bytes:
        return cjson_print(self.as_object()).encode()


def _cjson_string(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def cjson_print(value: JsonValue, depth: int = 0) -> str:
    """Formatted output of cJSON's ``print_value`` (TAB indentation, arrays on one line)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return f"{value:d}"
    if isinstance(value, str):
        return _cjson_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(cjson_print(v, depth + 1) for v in value) + "]"
    if not value:
        return "{\n" + "\t" * depth + "}"
    inner = "\t" * (depth + 1)
    members = [f"{inner}{_cjson_string(k)}:\t{cjson_print(v, depth + 1)}" for k, v in value.items()]
    return "{\n" + ",\n".join(members) + "\n" + "\t" * depth + "}"


@dataclass(frozen=True)
class DeviceVersionInfo:
    """A client's reading of a ``proto-ver`` reply."""

    raw: dict[str, Any]

    @property
    def prov(self) -> dict[str, Any]:
        prov = self.raw.get("prov")
        return prov if isinstance(prov, dict) else {}

    @property
    def capabilities(self) -> list[str]:
        caps = self.prov.get("cap", [])
        return [c for c in caps if isinstance(c, str)] if isinstance(caps, list) else []

    @property
    def security(self) -> int:
        """``sec_ver``; IDF v4.x omits it and clients then assume Security 1 (or 0 with ``no_sec``)."""
        sec = self.prov.get("sec_ver")
        if isinstance(sec, int) and not isinstance(sec, bool):
            return sec
        return 0 if "no_sec" in self.capabilities else 1

    @property
    def sec_patch_ver(self) -> int:
        patch = self.prov.get("sec_patch_ver", 0)
        return patch if isinstance(patch, int) and not isinstance(patch, bool) else 0

    def app_caps(self, label: str) -> list[str]:
        info = self.raw.get(label)
        caps = info.get("cap", []) if isinstance(info, dict) else []
        return [c for c in caps if isinstance(c, str)] if isinstance(caps, list) else []


def parse_version_info(data: bytes) -> DeviceVersionInfo:
    """Read a proto-ver reply; anything that is not a JSON object raises ``RemoteError``."""
    try:
        obj = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RemoteError(f"proto-ver reply is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise RemoteError("proto-ver reply is not a JSON object")
    return DeviceVersionInfo(obj)
