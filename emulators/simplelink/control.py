"""Control routes of the SimpleLink emulator (mounted under ``/api/simplelink``): state, stored profiles, the
simulated Wi-Fi, the host API (as the MCU would call it), raw SmartConfig lengths, and faults.

The routes see the device only through :class:`ControlledDevice` and the fault plan, so this module imports
neither the emulator nor the device module.
"""

from __future__ import annotations

import io
import logging
from typing import Any, Protocol

from aiohttp import web

from emulators.config import ConfigError
from emulators.faults import fault_routes
from emulators.routes import (
    ANY_OBJECT,
    BAD_REQUEST,
    BOOLEAN,
    INTEGER,
    NO_CONTENT,
    NOT_FOUND,
    STRING,
    ControlError,
    Reply,
    Route,
    array,
    json_object,
    obj,
)
from emulators.simplelink.config import access_point_json, parse_access_point
from emulators.simplelink.store import ProfileStore
from protocols.faults import FaultPlan
from protocols.simplelink import airframe, apapi
from protocols.simplelink.errors import FormError
from protocols.simplelink.provisioning import Command
from protocols.simplelink.wifi import WifiEnvironment

STATE = {"type": "object", "description": "phase, role, confirmation result, profiles, decoder statistics"}


def _int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(400, f"{name} must be an integer")
    return value


class ControlledDevice(Protocol):
    """What the control routes need of the emulated device."""

    store: ProfileStore
    env: WifiEnvironment
    log: logging.Logger

    def emit(self, kind: str, **data: Any) -> None: ...

    def now(self) -> float: ...

    def state(self) -> dict[str, Any]: ...

    def tick(self) -> None: ...

    def host_provisioning(self, cmd: int, role: int, timeout: int, key: bytes | None, flags: int) -> int: ...

    def host_restart(self) -> None: ...

    def host_api(self, name: str) -> int: ...

    def host_async_event(self, kind: str) -> bool: ...

    def datagram(self, length: int, source: str) -> None: ...


