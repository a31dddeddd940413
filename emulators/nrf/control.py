"""The nrf emulator's control routes (under `/api/nrf`): faults, the emulated network time, a device's pending
queue, session counts, and the management API mirrored without the API key.

It receives what it serves (the fault plan, the registry, the management routes, two callables), never the
emulator, so control and emulator do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from emulators.faults import fault_routes
from emulators.nrf.management import ManagementApi
from emulators.nrf.store import NrfStore
from emulators.routes import INTEGER, NOT_FOUND, NUMBER, STRING, ControlError, Param, Reply, Route, array, obj
from protocols.faults import FaultPlan


class NrfControl:
    """`network_time(device)` is the NITZ stand-in (None: no time); `sessions()` counts live sessions."""

    def __init__(self, faults: FaultPlan, store: NrfStore, management: ManagementApi,
                 network_time: Callable[[str], float | None], sessions: Callable[[], dict[str, int]]) -> None:
        self.faults = faults
        self.store = store
        self.management = management
        self.network_time = network_time
        self.sessions = sessions

    def routes(self) -> list[Route]:
        return [
            *fault_routes(self.faults),
            Route("GET", "/network-time", self._network_time,
                  "Emulated network time (NITZ) for a fake device; 503 under no_valid_datetime",
                  {200: Reply("the time", obj(("time",), time=NUMBER)), 503: Reply("no network time")},
                  query=(Param("device", STRING, "the device asking"),)),
            Route("GET", "/devices/{device_id}/queue", self._queue, "Pending device commands in delivery order",
                  {200: Reply("the queue", obj(("items",), items=array(obj(
                      ("correlationId", "commandId", "type"), correlationId=STRING, commandId=STRING,
                      type=STRING)))), 404: NOT_FOUND}),
            Route("GET", "/sessions", self._sessions, "Authenticated CoAP and DTLS sessions",
                  {200: Reply("counts", obj(("coapSessions", "dtlsSessions"), coapSessions=INTEGER,
                                            dtlsSessions=INTEGER))}),
            *self.management.routes(require_key=False),
        ]

    async def _network_time(self, request: web.Request) -> web.Response:
        value = self.network_time(request.query.get("device", ""))
        if value is None:
            raise ControlError(503, "no network time")
        return web.json_response({"time": value})

    async def _queue(self, request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        if self.store.device(device_id) is None:
            raise ControlError(404, "Device not claimed")
        return web.json_response({"items": [
            {"correlationId": q.corr_id, "commandId": q.command_id, "type": type(q.command).__name__}
            for q in self.store.pending(device_id)]})

    async def _sessions(self, _: web.Request) -> web.Response:
        return web.json_response(self.sessions())
