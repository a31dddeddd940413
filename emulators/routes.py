"""The control API's declarative route spec: one declaration per operation gives both the aiohttp route and
its OpenAPI operation (path and query parameters, request body and response schemas).

Handlers read their JSON body with `json_body` and refuse bad input by raising `ControlError`; every emulator's
errors leave as the one error body shape, `{"error": "<message>"}`, with the status the error carries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Schema = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ERROR_SCHEMA: Schema = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string", "description": "what was wrong, in one line"}},
}
MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


class ControlError(Exception):
    """A control request the emulator refuses: answered with `status` and the shared error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@dataclass(frozen=True)
class Reply:
    """One documented answer of an operation; `schema` None means no body (e.g. 204)."""

    description: str
    schema: Schema | None = None


@dataclass(frozen=True)
class Param:
    """A query parameter."""

    name: str
    schema: Schema
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Route:
    """One control operation: `METHOD path`, what it does, what it takes and what it answers."""

    method: str
    path: str
    handler: Handler
    summary: str
    replies: Mapping[int, Reply]
    body: Schema | None = None
    query: Sequence[Param] = field(default_factory=tuple)
    body_media_type: str = "application/json"

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    def aiohttp(self) -> web.RouteDef:
        return web.route(self.method, self.path, _answer_errors(self.handler))

    def operation(self) -> Schema:
        parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                      for name in self.path_params]
        parameters += [{"name": p.name, "in": "query", "required": p.required, "schema": p.schema,
                        **({"description": p.description} if p.description else {})} for p in self.query]
        op: Schema = {"summary": self.summary, "responses": {
            str(status): _response(status, reply) for status, reply in sorted(self.replies.items())}}
        if parameters:
            op["parameters"] = parameters
        if self.body is not None:
            op["requestBody"] = {"required": True, "content": {self.body_media_type: {"schema": self.body}}}
        return op


def _response(status: int, reply: Reply) -> Schema:
    schema = reply.schema if reply.schema is not None or status < 400 else ERROR_SCHEMA
    out: Schema = {"description": reply.description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _answer_errors(handler: Handler) -> Handler:
    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as exc:
            return error_response(exc.status, exc.message)
    return answered


def openapi_paths(prefix: str, routes: Iterable[Route]) -> dict[str, Schema]:
    """The OpenAPI `paths` of `routes` mounted under `prefix` (path templates without regex parts)."""
    paths: dict[str, Schema] = {}
    for route in routes:
        template = _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)
        paths.setdefault(prefix + template, {})[route.method.lower()] = route.operation()
    return paths


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; a `ControlError` 400 for anything that is not JSON or nests too deeply."""
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
        if _depth_exceeds(text, MAX_JSON_DEPTH):
            raise ControlError(400, f"body nests deeper than {MAX_JSON_DEPTH} levels")
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ControlError(400, f"body is not JSON: {exc}") from None


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object body; with `optional`, a request without a body reads as `{}`."""
    if optional and not request.can_read_body:
        return {}
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _depth_exceeds(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (checked before parsing, which recurses)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def query_int(request: web.Request, key: str, default: int | None, minimum: int = 0) -> int | None:
    """An integer query parameter at least `minimum`, or `default` when absent; `ControlError` 400 otherwise."""
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ControlError(400, f"{key} must be an integer") from None
    if value < minimum:
        raise ControlError(400, f"{key} must be at least {minimum}")
    return value


def obj(required: Sequence[str] = (), **properties: Schema) -> Schema:
    """A JSON-object schema (extra properties allowed)."""
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object"}
NO_CONTENT = Reply("done")
NOT_FOUND = Reply("no such resource")
BAD_REQUEST = Reply("invalid request")