def control_routes(device: ControlledDevice, faults: FaultPlan) -> list[Route]:

    async def state(_: web.Request) -> web.Response:
        return web.json_response(device.state())

    async def profiles(_: web.Request) -> web.Response:
        return web.json_response({"profiles": device.store.listing()})

    async def add_profile(request: web.Request) -> web.Response:
        body = await json_object(request, optional=True)
        form = {
            "__SL_P_P.A": str(body.get("ssid", "")).encode(),
            "__SL_P_P.B": str(body.get("security", 3)).encode(),
            "__SL_P_P.C": str(body.get("key", "")).encode(),
            "__SL_P_P.D": str(body.get("priority", 0)).encode(),
        }
        try:
            profile = apapi.parse_profile_add(form)
        except FormError as exc:
            raise ControlError(400, str(exc)) from None
        if not device.store.add(profile, "control", device.now()):
            raise ControlError(409, "profile list full")
        device.emit("profile_stored", ssid=profile.ssid.decode("utf-8", "replace"), source="control")
        return web.json_response({"profiles": device.store.listing()}, status=201)

    async def delete_profiles(request: web.Request) -> web.Response:
        index = request.match_info.get("index")
        if index is not None and not (index.isascii() and index.isdigit()):
            raise ControlError(404, "no such profile")  # never read as "every profile"
        removed = device.store.delete(int(index) if index is not None else None)
        if index is not None and not removed:
            raise ControlError(404, "no such profile")
        return web.Response(status=204)

    async def access_points(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "access_points": [access_point_json(ap) for ap in device.env.access_points],
                "accept_any": device.env.accept_any,
            }
        )

    async def put_access_points(request: web.Request) -> web.Response:
        body = await json_object(request, optional=True)
        raw = body.get("access_points", [])
        if not isinstance(raw, list):
            raise ControlError(400, "access_points must be a list")
        try:
            device.env.access_points = [parse_access_point(a, "access_points") for a in raw]
        except ConfigError as exc:
            raise ControlError(400, str(exc)) from None
        if "accept_any" in body:
            device.env.accept_any = bool(body["accept_any"])
        device.emit("access_points_set", count=len(device.env.access_points))
        return await access_points(request)

    async def provisioning(request: web.Request) -> web.Response:
        body = await json_object(request, optional=True)
        raw_cmd = body.get("cmd")
        if isinstance(raw_cmd, str):
            name = raw_cmd.upper()
            cmd = Command[name].value if name in Command.__members__ else -1
            if cmd < 0:
                raise ControlError(400, f"unknown cmd {raw_cmd!r}; known: {', '.join(Command.__members__)}")
        else:
            cmd = _int(body, "cmd", -1)
        key = body.get("key")
        if key is not None and not isinstance(key, str):
            raise ControlError(400, "key must be a string or null")
        code = device.host_provisioning(
            cmd,
            _int(body, "role", 0),
            _int(body, "timeout", 600 if cmd != Command.STOP else 0),
            key.encode() if key is not None else None,
            _int(body, "flags", 0),
        )
        return web.json_response({"return_code": code, "state": device.state()})

    async def restart(_: web.Request) -> web.Response:
        device.host_restart()
        return web.json_response({"state": device.state()})

    async def host_api(request: web.Request) -> web.Response:
        body = await json_object(request, optional=True)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ControlError(400, "name must be a non-empty string")
        return web.json_response({"return_code": device.host_api(name)})

    async def host_event(request: web.Request) -> web.Response:
        body = await json_object(request, optional=True)
        kind = body.get("kind")
        if not isinstance(kind, str) or not kind:
            raise ControlError(400, "kind must be a non-empty string")
        return web.json_response({"delivered": device.host_async_event(kind)})

    async def lengths(request: web.Request) -> web.Response:
        body = await json_object(request, optional=True)
        raw = body.get("lengths")
        if not isinstance(raw, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
            raise ControlError(400, "lengths must be a list of integers")
        for length in raw:
            device.datagram(length, str(body.get("source", "control")))
        device.tick()
        return web.json_response({"state": device.state()})

    async def pcap(request: web.Request) -> web.Response:
        try:
            from emulators.simplelink.pcap import payload_lengths
        except ImportError as exc:
            raise ControlError(501, f"pcap input needs the 'pcap' extra (scapy): {exc}") from None
        body = await request.read()
        calibrator = airframe.FrameCalibrator()
        try:
            lengths = list(payload_lengths(io.BytesIO(body), calibrator))
        except Exception as exc:  # scapy raises assorted errors for a malformed capture
            device.log.warning("pcap upload rejected: %s", exc)
            raise ControlError(400, f"not a readable pcap: {exc}") from None
        for length in lengths:
            device.datagram(length, f"pcap:{calibrator.lock.source if calibrator.lock else '?'}")
        device.tick()
        lock = calibrator.lock
        return web.json_response(
            {
                "payloads": len(lengths),
                "sender": lock.source if lock else None,
                "overhead": lock.overhead if lock else None,
                "state": device.state(),
            }
        )

    integer_or_name = {"oneOf": [INTEGER, STRING]}
    state_reply = Reply("the device state", STATE)
    profiles_reply = obj(("profiles",), profiles=array(ANY_OBJECT))
    aps_reply = Reply("the simulated Wi-Fi", obj(("access_points", "accept_any"), access_points=array(ANY_OBJECT),
                                                 accept_any=BOOLEAN))
    return [
        Route("GET", "/state", state, "Provisioning phase, role, confirmation result, decoder statistics",
              {200: state_reply}),
        Route("GET", "/profiles", profiles, "Stored WLAN profiles (SSID, security type, key, priority)",
              {200: Reply("the profiles", profiles_reply)}),
        Route("POST", "/profiles", add_profile, "Store a profile",
              {201: Reply("stored; every profile", profiles_reply), 400: BAD_REQUEST,
               409: Reply("the profile list is full")},
              body=obj(("ssid",), ssid=STRING, security=INTEGER, key=STRING, priority=INTEGER)),
        Route("DELETE", "/profiles", delete_profiles, "Delete every stored profile", {204: NO_CONTENT}),
        Route("DELETE", "/profiles/{index}", delete_profiles, "Delete one stored profile",
              {204: NO_CONTENT, 404: NOT_FOUND}),
        Route("GET", "/access-points", access_points, "The simulated Wi-Fi environment", {200: aps_reply}),
        Route("PUT", "/access-points", put_access_points, "Replace the simulated access points",
              {200: aps_reply, 400: BAD_REQUEST},
              body=obj(access_points=array(ANY_OBJECT), accept_any=BOOLEAN)),
        Route("POST", "/host/provisioning", provisioning,
              "sl_WlanProvisioning(cmd, role, timeout, key, flags) as the host calls it",
              {200: Reply("the host API's return code", obj(("return_code", "state"), return_code=INTEGER,
                                                             state=STATE)), 400: BAD_REQUEST},
              body=obj(("cmd",), cmd=integer_or_name, role=INTEGER, timeout=INTEGER,
                       key={"type": ["string", "null"]}, flags=INTEGER)),
        Route("POST", "/host/restart", restart, "sl_Stop + sl_Start (answers a reset request)",
              {200: Reply("restarted", obj(("state",), state=STATE))}),
        Route("POST", "/host/api", host_api, "Any other host API: 0 or -2014 while blocked",
              {200: Reply("the return code", obj(("return_code",), return_code=INTEGER)), 400: BAD_REQUEST},
              body=obj(("name",), name=STRING)),
        Route("POST", "/host/event", host_event, "Would this async event reach the host now?",
              {200: Reply("whether it is delivered", obj(("delivered",), delivered=BOOLEAN)), 400: BAD_REQUEST},
              body=obj(("kind",), kind=STRING)),
        Route("POST", "/smartconfig/lengths", lengths, "Feed SmartConfig payload lengths",
              {200: Reply("fed", obj(("state",), state=STATE)), 400: BAD_REQUEST},
              body=obj(("lengths",), lengths=array(INTEGER), source=STRING)),
        Route("POST", "/smartconfig/pcap", pcap,
              "Feed an 802.11 monitor-mode capture (pcap body; needs the pcap extra)",
              {200: Reply("fed", obj(("payloads", "sender", "overhead", "state"), payloads=INTEGER,
                                     sender={"type": ["string", "null"]}, overhead={"type": ["integer", "null"]},
                                     state=STATE)),
               400: Reply("not a readable capture"), 501: Reply("the pcap extra (scapy) is not installed")},
              body={"type": "string", "format": "binary"}, body_media_type="application/vnd.tcpdump.pcap"),
        *fault_routes(faults),
    ]
