"""The nrf emulator's control routes (under `/api/nrf`) and their OpenAPI paths: faults, the emulated network
time, a device's pending queue, session counts, and the management API mirrored without the API key.

It receives what it serves (the fault plan, the registry, the management routes, two callables), never the
emulator, so control and emulator do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulators.faults import FaultPlan, fault_openapi, fault_routes
from emulators.nrf.management import ManagementApi
from emulators.nrf.store import NrfStore

_MANAGEMENT_SUMMARIES = {
    "/v1/claimed-devices": {"post": "Claim (JSON claimToken/tags[/publicKey]; ?dryrun=true; CSV bulk)",
                            "get": "List claimed devices"},
    "/v1/identities/claimed-devices": {"post": "Claim (alias)"},
    "/v1/claimed-devices/bulk": {"post": "Bulk claim (CSV) → 202 bulkOpsRequestId"},
    "/v1/claimed-devices/{device_id}": {"get": "One claimed device", "delete": "Unclaim (204/404)"},
    "/v1/claimed-devices/{device_id}/provisioning": {"post": "Create a provisioning command (201)",
                                                     "get": "List the device's commands"},
    "/v1/claimed-devices/{device_id}/provisioning/{command_id}": {"get": "Command status and response"},
    "/v1/provisioning-rules": {"post": "Create a rule (201)", "get": "List rules"},
    "/v1/provisioning/tags": {"post": "Create a tag", "get": "List tags"},
}


class NrfControl:
    """`network_time(device)` is the NITZ stand-in (None: no time); `sessions()` counts live sessions."""

    def __init__(self, faults: FaultPlan, store: NrfStore, management: ManagementApi,
                 network_time: Callable[[str], float | None], sessions: Callable[[], dict[str, int]]) -> None:
        self.faults = faults
        self.store = store
        self.management = management
        self.network_time = network_time
        self.sessions = sessions

    def routes(self) -> list[web.RouteDef]:
        return [*fault_routes(self.faults), web.get("/network-time", self._network_time),
                web.get("/devices/{device_id}/queue", self._queue), web.get("/sessions", self._sessions),
                *self.management.routes(require_key=False)]

    async def _network_time(self, request: web.Request) -> web.Response:
        value = self.network_time(request.query.get("device", ""))
        if value is None:
            return web.json_response({"message": "no network time"}, status=503)
        return web.json_response({"time": value})

    async def _queue(self, request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        if self.store.device(device_id) is None:
            return web.json_response({"message": "Device not claimed"}, status=404)
        return web.json_response({"items": [
            {"correlationId": q.corr_id, "commandId": q.command_id, "type": type(q.command).__name__}
            for q in self.store.pending(device_id)]})

    async def _sessions(self, _: web.Request) -> web.Response:
        return web.json_response(self.sessions())

    def openapi_paths(self, prefix: str) -> dict[str, Any]:
        ok = {"200": {"description": "ok"}}
        paths: dict[str, Any] = fault_openapi(prefix, self.faults)
        paths[f"{prefix}/network-time"] = {"get": {
            "summary": "Emulated network time (NITZ) for a fake device; 503 under no_valid_datetime",
            "parameters": [{"name": "device", "in": "query", "schema": {"type": "string"}}],
            "responses": {**ok, "503": {"description": "no network time"}}}}
        paths[f"{prefix}/devices/{{device_id}}/queue"] = {"get": {
            "summary": "Pending device commands in delivery order", "responses": ok}}
        paths[f"{prefix}/sessions"] = {"get": {"summary": "Authenticated CoAP sessions", "responses": ok}}
        for path, methods in _MANAGEMENT_SUMMARIES.items():
            paths[f"{prefix}{path}"] = {m: {"summary": s + " (also on the HTTPS port at " + path +
                                            " with the API key)", "responses": ok} for m, s in methods.items()}
        return paths
