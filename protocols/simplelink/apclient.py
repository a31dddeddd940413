"""The reference AP-mode provisioning app's decisions (Starter Pro's call order), sans I/O.

:func:`provision` is a generator: it yields the next step, a :class:`Get` or :class:`Post` to send to the
device or a :class:`Pause`, is sent back the device's :class:`Reply` (``None`` after a pause), and returns the
:class:`ProvisionOutcome`. Any transport runs it: aiohttp in ``emulators/simplelink/client``, or the AP server
core directly in the in-memory pair test.

The order is Starter Pro's for AP mode (SWRA513 §8.4, "Successful AP provisioning"): read the version; with
``scan``, ask for a scan, wait, read the network list; set the name if one is given; read the name token;
add the profile; request confirmation; poll the confirmation result (``/__SL_G_MCR``, SWRA513 Table 9-1)
until it is neither empty nor ``0`` or the attempts run out.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

from .apapi import encode_form, parse_netlist

RESULT_PENDING = ("", "0")


@dataclass(frozen=True)
class Get:
    path: str


@dataclass(frozen=True)
class Post:
    path: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> bytes:
        return encode_form(self.fields)


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Reply:
    status: int
    body: str = ""


Step = Get | Post | Pause


@dataclass(frozen=True)
class ProvisionPlan:
    """What the user typed into the app, and how patiently it polls."""

    ssid: str
    password: str
    security: int = 3
    name: str | None = None
    priority: int = 0
    scan: bool = False
    scan_wait: float = 20.0  # Starter Pro's delay between en_ap_scan and reading /netlist.txt
    poll_interval: float = 0.1
    attempts: int = 100


@dataclass(frozen=True)
class ProvisionOutcome:
    version: str
    device_name: str
    result: str
    networks: list[tuple[int, str]] = field(default_factory=list)


def provision(plan: ProvisionPlan) -> Generator[Step, Reply | None, ProvisionOutcome]:
    version = _text((yield Get("/param_product_version.txt")))
    networks: list[tuple[int, str]] = []
    if plan.scan:
        yield Post("/api/1/wlan/en_ap_scan", {"__SL_P_SC1": "10", "__SL_P_SC2": "1"})
        yield Pause(plan.scan_wait)
        networks = parse_netlist(_text((yield Get("/netlist.txt"))))
    if plan.name:
        yield Post("/api/1/netapp/set_urn", {"__SL_P_S.B": plan.name})
    device_name = _text((yield Get("/__SL_G_DNP")))
    profile = {
        "__SL_P_P.A": plan.ssid,
        "__SL_P_P.B": str(plan.security),
        "__SL_P_P.C": plan.password,
        "__SL_P_P.D": str(plan.priority),
    }
    yield Post("/api/1/wlan/profile_add", profile)
    yield Post("/api/1/wlan/confirm_req")
    result = "0"
    for _ in range(plan.attempts):
        result = _text((yield Get("/__SL_G_MCR"))).strip()
        if result not in RESULT_PENDING:
            break
        yield Pause(plan.poll_interval)
    return ProvisionOutcome(version, device_name, result, networks)


def _text(reply: Reply | None) -> str:
    assert reply is not None, "a Get is answered with a Reply"
    return reply.body
