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
from emulators.faults import FaultPlan, fault_openapi, fault_routes
from emulators.simplelink.config import access_point_json, parse_access_point
from emulators.simplelink.store import ProfileStore
from protocols.simplelink import airframe, apapi
from protocols.simplelink.errors import FormError
from protocols.simplelink.provisioning import Command
from protocols.simplelink.wifi import WifiEnvironment

PREFIX = "/api/simplelink"


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


def _int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise web.HTTPBadRequest(text=f"{name} must be an integer")
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


def control_routes(device: ControlledDevice, faults: FaultPlan) -> list[web.RouteDef]:

    async def state(_: web.Request) -> web.Response:
        return web.json_response(device.state())

    async def profiles(_: web.Request) -> web.Response:
        return web.json_response({"profiles": device.store.listing()})

    async def add_profile(request: web.Request) -> web.Response:
        body = await _json(request)
        form = {
            "__SL_P_P.A": str(body.get("ssid", "")).encode(),
            "__SL_P_P.B": str(body.get("security", 3)).encode(),
            "__SL_P_P.C": str(body.get("key", "")).encode(),
            "__SL_P_P.D": str(body.get("priority", 0)).encode(),
        }
        try:
            profile = apapi.parse_profile_add(form)
        except FormError as exc:
            return _error(str(exc))
        if not device.store.add(profile, "control", device.now()):
            return _error("profile list full", 409)
        device.emit("profile_stored", ssid=profile.ssid.decode("utf-8", "replace"), source="control")
        return web.json_response({"profiles": device.store.listing()}, status=201)

    async def delete_profiles(request: web.Request) -> web.Response:
        index = request.match_info.get("index")
        removed = device.store.delete(int(index) if index and index.isdigit() else None)
        if index is not None and not removed:
            return _error("no such profile", 404)
        return web.Response(status=204)

    async def access_points(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "access_points": [access_point_json(ap) for ap in device.env.access_points],
                "accept_any": device.env.accept_any,
            }
        )

    async def put_access_points(request: web.Request) -> web.Response:
        body = await _json(request)
        raw = body.get("access_points", [])
        if not isinstance(raw, list):
            return _error("access_points must be a list")
        try:
            device.env.access_points = [parse_access_point(a, "access_points") for a in raw]
        except ConfigError as exc:
            return _error(str(exc))
        if "accept_any" in body:
            device.env.accept_any = bool(body["accept_any"])
        device.emit("access_points_set", count=len(device.env.access_points))
        return await access_points(request)

    async def provisioning(request: web.Request) -> web.Response:
        body = await _json(request)
        raw_cmd = body.get("cmd")
        if isinstance(raw_cmd, str):
            name = raw_cmd.upper()
            cmd = Command[name].value if name in Command.__members__ else -1
            if cmd < 0:
                return _error(f"unknown cmd {raw_cmd!r}; known: {', '.join(Command.__members__)}")
        else:
            cmd = _int(body, "cmd", -1)
        key = body.get("key")
        if key is not None and not isinstance(key, str):
            return _error("key must be a string or null")
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
        body = await _json(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return _error("name must be a non-empty string")
        return web.json_response({"return_code": device.host_api(name)})

    async def host_event(request: web.Request) -> web.Response:
        body = await _json(request)
        kind = body.get("kind")
        if not isinstance(kind, str) or not kind:
            return _error("kind must be a non-empty string")
        return web.json_response({"delivered": device.host_async_event(kind)})

    async def lengths(request: web.Request) -> web.Response:
        body = await _json(request)
        raw = body.get("lengths")
        if not isinstance(raw, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
            return _error("lengths must be a list of integers")
        for length in raw:
            device.datagram(length, str(body.get("source", "control")))
        device.tick()
        return web.json_response({"state": device.state()})

    async def pcap(request: web.Request) -> web.Response:
        try:
            from emulators.simplelink.pcap import payload_lengths
        except ImportError as exc:
            return _error(f"pcap input needs the 'pcap' extra (scapy): {exc}", 501)
        body = await request.read()
        calibrator = airframe.FrameCalibrator()
        try:
            lengths = list(payload_lengths(io.BytesIO(body), calibrator))
        except Exception as exc:  # scapy raises assorted errors for a malformed capture
            device.log.warning("pcap upload rejected: %s", exc)
            return _error(f"not a readable pcap: {exc}")
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

    return [
        web.get("/state", state),
        web.get("/profiles", profiles),
        web.post("/profiles", add_profile),
        web.delete("/profiles", delete_profiles),
        web.delete("/profiles/{index}", delete_profiles),
        web.get("/access-points", access_points),
        web.put("/access-points", put_access_points),
        web.post("/host/provisioning", provisioning),
        web.post("/host/restart", restart),
        web.post("/host/api", host_api),
        web.post("/host/event", host_event),
        web.post("/smartconfig/lengths", lengths),
        web.post("/smartconfig/pcap", pcap),
        *fault_routes(faults),
    ]


def _op(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "OK"}}}
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object", "properties": body}}}}
    return op


def control_openapi(faults: FaultPlan) -> dict[str, Any]:
    p = PREFIX
    integer, string = {"type": "integer"}, {"type": "string"}
    return {
        f"{p}/state": {"get": _op("Provisioning phase, role, confirmation result, decoder statistics")},
        f"{p}/profiles": {
            "get": _op("Stored WLAN profiles (SSID, security type, key, priority)"),
            "post": _op("Store a profile", {"ssid": string, "security": integer, "key": string, "priority": integer}),
            "delete": _op("Delete every stored profile"),
        },
        f"{p}/profiles/{{index}}": {"delete": _op("Delete one stored profile")},
        f"{p}/access-points": {
            "get": _op("The simulated Wi-Fi environment"),
            "put": _op(
                "Replace the simulated access points",
                {"access_points": {"type": "array", "items": {"type": "object"}}, "accept_any": {"type": "boolean"}},
            ),
        },
        f"{p}/host/provisioning": {
            "post": _op(
                "sl_WlanProvisioning(cmd, role, timeout, key, flags) as the host calls it",
                {
                    "cmd": {"oneOf": [integer, string]},
                    "role": integer,
                    "timeout": integer,
                    "key": string,
                    "flags": integer,
                },
            )
        },
        f"{p}/host/restart": {"post": _op("sl_Stop + sl_Start (answers a reset request)")},
        f"{p}/host/api": {"post": _op("Any other host API: 0 or -2014 while blocked", {"name": string})},
        f"{p}/host/event": {"post": _op("Would this async event reach the host now?", {"kind": string})},
        f"{p}/smartconfig/lengths": {
            "post": _op("Feed SmartConfig payload lengths", {"lengths": {"type": "array", "items": integer}})
        },
        f"{p}/smartconfig/pcap": {
            "post": {
                "summary": "Feed an 802.11 monitor-mode capture (pcap body; needs the pcap extra)",
                "requestBody": {"content": {"application/vnd.tcpdump.pcap": {"schema": {"type": "string"}}}},
                "responses": {
                    "200": {"description": "fed"},
                    "400": {"description": "unreadable"},
                    "501": {"description": "scapy missing"},
                },
            }
        },
        **fault_openapi(p, faults),
    }
