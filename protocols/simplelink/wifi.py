"""The simulated radio environment the emulated device joins during profile confirmation, and security codes.

Pure data and rules: which access points exist (SSID, security, passphrase, whether DHCP answers) and how a
profile's join ends (SWRA513 Table 9-1 results 1-3). With no access points and ``accept_any`` every SSID is reachable
with any key, which is the emulator's default so a transmitter or an app can provision it without setup.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import LocalProtocolError
from .provisioning import JoinOutcome, Profile


class SecurityType(enum.IntEnum):
    """Host-API ``SL_WLAN_SEC_TYPE_*`` values (SDK ``wlan.h``)."""

    OPEN = 0
    WEP = 1
    WPA_WPA2 = 2
    WEP_SHARED = 10
    WPA2_PLUS = 11
    WPA3 = 12
    WPA_PMK = 15


# __SL_P_P.B codes the device accepts (an emulator choice, docs/simplelink.md): Starter Pro 0-3, [CSAPP] 4, SWRA513 5,
# host values 11 and 12.
FORM_SECURITY: dict[int, SecurityType] = {
    0: SecurityType.OPEN,
    1: SecurityType.WEP,
    2: SecurityType.WPA_WPA2,
    3: SecurityType.WPA_WPA2,
    4: SecurityType.WPA3,
    5: SecurityType.WPA3,
    11: SecurityType.WPA2_PLUS,
    12: SecurityType.WPA3,
}

# /netlist.txt digits: 0 open, 1 WEP, 3 WPA/WPA2, 5 WPA3 (reads right under both conventions; docs/simplelink.md)
NETLIST_DIGIT: dict[SecurityType, str] = {
    SecurityType.OPEN: "0",
    SecurityType.WEP: "1",
    SecurityType.WEP_SHARED: "1",
    SecurityType.WPA_WPA2: "3",
    SecurityType.WPA2_PLUS: "3",
    SecurityType.WPA_PMK: "3",
    SecurityType.WPA3: "5",
}

_FAMILY = {
    SecurityType.OPEN: "open",
    SecurityType.WEP: "wep",
    SecurityType.WEP_SHARED: "wep",
    SecurityType.WPA_WPA2: "wpa2",
    SecurityType.WPA_PMK: "wpa2",
    SecurityType.WPA2_PLUS: "wpa2+",
    SecurityType.WPA3: "wpa3",
}
# profile family -> AP families it can associate with (WPA2_PLUS = WPA2/WPA3 transition)
_COMPATIBLE = {
    "open": {"open"},
    "wep": {"wep"},
    "wpa2": {"wpa2", "wpa2+"},
    "wpa2+": {"wpa2", "wpa2+", "wpa3"},
    "wpa3": {"wpa3", "wpa2+"},
}


@dataclass(frozen=True)
class AccessPoint:
    ssid: bytes
    security: SecurityType = SecurityType.WPA_WPA2
    passphrase: bytes = b""
    dhcp: bool = True  # False: association works but no IP is offered (status 3)
    rssi: int = -50

    def __post_init__(self) -> None:
        if not 1 <= len(self.ssid) <= 32:
            raise LocalProtocolError("access point SSID must be 1..32 bytes")


class WifiEnvironment:
    """The access points in range of the emulated device."""

    def __init__(self, access_points: list[AccessPoint] | None = None, accept_any: bool = True) -> None:
        self.access_points = list(access_points or [])
        self.accept_any = accept_any

    def find(self, ssid: bytes) -> AccessPoint | None:
        return next((ap for ap in self.access_points if ap.ssid == ssid), None)

    def join(self, profile: Profile) -> JoinOutcome:
        if not self.access_points:
            return JoinOutcome.CONNECTED if self.accept_any else JoinOutcome.NETWORK_NOT_FOUND
        ap = self.find(profile.ssid)
        if ap is None:
            return JoinOutcome.NETWORK_NOT_FOUND
        try:
            family = _FAMILY[SecurityType(profile.security)]
        except ValueError:
            return JoinOutcome.CONNECTION_FAILED
        if _FAMILY[ap.security] not in _COMPATIBLE[family]:
            return JoinOutcome.CONNECTION_FAILED
        if ap.security is not SecurityType.OPEN and profile.key != ap.passphrase:
            return JoinOutcome.CONNECTION_FAILED
        if not ap.dhcp:
            return JoinOutcome.IP_NOT_ACQUIRED
        return JoinOutcome.CONNECTED

    def security_of(self, ssid: bytes, password: bytes) -> SecurityType:
        """Security a SmartConfig profile gets: the scanned AP's, else WPA/WPA2 with a password, else open."""
        ap = self.find(ssid)
        if ap is not None:
            return ap.security
        return SecurityType.WPA_WPA2 if password else SecurityType.OPEN
