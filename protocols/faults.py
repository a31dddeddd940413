"""The fault and scenario model every emulator shares, and what a fault does to one answer.

A fault is a rule: *when* an exchange's attributes match (`match`, glob patterns per attribute), *do* an
action (`reject`, `delay`, `drop`, `never_answer`, `throttle`, or an emulator-specific one) with `params`,
for `count` matching exchanges (None = until removed). A core asks `take(**attributes)` at each decision
point; the first matching fault wins and is consumed. A fault that changes how an answer travels (drop, delay,
never answer) comes back from the core as a `Delivery` its driver applies; faults are scenario settings, kept in
memory. Pure data and decisions: no I/O, no clock.
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from protocols.errors import LocalProtocolError

TRANSPORT_ACTIONS: dict[str, str] = {
    "drop": "close the connection (or discard the datagram) instead of answering",
    "delay": "answer after params.seconds",
    "never_answer": "keep the request unanswered, so the client times out",
}


class FaultError(LocalProtocolError, ValueError):
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
