"""The control routes of an emulator's faults (`/api/<name>/faults`); the fault model itself is
`protocols.faults`."""

from __future__ import annotations

from aiohttp import web

from emulators.routes import (
    BAD_REQUEST,
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
from protocols.faults import FaultError, FaultPlan


def fault_routes(plan: FaultPlan) -> list[Route]:
    """Control routes `GET/POST/DELETE /faults` and `DELETE /faults/{fault_id}` for one emulator's plan."""

    async def list_faults(_: web.Request) -> web.Response:
        return web.json_response({"actions": plan.actions, "faults": [f.to_json() for f in plan.list()]})

    async def add_fault(request: web.Request) -> web.Response:
        body = await json_object(request)
        action, match, params = body.get("action"), body.get("match") or {}, body.get("params") or {}
        if not isinstance(action, str):
            raise ControlError(400, "body must be a JSON object with a string 'action'")
        if not isinstance(match, dict) or not isinstance(params, dict):
            raise ControlError(400, "'match' and 'params' must be JSON objects")
        try:
            fault = plan.add(action, match, params, body.get("count"))
        except FaultError as exc:
            raise ControlError(400, str(exc)) from None
        return web.json_response(fault.to_json(), status=201)

    async def clear_faults(_: web.Request) -> web.Response:
        plan.clear()
        return web.Response(status=204)

    async def delete_fault(request: web.Request) -> web.Response:
        if not plan.remove(request.match_info["fault_id"]):
            raise ControlError(404, "no such fault")
        return web.Response(status=204)

    action = {"type": "string", "enum": sorted(plan.actions),
              "description": "; ".join(f"{k}: {v}" for k, v in sorted(plan.actions.items()))}
    fault = obj(("action",), action=action,
                match={"type": "object", "additionalProperties": STRING,
                       "description": "attribute -> glob pattern; all must match"},
                params={"type": "object"}, count={"type": ["integer", "null"], "minimum": 1})
    stored = obj(("id", "action", "match", "params", "count", "hits"), id=STRING, **fault["properties"],
                 hits=INTEGER)
    return [
        Route("GET", "/faults", list_faults, "The fault actions this emulator understands and the active faults",
              {200: Reply("actions and faults", obj(("actions", "faults"), actions={
                  "type": "object", "additionalProperties": STRING}, faults=array(stored)))}),
        Route("POST", "/faults", add_fault, "Inject a fault", {201: Reply("created", stored), 400: BAD_REQUEST},
              body=fault),
        Route("DELETE", "/faults", clear_faults, "Remove every fault", {204: NO_CONTENT}),
        Route("DELETE", "/faults/{fault_id}", delete_fault, "Remove one fault", {204: NO_CONTENT, 404: NOT_FOUND}),
    ]
