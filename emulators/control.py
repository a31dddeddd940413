"""The control API: health, the OpenAPI document, the event stream, and each emulator's `/api/<name>` routes.

Every operation is declared once as a `Route` (emulators/routes.py); the aiohttp routes and the OpenAPI
document are both generated from those declarations.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from emulators.base import TRANSPORT_SCHEMES
from emulators.events import EventLog
from emulators.listeners import DEFAULT_HTTP_TIMEOUTS, http_app
from emulators.routes import (
    BAD_REQUEST,
    INTEGER,
    MAX_BODY_BYTES,
    NUMBER,
    STRING,
    ControlError,
    Param,
    Reply,
    Route,
    array,
    error_response,
    obj,
    openapi_paths,
    query_int,
)
from emulators.suite_config import HttpTimeouts

API_VERSION = "0.1.0"
LISTENER_SCHEMA = obj(("name", "transport", "host", "port", "url"), name=STRING,
                      transport={"type": "string", "enum": sorted(TRANSPORT_SCHEMES)}, host=STRING, port=INTEGER,
                      url=STRING)
EVENT_SCHEMA = obj(("cursor", "time", "emulator", "kind", "data"), cursor=INTEGER, time=NUMBER, emulator=STRING,
                   kind=STRING, data={"type": "object"})


class ControlSurface(Protocol):
    """What the control API needs of an emulator: its listeners and its declared routes."""

    def listeners(self) -> list[Any]: ...

    def control_routes(self) -> list[Route]: ...


def build_control_app(emulators: Mapping[str, ControlSurface], events: EventLog,
                      token: str | None = None, timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS) -> web.Application:
    """The control application; with `token`, every route (the event stream and each emulator's too) answers
    401 unless the request carries `Authorization: Bearer <token>`."""
    app = http_app(timeouts, client_max_size=MAX_BODY_BYTES,
                   middlewares=[bearer_token_required(token)] if token else [])
    per_emulator = {name: emu.control_routes() for name, emu in emulators.items()}

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({
            "status": "ok",
            "emulators": {name: {"listeners": [lst.to_json() for lst in emu.listeners()]}
                          for name, emu in emulators.items()},
        })

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(openapi_document(base, per_emulator))

    async def list_events(request: web.Request) -> web.Response:
        since = query_int(request, "since", 0) or 0
        limit = query_int(request, "limit", None, minimum=1)
        found = events.since(since, request.query.get("emulator"), limit)
        cursor = found[-1].cursor if found else since
        return web.json_response({"events": [e.to_json() for e in found], "cursor": cursor})

    async def stream_events(request: web.Request) -> web.StreamResponse:
        since = query_int(request, "since", 0) or 0
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            async for event in events.stream(since, request.query.get("emulator")):
                data = json.dumps(event.to_json(), default=str)
                await response.write(f"id: {event.cursor}\nevent: {event.kind}\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    since = Param("since", {"type": "integer", "minimum": 0}, "only events after this cursor")
    emulator = Param("emulator", STRING, "only this emulator's events")
    base = [
        Route("GET", "/healthz", healthz, "Liveness and every emulator's listeners", {200: Reply("healthy", obj(
            ("status", "emulators"), status=STRING, emulators={"type": "object", "additionalProperties": obj(
                ("listeners",), listeners=array(LISTENER_SCHEMA))}))}),
        Route("GET", "/openapi.json", openapi, "This document", {200: Reply("the OpenAPI document", obj())}),
        Route("GET", "/api/events", list_events, "Events after a cursor, oldest first",
              {200: Reply("events and the cursor to resume from",
                          obj(("events", "cursor"), events=array(EVENT_SCHEMA), cursor=INTEGER)),
               400: BAD_REQUEST},
              query=(since, emulator, Param("limit", {"type": "integer", "minimum": 1}, "at most this many"))),
        Route("GET", "/api/events/stream", stream_events, "Server-sent events: the same events, live",
              {200: Reply("text/event-stream; each event's data is one event object"), 400: BAD_REQUEST},
              query=(since, emulator)),
    ]
    app.add_routes([route.aiohttp() for route in base])
    for name, routes in per_emulator.items():
        if routes:
            sub = web.Application(client_max_size=MAX_BODY_BYTES)
            sub.add_routes([route.aiohttp() for route in routes])
            app.add_subapp(f"/api/{name}", sub)
    return app


def bearer_token_required(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        offered = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(offered, expected):
            response = error_response(401, "this control API requires Authorization: Bearer <token>")
            response.headers["WWW-Authenticate"] = 'Bearer realm="provemu"'
            return response
        return await handler(request)

    return check


def openapi_document(base: list[Route], per_emulator: Mapping[str, list[Route]]) -> dict[str, Any]:
    paths = openapi_paths("", base)
    for name, routes in per_emulator.items():
        paths.update(openapi_paths(f"/api/{name}", routes))
    return {"openapi": "3.1.0", "info": {"title": "provemu control API", "version": API_VERSION}, "paths": paths}


__all__ = ["ControlError", "ControlSurface", "build_control_app", "openapi_document"]
