"""The fault and scenario model shared by every emulator.

A fault is a rule: *when* an exchange's attributes match (`match`, glob patterns per attribute), *do* an
action (`reject`, `delay`, `drop`, `never_answer`, `throttle`, or an emulator-specific one) with `params`,
for `count` matching exchanges (None = until removed). Emulators ask `take(**attributes)` at each decision
point; the first matching fault wins and is consumed. Faults are scenario settings, kept in memory.
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

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

TRANSPORT_ACTIONS: dict[str, str] = {
    "drop": "close the connection (or discard the datagram) instead of answering",
    "delay": "answer after params.seconds",
    "never_answer": "keep the request unanswered, so the client times out",
}


class FaultError(ValueError):
    """A fault definition the caller sent is invalid."""


@dataclass
class Fault:
    id: str
    action: str
    match: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    count: int | None = None
    hits: int = 0

    def matches(self, attributes: Mapping[str, object]) -> bool:
        for key, pattern in self.match.items():
            if key not in attributes or not fnmatch.fnmatchcase(str(attributes[key]), pattern):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """The active faults of one emulator; `actions` names the actions it understands, with descriptions."""

    def __init__(self, actions: Mapping[str, str]) -> None:
        self.actions = dict(actions)
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, action: str, match: Mapping[str, object] | None = None,
            params: Mapping[str, Any] | None = None, count: int | None = None) -> Fault:
        if action not in self.actions:
            raise FaultError(f"unknown action {action!r}; known: {', '.join(sorted(self.actions))}")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise FaultError("count must be a positive integer or null")
        fault = Fault(f"f{next(self._ids)}", action, {k: str(v) for k, v in (match or {}).items()},
                      dict(params or {}), count)
        self._faults.append(fault)
        return fault

    def take(self, *, actions: Iterable[str] | None = None, **attributes: object) -> Fault | None:
        """The first fault matching `attributes`, consumed; with `actions`, only faults of those actions, so a
        decision point never uses up a fault meant for another."""
        wanted = None if actions is None else frozenset(actions)
        for fault in self._faults:
            if (wanted is None or fault.action in wanted) and fault.matches(attributes):
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def list(self) -> list[Fault]:
        return list(self._faults)

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()


@dataclass(frozen=True)
class Delivery:
    """What a transport fault does to one answer: send it after `delay` seconds, or `drop` the connection,
    or `never_answer`. Cores return it with their answer; drivers apply it to their transport."""

    delay: float = 0.0
    drop: bool = False
    never_answer: bool = False

    @property
    def answers(self) -> bool:
        return not (self.drop or self.never_answer)

    @classmethod
    def of(cls, fault: Fault | None) -> Delivery:
        """The delivery a fault asks for; a fault of another action (or none) leaves the answer alone."""
        if fault is None:
            return NORMAL_DELIVERY
        if fault.action == "drop":
            return cls(drop=True)
        if fault.action == "never_answer":
            return cls(never_answer=True)
        if fault.action == "delay":
            return cls(delay=seconds_param(fault.params))
        return NORMAL_DELIVERY


NORMAL_DELIVERY = Delivery()


def seconds_param(params: Mapping[str, Any], key: str = "seconds", default: float = 1.0) -> float:
    """A fault's duration parameter: a finite, non-negative number of seconds (at most a day), else `default`."""
    raw = params.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return value if 0.0 <= value <= 86_400.0 else default


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
