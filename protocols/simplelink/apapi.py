"""The AP-mode HTTP provisioning API of the NWP's internal server (SWRA513 Table 9-1), as pure functions.

:func:`route` maps a request line to the endpoint it names; the ``parse_*`` functions turn a form body into
typed values and raise only :class:`FormError` for input the device rejects; the ``render_*`` functions build
the bodies the device serves. Token rules (SWRU455 ch. 9): POST parameters are ``__SL_P_`` + 3 characters, a parameter
left out keeps its previous value (the caller keeps the :class:`TokenMemory`), and a GET of ``/__SL_G_xxx``
returns that token's value or ``Unknown Token``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from .errors import FormError
from .provisioning import Profile
from .wifi import FORM_SECURITY, NETLIST_DIGIT, AccessPoint, SecurityType

DEVICE_HOST = "mysimplelink.net"
VERSION_R2 = "R2.0"
UNKNOWN_TOKEN = "Unknown Token"
SRCVERS = "1D90645"
MAX_FORM_BYTES = 2048
MAX_URN = 32
MAX_KEY = 64
MAX_PRIORITY = 15
NETLIST_SLOTS = 15


class Endpoint(enum.Enum):
    PROFILE_ADD = "profile_add"
    CONFIRM_REQ = "confirm_req"
    SET_URN = "set_urn"
    AP_SCAN = "en_ap_scan"
    POLICY_SET = "policy_set"
    STATION_ACTION = "station_action"
    AP_ACLIST = "ap_aclist"
    SET_TIME = "set_time"
    IOT_UUID = "iotlink_uuid"
    LEGACY_ADVANCE = "add_profile_html"
    VERSION = "param_product_version"
    DEVICE_NAME = "param_device_name"
    CFG_RESULT = "param_cfg_result"
    NETLIST = "netlist"
    APPNAME = "device_appname"
    TOKEN = "token"


_POSTS = {
    "/api/1/wlan/profile_add": Endpoint.PROFILE_ADD,
    "/profiles_add.html": Endpoint.PROFILE_ADD,  # R1 (CC3200 library) name, same fields
    "/api/1/wlan/confirm_req": Endpoint.CONFIRM_REQ,
    "/api/1/wlan/en_ap_scan/confirm_req": Endpoint.CONFIRM_REQ,  # SWRU455A p.145 spelling
    "/api/1/netapp/set_urn": Endpoint.SET_URN,
    "/api/1/wlan/en_ap_scan": Endpoint.AP_SCAN,
    "/api/1/wlan/policy_set": Endpoint.POLICY_SET,
    "/api/1/wlan/en_ap_scan/station_action": Endpoint.STATION_ACTION,
    "/api/1/wlan/en_ap_scan/ap_aclist": Endpoint.AP_ACLIST,
    "/api/1/wlan/en_ap_scan/set_time": Endpoint.SET_TIME,
    "/api/1/iotlink/uuid": Endpoint.IOT_UUID,
    "/add_profile.html": Endpoint.LEGACY_ADVANCE,
}
_GETS = {
    "/param_product_version.txt": Endpoint.VERSION,
    "/param_device_name.txt": Endpoint.DEVICE_NAME,
    "/param_cfg_result.txt": Endpoint.CFG_RESULT,
    "/netlist.txt": Endpoint.NETLIST,
    "/device": Endpoint.APPNAME,
}
_TOKEN_PATH = re.compile(r"^/(__SL_G_[A-Za-z0-9.]{3})$")
_PARAM_NAME = re.compile(r"^__SL_P_[A-Za-z0-9.]{3}$")


def route(method: str, path: str) -> tuple[Endpoint, str] | None:
    """The endpoint a request names (and the token name for token GETs), or None (404)."""
    if method == "POST":
        endpoint = _POSTS.get(path)
        return (endpoint, "") if endpoint else None
    if method in ("GET", "HEAD"):
        if path in _GETS:
            return _GETS[path], ""
        match = _TOKEN_PATH.match(path)
        if match:
            return Endpoint.TOKEN, match.group(1)
    return None


def _unquote(text: str) -> bytes:
    out = bytearray()
    i = 0
    raw = text.encode("ascii")
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or not all(chr(b) in "0123456789abcdefABCDEF" for b in pair):
                raise FormError(f"bad percent escape at offset {i}")
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(0x20 if c == 0x2B else c)
            i += 1
    return bytes(out)


def parse_form(body: bytes) -> dict[str, bytes]:
    """An ``application/x-www-form-urlencoded`` body to raw byte values (apps send UTF-8 percent-encoded)."""
    if len(body) > MAX_FORM_BYTES:
        raise FormError(f"form body over {MAX_FORM_BYTES} bytes")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FormError("form body is not ASCII") from exc
    form: dict[str, bytes] = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        key = _unquote(name)
        try:
            form[key.decode("ascii")] = _unquote(value)
        except UnicodeDecodeError as exc:
            raise FormError("parameter name is not ASCII") from exc
    return form


def encode_form(fields: dict[str, str]) -> bytes:
    """A form body as the apps send it: UTF-8, percent-encoded."""
    return urlencode({k: v.encode() for k, v in fields.items()}).encode()


@dataclass
class TokenMemory:
    """Last value of every ``__SL_P_*`` token: a parameter left out of a POST keeps it (SWRU455 chapter 9).

    Posted values are stored before the request is acted on, even when the request is then rejected."""

    values: dict[str, bytes] = field(default_factory=lambda: {"__SL_P_P.B": b"0", "__SL_P_P.D": b"0"})

    def commit(self, form: dict[str, bytes]) -> None:
        self.values.update({k: v for k, v in form.items() if _PARAM_NAME.match(k)})


def _int(value: bytes, what: str) -> int:
    try:
        text = value.decode("ascii").strip()
        if not text.isdigit():
            raise ValueError(text)
        return int(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(f"{what} is not a decimal number: {value!r}") from exc


def _check_key(security: SecurityType, key: bytes) -> None:
    if len(key) > MAX_KEY:
        raise FormError(f"key over {MAX_KEY} bytes")
    if security is SecurityType.OPEN:
        return
    if security in (SecurityType.WEP, SecurityType.WEP_SHARED):
        if len(key) not in (5, 10, 13, 26):
            raise FormError("WEP key must be 5/13 characters or 10/26 hex digits")
        return
    if len(key) < 8 or (len(key) == 64 and not re.fullmatch(rb"[0-9A-Fa-f]{64}", key)):
        raise FormError("WPA passphrase must be 8..63 characters or 64 hex digits")


def parse_profile_add(form: dict[str, bytes]) -> Profile:
    """``__SL_P_P.A`` SSID, ``.B`` security code, ``.C`` key, ``.D`` priority (merged with the token memory)."""
    ssid = form.get("__SL_P_P.A", b"")
    if not 1 <= len(ssid) <= 32:
        raise FormError("SSID (__SL_P_P.A) must be 1..32 bytes")
    code = _int(form.get("__SL_P_P.B", b"0"), "security type (__SL_P_P.B)")
    if code not in FORM_SECURITY:
        raise FormError(f"unknown security type code {code}")
    security = FORM_SECURITY[code]
    key = form.get("__SL_P_P.C", b"") if security is not SecurityType.OPEN else b""
    _check_key(security, key)
    priority = _int(form.get("__SL_P_P.D", b"0"), "priority (__SL_P_P.D)")
    if priority > MAX_PRIORITY:
        raise FormError(f"priority over {MAX_PRIORITY}")
    return Profile(ssid, int(security), key, priority)


def parse_urn(form: dict[str, bytes]) -> bytes:
    name = form.get("__SL_P_S.B", b"")
    if not 1 <= len(name) <= MAX_URN:
        raise FormError(f"device name (__SL_P_S.B) must be 1..{MAX_URN} bytes")
    return name


def parse_scan(form: dict[str, bytes]) -> tuple[int, int]:
    """``__SL_P_SC1`` seconds between scan cycles, ``__SL_P_SC2`` number of cycles."""
    return _int(form.get("__SL_P_SC1", b"10"), "__SL_P_SC1"), _int(form.get("__SL_P_SC2", b"1"), "__SL_P_SC2")


def parse_policy(form: dict[str, bytes]) -> dict[str, bool]:
    """Connection policy flags: present = on (SWRU455A p.145)."""
    names = {"auto": "__SL_P_P.E", "fast": "__SL_P_P.F", "any_p2p": "__SL_P_P.G", "auto_provisioning": "__SL_P_P.Q"}
    return {name: token in form for name, token in names.items()}


def parse_set_time(form: dict[str, bytes]) -> tuple[int, int, int, int, int, int]:
    raw = form.get("__SL_P_S.J", b"")
    parts = raw.split(b",")
    if len(parts) != 6:
        raise FormError("__SL_P_S.J must be yyyy,mm,dd,hh,mm,ss")
    y, mo, d, h, mi, s = (_int(p, "__SL_P_S.J") for p in parts)
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        raise FormError("__SL_P_S.J out of range")
    return y, mo, d, h, mi, s


def render_netlist(access_points: list[AccessPoint]) -> str:
    """``3HomeNet;0Guest;X;...``: strongest first, at most 15 entries, ``X`` for empty slots."""
    ranked = sorted(access_points, key=lambda ap: ap.rssi, reverse=True)[:NETLIST_SLOTS]
    entries = [NETLIST_DIGIT[ap.security] + ap.ssid.decode("utf-8", "replace") for ap in ranked]
    entries += ["X"] * (NETLIST_SLOTS - len(entries))
    return ";".join(entries)


def parse_netlist(body: str) -> list[tuple[int, str]]:
    """``/netlist.txt`` as the apps read it: (security digit, SSID) per entry, ``X`` slots skipped."""
    return [(int(entry[0]), entry[1:]) for entry in body.split(";") if entry and entry[0] in "0123456789"]


def device_name_token(name: str, default_name: str, mac: str) -> str:
    """``__SL_G_DNP``: the name, with the MAC's last three bytes appended while the default name is set."""
    if name != default_name:
        return name
    return f"{name}-{mac.replace(':', '')[-6:].upper()}"


def redirect_location(host_header: str, https_port: int, path_qs: str) -> str:
    """Where the plain-HTTP port sends every request when HTTPS is on (Starter Pro switches to https on a 302)."""
    host = host_header.rsplit(":", 1)[0] if host_header and not host_header.endswith("]") else host_header
    host = host or DEVICE_HOST
    port = "" if https_port == 443 else f":{https_port}"
    return f"https://{host}{port}{path_qs}"
