"""The one control surface: routes and OpenAPI from the same declarations, a valid document, one error body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from openapi_spec_validator import validate

from emulators.control import build_control_app
from emulators.harness import running

ALL = ["aws", "esp", "nrf", "simplelink"]


async def _call(url: str, method: str, body: bytes | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, url, data=body, headers={"Content-Type": "application/json"}) as response:
        return response.status, await response.json(content_type=None)


async def test_openapi_document_is_valid_and_lists_exactly_the_served_routes(tmp_path: Path) -> None:
    async with running(ALL, tmp_path) as suite:
        status, document = await _call(f"{suite.control_url}/openapi.json", "GET")
        assert status == 200
        validate(document)
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                assert operation["responses"], f"{method} {path} declares no response"
                for code, response in operation["responses"].items():
                    if code != "204":
                        assert "content" in response or path == "/api/events/stream", f"{method} {path} {code}"
        app = build_control_app(suite.emulators, suite.events)
        served = {(method, path) for method, path in _served(app) if method != "HEAD"}
        documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
        assert served == documented


def _served(app: web.Application) -> list[tuple[str, str]]:
    out = []
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)  # a mounted sub-application (aiohttp has no public accessor)
        if sub is not None:
            out += _served(sub)  # its routes' paths already carry the mount prefix
        else:
            out += [(route.method, resource.canonical) for route in resource]
    return out


async def test_every_emulator_refuses_bad_bodies_with_the_same_error_shape(tmp_path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    async with running(ALL, tmp_path) as suite:
        for name in ("aws", "esp", "simplelink"):
            for body in (b"{not json", deep):
                status, answer = await _call(f"{suite.control_url}/api/{name}/faults", "POST", body)
                assert status == 400 and set(answer) == {"error"} and isinstance(answer["error"], str), name
        status, answer = await _call(f"{suite.control_url}/api/nrf/faults", "POST", deep)
        assert status == 400 and set(answer) == {"error"}
        status, answer = await _call(f"{suite.control_url}/api/events?since=-1", "GET")
        assert status == 400 and set(answer) == {"error"}
        status, answer = await _call(f"{suite.control_url}/api/esp/nodes/nope", "GET")
        assert status == 404 and set(answer) == {"error"}
