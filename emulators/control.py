"""The control API: health, OpenAPI document, the event stream, and each emulator's `/api/<name>` routes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from emulators.base import Emulator
from emulators.events import EventLog

_BASE_PATHS: dict[str, Any] = {
    "/healthz": {"get": {"summary": "Liveness and every emulator's listeners",
                         "responses": {"200": {"description": "healthy"}}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}},
    "/api/events": {"get": {
        "summary": "Events after a cursor, oldest first",
        "parameters": [
            {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "emulator", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        ],
        "responses": {"200": {"description": "{events: [...], cursor: int}"},
                      "400": {"description": "bad query"}}}},
    "/api/events/stream": {"get": {
        "summary": "Server-sent events: the same events, live",
        "parameters": [{"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                       {"name": "emulator", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "text/event-stream"}}}},
}


def build_control_app(emulators: Mapping[str, Emulator], events: EventLog) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({
            "status": "ok",
            "emulators": {name: {"listeners": [lst.to_json() for lst in emu.listeners()]}
                          for name, emu in emulators.items()},
        })

    async def openapi(_: web.Request) -> web.Response:
        paths = dict(_BASE_PATHS)
        for emu in emulators.values():
            paths.update(emu.openapi_paths())
        return web.json_response({
            "openapi": "3.1.0",
            "info": {"title": "provemu control API", "version": "0.1.0"},
            "paths": paths,
        })

    async def list_events(request: web.Request) -> web.Response:
        try:
            since, limit = _int_query(request, "since", 0) or 0, _int_query(request, "limit", None)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        found = events.since(since, request.query.get("emulator"), limit)
        cursor = found[-1].cursor if found else max(since, 0)
        return web.json_response({"events": [e.to_json() for e in found], "cursor": cursor})

    async def stream_events(request: web.Request) -> web.StreamResponse:
        try:
            since = _int_query(request, "since", 0) or 0
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            async for event in events.stream(since, request.query.get("emulator")):
                data = json.dumps(event.to_json(), default=str)
                await response.write(f"id: {event.cursor}\nevent: {event.kind}\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    app.add_routes([
        web.get("/healthz", healthz),
        web.get("/openapi.json", openapi),
        web.get("/api/events", list_events),
        web.get("/api/events/stream", stream_events),
    ])
    for name, emu in emulators.items():
        routes = emu.control_routes()
        if routes:
            sub = web.Application(client_max_size=1024 * 1024)
            sub.add_routes(routes)
            app.add_subapp(f"/api/{name}", sub)
    return app


def _int_query(request: web.Request, key: str, default: int | None) -> int | None:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{key} must be an integer") from None
    if value < 0:
        raise ValueError(f"{key} must not be negative")
    return value
